/**
 * Server health as Prometheus sees it, read back over its HTTP API:
 *
 * - `/api/v1/query?query=ALERTS`: firing and pending alerts, mapped to servers by `lab_server`
 *   (Lab's rules keep that label on every series they alert on);
 * - `/api/v1/query?query=up{job="lab-node"}`: whether each server's node_exporter answers;
 * - `/api/v1/alerts`: the value of each active alert's expression at its last evaluation
 *   (the left-hand side of the comparison: the metric's value).
 *
 * A server with `up == 0` is failed (`down`); one with firing alerts is a warning (`N alrt`);
 * one Prometheus has no `up` series for (no host, not scraped yet) is unknown with the reason.
 * Prometheus down, slow (a timeout, default 3 s, on top of the caller's AbortSignal) or
 * answering something that is not its API makes every server unknown with the reason. `check`
 * never throws.
 */
import { type HealthReport, type HealthSource, unknownReport } from "./types.js";

export interface PrometheusHealthOptions {
  /** Prometheus's base URL, e.g. `http://127.0.0.1:9090` (a path prefix is kept). */
  url: string;
  /** Give up after this long (default 3000 ms); the whole check, all requests together. */
  timeoutMs?: number;
  /** The fetch to use (tests); default the global one. */
  fetch?: typeof fetch;
}

/** A HealthReport with, when the state is unknown, why (also in a finding, see `unknown`). */
/** Kept as a name for callers; `reason` now lives on HealthReport. */
export type PrometheusHealthReport = HealthReport;

type Finding = HealthReport["findings"][number];

interface Sample {
  metric: Record<string, string>;
  value: number;
}

interface ActiveAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  value: number | undefined;
}

/** Thrown inside `check` only, turned into an unknown report for every server. */
class Unavailable extends Error {}

export class PrometheusHealth implements HealthSource {
  readonly name = "prometheus";
  private readonly base: string;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;

