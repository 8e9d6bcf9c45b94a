/**
 * The log pipeline's retention window in the store (SQLite and PostgreSQL alike), so
 * `lab logs --since 2h` answers after a restart and a client resumes from its last seq
 * across one.
 *
 * Stored in blocks, like Loki's chunks: each appended batch is one row holding its events as
 * a JSON array (the pipeline already has each event's JSON), with its seq and time ranges
 * and its counts per level, source and node. A search reads only the blocks whose ranges and
 * counts can match and filters their events; pruning drops whole blocks, oldest first.
 */
import type { Insertable, Kysely } from "kysely";
import type { KyselyStore } from "./kysely-store.js";
import type { Database, Dialect, LogBlockTable } from "./schema.js";
import { openSqliteStore } from "./sqlite.js";
import { type BlockWriter, sqliteBlockWriter } from "./sqlite-block-writer.js";

const LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;
type Level = (typeof LEVELS)[number];

/** One event as the pipeline numbers it (the server's StoredEvent, structurally). */
export interface LogRecord {
  seq: number;
  time: string;
  node: string | null;
  service: string | null;
  source: string;
  level: Level;
  message: string;
  attributes: Record<string, string | number | boolean>;
}

export interface LogSearch {
  after?: number;
  /** Only events numbered below this (the part the in-memory ring no longer holds). */
  before?: number;
  /** Epoch ms: events at or after it. */
  since?: number;
  node?: string[];
  /** Exact source names or kind prefixes (`otel-file` matches `otel-file:/x.json`). */
  source?: string[];
  service?: string[];
  level?: Level;
  /** At most this many: the oldest ones after `after`, else the newest ones. */
  limit?: number;
}

export interface LogTotals {
  total: number;
  byLevel: Record<Level, number>;
  bySource: Record<string, number>;
  byNode: Record<string, number>;
}

type BlockStats = Omit<LogTotals, "total">;

/** Blocks read per query round while searching. */
const PAGE = 16;

/**
 * The log tables of a store. On SQLite they live in a database file of their own beside the
 * state (state.db → state.logs.db): SQLite has one writer per file, and a busy log stream
 * writing megabyte blocks into state.db held its lock while the API's own writes waited
 * (synchronously, in better-sqlite3) — API requests stalled and failed under log load. Blocks
 * are written by a worker thread on its own connection (a megabyte block took 15–40 ms of the
 * event loop, see bench/events); reads use a second connection (WAL readers do not wait).
 * PostgreSQL keeps them in the store's database.
 */
export async function openLogRepo(store: KyselyStore): Promise<LogRepo> {
  if (store.dialect !== "sqlite" || !store.path || store.path === ":memory:") {
    return new LogRepo(store.db, store.dialect);
  }
  const path = logsPath(store.path);
  const logs = await openSqliteStore(path);
  return new LogRepo(logs.db, "sqlite", sqliteBlockWriter(path), () => logs.close());
}

/** Where a SQLite state's log blocks are kept. */
export function logsPath(statePath: string): string {
  return `${statePath.replace(/\.db$/, "")}.logs.db`;
}

function emptyTotals(): LogTotals {
  return {
    total: 0,
    byLevel: Object.fromEntries(LEVELS.map((l) => [l, 0])) as Record<Level, number>,
    bySource: {},
    byNode: {},
  };
}

function matcher(q: LogSearch): (e: LogRecord) => boolean {
  const min = q.level ? LEVELS.indexOf(q.level) : 0;
  return (e) =>
    (q.after === undefined || e.seq > q.after) &&
    (q.before === undefined || e.seq < q.before) &&
    (q.since === undefined || Date.parse(e.time) >= q.since) &&
    LEVELS.indexOf(e.level) >= min &&
    (!q.node?.length || (e.node !== null && q.node.includes(e.node))) &&
    (!q.service?.length || (e.service !== null && q.service.includes(e.service))) &&
    (!q.source?.length ||
      q.source.some((s) => e.source === s || (e.source.startsWith(s) && e.source[s.length] === ":")));
}

/** Can a block with these counts hold a match at all? (Saves parsing its body.) */
function mayMatch(stats: BlockStats, q: LogSearch): boolean {
  if (q.level) {
    const min = LEVELS.indexOf(q.level);
    if (!LEVELS.some((l, i) => i >= min && (stats.byLevel[l] ?? 0) > 0)) return false;
  }
  if (q.node?.length && !q.node.some((n) => stats.byNode[n])) return false;
  if (q.source?.length) {
    const names = Object.keys(stats.bySource);
    const wanted = q.source;
    if (!names.some((n) => wanted.some((s) => n === s || (n.startsWith(s) && n[s.length] === ":"))))
      return false;
  }
  return true;
}

export class LogRepo {
  constructor(
    private readonly db: Kysely<Database>,
    readonly dialect: Dialect,
    private readonly writer?: BlockWriter,
    private readonly closeDb?: () => Promise<void>,
  ) {}

  /** Ends the writer thread, after the blocks it was given are written. */
  async close(): Promise<void> {
    await this.writer?.close();
    await this.closeDb?.();
  }

