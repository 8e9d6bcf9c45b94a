import { randomBytes } from "node:crypto";
import { mkdtemp, open, rm, truncate, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileCache, FileChangedError, NetasciiTooBigError, StreamSource, toNetascii } from "./source.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "lab-tftp-src-"));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Reads every block of a source in order, loading when asked, with go-back jumps. */
async function blockAt(src: StreamSource, n: number): Promise<Buffer> {
  let b = src.block(n);
  if (b === null) {
    await src.load(n);
    b = src.block(n);
  }
  if (b === null) throw new Error(`block ${n} still missing after load`);
  return Buffer.from(b);
}

describe("StreamSource", () => {
  it("serves every block in order across chunks, including after going back", async () => {
    const data = randomBytes(100 * 64 + 17);
    const path = join(dir, "stream.bin");
    await writeFile(path, data);
    const fh = await open(path, "r");
    // 64-byte blocks, chunks of 4 blocks: the file spans 26 chunks.
    const src = new StreamSource(fh, data.length, 64, 2, path, 256);
    const last = Math.floor(data.length / 64) + 1;
    const got: Buffer[] = [];
    for (let n = 1; n <= last; n++) got.push(await blockAt(src, n));
    expect(Buffer.concat(got).equals(data)).toBe(true);
    // Far back (evicted long ago): loaded again, same bytes.
    expect((await blockAt(src, 3)).equals(data.subarray(128, 192))).toBe(true);
    expect((await blockAt(src, last)).length).toBe(17);
    await src.close();
    await src.close();
  });

  it("rejects a load when the file shrank under it", async () => {
    const path = join(dir, "shrinks.bin");
    await writeFile(path, randomBytes(4096));
    const fh = await open(path, "r");
    const src = new StreamSource(fh, 4096, 512, 1, path, 1024);
    await truncate(path, 100);
    await expect(src.load(5)).rejects.toBeInstanceOf(FileChangedError);
    await src.close();
  });
});

describe("FileCache", () => {
  it("caches small files by path + mtime + size and streams big ones", async () => {
    const cache = new FileCache(1000, 5000);
    const small = join(dir, "small.bin");
    const big = join(dir, "big.bin");
    await writeFile(small, randomBytes(500));
    await writeFile(big, randomBytes(2000));
    expect((await cache.open(small, false)).cached).toBe(true);
    expect((await cache.open(small, false)).cached).toBe(true);
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, files: 1, bytes: 500 });
    const streamed = await cache.open(big, false);
    expect(streamed.cached).toBe(false);
    await streamed.discard();
    // A new mtime means new bytes: a miss, never the old copy.
    const fresh = randomBytes(500);
    await writeFile(small, fresh);
    await utimes(small, new Date(), new Date(Date.now() + 5000));
    const reopened = await cache.open(small, false);
    expect(cache.stats().misses).toBe(2);
    const src = reopened.source(512, 1);
    expect(Buffer.from(src.block(1) as Buffer).equals(fresh)).toBe(true);
  });

  it("evicts the least recently used files beyond its byte limit", async () => {
    const cache = new FileCache(1000, 1000);
    for (const name of ["a", "b", "c"]) await writeFile(join(dir, name), randomBytes(400));
    await cache.open(join(dir, "a"), false);
    await cache.open(join(dir, "b"), false);
    await cache.open(join(dir, "a"), false); // a is now the most recent
    await cache.open(join(dir, "c"), false); // 1200 bytes: b goes
    expect(cache.stats()).toMatchObject({ files: 2, bytes: 800 });
    await cache.open(join(dir, "a"), false);
    expect(cache.stats().hits).toBe(2);
  });

  it("converts netascii in memory and refuses it for big files", async () => {
    const cache = new FileCache(100, 1000);
    const text = join(dir, "text.cfg");
    await writeFile(text, "a\nb\rc");
    const opened = await cache.open(text, true);
    expect(opened.size).toBe(7);
    expect(opened.source(512, 1).block(1)?.toString("latin1")).toBe("a\r\nb\r\0c");
    await writeFile(join(dir, "bigtext"), "x".repeat(200));
    await expect(cache.open(join(dir, "bigtext"), true)).rejects.toBeInstanceOf(NetasciiTooBigError);
    expect(toNetascii(Buffer.from("plain"))).toEqual(Buffer.from("plain"));
  });

  it("reports a directory as not a file and a missing path as ENOENT", async () => {
    const cache = new FileCache();
    await expect(cache.open(dir, false)).rejects.toMatchObject({ code: "ENOTFILE" });
    await expect(cache.open(join(dir, "nope"), false)).rejects.toMatchObject({ code: "ENOENT" });
  });
});
