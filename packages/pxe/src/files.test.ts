/**
 * serveFile and safeJoin behind a node:http server, driven by real curl.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { BootFileCache, bodyBytesSent, parseRange, safeJoin, serveFile } from "./files.js";

const exec = promisify(execFile);

let dir: string;
let root: string;
const servers: Server[] = [];
const memoryCache = new BootFileCache();
/** Every curl test runs against both body paths. */
const MODES: { name: string; cache: BootFileCache | false; base: string }[] = [
  { name: "from disk", cache: false, base: "" },
  { name: "from the memory cache", cache: memoryCache, base: "" },
];
let base: string;
const big = randomBytes(20 * 1024 * 1024 + 333);
const small = Buffer.from("0123456789abcdefghij"); // 20 bytes
/** What bodyBytesSent said of the last response that finished (as a boot timeline asks it). */
let lastSent: number | undefined;

beforeAll(async () => {
  try {
    await exec("sh", ["-c", "command -v curl"]);
  } catch {
    throw new Error("curl is not installed: apt-get install -y curl");
  }
  dir = await mkdtemp(join(tmpdir(), "lab-files-"));
  root = join(dir, "root");
  await mkdir(join(root, "img"), { recursive: true });
  await writeFile(join(root, "img", "initrd.img"), big);
  await writeFile(join(root, "small.txt"), small);
  await writeFile(join(root, "empty.bin"), "");
  await writeFile(join(root, "%2e%2e"), "a file literally named %2e%2e");
  await writeFile(join(dir, "secret"), "outside");
  await symlink(join(dir, "secret"), join(root, "escape"));
  await symlink(join(root, "small.txt"), join(root, "inside-link"));
  for (const mode of MODES) {
    const server = createServer((req, res) => {
      const path = (req.url ?? "/").replace(/^\/files/, "");
      const abs = safeJoin(root, path);
      if (!abs) {
        res.writeHead(404, { "Content-Length": 0 });
        res.end();
        return;
      }
      res.on("finish", () => {
        lastSent = bodyBytesSent(res);
      });
      void serveFile(req, res, abs, { cache: mode.cache });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    servers.push(server);
    mode.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/files`;
  }
  // The memory mode serves everything from the cache from the first request on.
  for (const f of ["img/initrd.img", "small.txt", "empty.bin", "%2e%2e", "inside-link"]) {
    expect(await memoryCache.preload(join(root, f))).toBe(true);
  }
});

afterAll(async () => {
  for (const server of servers) await new Promise((r) => server.close(r));
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface CurlResult {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Runs curl, returning status, lower-cased headers and the body bytes. */
async function curl(path: string, ...args: string[]): Promise<CurlResult> {
  const bodyFile = join(dir, `body-${Math.random().toString(36).slice(2)}`);
  const { stdout } = await exec(
    "curl",
    ["-sS", "--path-as-is", "-D", "-", "-o", bodyFile, ...args, `${base}${path}`],
    { encoding: "latin1", maxBuffer: 1 << 20 },
  );
  const lines = stdout.split("\r\n");
  const status = Number(lines[0]?.split(" ")[1]);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(":");
    if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  const body = await readFile(bodyFile).catch(() => Buffer.alloc(0));
  await rm(bodyFile, { force: true });
  return { status, headers, body };
}

describe.each(MODES)("serveFile with curl, $name", (mode) => {
  beforeAll(() => {
    base = mode.base;
  });

  it("sends the whole file with Content-Length, Accept-Ranges, ETag and Last-Modified", async () => {
    const r = await curl("/img/initrd.img");
    expect(r.status).toBe(200);
    expect(r.headers["content-length"]).toBe(String(big.length));
    expect(r.headers["accept-ranges"]).toBe("bytes");
    expect(r.headers.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect(r.headers["last-modified"]).toMatch(/GMT$/);
    expect(r.headers["content-type"]).toBe("application/octet-stream");
    expect(r.body.equals(big)).toBe(true);
    // What a boot timeline records of the transfer: the bytes written, asked of serveFile.
    await vi.waitFor(() => expect(lastSent).toBe(big.length));
  });

  const ranges: [string, string, number, number][] = [
    ["a-b", "bytes=2-5", 2, 5],
    ["a-", "bytes=15-", 15, 19],
    ["-n", "bytes=-4", 16, 19],
    ["-n larger than the file", "bytes=-100", 0, 19],
    ["b past the end (clamped)", "bytes=10-1000", 10, 19],
    ["one byte", "bytes=0-0", 0, 0],
  ];
  for (const [name, header, start, end] of ranges) {
    it(`answers Range ${name} with 206 and Content-Range`, async () => {
      const r = await curl("/small.txt", "-H", `Range: ${header}`);
      expect(r.status).toBe(206);
      expect(r.headers["content-range"]).toBe(`bytes ${start}-${end}/20`);
      expect(r.headers["content-length"]).toBe(String(end - start + 1));
      expect(r.body.toString()).toBe(small.subarray(start, end + 1).toString());
      await vi.waitFor(() => expect(lastSent).toBe(end - start + 1));
    });
  }

  it("serves a range deep inside a big file (curl -r)", async () => {
    const r = await curl("/img/initrd.img", "-r", "5000000-15000000");
    expect(r.status).toBe(206);
    expect(r.body.equals(big.subarray(5_000_000, 15_000_001))).toBe(true);
    await vi.waitFor(() => expect(lastSent).toBe(10_000_001));
  });

  const unsatisfiable: [string, string, string][] = [
    ["start past the end", "/small.txt", "bytes=20-30"],
    ["suffix of zero bytes", "/small.txt", "bytes=-0"],
    ["any range of an empty file", "/empty.bin", "bytes=0-"],
  ];
  for (const [name, path, header] of unsatisfiable) {
    it(`answers an unsatisfiable range (${name}) with 416 and bytes */size`, async () => {
      const r = await curl(path, "-H", `Range: ${header}`);
      expect(r.status).toBe(416);
      expect(r.headers["content-range"]).toBe(`bytes */${path === "/empty.bin" ? 0 : 20}`);
    });
  }

  const ignored: [string, string][] = [
    ["several ranges", "bytes=0-1,5-6"],
    ["reversed range", "bytes=5-2"],
    ["another unit", "items=0-1"],
    ["garbage", "bytes=abc"],
  ];
  for (const [name, header] of ignored) {
    it(`sends the whole file (200) for ${name}`, async () => {
      const r = await curl("/small.txt", "-H", `Range: ${header}`);
      expect(r.status).toBe(200);
      expect(r.body.equals(small)).toBe(true);
    });
  }

  it("answers 304 to a matching If-None-Match or If-Modified-Since, 200 otherwise", async () => {
    const first = await curl("/small.txt");
    const etag = first.headers.etag as string;
    const lm = first.headers["last-modified"] as string;
    expect((await curl("/small.txt", "-H", `If-None-Match: ${etag}`)).status).toBe(304);
    expect((await curl("/small.txt", "-H", `If-None-Match: "x", W/${etag}`)).status).toBe(304);
    expect((await curl("/small.txt", "-H", `If-Modified-Since: ${lm}`)).status).toBe(304);
    expect((await curl("/small.txt", "-H", 'If-None-Match: "other"')).status).toBe(200);
    expect((await curl("/small.txt", "-H", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT")).status).toBe(
      200,
    );
    const stale = await curl("/small.txt", "-H", 'If-Range: "old"', "-H", "Range: bytes=0-1");
    expect(stale.status).toBe(200);
    const fresh = await curl("/small.txt", "-H", `If-Range: ${etag}`, "-H", "Range: bytes=0-1");
    expect(fresh.status).toBe(206);
  });

  it("answers HEAD with the headers and no body", async () => {
    const r = await curl("/img/initrd.img", "-I");
    expect(r.status).toBe(200);
    expect(r.headers["content-length"]).toBe(String(big.length));
    expect(r.headers["accept-ranges"]).toBe("bytes");
    // curl -I stops after the headers, so count what else arrives on a raw connection.
    const raw = await new Promise<string>((resolve, reject) => {
      const sock = connect(Number(new URL(base).port), "127.0.0.1", () => {
        sock.write("HEAD /files/img/initrd.img HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      });
      let text = "";
      sock.on("data", (d) => (text += d.toString("latin1")));
      sock.on("end", () => resolve(text));
      sock.on("error", reject);
    });
    expect(raw.endsWith("\r\n\r\n")).toBe(true);
    expect(raw).toMatch(new RegExp(`content-length: ${big.length}`, "i"));
  });

  it("refuses other methods with 405", async () => {
    const r = await curl("/small.txt", "-X", "POST", "-d", "x");
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe("GET, HEAD");
  });

  const refused: [string, string][] = [
    ["dot-dot", "/../secret"],
    ["dot-dot in a folder", "/img/../../secret"],
    ["encoded dot-dot", "/%2e%2e/secret"],
    ["encoded slash", "/img%2f..%2f..%2fsecret"],
    ["backslash", "/..%5csecret"],
    ["NUL", "/small.txt%00.png"],
    ["bad escape", "/%zz"],
    ["symlink out of the root", "/escape"],
    ["the root itself", "/"],
    ["a folder", "/img"],
    ["a missing file", "/nope.img"],
  ];
  for (const [name, path] of refused) {
    it(`refuses ${name} (${path}) with 404`, async () => {
      const r = await curl(path);
      expect(r.status).toBe(404);
      expect(r.body.includes(Buffer.from("outside"))).toBe(false);
    });
  }

  it("decodes escapes once: %252e%252e names the file '%2e%2e', not the parent", async () => {
    const r = await curl("/%252e%252e");
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("a file literally named %2e%2e");
  });

  it("follows symlinks that stay inside the root", async () => {
    expect((await curl("/inside-link")).body.equals(small)).toBe(true);
  });

  it("closes every descriptor when clients hang up mid-transfer", async () => {
    const fds = async () => (await readdir("/proc/self/fd")).length;
    const before = await fds();
    // curl reads slowly and gives up after 300 ms, long before 20 MB arrive.
    await Promise.all(
      Array.from({ length: 8 }, () =>
        exec("curl", [
          "-sS",
          "--limit-rate",
          "200k",
          "--max-time",
          "0.3",
          "-o",
          "/dev/null",
          `${base}/img/initrd.img`,
        ]).catch((e) => e),
      ),
    );
    let after = await fds();
    for (let i = 0; i < 50 && after > before; i++) {
      await new Promise((r) => setTimeout(r, 50));
      after = await fds();
    }
    expect(after).toBeLessThanOrEqual(before);
  });
});

describe("BootFileCache", () => {
  const memoryBase = () => MODES[1]?.base as string;

  it("warms on the first GET and then serves from memory", async () => {
    await writeFile(join(root, "warm.bin"), randomBytes(300_000));
    const want = await readFile(join(root, "warm.bin"));
    base = memoryBase();
    const files0 = memoryCache.stats().files;
    expect((await curl("/warm.bin")).body.equals(want)).toBe(true);
    for (let i = 0; i < 100 && memoryCache.stats().files === files0; i++)
      await new Promise((r) => setTimeout(r, 20));
    const hits = memoryCache.stats().hits;
    expect((await curl("/warm.bin")).body.equals(want)).toBe(true);
    expect(memoryCache.stats().hits).toBe(hits + 1);
  });

  it("never serves a stale copy after the file changed on disk", async () => {
    const path = join(root, "changing.txt");
    await writeFile(path, "old content");
    expect(await memoryCache.preload(path)).toBe(true);
    base = memoryBase();
    expect((await curl("/changing.txt")).body.toString()).toBe("old content");
    await writeFile(path, "new content"); // same size, new mtime
    await utimes(path, new Date(), new Date(Date.now() + 5000));
    expect((await curl("/changing.txt")).body.toString()).toBe("new content");
  });

  it("keeps files over its limits on disk and evicts the least recently used", async () => {
    const tiny = new BootFileCache(25, 40);
    expect(await tiny.preload(join(root, "img", "initrd.img"))).toBe(false);
    expect(await tiny.preload(join(root, "small.txt"))).toBe(true); // 20 bytes
    expect(await tiny.preload(join(root, "changing.txt"))).toBe(true); // 11 bytes
    await writeFile(join(root, "third.txt"), "0123456789abcdef"); // 16 bytes: over 40 in total
    expect(await tiny.preload(join(root, "third.txt"))).toBe(true);
    expect(tiny.stats()).toMatchObject({ files: 2, bytes: 27 });
  });
});

describe("parseRange", () => {
  const cases: [string | undefined, number, ReturnType<typeof parseRange>][] = [
    [undefined, 10, undefined],
    ["bytes=0-9", 10, { start: 0, end: 9 }],
    ["bytes = 3 - ", 10, { start: 3, end: 9 }],
    ["BYTES=-3", 10, { start: 7, end: 9 }],
    ["bytes=-", 10, undefined],
    ["bytes=10-", 10, "unsatisfiable"],
    ["bytes=0-0", 0, "unsatisfiable"],
    ["bytes=1-2,4-5", 10, undefined],
  ];
  for (const [header, size, want] of cases) {
    it(`${header ?? "(none)"} of ${size} bytes`, () => {
      expect(parseRange(header, size)).toEqual(want);
    });
  }
});
