/**
 * The TFTP server against real clients (tftp-hpa, atftp, curl) on 127.0.0.1 and a raw UDP
 * client for the error paths. Every download is compared byte for byte.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeAck, encodeRequest, parseTftp, type TftpPacket } from "./packet.js";
import { type TftpEvent, TftpServer } from "./server.js";

const exec = promisify(execFile);

/** Fails (never skips) when a real client is missing, naming the package to install. */
async function need(cmd: string, pkg: string): Promise<void> {
  try {
    await exec("sh", ["-c", `command -v ${cmd}`]);
  } catch {
    throw new Error(`${cmd} is not installed: apt-get install -y ${pkg}`);
  }
}

const SIZES: [string, number][] = [
  ["empty", 0],
  ["s511", 511],
  ["s512", 512],
  ["s513", 513],
  ["s850k", 850 * 1024],
];
const BIG = 33 * 1024 * 1024 + 12_345; // > 65535 blocks at blksize 512: the block number wraps

let dir: string;
let root: string;
let out: string;
let server: TftpServer;
let port: number;
const events: TftpEvent[] = [];
const files = new Map<string, Buffer>();

beforeAll(async () => {
  await need("tftp", "tftp-hpa");
  await need("atftp", "atftp");
  await need("curl", "curl");
  dir = await mkdtemp(join(tmpdir(), "lab-tftp-"));
  root = join(dir, "root");
  out = join(dir, "out");
  await mkdir(join(root, "sub"), { recursive: true });
  await mkdir(out);
  for (const [name, size] of SIZES) files.set(name, randomBytes(size));
  files.set("big", randomBytes(BIG));
  files.set("sub/nested.cfg", Buffer.from("line one\nline two\r\nend\n"));
  for (const [name, data] of files) await writeFile(join(root, name), data);
  await writeFile(join(dir, "secret"), "outside the root");
  await symlink(join(dir, "secret"), join(root, "escape"));
  server = new TftpServer({
    root,
    host: "127.0.0.1",
    port: 0,
    timeoutMs: 300,
    maxRetries: 3,
    resolve: (p) => (p === "mapped.bin" ? join(dir, "secret") : undefined),
    onEvent: (e) => events.push(e),
  });
  ({ port } = await server.start());
}, 120_000);

