/**
 * The StateStore over Kysely: one implementation for SQLite and PostgreSQL. Writes are
 * serialised by locking the `revision` row first, which takes SQLite's write lock and a
 * PostgreSQL row lock alike, so concurrent applies (other processes, other replicas) queue.
 */
import {
  type ApiToken,
  type AuditEvent,
  type Change,
  type DnsState,
  type EventQuery,
  type HealthRecord,
  type HealthStore,
  type IdentitySummary,
  LabError,
  type NewAuditEvent,
  type PuppetRun,
  type PuppetStore,
  type Resource,
  redact,
  SPEC_SCHEMA,
  type StateStore,
  type SyncObservation,
  type SyncStore,
  type TokenStore,
} from "@lab/core";
import { type Kysely, Migrator, sql, type Transaction } from "kysely";
import { MIGRATION_NAMES, migrationProvider } from "./migrations.js";
import type { Database, Dialect } from "./schema.js";

/** Starts listening for other writers' events; resolves to a function that stops it. */
export type Listener = (onChange: () => void) => Promise<() => Promise<void>>;

export class KyselyStore implements StateStore, TokenStore, HealthStore, PuppetStore, SyncStore {
  private stopListening?: () => Promise<void>;
  /** SQLite: the database file (a second connection, e.g. the log writer thread, opens it). */
  path?: string;

