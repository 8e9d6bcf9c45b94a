import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { encodeOack, parseTftp, type TftpPacket } from "./packet.js";
import { type BlockSource, MemorySource } from "./source.js";
import { type Datagram, ReadTransfer, type Step } from "./transfer.js";

const ack = (block: number): TftpPacket => ({ op: "ack", block: block & 0xffff });

function decode(d: Datagram): TftpPacket {
  return parseTftp(Array.isArray(d) ? Buffer.concat(d) : d);
}

/** Block numbers of the DATA packets in a step. */
function blocks(step: Step): number[] {
  return step.send.map(decode).map((p) => (p.op === "data" ? p.block : -1));
}

function transfer(
  size: number,
  blksize: number,
  windowsize = 1,
  extra: { oack?: Buffer; maxRetries?: number } = {},
) {
  const file = randomBytes(size);
  const t = new ReadTransfer(new MemorySource(file, blksize), {
    blksize,
    windowsize,
    maxRetries: 3,
    ...extra,
  });
  return { file, t };
}

/**
 * A well-behaved RFC 7440 receiver: takes blocks in order, ACKs the last block of each window
 * (and the final short block), reports a gap by ACKing the last block it has in order.
 */
function receive(t: ReadTransfer, first: Step, blksize: number, windowsize: number) {
  const got: Buffer[] = [];
  let expected = 1;
  let inWindow = 0;
  let step = first;
  const wires: number[] = [];
  for (let guard = 0; guard < 1e7 && !step.end; guard++) {
    let reply: number | undefined;
    for (const d of step.send) {
      const p = decode(d);
      if (p.op !== "data") throw new Error(`unexpected ${p.op}`);
      wires.push(p.block);
      if (p.block !== (expected & 0xffff)) {
        reply = expected - 1;
        inWindow = 0;
        break;
      }
      got.push(p.data);
      expected++;
      inWindow++;
      if (p.data.length < blksize || inWindow === windowsize) {
        reply = expected - 1;
        inWindow = 0;
      }
    }
    if (reply === undefined) throw new Error("receiver has nothing to acknowledge");
    step = t.onPacket(ack(reply));
  }
  return { data: Buffer.concat(got), end: step.end, wires };
}

describe("ReadTransfer, lockstep (RFC 1350)", () => {
  const sizes: [string, number, number][] = [
    ["empty file: one empty block", 0, 1],
    ["511 bytes: one short block", 511, 1],
    ["512 bytes: a full block then an empty one", 512, 2],
    ["513 bytes: two blocks", 513, 2],
    ["1024 bytes: two full blocks then an empty one", 1024, 3],
  ];
  for (const [name, size, count] of sizes) {
    it(name, () => {
      const { file, t } = transfer(size, 512);
      expect(t.lastBlock).toBe(count);
      const r = receive(t, t.start(), 512, 1);
      expect(r.end).toEqual({ ok: true });
      expect(r.data.equals(file)).toBe(true);
      expect(r.wires).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    });
  }

  it("never answers a duplicate ACK (Sorcerer's Apprentice)", () => {
    const { t } = transfer(2000, 512);
    expect(blocks(t.start())).toEqual([1]);
    expect(blocks(t.onPacket(ack(1)))).toEqual([2]);
    const dup = t.onPacket(ack(1));
    expect(dup.send).toEqual([]);
    expect(dup.arm).toBe(false);
    expect(blocks(t.onPacket(ack(2)))).toEqual([3]);
  });

  it("ignores ACKs for blocks not sent yet", () => {
    const { t } = transfer(5000, 512);
    t.start();
    expect(t.onPacket(ack(7)).send).toEqual([]);
    expect(t.acked).toBe(0);
  });

  it("resends the block on timeout and gives up after maxRetries", () => {
    const { t } = transfer(2000, 512, 1, { maxRetries: 2 });
    t.start();
    t.onPacket(ack(1));
    const r1 = t.onTimeout();
    expect(blocks(r1)).toEqual([2]);
    expect(r1.resent).toBe(1);
    expect(blocks(t.onTimeout())).toEqual([2]);
    const last = t.onTimeout();
    expect(last.end).toEqual({ ok: false, reason: "no ACK for block 2 after 2 retransmissions" });
    expect(t.finished).toBe(true);
    expect(t.onPacket(ack(2)).send).toEqual([]);
  });

  it("stops without answering when the client sends an ERROR", () => {
    const { t } = transfer(2000, 512);
    t.start();
    const s = t.onPacket({ op: "error", code: 8, message: "bad options" });
    expect(s.send).toEqual([]);
    expect(s.end).toEqual({ ok: false, reason: "client sent error 8: bad options" });
  });

  it("answers DATA from the client with error 4 and ends", () => {
    const { t } = transfer(2000, 512);
    t.start();
    const s = t.onPacket({ op: "data", block: 1, data: Buffer.alloc(1) });
    expect(s.send.map(decode)).toEqual([{ op: "error", code: 4, message: "unexpected DATA" }]);
    expect(s.end?.ok).toBe(false);
  });
});

