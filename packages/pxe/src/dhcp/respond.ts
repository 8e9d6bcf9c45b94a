/**
 * The DHCP handler: one parsed request in, the replies to send out, no sockets.
 *
 * Modes:
 * - `proxy` (default): another server hands out addresses; Lab answers only network-booting
 *   clients (vendor class PXEClient/HTTPClient, or iPXE) with boot information and no address, on
 *   port 67 (ProxyDHCP offer) and port 4011 (PXE boot-server request), as the PXE 2.1 spec, dnsmasq
 *   and pixiecore do.
 * - `scoped`: a full DHCP server for the MACs Lab knows only (a reservation or a pool address);
 *   leases are written durably before the ACK leaves. Unknown MACs are left to other servers.
 * - `off`: nothing is answered.
 *
 * Every request produces exactly one event for the boot timeline, ignored ones with the reason.
 */
import { LabError } from "@lab/core";
import { type BootChoice, type BootConfig, chooseBoot, isBootClient } from "./boot.js";
import {
  clientArch,
  clientMac,
  type DhcpPacket,
  encodeDhcp,
  encodeSubOptions,
  maxMessageSize,
  messageType,
  optionIp,
  optionString,
  userClasses,
} from "./codec.js";
import {
  BOOTREPLY,
  BOOTREQUEST,
  CLIENT_PORT,
  FLAG_BROADCAST,
  IPXE_SUBOPT,
  MSG,
  OPT,
  PXE_PORT,
  PXE_SUBOPT,
  SERVER_PORT,
} from "./constants.js";
import { ip, ipBytes, ipString, netmask as parseNetmask, sameSubnet, tryIp } from "./ip.js";
import { type LeaseStore, MemoryLeaseStore } from "./leases.js";
import { AddressPool } from "./pool.js";

export type DhcpMode = "proxy" | "scoped" | "off";

/** What Lab knows about a MAC: a reserved address and/or a host name. */
export interface KnownMachine {
  ip?: string;
  hostname?: string;
}

/** One entry of the boot timeline; exactly one per client packet. */
export interface DhcpEvent {
  mac: string;
  kind: "dhcp";
  type: "discover" | "offer" | "request" | "ack" | "nak" | "release" | "decline" | "inform" | "ignored";
  ip?: string;
  xid: number;
  arch?: number;
  userClass?: string;
  /** Why a packet was ignored or refused, or what a no-reply packet meant. */
  reason?: string;
  /** The boot file or URL sent, when one was. */
  file?: string;
}

/** Settings for createDhcpContext. */
export interface DhcpOptions {
  mode: DhcpMode;
  /** This server's address on the served subnet (server identifier, next-server). */
  serverIp: string;
  netmask: string;
  router?: string;
  dns?: string[];
  domain?: string;
  /** Lease time in seconds (default 3600). */
  leaseTime?: number;
  /** Scoped mode: addresses for known MACs without a reservation. */
  pool?: { start: string; end: string };
  /** Known-MAC lookup (synchronous; the caller keeps an in-memory map current). */
  lookup: (mac: string) => KnownMachine | undefined;
  /** Proxy mode: also boot unknown MACs (into discovery). */
  discover?: boolean;
  boot: BootConfig;
  /** Scoped mode lease store (default: in memory). */
  leases?: LeaseStore;
  onEvent?: (ev: DhcpEvent) => void;
  /** Clock (epoch ms), for tests. */
  now?: () => number;
  /** How long an offered address stays reserved for the MAC it was offered to (seconds, default 60). */
  offerHoldSeconds?: number;
  /** How long a declined (in use elsewhere) address is kept out of the pool (seconds, default 600). */
  declineHoldSeconds?: number;
  /** Ports replies go to: clients (68) and relays (67); configurable for tests. */
  clientPort?: number;
  relayPort?: number;
  /** Port ProxyDHCP boot-server requests arrive on (4011). */
  pxePort?: number;
}

