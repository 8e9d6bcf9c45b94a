/**
 * `lab run LAB [--repeat N | --until-stopped]` with live progress, `lab run report [LAB]`,
 * `lab get runs`, `lab describe run ID`. Local mode runs the lab in this process over the local
 * state (power through the drivers, boots from the PXE timeline lab server writes there); with
 * `lab login` the server runs it and the CLI follows its record.
 */
import { join } from "node:path";
import { LabError, type LabSpec } from "@lab/core";
import type { Progress, ReliabilityReport, RunRecord, StepRecord } from "@lab/runs";
import type { Command } from "commander";
import { actor, labHome, type Session } from "../context.js";
import type { Style } from "../output/style.js";
import { type Column, renderTable } from "../output/table.js";
import type { Format } from "../program.js";
import type { CommandContext } from "./command-context.js";
import { powerClient } from "./power.js";

interface Ctx extends CommandContext {
  setExitCode: (code: number) => void;
}

type FullRun = RunRecord & { steps: StepRecord[] };

export interface RunClient {
  run(
    lab: string,
    o: { repeat: number; onProgress: (p: Progress) => void; signal: AbortSignal },
  ): Promise<FullRun[]>;
  runs(q: { lab?: string; limit?: number }): Promise<RunRecord[]>;
  get(id: string): Promise<FullRun>;
  report(q: { lab?: string; series?: string }): Promise<ReliabilityReport>;
  close(): Promise<void>;
}

async function localRuns(session: Session, ctx: Ctx): Promise<RunClient> {
  const store = session.store;
  if (!store) throw new LabError("LAB_E_INTERNAL", "local runs need the local store");
  const [
    { LabRunner, provisionSteps, RunRepo, runEnv, runSeries },
    { loadPxeSecret, Provisioner, Timeline },
  ] = await Promise.all([import("@lab/runs"), import("@lab/pxe")]);
  const repo = new RunRepo(store.db);
  const power = await powerClient(session, ctx.io.env, actor(ctx.io.env), ctx.print);
  const timeline = new Timeline(store.db);
  const spec = async (kind: string, name: string) =>
    (await store.load()).find((r) => r.kind === kind && r.name === name)?.spec as
      | Record<string, unknown>
      | undefined;
  const macOf = async (m: string) =>
    ((await spec("server", m))?.mac as string | undefined)?.toLowerCase().replaceAll("-", ":") ?? null;
  // A machine is found by its MAC (a discovered one has no name yet), else by name.
  const machineRow = async (name: string) => {
    const mac = await macOf(name);
    const q = store.db.selectFrom("machines").selectAll();
    return (
      (mac ? await q.where("mac", "=", mac).executeTakeFirst() : undefined) ??
      (await q.where("name", "=", name).executeTakeFirst())
    );
  };
  const provisioner = new Provisioner({
    db: store.db,
    store,
    timeline,
    secret: loadPxeSecret(join(labHome(ctx.io.env), "server")),
    actor: "cli",
  });
  const env = runEnv({
    power,
    macOf,
    addressOf: async (m) =>
      ((await spec("server", m))?.host as string | undefined) ?? (await machineRow(m))?.ip ?? null,
    timeline: (mac) => timeline.read(mac),
    installState: async (m) => (await machineRow(m))?.state ?? null,
    provision: provisionSteps(provisioner, macOf),
    // Locally there is no live channel: the enrolment record and its last check-in stand for it.
    agent: async (m) => {
      const row = await store.db
        .selectFrom("agents")
        .select(["enrolled_at", "last_seen_at", "revoked_at"])
        .where("name", "=", m)
        .executeTakeFirst();
      return row && !row.revoked_at ? { enrolledAt: row.enrolled_at, heardAt: row.last_seen_at } : null;
    },
  });
  const runner = new LabRunner(env, repo, (e) => store.record(e));
  return {
    async run(lab, o) {
      const s = (await spec("lab", lab)) as LabSpec | undefined;
      if (!s)
        throw new LabError("LAB_E_NOT_FOUND", `lab "${lab}" not found: list them with \`lab get labs\``);
      const runs: FullRun[] = [];
      await runSeries(runner, {
        lab,
        spec: s,
        actor: actor(ctx.io.env),
        repeat: o.repeat,
        signal: o.signal,
        onProgress: o.onProgress,
        onRun: (r) => runs.push(r),
      });
      return runs;
    },
    runs: (q) => repo.runs(q),
    get: async (id) => {
      const r = await repo.run(id);
      if (!r)
        throw new LabError(
          "LAB_E_NOT_FOUND",
          `run "${id}" not found (or the prefix is not unique): \`lab get runs\``,
        );
      return r;
    },
    report: (q) => repo.report(q),
    close: async () => {
      await power.close();
      await timeline.close();
    },
  };
}

