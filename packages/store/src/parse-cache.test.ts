import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { diskParseCache, memoryParseCache } from "./parse-cache.js";

const file = (text: string, path = "fleet/servers.yaml") => ({ path, text });

describe("diskParseCache", () => {
  it("keeps one entry per path, answers only for the same text, and treats damage as a miss", () => {
    const dir = join(mkdtempSync(join(tmpdir(), "lab-parse-cache-")), "parse");
    const cache = diskParseCache(dir);
    expect(cache.get(file("a"))).toBeUndefined();
    cache.set(file("a"), "A");
    expect(cache.get(file("a"))).toBe("A");
    expect(cache.get(file("b"))).toBeUndefined();
    cache.set(file("b"), "B");
    expect(cache.get(file("a"))).toBeUndefined();
    expect(readdirSync(dir)).toHaveLength(1);
    writeFileSync(join(dir, readdirSync(dir)[0] as string), "{damaged");
    expect(cache.get(file("b"))).toBeUndefined();
  });
});

describe("memoryParseCache", () => {
  it("forgets the least recently used path beyond its bound", () => {
    const cache = memoryParseCache(2);
    cache.set(file("1", "a"), "A");
    cache.set(file("1", "b"), "B");
    expect(cache.get(file("1", "a"))).toBe("A");
    cache.set(file("1", "c"), "C");
    expect(cache.get(file("1", "b"))).toBeUndefined();
    expect(cache.get(file("1", "a"))).toBe("A");
    expect(cache.get(file("1", "c"))).toBe("C");
  });
});
