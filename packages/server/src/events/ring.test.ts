import { describe, expect, it } from "vitest";
import type { LabEvent, Level } from "./model.js";
import { EventRing } from "./ring.js";

const ev = (
  message: string,
  level: Level = "info",
  node: string | null = "db-1",
  time = new Date(),
): LabEvent => ({
  time: time.toISOString(),
  node,
  service: null,
  source: "test",
  level,
  message,
  attributes: {},
});

describe("the event ring", () => {
  it("holds at most its capacity, counts what fell out, and tells a late reader how many it missed", () => {
    const ring = new EventRing(3);
    ring.push(["a", "b", "c", "d", "e"].map((m) => ev(m)));
    expect(ring.query().events.map((e) => e.message)).toEqual(["c", "d", "e"]);
    expect(ring.counts.evicted).toBe(2);
    expect(ring.query({ after: 0 })).toMatchObject({ missed: 2 });
    expect(ring.query({ after: 3 }).events.map((e) => e.seq)).toEqual([4, 5]);
    expect(ring.query({ after: 3 }).missed).toBe(0);
  });

  it("filters by node, lowest level and time, and counts per level, source and node", () => {
    const ring = new EventRing(100);
    const old = new Date(Date.now() - 60_000);
    ring.push([ev("x", "debug", "db-1", old), ev("y", "warn", "db-2"), ev("z", "error", "db-1")]);
    expect(ring.query({ level: "warn" }).events.map((e) => e.message)).toEqual(["y", "z"]);
    expect(ring.query({ node: ["db-1"] }).events.map((e) => e.message)).toEqual(["x", "z"]);
    expect(ring.query({ since: Date.now() - 30_000 }).events.map((e) => e.message)).toEqual(["y", "z"]);
    expect(ring.counts.byLevel).toMatchObject({ debug: 1, warn: 1, error: 1, info: 0 });
    expect(ring.counts.byNode).toEqual({ "db-1": 2, "db-2": 1 });
    expect(ring.counts.bySource).toEqual({ test: 3 });
  });

  it("drops events older than its retention window", () => {
    let now = Date.parse("2026-01-01T00:00:00Z");
    const ring = new EventRing(100, 60_000, () => now);
    ring.push([ev("old", "info", null, new Date(now - 30_000))]);
    now += 40_000;
    expect(ring.query().events).toEqual([]);
    expect(ring.counts.evicted).toBe(1);
  });
});
