/**
 * The log pipeline's retention window in the store (SQLite and PostgreSQL alike): events are
 * appended in batches under the pipeline's own sequence numbers, searched by the same filters
 * the live stream takes, and pruned by age and by count, so `lab logs --since 2h` answers
 * after a restart and a client resumes from its last seq across one.
 */
import { type Kysely, sql } from "kysely";
import type { KyselyStore, RawSqlite } from "./kysely-store.js";
import type { Database, Dialect } from "./schema.js";

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

/** Rows per INSERT: 9 columns each, well under SQLite's and PostgreSQL's parameter limits. */
const INSERT_ROWS = 400;

export function logRepo(store: KyselyStore): LogRepo {
  return new LogRepo(store.db, store.dialect, store.rawSqlite);
}

export class LogRepo {
  private readonly fastAppend: ((events: readonly LogRecord[]) => void) | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    readonly dialect: Dialect,
    private readonly raw?: RawSqlite,
  ) {
    if (raw) {
      // SQLite: one prepared statement run per row inside one transaction costs a few µs per
      // event; building and compiling a Kysely INSERT for every batch cost several times that.
      let insert: { run(...p: unknown[]): unknown } | undefined;
      this.fastAppend = raw.transaction((events: readonly LogRecord[]) => {
        insert ??= raw.prepare(
          "insert or ignore into log_events (seq, time, time_ms, node, service, source, level, message, attributes) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        );
        for (const e of events) {
          insert.run(
            e.seq,
            e.time,
            Date.parse(e.time) || 0,
            e.node,
            e.service,
            e.source,
            LEVELS.indexOf(e.level),
            e.message,
            JSON.stringify(e.attributes),
          );
        }
      }) as unknown as (events: readonly LogRecord[]) => void;
    }
  }

  /** Appends a batch in one transaction (all or nothing). */
  async append(events: readonly LogRecord[]): Promise<void> {
    if (!events.length) return;
    // Not while Kysely holds a transaction open on the same connection (it would join it).
    if (this.fastAppend && !this.raw?.inTransaction) {
      this.fastAppend(events);
      return;
    }
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < events.length; i += INSERT_ROWS) {
        await trx
          .insertInto("log_events")
          .values(
            events.slice(i, i + INSERT_ROWS).map((e) => ({
              seq: e.seq,
              time: e.time,
              time_ms: Date.parse(e.time) || 0,
              node: e.node,
              service: e.service,
              source: e.source,
              level: LEVELS.indexOf(e.level),
              message: e.message,
              attributes: JSON.stringify(e.attributes),
            })),
          )
          .onConflict((oc) => oc.column("seq").doNothing())
          .execute();
      }
    });
  }

  /** The highest seq stored (0 when empty): a restarted pipeline continues after it. */
  async lastSeq(): Promise<number> {
    const row = await this.db
      .selectFrom("log_events")
      .select((eb) => eb.fn.max("seq").as("max"))
      .executeTakeFirst();
    return Number(row?.max ?? 0);
  }

  async search(q: LogSearch = {}): Promise<LogRecord[]> {
    let query = this.db.selectFrom("log_events").selectAll();
    if (q.after !== undefined) query = query.where("seq", ">", q.after);
    if (q.before !== undefined) query = query.where("seq", "<", q.before);
    if (q.since !== undefined) query = query.where("time_ms", ">=", q.since);
    if (q.level) query = query.where("level", ">=", LEVELS.indexOf(q.level));
    if (q.node?.length) query = query.where("node", "in", q.node);
    if (q.service?.length) query = query.where("service", "in", q.service);
    if (q.source?.length) {
      const sources = q.source;
      query = query.where((eb) =>
        eb.or(
          sources.flatMap((s) => [
            eb("source", "=", s),
            eb(sql<string>`substr(source, 1, ${sql.lit(s.length + 1)})`, "=", `${s}:`),
          ]),
        ),
      );
    }
    const limit = q.limit ?? 1000;
    // After a position: the oldest ones from there; otherwise the newest, returned oldest first.
    const oldestFirst = q.after !== undefined;
    const rows = await query
      .orderBy("seq", oldestFirst ? "asc" : "desc")
      .limit(limit)
      .execute();
    const out = rows.map((r) => ({
      seq: Number(r.seq),
      time: r.time,
      node: r.node,
      service: r.service,
      source: r.source,
      level: LEVELS[r.level] ?? "info",
      message: r.message,
      attributes: JSON.parse(r.attributes) as LogRecord["attributes"],
    }));
    return oldestFirst ? out : out.reverse();
  }

  /** Counts per level, source and node over what is retained (restores the statistics). */
  async totals(): Promise<LogTotals> {
    const totals: LogTotals = {
      total: 0,
      byLevel: Object.fromEntries(LEVELS.map((l) => [l, 0])) as Record<Level, number>,
      bySource: {},
      byNode: {},
    };
    const byLevel = await this.db
      .selectFrom("log_events")
      .select(["level", (eb) => eb.fn.countAll().as("n")])
      .groupBy("level")
      .execute();
    for (const r of byLevel) {
      const l = LEVELS[r.level];
      if (l) totals.byLevel[l] += Number(r.n);
      totals.total += Number(r.n);
    }
    const bySource = await this.db
      .selectFrom("log_events")
      .select(["source", (eb) => eb.fn.countAll().as("n")])
      .groupBy("source")
      .execute();
    for (const r of bySource) totals.bySource[r.source] = Number(r.n);
    const byNode = await this.db
      .selectFrom("log_events")
      .select(["node", (eb) => eb.fn.countAll().as("n")])
      .where("node", "is not", null)
      .groupBy("node")
      .execute();
    for (const r of byNode) totals.byNode[r.node as string] = Number(r.n);
    return totals;
  }

  /**
   * Drops what is older than `maxAgeMs` and, beyond `maxRows`, the oldest rows; returns how
   * many went.
   */
  async prune(limits: { maxAgeMs?: number; maxRows?: number }, now = Date.now()): Promise<number> {
    let removed = 0;
    if (limits.maxAgeMs !== undefined) {
      const r = await this.db
        .deleteFrom("log_events")
        .where("time_ms", "<", now - limits.maxAgeMs)
        .executeTakeFirst();
      removed += Number(r.numDeletedRows);
    }
    if (limits.maxRows !== undefined) {
      const last = await this.lastSeq();
      const count = await this.db
        .selectFrom("log_events")
        .select((eb) => eb.fn.countAll().as("n"))
        .executeTakeFirst();
      const excess = Number(count?.n ?? 0) - limits.maxRows;
      if (excess > 0 && last > 0) {
        // The cut-off seq: the (excess)-th oldest row; everything at or below it goes.
        const cut = await this.db
          .selectFrom("log_events")
          .select("seq")
          .orderBy("seq", "asc")
          .offset(excess - 1)
          .limit(1)
          .executeTakeFirst();
        if (cut) {
          const r = await this.db
            .deleteFrom("log_events")
            .where("seq", "<=", Number(cut.seq))
            .executeTakeFirst();
          removed += Number(r.numDeletedRows);
        }
      }
    }
    return removed;
  }
}
