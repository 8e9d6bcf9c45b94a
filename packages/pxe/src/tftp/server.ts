/**
 * Lab's read-only TFTP server. Requests arrive on the well-known port; each accepted read gets
 * its own ephemeral, connected socket (the TID of RFC 1350), driven by the pure ReadTransfer
 * state machine. Bad packets are counted, logged (rate-limited) and answered at most with a
 * small ERROR packet; nothing a client sends can throw out of the socket loop.
 */
import type { RemoteInfo, Socket } from "node:dgram";
import { createSocket } from "node:dgram";
import { realpath, stat } from "node:fs/promises";
import { isIPv6 } from "node:net";
import { performance } from "node:perf_hooks";
import { isLabError, LabError } from "@lab/core";
import { negotiate } from "./options.js";
import type { TftpOptions } from "./packet.js";
import { encodeError, encodeOack, parseTftp, TFTP_ERR } from "./packet.js";
import { checkTftpName, fsError, lookupTftpFile } from "./path.js";
import type { FileCacheStats } from "./source.js";
import { FileCache, FileChangedError, NetasciiTooBigError } from "./source.js";
import type { Step } from "./transfer.js";
import { ReadTransfer } from "./transfer.js";

/** One line of a machine's boot timeline. */
export interface TftpEvent {
  kind: "tftp";
  /** `ip:port` of the client (`[ip]:port` for IPv6). */
  client: string;
  file: string;
  status: "start" | "done" | "error";
  bytes?: number;
  ms?: number;
  blksize?: number;
  windowsize?: number;
  error?: string;
}

export interface TftpServerOptions {
  /** Folder files are served from. */
  root: string;
  /** Maps a checked, root-relative name to an absolute file, or undefined to use the root. */
  resolve?: (path: string) => string | undefined;
  /** Address to listen on (default 0.0.0.0). */
  host?: string;
  /** Port to listen on (default 69; 0 picks a free one). */
  port?: number;
  /** Largest blksize granted (default 65464, the RFC 2348 maximum). */
  maxBlksize?: number;
  /** Largest windowsize granted (default 64). */
  maxWindowsize?: number;
  /** Retransmission timeout when the client does not negotiate one (default 1000 ms). */
  timeoutMs?: number;
  /** Retransmissions of one window before giving up (default 5). */
  maxRetries?: number;
  /** Concurrent transfers; more are refused with "server busy" (default 512). */
  maxTransfers?: number;
  /** Files smaller than this are cached in memory (default 16 MiB). */
  cacheFileBytes?: number;
  /** Total bytes of the memory cache (default 64 MiB: boot loaders are small). */
  cacheBytes?: number;
  /** SO_RCVBUF / SO_SNDBUF asked for on every socket (default 4 MiB; the kernel may cap it). */
  socketBufferBytes?: number;
  /** ERROR replies per second to bad requests (default 500), so spoofed floods cannot use us. */
  maxErrorRepliesPerSecond?: number;
  /** Called for every transfer's start, end or failure. */
  onEvent?: (event: TftpEvent) => void;
  /** Called for bad packets and socket trouble (rate-limited). */
  log?: (message: string) => void;
}

export interface TftpStats {
  requests: number;
  active: number;
  started: number;
  completed: number;
  failed: number;
  /** Requests answered with an ERROR packet (missing file, WRQ, traversal, malformed). */
  refused: number;
  bytesSent: number;
  packetsSent: number;
  /** DATA blocks sent more than once. */
  retransmits: number;
  badPackets: number;
  errorsSent: number;
  cache: FileCacheStats;
}

/** What to do with one datagram that arrived on the listening port. */
export type RequestPlan =
  | { kind: "ignore"; reason: string }
  | { kind: "refuse"; code: number; message: string; filename?: string; malformed?: boolean }
  | { kind: "read"; filename: string; rel: string; netascii: boolean; options: TftpOptions };

/**
 * Decides what a datagram on the listening port asks for, without touching the file system.
 * Never throws: malformed input becomes a refusal with TFTP error 4.
 */
