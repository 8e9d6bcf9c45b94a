/**
 * Live log fan-out: every batch the pipeline takes goes to every connected client whose
 * filter accepts it, over WebSocket or SSE, in batch frames.
 *
 * Cost: each event is serialised once (by the pipeline); a batch frame is built once per
 * distinct (wire, filter) among the clients that are keeping up and handed to each of them
 * as the same bytes, so 32 unfiltered clients cost one join and 32 socket writes per batch.
 *
 * Memory is bounded per client: one whose socket is full queues up to `maxQueue` events, then
 * counts what it misses and, once its socket drains, is told exactly how many and which seq
 * range (`gap`). Nothing is dropped without being counted in exactly one gap; a slow client
 * never slows the server or the others.
 */
import type { Transport } from "../bus.js";
import { LEVELS, type Level } from "./model.js";
import type { StoredEvent } from "./ring.js";

export interface LogFilter {
  level?: Level;
  node?: string[];
  /** Exact source names or kind prefixes (`otel-file` matches `otel-file:/x.json`). */
  source?: string[];
  service?: string[];
}

/** A predicate for a filter (shared by the stream, the ring and the store searches). */
export function logMatcher(f: LogFilter): (e: StoredEvent) => boolean {
  const min = f.level ? LEVELS.indexOf(f.level) : 0;
  const nodes = f.node?.length ? new Set(f.node) : undefined;
  const services = f.service?.length ? new Set(f.service) : undefined;
  const sources = f.source?.length ? f.source : undefined;
  if (!min && !nodes && !services && !sources) return () => true;
  return (e) =>
    (min === 0 || LEVELS.indexOf(e.level) >= min) &&
    (!nodes || (e.node !== null && nodes.has(e.node))) &&
    (!services || (e.service !== null && services.has(e.service))) &&
    (!sources ||
      sources.some((s) => e.source === s || (e.source.startsWith(s) && e.source[s.length] === ":")));
}

export function filterKey(f: LogFilter): string {
  return JSON.stringify([
    f.level ?? "",
    [...(f.node ?? [])].sort(),
    [...(f.source ?? [])].sort(),
    [...(f.service ?? [])].sort(),
  ]);
}

/** How one kind of connection spells the stream's messages. */
export interface Wire {
  kind: string;
  /** A batch frame from pre-serialised events (`lastSeq`: the last one's seq). */
  events(jsons: string, lastSeq: number): string;
  message(type: "hello" | "gap" | "stats" | "shutdown", body: object): string;
}

export const wsWire: Wire = {
  kind: "ws",
  events: (jsons) => `{"type":"events","events":[${jsons}]}`,
  message: (type, body) => JSON.stringify({ type, ...body }),
};

export const sseWire: Wire = {
  kind: "sse",
  events: (jsons, lastSeq) => `id: ${lastSeq}\nevent: events\ndata: {"events":[${jsons}]}\n\n`,
  message: (type, body) => `event: ${type}\ndata: ${JSON.stringify(body)}\n\n`,
};

export interface Gap {
  missed: number;
  after: number;
  until: number;
}

/** Most events in one frame (a client's socket buffer, a browser's parse, stay small). */
const FRAME_EVENTS = 2000;

export interface LogClientOptions {
  filter: LogFilter;
  wire: Wire;
  /** Most events held for this client while its socket is full, before it misses events. */
  maxQueue: number;
  /** Wants a `stats` message every second. */
  stats?: boolean;
}

/** A batch as the hub hands it out: the events and their JSON, index-aligned. */
interface Batch {
  events: StoredEvent[];
  jsons: string[];
}

/** The frames one batch makes for one (wire, filter): built on first use, shared. */
interface Group {
  selected: number[];
  frames?: Buffer[];
}

export class LogClient {
  readonly key: string;
  readonly match: (e: StoredEvent) => boolean;
  /**
   * Frames waiting for the socket: mostly the very frames the keeping-up clients got (shared,
   * not rebuilt per client), each with how many events it carries.
   */
  private readonly pending: { frame: string | Buffer; count: number }[] = [];
  private pendingCount = 0;
  private missed = 0;
  private gapAfter = 0;
  private gapUntil = 0;
  private blocked = false;
  private closed = false;
  /** Live events that arrived during a replay, released after it (bounded like the queue). */
  private held:
    | { events: StoredEvent[]; jsons: string[]; overflow: number; overflowUntil: number }
    | undefined;
  /** The seq of the last event this client was given or told it missed. */
  lastSeq = 0;
  /** Everything ever accounted to this client (delivered + missed), for tests and stats. */
  readonly tally = { delivered: 0, missed: 0, gaps: 0 };

