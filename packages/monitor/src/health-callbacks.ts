/**
 * The callbacks watcher (after labwatch's): workloads report their own state as key/value
 * pairs — a boot script "installer: ok", a load test "progress: 40", a backup job
 * "backup: failed" — instead of Lab guessing from outside. The HTTP route that receives them
 * passes each body to `record()`, which validates it; `check()` aggregates per server.
 *
 * Each report lives for its TTL (`ttlSeconds`, default 5 min). After that it is stale: shown
 * as unknown for `retainExpiredSeconds` (default 1 h) so a workload that went silent is
 * visible, then forgotten.
 *
 * Memory is bounded (defaults; see docs/alerts.md): at most `maxKeysPerServer` (32) keys per
 * server — a new key beyond that replaces the server's least recently reported one, so a
 * noisy workload only pushes out its own reports — and at most `maxEntries` (10 000) in all —
 * beyond that, once stale reports are dropped, a new key is refused (LAB_E_TOO_LARGE), so
 * reports for invented server names cannot push out real ones.
 */
import { LabError } from "@lab/core";
import { type HealthReport, type HealthSource, unknownReport } from "./types.js";

export type CallbackStatus = "ok" | "warning" | "failed";
export const CALLBACK_STATUSES: readonly CallbackStatus[] = ["ok", "warning", "failed"];

/** What a workload sends. */
export interface CallbackReport {
  server: string;
  key: string;
  status: CallbackStatus;
  value?: number | string;
  ttlSeconds?: number;
}

export interface CallbackEntry {
  server: string;
  key: string;
  status: CallbackStatus;
  value?: number | string;
  /** When it was recorded, ms since the epoch. */
  at: number;
  /** From then on the report is stale (unknown). */
  expiresAt: number;
}

export interface CallbacksOptions {
  defaultTtlSeconds?: number;
  maxTtlSeconds?: number;
  maxKeysPerServer?: number;
  maxEntries?: number;
  retainExpiredSeconds?: number;
  /** When given, reports for servers it rejects are refused (unknown server). */
  isKnownServer?: (server: string) => boolean;
  now?: () => number;
  name?: string;
}

export const CALLBACK_LIMITS = {
  defaultTtlSeconds: 300,
  maxTtlSeconds: 7 * 86400,
  maxKeysPerServer: 32,
  maxEntries: 10_000,
  retainExpiredSeconds: 3600,
  keyLength: 128,
  valueLength: 256,
} as const;

const SERVER = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const KEY = /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/;
const FIELDS = ["server", "key", "status", "value", "ttlSeconds"];
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Checks a report's shape; every problem is listed, not only the first. */
export function validateCallbackReport(
  input: unknown,
  maxTtlSeconds: number = CALLBACK_LIMITS.maxTtlSeconds,
): { ok: true; report: CallbackReport } | { ok: false; problems: string[] } {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return {
      ok: false,
      problems: [`expected an object {server, key, status, value?, ttlSeconds?}, got ${describe(input)}`],
    };
  }
  const o = input as Record<string, unknown>;
  const problems: string[] = [];
  for (const k of Object.keys(o)) {
    if (!FIELDS.includes(k)) problems.push(`${k}: unknown field (allowed: ${FIELDS.join(", ")})`);
  }
  if (typeof o.server !== "string" || !SERVER.test(o.server) || o.server.length > 253) {
    problems.push(`server: expected a server name (letters, digits, . _ -), got ${describe(o.server)}`);
  }
  if (typeof o.key !== "string" || !KEY.test(o.key) || o.key.length > CALLBACK_LIMITS.keyLength) {
    problems.push(
      `key: expected up to ${CALLBACK_LIMITS.keyLength} letters, digits, . _ : / - (starting with a letter or digit), got ${describe(o.key)}`,
    );
  }
  if (typeof o.status !== "string" || !(CALLBACK_STATUSES as readonly string[]).includes(o.status)) {
    problems.push(`status: expected ${CALLBACK_STATUSES.join(", ")}, got ${describe(o.status)}`);
  }
  if (o.value !== undefined) {
    const okNumber = typeof o.value === "number" && Number.isFinite(o.value);
    const okText =
      typeof o.value === "string" && o.value.length <= CALLBACK_LIMITS.valueLength && !CONTROL.test(o.value);
    if (!okNumber && !okText) {
      problems.push(
        `value: expected a finite number or a one-line text of up to ${CALLBACK_LIMITS.valueLength} characters, got ${describe(o.value)}`,
      );
    }
  }
  if (o.ttlSeconds !== undefined) {
    const t = o.ttlSeconds;
    if (typeof t !== "number" || !Number.isFinite(t) || t <= 0 || t > maxTtlSeconds) {
      problems.push(
        `ttlSeconds: expected a number of seconds above 0 and at most ${maxTtlSeconds}, got ${describe(t)}`,
      );
    }
  }
  if (problems.length) return { ok: false, problems };
  const report: CallbackReport = {
    server: o.server as string,
    key: o.key as string,
    status: o.status as CallbackStatus,
  };
  if (o.value !== undefined) report.value = o.value as number | string;
  if (o.ttlSeconds !== undefined) report.ttlSeconds = o.ttlSeconds as number;
  return { ok: true, report };
}

