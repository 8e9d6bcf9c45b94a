/**
 * Runs a lab: its steps in order, each on its machines, each against its time-out; every step
 * stored as it starts and ends (so a crash leaves a record of how far it got), every change an
 * audit event (the dashboard's progress slides follow them). The first step that fails or
 * times out ends the run. What the steps do to the world goes through `RunEnv`, which the
 * host provides (the CLI in local mode, `lab server`); a step whose capability the host lacks
 * fails with a code and says where it can run.
 */
import { randomUUID } from "node:crypto";
import { LabError, type LabSpec, type LabStepSpec, type NewAuditEvent } from "@lab/core";
import type { RunRecord, RunRepo, RunStatus, StepRecord, StepStatus } from "./repo.js";

export interface RunEnv {
  power(machine: string, action: "on" | "off" | "cycle", nextBoot?: "pxe" | "disk"): Promise<string>;
  setNextBoot(machine: string, device: "pxe" | "disk"): Promise<string>;
  /** Resolves with what was seen once the machine's boot timeline has a step matching `stage` after `since`. */
  waitBootStage?(machine: string, stage: string, since: Date, signal: AbortSignal): Promise<string>;
  waitInstallState?(machine: string, state: string, signal: AbortSignal): Promise<string>;
  /** Resolves once the machine's agent enrolled and sent a heartbeat after `since`. */
  waitEnrolled?(machine: string, since: Date, signal: AbortSignal): Promise<string>;
  /** The provisioner: forget a machine, or queue an install of an image. */
  provision?(machine: string, op: { forget: true } | { image: string }): Promise<string>;
  waitCallback?(
    machine: string,
    key: string,
    status: string | undefined,
    since: Date,
    signal: AbortSignal,
  ): Promise<string>;
  /** The address Lab reaches the machine at (its host:, its agent's IP, its lease). */
  address(machine: string): Promise<string | null>;
  /** Runs a command on the machine through its agent. */
  agentExec?(machine: string, argv: string[], signal: AbortSignal): Promise<{ code: number; output: string }>;
  /** Runs a command on the host that runs the lab (QEMU rigs, network namespaces). */
  hostExec(
    argv: string[],
    env: Record<string, string>,
    signal: AbortSignal,
  ): Promise<{ code: number; output: string }>;
  readFile(path: string): Promise<Buffer>;
  /** Whether something accepts TCP connections at host:port now. */
  portOpen(host: string, port: number): Promise<boolean>;
  /** PUT/POST `body` to http://host:port/path; resolves with the status line. */
  push(host: string, port: number, path: string, method: string, body: Buffer): Promise<string>;
  random?: () => number;
}

export type Progress =
  | {
      type: "run-start";
      run: RunRecord;
      steps: { idx: number; name: string; machines: string[]; explain?: string }[];
    }
  | { type: "step-start"; runId: string; idx: number; name: string; machines: string[] }
  | {
      type: "step-end";
      runId: string;
      idx: number;
      name: string;
      machine: string;
      status: StepStatus;
      durationMs: number;
      detail: string;
    }
  | { type: "run-end"; run: RunRecord };

export interface RunOptions {
  lab: string;
  spec: LabSpec;
  actor: string;
  series?: string;
  iteration?: number;
  onProgress?: (p: Progress) => void;
  /** Aborting stops the run at once: the current step ends as "stopped". */
  signal?: AbortSignal;
}

const DURATION_UNIT: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};

export function durationMs(text: string): number {
  let total = 0;
  for (const m of text.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g))
    total += Number(m[1]) * (DURATION_UNIT[m[2] as string] ?? 0);
  return total;
}

/** What a step is called when it has no name of its own. */
export function stepName(step: LabStepSpec): string {
  switch (step.action) {
    case "set-next-boot":
      return step.name ?? `next boot ${step.device}`;
    case "wait-boot-stage":
      return step.name ?? `wait for boot stage ${step.stage}`;
    case "wait-port":
      return step.name ?? `wait for port ${step.port}`;
    case "wait-callback":
      return step.name ?? `wait for callback ${step.key}`;
    case "wait-install-state":
      return step.name ?? `wait for ${step.state}`;
    case "wait-enrolled":
      return step.name ?? "wait for the agent to enrol";
    case "install":
      return step.name ?? `install ${step.image}`;
    case "push-config":
      return step.name ?? `push ${step.file} to port ${step.port}`;
    case "agent-command":
    case "host-command":
    case "chaos-cut-network":
      return step.name ?? `${step.action} ${step.command.join(" ")}`.slice(0, 120);
    case "chaos-restart-service":
      return step.name ?? `restart ${step.service}`;
    case "sleep":
      return step.name ?? `sleep ${step.for}`;
    default:
      return step.name ?? step.action;
  }
}

