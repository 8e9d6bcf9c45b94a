/**
 * The store contract on a real PostgreSQL server. Every test gets a throwaway database
 * (`lab_test_<pid>_<random>`), dropped afterwards. No server is a failure, not a skip:
 * run `bash scripts/ensure-postgres.sh`.
 */
import { EventEmitter } from "node:events";
import { LabError } from "@lab/core";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  assertPostgresReachable,
  createThrowawayDatabase,
  databaseExists,
  dropStaleTestDatabases,
  type ThrowawayDatabase,
  terminateConnections,
} from "../../../test/support/postgres.js";
import { storeContract } from "./contract.js";
import type { KyselyStore } from "./kysely-store.js";
import { MIGRATION_NAMES } from "./migrations.js";
import { openPostgresStore } from "./postgres.js";

const made: ThrowawayDatabase[] = [];
/** Set when the server cannot be reached: every test then fails with it (a hook error would skip them). */
let unreachable: unknown;

beforeAll(async () => {
  try {
    await assertPostgresReachable();
    await dropStaleTestDatabases();
  } catch (e) {
    unreachable = e;
  }
});

afterAll(async () => {
  // Normally each test's cleanup has dropped its database already; this catches the rest.
  for (const d of made) await d.drop();
});

async function throwaway(): Promise<ThrowawayDatabase> {
  if (unreachable) throw unreachable;
  const d = await createThrowawayDatabase();
  made.push(d);
  return d;
}

storeContract("PostgreSQL", async () => {
  const database = await throwaway();
  const open: KyselyStore[] = [];
  const openOne = async () => {
    const s = await openPostgresStore(database.url);
    open.push(s);
    return s;
  };
  const store = await openOne();
  return {
    store,
    reopen: openOne,
    async cleanup() {
      for (const s of open) await s.close().catch(() => undefined);
      await database.drop();
    },
  };
});

describe("PostgreSQL store", () => {
  it("a throwaway database is dropped by its cleanup", async () => {
    const d = await throwaway();
    const store = await openPostgresStore(d.url);
    await store.close();
    expect(await databaseExists(d.name)).toBe(true);
    await d.drop();
    expect(await databaseExists(d.name)).toBe(false);
  });

  it.each([
    {
      what: "a server that does not answer",
      url: "postgres://postgres@127.0.0.1:1/test",
      mentions: "cannot reach",
    },
    {
      what: "a database that does not exist",
      url: "postgres://postgres@127.0.0.1:5432/lab_no_such_database",
      mentions: "refused",
    },
  ])("$what gives LAB_E_STORE_IO", async ({ url, mentions }) => {
    const base = new URL(process.env.LAB_TEST_PG_URL || "postgres://postgres@127.0.0.1:5432/test");
    const target = new URL(url);
    target.username = base.username;
    target.hostname = base.hostname;
    if (target.port !== "1") target.port = base.port;
    const error = await openPostgresStore(target.toString()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LabError);
    expect((error as LabError).code).toBe("LAB_E_STORE_IO");
    expect((error as LabError).message).toContain(mentions);
  });

  it("opening a fresh database from several stores at once migrates it once", async () => {
    const d = await throwaway();
    const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore(d.url)));
    try {
      for (const s of stores) {
        expect(await s.appliedMigrations()).toEqual(MIGRATION_NAMES);
        expect(await s.load()).toEqual([]);
      }
    } finally {
      for (const s of stores) await s.close();
      await d.drop();
    }
  });

  // postgres.ts gives its pg.Pool an "error" listener: when the server ends an idle pooled
  // connection (restart, failover, pg_terminate_backend) the pool drops it instead of crashing
  // the process. The spy below records an unhandled emit instead of letting it crash the worker.
  it("an idle connection ended by the server does not take the process down", async () => {
    const d = await throwaway();
    const unhandled: unknown[] = [];
    const emits: string[] = [];
    const proto = pg.Pool.prototype as unknown as EventEmitter;
    const spy = vi.spyOn(proto, "emit").mockImplementation(function (
      this: EventEmitter,
      name: string | symbol,
      ...args: unknown[]
    ) {
      emits.push(String(name));
      if (name === "error" && this.listenerCount("error") === 0) {
        unhandled.push(args[0]);
        return false;
      }
      return EventEmitter.prototype.emit.call(this, name, ...args);
    });
    const store = await openPostgresStore(d.url);
    try {
      await store.load(); // leaves an idle connection in the pool
      expect(await terminateConnections(d.name)).toBeGreaterThan(0);
      await vi.waitFor(() => expect(emits).toContain("error"), { timeout: 5000 });
      expect(unhandled, "the pool emitted 'error' with no listener: the process would crash").toEqual([]);
      // And the store carries on with a new connection.
      expect(await store.load()).toEqual([]);
    } finally {
      spy.mockRestore();
      await store.close();
      await d.drop();
    }
  });
});