  constructor(
    private readonly transport: Transport,
    readonly opts: LogClientOptions,
  ) {
    this.key = `${opts.wire.kind}|${filterKey(opts.filter)}`;
    this.match = logMatcher(opts.filter);
  }

  get queued(): number {
    return this.pendingCount;
  }

  /** Sends a non-event message now (hello, stats) unless the socket is backed up. */
  say(type: "hello" | "stats" | "shutdown", body: object): void {
    if (this.closed || (this.blocked && type === "stats")) return;
    this.transport.send(this.opts.wire.message(type, body));
  }

  close(): void {
    this.closed = true;
  }

  /** Holds live events while the caller replays older ones. */
  hold(): void {
    this.held = { events: [], jsons: [], overflow: 0, overflowUntil: 0 };
  }

  /**
   * Sends replayed events (already filtered, seq ascending, all above `lastSeq`); resolves
   * once the socket has room again, so a long replay never piles up in memory.
   */
  async replay(events: StoredEvent[], jsons: string[]): Promise<void> {
    for (let i = 0; i < events.length; i += FRAME_EVENTS) {
      const last = events[Math.min(i + FRAME_EVENTS, events.length) - 1] as StoredEvent;
      const ok = this.transport.send(
        this.opts.wire.events(jsons.slice(i, i + FRAME_EVENTS).join(","), last.seq),
      );
      this.lastSeq = last.seq;
      this.tally.delivered += Math.min(FRAME_EVENTS, events.length - i);
      if (!ok) await new Promise<void>((resolve) => this.transport.onDrain(resolve));
    }
  }

  /** Tells the client about events it cannot have (e.g. no longer kept anywhere). */
  announceGap(gap: Gap): void {
    this.tally.missed += gap.missed;
    this.tally.gaps++;
    this.lastSeq = Math.max(this.lastSeq, gap.until);
    this.transport.send(this.opts.wire.message("gap", gap));
  }

  /** Ends a replay: held live events newer than what it delivered follow, in order. */
  release(): void {
    const held = this.held;
    this.held = undefined;
    if (!held) return;
    const fresh: number[] = [];
    for (let i = 0; i < held.events.length; i++)
      if ((held.events[i] as StoredEvent).seq > this.lastSeq) fresh.push(i);
    this.enqueue(held.events, held.jsons, fresh);
    if (held.overflow > 0) {
      if (this.missed === 0) this.gapAfter = this.lastSeq;
      this.missed += held.overflow;
      this.gapUntil = held.overflowUntil;
      this.lastSeq = Math.max(this.lastSeq, held.overflowUntil);
    }
    this.pump();
  }

  /** Takes this client's share of a batch (`group.selected`: the indices its filter accepts). */
  take(batch: Batch, group: Group): void {
    if (this.closed || group.selected.length === 0) return;
    if (this.held) {
      for (const i of group.selected) {
        if (this.held.events.length < this.opts.maxQueue) {
          this.held.events.push(batch.events[i] as StoredEvent);
          this.held.jsons.push(batch.jsons[i] as string);
        } else {
          this.held.overflow++;
          this.held.overflowUntil = (batch.events[i] as StoredEvent).seq;
        }
      }
      return;
    }
    const first = batch.events[group.selected[0] as number] as StoredEvent;
    if (!this.blocked && this.pending.length === 0 && this.missed === 0 && first.seq > this.lastSeq) {
      // Keeping up: the shared frames, as they are.
      group.frames ??= buildFrames(batch, group.selected, this.opts.wire);
      const last = batch.events[group.selected[group.selected.length - 1] as number] as StoredEvent;
      this.lastSeq = last.seq;
      this.tally.delivered += group.selected.length;
      for (const frame of group.frames) {
        if (!this.transport.send(frame)) {
          // Everything given to the socket is delivered; what comes next queues.
          this.waitForDrain();
        }
      }
      return;
    }
    if (first.seq <= this.lastSeq) {
      // Overlaps what this client already has (only right after a replay): event by event.
      this.enqueue(batch.events, batch.jsons, group.selected);
    } else {
      const last = batch.events[group.selected[group.selected.length - 1] as number] as StoredEvent;
      group.frames ??= buildFrames(batch, group.selected, this.opts.wire);
      this.queueFrames(group.frames, group.selected.length, last.seq);
    }
    this.pump();
  }

