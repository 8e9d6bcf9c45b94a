/**
 * Health from Naemon (or Nagios): reads the `status.dat` the daemon rewrites every
 * `status_update_interval` seconds and turns its host and service states into one report per
 * server. Lab renders one Naemon host per server with `host_name` = the server's name
 * (naemon.ts), so that is the join key.
 *
 * Verdicts (documented in docs/alerts.md):
 * - host DOWN or UNREACHABLE in a hard state → failed, `down` / `unreach`;
 * - otherwise any service WARNING, CRITICAL or UNKNOWN in a hard state → warning, `N chk`
 *   (the Naemon check is the alert; its severity is Lab's `_LAB_SEVERITY`, not the state);
 * - soft (still retrying) problems are listed as pending findings and change nothing yet, as
 *   a Prometheus alert still inside its `for:` does not;
 * - nothing checked yet → unknown, `pending`;
 * - no host for the server, or status.dat missing, unreadable, garbage, truncated or older
 *   than `maxAgeSeconds` → unknown, with the reason in `reason` and, as in the Prometheus
 *   source, in a pending finding named after the source.
 */
import { open } from "node:fs/promises";
import { type HealthReport, type HealthSource, unknownReport } from "./types.js";

export interface NaemonHealthOptions {
  /** Path of status.dat (Naemon: /var/cache/naemon/status.dat; Debian nagios4: /var/lib/nagios4/status.dat). */
  statusFile: string;
  /** Give up reading after this long (default 5000 ms). */
  timeoutMs?: number;
  /** A status.dat written longer ago than this means Naemon stopped (default 300 s; 0 = never stale). */
  maxAgeSeconds?: number;
  /** The clock, in ms since the epoch (tests inject one). */
  now?: () => number;
  name?: string;
}

/** A HealthReport with, when the state is unknown, why (also in a finding named after the source). */
/** Kept as a name for callers; `reason` now lives on HealthReport. */
export type NaemonHealthReport = HealthReport;

/** One `hoststatus { … }` or `servicestatus { … }` block: the raw key=value pairs. */
export type StatusBlock = Record<string, string>;

export interface StatusSnapshot {
  /** `info.created`: when the daemon wrote the file, in seconds since the epoch. */
  created: number | null;
  version: string | null;
  hosts: Map<string, StatusBlock>;
  /** host_name → its services, in file order. */
  services: Map<string, StatusBlock[]>;
}

/** Why status.dat could not be used; the message goes into the unknown reports. */
export class StatusFileError extends Error {
  override name = "StatusFileError";
}

const HOST_STATES = ["UP", "DOWN", "UNREACHABLE"] as const;
const SERVICE_STATES = ["OK", "WARNING", "CRITICAL", "UNKNOWN"] as const;
const BLOCK_OPEN = /^([a-z]+)\s*\{$/;

/**
 * Parses status.dat line by line, keeping only the hosts in `wanted` (all when omitted), so
 * a large installation's file costs memory for the servers asked about only.
 * Throws StatusFileError when the text is not status.dat.
 */
export async function parseStatus(
  lines: AsyncIterable<string> | Iterable<string>,
  wanted?: ReadonlySet<string>,
  signal?: AbortSignal,
): Promise<StatusSnapshot> {
  const snap: StatusSnapshot = { created: null, version: null, hosts: new Map(), services: new Map() };
  let kind: string | null = null;
  let block: StatusBlock = {};
  let n = 0;
  let sawInfo = false;
  for await (const raw of lines) {
    n++;
    if (signal?.aborted) throw signal.reason;
    const line = raw.trim();
    if (kind === null) {
      if (line === "" || line.startsWith("#")) continue;
      const m = BLOCK_OPEN.exec(line);
      if (!m)
        throw new StatusFileError(`line ${n} is not status.dat syntax: ${JSON.stringify(excerpt(raw))}`);
      kind = m[1] as string;
      block = {};
      continue;
    }
    if (line === "}") {
      if (kind === "info") {
        sawInfo = true;
        const created = Number(block.created);
        snap.created = Number.isFinite(created) && block.created !== undefined ? created : null;
        snap.version = block.version ?? null;
      } else if (kind === "hoststatus" || kind === "servicestatus") {
        const host = block.host_name;
        if (host === undefined)
          throw new StatusFileError(`the ${kind} block ending on line ${n} has no host_name`);
        if (!wanted || wanted.has(host)) {
          if (kind === "hoststatus") snap.hosts.set(host, block);
          else {
            const list = snap.services.get(host);
            if (list) list.push(block);
            else snap.services.set(host, [block]);
          }
        }
      }
      kind = null;
      continue;
    }
    if (line === "") continue;
    const eq = line.indexOf("=");
    if (eq <= 0) {
      throw new StatusFileError(
        `line ${n} in a ${kind} block is not key=value: ${JSON.stringify(excerpt(raw))}`,
      );
    }
    // Only the blocks we may keep are worth the allocation.
    if (kind === "info" || kind === "hoststatus" || kind === "servicestatus") {
      block[line.slice(0, eq)] = line.slice(eq + 1);
    }
  }
  if (kind !== null) throw new StatusFileError(`the file ends inside a ${kind} block (truncated?)`);
  if (!sawInfo) {
    throw new StatusFileError(
      n === 0 ? "the file is empty" : "no info block: this is not a Nagios/Naemon status.dat",
    );
  }
  return snap;
}

function excerpt(s: string): string {
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}

const checked = (b: StatusBlock) => b.has_been_checked === "1";
const isHard = (b: StatusBlock) => b.state_type === "1";

function note(b: StatusBlock): string {
  const extra: string[] = [];
  if (!isHard(b)) extra.push(`soft, attempt ${b.current_attempt ?? "?"}/${b.max_attempts ?? "?"}`);
  if (b.problem_has_been_acknowledged === "1") extra.push("acknowledged");
  if (Number(b.scheduled_downtime_depth ?? 0) > 0) extra.push("in downtime");
  return extra.length ? ` (${extra.join(", ")})` : "";
}

/** One server's report from a parsed status.dat (exported for tests and other readers). */
export function reportFor(snap: StatusSnapshot, server: string, source = "naemon"): NaemonHealthReport {
  const host = snap.hosts.get(server);
  const services = snap.services.get(server) ?? [];
  if (!host) {
    return unknown(
      server,
      `Naemon has no host ${server}: render the Naemon objects and reload Naemon`,
      source,
    );
  }
  const findings: HealthReport["findings"] = [];
  let down: string | null = null;
  const hostState = Number(host.current_state);
  if (checked(host) && hostState !== 0) {
    const name = HOST_STATES[hostState] ?? `state ${host.current_state}`;
    const hard = isHard(host);
    findings.push({
      alert: "host",
      state: hard ? "firing" : "pending",
      detail: `${name}: ${host.plugin_output ?? ""}${note(host)}`,
    });
    if (hard) down = hostState === 2 ? "unreach" : "down";
  }
  let problems = 0;
  for (const s of services) {
    if (!checked(s)) continue;
    const state = Number(s.current_state);
    if (state === 0) continue;
    const hard = isHard(s);
    if (hard) problems++;
    findings.push({
      alert: s.service_description ?? "?",
      state: hard ? "firing" : "pending",
      detail: `${SERVICE_STATES[state] ?? `state ${s.current_state}`}: ${s.plugin_output ?? ""}${note(s)}`,
    });
  }
  if (down) return { server, state: "failed", summary: down, findings };
  if (problems > 0) return { server, state: "warning", summary: `${problems} chk`, findings };
  if (!checked(host) && !services.some(checked)) {
    return { ...unknown(server, "Naemon has not checked this server yet", source), summary: "pending" };
  }
  return { server, state: "ok", summary: "ok", findings };
}

function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => {});
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function unknown(server: string, reason: string, source: string): NaemonHealthReport {
  return unknownReport(server, source, reason);
}

