/**
 * The port watcher (after labwatch's): a configurable list of `{server, host, port}`
 * endpoints probed continuously with a plain TCP connect, keeping the last result of each.
 * Nothing on the target, no protocol: "does something accept connections on that port?" —
 * for services that answer only once they are ready (Kubernetes API, Talos, PostgreSQL) it
 * is a reliable "work can start" signal.
 *
 * `check()` answers from the last results; endpoints never probed yet are probed on the spot
 * (bounded by `checkTimeoutMs` and the caller's signal), so a one-shot CLI can use it without
 * `start()`.
 */
import { createConnection } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import type { Fleet } from "@lab/core";
import { type HealthReport, type HealthSource, unknownReport } from "./types.js";

export interface Endpoint {
  server: string;
  host: string;
  port: number;
}

export interface ProbeResult {
  endpoint: Endpoint;
  ok: boolean;
  /** When the probe finished, ms since the epoch. */
  at: number;
  /** Connect time (ok) or time until the failure, in ms. */
  ms: number;
  /** ECONNREFUSED, timeout, ENOTFOUND, … */
  error?: string;
}

export interface PortProbesOptions {
  endpoints: Endpoint[];
  /** Pause between rounds (default 30 s). */
  intervalMs?: number;
  /** TCP connect timeout per probe (default 3 s). */
  timeoutMs?: number;
  /** Probes in flight at once (default 64). */
  concurrency?: number;
  /** A result older than this is unknown: the loop stopped or stalled (default 3 rounds). */
  staleAfterMs?: number;
  /** How long `check()` may spend probing endpoints never probed yet (default 5 s). */
  checkTimeoutMs?: number;
  now?: () => number;
  name?: string;
}

/** One TCP connect. Never rejects: a failure is `{ok: false, error}`. */
export function probeTcp(
  host: string,
  port: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<{ ok: boolean; ms: number; error?: string }> {
  const started = performance.now();
  const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve({ ok: false, ms: 0, error: "aborted" });
    const socket = createConnection({ host, port });
    let done = false;
    const finish = (ok: boolean, error?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      resolve(error ? { ok, ms: elapsed(), error } : { ok, ms: elapsed() });
    };
    const onAbort = () => finish(false, "aborted");
    const timer = setTimeout(() => finish(false, `no answer within ${timeoutMs} ms`), timeoutMs);
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.once("connect", () => finish(true));
    socket.once("error", (e: NodeJS.ErrnoException) => finish(false, e.code ?? e.message));
  });
}

