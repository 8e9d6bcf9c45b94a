/**
 * What the server already knows, as event sources of the one pipeline: the audit log (model
 * changes, agent connects and disconnects, health changes), the boot timeline (DHCP, TFTP,
 * HTTP, install progress, state changes) and its syslog lines, and agent heartbeats. Each is
 * a thin adapter: subscribe on start, unsubscribe on stop, map to the event model.
 */
import type { AuditEvent } from "@lab/core";
import type { TimelineEntry } from "@lab/pxe";
import type { LabEvent, Level } from "./model.js";
import type { EventSource, SourceContext } from "./sources.js";

/** A source fed by a subscription: batches what arrives in one tick into one emit. */
function subscribed(
  name: string,
  kind: string,
  subscribe: (push: (e: LabEvent) => void) => () => void,
  detail: string,
): EventSource {
  let unsubscribe: (() => void) | undefined;
  let batch: LabEvent[] = [];
  let scheduled = false;
  return {
    name,
    kind,
    start(ctx: SourceContext) {
      const flush = () => {
        scheduled = false;
        const b = batch;
        batch = [];
        void ctx.emit(b);
      };
      unsubscribe = subscribe((e) => {
        batch.push(e);
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
    stop() {
      unsubscribe?.();
      unsubscribe = undefined;
    },
    status: () => (unsubscribe ? { state: "running", detail } : { state: "stopped", detail: "not started" }),
  };
}

/** The server a set of audit subjects concerns (`server/db-1`), if exactly one. */
function serverOf(subjects: string[]): string | null {
  const servers = subjects.filter((s) => s.startsWith("server/"));
  return servers.length === 1 ? (servers[0] as string).slice(7) : null;
}

/** Where an audit event belongs: agent and health events have their own source names. */
export function auditToEvent(e: AuditEvent): LabEvent {
  const source = e.action.startsWith("agent.") ? "agent" : e.action === "health" ? "health" : "audit";
  const level: Level =
    e.result !== "ok"
      ? "error"
      : e.action === "health" && /→ (✗|failed|critical|down)/i.test(e.summary)
        ? "warn"
        : "info";
  return {
    time: e.time,
    node: serverOf(e.subjects),
    service: null,
    source,
    level,
    message: e.summary,
    attributes: { action: e.action, actor: e.actor, result: e.result, "audit.id": e.id },
  };
}

/** The audit log (and, by action, agent connects and health changes) from the event bus. */
export function auditSource(bus: { tap(fn: (e: AuditEvent) => void): () => void }): EventSource {
  return subscribed(
    "audit",
    "audit",
    (push) => bus.tap((e) => push(auditToEvent(e))),
    "following the audit log",
  );
}

const BOOT_LEVEL: Record<string, Level> = { FAILED: "error", failed: "error", error: "error" };

/** A boot timeline step as an event; syslog lines become the `syslog` source's. */
export function timelineToEvent(t: TimelineEntry, nodeOf: (mac: string) => string | null): LabEvent {
  const attributes: LabEvent["attributes"] = { mac: t.mac, stage: t.kind, type: t.type };
  for (const [k, v] of Object.entries(t.detail)) {
    if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") attributes[k] = v;
  }
  const isSyslog = t.kind === "syslog";
  const message = isSyslog && typeof t.detail.message === "string" ? t.detail.message : `${t.kind} ${t.type}`;
  return {
    time: t.time,
    node: nodeOf(t.mac),
    service: isSyslog ? t.type : t.kind,
    source: isSyslog ? "syslog" : "boot",
    level: BOOT_LEVEL[t.type] ?? (isSyslog && /\b(error|fail(ed)?)\b/i.test(message) ? "warn" : "info"),
    message,
    attributes,
  };
}

type TimelineLike = { subscribe(fn: (e: TimelineEntry) => void): () => void };

/**
 * DHCP/TFTP/HTTP boot steps, install progress and state changes (`boot`), and the install
 * syslog lines (`syslog`), from the boot timeline every PXE service writes to.
 */
export function timelineSources(
  timeline: TimelineLike,
  nodeOf: (mac: string) => string | null,
  hostSyslog?: (fn: (e: LabEvent) => void) => () => void,
): EventSource[] {
  const only = (syslog: boolean) => (push: (e: LabEvent) => void) =>
    timeline.subscribe((t) => {
      if ((t.kind === "syslog") === syslog) push(timelineToEvent(t, nodeOf));
    });
  const syslog = (push: (e: LabEvent) => void) => {
    const off = only(true)(push);
    const offHosts = hostSyslog?.(push);
    return () => {
      off();
      offHosts?.();
    };
  };
  return [
    subscribed("boot", "boot", only(false), "following the boot timeline (DHCP, TFTP, HTTP, progress)"),
    subscribed("syslog", "syslog", syslog, "following syslog (installers and other hosts)"),
  ];
}

const SYSLOG_LEVELS: Level[] = ["fatal", "fatal", "fatal", "error", "warn", "info", "info", "debug"];

/** A syslog message from a host that is not booting: its own HOSTNAME (else address) is the node. */
export function syslogToEvent(
  msg: {
    severity: number;
    facility: number;
    time?: Date;
    host?: string;
    app?: string;
    procid?: string;
    message: string;
  },
  from: string,
): LabEvent {
  return {
    time: (msg.time ?? new Date()).toISOString(),
    node: msg.host && msg.host !== "-" ? msg.host : from,
    service: msg.app ?? null,
    source: "syslog",
    level: SYSLOG_LEVELS[msg.severity] ?? "info",
    message: msg.message,
    attributes: {
      from,
      facility: msg.facility,
      severity: msg.severity,
      ...(msg.procid ? { pid: msg.procid } : {}),
    },
  };
}

export interface Heartbeat {
  name: string;
  uptime?: number;
  load?: number[];
  memory?: unknown;
}

/** Agent heartbeats (debug level: one per agent every few seconds). */
export function heartbeatSource(onHeartbeat: (fn: (h: Heartbeat) => void) => () => void): EventSource {
  return subscribed(
    "agent-heartbeats",
    "agent",
    (push) =>
      onHeartbeat((h) =>
        push({
          time: new Date().toISOString(),
          node: h.name,
          service: "lab-agent",
          source: "agent",
          level: "debug",
          message: `heartbeat${h.load ? ` (load ${h.load.map((l) => l.toFixed(2)).join(" ")})` : ""}`,
          attributes: {
            event: "heartbeat",
            ...(h.uptime !== undefined ? { uptime: h.uptime } : {}),
          },
        }),
      ),
    "following agent heartbeats",
  );
}
