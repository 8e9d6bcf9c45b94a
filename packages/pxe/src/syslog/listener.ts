/**
 * The install-log syslog listener: UDP (busybox syslogd, rsyslog `@`, d-i, logger --udp) and
 * TCP on the same port (Anaconda forwards with rsyslog `@@`, i.e. TCP only; RFC 6587 framing,
 * octet-counted or newline-terminated). Messages go to `onMessage` with the sender's address;
 * a handler that throws is logged and the listener carries on.
 *
 * The UDP receive buffer defaults to 8 MiB: the kernel default (~200 KiB) overflows when an
 * installer bursts thousands of lines. Linux caps it at net.core.rmem_max; `stats()` reports
 * the size actually granted and the kernel's drop count for the socket.
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { createServer, isIPv6, type Server, type Socket } from "node:net";
import { LabError } from "@lab/core";
import { parseSyslog, type SyslogMessage } from "./parse.js";

export interface SyslogSender {
  address: string;
  port: number;
  transport: "udp" | "tcp";
}

export interface SyslogListenerOptions {
  /** Address to bind; default 0.0.0.0. */
  address?: string;
  /** Port; 0 picks a free one (the same for UDP and TCP). Default 5514. */
  port?: number;
  /** UDP receive buffer in bytes; default 8 MiB. */
  recvBufferSize?: number;
  /** Also accept TCP (needed for Anaconda); default true. */
  tcp?: boolean;
  /** Most simultaneous TCP senders; default 256. */
  maxTcpConnections?: number;
  onMessage: (msg: SyslogMessage, from: SyslogSender) => void;
  /** Where handler errors and bad frames are reported; default console.warn. */
  log?: (message: string) => void;
}

export interface SyslogStats {
  received: number;
  bytes: number;
  /** Datagrams the kernel dropped on this socket (buffer full), from /proc/net/udp; Linux only. */
  dropped?: number;
  /** TCP bytes discarded: frames over the size limit or connections over the limit. */
  discardedTcpBytes: number;
  tcpConnections: number;
  /** The receive buffer the kernel granted. */
  recvBufferSize?: number;
}

/** Largest TCP frame kept (a longer one is cut at this size). */
const MAX_FRAME = 64 * 1024;
const TCP_IDLE_MS = 15 * 60_000;
export const DEFAULT_SYSLOG_PORT = 5514;
const DEFAULT_RECV_BUFFER = 8 * 1024 * 1024;

/** Splits a TCP byte stream into syslog frames (RFC 6587: octet counting, or LF/NUL terminated). */
export class SyslogFramer {
  private buf: Buffer = Buffer.alloc(0);
  /** Bytes still to skip of an oversized octet-counted frame. */
  private skip = 0;
  /** Dropping the rest of an over-long newline-terminated line. */
  private skipLine = false;
  discarded = 0;

  /** Feeds bytes; returns the complete frames they finish. */
  push(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, this.buf.length);
        this.skip -= n;
        this.discarded += n;
        this.buf = this.buf.subarray(n);
        if (this.skip > 0) break;
      }
      if (this.buf.length === 0) break;
      const first = this.buf[0] ?? 0;
      if (first >= 0x31 && first <= 0x39) {
        // Octet counting: MSG-LEN SP SYSLOG-MSG.
        const sp = this.buf.indexOf(0x20);
        const digits = sp === -1 ? this.buf.length : sp;
        const lenText = this.buf.subarray(0, digits).toString("latin1");
        if (/^[1-9][0-9]{0,8}$/.test(lenText) && sp !== -1) {
          const len = Number(lenText);
          const total = sp + 1 + len;
          if (len > MAX_FRAME) {
            // Keep the first MAX_FRAME bytes as the frame, skip the rest as it arrives.
            if (this.buf.length < sp + 1 + MAX_FRAME) break;
            frames.push(Buffer.from(this.buf.subarray(sp + 1, sp + 1 + MAX_FRAME)));
            this.skip = len - MAX_FRAME;
            this.buf = this.buf.subarray(sp + 1 + MAX_FRAME);
            continue;
          }
          if (this.buf.length < total) break;
          frames.push(Buffer.from(this.buf.subarray(sp + 1, total)));
          this.buf = this.buf.subarray(total);
          continue;
        }
        if (sp === -1 && digits <= 9 && /^[0-9]*$/.test(lenText)) break; // length still arriving
        // Not a length after all: fall through to newline framing.
      }
      let end = -1;
      for (let i = 0; i < this.buf.length; i++) {
        const c = this.buf[i];
        if (c === 0x0a || c === 0x00) {
          end = i;
          break;
        }
      }
      if (end === -1) {
        if (this.buf.length > MAX_FRAME) {
          // No terminator within the limit: keep the first MAX_FRAME bytes as a frame, drop the rest of the line.
          frames.push(Buffer.from(this.buf.subarray(0, MAX_FRAME)));
          this.discarded += this.buf.length - MAX_FRAME;
          this.buf = Buffer.alloc(0);
          this.skipLine = true;
        }
        break;
      }
      const frame = this.buf.subarray(0, end);
      this.buf = this.buf.subarray(end + 1);
      if (this.skipLine) {
        this.discarded += frame.length;
        this.skipLine = false;
        continue;
      }
      if (frame.length > 0) frames.push(Buffer.from(frame));
    }
    return frames;
  }

  /** The unterminated rest when the connection closes. */
  flush(): Buffer | undefined {
    const rest = this.buf;
    this.buf = Buffer.alloc(0);
    if (this.skipLine || rest.length === 0) return undefined;
    return Buffer.from(rest.subarray(0, MAX_FRAME));
  }
}