/** Option values computed once per context, so the hot path only copies bytes. */
interface Precomputed {
  type: Map<number, Buffer>;
  serverId: Buffer;
  mask: Buffer;
  broadcast: Buffer;
  router?: Buffer;
  dns?: Buffer;
  domain?: Buffer;
  lease: Buffer;
  t1: Buffer;
  t2: Buffer;
  pxeClient: Buffer;
  httpClient: Buffer;
  /** Option 43: PXE_DISCOVERY_CONTROL = 8 (boot the file named here, no boot-server discovery). */
  pxeVendor: Buffer;
  /** Option 175: no-pxedhcp = 1 (Lab is the whole DHCP service; iPXE need not wait for ProxyDHCP). */
  ipxeNoProxy: Buffer;
  strings: Map<string, Buffer>;
}

/** The resolved handler context. Build with createDhcpContext. */
export interface DhcpContext {
  readonly mode: DhcpMode;
  readonly serverIp: number;
  readonly netmask: number;
  readonly router?: number;
  readonly dns: number[];
  readonly leaseTime: number;
  readonly pool?: AddressPool;
  readonly lookup: (mac: string) => KnownMachine | undefined;
  readonly discover: boolean;
  readonly boot: BootConfig;
  readonly leases: LeaseStore;
  readonly onEvent: (ev: DhcpEvent) => void;
  readonly now: () => number;
  readonly tftpServer: number;
  readonly offerHoldMs: number;
  readonly declineHoldMs: number;
  readonly clientPort: number;
  readonly relayPort: number;
  readonly pxePort: number;
  readonly pre: Precomputed;
}

/** Where a request came from and which local port it arrived on. */
export interface RxInfo {
  /** Local port the packet arrived on: 67, or 4011 for ProxyDHCP boot-server requests. */
  localPort: number;
  address: string;
  port: number;
}

/** One datagram to send. */
export interface Reply {
  data: Buffer;
  address: string;
  port: number;
  /** True when sent to 255.255.255.255 (the socket needs SO_BROADCAST). */
  broadcast: boolean;
}

const DEFAULT_RX: RxInfo = { localPort: SERVER_PORT, address: "0.0.0.0", port: CLIENT_PORT };
const BROADCAST_ADDR = "255.255.255.255";

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

/** Validates settings and precomputes option bytes; throws LAB_E_DHCP_CONFIG on bad settings. */
export function createDhcpContext(o: DhcpOptions): DhcpContext {
  if (!["proxy", "scoped", "off"].includes(o.mode)) {
    throw new LabError("LAB_E_DHCP_CONFIG", `mode "${o.mode}" is not proxy, scoped or off`);
  }
  const serverIp = ip(o.serverIp, "server address");
  const mask = parseNetmask(o.netmask);
  const router = o.router === undefined ? undefined : ip(o.router, "router");
  const dns = (o.dns ?? []).map((d) => ip(d, "DNS server"));
  const leaseTime = o.leaseTime ?? 3600;
  if (!Number.isInteger(leaseTime) || leaseTime < 60 || leaseTime > 0x7fffffff) {
    throw new LabError(
      "LAB_E_DHCP_CONFIG",
      `lease time ${leaseTime} s is not a whole number of seconds ≥ 60`,
    );
  }
  if (!/^https?:\/\/[^\s]+$/.test(o.boot.httpBase)) {
    throw new LabError("LAB_E_DHCP_CONFIG", `boot HTTP base "${o.boot.httpBase}" is not an http(s) URL`);
  }
  const tftpServer = o.boot.tftpServer === undefined ? serverIp : ip(o.boot.tftpServer, "TFTP server");
  const broadcastAddr = ((serverIp & mask) | ~mask) >>> 0;
  let pool: AddressPool | undefined;
  const leases = o.leases ?? new MemoryLeaseStore();
  if (o.pool) {
    const start = ip(o.pool.start, "pool start");
    const end = ip(o.pool.end, "pool end");
    for (const [name, a] of [
      ["pool start", start],
      ["pool end", end],
    ] as const) {
      if (!sameSubnet(a, serverIp, mask)) {
        throw new LabError(
          "LAB_E_DHCP_CONFIG",
          `${name} ${ipString(a)} is outside the served subnet ${ipString((serverIp & mask) >>> 0)}/${o.netmask}`,
        );
      }
    }
    const exclude = [serverIp, (serverIp & mask) >>> 0, broadcastAddr];
    if (router !== undefined) exclude.push(router);
    pool = new AddressPool(start, end, exclude);
    // Existing leases keep their addresses (expired ones too, until the pool needs them).
    pool.load(
      leases.list().flatMap((l) => {
        const a = tryIp(l.ip);
        return a === undefined ? [] : [{ ip: a, mac: l.mac, until: l.expiresAt }];
      }),
    );
  }
  const type = new Map<number, Buffer>();
  for (const t of [MSG.OFFER, MSG.ACK, MSG.NAK]) type.set(t, Buffer.from([t]));
  return {
    mode: o.mode,
    serverIp,
    netmask: mask,
    router,
    dns,
    leaseTime,
    pool,
    lookup: o.lookup,
    discover: o.discover ?? false,
    boot: o.boot,
    leases,
    onEvent: o.onEvent ?? (() => {}),
    now: o.now ?? Date.now,
    tftpServer,
    offerHoldMs: (o.offerHoldSeconds ?? 60) * 1000,
    declineHoldMs: (o.declineHoldSeconds ?? 600) * 1000,
    clientPort: o.clientPort ?? CLIENT_PORT,
    relayPort: o.relayPort ?? SERVER_PORT,
    pxePort: o.pxePort ?? PXE_PORT,
    pre: {
      type,
      serverId: u32(serverIp),
      mask: u32(mask),
      broadcast: u32(broadcastAddr),
      router: router === undefined ? undefined : u32(router),
      dns: dns.length ? ipBytes(...dns) : undefined,
      domain: o.domain ? Buffer.from(o.domain, "latin1") : undefined,
      lease: u32(leaseTime),
      t1: u32(Math.floor(leaseTime / 2)),
      t2: u32(Math.floor((leaseTime * 7) / 8)),
      pxeClient: Buffer.from("PXEClient", "latin1"),
      httpClient: Buffer.from("HTTPClient", "latin1"),
      pxeVendor: encodeSubOptions([[PXE_SUBOPT.DISCOVERY_CONTROL, [8]]]),
      ipxeNoProxy: encodeSubOptions([[IPXE_SUBOPT.NO_PXEDHCP, [1]]]),
      strings: new Map(),
    },
  };
}

