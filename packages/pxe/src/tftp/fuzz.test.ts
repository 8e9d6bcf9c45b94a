/**
 * Fuzzing with a seeded PRNG: mutated and truncated packets go into the parser, the request
 * planner, the transfer state machine and a running server. Only LabError may come out, and a
 * real client must still download correctly afterwards.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { isLabError } from "@lab/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeAck, encodeData, encodeError, encodeOack, encodeRequest, parseTftp } from "./packet.js";
import { planRequest, TftpServer } from "./server.js";
import { MemorySource } from "./source.js";
import { ReadTransfer } from "./transfer.js";

const exec = promisify(execFile);

/** mulberry32: small, fast, reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEEDS: Buffer[] = [
  encodeRequest("rrq", "undionly.kpxe"),
  encodeRequest("rrq", "file.bin", "octet", [
    ["blksize", "1468"],
    ["tsize", "0"],
    ["timeout", "1"],
    ["windowsize", "8"],
  ]),
  encodeRequest("rrq", "sub/../file.bin", "netascii"),
  encodeRequest("wrq", "file.bin"),
  encodeAck(1),
  encodeData(7, Buffer.from("payload")),
  encodeError(1, "File not found"),
  encodeOack([["blksize", "512"]]),
];

/** One mutated packet: bit flips, byte changes, truncation, insertion, NUL games, or noise. */
function mutate(rand: () => number): Buffer {
  const int = (n: number) => Math.floor(rand() * n);
  const seed = SEEDS[int(SEEDS.length)] as Buffer;
  let b: Buffer = Buffer.from(seed);
  const rounds = 1 + int(4);
  for (let r = 0; r < rounds; r++) {
    switch (int(7)) {
      case 0:
        if (b.length) {
          const at = int(b.length);
          b[at] = (b[at] as number) ^ (1 << int(8));
        }
        break;
      case 1:
        if (b.length) b[int(b.length)] = int(256);
        break;
      case 2:
        b = b.subarray(0, int(b.length + 1));
        break;
      case 3: {
        const at = int(b.length + 1);
        b = Buffer.concat([b.subarray(0, at), randomBytesFrom(rand, 1 + int(16)), b.subarray(at)]);
        break;
      }
      case 4:
        if (b.length) b[int(b.length)] = 0;
        break;
      case 5:
        if (b.length >= 2) b.writeUInt16BE(int(9), 0);
        break;
      default:
        b = randomBytesFrom(rand, int(64));
    }
  }
  return b;
}

function randomBytesFrom(rand: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

const N = 100_000;

describe("TFTP fuzzing (seeded)", () => {
  it(`${N} mutated packets: parseTftp throws nothing but LabError, planRequest never throws`, () => {
    const rand = prng(0x1ab7f7);
    let parsed = 0;
    let rejected = 0;
    const traversals: string[] = [];
    for (let i = 0; i < N; i++) {
      const pkt = mutate(rand);
      try {
        parseTftp(pkt);
        parsed++;
      } catch (e) {
        if (!isLabError(e) || e.code !== "LAB_E_TFTP_MALFORMED") throw e;
        rejected++;
      }
      const plan = planRequest(pkt, "/srv/tftp");
      if (plan.kind === "read" && plan.rel.split("/").includes("..")) traversals.push(plan.filename);
    }
    expect(traversals).toEqual([]);
    // Both paths were exercised, so the mutations are neither all valid nor all garbage.
    expect(parsed).toBeGreaterThan(N / 10);
    expect(rejected).toBeGreaterThan(N / 10);
  });

  it(`${N} mutated packets into running transfers: no throw, and only DATA inside the window goes out`, () => {
    const rand = prng(42);
    const file = randomBytes(64 * 1024 + 5);
    const W = 4;
    const fresh = () => {
      const t = new ReadTransfer(new MemorySource(file, 512), { blksize: 512, windowsize: W, maxRetries: 5 });
      t.start();
      return t;
    };
    let t = fresh();
    let finished = 0;
    for (let i = 0; i < N; i++) {
      let pkt: ReturnType<typeof parseTftp>;
      try {
        pkt = parseTftp(mutate(rand));
      } catch {
        continue;
      }
      const before = t.acked;
      const step = rand() < 0.01 ? t.onTimeout() : t.onPacket(pkt);
      expect(t.acked).toBeGreaterThanOrEqual(before);
      expect(t.acked).toBeLessThanOrEqual(t.lastBlock);
      for (const d of step.send) {
        const out = parseTftp(Array.isArray(d) ? Buffer.concat(d) : d);
        if (out.op === "data") {
          const ahead = (out.block - t.acked) & 0xffff;
          expect(ahead >= 1 && ahead <= W).toBe(true);
        } else expect(out.op).toBe("error");
      }
      if (t.finished) {
        finished++;
        t = fresh();
      }
    }
    expect(finished).toBeGreaterThan(0);
  });
});

describe("TFTP server under a packet flood", () => {
  let dir: string;
  let server: TftpServer;
  let port: number;
  const file = randomBytes(300_000);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "lab-tftp-fuzz-"));
    await writeFile(join(dir, "file.bin"), file);
    await writeFile(join(dir, "undionly.kpxe"), file.subarray(0, 1000));
    server = new TftpServer({ root: dir, host: "127.0.0.1", port: 0, timeoutMs: 200, maxRetries: 1 });
    ({ port } = await server.start());
  });

  afterAll(async () => {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("survives 100,000 mutated datagrams and still serves curl byte for byte", async () => {
    const rand = prng(7);
    const sock = createSocket("udp4");
    await new Promise<void>((r) => sock.bind(0, "127.0.0.1", r));
    sock.on("message", () => undefined);
    for (let i = 0; i < N; i++) {
      sock.send(mutate(rand), port, "127.0.0.1");
      // Let the server drain now and then so the flood measures handling, not socket drops.
      if (i % 200 === 199) await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 200));
    sock.close();
    const s = server.stats();
    expect(s.requests).toBeGreaterThan(1000);
    expect(s.badPackets).toBeGreaterThan(100);
    const dest = join(dir, "after-flood");
    await exec("curl", ["-sS", "--tftp-blksize", "1468", "-o", dest, `tftp://127.0.0.1:${port}/file.bin`]);
    expect((await readFile(dest)).equals(file)).toBe(true);
  }, 120_000);
});
