/** Runs and their steps in the store (SQLite or PostgreSQL, migration 0010_lab_runs). */
import type { Database } from "@lab/store";
import type { Kysely } from "kysely";

export type StepStatus = "running" | "ok" | "failed" | "timeout" | "stopped";
export type RunStatus = StepStatus;

export interface RunRecord {
  id: string;
  lab: string;
  series: string | null;
  iteration: number;
  status: RunStatus;
  actor: string;
  startedAt: string;
  endedAt: string | null;
  durationMs: number | null;
  error: string | null;
}

export interface StepRecord {
  runId: string;
  idx: number;
  /** The machine, or "-" for a step of the whole lab (sleep). */
  machine: string;
  name: string;
  action: string;
  status: StepStatus;
  startedAt: string;
  endedAt: string | null;
  durationMs: number | null;
  detail: string;
}

/** One step's reliability over many runs: the seed's burn-in report. */
export interface StepReliability {
  idx: number;
  name: string;
  action: string;
  attempts: number;
  ok: number;
  failed: number;
  timeout: number;
  /** Of finished attempts that succeeded. */
  meanMs: number | null;
  maxMs: number | null;
  /** The last failure or time-out's detail. */
  lastProblem: string | null;
}

export interface ReliabilityReport {
  lab: string | null;
  series: string | null;
  runs: number;
  ok: number;
  failed: number;
  timeout: number;
  stopped: number;
  /** Least reliable first (most failures and time-outs per attempt), then slowest. */
  steps: StepReliability[];
}

const run = (r: Database["lab_runs"]): RunRecord => ({
  id: r.id,
  lab: r.lab,
  series: r.series,
  iteration: Number(r.iteration),
  status: r.status as RunStatus,
  actor: r.actor,
  startedAt: r.started_at,
  endedAt: r.ended_at,
  durationMs: r.duration_ms === null ? null : Number(r.duration_ms),
  error: r.error,
});

const step = (r: Database["lab_run_steps"]): StepRecord => ({
  runId: r.run_id,
  idx: Number(r.idx),
  machine: r.machine,
  name: r.name,
  action: r.action,
  status: r.status as StepStatus,
  startedAt: r.started_at,
  endedAt: r.ended_at,
  durationMs: r.duration_ms === null ? null : Number(r.duration_ms),
  detail: r.detail,
});

export class RunRepo {
  constructor(private readonly db: Kysely<Database>) {}

  async createRun(r: RunRecord): Promise<void> {
    await this.db
      .insertInto("lab_runs")
      .values({
        id: r.id,
        lab: r.lab,
        series: r.series,
        iteration: r.iteration,
        status: r.status,
        actor: r.actor,
        started_at: r.startedAt,
        ended_at: r.endedAt,
        duration_ms: r.durationMs,
        error: r.error,
      })
      .execute();
  }

  async finishRun(
    id: string,
    f: { status: RunStatus; endedAt: string; durationMs: number; error: string | null },
  ): Promise<void> {
    await this.db
      .updateTable("lab_runs")
      .set({ status: f.status, ended_at: f.endedAt, duration_ms: f.durationMs, error: f.error })
      .where("id", "=", id)
      .execute();
  }

  /** Inserts or replaces one step row (a step is written when it starts and when it ends). */
  async putStep(s: StepRecord): Promise<void> {
    const values = {
      run_id: s.runId,
      idx: s.idx,
      machine: s.machine,
      name: s.name,
      action: s.action,
      status: s.status,
      started_at: s.startedAt,
      ended_at: s.endedAt,
      duration_ms: s.durationMs,
      detail: s.detail.slice(0, 2000),
    };
    await this.db
      .insertInto("lab_run_steps")
      .values(values)
      .onConflict((oc) =>
        oc.columns(["run_id", "idx", "machine"]).doUpdateSet({
          status: values.status,
          ended_at: values.ended_at,
          duration_ms: values.duration_ms,
          detail: values.detail,
        }),
      )
      .execute();
  }

  async runs(q: { lab?: string; series?: string; limit?: number } = {}): Promise<RunRecord[]> {
    let query = this.db.selectFrom("lab_runs").selectAll();
    if (q.lab) query = query.where("lab", "=", q.lab);
    if (q.series) query = query.where("series", "=", q.series);
    const rows = await query
      .orderBy("started_at", "desc")
      .orderBy("id", "desc")
      .limit(q.limit ?? 100)
      .execute();
    return rows.map(run);
  }

  async run(id: string): Promise<(RunRecord & { steps: StepRecord[] }) | undefined> {
    // A unique prefix is enough, as with git commits.
    const rows = await this.db
      .selectFrom("lab_runs")
      .selectAll()
      .where("id", "like", `${id}%`)
      .limit(2)
      .execute();
    if (rows.length !== 1) return undefined;
    const r = run(rows[0] as Database["lab_runs"]);
    const steps = await this.db
      .selectFrom("lab_run_steps")
      .selectAll()
      .where("run_id", "=", r.id)
      .orderBy("idx")
      .orderBy("started_at")
      .execute();
    return { ...r, steps: steps.map(step) };
  }

  /** Per step: attempts, successes, failures and time-outs with their timings. */
  async report(q: { lab?: string; series?: string } = {}): Promise<ReliabilityReport> {
    let runsQ = this.db.selectFrom("lab_runs").selectAll();
    if (q.lab) runsQ = runsQ.where("lab", "=", q.lab);
    if (q.series) runsQ = runsQ.where("series", "=", q.series);
    const runs = (await runsQ.execute()).map(run);
    const ids = runs.map((r) => r.id);
    const steps = ids.length
      ? (await this.db.selectFrom("lab_run_steps").selectAll().where("run_id", "in", ids).execute()).map(step)
      : [];
    const byStep = new Map<string, StepReliability & { sum: number; n: number; lastAt: string }>();
    for (const s of steps) {
      const key = `${s.idx}\u0000${s.name}`;
      const agg = byStep.get(key) ?? {
        idx: s.idx,
        name: s.name,
        action: s.action,
        attempts: 0,
        ok: 0,
        failed: 0,
        timeout: 0,
        meanMs: null,
        maxMs: null,
        lastProblem: null,
        sum: 0,
        n: 0,
        lastAt: "",
      };
      byStep.set(key, agg);
      if (s.status === "running" || s.status === "stopped") continue;
      agg.attempts++;
      if (s.status === "ok") {
        agg.ok++;
        if (s.durationMs !== null) {
          agg.sum += s.durationMs;
          agg.n++;
          agg.maxMs = Math.max(agg.maxMs ?? 0, s.durationMs);
        }
      } else {
        if (s.status === "failed") agg.failed++;
        else agg.timeout++;
        if (s.startedAt >= agg.lastAt) {
          agg.lastAt = s.startedAt;
          agg.lastProblem = `${s.machine}: ${s.detail}`;
        }
      }
    }
    const rate = (s: StepReliability) => (s.attempts ? (s.failed + s.timeout) / s.attempts : 0);
    const list = [...byStep.values()].map(({ sum, n, lastAt: _l, ...s }) => ({
      ...s,
      meanMs: n ? Math.round(sum / n) : null,
    }));
    list.sort((a, b) => rate(b) - rate(a) || (b.meanMs ?? 0) - (a.meanMs ?? 0) || a.idx - b.idx);
    const count = (st: RunStatus) => runs.filter((r) => r.status === st).length;
    return {
      lab: q.lab ?? null,
      series: q.series ?? null,
      runs: runs.length,
      ok: count("ok"),
      failed: count("failed"),
      timeout: count("timeout"),
      stopped: count("stopped"),
      steps: list,
    };
  }
}