  /** Queues frames carrying `count` events up to `lastSeq`, or counts them missed when full. */
  private queueFrames(frames: (string | Buffer)[], count: number, lastSeq: number): void {
    if (this.missed > 0 || this.pendingCount + count > this.opts.maxQueue) {
      if (this.missed === 0) this.gapAfter = this.lastSeq;
      this.missed += count;
      this.gapUntil = lastSeq;
    } else {
      for (const [i, frame] of frames.entries()) {
        const n = i < frames.length - 1 ? FRAME_EVENTS : count - FRAME_EVENTS * (frames.length - 1);
        this.pending.push({ frame, count: n });
      }
      this.pendingCount += count;
    }
    this.lastSeq = lastSeq;
  }

  private enqueue(events: StoredEvent[], jsons: string[], indices: number[]): void {
    const fresh = indices.filter((i) => (events[i] as StoredEvent).seq > this.lastSeq);
    for (let k = 0; k < fresh.length; k += FRAME_EVENTS) {
      const part = fresh.slice(k, k + FRAME_EVENTS);
      const last = events[part[part.length - 1] as number] as StoredEvent;
      const frame = this.opts.wire.events(part.map((i) => jsons[i]).join(","), last.seq);
      this.queueFrames([frame], part.length, last.seq);
    }
  }

  private pump(): void {
    if (this.blocked || this.closed) return;
    while (this.pending.length > 0) {
      const { frame, count } = this.pending.shift() as { frame: string | Buffer; count: number };
      this.pendingCount -= count;
      const ok = this.transport.send(frame);
      this.tally.delivered += count;
      if (!ok) {
        this.waitForDrain();
        return;
      }
    }
    if (this.missed > 0) {
      const gap = { missed: this.missed, after: this.gapAfter, until: this.gapUntil };
      this.missed = 0;
      this.tally.missed += gap.missed;
      this.tally.gaps++;
      if (!this.transport.send(this.opts.wire.message("gap", gap))) this.waitForDrain();
    }
  }

  private waitForDrain(): void {
    if (this.blocked) return;
    this.blocked = true;
    this.transport.onDrain(() => {
      this.blocked = false;
      this.pump();
    });
  }
}

function buildFrames(batch: Batch, selected: number[], wire: Wire): Buffer[] {
  const frames: Buffer[] = [];
  for (let i = 0; i < selected.length; i += FRAME_EVENTS) {
    const part = selected.slice(i, i + FRAME_EVENTS);
    const jsons =
      part.length === batch.jsons.length ? batch.jsons : part.map((j) => batch.jsons[j] as string);
    const last = batch.events[part[part.length - 1] as number] as StoredEvent;
    frames.push(Buffer.from(wire.events(jsons.join(","), last.seq)));
  }
  return frames;
}

export class LogHub {
  private readonly clients = new Set<LogClient>();
  private statsTimer: NodeJS.Timeout | undefined;

  constructor(private readonly stats: () => object = () => ({})) {}

  add(client: LogClient): () => void {
    this.clients.add(client);
    if (client.opts.stats && !this.statsTimer) {
      this.statsTimer = setInterval(() => this.tick(), 1000);
      this.statsTimer.unref();
    }
    return () => {
      client.close();
      this.clients.delete(client);
    };
  }

  get size(): number {
    return this.clients.size;
  }

  /** Events waiting across all clients. */
  get depth(): number {
    let n = 0;
    for (const c of this.clients) n += c.queued;
    return n;
  }

  /** Hands a numbered batch (and each event's JSON, index-aligned) to every client. */
  publish(events: StoredEvent[], jsons: string[]): void {
    if (this.clients.size === 0 || events.length === 0) return;
    const batch = { events, jsons };
    const groups = new Map<string, Group>();
    for (const c of this.clients) {
      let g = groups.get(c.key);
      if (!g) {
        const selected: number[] = [];
        for (let i = 0; i < events.length; i++) if (c.match(events[i] as StoredEvent)) selected.push(i);
        g = { selected };
        groups.set(c.key, g);
      }
      c.take(batch, g);
    }
  }

  shutdown(): void {
    for (const c of this.clients) c.say("shutdown", {});
    this.clients.clear();
    if (this.statsTimer) clearInterval(this.statsTimer);
  }

  private tick(): void {
    let any = false;
    const body = { time: new Date().toISOString(), ...this.stats() };
    for (const c of this.clients) {
      if (!c.opts.stats) continue;
      any = true;
      c.say("stats", body);
    }
    if (!any && this.statsTimer) {
      clearInterval(this.statsTimer);
      this.statsTimer = undefined;
    }
  }
}