class StepTimeout extends Error {}
class StepStopped extends Error {}

/** Rejects when `signal` aborts (a time-out or a stop); resolves with `work` otherwise. */
function guarded<T>(
  work: (signal: AbortSignal) => Promise<T>,
  timeoutMs: number,
  stop?: AbortSignal,
): Promise<T> {
  const controller = new AbortController();
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      controller.abort();
      reject(new StepTimeout(`no result within ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    const onStop = () => {
      controller.abort();
      reject(new StepStopped("stopped"));
    };
    if (stop?.aborted) onStop();
    stop?.addEventListener("abort", onStop, { once: true });
    work(controller.signal).then(
      (v) => {
        clearTimeout(timer);
        stop?.removeEventListener("abort", onStop);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        stop?.removeEventListener("abort", onStop);
        reject(e);
      },
    );
  });
}

/** Polls `check` until it returns a truthy detail; ends when `signal` aborts. */
export async function poll(
  check: () => Promise<string | null | false>,
  signal: AbortSignal,
  everyMs = 500,
): Promise<string> {
  for (;;) {
    if (signal.aborted) throw new StepStopped("aborted");
    const v = await check();
    if (v) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function needs(what: string | undefined, step: string): never {
  throw new LabError(
    "LAB_E_USAGE",
    `step "${step}" needs ${what ?? "lab server"}: run the lab against a server (lab login …)`,
  );
}

export class LabRunner {
  constructor(
    private readonly env: RunEnv,
    private readonly repo: RunRepo,
    private readonly record: (e: NewAuditEvent) => Promise<unknown>,
  ) {}

  async run(opts: RunOptions): Promise<RunRecord & { steps: StepRecord[] }> {
    const { spec } = opts;
    const started = new Date();
    const record: RunRecord = {
      id: randomUUID(),
      lab: opts.lab,
      series: opts.series ?? null,
      iteration: opts.iteration ?? 1,
      status: "running",
      actor: opts.actor,
      startedAt: started.toISOString(),
      endedAt: null,
      durationMs: null,
      error: null,
    };
    await this.repo.createRun(record);
    const plan = spec.steps.map((s, idx) => ({
      idx,
      name: stepName(s),
      machines: this.machinesOf(s, spec),
      explain: s.explain,
    }));
    opts.onProgress?.({ type: "run-start", run: record, steps: plan });
    await this.event(
      opts,
      "run.started",
      "ok",
      `lab ${opts.lab}: run ${record.id.slice(0, 8)} started (${spec.steps.length} steps)`,
    );
    const done: StepRecord[] = [];
    let status: RunStatus = "ok";
    let error: string | null = null;
    for (const [idx, step] of spec.steps.entries()) {
      const name = stepName(step);
      const machines = this.machinesOf(step, spec);
      opts.onProgress?.({ type: "step-start", runId: record.id, idx, name, machines });
      await this.event(
        opts,
        "run.step",
        "ok",
        `lab ${opts.lab}: step ${idx + 1}/${spec.steps.length} ${name}`,
        { step: idx },
      );
      const timeoutMs = durationMs(step.timeout ?? spec.default_timeout ?? "5m");
      const results = await this.runStep(record.id, idx, name, step, machines, timeoutMs, opts, started);
      done.push(...results);
      const bad = results.find((r) => r.status !== "ok");
      if (bad) {
        status = bad.status;
        error = `step ${idx + 1} (${name}) ${bad.status} on ${bad.machine}: ${bad.detail}`;
        break;
      }
    }
    const ended = new Date();
    Object.assign(record, {
      status,
      endedAt: ended.toISOString(),
      durationMs: ended.getTime() - started.getTime(),
      error,
    });
    await this.repo.finishRun(record.id, {
      status,
      endedAt: record.endedAt as string,
      durationMs: record.durationMs as number,
      error,
    });
    await this.event(
      opts,
      "run.finished",
      status === "ok" ? "ok" : "error",
      `lab ${opts.lab}: run ${record.id.slice(0, 8)} ${status} in ${((record.durationMs ?? 0) / 1000).toFixed(1)} s${error ? `: ${error}` : ""}`,
    );
    opts.onProgress?.({ type: "run-end", run: record });
    return { ...record, steps: done };
  }

  private machinesOf(step: LabStepSpec, spec: LabSpec): string[] {
    if (step.action === "sleep") return ["-"];
    return step.machines ?? spec.machines;
  }

  private async event(
    opts: RunOptions,
    action: string,
    result: "ok" | "error",
    summary: string,
    extra?: { step: number },
  ): Promise<void> {
    void extra;
    await this.record({
      actor: opts.actor,
      action,
      result,
      summary,
      changes: [],
      subjects: [`lab/${opts.lab}`],
    });
  }

  /** One step on its machines: in order for power (a lab powers on in sequence), together for the rest. */
  private async runStep(
    runId: string,
    idx: number,
    name: string,
    step: LabStepSpec,
    machines: string[],
    timeoutMs: number,
    opts: RunOptions,
    runStarted: Date,
  ): Promise<StepRecord[]> {
    const one = async (machine: string): Promise<StepRecord> => {
      const startedAt = new Date();
      const row: StepRecord = {
        runId,
        idx,
        machine,
        name,
        action: step.action,
        status: "running",
        startedAt: startedAt.toISOString(),
        endedAt: null,
        durationMs: null,
        detail: "",
      };
      await this.repo.putStep(row);
      try {
        // A boot or callback may come before its wait step starts (power-on was the step
        // before): whatever happened since the run began counts.
        row.detail = await guarded(
          (signal) => this.act(step, machine, runStarted, startedAt, signal),
          timeoutMs,
          opts.signal,
        );
        row.status = "ok";
      } catch (e) {
        row.status = e instanceof StepTimeout ? "timeout" : e instanceof StepStopped ? "stopped" : "failed";
        row.detail = e instanceof LabError ? `${e.code}: ${e.message}` : (e as Error).message;
      }
      const ended = new Date();
      row.endedAt = ended.toISOString();
      row.durationMs = ended.getTime() - startedAt.getTime();
      await this.repo.putStep(row);
      opts.onProgress?.({
        type: "step-end",
        runId,
        idx,
        name,
        machine,
        status: row.status,
        durationMs: row.durationMs,
        detail: row.detail,
      });
      return row;
    };
    const sequential = ["power-on", "power-off", "power-cycle", "set-next-boot"].includes(step.action);
    if (step.action === "chaos-power-off") {
      // Power off `count` members chosen at random (the seed's chaos button).
      const pool = [...machines];
      const random = this.env.random ?? Math.random;
      const chosen: string[] = [];
      for (let i = 0; i < Math.min(step.count ?? 1, pool.length); i++)
        chosen.push(pool.splice(Math.floor(random() * pool.length), 1)[0] as string);
      const out: StepRecord[] = [];
      for (const m of chosen) out.push(await one(m));
      return out;
    }
    if (!sequential) return Promise.all(machines.map(one));
    const out: StepRecord[] = [];
    for (const [i, m] of machines.entries()) {
      if (i > 0 && step.action === "power-on" && step.interval)
        await new Promise((r) => setTimeout(r, durationMs(step.interval as string)));
      const r = await one(m);
      out.push(r);
      if (r.status !== "ok") break;
    }
    return out;
  }

  private async act(
    step: LabStepSpec,
    machine: string,
    runStarted: Date,
    stepStarted: Date,
    signal: AbortSignal,
  ): Promise<string> {
    const since = runStarted;
    const env = this.env;
    const addr = async () => {
      const a = await env.address(machine);
      if (!a)
        throw new LabError(
          "LAB_E_NOT_FOUND",
          `${machine} has no known address (host:, an agent, or a lease)`,
        );
      return a;
    };
    switch (step.action) {
      case "set-next-boot":
        return env.setNextBoot(machine, step.device);
      case "power-on":
        return env.power(machine, "on");
      case "power-off":
      case "chaos-power-off":
        return env.power(machine, "off");
      case "power-cycle":
        return env.power(machine, "cycle");
      case "wait-boot-stage":
        if (!env.waitBootStage) needs("the PXE timeline", stepName(step));
        return env.waitBootStage(machine, step.stage, since, signal);
      case "wait-install-state":
        if (!env.waitInstallState) needs("the provisioner", stepName(step));
        return env.waitInstallState(machine, step.state, signal);
      case "wait-enrolled":
        if (!env.waitEnrolled) needs("the agent registry (the state database)", stepName(step));
        return env.waitEnrolled(machine, since, signal);
      case "forget":
        if (!env.provision) needs("the provisioner", stepName(step));
        return env.provision(machine, { forget: true });
      case "install":
        if (!env.provision) needs("the provisioner", stepName(step));
        return env.provision(machine, { image: step.image });
      case "wait-callback":
        if (!env.waitCallback) needs("lab server's callbacks", stepName(step));
        return env.waitCallback(
          machine,
          step.key,
          step.status,
          step.since === "step" ? stepStarted : since,
          signal,
        );
      case "wait-port": {
        const host = step.host ?? (await addr());
        return poll(
          async () => ((await env.portOpen(host, step.port)) ? `${host}:${step.port} answers` : null),
          signal,
        );
      }
      case "push-config": {
        const host = await addr();
        const body = await env.readFile(step.file);
        // Push instead of pull: nothing secret waits on a web server for the machine to fetch.
        await poll(async () => ((await env.portOpen(host, step.port)) ? "open" : null), signal);
        return env.push(host, step.port, step.path, step.method ?? "PUT", body);
      }
      case "agent-command":
      case "wipe-disks":
      case "chaos-restart-service": {
        const argv =
          step.action === "agent-command"
            ? step.command
            : step.action === "chaos-restart-service"
              ? (step.command ?? ["systemctl", "restart", step.service])
              : ["wipefs", "-af", ...(step.devices ?? [])];
        if (step.action === "wipe-disks" && step.paths?.length) {
          // A virtual machine's disks are files on this host: empty them here.
          const r = await env.hostExec(
            ["truncate", "-s", "0", ...step.paths],
            { LAB_MACHINE: machine },
            signal,
          );
          if (r.code !== 0)
            throw new LabError("LAB_E_AGENT_STATE", `truncate exited ${r.code}: ${r.output.slice(-300)}`);
          const r2 = await env.hostExec(
            ["truncate", "-s", "256M", ...step.paths],
            { LAB_MACHINE: machine },
            signal,
          );
          if (r2.code !== 0)
            throw new LabError("LAB_E_AGENT_STATE", `truncate exited ${r2.code}: ${r2.output.slice(-300)}`);
          return `emptied ${step.paths.join(", ")}`;
        }
        if (!env.agentExec) needs("the machine's agent (lab server)", stepName(step));
        const r = await env.agentExec(machine, argv, signal);
        if (r.code !== 0)
          throw new LabError(
            "LAB_E_AGENT_STATE",
            `${argv.join(" ")} exited ${r.code}: ${r.output.slice(-300)}`,
          );
        // The command's last line is the record's evidence of what it did (a new PID, a state).
        const last = r.output.trim().split("\n").at(-1)?.slice(0, 200);
        return `${argv[0]} exited 0${last ? `: ${last}` : ""}`;
      }
      case "host-command":
      case "chaos-cut-network": {
        const r = await env.hostExec(step.command, { LAB_MACHINE: machine }, signal);
        if (r.code !== 0)
          throw new LabError(
            "LAB_E_USAGE",
            `${step.command.join(" ")} exited ${r.code}: ${r.output.slice(-300)}`,
          );
        return `${step.command[0]} exited 0`;
      }
      case "sleep":
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, durationMs(step.for));
          signal.addEventListener("abort", () => {
            clearTimeout(t);
            reject(new StepStopped("aborted"));
          });
        });
        return `slept ${step.for}`;
    }
  }
}