export function planRequest(buf: Buffer, root: string): RequestPlan {
  let pkt: ReturnType<typeof parseTftp>;
  try {
    pkt = parseTftp(buf);
  } catch (e) {
    if (!isLabError(e)) throw e;
    return { kind: "refuse", code: TFTP_ERR.ILLEGAL_OPERATION, message: e.message, malformed: true };
  }
  switch (pkt.op) {
    case "error":
      // Never answer an ERROR: two servers would bounce errors forever.
      return { kind: "ignore", reason: `ERROR ${pkt.code} on the request port` };
    case "wrq":
      return {
        kind: "refuse",
        code: TFTP_ERR.ACCESS_VIOLATION,
        message: "access violation: this server is read-only",
        filename: pkt.filename,
      };
    case "rrq": {
      if (pkt.mode !== "octet" && pkt.mode !== "netascii") {
        return {
          kind: "refuse",
          code: TFTP_ERR.ILLEGAL_OPERATION,
          message: `unsupported transfer mode "${pkt.mode.slice(0, 32)}"`,
          filename: pkt.filename,
        };
      }
      const name = checkTftpName(root, pkt.filename);
      if (!name.ok) return { kind: "refuse", code: name.code, message: name.message, filename: pkt.filename };
      return {
        kind: "read",
        filename: pkt.filename,
        rel: name.rel,
        netascii: pkt.mode === "netascii",
        options: pkt.options,
      };
    }
    default:
      return {
        kind: "refuse",
        code: TFTP_ERR.ILLEGAL_OPERATION,
        message: `illegal TFTP operation: ${pkt.op.toUpperCase()} sent to the request port`,
      };
  }
}

function clientName(r: { address: string; port: number }): string {
  return isIPv6(r.address) ? `[${r.address}]:${r.port}` : `${r.address}:${r.port}`;
}

interface Active {
  abort(reason: string): void;
}

/** The TFTP server; see the module comment. */
export class TftpServer {
  private readonly o: Required<Omit<TftpServerOptions, "resolve" | "onEvent" | "log">> &
    Pick<TftpServerOptions, "resolve" | "onEvent" | "log">;
  private readonly cache: FileCache;
  private socket: Socket | undefined;
  private rootReal = "";
  private readonly active = new Map<string, Active | null>();
  private closing = false;
  private readonly counters = {
    requests: 0,
    started: 0,
    completed: 0,
    failed: 0,
    refused: 0,
    bytesSent: 0,
    packetsSent: 0,
    retransmits: 0,
    badPackets: 0,
    errorsSent: 0,
  };
  private errorBudget = { second: 0, left: 0 };
  private logBudget = { second: 0, left: 0, suppressed: 0 };

  constructor(options: TftpServerOptions) {
    this.o = {
      host: "0.0.0.0",
      port: 69,
      maxBlksize: 65464,
      maxWindowsize: 64,
      timeoutMs: 1000,
      maxRetries: 5,
      maxTransfers: 512,
      cacheFileBytes: 16 << 20,
      cacheBytes: 64 << 20,
      socketBufferBytes: 4 << 20,
      maxErrorRepliesPerSecond: 500,
      ...options,
    };
    this.cache = new FileCache(this.o.cacheFileBytes, this.o.cacheBytes);
  }

