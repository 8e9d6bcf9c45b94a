/**
 * A consistent copy of LAB_HOME for moving the control plane: every SQLite file (state.db,
 * state.logs.db, the secrets vault) through SQLite's online backup — complete even while a
 * server writes to it, unlike copying the file and its WAL — and the keys and certificates
 * (server/, keys/, pxe/) as files. What is only this machine's is left out: the CLI's own
 * config, caches, automatic snapshots, pid and log files, WAL side files.
 */
import { createHash } from "node:crypto";
import {
  chmodSync,
  closeSync,
  copyFileSync,
  createReadStream,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  statSync,
} from "node:fs";
import { dirname, join, relative } from "node:path";
import { backupSqlite } from "@lab/store";
import BetterSqlite3 from "better-sqlite3";

/** Top-level entries of LAB_HOME that stay behind (this machine's, or rebuilt on demand). */
const SKIP_TOP = new Set(["config.yaml", "cache", "backups", ".migrate"]);
/** Files that are a process's, not the state's. */
const SKIP_FILE = /(-wal|-shm|-journal|\.pid|\.log|\.tmp-\d+|\.lab-upload-[0-9a-f]+)$/;

export interface SnapshotFile {
  /** Relative to LAB_HOME. */
  path: string;
  bytes: number;
  sqlite: boolean;
}

export interface Snapshot {
  dir: string;
  files: SnapshotFile[];
  bytes: number;
  /** Of the copied state.db: what the target must answer with. */
  summary: StateSummary;
}

function isSqlite(path: string): boolean {
  const fd = openSync(path, "r");
  try {
    const head = Buffer.alloc(16);
    const n = readSync(fd, head, 0, 16, 0);
    return n === 16 && head.toString("latin1") === "SQLite format 3\u0000";
  } finally {
    closeSync(fd);
  }
}

/** The files a snapshot would copy (relative paths), without copying them. */
export function stateFiles(home: string): { path: string; sqlite: boolean; bytes: number }[] {
  const out: { path: string; sqlite: boolean; bytes: number }[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = join(dir, e.name);
      const rel = relative(home, full);
      if (dir === home && SKIP_TOP.has(e.name)) continue;
      if (e.isDirectory()) walk(full);
      else if (e.isFile() && !SKIP_FILE.test(e.name)) {
        out.push({ path: rel, sqlite: isSqlite(full), bytes: statSync(full).size });
      }
    }
  };
  walk(home);
  return out;
}

/** Copies LAB_HOME's state into `dir` (0700): SQLite files by online backup, others as files. */
export async function snapshotHome(home: string, dir: string): Promise<Snapshot> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files: SnapshotFile[] = [];
  for (const f of stateFiles(home)) {
    const src = join(home, f.path);
    const dest = join(dir, f.path);
    mkdirSync(dirname(dest), { recursive: true, mode: 0o700 });
    if (f.sqlite) await backupSqlite(src, dest);
    else copyFileSync(src, dest);
    // Keys stay as private as they were (backup and copy create files with the umask's mode).
    chmodSync(dest, statSync(src).mode & 0o777);
    files.push({ path: f.path, bytes: statSync(dest).size, sqlite: f.sqlite });
  }
  const summary = summarise(join(dir, "state.db"));
  return { dir, files, bytes: files.reduce((n, f) => n + f.bytes, 0), summary };
}

export interface StateSummary {
  /** Object names per kind (server, label, group, …), sorted. */
  objects: Record<string, string[]>;
  lastEventId: number;
  /**
   * Row count and highest rowid per table, and the model's revision: equal fingerprints mean
   * nothing was written in between (every write adds rows or moves the revision).
   */
  fingerprint: string;
}

/** Reads a state database (read-only) for the counts the target is checked against. */
export function summarise(dbPath: string): StateSummary {
  const db = new BetterSqlite3(dbPath, { readonly: true, fileMustExist: true, timeout: 5000 });
  try {
    const objects: Record<string, string[]> = {};
    for (const row of db.prepare("select kind, name from resources order by kind, name").all() as {
      kind: string;
      name: string;
    }[]) {
      const names = objects[row.kind] ?? [];
      names.push(row.name);
      objects[row.kind] = names;
    }
    const last = db.prepare("select coalesce(max(id), 0) as id from events").get() as { id: number };
    const tables = (
      db.prepare("select name from sqlite_master where type = 'table' order by name").all() as {
        name: string;
      }[]
    ).map((t) => t.name);
    // Health is observed, not declared: sources re-report it, and its upserts move rowids.
    const parts = tables
      .filter((t) => t !== "health")
      .map((t) => {
        const q = `"${t.replace(/"/g, '""')}"`;
        let r: { n: number; m: number | null };
        try {
          r = db.prepare(`select count(*) as n, max(rowid) as m from ${q}`).get() as typeof r;
        } catch {
          // WITHOUT ROWID tables have no rowid: their count is what there is.
          r = { ...(db.prepare(`select count(*) as n from ${q}`).get() as { n: number }), m: null };
        }
        return `${t}:${r.n}:${r.m ?? ""}`;
      });
    const revision = db.prepare("select value from meta where key = 'revision'").get() as
      | { value: number }
      | undefined;
    parts.push(`revision:${revision?.value ?? ""}`);
    return {
      objects,
      lastEventId: last.id,
      fingerprint: createHash("sha256").update(parts.join("\n")).digest("hex").slice(0, 16),
    };
  } finally {
    db.close();
  }
}

/** SHA-256 of a file, streamed. */
export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash("sha256");
    createReadStream(path)
      .on("data", (c) => h.update(c))
      .on("error", reject)
      .on("end", () => resolve(h.digest("hex")));
  });
}