  constructor(options: PrometheusHealthOptions) {
    this.base = options.url.replace(/\/+$/, "");
    this.timeoutMs = options.timeoutMs ?? 3000;
    this.fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  async check(servers: string[], signal: AbortSignal): Promise<PrometheusHealthReport[]> {
    try {
      const [alerts, up, active] = await this.withDeadline(signal, (s) =>
        Promise.all([this.query("ALERTS", s), this.query('up{job="lab-node"}', s), this.activeAlerts(s)]),
      );
      return servers.map((server) => this.report(server, alerts, up, active));
    } catch (e) {
      const reason = e instanceof Unavailable ? e.message : `Prometheus health check failed: ${String(e)}`;
      return servers.map((server) => unknown(server, reason));
    }
  }

  private report(
    server: string,
    alerts: Sample[],
    up: Sample[],
    active: ActiveAlert[],
  ): PrometheusHealthReport {
    const mine = alerts.filter((a) => a.metric.lab_server === server);
    const seen = new Set<string>();
    const findings: Finding[] = [];
    for (const a of mine) {
      const alert = a.metric.alertname ?? "(unnamed)";
      const state = a.metric.alertstate === "firing" ? "firing" : "pending";
      if (seen.has(`${state}\u0000${alert}`)) continue;
      seen.add(`${state}\u0000${alert}`);
      const details = active.find(
        (x) => x.labels.alertname === alert && x.labels.lab_server === server && x.value !== undefined,
      );
      const finding: Finding = { alert, state };
      if (details?.value !== undefined) finding.value = details.value;
      const text =
        details?.annotations.summary ?? (a.metric.severity ? `severity ${a.metric.severity}` : undefined);
      if (text) finding.detail = text;
      findings.push(finding);
    }
    findings.sort(
      (x, y) => (x.state === y.state ? 0 : x.state === "firing" ? -1 : 1) || (x.alert < y.alert ? -1 : 1),
    );
    const firing = findings.filter((f) => f.state === "firing").length;

    const nodes = up.filter((s) => s.metric.lab_server === server);
    const down = nodes.filter((s) => s.value === 0);
    if (down.length > 0) {
      const where = down.map((s) => s.metric.instance ?? "?").join(", ");
      findings.unshift({
        alert: "up",
        state: "firing",
        value: 0,
        detail: `node_exporter at ${where} does not answer`,
      });
      return { server, state: "failed", summary: "down", findings };
    }
    if (firing > 0) return { server, state: "warning", summary: `${firing} alrt`, findings };
    if (nodes.length === 0) {
      return unknown(
        server,
        'Prometheus has no up{job="lab-node"} series for it: it has no host in the model, its target is not in ' +
          "Prometheus's configuration, or it has not been scraped yet",
        findings,
      );
    }
    return { server, state: "ok", summary: "ok", findings };
  }

  /** Runs `work` under the caller's signal and the timeout, with reasons for both. */
  private async withDeadline<T>(signal: AbortSignal, work: (s: AbortSignal) => Promise<T>): Promise<T> {
    if (signal.aborted) throw new Unavailable("the health check was cancelled before it started");
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const both = AbortSignal.any([signal, timeout]);
    // A fetch that ignores the signal (or a body that never ends) must not hang the check.
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () =>
        reject(
          new Unavailable(
            signal.aborted
              ? "the health check was cancelled"
              : `Prometheus at ${this.base} did not answer within ${this.timeoutMs} ms`,
          ),
        );
      both.addEventListener("abort", onAbort, { once: true });
    });
    try {
      return await Promise.race([work(both), aborted]);
    } finally {
      if (onAbort) both.removeEventListener("abort", onAbort);
      aborted.catch(() => {});
    }
  }

  private async get(path: string, signal: AbortSignal): Promise<unknown> {
    let res: Response;
    try {
      res = await this.fetch(`${this.base}${path}`, { signal, headers: { accept: "application/json" } });
    } catch (e) {
      if (signal.aborted) throw e; // withDeadline reports it
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (e as Error).message ?? String(e);
      throw new Unavailable(`Prometheus at ${this.base} is unreachable (${why})`);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      if (signal.aborted) throw e;
      throw new Unavailable(`Prometheus at ${this.base} broke off its answer (${(e as Error).message})`);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Unavailable(
        `Prometheus at ${this.base} answered ${res.status} with something that is not JSON: ${clip(text)}`,
      );
    }
    const b = body as { status?: unknown; error?: unknown; data?: unknown };
    if (!res.ok || b?.status !== "success") {
      const error = typeof b?.error === "string" ? `: ${b.error}` : "";
      throw new Unavailable(
        `Prometheus at ${this.base} answered HTTP ${res.status} to ${path.split("?")[0]}${error}`,
      );
    }
    return b.data;
  }

  private async query(promql: string, signal: AbortSignal): Promise<Sample[]> {
    const data = (await this.get(`/api/v1/query?query=${encodeURIComponent(promql)}`, signal)) as {
      resultType?: unknown;
      result?: unknown;
    };
    if (data?.resultType !== "vector" || !Array.isArray(data.result)) {
      throw this.garbage(`${promql} did not return an instant vector`);
    }
    return data.result.map((r: unknown) => {
      const s = r as { metric?: unknown; value?: unknown };
      if (!isStringRecord(s?.metric) || !Array.isArray(s.value) || typeof s.value[1] !== "string") {
        throw this.garbage(`a sample of ${promql} is malformed`);
      }
      return { metric: s.metric, value: Number(s.value[1]) };
    });
  }

  private async activeAlerts(signal: AbortSignal): Promise<ActiveAlert[]> {
    const data = (await this.get("/api/v1/alerts", signal)) as { alerts?: unknown };
    if (!Array.isArray(data?.alerts)) throw this.garbage("/api/v1/alerts has no alerts list");
    return data.alerts.map((raw: unknown) => {
      const a = raw as { labels?: unknown; annotations?: unknown; value?: unknown };
      if (!isStringRecord(a?.labels)) throw this.garbage("an alert of /api/v1/alerts has no labels");
      const value = typeof a.value === "string" && a.value !== "" ? Number(a.value) : undefined;
      return {
        labels: a.labels,
        annotations: isStringRecord(a.annotations) ? a.annotations : {},
        value: value !== undefined && Number.isFinite(value) ? value : undefined,
      };
    });
  }

  private garbage(what: string): Unavailable {
    return new Unavailable(`Prometheus at ${this.base} answered something unexpected: ${what}`);
  }
}

/**
 * An unknown verdict. The reason is also a `pending` finding named after the source, the
 * convention the server's health collector uses, because stored verdicts keep findings only.
 */
function unknown(server: string, reason: string, findings: Finding[] = []): PrometheusHealthReport {
  return unknownReport(server, "prometheus", reason, findings);
}

function isStringRecord(v: unknown): v is Record<string, string> {
  return (
    typeof v === "object" &&
    v !== null &&
    !Array.isArray(v) &&
    Object.values(v).every((x) => typeof x === "string")
  );
}

function clip(text: string): string {
  const one = text.replace(/\s+/g, " ").trim();
  return JSON.stringify(one.length > 80 ? `${one.slice(0, 80)}…` : one);
}