  /** Binds the request port. Throws LAB_E_TFTP_ROOT or LAB_E_TFTP_BIND. */
  async start(): Promise<{ port: number; address: string }> {
    try {
      if (!(await stat(this.o.root)).isDirectory()) throw new Error("not a directory");
      this.rootReal = await realpath(this.o.root);
    } catch (e) {
      throw new LabError(
        "LAB_E_TFTP_ROOT",
        `TFTP root ${this.o.root} is not usable: ${(e as Error).message}`,
      );
    }
    const socket = this.newSocket();
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once("error", reject);
        socket.bind({ port: this.o.port, address: this.o.host, exclusive: true }, () => {
          socket.off("error", reject);
          resolve();
        });
      });
    } catch (e) {
      socket.close();
      throw new LabError(
        "LAB_E_TFTP_BIND",
        `cannot listen for TFTP on ${this.o.host}:${this.o.port}: ${(e as Error).message}`,
      );
    }
    this.tuneBuffers(socket);
    socket.on("message", (msg, rinfo) => this.onRequest(msg, rinfo));
    socket.on("error", (e) => this.warn(`TFTP request socket: ${e.message}`));
    this.socket = socket;
    this.closing = false;
    const addr = socket.address();
    return { port: addr.port, address: addr.address };
  }

  /** Stops listening and aborts the transfers in flight. */
  async close(): Promise<void> {
    this.closing = true;
    for (const t of this.active.values()) t?.abort("server is shutting down");
    const s = this.socket;
    this.socket = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Counters since start, plus the memory cache's. */
  stats(): TftpStats {
    let active = 0;
    for (const t of this.active.values()) if (t) active++;
    return { ...this.counters, active, cache: this.cache.stats() };
  }

  private newSocket(): Socket {
    return createSocket({ type: isIPv6(this.o.host) ? "udp6" : "udp4" });
  }

  private tuneBuffers(s: Socket): void {
    try {
      s.setRecvBufferSize(this.o.socketBufferBytes);
      s.setSendBufferSize(this.o.socketBufferBytes);
    } catch {
      // The kernel refused the size: the defaults still work, only slower under bursts.
    }
  }

  private warn(message: string): void {
    if (!this.o.log) return;
    const now = Math.floor(Date.now() / 1000);
    if (this.logBudget.second !== now) {
      if (this.logBudget.suppressed > 0)
        this.o.log(`${this.logBudget.suppressed} more TFTP warnings suppressed`);
      this.logBudget = { second: now, left: 10, suppressed: 0 };
    }
    if (this.logBudget.left > 0) {
      this.logBudget.left--;
      this.o.log(message);
    } else this.logBudget.suppressed++;
  }

  private emit(event: TftpEvent): void {
    try {
      this.o.onEvent?.(event);
    } catch (e) {
      this.warn(`TFTP onEvent handler threw: ${(e as Error).message}`);
    }
  }

  /** Sends an ERROR from the request port, within the per-second budget. */
  private replyError(rinfo: RemoteInfo, code: number, message: string): void {
    const now = Math.floor(Date.now() / 1000);
    if (this.errorBudget.second !== now)
      this.errorBudget = { second: now, left: this.o.maxErrorRepliesPerSecond };
    if (this.errorBudget.left <= 0 || !this.socket) return;
    this.errorBudget.left--;
    this.counters.errorsSent++;
    this.socket.send(encodeError(code, message), rinfo.port, rinfo.address);
  }

  private onRequest(msg: Buffer, rinfo: RemoteInfo): void {
    this.counters.requests++;
    let plan: RequestPlan;
    try {
      plan = planRequest(msg, this.o.root);
    } catch (e) {
      this.counters.badPackets++;
      this.warn(`TFTP: request from ${clientName(rinfo)} could not be handled: ${(e as Error).message}`);
      return;
    }
    const client = clientName(rinfo);
    if (plan.kind === "ignore") {
      this.counters.badPackets++;
      this.warn(`TFTP: ignored packet from ${client}: ${plan.reason}`);
      return;
    }
    if (plan.kind === "refuse") {
      this.counters.refused++;
      if (plan.malformed) {
        this.counters.badPackets++;
        this.warn(`TFTP: bad packet from ${client}: ${plan.message}`);
      }
      this.replyError(rinfo, plan.code, plan.message);
      if (plan.filename !== undefined) {
        this.emit({ kind: "tftp", client, file: plan.filename, status: "error", error: plan.message });
      }
      return;
    }
    // A client that repeats its RRQ before our first answer arrives must not get two transfers.
    if (this.active.has(client) || this.closing) return;
    if (this.active.size >= this.o.maxTransfers) {
      this.counters.refused++;
      this.replyError(rinfo, TFTP_ERR.NOT_DEFINED, "server busy, try again");
      this.emit({ kind: "tftp", client, file: plan.filename, status: "error", error: "server busy" });
      return;
    }
    this.active.set(client, null);
    this.startTransfer(plan, rinfo, client).catch((e: unknown) => {
      this.active.delete(client);
      this.warn(`TFTP: transfer for ${client} failed to start: ${(e as Error).message}`);
    });
  }

  private refuse(rinfo: RemoteInfo, client: string, file: string, code: number, message: string): void {
    this.active.delete(client);
    this.counters.refused++;
    this.replyError(rinfo, code, message);
    this.emit({ kind: "tftp", client, file, status: "error", error: message });
  }

  private async startTransfer(
    plan: Extract<RequestPlan, { kind: "read" }>,
    rinfo: RemoteInfo,
    client: string,
  ): Promise<void> {
    const file = plan.filename;
    let found: Awaited<ReturnType<typeof lookupTftpFile>>;
    try {
      found = await lookupTftpFile(this.rootReal, plan.rel, this.o.resolve);
    } catch (e) {
      this.refuse(rinfo, client, file, TFTP_ERR.NOT_DEFINED, `server error: ${(e as Error).message}`);
      return;
    }
    if (!found.ok) return this.refuse(rinfo, client, file, found.code, found.message);
    let opened: Awaited<ReturnType<FileCache["open"]>>;
    try {
      opened = await this.cache.open(found.path, plan.netascii);
    } catch (e) {
      const why =
        e instanceof NetasciiTooBigError || e instanceof FileChangedError
          ? { code: TFTP_ERR.NOT_DEFINED, message: e.message.replace(found.path, file) }
          : fsError(e);
      return this.refuse(rinfo, client, file, why.code, why.message);
    }
    if (this.closing) {
      await opened.discard();
      this.active.delete(client);
      return;
    }
    const neg = negotiate(plan.options, opened.size, {
      maxBlksize: this.o.maxBlksize,
      maxWindowsize: this.o.maxWindowsize,
      defaultTimeoutMs: this.o.timeoutMs,
    });
    const source = opened.source(neg.blksize, neg.windowsize);
    const transfer = new ReadTransfer(source, {
      blksize: neg.blksize,
      windowsize: neg.windowsize,
      maxRetries: this.o.maxRetries,
      ...(neg.oack.length > 0 ? { oack: encodeOack(neg.oack) } : {}),
    });

    const sock = this.newSocket();
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once("error", reject);
        sock.bind({ port: 0, address: this.o.host, exclusive: true }, () => {
          sock.connect(rinfo.port, rinfo.address, () => {
            sock.off("error", reject);
            resolve();
          });
        });
      });
    } catch (e) {
      sock.close();
      await source.close();
      return this.refuse(rinfo, client, file, TFTP_ERR.NOT_DEFINED, `server error: ${(e as Error).message}`);
    }
    this.tuneBuffers(sock);

    const t0 = performance.now();
    let bytes = 0;
    let ended = false;
    this.counters.started++;
    this.emit({
      kind: "tftp",
      client,
      file,
      status: "start",
      bytes: opened.size,
      blksize: neg.blksize,
      windowsize: neg.windowsize,
    });

    const finish = (ok: boolean, reason?: string): void => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      sock.close();
      void source.close();
      this.active.delete(client);
      const ms = Math.round((performance.now() - t0) * 10) / 10;
      if (ok) {
        this.counters.completed++;
        this.emit({
          kind: "tftp",
          client,
          file,
          status: "done",
          bytes,
          ms,
          blksize: neg.blksize,
          windowsize: neg.windowsize,
        });
      } else {
        this.counters.failed++;
        this.emit({
          kind: "tftp",
          client,
          file,
          status: "error",
          bytes,
          ms,
          blksize: neg.blksize,
          windowsize: neg.windowsize,
          error: reason ?? "transfer failed",
        });
      }
    };

    const apply = (step: Step): void => {
      if (ended) return;
      try {
        for (const d of step.send) {
          sock.send(d);
          this.counters.packetsSent++;
        }
      } catch (e) {
        // Only a closed or broken socket throws here; the transfer cannot go on.
        finish(false, `send failed: ${(e as Error).message}`);
        return;
      }
      bytes += step.bytes;
      this.counters.bytesSent += step.bytes;
      this.counters.retransmits += step.resent;
      if (step.arm) timer.refresh();
      if (step.load !== undefined) {
        source.load(step.load).then(
          () => apply(transfer.resume()),
          (e: unknown) => {
            if (ended) return;
            apply({
              send: [encodeError(TFTP_ERR.NOT_DEFINED, "server error: file could not be read")],
              arm: false,
              resent: 0,
              bytes: 0,
              end: { ok: false, reason: `read error: ${(e as Error).message}` },
            });
          },
        );
      }
      if (step.end) finish(step.end.ok, step.end.ok ? undefined : step.end.reason);
    };

    const timer = setTimeout(function tick() {
      apply(transfer.onTimeout());
    }, neg.timeoutMs);
    timer.unref();

    sock.on("message", (msg) => {
      let pkt: ReturnType<typeof parseTftp>;
      try {
        pkt = parseTftp(msg);
      } catch (e) {
        this.counters.badPackets++;
        this.warn(`TFTP: bad packet from ${client} during transfer: ${(e as Error).message}`);
        return;
      }
      apply(transfer.onPacket(pkt));
    });
    sock.on("error", (e) => {
      // ECONNREFUSED: the client's port is gone (ICMP unreachable); nothing more to send.
      finish(false, `socket error: ${e.message}`);
    });
    this.active.set(client, { abort: (reason) => finish(false, reason) });
    apply(transfer.start());
  }
}
