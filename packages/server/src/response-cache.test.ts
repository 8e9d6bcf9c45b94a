import { describe, expect, it } from "vitest";
import { ResponseCache, RevisionCache } from "./response-cache.js";

describe("RevisionCache and ResponseCache", () => {
  it("asks the store once per second, or again right after an invalidation", async () => {
    let now = 0;
    let queries = 0;
    let revision = 7;
    const revisions = new RevisionCache(
      {
        revision: async () => {
          queries++;
          return revision;
        },
      },
      1000,
      () => now,
    );
    for (let i = 0; i < 50; i++) await revisions.revision();
    expect(queries).toBe(1);
    revision = 8;
    revisions.invalidate();
    expect(await revisions.revision()).toBe(8);
    now += 1000;
    await revisions.revision();
    expect(queries).toBe(3);
  });

  it("serialises once per revision and recomputes when the revision moves", async () => {
    let revision = 1;
    let computed = 0;
    const cache = new ResponseCache({ revision: async () => revision }, () => 0);
    const compute = async () => ({ n: ++computed });
    const text = async () => String(await cache.get("/a", compute));
    expect(await text()).toBe('{"n":1}');
    expect(await text()).toBe('{"n":1}');
    revision = 2;
    expect(await text()).toBe('{"n":2}');
  });
});

describe("the synchronous fast path", () => {
  it("answers only while both the revision and the entry are fresh", async () => {
    let now = 0;
    const revisions = new RevisionCache({ revision: async () => 1 }, 1000, () => now);
    const cache = new ResponseCache(revisions, () => now);
    expect(cache.peek("/a")).toBeUndefined();
    await cache.get("/a", async () => ({ ok: true }));
    expect(String(cache.peek("/a"))).toBe('{"ok":true}');
    revisions.invalidate();
    expect(cache.peek("/a")).toBeUndefined();
    await revisions.revision();
    now += 1000;
    expect(cache.peek("/a")).toBeUndefined();
  });
});
