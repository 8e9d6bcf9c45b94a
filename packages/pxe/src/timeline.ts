/**
 * One boot timeline per MAC: every DHCP exchange, TFTP transfer, HTTP fetch, progress callback,
 * syslog line and state change, in order, with the time between steps. Writes are batched
 * (a boot is dozens of steps a second across a fleet); readers get live entries at once and
 * stored ones from the database.
 */
import { redact, redactDeep } from "@lab/core";
import type { Database } from "@lab/store";
import type { Kysely } from "kysely";

export type TimelineKind = "dhcp" | "tftp" | "http" | "progress" | "syslog" | "state";

export interface TimelineEntry {
  id: number;
  mac: string;
  /** ISO time with milliseconds. */
  time: string;
  kind: TimelineKind;
  /** What happened: `offer`, `ack`, `GET /pxe/v1/dispatch`, `partitioning`, `INSTALLED`, … */
  type: string;
  detail: Record<string, unknown>;
}

/** An entry with the time since the previous step and since the first step shown. */
export interface TimelineStep extends TimelineEntry {
  sincePreviousMs: number;
  sinceStartMs: number;
}

type Listener = (entry: TimelineEntry) => void;

const FLUSH_MS = 100;
const MAX_PENDING = 10_000;
/** A boot is a few hundred steps; keep the newest of each kind of noise bounded. */
const MAX_READ = 5_000;

export class Timeline {
  private pending: Omit<TimelineEntry, "id">[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private listeners = new Set<{ mac?: string; fn: Listener }>();
  private seq = 0;
  /** Which MAC an address belongs to, learnt from DHCP and from machines' own requests. */
  private readonly macByIp = new Map<string, string>();
  dropped = 0;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly log: (line: string) => void = () => undefined,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Records one step; returns at once (the write is batched). */
  record(mac: string, kind: TimelineKind, type: string, detail: Record<string, unknown> = {}): void {
    // Machines' URLs and log lines carry their tokens: masked before anything stores or streams them.
    const entry = {
      mac,
      time: this.now().toISOString(),
      kind,
      type: redact(type),
      detail: redactDeep(detail),
    };
    if (this.pending.length >= MAX_PENDING) {
      // The database is not keeping up: count the loss rather than grow without bound.
      this.dropped++;
    } else {
      this.pending.push(entry);
      this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
    }
    this.announce(entry);
  }

  /** Tells live readers about a step (recorded here, or stored already: a bastion's). */
  announce(entry: Omit<TimelineEntry, "id">): void {
    const live = { id: --this.seq, ...entry };
    for (const l of this.listeners) if (!l.mac || l.mac === entry.mac) l.fn(live);
  }

  /** Remembers that `ip` is `mac`'s address now (from a lease or a request it made). */
  learn(ip: string, mac: string): void {
    if (this.macByIp.size > 100_000) this.macByIp.clear();
    this.macByIp.set(stripV4Mapped(ip), mac);
  }

  macOf(ip: string): string | undefined {
    return this.macByIp.get(stripV4Mapped(ip));
  }

  /** Live entries as they are recorded, for one MAC or all. */
  subscribe(fn: Listener, mac?: string): () => void {
    const l = { mac, fn };
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return this.flushing;
    this.flushing = this.flushing.then(async () => {
      try {
        await this.db
          .insertInto("boot_events")
          .values(batch.map((e) => ({ ...e, detail: JSON.stringify(e.detail) })))
          .execute();
      } catch (e) {
        this.dropped += batch.length;
        this.log(`timeline: could not store ${batch.length} steps: ${(e as Error).message}`);
      }
    });
    return this.flushing;
  }

  /** The stored steps of one MAC (after `afterId`), oldest first. */
  async read(mac: string, afterId = 0): Promise<TimelineEntry[]> {
    await this.flush();
    const rows = await this.db
      .selectFrom("boot_events")
      .selectAll()
      .where("mac", "=", mac)
      .where("id", ">", afterId)
      .orderBy("id", "desc")
      .limit(MAX_READ)
      .execute();
    return rows.reverse().map((r) => ({
      id: Number(r.id),
      mac: r.mac,
      time: r.time,
      kind: r.kind as TimelineKind,
      type: r.type,
      detail: JSON.parse(r.detail) as Record<string, unknown>,
    }));
  }

  async forget(mac: string): Promise<void> {
    await this.flush();
    await this.db.deleteFrom("boot_events").where("mac", "=", mac).execute();
  }

  async close(): Promise<void> {
    await this.flush();
    this.listeners.clear();
  }
}

/** Adds the time between steps; `since` limits the view to the latest boot (from that id). */
export function withDurations(entries: TimelineEntry[]): TimelineStep[] {
  const start = entries[0] ? Date.parse(entries[0].time) : 0;
  let previous = start;
  return entries.map((e) => {
    const t = Date.parse(e.time);
    const step = { ...e, sincePreviousMs: t - previous, sinceStartMs: t - start };
    previous = t;
    return step;
  });
}

/** The entries of the most recent boot: from the last DHCP discover (or the first entry). */
export function lastBoot(entries: TimelineEntry[]): TimelineEntry[] {
  for (let i = entries.length - 1; i > 0; i--) {
    const e = entries[i] as TimelineEntry;
    const prev = entries[i - 1] as TimelineEntry;
    // A new boot starts with DHCP (a discover, or the offer answering it) after something else.
    if (e.kind === "dhcp" && (e.type === "discover" || e.type === "offer") && prev.kind !== "dhcp") {
      return entries.slice(i);
    }
  }
  return entries;
}

/** `::ffff:10.0.0.5` (an IPv4 client on a dual-stack socket) → `10.0.0.5`. */
export function stripV4Mapped(ip: string): string {
  return ip.startsWith("::ffff:") ? ip.slice(7) : ip;
}
