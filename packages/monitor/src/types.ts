/** What renderers produce and how health is read back. */
import type { Backend, Fleet } from "@lab/core";

export interface RenderedFile {
  /** Relative path inside the output folder, e.g. `rules/label-mailserver.yaml`. */
  path: string;
  content: string;
}

/** A renderer: the fleet in, deterministic files out (same model → byte-identical files). */
export type Renderer = (fleet: Fleet) => RenderedFile[];

export interface RenderOptions {
  backend: Backend;
}

/** One server's health as one source sees it. */
export interface HealthReport {
  server: string;
  state: "ok" | "warning" | "failed" | "unknown";
  /** Short text for the HEALTH column: `ok`, `2 alrt`, `down`, `unknown`. */
  summary: string;
  /** Why the state is what it is, when that is not obvious (e.g. why unknown). */
  reason?: string;
  /** Firing alerts, failing checks, with the values behind them where known. */
  findings: { alert: string; state: "firing" | "pending" | "ok"; value?: number; detail?: string }[];
}

/** A monitoring system Lab reads verdicts from. Never throws: a broken source reports unknown. */
export interface HealthSource {
  readonly name: string;
  /**
   * A push source (callbacks) speaks only for servers that report to it: its "unknown, no
   * reports" for the others is silence, not a verdict, and must not hide other sources' ✓.
   */
  readonly partial?: boolean;
  /** Reports for the given servers; every server gets a report (unknown with the reason if needed). */
  check(servers: string[], signal: AbortSignal): Promise<HealthReport[]>;
}

/** A source's "I cannot say" for one server, with the reason both as `reason` and as a
 * pending finding (stored verdicts keep findings only). */
export function unknownReport(
  server: string,
  source: string,
  reason: string,
  findings: HealthReport["findings"] = [],
): HealthReport {
  return {
    server,
    state: "unknown",
    summary: "unknown",
    findings: [...findings, { alert: source, state: "pending", detail: reason }],
    reason,
  };
}
