/**
 * The server's one event pipeline: sources (each on its own, see sources.ts) hand batches to
 * `ingest`, which numbers them into the bounded ring, fans them out to live clients (see
 * fanout.ts) and appends them to the store's retention window. Searches read the ring and,
 * for what it no longer holds, the store.
 */
import { join } from "node:path";
import type { LogRepo } from "@lab/store";
import { type LogFilter, LogHub } from "./fanout.js";
import type { LabEvent } from "./model.js";
import { filePositionStore, OtelFileTail } from "./otel-file.js";
import { type EventCounts, type EventQuery, EventRing, type StoredEvent } from "./ring.js";
import { type EventSource, SourceRegistry } from "./sources.js";

export interface RetentionLimits {
  /** Events older than this are pruned from the store. */
  maxAgeMs: number;
  /** Beyond this many stored events the oldest are pruned. */
  maxRows: number;
}

export interface PipelineOptions {
  /** OpenTelemetry collector file-exporter outputs to tail. */
  otelFiles?: string[];
  /** Where the tails keep their positions (LAB_HOME/server/positions). */
  positionsDir: string;
  ringSize?: number;
  /** Longest an event stays in the in-memory ring. */
  ringAgeMs?: number;
  /** The store's retention window; none: memory only. */
  repo?: LogRepo;
  retention?: Partial<RetentionLimits>;
  /** How often retention is enforced. */
  pruneEveryMs?: number;
  /** Sources (names or kinds) that start switched off. */
  disabled?: string[];
  /** OTel tails' poll interval (a file watch wakes them sooner). */
  pollMs?: number;
  log?: (line: string) => void;
}

export const DEFAULT_RETENTION: RetentionLimits = { maxAgeMs: 7 * 86_400_000, maxRows: 1_000_000 };

/** Events waiting for the store beyond which new ones are kept in memory only (and counted). */
const MAX_UNWRITTEN = 200_000;
/** Most events per stored block. */
const BLOCK = 5000;

export interface PipelineStats {
  counts: EventCounts;
  first: number;
  last: number;
  clients: number;
  queued: number;
  store: {
    kind: string;
    written: number;
    unwritten: number;
    skipped: number;
    pruned: number;
    error: string | null;
  };
}

export class EventPipeline {
  readonly ring: EventRing;
  readonly hub: LogHub;
  readonly sources: SourceRegistry;
  private readonly repo: LogRepo | undefined;
  private readonly retention: RetentionLimits;
  private pruneTimer: NodeJS.Timeout | undefined;
  private readonly writer: StoreWriter | undefined;

  constructor(private readonly opts: PipelineOptions) {
    this.ring = new EventRing(opts.ringSize ?? 100_000, opts.ringAgeMs ?? 24 * 3600_000);
    this.hub = new LogHub(() => ({ counts: this.ring.counts, last: this.ring.last }));
    this.repo = opts.repo;
    this.retention = { ...DEFAULT_RETENTION, ...opts.retention };
    this.writer = opts.repo ? new StoreWriter(opts.repo, opts.log) : undefined;
    this.sources = new SourceRegistry({
      ingest: (events) => this.ingest(events),
      log: opts.log,
      disabled: opts.disabled,
    });
    for (const [i, path] of (opts.otelFiles ?? []).entries()) {
      this.sources.add(otelFileSource(path, join(opts.positionsDir, `otel-file-${i}.json`), opts.pollMs));
    }
  }

  add(source: EventSource): void {
    this.sources.add(source);
  }

  /** Continues the stored sequence and statistics, then starts every source. */
  async start(): Promise<void> {
    if (this.repo) {
      try {
        const [last, totals] = await Promise.all([this.repo.lastSeq(), this.repo.totals()]);
        this.ring.resume(last, totals);
        await this.prune();
      } catch (e) {
        this.opts.log?.(`log retention unavailable: ${(e as Error).message}`);
      }
      this.pruneTimer = setInterval(() => void this.prune(), this.opts.pruneEveryMs ?? 60_000);
      this.pruneTimer.unref();
    }
    await this.sources.startAll();
  }

