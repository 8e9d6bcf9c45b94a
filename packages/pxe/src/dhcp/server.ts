/**
 * The DHCP socket loop around the pure handler (respond.ts).
 *
 * Sockets: 0.0.0.0:67 receives the clients' broadcasts; a second socket bound to the server's own
 * address and port 67 (SO_REUSEADDR) receives unicast renewals and sends every reply, so that a
 * broadcast to 255.255.255.255 leaves through the served interface (Linux routes a limited
 * broadcast by its source address); in proxy mode 0.0.0.0:4011 takes PXE boot-server requests.
 *
 * Deployment: Node cannot bind a socket to a device (no SO_BINDTODEVICE, no IP_PKTINFO), so the
 * server cannot tell which interface a broadcast came in on. One served interface per host or
 * network namespace is the supported deployment; give `interface` and the server takes that
 * interface's address and netmask. Relayed or renewing packets from outside the served subnet
 * (giaddr/ciaddr) are ignored.
 *
 * A packet that does not parse is counted and logged (rate-limited) and the loop carries on.
 */
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { networkInterfaces } from "node:os";
import { LabError } from "@lab/core";
import { clientMac, parseDhcp } from "./codec.js";
import { PXE_PORT, SERVER_PORT } from "./constants.js";
import { ipString } from "./ip.js";
import {
  createDhcpContext,
  type DhcpContext,
  type DhcpEvent,
  type DhcpOptions,
  type Reply,
  respond,
} from "./respond.js";

/** Server settings: the handler's settings plus sockets. serverIp/netmask may come from `interface`. */
export interface DhcpServerOptions extends Omit<DhcpOptions, "serverIp" | "netmask"> {
  serverIp?: string;
  netmask?: string;
  /** Served interface: its first IPv4 address and netmask become serverIp/netmask when not given. */
  interface?: string;
  /** Server port (67) and ProxyDHCP boot-server port (4011, proxy mode only); configurable for tests. */
  port?: number;
  /** Address the broadcast-receiving socket binds (default 0.0.0.0). */
  bindAddress?: string;
  /** SO_RCVBUF in bytes (default 4 MiB, capped by net.core.rmem_max) so bursts are not dropped. */
  recvBufferSize?: number;
  /** Replies waiting for a lease write before new requests are refused (default 20,000). */
  maxInflight?: number;
  /**
   * Pace the ACKs a lease-journal flush releases (default true): they leave at no more than twice
   * the recent release rate (at least 16 per ms) instead of all at once, because a slow fsync would
   * otherwise push hundreds of replies into a relay's or client's receive buffer in one go.
   */
  paceReplies?: boolean;
  /** Log sink (default console.error); bad packets are rate-limited to 10 lines per 10 s. */
  log?: (line: string) => void;
}

/** dgram's lookup hook for literal IPv4 addresses (every reply address is one). */
function literalLookup(
  address: string,
  _opts: unknown,
  cb: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  cb(null, address, 4);
}

/** Counters for metrics. */
export interface DhcpServerStats {
  received: number;
  malformed: number;
  sent: number;
  sendErrors: number;
  /** Requests refused because too many replies were waiting for the lease journal. */
  busy: number;
  inflight: number;
  events: Record<DhcpEvent["type"], number>;
}

/** Serves `interface`'s address: its first IPv4 address and netmask. */
export function interfaceAddress(name: string): { address: string; netmask: string } {
  const addrs = networkInterfaces()[name];
  if (!addrs) {
    throw new LabError(
      "LAB_E_DHCP_CONFIG",
      `interface "${name}" does not exist (have: ${Object.keys(networkInterfaces()).join(", ")})`,
    );
  }
  const v4 = addrs.find((a) => a.family === "IPv4" && !a.internal) ?? addrs.find((a) => a.family === "IPv4");
  if (!v4) throw new LabError("LAB_E_DHCP_CONFIG", `interface "${name}" has no IPv4 address`);
  return { address: v4.address, netmask: v4.netmask };
}

/** Logs at most `limit` lines per `windowMs`, then one line saying how many were suppressed. */
class RateLimitedLog {
  private windowStart = 0;
  private count = 0;
  private suppressed = 0;
  constructor(
    private readonly sink: (line: string) => void,
    private readonly limit = 10,
    private readonly windowMs = 10_000,
  ) {}

  line(text: string): void {
    const now = Date.now();
    if (now - this.windowStart >= this.windowMs) {
      if (this.suppressed > 0) this.sink(`dhcp: ${this.suppressed} more bad packets not logged`);
      this.windowStart = now;
      this.count = 0;
      this.suppressed = 0;
    }
    if (this.count++ < this.limit) this.sink(text);
    else this.suppressed++;
  }
}