/** What respond reads from a request once. */
interface Request {
  p: DhcpPacket;
  mac: string;
  type: number;
  arch?: number;
  userClass?: string;
  rx: RxInfo;
  boot?: BootChoice;
  bootClient: boolean;
}

function event(ctx: DhcpContext, r: Request, type: DhcpEvent["type"], extra?: Partial<DhcpEvent>): void {
  const ev: DhcpEvent = { mac: r.mac, kind: "dhcp", type, xid: r.p.xid };
  if (r.arch !== undefined) ev.arch = r.arch;
  if (r.userClass !== undefined) ev.userClass = r.userClass;
  if (extra) {
    if (extra.ip !== undefined) ev.ip = extra.ip;
    if (extra.reason !== undefined) ev.reason = extra.reason;
    if (extra.file !== undefined) ev.file = extra.file;
  }
  try {
    ctx.onEvent(ev);
  } catch {
    // A failing timeline consumer must not take DHCP down with it.
  }
}

function ignore(ctx: DhcpContext, r: Request, reason: string): Reply[] {
  event(ctx, r, "ignored", { reason });
  return [];
}

function cachedString(ctx: DhcpContext, s: string): Buffer {
  let b = ctx.pre.strings.get(s);
  if (!b) {
    b = Buffer.from(s, "latin1");
    if (ctx.pre.strings.size < 1024) ctx.pre.strings.set(s, b);
  }
  return b;
}

/** A reply skeleton addressed like the request (RFC 2131 table 3). */
function replyPacket(r: Request, msg: number, ctx: DhcpContext): DhcpPacket {
  const options = new Map<number, Buffer>();
  options.set(OPT.MESSAGE_TYPE, ctx.pre.type.get(msg) ?? Buffer.from([msg]));
  options.set(OPT.SERVER_ID, ctx.pre.serverId);
  return {
    op: BOOTREPLY,
    htype: r.p.htype,
    hlen: r.p.hlen,
    hops: 0,
    xid: r.p.xid,
    secs: 0,
    flags: r.p.flags,
    ciaddr: 0,
    yiaddr: 0,
    siaddr: 0,
    giaddr: r.p.giaddr,
    chaddr: r.p.chaddr,
    sname: "",
    file: "",
    options,
  };
}