  constructor(
    readonly db: Kysely<Database>,
    readonly dialect: Dialect,
    /** Maps driver errors to LabErrors with a way out. */
    private readonly translate: (e: unknown) => unknown = (e) => e,
    private readonly listener?: Listener,
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
        await lockRevision(trx);
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
        if (event) await insertEvent(trx, event, this.dialect);
        return value;
      }),
    );
  }

  async record(event: NewAuditEvent): Promise<AuditEvent> {
    // Under the same lock as applies, so event ids commit in order and a reader that
    // resumes "after id N" can never skip an event that commits late.
    return this.run(() =>
      this.db.transaction().execute(async (trx) => {
        await lockRevision(trx);
        return insertEvent(trx, event, this.dialect);
      }),
    );
  }

  async watch(onChange: () => void): Promise<boolean> {
    if (!this.listener) return false;
    this.stopListening = await this.listener(onChange);
    return true;
  }

  async createToken(token: ApiToken, hash: string): Promise<void> {
    await this.run(() =>
      this.db
        .insertInto("tokens")
        .values({
          id: token.id,
          name: token.name,
          hash,
          scopes: JSON.stringify(token.scopes),
          created_at: token.createdAt,
          created_by: token.createdBy,
          expires_at: token.expiresAt,
          last_used_at: null,
          revoked_at: null,
        })
        .execute(),
    );
  }

  async findTokenByHash(hash: string): Promise<ApiToken | undefined> {
    const row = await this.run(() =>
      this.db.selectFrom("tokens").selectAll().where("hash", "=", hash).executeTakeFirst(),
    );
    return row ? toToken(row) : undefined;
  }

  async listTokens(): Promise<ApiToken[]> {
    const rows = await this.run(() =>
      this.db.selectFrom("tokens").selectAll().orderBy("created_at").execute(),
    );
    return rows.map(toToken);
  }

  async revokeToken(id: string, at: string): Promise<boolean> {
    const r = await this.run(() =>
      this.db.updateTable("tokens").set({ revoked_at: at }).where("id", "=", id).executeTakeFirst(),
    );
    return Number(r.numUpdatedRows) > 0;
  }

  async touchToken(id: string, at: string): Promise<void> {
    await this.run(() =>
      this.db.updateTable("tokens").set({ last_used_at: at }).where("id", "=", id).execute(),
    );
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

  async putHealth(source: string, records: Omit<HealthRecord, "source" | "updatedAt">[]): Promise<void> {
    const now = new Date().toISOString();
    await this.run(() =>
      this.db.transaction().execute(async (trx) => {
        await trx.deleteFrom("health").where("source", "=", source).execute();
        for (let i = 0; i < records.length; i += 500) {
          await trx
            .insertInto("health")
            .values(
              records.slice(i, i + 500).map((r) => ({
                source,
                server: r.server,
                state: r.state,
                summary: r.summary,
                findings: JSON.stringify(r.findings),
                updated_at: now,
              })),
            )
            .execute();
        }
      }),
    );
  }

  /** Each machine's identity: its agent, or a pending join token (enrolling). */
  async identities(): Promise<IdentitySummary[]> {
    const now = new Date().toISOString();
    const [agents, pending] = await this.run(() =>
      Promise.all([
        this.db.selectFrom("agents").selectAll().execute(),
        this.db
          .selectFrom("join_tokens")
          .select("name")
          .where("consumed_at", "is", null)
          .where("expires_at", ">", now)
          .execute(),
      ]),
    );
    const out = new Map<string, IdentitySummary>();
    for (const p of pending) {
      out.set(p.name, {
        name: p.name,
        state: "enrolling",
        certNotAfter: null,
        enrolledAt: null,
        lastSeenAt: null,
        ipv4: null,
        dnsIpv4: null,
        dnsPtr: null,
        dnsState: null,
        dnsError: null,
        dnsUpdatedAt: null,
        hostKeys: [],
      });
    }
    for (const a of agents) {
      // A certificate is renewed at 2/3 of its life: under 1/4 left means renewal is overdue.
      const life = Date.parse(a.cert_not_after) - Date.parse(a.cert_not_before);
      const left = Date.parse(a.cert_not_after) - Date.now();
      const state = a.revoked_at ? "revoked" : left < life / 4 ? "cert expiring" : "enrolled";
      out.set(a.name, {
        name: a.name,
        state,
        certNotAfter: a.cert_not_after,
        enrolledAt: a.enrolled_at,
        lastSeenAt: a.last_seen_at,
        ipv4: a.ipv4,
        dnsIpv4: a.dns_ipv4,
        dnsPtr: a.dns_ptr,
        dnsState: a.dns_state as DnsState | null,
        dnsError: a.dns_error,
        dnsUpdatedAt: a.dns_updated_at,
        hostKeys: parseJson(a.host_keys, `agent ${a.name} host keys`),
      });
    }
    return [...out.values()];
  }

  async health(): Promise<HealthRecord[]> {
    const rows = await this.run(() =>
      this.db.selectFrom("health").selectAll().orderBy("server").orderBy("source").execute(),
    );
    return rows.map((r) => ({
      source: r.source,
      server: r.server,
      state: r.state as HealthRecord["state"],
      summary: r.summary,
      findings: parseJson(r.findings, `health ${r.source}/${r.server}`),
      updatedAt: r.updated_at,
    }));
  }

  async putPuppetRun(run: PuppetRun): Promise<PuppetRun | undefined> {
    return this.run(() =>
      this.db.transaction().execute(async (trx) => {
        // Read-then-write: the write lock first, as putSyncObservation says why.
        await lockRevision(trx);
        const before = await trx
          .selectFrom("puppet_runs")
          .select("run")
          .where("server", "=", run.server)
          .executeTakeFirst();
        const row = {
          certname: run.certname,
          time: run.time,
          status: run.status,
          run: JSON.stringify(run),
          received_at: run.receivedAt,
        };
        await trx
          .insertInto("puppet_runs")
          .values({ server: run.server, ...row })
          .onConflict((oc) => oc.column("server").doUpdateSet(row))
          .execute();
        return before ? parseJson<PuppetRun>(before.run, `puppet run of ${run.server}`) : undefined;
      }),
    );
  }

  async puppetRuns(): Promise<PuppetRun[]> {
    const rows = await this.run(() =>
      this.db.selectFrom("puppet_runs").select(["server", "run"]).orderBy("server").execute(),
    );
    return rows.map((r) => parseJson<PuppetRun>(r.run, `puppet run of ${r.server}`));
  }

  async putSyncObservation(o: SyncObservation): Promise<SyncObservation | undefined> {
    return this.run(() =>
      this.db.transaction().execute(async (trx) => {
        // The write lock first: a read-then-write transaction on SQLite fails at once
        // (SQLITE_BUSY, no waiting) when another process wrote in between — as lab server's
        // boot routes do while `lab onboard` observes a machine that is booting.
        await lockRevision(trx);
        const before = await trx
          .selectFrom("sync_observations")
          .select("observation")
          .where("server", "=", o.server)
          .executeTakeFirst();
        const row = {
          provider: o.provider,
          observed_at: o.observedAt,
          state: o.state,
          observation: JSON.stringify(o),
        };
        await trx
          .insertInto("sync_observations")
          .values({ server: o.server, ...row })
          .onConflict((oc) => oc.column("server").doUpdateSet(row))
          .execute();
        return before ? parseJson<SyncObservation>(before.observation, `sync of ${o.server}`) : undefined;
      }),
    );
  }

  async syncObservations(): Promise<SyncObservation[]> {
    const rows = await this.run(() =>
      this.db.selectFrom("sync_observations").select(["server", "observation"]).orderBy("server").execute(),
    );
    return rows.map((r) => parseJson<SyncObservation>(r.observation, `sync of ${r.server}`));
  }

  async deleteSyncObservation(server: string): Promise<void> {
    await this.run(() => this.db.deleteFrom("sync_observations").where("server", "=", server).execute());
  }

  async close(): Promise<void> {
    await this.stopListening?.();
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

/** Takes the write lock: SQLite's database lock, a PostgreSQL row lock. */
async function lockRevision(trx: Transaction<Database>): Promise<void> {
  await trx.updateTable("meta").set({ value: sql`value` }).where("key", "=", "revision").execute();
}

export const EVENT_CHANNEL = "lab_events";

async function insertEvent(
  db: Kysely<Database>,
  event: NewAuditEvent,
  dialect: Dialect,
): Promise<AuditEvent> {
  const subjects = event.subjects ?? event.changes.map((c) => `${c.kind}/${c.name}`);
  const row = await db
    .insertInto("events")
    .values({
      time: new Date().toISOString(),
      actor: event.actor,
      action: event.action,
      result: event.result,
      // The audit log is read by everyone with a read token: no credential goes into it.
      summary: redact(event.summary),
      changes: JSON.stringify(event.changes),
      subjects: JSON.stringify(subjects),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  // Delivered to every listening replica when (and only if) the transaction commits.
  if (dialect === "postgres") await sql`select pg_notify(${EVENT_CHANNEL}, ${String(row.id)})`.execute(db);
  return toEvent(row);
}

function toToken(row: {
  id: string;
  name: string;
  scopes: string;
  created_at: string;
  created_by: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}): ApiToken {
  return {
    id: row.id,
    name: row.name,
    scopes: parseJson(row.scopes, `token ${row.id} scopes`),
    createdAt: row.created_at,
    createdBy: row.created_by,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

function toEvent(row: {
  id: number;
  time: string;
  actor: string;
  action: string;
  result: string;
  summary: string;
  changes: string;
  subjects: string;
}): AuditEvent {
  return {
    id: Number(row.id),
    time: row.time,
    actor: row.actor,
    action: row.action,
    result: row.result === "error" ? "error" : "ok",
    summary: row.summary,
    changes: parseJson(row.changes, `event ${row.id}`),
    subjects: parseJson(row.subjects, `event ${row.id} subjects`),
  };
}

function parseJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new LabError("LAB_E_STORE_CORRUPT", `stored ${what} is not valid JSON`);
  }
}
