/**
 * The log retention window on both dialects: a real SQLite file and a real PostgreSQL
 * database (a throwaway one; no server is a failure: run `bash scripts/ensure-postgres.sh`).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  assertPostgresReachable,
  createThrowawayDatabase,
  type ThrowawayDatabase,
} from "../../../test/support/postgres.js";
import type { KyselyStore } from "./kysely-store.js";
import { type LogRecord, openLogRepo } from "./log-repo.js";
import { openPostgresStore } from "./postgres.js";
import { openSqliteStore } from "./sqlite.js";

const dirs: string[] = [];
const dbs: ThrowawayDatabase[] = [];
afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  for (const d of dbs) await d.drop();
});

const T0 = Date.parse("2025-03-01T10:00:00Z");
function ev(seq: number, over: Partial<LogRecord> = {}): LogRecord {
  return {
    seq,
    time: new Date(T0 + seq * 1000).toISOString(),
    node: seq % 2 ? "db-1" : "web-1",
    service: "sshd",
    source: seq % 3 ? "otel-file:/var/log/otel.json" : "syslog",
    level: seq % 5 === 0 ? "error" : "info",
    message: `line ${seq}`,
    attributes: { n: seq, ok: true, s: "x" },
    ...over,
  };
}

const dialects: [string, () => Promise<KyselyStore>][] = [
  [
    "SQLite",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "lab-logrepo-"));
      dirs.push(dir);
      return openSqliteStore(join(dir, "state.db"));
    },
  ],
  [
    "PostgreSQL",
    async () => {
      await assertPostgresReachable();
      const d = await createThrowawayDatabase();
      dbs.push(d);
      return openPostgresStore(d.url);
    },
  ],
];

describe.each(dialects)("log retention on %s", (_name, open) => {
  it("appends, continues the sequence, and searches by every filter", async () => {
    const store = await open();
    const repo = await openLogRepo(store);
    try {
      expect(await repo.lastSeq()).toBe(0);
      const all = Array.from({ length: 1000 }, (_, i) => ev(i + 1));
      // In blocks of various sizes, one with its JSON given (as the pipeline does).
      await repo.append(all.slice(0, 1));
      await repo.append(
        all.slice(1, 500),
        all.slice(1, 500).map((e) => JSON.stringify(e)),
      );
      for (let i = 500; i < 1000; i += 100) await repo.append(all.slice(i, i + 100));
      expect(await repo.lastSeq()).toBe(1000);
      expect(await repo.firstSeq()).toBe(1);
      // A batch written again (a crash between the store and the file offset) is kept once.
      await repo.append(all.slice(900, 1000));
      expect((await repo.totals()).total).toBe(1000);

      const newest = await repo.search({ limit: 3 });
      expect(newest.map((e) => e.seq)).toEqual([998, 999, 1000]);
      expect(newest[0]?.attributes).toEqual({ n: 998, ok: true, s: "x" });
      const after = await repo.search({ after: 10, limit: 2 });
      expect(after.map((e) => e.seq)).toEqual([11, 12]);
      const errors = await repo.search({ level: "warn", limit: 10_000 });
      expect(errors).toHaveLength(200);
      expect(errors.every((e) => e.level === "error")).toBe(true);
      const byKind = await repo.search({ source: ["otel-file"], node: ["db-1"], limit: 10_000 });
      expect(byKind.length).toBe(
        Array.from({ length: 1000 }, (_, i) => i + 1).filter((s) => s % 3 && s % 2).length,
      );
      expect(await repo.search({ source: ["otel"], limit: 10 })).toEqual([]); // a prefix must end at ':'
      const since = await repo.search({ since: T0 + 990_000, limit: 10_000 });
      expect(since.map((e) => e.seq)).toEqual([990, 991, 992, 993, 994, 995, 996, 997, 998, 999, 1000]);
      expect((await repo.search({ before: 3 })).map((e) => e.seq)).toEqual([1, 2]);
      expect(await repo.search({ service: ["nginx"] })).toEqual([]);

      const totals = await repo.totals();
      expect(totals.byLevel.error).toBe(200);
      expect(totals.byLevel.info).toBe(800);
      expect(totals.bySource.syslog).toBe(333);
      expect(totals.byNode["db-1"]).toBe(500);
    } finally {
      await repo.close();
      await store.close();
    }
  });

  it("prunes by age and by count", async () => {
    const store = await open();
    const repo = await openLogRepo(store);
    try {
      const all = Array.from({ length: 100 }, (_, i) => ev(i + 1));
      for (let i = 0; i < 100; i += 10) await repo.append(all.slice(i, i + 10));
      // Whole blocks go: 50 s before the 100th event's time, the blocks ending at 10..40 are older.
      expect(await repo.prune({ maxAgeMs: 50_000 }, T0 + 100_000 - 1)).toBe(40);
      expect((await repo.search({ limit: 1, after: 0 }))[0]?.seq).toBe(41);
      // At least 25 kept: the newest three blocks (30 events).
      expect(await repo.prune({ maxRows: 25 })).toBe(30);
      expect((await repo.search({ limit: 100 })).map((e) => e.seq)).toEqual(
        Array.from({ length: 30 }, (_, i) => 71 + i),
      );
      expect(await repo.lastSeq()).toBe(100);
    } finally {
      await repo.close();
      await store.close();
    }
  });
});