function remoteRuns(session: Session): RunClient {
  const remote = session.remote;
  if (!remote) throw new LabError("LAB_E_INTERNAL", "no server");
  const q = (o: Record<string, string | number | undefined>) => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(o)) if (v !== undefined) p.set(k, String(v));
    const s = p.toString();
    return s ? `?${s}` : "";
  };
  const get = (id: string) => remote.request<FullRun>("GET", `/api/v1/runs/${encodeURIComponent(id)}`);
  return {
    async run(lab, o) {
      // The server runs it; the CLI follows the stored record and prints the same progress.
      const started = await remote.request<{ series: string; runId: string }>(
        "POST",
        `/api/v1/labs/${encodeURIComponent(lab)}/runs`,
        { repeat: o.repeat },
      );
      const runs: FullRun[] = [];
      const seen = new Map<string, string>();
      let current = started.runId;
      o.signal.addEventListener("abort", () => {
        void remote.request("POST", `/api/v1/runs/series/${started.series}/stop`, {}).catch(() => undefined);
      });
      for (;;) {
        const r = await get(current);
        for (const s of r.steps) {
          const key = `${r.id}/${s.idx}/${s.machine}`;
          if (seen.get(key) === s.status) continue;
          if (!seen.has(key))
            o.onProgress({
              type: "step-start",
              runId: r.id,
              idx: s.idx,
              name: s.name,
              machines: [s.machine],
            });
          seen.set(key, s.status);
          if (s.status !== "running")
            o.onProgress({
              type: "step-end",
              runId: r.id,
              idx: s.idx,
              name: s.name,
              machine: s.machine,
              status: s.status,
              durationMs: s.durationMs ?? 0,
              detail: s.detail,
            });
        }
        if (r.status !== "running") {
          runs.push(r);
          o.onProgress({ type: "run-end", run: r });
          const next = (
            await remote.request<RunRecord[]>("GET", `/api/v1/runs${q({ series: started.series, limit: 1 })}`)
          )[0];
          if (!next || next.id === r.id) {
            const done = (
              await remote.request<{ running: boolean }>("GET", `/api/v1/runs/series/${started.series}`)
            ).running;
            if (!done) break;
            await new Promise((res) => setTimeout(res, 500));
            continue;
          }
          current = next.id;
        }
        await new Promise((res) => setTimeout(res, 500));
      }
      return runs;
    },
    runs: (o) => remote.request("GET", `/api/v1/runs${q(o)}`),
    get,
    report: (o) => remote.request("GET", `/api/v1/runs/report${q(o)}`),
    close: async () => undefined,
  };
}

async function client(ctx: Ctx): Promise<RunClient> {
  const session = await ctx.open();
  return session.remote ? remoteRuns(session) : localRuns(session, ctx);
}

const secs = (ms: number | null) => (ms === null ? "—" : `${(ms / 1000).toFixed(1)}s`);

