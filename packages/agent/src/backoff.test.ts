import { describe, expect, it } from "vitest";
import { Backoff, BoundedQueue } from "./backoff.js";

describe("Backoff", () => {
  it.each([
    {
      what: "no jitter (random 1) doubles up to the cap",
      random: 1,
      expected: [1000, 2000, 4000, 8000, 10000, 10000],
    },
    { what: "full jitter (random 0) waits the minimum", random: 0, expected: [250, 250, 250, 250, 250, 250] },
  ])("$what", ({ random, expected }) => {
    const b = new Backoff({ baseMs: 1000, maxMs: 10_000 }, () => random);
    expect(expected.map(() => b.next())).toEqual(expected);
  });

  it("starts over after reset", () => {
    const b = new Backoff({ baseMs: 100, maxMs: 10_000, minMs: 0 }, () => 1);
    b.next();
    b.next();
    expect(b.attempts).toBe(2);
    b.reset();
    expect(b.next()).toBe(100);
  });

  it("spreads a fleet: delays for one attempt differ between agents", () => {
    const delays = new Set(
      Array.from({ length: 50 }, () => new Backoff({ baseMs: 1000, maxMs: 60_000 })).map((b) => {
        for (let i = 0; i < 5; i++) b.next();
        return b.next();
      }),
    );
    expect(delays.size).toBeGreaterThan(10);
  });
});

describe("BoundedQueue", () => {
  it("drops the oldest beyond its size and counts it", () => {
    const q = new BoundedQueue<number>(3);
    for (const n of [1, 2, 3, 4, 5]) q.push(n);
    expect(q.dropped).toBe(2);
    expect(q.drain()).toEqual([3, 4, 5]);
    expect(q.size).toBe(0);
  });

  it("keeps only the latest item of a key, in its original place", () => {
    const q = new BoundedQueue<string>(10);
    q.push("hb1", "heartbeat");
    q.push("facts", "facts");
    q.push("hb2", "heartbeat");
    expect(q.drain()).toEqual(["hb2", "facts"]);
    expect(q.dropped).toBe(0);
  });
});