/** Adds the boot file, next-server and PXE/iPXE options for a booting client. */
function addBoot(
  reply: DhcpPacket,
  r: Request,
  ctx: DhcpContext,
  choice: BootChoice & { ok: true },
  proxy: boolean,
): void {
  const o = reply.options;
  o.set(OPT.VENDOR_CLASS, choice.vendorClass === "HTTPClient" ? ctx.pre.httpClient : ctx.pre.pxeClient);
  const uuid = r.p.options.get(OPT.CLIENT_UUID);
  if (uuid && uuid.length === 17) o.set(OPT.CLIENT_UUID, uuid);
  reply.siaddr = ctx.tftpServer;
  const requested = r.p.options.get(OPT.PARAMETER_LIST);
  const fileFits = Buffer.byteLength(choice.file, "latin1") < 128;
  if (fileFits) reply.file = choice.file;
  if (!fileFits || requested?.includes(OPT.BOOTFILE_NAME))
    o.set(OPT.BOOTFILE_NAME, cachedString(ctx, choice.file));
  if (choice.protocol === "tftp") {
    const server = ipString(ctx.tftpServer);
    reply.sname = server;
    if (requested?.includes(OPT.TFTP_SERVER_NAME)) o.set(OPT.TFTP_SERVER_NAME, cachedString(ctx, server));
  }
  const ipxe = choice.stage === "ipxe-script";
  const efiFirmware = choice.stage === "efi-x64" || choice.stage === "efi-arm64";
  // UEFI PXE stacks ignore ProxyDHCP offers that bypass boot-server discovery, but all of them follow
  // an offer without option 43 to port 4011 (dnsmasq, pixiecore): so on port 67 EFI gets no 43.
  const redirectTo4011 = proxy && efiFirmware && r.rx.localPort !== ctx.pxePort;
  if (choice.vendorClass === "PXEClient" && !redirectTo4011) o.set(OPT.VENDOR_SPECIFIC, ctx.pre.pxeVendor);
  if (!proxy && (ipxe || r.p.options.has(OPT.IPXE_ENCAP))) o.set(OPT.IPXE_ENCAP, ctx.pre.ipxeNoProxy);
}

/** Network options for a configured client (mask, router, DNS, lease times). */
function addNetwork(reply: DhcpPacket, ctx: DhcpContext, withLease: boolean, hostname?: string): void {
  const o = reply.options;
  if (withLease) {
    o.set(OPT.LEASE_TIME, ctx.pre.lease);
    o.set(OPT.RENEWAL_TIME, ctx.pre.t1);
    o.set(OPT.REBINDING_TIME, ctx.pre.t2);
  }
  o.set(OPT.SUBNET_MASK, ctx.pre.mask);
  o.set(OPT.BROADCAST, ctx.pre.broadcast);
  if (ctx.pre.router) o.set(OPT.ROUTER, ctx.pre.router);
  if (ctx.pre.dns) o.set(OPT.DNS, ctx.pre.dns);
  if (ctx.pre.domain) o.set(OPT.DOMAIN_NAME, ctx.pre.domain);
  if (hostname) o.set(OPT.HOSTNAME, cachedString(ctx, hostname));
}

/** Encodes and addresses a reply per RFC 2131 §4.1. */
function send(reply: DhcpPacket, r: Request, ctx: DhcpContext): Reply {
  const relay = r.p.options.get(OPT.RELAY_AGENT_INFO);
  if (relay) reply.options.set(OPT.RELAY_AGENT_INFO, relay); // RFC 3046: echo it to the relay
  const data = encodeDhcp(reply, maxMessageSize(r.p));
  if (r.rx.localPort === ctx.pxePort)
    return { data, address: r.rx.address, port: r.rx.port, broadcast: false };
  if (r.p.giaddr !== 0) return { data, address: ipString(r.p.giaddr), port: ctx.relayPort, broadcast: false };
  const isNak = reply.options.get(OPT.MESSAGE_TYPE)?.[0] === MSG.NAK;
  // A configured client (RENEWING, INFORM: ciaddr echoed in the reply) is reached by unicast.
  if (!isNak && reply.ciaddr !== 0) {
    return { data, address: ipString(reply.ciaddr), port: ctx.clientPort, broadcast: false };
  }
  // Without an ARP entry for yiaddr (Node cannot add one) an unconfigured client is reached by broadcast.
  return { data, address: BROADCAST_ADDR, port: ctx.clientPort, broadcast: true };
}