/** Reads Naemon's status.dat. Never throws: a broken file makes every server unknown with the reason. */
export class NaemonHealth implements HealthSource {
  readonly name: string;
  private readonly statusFile: string;
  private readonly timeoutMs: number;
  private readonly maxAgeSeconds: number;
  private readonly now: () => number;

  constructor(options: NaemonHealthOptions) {
    this.name = options.name ?? "naemon";
    this.statusFile = options.statusFile;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.maxAgeSeconds = options.maxAgeSeconds ?? 300;
    this.now = options.now ?? Date.now;
  }

  async check(servers: string[], signal: AbortSignal): Promise<NaemonHealthReport[]> {
    const all = (reason: string) => servers.map((s) => unknown(s, reason, this.name));
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]);
    let snap: StatusSnapshot;
    try {
      // A read stuck in the kernel (a FIFO, a hung NFS mount) must not hold the answer up.
      snap = await untilAborted(this.read(new Set(servers), deadline), deadline);
    } catch (e) {
      return all(this.explain(e, signal, deadline));
    }
    if (this.maxAgeSeconds > 0) {
      if (snap.created === null)
        return all(`${this.statusFile} has no creation time: cannot tell if it is current`);
      const age = Math.round(this.now() / 1000 - snap.created);
      if (age > this.maxAgeSeconds) {
        return all(
          `${this.statusFile} was written ${age}s ago (more than ${this.maxAgeSeconds}s): is Naemon running?`,
        );
      }
    }
    return servers.map((s) => reportFor(snap, s, this.name));
  }

  private async read(wanted: Set<string>, deadline: AbortSignal): Promise<StatusSnapshot> {
    deadline.throwIfAborted();
    const fh = await open(this.statusFile, "r");
    const stop = () => void fh.close().catch(() => {});
    deadline.addEventListener("abort", stop, { once: true });
    try {
      return await parseStatus(fh.readLines({ encoding: "utf8" }), wanted, deadline);
    } finally {
      deadline.removeEventListener("abort", stop);
      await fh.close().catch(() => {});
    }
  }

  private explain(e: unknown, signal: AbortSignal, deadline: AbortSignal): string {
    if (signal.aborted) return "the health check was cancelled";
    const err = e as NodeJS.ErrnoException;
    if (deadline.aborted) return `reading ${this.statusFile} took longer than ${this.timeoutMs} ms`;
    if (e instanceof StatusFileError) return `${this.statusFile} is not usable: ${e.message}`;
    if (err?.code === "ENOENT") {
      return `${this.statusFile} does not exist: is Naemon running, and does its status_file point there?`;
    }
    if (err?.code === "EACCES") return `cannot read ${this.statusFile}: permission denied`;
    return `cannot read ${this.statusFile}: ${err?.message ?? String(e)}`;
  }
}
