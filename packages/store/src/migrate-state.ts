/**
 * `lab state migrate --to postgres://…`: copies a SQLite state into PostgreSQL in one
 * transaction, then proves the copy by counting and comparing every row of every table.
 */
import { canonicalJson, LabError } from "@lab/core";
import { sql } from "kysely";
import type { KyselyStore } from "./kysely-store.js";
import { openSqliteStore } from "./sqlite.js";

const TABLES = [
  { table: "resources", key: ["kind", "name"] },
  { table: "events", key: ["id"] },
  { table: "tokens", key: ["id"] },
  { table: "meta", key: ["key"] },
  { table: "health", key: ["source", "server"] },
  { table: "machines", key: ["mac"] },
  { table: "boot_events", key: ["id"] },
  { table: "join_tokens", key: ["hash"] },
  { table: "agents", key: ["name"] },
  { table: "agent_certs", key: ["serial"] },
  { table: "bastions", key: ["name"] },
  { table: "puppet_runs", key: ["server"] },
  { table: "sync_observations", key: ["server"] },
] as const;

export interface TableReport {
  table: string;
  rows: number;
}

export async function migrateState(
  sqlitePath: string,
  url: string,
  log: (line: string) => void = () => undefined,
): Promise<TableReport[]> {
  const source = await openSqliteStore(sqlitePath);
  let target: KyselyStore | undefined;
  try {
    target = await (await import("./postgres.js")).openPostgresStore(url);
    const t = target;
    const held = await sql<{
      n: string;
    }>`select (select count(*) from resources) + (select count(*) from events) + (select count(*) from tokens) + (select count(*) from health) as n`.execute(
      t.db,
    );
    if (Number(held.rows[0]?.n ?? 0) > 0) {
      throw new LabError(
        "LAB_E_CONFLICT",
        "the target database already holds Lab state; migrate into an empty database",
      );
    }
    const data = new Map<string, Record<string, unknown>[]>();
    for (const { table, key } of TABLES) {
      const rows = await sql<Record<string, unknown>>`select * from ${sql.table(table)} order by ${sql.join(
        key.map((k) => sql.ref(k)),
      )}`.execute(source.db);
      data.set(table, rows.rows);
    }
    await t.db.transaction().execute(async (trx) => {
      await sql`delete from meta`.execute(trx);
      for (const { table } of TABLES) {
        const rows = data.get(table) ?? [];
        for (let i = 0; i < rows.length; i += 500) {
          await trx
            .insertInto(table as "resources")
            .values(rows.slice(i, i + 500) as never)
            .execute();
        }
        log(`copied ${table}: ${rows.length} rows`);
      }
      // The events id sequence continues after the copied ids.
      await sql`select setval(pg_get_serial_sequence('events', 'id'), coalesce((select max(id) from events), 1), (select max(id) from events) is not null)`.execute(
        trx,
      );
    });
    const report: TableReport[] = [];
    for (const { table, key } of TABLES) {
      const copied = await sql<Record<string, unknown>>`select * from ${sql.table(table)} order by ${sql.join(
        key.map((k) => sql.ref(k)),
      )}`.execute(t.db);
      const before = (data.get(table) ?? []).map(normalise);
      const after = copied.rows.map(normalise);
      if (before.length !== after.length) {
        throw new LabError(
          "LAB_E_INTERNAL",
          `${table}: ${before.length} rows in SQLite, ${after.length} in PostgreSQL`,
        );
      }
      before.forEach((row, i) => {
        if (row !== after[i])
          throw new LabError("LAB_E_INTERNAL", `${table}: row ${i + 1} differs after the copy`);
      });
      log(`verified ${table}: ${after.length} rows identical`);
      report.push({ table, rows: after.length });
    }
    return report;
  } finally {
    await source.close();
    await target?.close();
  }
}

/** Drivers differ on number types (bigint as string in pg): compare values as text. */
function normalise(row: Record<string, unknown>): string {
  return canonicalJson(
    Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v === null ? null : String(v)])),
  );
}