  /**
   * Appends a batch (seq ascending) as one block. `jsons`, when given, is each event's JSON
   * (index-aligned): the block's body is built from them instead of serialising again.
   */
  async append(events: readonly LogRecord[], jsons?: readonly string[]): Promise<void> {
    const first = events[0];
    const last = events[events.length - 1];
    if (!first || !last) return;
    const stats: BlockStats = { byLevel: emptyTotals().byLevel, bySource: {}, byNode: {} };
    // ISO times of one format order as text: two Date.parse per block, not one per event.
    let minTime = first.time;
    let maxTime = first.time;
    for (const e of events) {
      if (e.time < minTime) minTime = e.time;
      if (e.time > maxTime) maxTime = e.time;
      stats.byLevel[e.level]++;
      stats.bySource[e.source] = (stats.bySource[e.source] ?? 0) + 1;
      if (e.node) stats.byNode[e.node] = (stats.byNode[e.node] ?? 0) + 1;
    }
    const row: Insertable<LogBlockTable> = {
      first_seq: first.seq,
      last_seq: last.seq,
      count: events.length,
      min_time_ms: Date.parse(minTime) || 0,
      max_time_ms: Date.parse(maxTime) || 0,
      stats: JSON.stringify(stats),
      body: jsons ? `[${jsons.join(",")}]` : JSON.stringify(events),
    };
    if (this.writer) return this.writer.append(row);
    await this.db
      .insertInto("log_blocks")
      .values(row)
      // A batch written again after a crash between the store and the file offset: kept once.
      .onConflict((oc) => oc.column("first_seq").doNothing())
      .execute();
  }

  /** The highest seq stored (0 when empty): a restarted pipeline continues after it. */
  async lastSeq(): Promise<number> {
    const row = await this.db
      .selectFrom("log_blocks")
      .select((eb) => eb.fn.max("last_seq").as("max"))
      .executeTakeFirst();
    return Number(row?.max ?? 0);
  }

  /** The lowest seq still stored, if any. */
  async firstSeq(): Promise<number | undefined> {
    const row = await this.db
      .selectFrom("log_blocks")
      .select((eb) => eb.fn.min("first_seq").as("min"))
      .executeTakeFirst();
    return row?.min === null || row?.min === undefined ? undefined : Number(row.min);
  }

  async search(q: LogSearch = {}): Promise<LogRecord[]> {
    const limit = q.limit ?? 1000;
    const accept = matcher(q);
    // After a position: the oldest ones from there; otherwise the newest, returned oldest first.
    const forward = q.after !== undefined;
    const out: LogRecord[] = [];
    let cursor: number | undefined;
    for (;;) {
      let query = this.db.selectFrom("log_blocks").select(["first_seq", "last_seq", "stats", "body"]);
      if (q.after !== undefined) query = query.where("last_seq", ">", q.after);
      if (q.before !== undefined) query = query.where("first_seq", "<", q.before);
      if (q.since !== undefined) query = query.where("max_time_ms", ">=", q.since);
      if (cursor !== undefined) query = query.where("first_seq", forward ? ">" : "<", cursor);
      const rows = await query
        .orderBy("first_seq", forward ? "asc" : "desc")
        .limit(PAGE)
        .execute();
      for (const row of rows) {
        cursor = Number(row.first_seq);
        if (!mayMatch(JSON.parse(row.stats) as BlockStats, q)) continue;
        const events = (JSON.parse(row.body) as LogRecord[]).filter(accept);
        if (forward) {
          for (const e of events) {
            out.push(e);
            if (out.length >= limit) return out;
          }
        } else {
          for (let i = events.length - 1; i >= 0; i--) {
            out.push(events[i] as LogRecord);
            if (out.length >= limit) return out.reverse();
          }
        }
      }
      if (rows.length < PAGE) return forward ? out : out.reverse();
    }
  }

  /** Counts per level, source and node over what is retained (restores the statistics). */
  async totals(): Promise<LogTotals> {
    const totals = emptyTotals();
    const rows = await this.db.selectFrom("log_blocks").select(["count", "stats"]).execute();
    for (const r of rows) {
      totals.total += Number(r.count);
      const s = JSON.parse(r.stats) as BlockStats;
      for (const [k, n] of Object.entries(s.byLevel)) totals.byLevel[k as Level] += n;
      for (const [k, n] of Object.entries(s.bySource)) totals.bySource[k] = (totals.bySource[k] ?? 0) + n;
      for (const [k, n] of Object.entries(s.byNode)) totals.byNode[k] = (totals.byNode[k] ?? 0) + n;
    }
    return totals;
  }

  /**
   * Drops blocks whose newest event is older than `maxAgeMs`, then the oldest blocks while
   * more than `maxRows` events would remain; returns how many events went.
   */
  async prune(limits: { maxAgeMs?: number; maxRows?: number }, now = Date.now()): Promise<number> {
    let removed = 0;
    if (limits.maxAgeMs !== undefined) {
      const cutoff = now - limits.maxAgeMs;
      const gone = await this.db
        .selectFrom("log_blocks")
        .select((eb) => eb.fn.sum<number>("count").as("n"))
        .where("max_time_ms", "<", cutoff)
        .executeTakeFirst();
      await this.db.deleteFrom("log_blocks").where("max_time_ms", "<", cutoff).execute();
      removed += Number(gone?.n ?? 0);
    }
    if (limits.maxRows !== undefined) {
      const rows = await this.db
        .selectFrom("log_blocks")
        .select(["first_seq", "count"])
        .orderBy("first_seq", "desc")
        .execute();
      let kept = 0;
      let cut: number | undefined;
      for (const r of rows) {
        if (cut !== undefined) {
          removed += Number(r.count);
          continue;
        }
        kept += Number(r.count);
        if (kept >= limits.maxRows) cut = Number(r.first_seq);
      }
      if (cut !== undefined) await this.db.deleteFrom("log_blocks").where("first_seq", "<", cut).execute();
    }
    return removed;
  }
}