function statusText(s: string, out: Style): string {
  if (s === "ok") return out.green("ok");
  if (s === "failed") return out.red("failed");
  if (s === "timeout") return out.red("timeout");
  if (s === "running") return out.yellow("running");
  return s;
}

export function runsTable(rows: RunRecord[], out: Style): string {
  const columns: Column<RunRecord>[] = [
    { header: "RUN", value: (r) => r.id.slice(0, 8) },
    { header: "LAB", value: (r) => r.lab },
    { header: "#", value: (r) => String(r.iteration) },
    { header: "STATUS", value: (r) => statusText(r.status, out) },
    { header: "STARTED", value: (r) => r.startedAt },
    { header: "TOOK", value: (r) => secs(r.durationMs) },
    { header: "ERROR", value: (r) => r.error ?? "", shrink: true },
  ];
  return renderTable(rows, columns, out);
}

function describeRun(r: FullRun, out: Style): string {
  const head = `Run ${r.id}\nLab: ${r.lab}${r.series ? `  (series ${r.series.slice(0, 8)}, run ${r.iteration})` : ""}\nStatus: ${statusText(r.status, out)}  started ${r.startedAt}, took ${secs(r.durationMs)}\n${r.error ? `Error: ${r.error}\n` : ""}\n`;
  const columns: Column<StepRecord>[] = [
    { header: "#", value: (s) => String(s.idx + 1) },
    { header: "STEP", value: (s) => s.name, shrink: true, min: 12 },
    { header: "MACHINE", value: (s) => s.machine },
    { header: "STATUS", value: (s) => statusText(s.status, out) },
    { header: "TOOK", value: (s) => secs(s.durationMs) },
    { header: "DETAIL", value: (s) => s.detail, shrink: true },
  ];
  return head + renderTable(r.steps, columns, out);
}

function reportText(r: ReliabilityReport, out: Style): string {
  const head = `${r.lab ? `Lab ${r.lab}: ` : ""}${r.runs} runs — ${r.ok} ok, ${r.failed} failed, ${r.timeout} timed out, ${r.stopped} stopped\nLeast reliable steps first:\n`;
  const columns: Column<ReliabilityReport["steps"][number]>[] = [
    { header: "#", value: (s) => String(s.idx + 1) },
    { header: "STEP", value: (s) => s.name, shrink: true, min: 12 },
    { header: "TRIES", value: (s) => String(s.attempts) },
    { header: "OK", value: (s) => String(s.ok) },
    { header: "FAILED", value: (s) => (s.failed ? out.red(String(s.failed)) : "0") },
    { header: "TIMEOUT", value: (s) => (s.timeout ? out.red(String(s.timeout)) : "0") },
    { header: "MEAN", value: (s) => secs(s.meanMs) },
    { header: "MAX", value: (s) => secs(s.maxMs) },
    { header: "LAST PROBLEM", value: (s) => s.lastProblem ?? "", shrink: true },
  ];
  return head + renderTable(r.steps, columns, out);
}