function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === "object") return "an object";
  return `${typeof v} ${String(v)}`;
}

/** A HealthReport with, when the state is unknown, why (also in a finding). */
/** Kept as a name for callers; `reason` now lives on HealthReport. */
export type CallbackHealthReport = HealthReport;

export class Callbacks implements HealthSource {
  readonly partial = true;
  readonly name: string;
  private readonly byServer = new Map<string, Map<string, CallbackEntry>>();
  private total = 0;
  private readonly defaultTtlMs: number;
  private readonly maxTtlSeconds: number;
  private readonly maxKeysPerServer: number;
  private readonly maxEntries: number;
  private readonly retainMs: number;
  private readonly isKnownServer: ((server: string) => boolean) | undefined;
  private readonly now: () => number;

  constructor(options: CallbacksOptions = {}) {
    this.name = options.name ?? "callbacks";
    this.defaultTtlMs = (options.defaultTtlSeconds ?? CALLBACK_LIMITS.defaultTtlSeconds) * 1000;
    this.maxTtlSeconds = options.maxTtlSeconds ?? CALLBACK_LIMITS.maxTtlSeconds;
    this.maxKeysPerServer = Math.max(1, options.maxKeysPerServer ?? CALLBACK_LIMITS.maxKeysPerServer);
    this.maxEntries = Math.max(1, options.maxEntries ?? CALLBACK_LIMITS.maxEntries);
    this.retainMs = (options.retainExpiredSeconds ?? CALLBACK_LIMITS.retainExpiredSeconds) * 1000;
    this.isKnownServer = options.isKnownServer;
    this.now = options.now ?? Date.now;
  }

  /** How many reports are held (fresh and stale). */
  get size(): number {
    return this.total;
  }

  /**
   * Validates and keeps a report, replacing the previous one for (server, key). Throws
   * LabError LAB_E_BAD_REQUEST listing every problem, or LAB_E_TOO_LARGE when full.
   * Returns the entry and the key it pushed out of the server's cap, if any.
   */
  record(input: unknown): { entry: CallbackEntry; evicted?: string } {
    const checked = validateCallbackReport(input, this.maxTtlSeconds);
    if (!checked.ok) {
      throw new LabError("LAB_E_BAD_REQUEST", `invalid callback report: ${checked.problems.join("; ")}`);
    }
    const r = checked.report;
    if (this.isKnownServer && !this.isKnownServer(r.server)) {
      throw new LabError("LAB_E_BAD_REQUEST", `invalid callback report: server: no server named ${r.server}`);
    }
    const now = this.now();
    const entry: CallbackEntry = {
      server: r.server,
      key: r.key,
      status: r.status,
      at: now,
      expiresAt: now + (r.ttlSeconds !== undefined ? r.ttlSeconds * 1000 : this.defaultTtlMs),
    };
    if (r.value !== undefined) entry.value = r.value;

