/**
 * Live events over WebSocket and SSE: replay from an event id, then follow the bus, filtered
 * by kind (the event's action) and by a target selector (servers, labels, groups,
 * environments, regions). A reconnecting client passes the last id it saw and misses nothing.
 */
import type { ServerResponse } from "node:http";
import type { AuditEvent, Engine, ServerFilter, StateStore } from "@lab/core";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { EventBus, Subscriber, Transport } from "./bus.js";
import { Subscriber as BusSubscriber } from "./bus.js";

export interface StreamFilter {
  kinds?: string[];
  servers?: string[];
  target: ServerFilter;
}

const REPLAY_PAGE = 500;
/** Above this many buffered bytes a WebSocket counts as full. */
const WS_HIGH_WATER = 4 * 1024 * 1024;

/**
 * Which servers a stream's target selector covers, refreshed when the model changes (the
 * feed calls `refresh` before publishing), so filters stay synchronous and cheap.
 */
export class TargetIndex {
  private readonly entries = new Map<string, { filter: ServerFilter; names: Set<string>; users: number }>();

  constructor(private readonly engine: Engine) {}

  async acquire(filter: ServerFilter): Promise<{ names: Set<string>; release: () => void }> {
    const key = JSON.stringify(filter);
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { filter, names: await this.select(filter), users: 0 };
      this.entries.set(key, entry);
    }
    entry.users++;
    const e = entry;
    return {
      names: e.names,
      release: () => {
        e.users--;
        if (e.users === 0) this.entries.delete(key);
      },
    };
  }

  async refresh(): Promise<void> {
    for (const e of this.entries.values()) {
      const names = await this.select(e.filter);
      e.names.clear();
      for (const n of names) e.names.add(n);
    }
  }

  private async select(filter: ServerFilter): Promise<Set<string>> {
    const rows = await this.engine.list("server", { filter });
    return new Set(rows.map((r) => r.name));
  }
}

export function hasTarget(f: ServerFilter): boolean {
  return Boolean(f.labels?.length || f.groups?.length || f.environments?.length || f.regions?.length);
}

/** Does this event concern the stream's targets? */
export function eventFilter(f: StreamFilter, covered: Set<string> | undefined): (e: AuditEvent) => boolean {
  return (e) => {
    if (f.kinds?.length && !f.kinds.includes(e.action)) return false;
    const byName = f.servers?.length;
    if (!byName && !covered) return true;
    return e.subjects.some((s) => {
      const [kind, ...rest] = s.split("/");
      const name = rest.join("/");
      if (kind === "server") return Boolean(f.servers?.includes(name) || covered?.has(name));
      if (kind === "label") return Boolean(f.target.labels?.includes(name));
      if (kind === "group") return Boolean(f.target.groups?.includes(name));
      return false;
    });
  };
}

export interface StreamDeps {
  store: StateStore;
  bus: EventBus;
  targets: TargetIndex;
  /**
   * The newest event id already on the bus (the feed's position), where a stream opened
   * without `after` starts. Without it the store is asked for its newest event, which reads
   * and parses that whole event (an apply of 10k servers: ~0.9 MB, ~80 ms) on every page load.
   */
  newestEventId?: () => number;
}

/**
 * Attaches one client: replays stored events after `after`, then follows the bus. Returns
 * a function that detaches it.
 */
export async function attach(
  deps: StreamDeps,
  transport: Transport,
  filter: StreamFilter,
  after: number | undefined,
  formats: { event: (e: AuditEvent, json: string) => string; missed: (n: number, after: number) => string },
  maxQueue: number,
): Promise<() => void> {
  const target = hasTarget(filter.target) ? await deps.targets.acquire(filter.target) : undefined;
  const accept = eventFilter(filter, target?.names);
  // Subscribe first and hold live events, so nothing published during the replay is lost;
  // the release drops whatever the replay already delivered.
  const sub: Subscriber = new BusSubscriber(transport, {
    filter: accept,
    format: formats.event,
    formatMissed: formats.missed,
    maxQueue,
  });
  sub.hold();
  const unsubscribe = deps.bus.subscribe(sub);
  let cursor: number;
  if (after !== undefined) {
    cursor = after;
    for (;;) {
      const page = await deps.store.events({ after: cursor, limit: REPLAY_PAGE });
      for (const e of page) {
        cursor = e.id;
        if (accept(e)) transport.send(formats.event(e, JSON.stringify(e)));
      }
      if (page.length < REPLAY_PAGE) break;
    }
  } else {
    cursor = deps.newestEventId
      ? deps.newestEventId()
      : ((await deps.store.events({ limit: 1 }))[0]?.id ?? 0);
  }
  sub.release(cursor);
  return () => {
    unsubscribe();
    target?.release();
  };
}

/** A `ws` WebSocket as a transport; drain is detected by polling its buffered amount. */
export function wsTransport(socket: {
  send(data: string | Buffer, options?: { binary?: boolean }): void;
  bufferedAmount: number;
  readyState: number;
  _socket?: { cork(): void; uncork(): void };
}): Transport {
  let corked = false;
  return {
    send(message) {
      if (socket.readyState !== 1) return true; // closing: drop silently
      // One write for everything sent in this turn of the event loop, not one per message.
      if (!corked && socket._socket) {
        corked = true;
        socket._socket.cork();
        setImmediate(() => {
          corked = false;
          socket._socket?.uncork();
        });
      }
      // A Buffer is a pre-encoded text frame shared by many clients: send it as text.
      if (typeof message === "string") socket.send(message);
      else socket.send(message, { binary: false });
      return socket.bufferedAmount < WS_HIGH_WATER;
    },
    onDrain(callback) {
      const check = () => {
        if (socket.readyState !== 1) return;
        if (socket.bufferedAmount < WS_HIGH_WATER / 4) callback();
        else setTimeout(check, 5);
      };
      setTimeout(check, 5);
    },
  };
}

/** A raw HTTP response as an SSE transport. */
export function sseTransport(res: {
  write(chunk: string | Buffer): boolean;
  once(event: "drain", cb: () => void): unknown;
}): Transport {
  return {
    send: (message) => res.write(message),
    onDrain: (callback) => {
      res.once("drain", callback);
    },
  };
}

/**
 * Takes over the response as an SSE stream (headers, a first comment line) and says where it
 * resumes: a reconnecting EventSource's Last-Event-ID, else the query's `after`.
 */
export function openEventStream(
  req: FastifyRequest,
  reply: FastifyReply,
  banner: string,
  queryAfter: number | undefined,
): { res: ServerResponse; after: number | undefined } {
  const lastEventId = Number(req.headers["last-event-id"]);
  const after = Number.isFinite(lastEventId) && lastEventId > 0 ? lastEventId : queryAfter;
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-store",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  res.write(`: ${banner}\n\n`);
  return { res, after };
}
