/**
 * Throwaway PostgreSQL databases for tests. Every database is created through an admin
 * connection to an existing database (`test` by default) and dropped again afterwards, so
 * tests never touch data they did not make. The admin URL comes from LAB_TEST_PG_URL.
 *
 * An unreachable server is a test failure, never a skip: the message says how to start one.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";

export const DEFAULT_TEST_PG_URL = "postgres://postgres@127.0.0.1:5432/test";

/** The admin connection URL: LAB_TEST_PG_URL, else the local trust-auth server. */
export function testPgUrl(): string {
  return process.env.LAB_TEST_PG_URL || DEFAULT_TEST_PG_URL;
}

const NAME_PREFIX = "lab_test_";
const NAME = /^lab_test_(\d+)_[0-9a-f]+$/;

export interface ThrowawayDatabase {
  name: string;
  /** Connection URL of the new database (same server, user and options as the admin URL). */
  url: string;
  /** Drops the database, ending any connection still open to it. Safe to call twice. */
  drop(): Promise<void>;
}

function hidePassword(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

function urlFor(adminUrl: string, database: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Runs `fn` on a fresh admin connection; turns "cannot connect" into a failure that says what to do. */
async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const url = testPgUrl();
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => undefined);
    const detail = e instanceof Error ? e.message || (e as { code?: string }).code || e.name : String(e);
    throw new Error(
      `PostgreSQL is not reachable at ${hidePassword(url)} (${detail}). ` +
        "Run `bash scripts/ensure-postgres.sh` to install/start it, or set LAB_TEST_PG_URL " +
        "to a server where this user may CREATE DATABASE.",
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Fails with the ensure-postgres hint unless the admin database answers. */
export async function assertPostgresReachable(): Promise<void> {
  await withAdmin((c) => c.query("select 1"));
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Drops databases left behind by test runs that died before their cleanup (their process no
 * longer exists). Only names this helper makes are considered.
 */
export async function dropStaleTestDatabases(): Promise<string[]> {
  return withAdmin(async (c) => {
    const { rows } = await c.query<{ datname: string }>(
      "select datname from pg_database where datname like $1",
      [`${NAME_PREFIX}%`],
    );
    const stale = rows
      .map((r) => r.datname)
      .filter((n) => {
        const pid = Number(NAME.exec(n)?.[1] ?? Number.NaN);
        return Number.isInteger(pid) && pid !== process.pid && !processAlive(pid);
      });
    for (const name of stale) await c.query(`drop database if exists "${name}" with (force)`);
    return stale;
  });
}

/** Creates an empty database `lab_test_<pid>_<random>` on the test server. */
export async function createThrowawayDatabase(): Promise<ThrowawayDatabase> {
  const name = `${NAME_PREFIX}${process.pid}_${randomBytes(6).toString("hex")}`;
  await withAdmin((c) => c.query(`create database "${name}"`));
  let dropped = false;
  return {
    name,
    url: urlFor(testPgUrl(), name),
    async drop() {
      if (dropped) return;
      await withAdmin(async (c) => {
        // Give connections that are closing a moment to finish: a backend ended by FORCE while
        // its client says goodbye shows up as an error event on that client.
        for (let i = 0; i < 40; i++) {
          const { rows } = await c.query<{ n: number }>(
            "select count(*)::int as n from pg_stat_activity where datname = $1",
            [name],
          );
          if (!rows[0]?.n) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await c.query(`drop database if exists "${name}" with (force)`);
      });
      dropped = true;
    },
  };
}

/** Whether a database of that name exists (to check that cleanup really dropped it). */
export async function databaseExists(name: string): Promise<boolean> {
  return withAdmin(async (c) => {
    const { rowCount } = await c.query("select 1 from pg_database where datname = $1", [name]);
    return (rowCount ?? 0) > 0;
  });
}

/** Ends every server connection to `name` from the server side (as a restart or failover would). */
export async function terminateConnections(name: string): Promise<number> {
  return withAdmin(async (c) => {
    const { rowCount } = await c.query(
      "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
      [name],
    );
    return rowCount ?? 0;
  });
}