function bindSocket(sock: Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      reject(
        new LabError("LAB_E_DHCP_BIND", `cannot bind DHCP socket ${address}:${port}: ${e.code ?? e.message}`),
      );
    };
    sock.once("error", onError);
    sock.bind({ port, address, exclusive: true }, () => {
      sock.off("error", onError);
      resolve();
    });
  });
}

/** The DHCP server: `await new DhcpServer(opts).start()`, then `close()`. */
export class DhcpServer {
  readonly context: DhcpContext;
  private readonly opts: DhcpServerOptions;
  private readonly log: (line: string) => void;
  private readonly badLog: RateLimitedLog;
  private readonly sockets: Socket[] = [];
  private sender: Socket | undefined;
  private pxeSocket: Socket | undefined;
  private readonly counters: Omit<DhcpServerStats, "inflight" | "events"> = {
    received: 0,
    malformed: 0,
    sent: 0,
    sendErrors: 0,
    busy: 0,
  };
  private readonly eventCounts: Record<DhcpEvent["type"], number> = {
    discover: 0,
    offer: 0,
    request: 0,
    ack: 0,
    nak: 0,
    release: 0,
    decline: 0,
    inform: 0,
    ignored: 0,
  };
  private inflight = 0;
  private readonly maxInflight: number;
  /** Resolves close() once no reply waits for a lease write. */
  private drained: (() => void) | undefined;
  /** Replies released by a journal flush, sent a share per millisecond (see paceReplies). */
  private readonly paced: Array<{ reply: Reply; localPort: number }> = [];
  private pacedHead = 0;
  private pacedDone: (() => void) | undefined;
  private pacing: NodeJS.Timeout | undefined;
  private readonly pace: boolean;
  /** Replies released per ms, exponentially averaged over ~50 ms. */
  private releaseRate = 0;
  private lastRelease = 0;
  private tokens = 16;
  private tokenTime = 0;
  constructor(opts: DhcpServerOptions) {
    this.opts = opts;
    this.log = opts.log ?? ((l) => console.error(l));
    this.badLog = new RateLimitedLog(this.log);
    this.maxInflight = opts.maxInflight ?? 20_000;
    this.pace = opts.paceReplies ?? true;
    let serverIp = opts.serverIp;
    let netmask = opts.netmask;
    if (opts.interface && (!serverIp || !netmask)) {
      const a = interfaceAddress(opts.interface);
      serverIp ??= a.address;
      netmask ??= a.netmask;
    }
    if (!serverIp || !netmask) {
      throw new LabError("LAB_E_DHCP_CONFIG", "give the served interface, or both serverIp and netmask");
    }
    const onEvent = opts.onEvent;
    this.context = createDhcpContext({
      ...opts,
      serverIp,
      netmask,
      pxePort: opts.pxePort ?? PXE_PORT,
      onEvent: (ev) => {
        this.eventCounts[ev.type]++;
        onEvent?.(ev);
      },
    });
  }

