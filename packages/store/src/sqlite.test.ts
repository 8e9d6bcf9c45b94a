/**
 * The store contract on SQLite files, plus what only SQLite has: damaged files, the write lock
 * held by another connection, and `lab state check/backup/restore`.
 *
 * Concurrent writers run in a child process: better-sqlite3 waits for a lock synchronously,
 * so a second connection in this thread would block the first instead of taking turns. The
 * child is this package's own source, bundled on the fly with esbuild.
 */
import { type ChildProcess, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { LabError, type PuppetRun, type Resource } from "@lab/core";
import BetterSqlite3 from "better-sqlite3";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { counterResource, counterValue, storeContract } from "./contract.js";
import type { KyselyStore } from "./kysely-store.js";
import { MIGRATION_NAMES } from "./migrations.js";
import { backupSqlite, checkSqlite, openSqliteStore, restoreSqlite } from "./sqlite.js";

let root: string;
let writerScript: string;
let dirCount = 0;
/** Writer processes still running (ended in afterAll if a test gave up on them). */
const children = new Set<ChildProcess>();

/** A fresh directory for one test's files. */
function freshDir(): string {
  const dir = join(root, `t${++dirCount}`);
  mkdirSync(dir);
  return dir;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "lab-sqlite-test-"));
  writerScript = await buildWriter(root);
});

afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
  if (root) rmSync(root, { recursive: true, force: true });
});

/**
 * Bundles a small writer program from this package's sources: it opens the store at argv[2],
 * prints "ready", then runs `runCounterWriter`. Drivers stay external (resolved to absolute
 * paths, since the bundle lives in a temp dir); vitest is stubbed, the contract only needs it
 * when its suite is declared.
 */
async function buildWriter(dir: string): Promise<string> {
  const here = dirname(fileURLToPath(import.meta.url));
  const require = createRequire(import.meta.url);
  const outfile = join(dir, "writer.mjs");
  await build({
    stdin: {
      contents: `
        import { runCounterWriter } from "./contract.js";
        import { openSqliteStore } from "./sqlite.js";
        const [path, counter, times, actor] = process.argv.slice(2);
        try {
          const store = await openSqliteStore(path);
          process.stdout.write("ready\\n");
          await runCounterWriter(store, counter, Number(times), actor);
          await store.close();
        } catch (e) {
          process.stderr.write(\`writer failed: \${e?.code ?? ""} \${e?.message ?? e}\\n\`);
          process.exit(1);
        }
      `,
      resolveDir: here,
      loader: "ts",
      sourcefile: "writer.ts",
    },
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    logLevel: "silent",
    banner: {
      js: "import { createRequire as __labRequire } from 'node:module'; const require = __labRequire(import.meta.url);",
    },
    plugins: [
      {
        name: "lab-test-writer",
        setup(b) {
          b.onResolve({ filter: /^(better-sqlite3|pg)$/ }, (a) => ({
            path: require.resolve(a.path),
            external: true,
          }));
          b.onResolve({ filter: /^vitest$/ }, () => ({ path: "vitest", namespace: "stub" }));
          b.onLoad({ filter: /.*/, namespace: "stub" }, () => ({
            contents: "module.exports = {};",
            loader: "js",
          }));
        },
      },
    ],
  });
  return outfile;
}