afterAll(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function downloaded(path: string): Promise<Buffer> {
  // curl 7.88 does not create the output file for an empty download.
  return readFile(path).catch(() => Buffer.alloc(0));
}

const clients: [string, (file: string, dest: string) => Promise<unknown>][] = [
  [
    "tftp-hpa",
    (file, dest) => exec("tftp", ["-m", "binary", "127.0.0.1", String(port), "-c", "get", file, dest]),
  ],
  [
    "atftp blksize 1468 windowsize 8",
    (file, dest) =>
      exec("atftp", [
        "--option",
        "blksize 1468",
        "--option",
        "windowsize 8",
        "-g",
        "-r",
        file,
        "-l",
        dest,
        "127.0.0.1",
        String(port),
      ]),
  ],
  [
    "atftp (no options)",
    (file, dest) => exec("atftp", ["-g", "-r", file, "-l", dest, "127.0.0.1", String(port)]),
  ],
  ["curl", (file, dest) => exec("curl", ["-sS", "-o", dest, `tftp://127.0.0.1:${port}/${file}`])],
  [
    "curl --tftp-blksize 1468",
    (file, dest) =>
      exec("curl", ["-sS", "--tftp-blksize", "1468", "-o", dest, `tftp://127.0.0.1:${port}/${file}`]),
  ],
];

describe("TftpServer with real clients", () => {
  for (const [client, get] of clients) {
    for (const [name] of SIZES) {
      it(`${client} downloads ${name} byte for byte`, async () => {
        const dest = join(out, `${client.replace(/\W+/g, "_")}-${name}`);
        await get(name, dest);
        expect((await downloaded(dest)).equals(files.get(name) as Buffer)).toBe(true);
      });
    }
  }

  for (const [client, get] of clients.filter(([c]) => c === "tftp-hpa" || c === "curl")) {
    it(`${client} downloads a ${BIG} byte file at blksize 512 (block numbers wrap past 65535)`, async () => {
      const dest = join(out, `${client}-big`);
      await get("big", dest);
      expect((await readFile(dest)).equals(files.get("big") as Buffer)).toBe(true);
      const done = events.filter((e) => e.file === "big" && e.status === "done");
      expect(done.at(-1)).toMatchObject({ bytes: BIG, blksize: 512, windowsize: 1 });
    }, 120_000);
  }

  it("atftp downloads the big file with windowsize 8 from the streamed (uncached) source", async () => {
    const dest = join(out, "atftp-big");
    await exec("atftp", [
      "--option",
      "blksize 1468",
      "--option",
      "windowsize 8",
      "-g",
      "-r",
      "big",
      "-l",
      dest,
      "127.0.0.1",
      String(port),
    ]);
    expect((await readFile(dest)).equals(files.get("big") as Buffer)).toBe(true);
  }, 120_000);

  it("serves names in a subfolder, with the root's absolute path, and netascii", async () => {
    const a = join(out, "nested-a");
    await exec("curl", ["-sS", "-o", a, `tftp://127.0.0.1:${port}/sub/nested.cfg`]);
    expect(await readFile(a)).toEqual(files.get("sub/nested.cfg"));
    const b = join(out, "nested-b");
    await exec("tftp", ["-m", "binary", "127.0.0.1", String(port), "-c", "get", `${root}/sub/nested.cfg`, b]);
    expect(await readFile(b)).toEqual(files.get("sub/nested.cfg"));
    // tftp-hpa's ascii mode turns netascii CR LF back into LF and CR NUL back into CR.
    const c = join(out, "nested-c");
    await exec("tftp", ["-m", "ascii", "127.0.0.1", String(port), "-c", "get", "sub/nested.cfg", c]);
    expect(await readFile(c, "utf8")).toBe("line one\nline two\r\nend\n");
  });

  it("serves through the resolve() mapping", async () => {
    const dest = join(out, "mapped");
    await exec("curl", ["-sS", "-o", dest, `tftp://127.0.0.1:${port}/mapped.bin`]);
    expect(await readFile(dest, "utf8")).toBe("outside the root");
  });

  it("reports a missing file to curl as TFTP 'not found' (exit 68)", async () => {
    const r = await exec("curl", ["-sS", "-o", join(out, "x"), `tftp://127.0.0.1:${port}/nope.efi`]).catch(
      (e) => e,
    );
    expect(r.code).toBe(68);
  });

  it("emits start and done events with size, time, blksize and windowsize", async () => {
    const dest = join(out, "evt");
    await exec("atftp", [
      "--option",
      "blksize 1468",
      "--option",
      "windowsize 8",
      "-g",
      "-r",
      "s850k",
      "-l",
      dest,
      "127.0.0.1",
      String(port),
    ]);
    const mine = events.filter((e) => e.file === "s850k" && e.windowsize === 8);
    const start = mine.find((e) => e.status === "start");
    const done = mine.find((e) => e.status === "done" && e.client === start?.client);
    expect(start).toMatchObject({ kind: "tftp", status: "start", blksize: 1468, windowsize: 8 });
    expect(start?.client).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(done).toMatchObject({ status: "done", bytes: 850 * 1024, blksize: 1468 });
    expect(typeof done?.ms).toBe("number");
    expect(server.stats().cache.hits).toBeGreaterThan(0);
  });
});

/** A raw UDP client: sends one datagram and collects what comes back. */
class Raw {
  readonly sock: Socket = createSocket("udp4");
  private queue: { pkt: TftpPacket; port: number }[] = [];
  private waiters: ((v: { pkt: TftpPacket; port: number }) => void)[] = [];

  async open(): Promise<this> {
    await new Promise<void>((r) => this.sock.bind(0, "127.0.0.1", r));
    this.sock.on("message", (msg, rinfo) => {
      const item = { pkt: parseTftp(msg), port: rinfo.port };
      const w = this.waiters.shift();
      if (w) w(item);
      else this.queue.push(item);
    });
    return this;
  }

  send(buf: Buffer, to = port): void {
    this.sock.send(buf, to, "127.0.0.1");
  }

  next(ms = 5000): Promise<{ pkt: TftpPacket; port: number }> {
    const q = this.queue.shift();
    if (q) return Promise.resolve(q);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply within ${ms} ms`)), ms);
      this.waiters.push((v) => {
        clearTimeout(timer);
        resolve(v);
      });
    });
  }

  close(): void {
    this.sock.close();
  }
}

describe("TftpServer error packets", () => {
  const cases: [string, Buffer, number][] = [
    ["a missing file → 1", encodeRequest("rrq", "missing.efi"), 1],
    ["a WRQ → 2 (read-only)", encodeRequest("wrq", "upload.bin"), 2],
    ["'..' traversal → 2", encodeRequest("rrq", "../secret"), 2],
    ["nested traversal → 2", encodeRequest("rrq", "sub/../../secret"), 2],
    ["backslash traversal → 2", encodeRequest("rrq", "..\\secret"), 2],
    ["a symlink leading out of the root → 2", encodeRequest("rrq", "escape"), 2],
    ["a directory → 1", encodeRequest("rrq", "sub"), 1],
    ["an unknown opcode → 4", Buffer.from([0, 9, 0x61, 0]), 4],
    ["a truncated request → 4", Buffer.from([0, 1, 0x61]), 4],
    ["mode 'mail' → 4", encodeRequest("rrq", "s511", "mail"), 4],
    ["an ACK on the request port → 4", encodeAck(1), 4],
  ];
  for (const [name, packet, code] of cases) {
    it(`answers ${name}`, async () => {
      const raw = await new Raw().open();
      try {
        raw.send(packet);
        const { pkt } = await raw.next();
        expect(pkt).toMatchObject({ op: "error", code });
      } finally {
        raw.close();
      }
    });
  }

  it("never answers an ERROR sent to the request port", async () => {
    const raw = await new Raw().open();
    try {
      raw.send(Buffer.from([0, 5, 0, 0, 0]));
      await expect(raw.next(500)).rejects.toThrow(/no reply/);
    } finally {
      raw.close();
    }
  });

  it("records refused requests as error events", () => {
    expect(events.find((e) => e.file === "../secret")).toMatchObject({
      status: "error",
      error: expect.stringMatching(/access violation/),
    });
    expect(events.find((e) => e.file === "upload.bin")).toMatchObject({
      status: "error",
      error: expect.stringMatching(/read-only/),
    });
  });
});

describe("TftpServer transfer socket", () => {
  it("answers from a new port, ignores duplicate ACKs and retransmits after a timeout", async () => {
    const raw = await new Raw().open();
    try {
      raw.send(encodeRequest("rrq", "s850k", "octet", [["blksize", "1024"]]));
      const oack = await raw.next();
      expect(oack.pkt).toEqual({ op: "oack", options: new Map([["blksize", "1024"]]) });
      expect(oack.port).not.toBe(port);
      raw.send(encodeAck(0), oack.port);
      expect((await raw.next()).pkt).toMatchObject({ op: "data", block: 1 });
      raw.send(encodeAck(1), oack.port);
      expect((await raw.next()).pkt).toMatchObject({ op: "data", block: 2 });
      raw.send(encodeAck(1), oack.port); // duplicate: must not trigger a resend of block 2 …
      const again = await raw.next(); // … so the next block 2 is the timeout's retransmission
      expect(again.pkt).toMatchObject({ op: "data", block: 2 });
      raw.send(Buffer.from([0, 5, 0, 0, 0x78, 0]), oack.port); // abort the transfer
    } finally {
      raw.close();
    }
  });

  it("goes back to the last ACK on timeout with windowsize 4", async () => {
    const raw = await new Raw().open();
    try {
      raw.send(encodeRequest("rrq", "s850k", "octet", [["windowsize", "4"]]));
      const oack = await raw.next();
      raw.send(encodeAck(0), oack.port);
      const first = [];
      for (let i = 0; i < 4; i++) first.push((await raw.next()).pkt);
      expect(first.map((p) => (p.op === "data" ? p.block : -1))).toEqual([1, 2, 3, 4]);
      raw.send(encodeAck(2), oack.port); // a gap after block 2: the window restarts at 3
      const second = [];
      for (let i = 0; i < 4; i++) second.push((await raw.next()).pkt);
      expect(second.map((p) => (p.op === "data" ? p.block : -1))).toEqual([3, 4, 5, 6]);
      const resent = [];
      for (let i = 0; i < 4; i++) resent.push((await raw.next()).pkt); // no ACK: same window again
      expect(resent.map((p) => (p.op === "data" ? p.block : -1))).toEqual([3, 4, 5, 6]);
      raw.send(Buffer.from([0, 5, 0, 0, 0]), oack.port);
    } finally {
      raw.close();
    }
  });

  it("gives up after maxRetries and reports the failure", async () => {
    const raw = await new Raw().open();
    const addr = raw.sock.address();
    raw.send(encodeRequest("rrq", "s513"));
    await raw.next();
    const client = `127.0.0.1:${addr.port}`;
    for (let i = 0; i < 100 && !events.some((e) => e.client === client && e.status === "error"); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    raw.close();
    expect(events.find((e) => e.client === client && e.status === "error")?.error).toMatch(
      /no ACK for block 1 after 3 retransmissions/,
    );
  });
});