describe("ReadTransfer with an OACK (RFC 2347)", () => {
  it("sends the OACK, waits for ACK 0, resends the OACK on timeout", () => {
    const oack = encodeOack([["blksize", "1024"]]);
    const { file, t } = transfer(3000, 1024, 1, { oack });
    expect(t.start().send).toEqual([oack]);
    expect(t.onPacket(ack(1)).send).toEqual([]);
    expect(t.onTimeout().send).toEqual([oack]);
    const r = receive(t, t.onPacket(ack(0)), 1024, 1);
    expect(r.data.equals(file)).toBe(true);
  });

  it("fails when the OACK is never acknowledged", () => {
    const { t } = transfer(10, 512, 1, { oack: encodeOack([["tsize", "10"]]), maxRetries: 1 });
    t.start();
    t.onTimeout();
    expect(t.onTimeout().end).toEqual({ ok: false, reason: "no ACK for the OACK after 1 retransmissions" });
  });
});

describe("ReadTransfer with windowsize (RFC 7440)", () => {
  it("sends a whole window and moves on at the ACK of its last block", () => {
    const { t } = transfer(512 * 10, 512, 4);
    expect(blocks(t.start())).toEqual([1, 2, 3, 4]);
    expect(blocks(t.onPacket(ack(4)))).toEqual([5, 6, 7, 8]);
    expect(blocks(t.onPacket(ack(8)))).toEqual([9, 10, 11]);
    expect(t.onPacket(ack(11)).end).toEqual({ ok: true });
  });

  it("restarts the window after the block a receiver reports (a gap)", () => {
    const { t } = transfer(512 * 10, 512, 4);
    t.start();
    const s = t.onPacket(ack(2));
    expect(blocks(s)).toEqual([3, 4, 5, 6]);
    expect(s.resent).toBe(2);
  });

  it("goes back to the last ACK on timeout (go-back-N)", () => {
    const { t } = transfer(512 * 10, 512, 4);
    t.start();
    t.onPacket(ack(4));
    const s = t.onTimeout();
    expect(blocks(s)).toEqual([5, 6, 7, 8]);
    expect(s.resent).toBe(4);
  });

  it("ignores a duplicate ACK of the window start", () => {
    const { t } = transfer(512 * 10, 512, 4);
    t.start();
    t.onPacket(ack(4));
    expect(t.onPacket(ack(4)).send).toEqual([]);
  });

  for (const w of [2, 3, 8, 16]) {
    it(`delivers every byte at windowsize ${w}`, () => {
      const { file, t } = transfer(100_003, 1468, w);
      const r = receive(t, t.start(), 1468, w);
      expect(r.end).toEqual({ ok: true });
      expect(r.data.equals(file)).toBe(true);
    });
  }
});

describe("ReadTransfer block number rollover", () => {
  // 70,000 blocks of 8 bytes: past 65,535 the wire number wraps to 0 (as tftp-hpa, curl, iPXE expect).
  for (const w of [1, 16]) {
    it(`wraps 65535 → 0 and keeps the data in order at windowsize ${w}`, () => {
      const { file, t } = transfer(8 * 70_000 + 3, 8, w);
      const r = receive(t, t.start(), 8, w);
      expect(r.end).toEqual({ ok: true });
      expect(r.data.equals(file)).toBe(true);
      const i = r.wires.indexOf(65535);
      expect(r.wires.slice(i, i + 3)).toEqual([65535, 0, 1]);
    });
  }

  it("maps an ACK after the wrap onto the right block", () => {
    const { t } = transfer(8 * 70_000, 8, 1);
    t.start();
    for (let n = 1; n <= 65535; n++) t.onPacket(ack(n));
    expect(blocks(t.onPacket(ack(65535)))).toEqual([]);
    expect(t.acked).toBe(65535);
    expect(blocks(t.onPacket(ack(0)))).toEqual([1]);
    expect(t.acked).toBe(65536);
  });
});

describe("ReadTransfer with data that must be loaded first", () => {
  it("asks for a load, then resumes the window where it stopped", () => {
    const file = randomBytes(512 * 6);
    const loaded = new Set<number>([1, 2]);
    const source: BlockSource = {
      size: file.length,
      block: (n) => (loaded.has(n) ? file.subarray((n - 1) * 512, n * 512) : null),
      load: async (n) => {
        loaded.add(n);
      },
      close: async () => undefined,
    };
    const t = new ReadTransfer(source, { blksize: 512, windowsize: 4, maxRetries: 3 });
    const s = t.start();
    expect(blocks(s)).toEqual([1, 2]);
    expect(s.load).toBe(3);
    loaded.add(3);
    loaded.add(4);
    expect(blocks(t.resume())).toEqual([3, 4]);
    expect(t.resume().send).toEqual([]);
  });
});
