/**
 * Lab runs on the API (the CLI in client mode, the dashboard's progress slideshow):
 *
 *   GET  /api/v1/labs/:name             read   the lab and its plan: each step's name, machines, explain
 *   POST /api/v1/labs/:name/runs        write  {repeat?: N (0: until stopped)} → {series, runId}
 *   GET  /api/v1/runs                   read   ?lab=&series=&limit=  newest first
 *   GET  /api/v1/runs/report            read   ?lab=&series=  per step: ok/failed/timeout, timings
 *   GET  /api/v1/runs/:id               read   one run with every step (a unique id prefix works)
 *   GET  /api/v1/runs/series/:id        read   {running}
 *   POST /api/v1/runs/series/:id/stop   write  stops it after the current step
 *
 * Progress is also on the event streams: run.started, run.step, run.finished (subjects lab/NAME).
 */
import { LabError, type LabSpec, type NewAuditEvent, type StateStore } from "@lab/core";
import type { PowerControl } from "@lab/power";
import type { Timeline } from "@lab/pxe";
import {
  LabRunner,
  type ProvisionerLike,
  provisionSteps,
  RunRepo,
  runEnv,
  runSeries,
  stepName,
} from "@lab/runs";
import type { Database } from "@lab/store";
import type { FastifyInstance } from "fastify";
import type { Kysely } from "kysely";
import { z } from "zod";
import type { AgentChannel } from "./agent-channel.js";
import { parse, type RouteAuth } from "./routes.js";

const startBody = z.object({ repeat: z.number().int().min(0).max(100_000).optional() }).strict();
const listQuery = z.object({
  lab: z.string().max(253).optional(),
  series: z.string().max(64).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});
const idParam = z.object({ id: z.string().min(4).max(64) });
const nameParam = z.object({ name: z.string().min(1).max(253) });

export interface RunRouteDeps {
  store: StateStore;
  db: Kysely<Database>;
  power: PowerControl;
  timeline: Timeline;
  agents?: AgentChannel;
  /** For the `forget` and `install` steps. */
  provisioner?: ProvisionerLike;
  /** Key/value reports machines push (`POST /api/v1/callbacks`), for wait-callback steps. */
  callbacks?: {
    entries(server?: string): { key: string; status: string; at: number; value?: number | string }[];
  };
  record: (e: NewAuditEvent) => Promise<void>;
}