/** Runs the writer in another process; resolves once its store is open. */
function startWriter(path: string, counterName: string, times: number, actor: string) {
  return new Promise<{ done: Promise<void> }>((resolveStarted, rejectStarted) => {
    const child = spawn(process.execPath, [writerScript, path, counterName, String(times), actor], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.add(child);
    let stdout = "";
    let stderr = "";
    let started = false;
    const done = new Promise<void>((resolve, reject) => {
      child.on("error", reject);
      // "close", not "exit": stderr has been read to the end by then.
      child.on("close", (code, signal) => {
        children.delete(child);
        if (code === 0) resolve();
        else reject(new Error(`writer exited with ${code ?? signal}: ${stderr.trim()}`));
      });
    });
    done.catch((e) => {
      if (!started) rejectStarted(e);
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.stdout.on("data", (d) => {
      stdout += d;
      if (!started && stdout.includes("ready\n")) {
        started = true;
        resolveStarted({ done });
      }
    });
  });
}

storeContract("SQLite", async () => {
  const path = join(freshDir(), "state.db");
  const open: KyselyStore[] = [];
  const openOne = async () => {
    const s = await openSqliteStore(path);
    open.push(s);
    return s;
  };
  const store = await openOne();
  return {
    store,
    reopen: openOne,
    startWriter: (name, times, actor) => startWriter(path, name, times, actor),
    async cleanup() {
      for (const s of open) await s.close().catch(() => undefined);
      rmSync(dirname(path), { recursive: true, force: true });
    },
  };
});

// ---------------------------------------------------------------------------------------------

async function rejection(promise: Promise<unknown> | (() => unknown)): Promise<unknown> {
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

async function expectLabError(
  promise: Promise<unknown> | (() => unknown),
  code: LabError["code"],
): Promise<LabError> {
  const error = await rejection(promise);
  expect(error, String(error)).toBeInstanceOf(LabError);
  expect((error as LabError).code).toBe(code);
  return error as LabError;
}

function label(name: string, description = name) {
  return { kind: "label" as const, name, spec: { description } };
}

/** A closed database at `path` with `names` as labels and one event. */
async function makeDatabase(path: string, names: string[], description?: (n: string) => string) {
  const store = await openSqliteStore(path);
  await store.transact(() => ({
    changes: names.map((n) => ({
      op: "create" as const,
      kind: "label" as const,
      name: n,
      resource: label(n, description?.(n)),
    })),
    event: { actor: "test", action: "apply", result: "ok", summary: `${names.length} created`, changes: [] },
    value: null,
  }));
  await store.close();
}

async function loadResources(path: string): Promise<Resource[]> {
  const store = await openSqliteStore(path);
  try {
    return await store.load();
  } finally {
    await store.close();
  }
}

async function labelNames(path: string): Promise<string[]> {
  return (await loadResources(path)).map((r) => r.name);
}

/**
 * A closed database whose `resources` table has one damaged page (its cells zeroed, as a torn
 * write might leave it): the file still opens, SQLite's integrity check lists the damage.
 */
async function makeDamagedDatabase(path: string): Promise<void> {
  await makeDatabase(
    path,
    Array.from({ length: 300 }, (_, i) => `label-${i}`),
    (n) => n.repeat(20),
  );
  const raw = new BetterSqlite3(path);
  const leaf = raw
    .prepare("select pageno from dbstat where name = 'resources' and pagetype = 'leaf' order by pageno")
    .get() as { pageno: number };
  raw.close();
  const bytes = readFileSync(path);
  const pageSize = bytes.readUInt16BE(16) === 1 ? 65536 : bytes.readUInt16BE(16);
  const start = (leaf.pageno - 1) * pageSize;
  bytes.fill(0, start + 8, start + pageSize);
  writeFileSync(path, bytes);
}

const GARBAGE = Buffer.from("this is not a database, just some text that happens to be here\n".repeat(100));

describe("SQLite store", () => {
  it("a file that is not a database gives LAB_E_STORE_CORRUPT and is left as it was", async () => {
    const path = join(freshDir(), "state.db");
    writeFileSync(path, GARBAGE);
    const error = await expectLabError(openSqliteStore(path), "LAB_E_STORE_CORRUPT");
    expect(error.message).toContain(path);
    expect(readFileSync(path).equals(GARBAGE)).toBe(true);
  });

  it("a database whose pages are damaged gives LAB_E_STORE_CORRUPT", async () => {
    const path = join(freshDir(), "state.db");
    await makeDamagedDatabase(path);
    const error = await rejection(async () => {
      const store = await openSqliteStore(path);
      try {
        await store.load();
      } finally {
        await store.close();
      }
    });
    expect(error, String(error)).toBeInstanceOf(LabError);
    expect((error as LabError).code).toBe("LAB_E_STORE_CORRUPT");
  });

  it("a write while another connection holds the write lock fails with LAB_E_STORE_LOCKED", async () => {
    const path = join(freshDir(), "state.db");
    const store = await openSqliteStore(path);
    const other = new BetterSqlite3(path);
    try {
      await store.transact(() => ({
        changes: [{ op: "create", kind: "label", name: "a", resource: label("a") }],
        event: null,
        value: null,
      }));
      const revision = await store.revision();
      other.exec("BEGIN EXCLUSIVE");
      other.prepare("update meta set value = value where key = 'revision'").run();

      // Reads still work (WAL); the write waits for the busy timeout (5 s), then gives up.
      expect((await store.load()).map((r) => r.name)).toEqual(["a"]);
      const started = Date.now();
      const error = await expectLabError(
        store.transact(() => ({
          changes: [{ op: "create", kind: "label", name: "b", resource: label("b") }],
          event: { actor: "t", action: "apply", result: "ok", summary: "b", changes: [] },
          value: null,
        })),
        "LAB_E_STORE_LOCKED",
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(4000);
      expect(error.message).toContain(path);
      expect(error.hint).toMatch(/another lab process/);

      other.exec("ROLLBACK");
      expect((await store.load()).map((r) => r.name)).toEqual(["a"]);
      expect(await store.events()).toEqual([]);
      expect(await store.revision()).toBe(revision);
      // Once the other connection lets go, the same write goes through.
      await store.transact(() => ({
        changes: [{ op: "create", kind: "label", name: "b", resource: label("b") }],
        event: null,
        value: null,
      }));
      expect((await store.load()).map((r) => r.name)).toEqual(["a", "b"]);
    } finally {
      other.close();
      await store.close();
    }
  });

  // A SYNC observation and a Puppet run are read-then-write; begun as a reader, SQLite fails
  // such a transaction at once (no busy wait) when another process commits first — lab server's
  // boot routes writing while `lab onboard` observes a booting machine. Taking the write lock
  // first makes it wait its turn.
  const obs = (state: "sync" | "drift") => ({
    server: "x",
    provider: "baremetal",
    observedAt: new Date().toISOString(),
    state,
    summary: state,
    differences: [],
  });
  const run = (status: "changed" | "failed"): PuppetRun => ({
    server: "x",
    certname: "x.lab.internal",
    time: new Date().toISOString(),
    status,
    environment: "production",
    configurationVersion: null,
    puppetVersion: null,
    transactionUuid: null,
    noop: false,
    failures: [],
    catalogErrors: [],
    timing: { total: null, configRetrieval: null },
    resources: { total: null, changed: null, failed: null },
    receivedAt: new Date().toISOString(),
  });
  it.each([
    {
      what: "a SYNC observation",
      put: (s: KyselyStore, first: boolean) => s.putSyncObservation(obs(first ? "sync" : "drift")),
      now: async (s: KyselyStore) => (await s.syncObservations()).map((o) => o.state),
      before: "sync",
      after: ["drift"],
    },
    {
      what: "a Puppet run",
      put: (s: KyselyStore, first: boolean) => s.putPuppetRun(run(first ? "changed" : "failed")),
      now: async (s: KyselyStore) => (await s.puppetRuns()).map((r) => r.status),
      before: "changed",
      after: ["failed"],
    },
  ])("$what waits for another process's write instead of failing", async ({ put, now, before, after }) => {
    const path = join(freshDir(), "state.db");
    const store = await openSqliteStore(path);
    try {
      await put(store, true);
      // The other process writes under the lock and commits after a while, on its own.
      const driver = createRequire(import.meta.url).resolve("better-sqlite3");
      const child = spawn(
        process.execPath,
        [
          "-e",
          `const D = require(${JSON.stringify(driver)}); const db = new D(${JSON.stringify(path)});
           db.exec("BEGIN IMMEDIATE"); db.exec("update meta set value = value + 1 where key = 'revision'");
           process.stdout.write("locked\\n"); setTimeout(() => { db.exec("COMMIT"); db.close(); }, 500);`,
        ],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      children.add(child);
      await new Promise((r) => child.stdout?.once("data", r));
      const previous = (await put(store, false)) as { state?: string; status?: string } | undefined;
      expect(previous?.state ?? previous?.status).toBe(before);
      expect(await now(store)).toEqual(after);
    } finally {
      await store.close();
    }
  });

  // Kysely's SQLite adapter runs migrations with no lock and no transaction; openSqliteStore
  // takes SQLite's write lock around them, so stores opening a new file at once migrate it once.
  it("opening a fresh database from several stores at once migrates it once", async () => {
    const path = join(freshDir(), "state.db");
    const opened = await Promise.allSettled([openSqliteStore(path), openSqliteStore(path)]);
    for (const o of opened) if (o.status === "fulfilled") await o.value.close();
    expect(opened.map((o) => (o.status === "fulfilled" ? "ok" : String(o.reason)))).toEqual(["ok", "ok"]);
    expect(await labelNames(path)).toEqual([]);
  });

  describe("checkSqlite", () => {
    it("reports a healthy database", async () => {
      const path = join(freshDir(), "state.db");
      await makeDatabase(path, ["a", "b"]);
      const report = checkSqlite(path);
      expect(report).toEqual({
        path,
        ok: true,
        sizeBytes: expect.any(Number),
        integrity: ["ok"],
        migrations: { applied: MIGRATION_NAMES, known: MIGRATION_NAMES },
        objects: 2,
        events: 1,
      });
      expect(report.sizeBytes).toBeGreaterThan(0);
    });

    it("reports a missing file as LAB_E_NOT_FOUND", async () => {
      await expectLabError(() => checkSqlite(join(freshDir(), "nope.db")), "LAB_E_NOT_FOUND");
    });

    it("reports a file that is not a database as LAB_E_STORE_CORRUPT", async () => {
      const path = join(freshDir(), "state.db");
      writeFileSync(path, GARBAGE);
      await expectLabError(() => checkSqlite(path), "LAB_E_STORE_CORRUPT");
    });

    it("flags a damaged page and lists what the integrity check found", async () => {
      const path = join(freshDir(), "state.db");
      await makeDamagedDatabase(path);
      const report = checkSqlite(path);
      expect(report.ok).toBe(false);
      expect(report.integrity).not.toEqual(["ok"]);
      expect(report.integrity.join("\n")).toMatch(/out of range|NULL value in resources/);
      expect(report.migrations.applied).toEqual(MIGRATION_NAMES);
    });

    it("flags a database written by a newer lab", async () => {
      const path = join(freshDir(), "state.db");
      await makeDatabase(path, ["a"]);
      const raw = new BetterSqlite3(path);
      raw.prepare("insert into kysely_migration (name, timestamp) values (?, ?)").run("9999_future", "x");
      raw.close();
      const report = checkSqlite(path);
      expect(report.ok).toBe(false);
      expect(report.integrity).toEqual(["ok"]);
      expect(report.migrations.applied).toEqual([...MIGRATION_NAMES, "9999_future"]);
    });

    it("flags a SQLite file that is not a Lab database", async () => {
      const path = join(freshDir(), "other.db");
      const raw = new BetterSqlite3(path);
      raw.exec("create table something_else (x)");
      raw.close();
      expect(checkSqlite(path)).toMatchObject({ ok: false, integrity: ["ok"], objects: 0 });
    });
  });

  describe("backupSqlite", () => {
    it("makes a copy that passes the check and opens with the same data", async () => {
      const dir = freshDir();
      const path = join(dir, "state.db");
      await makeDatabase(path, ["a", "b", "c"]);
      const destination = join(dir, "backups", "nested", "state.bak");
      const { bytes } = await backupSqlite(path, destination);
      expect(bytes).toBeGreaterThan(0);
      expect(checkSqlite(destination)).toMatchObject({ ok: true, objects: 3, events: 1 });
      expect(await labelNames(destination)).toEqual(["a", "b", "c"]);
      // The source is untouched.
      expect(await labelNames(path)).toEqual(["a", "b", "c"]);
    });

    it("backups taken while another process writes are consistent snapshots", async () => {
      const dir = freshDir();
      const path = join(dir, "state.db");
      // Big enough (~2 MB) that a backup takes several steps, so writes land in the middle.
      await makeDatabase(
        path,
        Array.from({ length: 400 }, (_, i) => `filler-${i}`),
        (n) => n.repeat(400),
      );
      const seed = await openSqliteStore(path);
      await seed.transact(() => ({
        changes: [{ op: "create", kind: "server", name: "c", resource: counterResource("c", 0) }],
        event: null,
        value: null,
      }));
      await seed.close();

      const writer = await startWriter(path, "c", 150, "writer");
      let finished = false;
      const done = writer.done.finally(() => {
        finished = true;
      });
      done.catch(() => undefined); // awaited below; handled here so a failure is not "unhandled"
      const backups: string[] = [];
      while (!finished || backups.length < 3) {
        const destination = join(dir, `backup-${backups.length}.db`);
        await backupSqlite(path, destination);
        backups.push(destination);
      }
      await done;

      const seen = new Set<number>();
      for (const b of backups) {
        expect(checkSqlite(b)).toMatchObject({ ok: true, objects: 401 });
        const store = await openSqliteStore(b);
        try {
          const value = counterValue(await store.load(), "c") ?? -1;
          const events = (await store.events()).filter((e) => e.actor === "writer");
          // Each increment wrote the counter and its event together: a consistent snapshot has
          // exactly as many events as the counter says, the last one naming that value.
          expect(events).toHaveLength(value);
          if (value > 0) expect(events.at(-1)?.summary).toBe(`c ${value - 1} -> ${value}`);
          seen.add(value);
        } finally {
          await store.close();
        }
      }
      expect(counterValue(await loadResources(path), "c")).toBe(150);
      // Sanity: at least one backup was taken while the writer was half-way.
      expect([...seen].some((v) => v > 0 && v < 150) || seen.size > 1).toBe(true);
    });

    it("refuses a missing database with LAB_E_NOT_FOUND", async () => {
      const dir = freshDir();
      await expectLabError(backupSqlite(join(dir, "nope.db"), join(dir, "b.db")), "LAB_E_NOT_FOUND");
      expect(existsSync(join(dir, "b.db"))).toBe(false);
    });
  });

  describe("restoreSqlite", () => {
    it("puts the backup in place and keeps the previous database aside", async () => {
      const dir = freshDir();
      const path = join(dir, "state.db");
      await makeDatabase(path, ["old-1", "old-2"]);
      const backup = join(dir, "state.bak");
      await backupSqlite(path, backup);
      // The current database moves on after the backup.
      const store = await openSqliteStore(path);
      await store.transact(() => ({
        changes: [{ op: "create", kind: "label", name: "newer", resource: label("newer") }],
        event: null,
        value: null,
      }));
      await store.close();

      const { previous } = restoreSqlite(path, backup);
      expect(previous).not.toBeNull();
      expect(previous).toMatch(/state\.db\.before-restore-/);
      expect(await labelNames(path)).toEqual(["old-1", "old-2"]);
      expect(await labelNames(previous as string)).toEqual(["old-1", "old-2", "newer"]);
      expect(existsSync(`${path}.restoring`)).toBe(false);
      // The backup itself is left as it was.
      expect(checkSqlite(backup)).toMatchObject({ ok: true, objects: 2 });
    });

    it("keeps writes still in the previous database's WAL file", async () => {
      const dir = freshDir();
      const live = join(dir, "live.db");
      await makeDatabase(live, ["checkpointed"]);
      const backup = join(dir, "state.bak");
      await backupSqlite(live, backup);
      // Simulate a crash: copy the files while a connection has a write only in the WAL.
      const raw = new BetterSqlite3(live);
      raw.pragma("wal_autocheckpoint = 0");
      raw
        .prepare(
          "insert into resources (kind, name, spec, origin, updated_at, position) values ('label', 'in-wal', '{}', null, 'now', 99)",
        )
        .run();
      const path = join(dir, "state.db");
      writeFileSync(path, readFileSync(live));
      writeFileSync(`${path}-wal`, readFileSync(`${live}-wal`));
      raw.close();

      const { previous } = restoreSqlite(path, backup);
      expect(existsSync(`${path}-wal`)).toBe(false);
      expect(await labelNames(path)).toEqual(["checkpointed"]);
      expect(await labelNames(previous as string)).toEqual(["checkpointed", "in-wal"]);
    });

    it.each([
      { what: "a file that is not a database", make: (p: string) => writeFileSync(p, GARBAGE) },
      {
        what: "a database with damaged pages",
        make: makeDamagedDatabase,
      },
      {
        what: "a database from a newer lab",
        make: async (p: string) => {
          await makeDatabase(p, ["x"]);
          const raw = new BetterSqlite3(p);
          raw.prepare("insert into kysely_migration (name, timestamp) values (?, ?)").run("9999_future", "x");
          raw.close();
        },
      },
    ])("refuses $what with LAB_E_STORE_CORRUPT and keeps the current database", async ({ make }) => {
      const dir = freshDir();
      const path = join(dir, "state.db");
      await makeDatabase(path, ["current"]);
      const before = readFileSync(path);
      const backup = join(dir, "bad.bak");
      await make(backup);

      await expectLabError(() => restoreSqlite(path, backup), "LAB_E_STORE_CORRUPT");
      expect(readFileSync(path).equals(before)).toBe(true);
      expect(readdirSync(dir).filter((f) => f.includes("before-restore") || f.includes("restoring"))).toEqual(
        [],
      );
      expect(await labelNames(path)).toEqual(["current"]);
    });

    it("refuses a missing backup with LAB_E_FILE_NOT_FOUND", async () => {
      const dir = freshDir();
      const path = join(dir, "state.db");
      await makeDatabase(path, ["current"]);
      await expectLabError(() => restoreSqlite(path, join(dir, "nope.bak")), "LAB_E_FILE_NOT_FOUND");
      expect(await labelNames(path)).toEqual(["current"]);
    });

    it("restores into a place with no database yet, with nothing to keep aside", async () => {
      const dir = freshDir();
      const source = join(dir, "source.db");
      await makeDatabase(source, ["a"]);
      const backup = join(dir, "state.bak");
      await backupSqlite(source, backup);
      const path = join(dir, "fresh.db");
      expect(restoreSqlite(path, backup)).toEqual({ previous: null });
      expect(await labelNames(path)).toEqual(["a"]);
    });
  });
});