/** Every declared port of every server, at the server's `host` (else its name). */
export function endpointsFromFleet(fleet: Fleet): Endpoint[] {
  const out: Endpoint[] = [];
  for (const r of fleet.resolveAll()) {
    const host = fleet.model.server.get(r.name)?.spec.host ?? r.name;
    for (const p of r.ports) out.push({ server: r.name, host, port: p.port });
  }
  return out.sort((a, b) => cmp(a.server, b.server) || a.port - b.port || cmp(a.host, b.host));
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const keyOf = (e: Endpoint) => `${e.server}\u0000${e.host}\u0000${e.port}`;

/** A HealthReport with, when the state is unknown, why (also in a finding). */
/** Kept as a name for callers; `reason` now lives on HealthReport. */
export type PortProbeReport = HealthReport;

export class PortProbes implements HealthSource {
  readonly name: string;
  private endpoints: Endpoint[] = [];
  private listed = new Set<string>();
  private readonly last = new Map<string, ProbeResult>();
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly concurrency: number;
  private readonly staleAfterMs: number;
  private readonly checkTimeoutMs: number;
  private readonly now: () => number;
  private loop: AbortController | null = null;

  constructor(options: PortProbesOptions) {
    this.name = options.name ?? "ports";
    this.intervalMs = options.intervalMs ?? 30_000;
    this.timeoutMs = options.timeoutMs ?? 3000;
    this.concurrency = Math.max(1, options.concurrency ?? 64);
    this.staleAfterMs = options.staleAfterMs ?? 3 * (this.intervalMs + this.timeoutMs);
    this.checkTimeoutMs = options.checkTimeoutMs ?? 5000;
    this.now = options.now ?? Date.now;
    this.setEndpoints(options.endpoints);
  }

  /** Replaces the list (the model changed); results of endpoints still listed are kept. */
  setEndpoints(endpoints: Endpoint[]): void {
    const seen = new Set<string>();
    this.endpoints = endpoints.filter((e) => {
      const k = keyOf(e);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
    this.listed = seen;
    for (const k of this.last.keys()) if (!seen.has(k)) this.last.delete(k);
  }

  /** Probes continuously, a round every `intervalMs`, until `stop()`. Idempotent. */
  start(): void {
    if (this.loop) return;
    const loop = new AbortController();
    this.loop = loop;
    void (async () => {
      while (!loop.signal.aborted) {
        await this.probeAll(loop.signal);
        await sleep(this.intervalMs, undefined, { signal: loop.signal, ref: false }).catch(() => {});
      }
    })();
  }

  stop(): void {
    this.loop?.abort();
    this.loop = null;
  }

  /** One round over every endpoint. */
  probeAll(signal?: AbortSignal): Promise<void> {
    return this.probe(this.endpoints, signal);
  }

  /** The last result of every endpoint probed so far. */
  results(): ProbeResult[] {
    return [...this.last.values()];
  }

  private async probe(endpoints: Endpoint[], signal?: AbortSignal): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < endpoints.length && !signal?.aborted) {
        const endpoint = endpoints[next++] as Endpoint;
        const r = await probeTcp(endpoint.host, endpoint.port, this.timeoutMs, signal);
        if (r.error === "aborted") return;
        // The list may have changed while the probe ran: keep only listed endpoints.
        if (!this.listed.has(keyOf(endpoint))) continue;
        this.last.set(keyOf(endpoint), { endpoint, at: this.now(), ...r });
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, endpoints.length) }, worker));
  }

  async check(servers: string[], signal: AbortSignal): Promise<PortProbeReport[]> {
    try {
      const wanted = new Set(servers);
      const mine = this.endpoints.filter((e) => wanted.has(e.server));
      const fresh = (e: Endpoint) => {
        const r = this.last.get(keyOf(e));
        return r !== undefined && this.now() - r.at <= this.staleAfterMs;
      };
      const missing = mine.filter((e) => !this.last.has(keyOf(e)));
      if (missing.length > 0 && !signal.aborted) {
        await this.probe(missing, AbortSignal.any([signal, AbortSignal.timeout(this.checkTimeoutMs)]));
      }
      const byServer = new Map<string, Endpoint[]>();
      for (const e of mine) {
        const list = byServer.get(e.server);
        if (list) list.push(e);
        else byServer.set(e.server, [e]);
      }
      return servers.map((server) => this.report(server, byServer.get(server) ?? [], fresh, signal));
    } catch (e) {
      const reason = `port probes failed: ${(e as Error)?.message ?? String(e)}`;
      return servers.map((server) => ({
        server,
        state: "unknown" as const,
        summary: "unknown",
        findings: [{ alert: this.name, state: "pending" as const, detail: reason }],
        reason,
      }));
    }
  }

  private report(
    server: string,
    endpoints: Endpoint[],
    fresh: (e: Endpoint) => boolean,
    signal: AbortSignal,
  ): PortProbeReport {
    if (endpoints.length === 0) {
      return unknownReport(server, this.name, "no ports to probe on this server");
    }
    const findings: HealthReport["findings"] = [];
    let failed = 0;
    let unknown = 0;
    for (const e of [...endpoints].sort((a, b) => a.port - b.port || cmp(a.host, b.host))) {
      const r = this.last.get(keyOf(e));
      const alert = `tcp_${e.port}`;
      if (!r || !fresh(e)) {
        unknown++;
        const why = !r
          ? signal.aborted
            ? "not probed yet (the check was cancelled)"
            : "not probed yet"
          : `last probed ${Math.round((this.now() - r.at) / 1000)}s ago: the prober stopped or stalled`;
        findings.push({ alert, state: "pending", detail: `${e.host}:${e.port} ${why}` });
      } else if (r.ok) {
        findings.push({ alert, state: "ok", value: r.ms, detail: `${e.host}:${e.port} accepts connections` });
      } else {
        failed++;
        findings.push({ alert, state: "firing", detail: `${e.host}:${e.port} ${r.error ?? "failed"}` });
      }
    }
    if (failed > 0) return { server, state: "failed", summary: `${failed} port`, findings };
    if (unknown > 0) {
      const reason = `${unknown} of ${endpoints.length} ports without a current probe result`;
      return { server, state: "unknown", summary: "unknown", findings, reason };
    }
    return { server, state: "ok", summary: "ok", findings };
  }
}
