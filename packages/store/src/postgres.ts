/** PostgreSQL, for teams that outgrow one machine: the same migrations and queries. */
import { LabError } from "@lab/core";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { EVENT_CHANNEL, KyselyStore, type Listener } from "./kysely-store.js";
import type { Database } from "./schema.js";

export async function openPostgresStore(url: string): Promise<KyselyStore> {
  const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 5000 });
  // An idle connection the server ends (restart, failover) must not crash the process: the
  // pool drops it and the next query opens a new one.
  pool.on("error", () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const store = new KyselyStore(db, "postgres", postgresErrors(url), listen(url));
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

/**
 * LISTEN on a dedicated connection; a lost connection is re-established with backoff and
 * reported as a change (the caller re-reads from its last event id, so nothing is missed).
 */
function listen(url: string): Listener {
  return async (onChange) => {
    let client: pg.Client | undefined;
    let stopped = false;
    let delay = 250;
    const connect = async (): Promise<void> => {
      if (stopped) return;
      const c = new pg.Client({ connectionString: url });
      c.on("notification", () => onChange());
      c.on("error", () => {
        void c.end().catch(() => undefined);
        if (client === c) client = undefined;
        setTimeout(() => void connect().catch(() => undefined), delay);
        delay = Math.min(delay * 2, 5000);
      });
      await c.connect();
      await c.query(`LISTEN ${EVENT_CHANNEL}`);
      client = c;
      delay = 250;
      onChange();
    };
    await connect();
    return async () => {
      stopped = true;
      await client?.end().catch(() => undefined);
    };
  };
}