    let keys = this.byServer.get(r.server);
    if (keys?.has(r.key)) {
      keys.delete(r.key); // re-insert: map order is least recently reported first
      keys.set(r.key, entry);
      return { entry };
    }
    let evicted: string | undefined;
    if (keys && keys.size >= this.maxKeysPerServer) {
      this.dropExpired(r.server, keys, now);
      if (keys.size >= this.maxKeysPerServer) {
        const oldest = keys.keys().next().value as string;
        keys.delete(oldest);
        this.total--;
        evicted = oldest;
      }
    }
    if (this.total >= this.maxEntries) {
      this.sweep(now, true);
      if (this.total >= this.maxEntries) {
        throw new LabError(
          "LAB_E_TOO_LARGE",
          `callback reports are full (${this.maxEntries} held, none stale): report fewer keys or servers, or raise maxEntries`,
        );
      }
    }
    // Dropping stale reports may have removed the server's map.
    keys = this.byServer.get(r.server);
    if (!keys) {
      keys = new Map();
      this.byServer.set(r.server, keys);
    }
    keys.set(r.key, entry);
    this.total++;
    return evicted ? { entry, evicted } : { entry };
  }

  /** Drops one key, or all of a server's reports. */
  forget(server: string, key?: string): void {
    const keys = this.byServer.get(server);
    if (!keys) return;
    if (key === undefined) {
      this.total -= keys.size;
      this.byServer.delete(server);
    } else if (keys.delete(key)) {
      this.total--;
      if (keys.size === 0) this.byServer.delete(server);
    }
  }

  /** The held reports of one server (or all), least recently reported first. */
  entries(server?: string): CallbackEntry[] {
    if (server !== undefined) return [...(this.byServer.get(server)?.values() ?? [])];
    return [...this.byServer.values()].flatMap((m) => [...m.values()]);
  }

  async check(servers: string[], signal: AbortSignal): Promise<CallbackHealthReport[]> {
    const now = this.now();
    if (signal.aborted) {
      return servers.map((server) => this.unknown(server, "the health check was cancelled"));
    }
    this.sweep(now, false);
    return servers.map((server) => this.report(server, now));
  }

  private report(server: string, now: number): CallbackHealthReport {
    const keys = this.byServer.get(server);
    if (!keys || keys.size === 0) return this.unknown(server, "no callback reports from this server");
    const findings: HealthReport["findings"] = [];
    let failed = 0;
    let warning = 0;
    let stale = 0;
    for (const e of [...keys.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
      const shown = typeof e.value === "string" ? ` (${e.value})` : "";
      const finding: HealthReport["findings"][number] = { alert: e.key, state: "ok" };
      if (typeof e.value === "number") finding.value = e.value;
      if (now >= e.expiresAt) {
        stale++;
        finding.state = "pending";
        finding.detail = `stale: last report (${e.status}${shown}) expired ${Math.round((now - e.expiresAt) / 1000)}s ago`;
      } else if (e.status === "ok") {
        finding.detail = `ok${shown}`;
      } else {
        if (e.status === "failed") failed++;
        else warning++;
        finding.state = "firing";
        finding.detail = `${e.status}${shown}`;
      }
      findings.push(finding);
    }
    if (failed > 0) return { server, state: "failed", summary: `${failed} fail`, findings };
    if (warning > 0) return { server, state: "warning", summary: `${warning} warn`, findings };
    if (stale > 0) {
      const reason = `${stale} of ${keys.size} reports expired without a new one`;
      return { server, state: "unknown", summary: `${stale} stale`, findings, reason };
    }
    return { server, state: "ok", summary: "ok", findings };
  }

  private unknown(server: string, reason: string): CallbackHealthReport {
    return unknownReport(server, this.name, reason);
  }

  /** Forgets reports stale for longer than the retention; `hard` also drops every stale one. */
  private sweep(now: number, hard: boolean): void {
    for (const [server, keys] of this.byServer)
      this.dropExpired(server, keys, hard ? now : now - this.retainMs);
  }

  /** Drops the server's reports that expired at or before `before`. */
  private dropExpired(server: string, keys: Map<string, CallbackEntry>, before: number): void {
    for (const [k, e] of keys) {
      if (e.expiresAt <= before) {
        keys.delete(k);
        this.total--;
      }
    }
    if (keys.size === 0) this.byServer.delete(server);
  }
}