function reasonOf(e: unknown): string {
  return e instanceof LabError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
}

/**
 * Answers one request. Returns the replies, or a Promise of them when an ACK must wait for its
 * lease to be written durably. Never throws for anything a client sends: a reply that cannot be
 * built is an ignored event with the reason.
 */
export function respond(
  p: DhcpPacket,
  ctx: DhcpContext,
  rx: RxInfo = DEFAULT_RX,
): Reply[] | Promise<Reply[]> {
  const classes = userClasses(p);
  const r: Request = {
    p,
    mac: clientMac(p),
    type: messageType(p),
    arch: clientArch(p),
    userClass: classes.length ? classes.join(",") : undefined,
    rx,
    bootClient: false,
  };
  try {
    if (p.op !== BOOTREQUEST) return ignore(ctx, r, "not a client request (BOOTREPLY)");
    if (r.type === 0)
      return ignore(ctx, r, "BOOTP request without a DHCP message type (BOOTP is not served)");
    if (p.htype !== 1 || p.hlen !== 6)
      return ignore(ctx, r, `hardware type ${p.htype}/length ${p.hlen} is not Ethernet`);
    if (ctx.mode === "off") return ignore(ctx, r, "DHCP is off");
    if (p.giaddr !== 0 && !sameSubnet(p.giaddr, ctx.serverIp, ctx.netmask)) {
      return ignore(ctx, r, `relayed by ${ipString(p.giaddr)}, outside the served subnet`);
    }
    if (p.ciaddr !== 0 && !sameSubnet(p.ciaddr, ctx.serverIp, ctx.netmask) && r.type !== MSG.DISCOVER) {
      return ignore(ctx, r, `client address ${ipString(p.ciaddr)} is outside the served subnet`);
    }
    const bootClient = {
      arch: r.arch,
      vendorClass: optionString(p, OPT.VENDOR_CLASS),
      userClasses: classes,
      ipxeOptions: p.options.has(OPT.IPXE_ENCAP),
    };
    r.bootClient = isBootClient(bootClient);
    if (r.bootClient) r.boot = chooseBoot(bootClient, ctx.boot);
    return ctx.mode === "proxy" ? proxy(r, ctx) : scoped(r, ctx);
  } catch (e) {
    return ignore(ctx, r, `reply not built: ${reasonOf(e)}`);
  }
}

// ── proxy mode ──

function proxy(r: Request, ctx: DhcpContext): Reply[] {
  const onPxePort = r.rx.localPort === ctx.pxePort;
  const t = r.type;
  if (!onPxePort) {
    if (t === MSG.REQUEST) {
      // Broadcast to every server, it names the address the client takes from the network's
      // server: Lab learns which address is this MAC's before the firmware's first TFTP fetch.
      const asked = optionIp(r.p, OPT.REQUESTED_IP) ?? (r.p.ciaddr || undefined);
      const reason = "proxy mode: the network's DHCP server assigns the address";
      event(ctx, r, "request", asked === undefined ? { reason } : { ip: ipString(asked), reason });
      return [];
    }
    if (t === MSG.RELEASE)
      return eventOnly(ctx, r, "release", "proxy mode: handled by the network's DHCP server");
    if (t === MSG.DECLINE)
      return eventOnly(ctx, r, "decline", "proxy mode: handled by the network's DHCP server");
    if (t !== MSG.DISCOVER) return ignore(ctx, r, `proxy mode does not answer ${typeName(t)} on port 67`);
  } else if (t !== MSG.REQUEST && t !== MSG.INFORM) {
    return ignore(ctx, r, `only REQUEST and INFORM are answered on port ${ctx.pxePort}`);
  }
  const gate = bootGate(r, ctx);
  if (typeof gate === "string") return ignore(ctx, r, gate);
  const reply = replyPacket(r, onPxePort ? MSG.ACK : MSG.OFFER, ctx);
  if (onPxePort) reply.ciaddr = r.p.ciaddr;
  else reply.flags |= FLAG_BROADCAST; // the client has no address yet
  addBoot(reply, r, ctx, gate, true);
  const item = onPxePort ? bootItem(r.p) : undefined;
  if (item) {
    // Echo the boot item the client asked for, with discovery control (PXE 2.1 boot-server ACK).
    reply.options.set(
      OPT.VENDOR_SPECIFIC,
      encodeSubOptions([
        [PXE_SUBOPT.DISCOVERY_CONTROL, [8]],
        [PXE_SUBOPT.BOOT_ITEM, item],
      ]),
    );
  }
  const out = send(reply, r, ctx);
  event(ctx, r, onPxePort ? "ack" : "offer", { file: gate.file });
  return [out];
}

