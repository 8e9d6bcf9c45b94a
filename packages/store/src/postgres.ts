/** PostgreSQL, for teams that outgrow one machine: the same migrations and queries. */
import { LabError } from "@lab/core";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { KyselyStore } from "./kysely-store.js";
import type { Database } from "./schema.js";

export async function openPostgresStore(url: string): Promise<KyselyStore> {
  const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 5000 });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const store = new KyselyStore(db, "postgres", postgresErrors(url));
  try {
    await store.migrate();
  } catch (e) {
    await store.close().catch(() => undefined);
    throw e;
  }
  return store;
}

function postgresErrors(url: string): (e: unknown) => unknown {
  const where = url.replace(/\/\/[^@/]*@/, "//***@");
  return (e) => {
    if (e instanceof LabError) return e;
    const code = (e as { code?: string }).code ?? "";
    if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "57P03") {
      return new LabError("LAB_E_STORE_IO", `cannot reach PostgreSQL at ${where} (${code})`);
    }
    if (code === "3D000" || code === "28P01" || code === "28000") {
      return new LabError("LAB_E_STORE_IO", `PostgreSQL at ${where} refused: ${(e as Error).message}`);
    }
    return e;
  };
}