/** One line per step change: `[2/7] power on vm-1 … ok 1.2s`, with a bar on a terminal. */
function progressPrinter(ctx: Ctx): (p: Progress) => void {
  let total = 0;
  return (p) => {
    const { out, print } = ctx;
    if (p.type === "run-start") {
      total = p.steps.length;
      print(
        `${out.bold(`Lab ${p.run.lab}`)} run ${p.run.id.slice(0, 8)}${p.run.series ? ` (#${p.run.iteration})` : ""}: ${total} steps\n`,
      );
    } else if (p.type === "step-start") {
      const width = 20;
      const filled = Math.round((p.idx / Math.max(total, 1)) * width);
      const bar = ctx.io.stdout.isTTY ? `${"█".repeat(filled)}${"░".repeat(width - filled)} ` : "";
      print(`${bar}[${p.idx + 1}/${total || "?"}] ${p.name} — ${p.machines.join(", ")}\n`);
    } else if (p.type === "step-end") {
      print(
        `      ${p.machine === "-" ? "" : `${p.machine}: `}${statusText(p.status, out)} ${secs(p.durationMs)}${p.status === "ok" ? "" : ` — ${p.detail}`}\n`,
      );
    } else {
      print(
        `${statusText(p.run.status, out)}: run ${p.run.id.slice(0, 8)} took ${secs(p.run.durationMs)}${p.run.error ? ` — ${p.run.error}` : ""}\n`,
      );
    }
  };
}

export async function getRuns(ctx: Ctx, o: { output: Format; lab?: string; limit?: number }): Promise<void> {
  const c = await client(ctx);
  try {
    const rows = await c.runs({ lab: o.lab, limit: o.limit });
    if (rows.length === 0 && (o.output === "table" || o.output === "wide")) {
      ctx.io.stderr.write("No runs yet: `lab run LAB`.\n");
      return;
    }
    ctx.emit(o.output, rows, () => runsTable(rows, ctx.out));
  } finally {
    await c.close();
  }
}

export async function describeRunCommand(ctx: Ctx, id: string, output: Format): Promise<void> {
  const c = await client(ctx);
  try {
    const r = await c.get(id);
    ctx.emit(output, r, () => describeRun(r, ctx.out));
  } finally {
    await c.close();
  }
}

export function registerRunCommands(program: Command, ctx: Ctx): void {
  const run = program
    .command("run")
    .description("run a lab: its steps in order, with live progress (docs/labs.md)")
    .argument("[lab]", "the lab (`lab get labs`)")
    .option("--repeat <n>", "run it this many times (reliability mode)", (v) => Number.parseInt(v, 10), 1)
    .option("--until-stopped", "run it again and again until Ctrl-C")
    .option("-o, --output <format>", "table, json or yaml (the runs' records at the end)", "table")
    .action(
      async (lab: string | undefined, o: { repeat: number; untilStopped?: boolean; output: Format }) => {
        if (!lab) throw new LabError("LAB_E_USAGE", "which lab? `lab run LAB` (`lab get labs` lists them)");
        if (!Number.isInteger(o.repeat) || o.repeat < 1)
          throw new LabError("LAB_E_USAGE", "--repeat takes a whole number of runs, 1 or more");
        const c = await client(ctx);
        const stop = new AbortController();
        const onSigint = () => {
          ctx.io.stderr.write("stopping after the current step…\n");
          stop.abort();
        };
        process.once("SIGINT", onSigint);
        try {
          const human = o.output === "table" || o.output === "wide";
          const runs = await c.run(lab, {
            repeat: o.untilStopped ? 0 : o.repeat,
            signal: stop.signal,
            onProgress: human ? progressPrinter(ctx) : () => undefined,
          });
          if (runs.length > 1 && human) {
            ctx.print("\n");
            ctx.print(reportText(await c.report({ lab, series: runs[0]?.series ?? undefined }), ctx.out));
          }
          if (!human) ctx.emit(o.output, runs, () => "");
          if (runs.some((r) => r.status !== "ok")) ctx.setExitCode(1);
        } finally {
          process.off("SIGINT", onSigint);
          await c.close();
        }
      },
    );

  run
    .command("report")
    .description("per step: successes, failures, time-outs and timings; least reliable first")
    .argument("[lab]", "only this lab")
    .option("--series <id>", "only this reliability series")
    .option("-o, --output <format>", "table, json or yaml", "table")
    .action(async (lab: string | undefined, o: { series?: string; output: Format }, cmd: Command) => {
      // `lab run` has its own -o: commander hands a later -o to it rather than to this subcommand.
      const output =
        o.output !== "table" ? o.output : ((cmd.parent?.opts().output as Format | undefined) ?? o.output);
      const c = await client(ctx);
      try {
        const r = await c.report({ lab, series: o.series });
        ctx.emit(output, r, () => reportText(r, ctx.out));
      } finally {
        await c.close();
      }
    });
}