export function registerRunRoutes(
  app: FastifyInstance,
  d: RunRouteDeps,
  { auth, actorOf }: RouteAuth,
): () => void {
  const repo = new RunRepo(d.db);
  const series = new Map<string, AbortController>();
  const spec = async (kind: string, name: string) =>
    (await d.store.load()).find((r) => r.kind === kind && r.name === name)?.spec as
      | Record<string, unknown>
      | undefined;
  const macOf = async (m: string) =>
    ((await spec("server", m))?.mac as string | undefined)?.toLowerCase().replaceAll("-", ":") ?? null;
  // A machine is found by its MAC (a discovered one has no name yet), else by name.
  const machine = async (name: string) => {
    const mac = await macOf(name);
    const q = d.db.selectFrom("machines").selectAll();
    return (
      (mac ? await q.where("mac", "=", mac).executeTakeFirst() : undefined) ??
      (await q.where("name", "=", name).executeTakeFirst())
    );
  };
  const runner = (actor: string) =>
    new LabRunner(
      runEnv({
        power: {
          act: (n, a, b) => d.power.act(n, a, actor, b),
          setNextBoot: (n, dev) => d.power.setNextBoot(n, dev, actor),
        },
        macOf,
        addressOf: async (m) =>
          ((await spec("server", m))?.host as string | undefined) ??
          d.agents?.session(m)?.remoteAddress.replace(/^::ffff:/, "") ??
          (await machine(m))?.ip ??
          null,
        timeline: (mac) => d.timeline.read(mac),
        installState: async (m) => (await machine(m))?.state ?? null,
        // Enrolled (the identity record) and heard from: a live channel session with a heartbeat.
        agent: async (m) => {
          const row = await d.db
            .selectFrom("agents")
            .select(["enrolled_at", "revoked_at"])
            .where("name", "=", m)
            .executeTakeFirst();
          if (!row || row.revoked_at) return null;
          const live = d.agents?.session(m);
          return {
            enrolledAt: row.enrolled_at,
            heardAt: live?.lastHeartbeat ? new Date().toISOString() : null,
          };
        },
        ...(d.provisioner ? { provision: provisionSteps(d.provisioner, macOf) } : {}),
        ...(d.callbacks
          ? {
              callbacks: async (m: string) =>
                (d.callbacks?.entries(m) ?? []).map((e) => ({
                  key: e.key,
                  status: e.status,
                  at: new Date(e.at).toISOString(),
                  ...(e.value !== undefined ? { value: e.value } : {}),
                })),
            }
          : {}),
        ...(d.agents
          ? {
              agentExec: (m: string, argv: string[], signal: AbortSignal) =>
                new Promise<{ code: number; output: string }>((resolve, reject) => {
                  let output = "";
                  const quoted = argv.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
                  const h = d.agents?.exec(m, quoted, 10 * 60_000, {
                    output: (_s, data) => {
                      output = (output + data.toString("utf8")).slice(-10_000);
                    },
                    exit: (r) =>
                      resolve({ code: r.code ?? -1, output: r.error ? `${output}${r.error}` : output }),
                    error: reject,
                  });
                  signal.addEventListener("abort", () => h?.cancel(), { once: true });
                }),
            }
          : {}),
      }),
      repo,
      d.record,
    );

  // The dashboard's progress slideshow: a slide per step, with the step's explain: text.
  app.get("/api/v1/labs/:name", { preHandler: auth("read") }, async (req) => {
    const { name } = parse(nameParam, req.params);
    const lab = (await spec("lab", name)) as LabSpec | undefined;
    if (!lab)
      throw new LabError("LAB_E_NOT_FOUND", `lab "${name}" not found: list them with \`lab get labs\``);
    return {
      name,
      description: lab.description ?? null,
      machines: lab.machines,
      steps: lab.steps.map((s, idx) => ({
        idx,
        name: stepName(s),
        action: s.action,
        machines: s.action === "sleep" ? ["-"] : (s.machines ?? lab.machines),
        explain: s.explain ?? null,
      })),
    };
  });
  app.post("/api/v1/labs/:name/runs", { preHandler: auth("write") }, async (req) => {
    const { name } = parse(nameParam, req.params);
    const { repeat } = parse(startBody, req.body ?? {});
    const lab = (await spec("lab", name)) as LabSpec | undefined;
    if (!lab)
      throw new LabError("LAB_E_NOT_FOUND", `lab "${name}" not found: list them with \`lab get labs\``);
    const stop = new AbortController();
    let first: (v: { runId: string; series: string }) => void = () => undefined;
    const started = new Promise<{ runId: string; series: string }>((r) => {
      first = r;
    });
    const done = runSeries(runner(actorOf(req)), {
      lab: name,
      spec: lab,
      actor: actorOf(req),
      repeat: repeat ?? 1,
      signal: stop.signal,
      onProgress: (p) => {
        if (p.type === "run-start" && p.run.series) {
          series.set(p.run.series, stop);
          first({ runId: p.run.id, series: p.run.series });
        }
      },
    });
    done.then(
      (r) => series.delete(r.series),
      (e: unknown) => {
        req.log.error(e, "lab run failed");
      },
    );
    return started;
  });
  app.get("/api/v1/runs", { preHandler: auth("read") }, async (req) =>
    repo.runs(parse(listQuery, req.query)),
  );
  app.get("/api/v1/runs/report", { preHandler: auth("read") }, async (req) => {
    const { lab, series: s } = parse(listQuery, req.query);
    return repo.report({ lab, series: s });
  });
  app.get("/api/v1/runs/series/:id", { preHandler: auth("read") }, async (req) => ({
    running: series.has(parse(idParam, req.params).id),
  }));
  app.post("/api/v1/runs/series/:id/stop", { preHandler: auth("write") }, async (req) => {
    const { id } = parse(idParam, req.params);
    series.get(id)?.abort();
    return { stopping: series.has(id) };
  });
  app.get("/api/v1/runs/:id", { preHandler: auth("read") }, async (req) => {
    const { id } = parse(idParam, req.params);
    const r = await repo.run(id);
    if (!r) throw new LabError("LAB_E_NOT_FOUND", `run "${id}" not found (or the prefix is not unique)`);
    return r;
  });
  return () => {
    for (const s of series.values()) s.abort();
  };
}