  /** Binds the sockets; throws LAB_E_DHCP_BIND when a port is taken or not permitted. */
  async start(): Promise<void> {
    if (this.context.mode === "off") return;
    const port = this.opts.port ?? SERVER_PORT;
    const recvBufferSize = this.opts.recvBufferSize ?? 4 * 1024 * 1024;
    const make = (localPort: number): Socket => {
      const s = createSocket({
        type: "udp4",
        reuseAddr: true,
        recvBufferSize,
        sendBufferSize: recvBufferSize,
        // Replies always go to literal addresses: skip dns.lookup's extra tick per datagram.
        lookup: literalLookup,
      });
      s.on("message", (msg, rinfo) => this.onPacket(msg, rinfo, localPort));
      this.sockets.push(s);
      return s;
    };
    const bind = async (s: Socket, localPort: number, address: string): Promise<void> => {
      await bindSocket(s, localPort, address);
      // After binding, errors are failed sends (no per-send callback is passed).
      s.on("error", (e) => {
        this.counters.sendErrors++;
        this.badLog.line(`dhcp: socket error: ${e.message}`);
      });
    };
    try {
      const wildcard = make(port);
      await bind(wildcard, port, this.opts.bindAddress ?? "0.0.0.0");
      wildcard.setBroadcast(true);
      const serverIp = ipString(this.context.serverIp);
      if (serverIp !== (this.opts.bindAddress ?? "0.0.0.0")) {
        const sender = make(port);
        await bind(sender, port, serverIp);
        sender.setBroadcast(true);
        this.sender = sender;
      } else {
        this.sender = wildcard;
      }
      if (this.context.mode === "proxy") {
        this.pxeSocket = make(this.context.pxePort);
        await bind(this.pxeSocket, this.context.pxePort, this.opts.bindAddress ?? "0.0.0.0");
      }
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  /** Stops receiving, waits for replies held for lease writes, closes the sockets. */
  async close(): Promise<void> {
    // Stop taking requests, then let the replies that wait for the journal go out.
    for (const s of this.sockets) s.removeAllListeners("message");
    if (this.inflight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    // Paced replies keep their pace: a burst now is what pacing exists to avoid.
    if (this.pacedHead < this.paced.length) await new Promise<void>((resolve) => (this.pacedDone = resolve));
    await Promise.all(
      this.sockets
        .map((s) => new Promise<void>((resolve) => s.close(() => resolve())))
        .map((p) => p.catch(() => {})),
    );
    this.sockets.length = 0;
    this.sender = undefined;
    this.pxeSocket = undefined;
  }

  stats(): DhcpServerStats {
    return { ...this.counters, inflight: this.inflight, events: { ...this.eventCounts } };
  }

  private onPacket(msg: Buffer, rinfo: RemoteInfo, localPort: number): void {
    this.counters.received++;
    let packet: ReturnType<typeof parseDhcp>;
    try {
      packet = parseDhcp(msg);
    } catch (e) {
      this.counters.malformed++;
      const why = e instanceof LabError ? `${e.code}: ${e.message}` : String(e);
      this.badLog.line(`dhcp: bad packet from ${rinfo.address}:${rinfo.port} (${msg.length} bytes): ${why}`);
      return;
    }
    if (this.inflight >= this.maxInflight) {
      this.counters.busy++;
      this.context.onEvent({
        mac: clientMac(packet),
        kind: "dhcp",
        type: "ignored",
        xid: packet.xid,
        reason: `${this.inflight} replies are waiting for the lease journal`,
      });
      return;
    }
    const rx = { localPort, address: rinfo.address, port: rinfo.port };
    let out: Reply[] | Promise<Reply[]>;
    try {
      out = respond(packet, this.context, rx);
    } catch (e) {
      // respond catches what it knows; anything else is a bug, logged without stopping the loop.
      this.badLog.line(
        `dhcp: handler failed for ${rinfo.address}: ${e instanceof Error ? e.stack : String(e)}`,
      );
      return;
    }
    if (Array.isArray(out)) {
      this.sendAll(out, localPort);
      return;
    }
    this.inflight++;
    out.then(
      (replies) => {
        this.settled();
        if (!this.pace) {
          this.sendAll(replies, localPort);
          return;
        }
        const now = performance.now();
        this.releaseRate = this.releaseRate * Math.exp((this.lastRelease - now) / 50) + replies.length / 50;
        this.lastRelease = now;
        for (const reply of replies) this.paced.push({ reply, localPort });
        if (!this.pacing) this.drainPaced();
      },
      (e: unknown) => {
        this.settled();
        this.badLog.line(`dhcp: handler failed: ${e instanceof Error ? e.message : String(e)}`);
      },
    );
  }

  private settled(): void {
    this.inflight--;
    if (this.inflight === 0 && this.drained) {
      this.drained();
      this.drained = undefined;
    }
  }

  /** Sends what the pace allows now and schedules the rest a millisecond later. */
  private readonly drainPaced = (): void => {
    this.pacing = undefined;
    // Token bucket: refills at the allowed rate per ms, holds at most one millisecond's worth.
    const now = performance.now();
    const rate = Math.max(16, 2 * this.releaseRate);
    this.tokens = Math.min(rate, this.tokens + (now - this.tokenTime) * rate);
    this.tokenTime = now;
    const queued = this.paced.length - this.pacedHead;
    const n = Math.min(queued, Math.floor(this.tokens));
    this.tokens -= n;
    const end = this.pacedHead + n;
    for (; this.pacedHead < end; this.pacedHead++) {
      const p = this.paced[this.pacedHead] as { reply: Reply; localPort: number };
      this.sendOne(p.reply, p.localPort);
    }
    if (this.pacedHead === this.paced.length) {
      this.paced.length = 0;
      this.pacedHead = 0;
      this.pacedDone?.();
      this.pacedDone = undefined;
    } else {
      if (this.pacedHead > 4096) {
        this.paced.splice(0, this.pacedHead);
        this.pacedHead = 0;
      }
      this.pacing = setTimeout(this.drainPaced, 1);
    }
  };

  private sendAll(replies: Reply[], localPort: number): void {
    for (const r of replies) this.sendOne(r, localPort);
  }

  private sendOne(r: Reply, localPort: number): void {
    const sock =
      localPort === this.context.pxePort && this.context.mode === "proxy" ? this.pxeSocket : this.sender;
    if (!sock) return;
    this.counters.sent++;
    // No callback: a failed send surfaces as the socket's 'error' event (counted there), and
    // a successful one costs no extra callback per datagram.
    sock.send(r.data, r.port, r.address);
  }
}
