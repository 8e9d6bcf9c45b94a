/**
 * Load statistics (labwatch's load-stat handler) as callbacks: every agent heartbeat carries
 * the machine's load averages (/proc/loadavg through Node's os.loadavg) and memory, and each
 * becomes a callback report of that machine — kept as its latest value, put on the event
 * stream (the dashboard charts numeric callbacks over time) and readable by `wait-callback`
 * steps. The values are what the machine measured; nothing is sampled or made up here.
 */
import type { Heartbeat } from "@lab/identity";

export interface LoadReport {
  server: string;
  key: string;
  status: "ok";
  value: number;
  ttlSeconds: number;
}

/** The keys, for docs and the dashboard: 1-minute load average and memory in use (%). */
export const LOAD_KEYS = ["load.1m", "mem.used.pct"] as const;

/** The callback reports of one heartbeat; stale after three missed heartbeats (≥ 30 s). */
export function loadReports(
  name: string,
  hb: Pick<Heartbeat, "load" | "memory">,
  heartbeatMs = 30_000,
): LoadReport[] {
  const ttlSeconds = Math.max(30, Math.ceil((3 * heartbeatMs) / 1000));
  const out: LoadReport[] = [];
  const one = hb.load[0];
  if (typeof one === "number" && Number.isFinite(one))
    out.push({ server: name, key: "load.1m", status: "ok", value: round(one), ttlSeconds });
  const { total, free } = hb.memory;
  if (total > 0)
    out.push({
      server: name,
      key: "mem.used.pct",
      status: "ok",
      value: round((100 * (total - free)) / total),
      ttlSeconds,
    });
  return out;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
