/**
 * The state machine of one read transfer, without sockets or timers: the caller feeds it
 * packets and timeouts and carries out the returned step (send these datagrams, load data,
 * re-arm the timer, finish). Windows follow RFC 7440: send `windowsize` blocks, wait for the
 * ACK of the last one; an ACK inside the window moves the window start there (the receiver saw
 * a gap) and on timeout the whole window from the last ACK is sent again (go-back-N).
 */
import type { TftpPacket } from "./packet.js";
import { dataHeader, encodeError, TFTP_ERR } from "./packet.js";
import type { BlockSource } from "./source.js";

export interface TransferParams {
  blksize: number;
  windowsize: number;
  /** Retransmissions of the same window before the transfer is given up. */
  maxRetries: number;
  /** The encoded OACK when options were accepted; the transfer then waits for ACK 0 first. */
  oack?: Buffer;
}

/** One datagram: a single Buffer, or header + payload sent together without copying. */
export type Datagram = Buffer | [Buffer, Buffer];

export interface Step {
  send: Datagram[];
  /** Load this block with `source.load` and then call `resume()`. */
  load?: number;
  /** Re-arm the retransmission timer (something new was sent). */
  arm: boolean;
  /** Set when the transfer is over. */
  end?: { ok: true } | { ok: false; reason: string };
  /** Blocks sent again (a timeout or a gap the receiver reported). */
  resent: number;
  /** Payload bytes in `send` (DATA only). */
  bytes: number;
}

type Phase = "oack" | "data" | "done";

/** A read transfer's protocol state; see the module comment. */
export class ReadTransfer {
  private phase: Phase;
  /** Absolute number of the last block the client acknowledged. */
  private base = 0;
  /** Highest block sent so far: no ACK can be above it, and sending one at or below it again is a retransmission. */
  private highest = 0;
  /** Where sending stopped for lack of loaded data. */
  private pending: number | undefined;
  private retries = 0;
  /** Total number of DATA blocks: the last one is shorter than blksize (possibly empty). */
  readonly lastBlock: number;

  constructor(
    private readonly source: BlockSource,
    private readonly p: TransferParams,
  ) {
    this.lastBlock = Math.floor(source.size / p.blksize) + 1;
    this.phase = p.oack ? "oack" : "data";
  }

  /** True once the transfer has ended (either way). */
  get finished(): boolean {
    return this.phase === "done";
  }

  /** Absolute number of the last acknowledged block. */
  get acked(): number {
    return this.base;
  }

  /** The first step: the OACK, or the first window of data. */
  start(): Step {
    if (this.p.oack) return { send: [this.p.oack], arm: true, resent: 0, bytes: 0 };
    return this.send(1);
  }

  /** Handles a packet from the client (already checked to come from its address and port). */
  onPacket(pkt: TftpPacket): Step {
    if (this.phase === "done") return idle();
    switch (pkt.op) {
      case "ack":
        return this.onAck(pkt.block);
      case "error":
        // The client gave up (or refused our options with code 8): stop without answering.
        return this.finish(false, `client sent error ${pkt.code}${pkt.message ? `: ${pkt.message}` : ""}`);
      default: {
        const step = this.finish(false, `client sent ${pkt.op.toUpperCase()} during a read transfer`);
        step.send.push(encodeError(TFTP_ERR.ILLEGAL_OPERATION, `unexpected ${pkt.op.toUpperCase()}`));
        return step;
      }
    }
  }

  /** The retransmission timer fired without progress. */
  onTimeout(): Step {
    if (this.phase === "done") return idle();
    this.retries++;
    if (this.retries > this.p.maxRetries) {
      const what = this.phase === "oack" ? "the OACK" : `block ${this.base + 1}`;
      return this.finish(false, `no ACK for ${what} after ${this.p.maxRetries} retransmissions`);
    }
    if (this.phase === "oack" && this.p.oack) return { send: [this.p.oack], arm: true, resent: 0, bytes: 0 };
    return this.send(this.base + 1);
  }

  /** Continues a window that stopped for data (after `source.load` resolved). */
  resume(): Step {
    if (this.phase !== "data" || this.pending === undefined) return idle();
    return this.send(this.pending);
  }

  private onAck(wire: number): Step {
    if (this.phase === "oack") {
      if (wire !== 0) return idle();
      this.phase = "data";
      this.retries = 0;
      return this.send(1);
    }
    // Map the 16-bit number onto the blocks sent but not acknowledged, (base, highest] (never
    // more than one window, so the mapping is unique across wrap-around); anything else is a
    // duplicate or stale ACK and is ignored, never answered (Sorcerer's Apprentice).
    const d = (wire - this.base) & 0xffff;
    if (d === 0 || d > this.highest - this.base) return idle();
    this.base += d;
    this.retries = 0;
    if (this.base >= this.lastBlock) return this.finish(true);
    return this.send(this.base + 1);
  }

  /** Sends the window (base, base + windowsize] from `from` on, as far as data is loaded. */
  private send(from: number): Step {
    const step: Step = { send: [], arm: true, resent: 0, bytes: 0 };
    const end = Math.min(this.base + this.p.windowsize, this.lastBlock);
    this.pending = undefined;
    for (let n = from; n <= end; n++) {
      const data = this.source.block(n);
      if (data === null) {
        this.pending = n;
        step.load = n;
        break;
      }
      step.send.push([dataHeader(n), data]);
      step.bytes += data.length;
      if (n <= this.highest) step.resent++;
      else this.highest = n;
    }
    // Only a window that sent something restarts the clock; a stalled load keeps the old one.
    step.arm = step.send.length > 0;
    return step;
  }

  private finish(ok: boolean, reason = ""): Step {
    this.phase = "done";
    this.pending = undefined;
    return { send: [], arm: false, resent: 0, bytes: 0, end: ok ? { ok: true } : { ok: false, reason } };
  }
}

function idle(): Step {
  return { send: [], arm: false, resent: 0, bytes: 0 };
}