  async stop(): Promise<void> {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    await this.sources.stopAll();
    this.hub.shutdown();
    await this.writer?.flush();
    await this.repo?.close();
  }

  /**
   * Takes a batch from a source: numbered, sent to live clients, and stored. Resolves once
   * the store has it (a tail commits its file offset only then).
   */
  ingest(events: LabEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    const stored = this.ring.push(events);
    // Serialised once here; every client's frames reuse these strings.
    const jsons = stored.map((e) => JSON.stringify(e));
    this.hub.publish(stored, jsons);
    return this.writer ? this.writer.write(stored, jsons) : Promise.resolve();
  }

  /** Matching events from the ring and, for what it no longer holds, the store. */
  async query(
    q: EventQuery,
  ): Promise<{ events: StoredEvent[]; missed: number; last: number; first: number }> {
    const limit = q.limit ?? 1000;
    const ringFirst = this.ring.first;
    const fromRing = this.ring.query({ ...q, limit });
    const storeFirst = this.repo ? await this.storeFirst() : undefined;
    const oldest = Math.min(ringFirst, storeFirst ?? ringFirst);
    let events = fromRing.events;
    const older = this.repo && ringFirst > 1 && (storeFirst ?? ringFirst) < ringFirst;
    if (older && this.repo) {
      if (q.after !== undefined) {
        if (q.after + 1 < ringFirst) {
          const stored = (await this.repo.search({ ...q, before: ringFirst, limit })) as StoredEvent[];
          events = [...stored, ...events].slice(0, limit);
        }
      } else if (events.length < limit) {
        const stored = (await this.repo.search({
          ...q,
          before: ringFirst,
          limit: limit - events.length,
        })) as StoredEvent[];
        events = [...stored, ...events];
      }
    }
    // Asked to resume from a position nothing holds any more: how many are gone.
    const missed = q.after !== undefined && q.after + 1 < oldest ? oldest - q.after - 1 : 0;
    return { events, missed, last: this.ring.last, first: oldest };
  }

  /**
   * Replays to a client what it asked for (after a seq, or the newest `tail`), in pages, with
   * a gap for what is no longer kept anywhere. The client holds live events meanwhile.
   */
  async replay(
    client: {
      replay(e: StoredEvent[], j: string[]): Promise<void>;
      announceGap(g: { missed: number; after: number; until: number }): void;
      lastSeq: number;
    },
    filter: LogFilter,
    from: { after?: number; tail?: number },
  ): Promise<void> {
    const last = this.ring.last;
    if (from.after === undefined && !from.tail) {
      client.lastSeq = last;
      return;
    }
    if (from.after === undefined) {
      const page = await this.query({ ...filter, limit: from.tail });
      client.lastSeq = Math.max(0, (page.events[0]?.seq ?? last + 1) - 1);
      await client.replay(
        page.events,
        page.events.map((e) => JSON.stringify(e)),
      );
      client.lastSeq = Math.max(client.lastSeq, last);
      return;
    }
    let cursor = Math.min(from.after, last);
    client.lastSeq = cursor;
    for (;;) {
      const page = await this.query({ ...filter, after: cursor, limit: 2000 });
      if (page.missed > 0 && cursor === client.lastSeq) {
        client.announceGap({ missed: page.missed, after: cursor, until: cursor + page.missed });
        cursor += page.missed;
      }
      if (page.events.length === 0) break;
      await client.replay(
        page.events,
        page.events.map((e) => JSON.stringify(e)),
      );
      cursor = (page.events.at(-1) as StoredEvent).seq;
      if (cursor >= last) break;
    }
    // Nothing matched up to `last`: the client is current as of the replay's start.
    client.lastSeq = Math.max(client.lastSeq, last);
  }

  stats(): PipelineStats {
    return {
      counts: this.ring.counts,
      first: this.ring.first,
      last: this.ring.last,
      clients: this.hub.size,
      queued: this.hub.depth,
      store: this.writer
        ? { kind: this.repo?.dialect ?? "", ...this.writer.stats }
        : { kind: "none", written: 0, unwritten: 0, skipped: 0, pruned: 0, error: null },
    };
  }