/** Kernel drop counter of the UDP socket bound to `port`, from /proc/net/udp{,6}. */
export function kernelUdpDrops(port: number): number | undefined {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  let total: number | undefined;
  for (const file of ["/proc/net/udp", "/proc/net/udp6"]) {
    let text: string;
    try {
      text = readFileSync(file, "latin1");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 13 || !cols[1]?.endsWith(`:${hexPort}`)) continue;
      total = (total ?? 0) + Number(cols[cols.length - 1] ?? 0);
    }
  }
  return total;
}

/** UDP + TCP syslog receiver. */
export class SyslogListener {
  private udp?: UdpSocket;
  private tcp?: Server;
  private readonly sockets = new Set<Socket>();
  private counters = { received: 0, bytes: 0, discardedTcpBytes: 0 };
  private boundPort = 0;
  private readonly log: (m: string) => void;

  constructor(private readonly opts: SyslogListenerOptions) {
    this.log = opts.log ?? ((m) => console.warn(m));
  }

  private deliver(buf: Buffer, from: SyslogSender): void {
    this.counters.received++;
    this.counters.bytes += buf.length;
    const msg = parseSyslog(buf, from.address);
    try {
      this.opts.onMessage(msg, from);
    } catch (e) {
      this.log(`syslog: handler failed for a message from ${from.address}: ${(e as Error).message}`);
    }
  }

  /** Binds UDP (and TCP on the same port); resolves with the port. */
  async start(): Promise<{ port: number }> {
    if (this.udp) return { port: this.boundPort };
    const address = this.opts.address ?? "0.0.0.0";
    const wanted = this.opts.port ?? DEFAULT_SYSLOG_PORT;
    // With port 0 the TCP bind can lose the race for UDP's port: try a few times.
    for (let attempt = 0; ; attempt++) {
      const port = await this.bindUdp(address, wanted);
      if (this.opts.tcp === false) return { port };
      try {
        await this.bindTcp(address, port);
        return { port };
      } catch (e) {
        await this.closeUdp();
        if (wanted !== 0 || attempt >= 4) throw e;
      }
    }
  }

  private bindUdp(address: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const sock = createSocket({
        type: isIPv6(address) ? "udp6" : "udp4",
        recvBufferSize: this.opts.recvBufferSize ?? DEFAULT_RECV_BUFFER,
      });
      sock.once("error", (e) => {
        sock.close();
        reject(
          new LabError(
            "LAB_E_SYSLOG_BIND",
            `cannot listen for syslog on udp ${address}:${port}: ${e.message}`,
          ),
        );
      });
      sock.on("message", (buf, rinfo) =>
        this.deliver(buf, { address: rinfo.address, port: rinfo.port, transport: "udp" }),
      );
      sock.bind({ address, port, exclusive: true }, () => {
        sock.removeAllListeners("error");
        sock.on("error", (e) => this.log(`syslog: udp socket error: ${e.message}`));
        this.udp = sock;
        this.boundPort = sock.address().port;
        resolve(this.boundPort);
      });
    });
  }

  private bindTcp(address: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = createServer((socket) => this.accept(socket));
      server.maxConnections = this.opts.maxTcpConnections ?? 256;
      server.once("error", (e) => {
        server.close();
        reject(
          new LabError(
            "LAB_E_SYSLOG_BIND",
            `cannot listen for syslog on tcp ${address}:${port}: ${e.message}`,
          ),
        );
      });
      server.listen({ host: address, port, exclusive: true }, () => {
        server.removeAllListeners("error");
        server.on("error", (e) => this.log(`syslog: tcp server error: ${e.message}`));
        this.tcp = server;
        resolve();
      });
    });
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    const from: SyslogSender = {
      address: socket.remoteAddress ?? "",
      port: socket.remotePort ?? 0,
      transport: "tcp",
    };
    const framer = new SyslogFramer();
    let counted = 0;
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    socket.on("data", (chunk: Buffer) => {
      for (const frame of framer.push(chunk)) this.deliver(frame, from);
      this.counters.discardedTcpBytes += framer.discarded - counted;
      counted = framer.discarded;
    });
    socket.on("end", () => {
      const rest = framer.flush();
      if (rest) this.deliver(rest, from);
      socket.end();
    });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => this.sockets.delete(socket));
  }

  private closeUdp(): Promise<void> {
    const sock = this.udp;
    this.udp = undefined;
    return new Promise((resolve) => (sock ? sock.close(() => resolve()) : resolve()));
  }

  /** Stops listening and drops TCP connections. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const tcp = this.tcp;
    this.tcp = undefined;
    await Promise.all([
      this.closeUdp(),
      new Promise<void>((resolve) => (tcp ? tcp.close(() => resolve()) : resolve())),
    ]);
  }

  stats(): SyslogStats {
    let recvBufferSize: number | undefined;
    try {
      recvBufferSize = this.udp?.getRecvBufferSize();
    } catch {
      recvBufferSize = undefined;
    }
    return {
      ...this.counters,
      dropped: this.udp ? kernelUdpDrops(this.boundPort) : undefined,
      tcpConnections: this.sockets.size,
      recvBufferSize,
    };
  }
}