/** Option 43 sub-option 71 (PXE_BOOT_ITEM: type and layer) of a request, if well-formed. */
function bootItem(p: DhcpPacket): Buffer | undefined {
  const v = p.options.get(OPT.VENDOR_SPECIFIC);
  if (!v) return undefined;
  let i = 0;
  while (i + 1 < v.length) {
    const code = v[i] as number;
    if (code === OPT.PAD) {
      i++;
      continue;
    }
    if (code === OPT.END) break;
    const len = v[i + 1] as number;
    if (i + 2 + len > v.length) return undefined;
    if (code === PXE_SUBOPT.BOOT_ITEM && len === 4) return v.subarray(i + 2, i + 6);
    i += 2 + len;
  }
  return undefined;
}

function eventOnly(ctx: DhcpContext, r: Request, type: DhcpEvent["type"], reason: string): Reply[] {
  event(ctx, r, type, { reason });
  return [];
}

function typeName(t: number): string {
  const names: Record<number, string> = {
    1: "DISCOVER",
    2: "OFFER",
    3: "REQUEST",
    4: "DECLINE",
    5: "ACK",
    6: "NAK",
    7: "RELEASE",
    8: "INFORM",
  };
  return names[t] ?? `message type ${t}`;
}

/** Whether a client gets boot information: a boot client, known (or discovery on), with a bootable arch. */
function bootGate(r: Request, ctx: DhcpContext): (BootChoice & { ok: true }) | string {
  if (!r.bootClient || !r.boot) return "not a PXE client (no PXEClient/HTTPClient vendor class, not iPXE)";
  if (!ctx.lookup(r.mac) && !ctx.discover) return "unknown MAC and discovery is off";
  if (!r.boot.ok) return r.boot.reason;
  return r.boot;
}

// ── scoped mode ──

function scoped(r: Request, ctx: DhcpContext): Reply[] | Promise<Reply[]> {
  const known = ctx.lookup(r.mac);
  if (!known) return ignore(ctx, r, "unknown MAC (scoped mode answers only machines Lab knows)");
  switch (r.type) {
    case MSG.DISCOVER:
      return scopedDiscover(r, ctx, known);
    case MSG.REQUEST:
      return scopedRequest(r, ctx, known);
    case MSG.RELEASE:
      return scopedRelease(r, ctx);
    case MSG.DECLINE:
      return scopedDecline(r, ctx);
    case MSG.INFORM:
      return scopedInform(r, ctx, known);
    default:
      return ignore(ctx, r, `a client does not send ${typeName(r.type)}`);
  }
}

/** The address a known MAC should have, or why it cannot have one. */
function addressFor(
  r: Request,
  ctx: DhcpContext,
  known: KnownMachine,
  now: number,
  allocate: boolean,
): number | string {
  if (known.ip !== undefined) {
    const reserved = tryIp(known.ip);
    if (reserved === undefined) return `reservation "${known.ip}" is not an IPv4 address`;
    if (!sameSubnet(reserved, ctx.serverIp, ctx.netmask))
      return `reservation ${known.ip} is outside the served subnet`;
    const holder = ctx.pool?.contains(reserved)
      ? ctx.pool.holder(reserved, now)
      : ctx.leases.getByIp(known.ip)?.mac;
    if (holder !== undefined && holder !== r.mac) return `reserved address ${known.ip} is held by ${holder}`;
    return reserved;
  }
  const pool = ctx.pool;
  if (!pool) return "no reservation for this MAC and no pool configured";
  const lease = ctx.leases.get(r.mac);
  if (lease) {
    const a = tryIp(lease.ip);
    if (a !== undefined && pool.available(a, r.mac, now)) return a;
  }
  const asked = optionIp(r.p, OPT.REQUESTED_IP);
  if (asked !== undefined && pool.available(asked, r.mac, now)) return asked;
  if (!allocate) return "no address was offered to this MAC";
  const got = pool.allocate(r.mac, now, now + ctx.offerHoldMs);
  return got ?? "the address pool is exhausted";
}

