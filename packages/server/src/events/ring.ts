/**
 * The events kept in memory: a bounded ring (by count and by age), each event numbered so a
 * reader can ask for "after N", with running counts per level, source and node — the
 * statistics labwatch shows. The ring never grows past its capacity; what falls out of it is
 * counted as evicted, so a reader asking for too old a position is told what it missed.
 */
import { logMatcher } from "./fanout.js";
import { type LabEvent, LEVELS, type Level } from "./model.js";

export interface StoredEvent extends LabEvent {
  seq: number;
}

export interface EventQuery {
  node?: string[];
  /** The lowest level wanted (`warn` → warn, error, fatal). */
  level?: Level;
  /** Exact source names or kind prefixes (`otel-file` matches `otel-file:/x.json`). */
  source?: string[];
  service?: string[];
  /** ISO time or epoch ms: events at or after it. */
  since?: number;
  after?: number;
  limit?: number;
}

export interface EventCounts {
  total: number;
  evicted: number;
  byLevel: Record<Level, number>;
  bySource: Record<string, number>;
  byNode: Record<string, number>;
}

export class EventRing {
  private readonly buf: (StoredEvent | undefined)[];
  private head = 0;
  private size = 0;
  private seq = 0;
  readonly counts: EventCounts = {
    total: 0,
    evicted: 0,
    byLevel: Object.fromEntries(LEVELS.map((l) => [l, 0])) as Record<Level, number>,
    bySource: {},
    byNode: {},
  };

  constructor(
    readonly capacity = 100_000,
    readonly maxAgeMs = 24 * 3600_000,
    private readonly now: () => number = Date.now,
  ) {
    this.buf = new Array(capacity);
  }

  /** Adds a batch, numbering its events in place; returns them. */
  push(events: LabEvent[]): StoredEvent[] {
    const out: StoredEvent[] = [];
    for (const e of events) {
      // Numbered in place: a batch belongs to the pipeline once handed over (no copy per event).
      const s = e as StoredEvent;
      s.seq = ++this.seq;
      if (this.size === this.capacity) {
        this.head = (this.head + 1) % this.capacity;
        this.size--;
        this.counts.evicted++;
      }
      this.buf[(this.head + this.size) % this.capacity] = s;
      this.size++;
      this.counts.total++;
      this.counts.byLevel[e.level]++;
      this.counts.bySource[e.source] = (this.counts.bySource[e.source] ?? 0) + 1;
      if (e.node) this.counts.byNode[e.node] = (this.counts.byNode[e.node] ?? 0) + 1;
      out.push(s);
    }
    this.expire();
    return out;
  }

  /**
   * Continues numbering after `seq` (what the store already holds) and starts the counts from
   * the retained totals, so a restarted server neither reuses a seq nor forgets its statistics.
   */
  resume(seq: number, totals?: Omit<EventCounts, "evicted">): void {
    if (this.size > 0) throw new Error("resume() before the first push");
    this.seq = Math.max(this.seq, seq);
    if (totals) {
      this.counts.total = totals.total;
      Object.assign(this.counts.byLevel, totals.byLevel);
      Object.assign(this.counts.bySource, totals.bySource);
      Object.assign(this.counts.byNode, totals.byNode);
    }
  }

  /** The newest sequence number handed out. */
  get last(): number {
    return this.seq;
  }

  /** The oldest sequence number still held (last + 1 when empty). */
  get first(): number {
    return this.size ? (this.buf[this.head] as StoredEvent).seq : this.seq + 1;
  }

  private expire(): void {
    const cutoff = this.now() - this.maxAgeMs;
    while (this.size > 0) {
      const oldest = this.buf[this.head] as StoredEvent;
      if (Date.parse(oldest.time) >= cutoff) return;
      this.buf[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.size--;
      this.counts.evicted++;
    }
  }

  /**
   * Matching events, oldest first, at most `limit`: after a position (`after`), the oldest
   * ones from there (paging forward); otherwise the newest ones.
   */
  query(q: EventQuery = {}): { events: StoredEvent[]; missed: number } {
    this.expire();
    const accepts = logMatcher(q);
    const match = (e: StoredEvent) =>
      (q.after === undefined || e.seq > q.after) &&
      (q.since === undefined || Date.parse(e.time) >= q.since) &&
      accepts(e);
    const limit = q.limit ?? 1000;
    const out: StoredEvent[] = [];
    if (q.after !== undefined) {
      // Sequence numbers are consecutive in the ring: start at the first one after `after`.
      const start = Math.max(0, q.after + 1 - this.first);
      for (let i = start; i < this.size && out.length < limit; i++) {
        const e = this.buf[(this.head + i) % this.capacity] as StoredEvent;
        if (match(e)) out.push(e);
      }
    } else {
      for (let i = this.size - 1; i >= 0 && out.length < limit; i--) {
        const e = this.buf[(this.head + i) % this.capacity] as StoredEvent;
        if (match(e)) out.push(e);
      }
      out.reverse();
    }
    // Asked to resume from a position the ring no longer holds: say how many fell out.
    const missed = q.after !== undefined && q.after + 1 < this.first ? this.first - q.after - 1 : 0;
    return { events: out, missed };
  }
}
