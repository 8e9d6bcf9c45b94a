import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkSqlite, openSqliteStore } from "@lab/store";
import { describe, expect, it } from "vitest";
import { Snapshots } from "./snapshots.js";

describe("automatic snapshots", () => {
  it("take healthy SQLite backups and keep only the newest N", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lab-snap-"));
    const db = join(dir, "state.db");
    const store = await openSqliteStore(db);
    const logs: string[] = [];
    const snaps = new Snapshots(db, join(dir, "backups"), { intervalMs: 60_000, keep: 2 }, (l) =>
      logs.push(l),
    );
    const taken: string[] = [];
    for (let i = 0; i < 4; i++) {
      await store.record({ actor: "t", action: "x", result: "ok", summary: `${i}`, changes: [] });
      taken.push((await snaps.take()) as string);
      await new Promise((r) => setTimeout(r, 5)); // distinct timestamps in the names
    }
    await store.close();
    const kept = readdirSync(join(dir, "backups")).sort();
    expect(kept).toHaveLength(2);
    expect(kept.map((f) => join(dir, "backups", f))).toEqual(taken.slice(2));
    expect(checkSqlite(taken[3] as string)).toMatchObject({ ok: true, events: 4 });
    expect(logs).toEqual([]);
  });

  it("log a failure instead of throwing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lab-snap-"));
    const logs: string[] = [];
    const snaps = new Snapshots(
      join(dir, "missing.db"),
      join(dir, "b"),
      { intervalMs: 60_000, keep: 2 },
      (l) => logs.push(l),
    );
    expect(await snaps.take()).toBeUndefined();
    expect(logs[0]).toMatch(/^snapshot failed: /);
  });
});