function addBootIfAny(reply: DhcpPacket, r: Request, ctx: DhcpContext): string | undefined {
  if (!r.bootClient || !r.boot?.ok) return undefined;
  addBoot(reply, r, ctx, r.boot, false);
  return r.boot.file;
}

function scopedDiscover(r: Request, ctx: DhcpContext, known: KnownMachine): Reply[] {
  const now = ctx.now();
  const a = addressFor(r, ctx, known, now, true);
  if (typeof a === "string") return ignore(ctx, r, a);
  const pool = ctx.pool;
  if (pool?.contains(a) && pool.holder(a, now) !== r.mac) pool.hold(a, r.mac, now + ctx.offerHoldMs, false);
  const reply = replyPacket(r, MSG.OFFER, ctx);
  reply.yiaddr = a;
  addNetwork(reply, ctx, true, known.hostname);
  const file = addBootIfAny(reply, r, ctx);
  const out = send(reply, r, ctx);
  event(ctx, r, "offer", file ? { ip: ipString(a), file } : { ip: ipString(a) });
  return [out];
}

function nak(r: Request, ctx: DhcpContext, reason: string): Reply[] {
  const reply = replyPacket(r, MSG.NAK, ctx);
  reply.flags |= FLAG_BROADCAST;
  reply.options.set(OPT.MESSAGE, cachedString(ctx, reason.slice(0, 200)));
  const out = send(reply, r, ctx);
  event(ctx, r, "nak", { reason });
  return [out];
}

function scopedRequest(r: Request, ctx: DhcpContext, known: KnownMachine): Reply[] | Promise<Reply[]> {
  const now = ctx.now();
  const serverId = optionIp(r.p, OPT.SERVER_ID);
  const pool = ctx.pool;
  if (serverId !== undefined && serverId !== ctx.serverIp) {
    // SELECTING another server's offer: let our offer go.
    const held = ctx.leases.get(r.mac);
    const offered = optionIp(r.p, OPT.REQUESTED_IP);
    if (pool && offered !== undefined && (!held || held.ip !== ipString(offered))) pool.free(offered, r.mac);
    return eventOnly(ctx, r, "request", `client chose server ${ipString(serverId)}`);
  }
  const target = optionIp(r.p, OPT.REQUESTED_IP) ?? r.p.ciaddr;
  if (target === 0) return ignore(ctx, r, "REQUEST names no address (no option 50, no ciaddr)");
  if (!sameSubnet(target, ctx.serverIp, ctx.netmask))
    return nak(r, ctx, `${ipString(target)} is not on this network`);
  const want = addressFor(r, ctx, known, now, false);
  if (typeof want === "string") {
    // With a pool, any free pool address the client asks for is acceptable (INIT-REBOOT after we lost the offer).
    if (known.ip !== undefined || !pool || !pool.available(target, r.mac, now)) return nak(r, ctx, want);
  } else if (want !== target) {
    const acceptable = known.ip === undefined && pool?.available(target, r.mac, now);
    if (!acceptable)
      return nak(r, ctx, `${ipString(target)} is not this machine's address (${ipString(want)} is)`);
  }
  if (known.ip === undefined && want !== target && typeof want === "number") {
    // We offered another address; the one it asked for is acceptable, so the offer goes back.
    if (pool?.holder(want, now) === r.mac && ctx.leases.get(r.mac)?.ip !== ipString(want))
      pool.free(want, r.mac);
  }
  return commitAndAck(r, ctx, known, target, now);
}