  private firstCache: { at: number; value: number | undefined } | undefined;

  private async storeFirst(): Promise<number | undefined> {
    // The oldest stored seq changes only when pruning runs: a second-old answer is fine.
    if (this.firstCache && Date.now() - this.firstCache.at < 1000) return this.firstCache.value;
    const value = await this.repo?.firstSeq();
    this.firstCache = { at: Date.now(), value };
    return value;
  }

  private async prune(): Promise<void> {
    if (!this.repo || !this.writer) return;
    try {
      this.writer.stats.pruned += await this.repo.prune(this.retention);
      this.firstCache = undefined;
    } catch (e) {
      this.opts.log?.(`log retention prune failed: ${(e as Error).message}`);
    }
  }
}

/**
 * Appends to the store behind the live path: batches that arrive while a write runs are
 * joined into the next transaction. Past MAX_UNWRITTEN waiting events, new ones are not
 * stored (they were delivered live and sit in the ring) and are counted as skipped.
 */
class StoreWriter {
  private pending: StoredEvent[] = [];
  private pendingJsons: string[] = [];
  private waiters: { resolve: () => void }[] = [];
  private running: Promise<void> | undefined;
  readonly stats = { written: 0, unwritten: 0, skipped: 0, pruned: 0, error: null as string | null };

  constructor(
    private readonly repo: LogRepo,
    private readonly log?: (line: string) => void,
  ) {}

  write(events: StoredEvent[], jsons: string[]): Promise<void> {
    if (this.pending.length + events.length > MAX_UNWRITTEN) {
      this.stats.skipped += events.length;
      return Promise.resolve();
    }
    for (let i = 0; i < events.length; i++) {
      this.pending.push(events[i] as StoredEvent);
      this.pendingJsons.push(jsons[i] as string);
    }
    this.stats.unwritten = this.pending.length;
    const done = new Promise<void>((resolve) => this.waiters.push({ resolve }));
    this.running ??= this.loop();
    return done;
  }

  async flush(): Promise<void> {
    await this.running;
  }

  private async loop(): Promise<void> {
    while (this.pending.length) {
      const batch = this.pending;
      const jsons = this.pendingJsons;
      const waiters = this.waiters;
      this.pending = [];
      this.pendingJsons = [];
      this.waiters = [];
      try {
        // Blocks of at most BLOCK events, so a search reads little it does not need.
        for (let i = 0; i < batch.length; i += BLOCK) {
          await this.repo.append(batch.slice(i, i + BLOCK), jsons.slice(i, i + BLOCK));
        }
        this.stats.written += batch.length;
        this.stats.error = null;
      } catch (e) {
        // Kept in the ring and delivered live; the store is behind, and the status says so.
        this.stats.skipped += batch.length;
        if (this.stats.error === null) this.log?.(`log retention write failed: ${(e as Error).message}`);
        this.stats.error = (e as Error).message;
      }
      this.stats.unwritten = this.pending.length;
      for (const w of waiters) w.resolve();
    }
    this.running = undefined;
  }
}

/** An OTel collector file as an event source. */
export function otelFileSource(path: string, positionsFile: string, pollMs?: number): EventSource {
  let tail: OtelFileTail | undefined;
  return {
    name: `otel-file:${path}`,
    kind: "otel-file",
    start(ctx) {
      tail = new OtelFileTail({
        path,
        positions: filePositionStore(positionsFile),
        sink: (events) => ctx.emit(events),
      });
      tail.start(pollMs);
    },
    async stop() {
      await tail?.stop();
      tail = undefined;
    },
    status() {
      const s = tail?.status;
      if (!s) return { state: "stopped", detail: "not started" };
      return {
        state: s.state === "reading" ? "running" : s.state,
        detail:
          s.detail +
          (s.malformed ? `; ${s.malformed} malformed lines skipped` : "") +
          (s.truncations ? `; truncated ${s.truncations}×` : "") +
          (s.rotations ? `; rotated ${s.rotations}×` : ""),
      };
    },
  };
}
