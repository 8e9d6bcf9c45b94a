/** The embedded default: SQLite (WAL) through better-sqlite3, plus its maintenance commands. */
import { copyFileSync, existsSync, mkdirSync, renameSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { LabError } from "@lab/core";
import BetterSqlite3 from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { KyselyStore } from "./kysely-store.js";
import { MIGRATION_NAMES } from "./migrations.js";
import type { Database } from "./schema.js";

const BUSY_TIMEOUT_MS = 5000;

/** Opens (creating if needed) the state database at `path` and migrates it. */
export async function openSqliteStore(path: string): Promise<KyselyStore> {
  const translate = sqliteErrors(path);
  let raw: BetterSqlite3.Database;
  try {
    mkdirSync(dirname(path), { recursive: true });
    raw = new BetterSqlite3(path, { timeout: BUSY_TIMEOUT_MS });
    raw.pragma("journal_mode = WAL");
    // FULL: an acknowledged apply survives power loss, not just a crash of lab.
    raw.pragma("synchronous = FULL");
  } catch (e) {
    throw translate(e);
  }
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: raw }) });
  const store = new KyselyStore(db, "sqlite", translate);
  store.path = path;
  try {
    if (!isMigrated(raw)) {
      // Kysely runs SQLite migrations without a transaction or a lock: take the write lock
      // ourselves, so concurrent first opens migrate once and a crash mid-way leaves nothing.
      await beginImmediate(raw);
      try {
        if (!isMigrated(raw)) await store.migrate();
        raw.exec("COMMIT");
      } catch (e) {
        if (raw.inTransaction) raw.exec("ROLLBACK");
        throw e;
      }
    }
  } catch (e) {
    await store.close().catch(() => undefined);
    throw translate(e);
  }
  return store;
}

/**
 * BEGIN IMMEDIATE without blocking the event loop: better-sqlite3 waits for locks
 * synchronously, which would freeze another store in this process that holds the lock.
 */
async function beginImmediate(raw: BetterSqlite3.Database): Promise<void> {
  raw.pragma("busy_timeout = 0");
  try {
    for (let waited = 0; ; waited += 20) {
      try {
        raw.exec("BEGIN IMMEDIATE");
        return;
      } catch (e) {
        if ((e as { code?: string }).code !== "SQLITE_BUSY" || waited >= BUSY_TIMEOUT_MS) throw e;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  } finally {
    raw.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  }
}

/** Every known migration is applied (the common case: no lock needed). */
function isMigrated(raw: BetterSqlite3.Database): boolean {
  const table = raw
    .prepare("select 1 from sqlite_master where type = 'table' and name = 'kysely_migration'")
    .get();
  if (!table) return false;
  const applied = new Set(
    (raw.prepare("select name from kysely_migration").all() as { name: string }[]).map((r) => r.name),
  );
  return MIGRATION_NAMES.every((m) => applied.has(m)) && applied.size === MIGRATION_NAMES.length;
}

/** Maps SQLite failures to errors that say what to do. */
export function sqliteErrors(path: string): (e: unknown) => unknown {
  return (e) => {
    if (e instanceof LabError) return e;
    const code = (e as { code?: string }).code ?? "";
    const message = (e as Error).message ?? String(e);
    if (code === "SQLITE_BUSY" || code === "SQLITE_LOCKED") {
      return new LabError("LAB_E_STORE_LOCKED", `the state database ${path} is locked by another process`);
    }
    if (code === "SQLITE_CORRUPT" || code === "SQLITE_NOTADB" || code.startsWith("SQLITE_CORRUPT")) {
      return new LabError(
        "LAB_E_STORE_CORRUPT",
        `the state database ${path} is damaged or not a Lab database (${message})`,
      );
    }
    if (
      code === "SQLITE_CANTOPEN" ||
      code === "SQLITE_READONLY" ||
      code === "SQLITE_PERM" ||
      code === "EACCES"
    ) {
      return new LabError("LAB_E_STORE_IO", `cannot open the state database ${path}: ${message}`);
    }
    return e;
  };
}

export interface CheckReport {
  path: string;
  ok: boolean;
  sizeBytes: number;
  integrity: string[];
  migrations: { applied: string[]; known: string[] };
  objects: number;
  events: number;
}

/** `lab state check`: SQLite's integrity check plus Lab's own view of the file. */
export function checkSqlite(path: string): CheckReport {
  if (!existsSync(path)) {
    throw new LabError("LAB_E_NOT_FOUND", `no state database at ${path} (run \`lab init --local\`)`);
  }
  const translate = sqliteErrors(path);
  let opened: BetterSqlite3.Database | undefined;
  try {
    const raw = new BetterSqlite3(path, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    opened = raw;
    const integrity = (raw.pragma("integrity_check") as { integrity_check: string }[]).map(
      (r) => r.integrity_check,
    );
    const has = (t: string) =>
      raw.prepare("select 1 from sqlite_master where type='table' and name=?").get(t) !== undefined;
    const count = (t: string) =>
      has(t) ? (raw.prepare(`select count(*) as n from ${t}`).get() as { n: number }).n : 0;
    const applied = has("kysely_migration")
      ? (raw.prepare("select name from kysely_migration order by name").all() as { name: string }[]).map(
          (r) => r.name,
        )
      : [];
    const ok =
      integrity.length === 1 &&
      integrity[0] === "ok" &&
      applied.every((m) => MIGRATION_NAMES.includes(m)) &&
      has("resources");
    return {
      path,
      ok,
      sizeBytes: statSync(path).size,
      integrity,
      migrations: { applied, known: MIGRATION_NAMES },
      objects: count("resources"),
      events: count("events"),
    };
  } catch (e) {
    throw translate(e);
  } finally {
    opened?.close();
  }
}

/** `lab state backup`: SQLite's online backup, consistent while other processes write. */
export async function backupSqlite(path: string, destination: string): Promise<{ bytes: number }> {
  const translate = sqliteErrors(path);
  if (!existsSync(path)) throw new LabError("LAB_E_NOT_FOUND", `no state database at ${path}`);
  mkdirSync(dirname(destination), { recursive: true });
  const raw = new BetterSqlite3(path, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
  try {
    await raw.backup(destination);
  } catch (e) {
    throw translate(e);
  } finally {
    raw.close();
  }
  return { bytes: statSync(destination).size };
}

/**
 * `lab state restore`: checks the backup first, keeps the current file aside, then puts the
 * backup in place. The current database is never overwritten by a damaged file.
 */
export function restoreSqlite(path: string, backup: string): { previous: string | null } {
  if (!existsSync(backup)) throw new LabError("LAB_E_FILE_NOT_FOUND", `no backup file at ${backup}`);
  const report = checkSqlite(backup);
  if (!report.ok) {
    throw new LabError(
      "LAB_E_STORE_CORRUPT",
      `${backup} is not a healthy Lab database (${report.integrity.slice(0, 3).join("; ")}); nothing was restored`,
    );
  }
  let previous: string | null = null;
  if (existsSync(path)) {
    previous = `${path}.before-restore-${new Date().toISOString().replace(/[:.]/g, "-")}`;
    renameSync(path, previous);
    for (const suffix of ["-wal", "-shm"]) {
      if (existsSync(path + suffix)) renameSync(path + suffix, previous + suffix);
    }
  }
  const staging = `${path}.restoring`;
  copyFileSync(backup, staging);
  renameSync(staging, path);
  return { previous };
}