function commitAndAck(
  r: Request,
  ctx: DhcpContext,
  known: KnownMachine,
  addr: number,
  now: number,
): Reply[] | Promise<Reply[]> {
  const ipText = ipString(addr);
  const expiresAt = now + ctx.leaseTime * 1000;
  const clientName = optionString(r.p, OPT.HOSTNAME);
  const hostname = known.hostname ?? (clientName && clientName.length <= 63 ? clientName : undefined);
  const previous = ctx.leases.get(r.mac);
  const pool = ctx.pool;
  if (pool) {
    if (previous && previous.ip !== ipText) {
      const old = tryIp(previous.ip);
      if (old !== undefined) pool.free(old, r.mac);
    }
    if (pool.contains(addr)) pool.hold(addr, r.mac, expiresAt, true);
  }
  const reply = replyPacket(r, MSG.ACK, ctx);
  reply.yiaddr = addr;
  reply.ciaddr = r.p.ciaddr;
  addNetwork(reply, ctx, true, known.hostname);
  const file = addBootIfAny(reply, r, ctx);
  const extra: Partial<DhcpEvent> = file ? { ip: ipText, file } : { ip: ipText };
  // Build the datagram before the write so an encoding problem never leaves a lease without an ACK.
  const out = send(reply, r, ctx);
  let written: void | Promise<void>;
  try {
    written = ctx.leases.put(
      hostname === undefined
        ? { mac: r.mac, ip: ipText, expiresAt }
        : { mac: r.mac, ip: ipText, expiresAt, hostname },
    );
  } catch (e) {
    return ignore(ctx, r, `lease not recorded: ${reasonOf(e)}`);
  }
  if (!written) {
    event(ctx, r, "ack", extra);
    return [out];
  }
  return written.then(
    () => {
      event(ctx, r, "ack", extra);
      return [out];
    },
    (e: unknown) => ignore(ctx, r, `lease not recorded, no ACK sent: ${reasonOf(e)}`),
  );
}

function forget(ctx: DhcpContext, mac: string): void {
  const done = ctx.leases.remove(mac);
  // Release/decline have no reply to hold back; a failed write surfaces on the next put.
  if (done) done.catch(() => {});
}

function scopedRelease(r: Request, ctx: DhcpContext): Reply[] {
  const lease = ctx.leases.get(r.mac);
  const addr = r.p.ciaddr;
  if (!lease || lease.ip !== ipString(addr)) {
    return eventOnly(ctx, r, "release", `no lease of ${ipString(addr)} for this MAC`);
  }
  ctx.pool?.free(addr, r.mac);
  forget(ctx, r.mac);
  event(ctx, r, "release", { ip: lease.ip });
  return [];
}

function scopedDecline(r: Request, ctx: DhcpContext): Reply[] {
  const addr = optionIp(r.p, OPT.REQUESTED_IP);
  if (addr === undefined) return ignore(ctx, r, "DECLINE without the declined address (option 50)");
  const serverId = optionIp(r.p, OPT.SERVER_ID);
  if (serverId !== undefined && serverId !== ctx.serverIp) {
    return eventOnly(ctx, r, "decline", `declined an address of server ${ipString(serverId)}`);
  }
  const ipText = ipString(addr);
  const now = ctx.now();
  // RFC 2131 §3.1.5: the address is in use by someone else; keep it out of the pool for a while.
  if (ctx.pool?.contains(addr)) ctx.pool.hold(addr, "declined", now + ctx.declineHoldMs, false);
  if (ctx.leases.get(r.mac)?.ip === ipText) forget(ctx, r.mac);
  event(ctx, r, "decline", { ip: ipText, reason: "the client found the address in use" });
  return [];
}

function scopedInform(r: Request, ctx: DhcpContext, known: KnownMachine): Reply[] {
  if (r.p.ciaddr === 0) return ignore(ctx, r, "INFORM without the client's address (ciaddr)");
  const reply = replyPacket(r, MSG.ACK, ctx);
  reply.ciaddr = r.p.ciaddr;
  addNetwork(reply, ctx, false, known.hostname);
  const file = addBootIfAny(reply, r, ctx);
  const out = send(reply, r, ctx);
  event(ctx, r, "inform", file ? { ip: ipString(r.p.ciaddr), file } : { ip: ipString(r.p.ciaddr) });
  return [out];
}
