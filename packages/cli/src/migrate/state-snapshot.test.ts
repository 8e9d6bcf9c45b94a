import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteStore } from "@lab/store";
import BetterSqlite3 from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { snapshotHome, stateFiles, summarise } from "./state-snapshot.js";

describe("the consistent copy of LAB_HOME", () => {
  let home: string;
  beforeEach(async () => {
    home = mkdtempSync(join(tmpdir(), "lab-snap-"));
    const store = await openSqliteStore(join(home, "state.db"));
    await store.close();
    mkdirSync(join(home, "server"), { mode: 0o700 });
    writeFileSync(join(home, "server", "ca.key"), "KEY", { mode: 0o600 });
    writeFileSync(join(home, "server", "lab-server.pid"), "{}");
    writeFileSync(join(home, "server", "lab-server.log"), "log");
    writeFileSync(join(home, "config.yaml"), "mode: local\n");
    mkdirSync(join(home, "cache", "parse"), { recursive: true });
    writeFileSync(join(home, "cache", "parse", "x.json"), "{}");
    mkdirSync(join(home, "backups"));
    writeFileSync(join(home, "backups", "auto-1.db"), "old");
  });
  afterEach(() => {
    rmSync(home, { recursive: true, force: true });
    rmSync(`${home}-snap`, { recursive: true, force: true });
  });

  it("takes state, keys and databases; leaves config, caches, snapshots, pid and log files", () => {
    const files = stateFiles(home).map((f) => `${f.path}${f.sqlite ? " (sqlite)" : ""}`);
    expect(files).toEqual(["server/ca.key", "state.db (sqlite)"]);
  });

  it("copies a database another connection is writing to, with the writes so far, and keeps key modes", async () => {
    const writer = new BetterSqlite3(join(home, "state.db"));
    writer.pragma("journal_mode = WAL");
    writer
      .prepare(
        "insert into events (time, actor, action, result, summary, changes) values ('t','a','apply','ok','s','[]')",
      )
      .run();
    // Committed but still only in the WAL: a plain file copy of state.db would miss it.
    expect(statSync(join(home, "state.db-wal")).size).toBeGreaterThan(0);
    const snap = await snapshotHome(home, `${home}-snap`);
    writer.close();
    expect(snap.summary.lastEventId).toBe(1);
    expect(summarise(join(snap.dir, "state.db")).lastEventId).toBe(1);
    expect(statSync(join(snap.dir, "server", "ca.key")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(snap.dir, "server", "ca.key"), "utf8")).toBe("KEY");
  });

  it("the fingerprint moves with any write and stays without one", async () => {
    const db = join(home, "state.db");
    const a = summarise(db).fingerprint;
    expect(summarise(db).fingerprint).toBe(a);
    const w = new BetterSqlite3(db);
    w.prepare(
      "insert into tokens (id, name, hash, scopes, created_at, created_by) values ('x','n','h','[]','t','c')",
    ).run();
    const b = summarise(db).fingerprint;
    expect(b).not.toBe(a);
    w.prepare("update meta set value = value + 1 where key = 'revision'").run();
    expect(summarise(db).fingerprint).not.toBe(b);
    w.close();
  });
});
