/**
 * The StateStore over Kysely: one implementation for SQLite and PostgreSQL. Writes are
 * serialised by locking the `revision` row first, which takes SQLite's write lock and a
 * PostgreSQL row lock alike, so concurrent applies (other processes, other replicas) queue.
 */
import {
  type AuditEvent,
  type Change,
  type EventQuery,
  LabError,
  type NewAuditEvent,
  type Resource,
  SPEC_SCHEMA,
  type StateStore,
} from "@lab/core";
import { type Kysely, Migrator, sql, type Transaction } from "kysely";
import { MIGRATION_NAMES, migrationProvider } from "./migrations.js";
import type { Database, Dialect } from "./schema.js";

export class KyselyStore implements StateStore {
  constructor(
    readonly db: Kysely<Database>,
    readonly dialect: Dialect,
    /** Maps driver errors to LabErrors with a way out. */
    private readonly translate: (e: unknown) => unknown = (e) => e,
  ) {}

  /** Brings the schema up to date; refuses a database written by a newer Lab. */
  async migrate(): Promise<void> {
    try {
      const applied = await this.appliedMigrations();
      const unknown = applied.filter((m) => !MIGRATION_NAMES.includes(m));
      if (unknown.length) {
        throw new LabError(
          "LAB_E_STORE_TOO_NEW",
          `the state has migrations this lab does not know (${unknown.join(", ")}): upgrade lab`,
        );
      }
      const migrator = new Migrator({ db: this.db, provider: migrationProvider(this.dialect) });
      const { error } = await migrator.migrateToLatest();
      if (error) throw error;
    } catch (e) {
      throw this.translate(e);
    }
  }

  async appliedMigrations(): Promise<string[]> {
    const tables = await this.db.introspection.getTables({ withInternalKyselyTables: true });
    if (!tables.some((t) => t.name === "kysely_migration")) return [];
    const rows = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(
      this.db,
    );
    return rows.rows.map((r) => r.name);
  }

  async load(): Promise<Resource[]> {
    // Objects keep the order they were first defined in, which is the order output lists them.
    const rows = await this.run(() =>
      this.db.selectFrom("resources").selectAll().orderBy("position").execute(),
    );
    return rows.map((row) => {
      const kind = row.kind as Resource["kind"];
      if (!(kind in SPEC_SCHEMA)) {
        throw new LabError(
          "LAB_E_STORE_CORRUPT",
          `stored object ${row.kind}/${row.name} has an unknown kind`,
        );
      }
      return {
        kind,
        name: row.name,
        spec: parseJson(row.spec, `${row.kind}/${row.name}`),
        ...(row.origin ? { origin: parseJson(row.origin, `${row.kind}/${row.name} origin`) } : {}),
      } as Resource;
    });
  }

  async revision(): Promise<number> {
    const row = await this.run(() =>
      this.db.selectFrom("meta").select("value").where("key", "=", "revision").executeTakeFirst(),
    );
    return Number(row?.value ?? 0);
  }

  async transact<T>(
    decide: (current: Resource[]) => { changes: Change[]; event: NewAuditEvent | null; value: T },
  ): Promise<T> {
    return this.run(() =>
      this.db.transaction().execute(async (trx) => {
        await trx.updateTable("meta").set({ value: sql`value` }).where("key", "=", "revision").execute();
        const current = await new KyselyStore(trx, this.dialect).load();
        const { changes, event, value } = decide(current);
        if (changes.length) {
          await writeChanges(trx, changes);
          await trx
            .updateTable("meta")
            .set({ value: sql`value + 1` })
            .where("key", "=", "revision")
            .execute();
        }
        if (event) await insertEvent(trx, event);
        return value;
      }),
    );
  }

  async record(event: NewAuditEvent): Promise<AuditEvent> {
    return this.run(() => insertEvent(this.db, event));
  }

  async events(query: EventQuery = {}): Promise<AuditEvent[]> {
    const rows = await this.run(() => {
      let q = this.db.selectFrom("events").selectAll();
      if (query.after !== undefined) q = q.where("id", ">", query.after);
      q = query.after !== undefined ? q.orderBy("id", "asc") : q.orderBy("id", "desc");
      if (query.limit !== undefined) q = q.limit(query.limit);
      return q.execute();
    });
    const events = rows.map(toEvent);
    return query.after !== undefined ? events : events.reverse();
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  private async run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw this.translate(e);
    }
  }
}

async function writeChanges(trx: Transaction<Database>, changes: Change[]): Promise<void> {
  const now = new Date().toISOString();
  const last = await trx
    .selectFrom("resources")
    .select((eb) => eb.fn.max("position").as("max"))
    .executeTakeFirst();
  let position = Number(last?.max ?? 0);
  for (const c of changes) {
    if (c.op === "delete") {
      await trx.deleteFrom("resources").where("kind", "=", c.kind).where("name", "=", c.name).execute();
      continue;
    }
    const r = c.resource as Resource;
    const row = {
      kind: r.kind,
      name: r.name,
      spec: JSON.stringify(r.spec),
      origin: r.origin ? JSON.stringify(r.origin) : null,
      updated_at: now,
      position: c.op === "create" ? ++position : position,
    };
    await trx
      .insertInto("resources")
      .values(row)
      .onConflict(
        (oc) =>
          oc.columns(["kind", "name"]).doUpdateSet({ spec: row.spec, origin: row.origin, updated_at: now }),
        // position is left alone on update: an object keeps its place in listings
      )
      .execute();
  }
}

async function insertEvent(db: Kysely<Database>, event: NewAuditEvent): Promise<AuditEvent> {
  const row = await db
    .insertInto("events")
    .values({
      time: new Date().toISOString(),
      actor: event.actor,
      action: event.action,
      result: event.result,
      summary: event.summary,
      changes: JSON.stringify(event.changes),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toEvent(row);
}

function toEvent(row: {
  id: number;
  time: string;
  actor: string;
  action: string;
  result: string;
  summary: string;
  changes: string;
}): AuditEvent {
  return {
    id: Number(row.id),
    time: row.time,
    actor: row.actor,
    action: row.action,
    result: row.result === "error" ? "error" : "ok",
    summary: row.summary,
    changes: parseJson(row.changes, `event ${row.id}`),
  };
}

function parseJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new LabError("LAB_E_STORE_CORRUPT", `stored ${what} is not valid JSON`);
  }
}
