/**
 * Builders of client packets for tests and the fuzzer (not exported from the package).
 */
import { type DhcpPacket, encodeDhcp } from "./codec.js";
import { BOOTREQUEST, MSG, OPT } from "./constants.js";
import { ip } from "./ip.js";

export interface ClientSpec {
  type: number;
  mac?: string;
  xid?: number;
  flags?: number;
  ciaddr?: string;
  giaddr?: string;
  requested?: string;
  serverId?: string;
  vendorClass?: string;
  /** Option 77 as the raw bytes iPXE sends ("iPXE"). */
  userClass?: string;
  arch?: number;
  uuid?: boolean;
  ipxe?: boolean;
  hostname?: string;
  params?: number[];
  extra?: Array<[number, Buffer]>;
}

/** A client request as a DhcpPacket. */
export function clientPacket(s: ClientSpec): DhcpPacket {
  const chaddr = Buffer.alloc(16);
  Buffer.from((s.mac ?? "52:54:00:12:34:56").split(":").map((h) => Number.parseInt(h, 16))).copy(chaddr);
  const options = new Map<number, Buffer>();
  options.set(OPT.MESSAGE_TYPE, Buffer.from([s.type]));
  if (s.requested) options.set(OPT.REQUESTED_IP, u32(ip(s.requested)));
  if (s.serverId) options.set(OPT.SERVER_ID, u32(ip(s.serverId)));
  if (s.vendorClass) options.set(OPT.VENDOR_CLASS, Buffer.from(s.vendorClass, "latin1"));
  if (s.userClass) options.set(OPT.USER_CLASS, Buffer.from(s.userClass, "latin1"));
  if (s.arch !== undefined) options.set(OPT.CLIENT_ARCH, Buffer.from([s.arch >> 8, s.arch & 255]));
  if (s.vendorClass?.startsWith("PXEClient")) options.set(OPT.CLIENT_NDI, Buffer.from([1, 3, 16]));
  if (s.uuid) options.set(OPT.CLIENT_UUID, Buffer.from([0, ...Array.from({ length: 16 }, (_, i) => i + 1)]));
  if (s.ipxe) options.set(OPT.IPXE_ENCAP, Buffer.from([19, 1, 1, 17, 1, 1]));
  if (s.hostname) options.set(OPT.HOSTNAME, Buffer.from(s.hostname, "latin1"));
  options.set(OPT.PARAMETER_LIST, Buffer.from(s.params ?? [1, 3, 6, 12, 15, 28, 42, 66, 67]));
  for (const [code, value] of s.extra ?? []) options.set(code, value);
  return {
    op: BOOTREQUEST,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: s.xid ?? 0x1234,
    secs: 0,
    flags: s.flags ?? 0,
    ciaddr: s.ciaddr ? ip(s.ciaddr) : 0,
    yiaddr: 0,
    siaddr: 0,
    giaddr: s.giaddr ? ip(s.giaddr) : 0,
    chaddr,
    sname: "",
    file: "",
    options,
  };
}

/** The same request encoded. */
export function clientBytes(s: ClientSpec): Buffer {
  return encodeDhcp(clientPacket(s));
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** One valid seed packet of every client message type, PXE and iPXE variants included. */
export function seedPackets(): Buffer[] {
  return [
    clientBytes({ type: MSG.DISCOVER }),
    clientBytes({ type: MSG.DISCOVER, vendorClass: "PXEClient:Arch:00000:UNDI:002001", arch: 0, uuid: true }),
    clientBytes({ type: MSG.DISCOVER, vendorClass: "PXEClient:Arch:00007:UNDI:003016", arch: 7, uuid: true }),
    clientBytes({ type: MSG.DISCOVER, vendorClass: "HTTPClient:Arch:00016", arch: 16 }),
    clientBytes({
      type: MSG.DISCOVER,
      vendorClass: "PXEClient:Arch:00000:UNDI:002001",
      arch: 0,
      userClass: "iPXE",
      ipxe: true,
    }),
    clientBytes({ type: MSG.REQUEST, requested: "10.9.0.50", serverId: "10.9.0.1" }),
    clientBytes({ type: MSG.REQUEST, ciaddr: "10.9.0.50" }),
    clientBytes({ type: MSG.REQUEST, ciaddr: "10.9.0.50", vendorClass: "PXEClient:Arch:00007", arch: 7 }),
    clientBytes({ type: MSG.RELEASE, ciaddr: "10.9.0.50", serverId: "10.9.0.1" }),
    clientBytes({ type: MSG.DECLINE, requested: "10.9.0.50", serverId: "10.9.0.1" }),
    clientBytes({ type: MSG.INFORM, ciaddr: "10.9.0.50" }),
    clientBytes({ type: MSG.DISCOVER, giaddr: "10.9.0.2", hostname: "node-1" }),
  ];
}

/** mulberry32: a small seeded PRNG so a failing fuzz case can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `count` fuzz packets: each starts from a valid seed and is mutated (bytes flipped, truncated,
 * options with lying lengths inserted, header fields randomised, spliced) or is random bytes.
 */
export function* fuzzPackets(seed: number, count: number): Generator<Buffer> {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const seeds = seedPackets();
  const pick = () => Buffer.from(seeds[int(seeds.length)] as Buffer);
  for (let i = 0; i < count; i++) {
    let b = pick();
    switch (int(8)) {
      case 0: // flip a few bytes anywhere
        for (let k = 1 + int(8); k > 0; k--) b[int(b.length)] = int(256);
        break;
      case 1: // truncate
        b = b.subarray(0, int(b.length + 1));
        break;
      case 2: // random bytes
        b = Buffer.from(Array.from({ length: int(700) }, () => int(256)));
        break;
      case 3: {
        // an option with a random (often lying) length in the options area
        const at = 240 + int(Math.max(1, b.length - 240));
        const opt = Buffer.from([int(256), int(256), ...Array.from({ length: int(20) }, () => int(256))]);
        b = Buffer.concat([b.subarray(0, at), opt, b.subarray(at)]);
        break;
      }
      case 4: // header fields: op, htype, hlen, flags, addresses
        b[0] = int(4);
        b[1] = int(3);
        b[2] = int(20);
        for (const off of [12, 16, 20, 24]) if (rnd() < 0.3) b.writeUInt32BE(int(2 ** 32) >>> 0, off);
        break;
      case 5: {
        // splice two seeds at random points
        const other = pick();
        b = Buffer.concat([b.subarray(0, int(b.length)), other.subarray(int(other.length))]);
        break;
      }
      case 6: // overloaded file/sname fields filled with junk options
        b[int(b.length - 240) + 240] = 52;
        b.fill(int(256), 44, 44 + int(192));
        break;
      default: // corrupt option lengths only
        for (let p = 240; p < b.length - 1; p += 2 + (b[p + 1] as number))
          if (rnd() < 0.3) b[p + 1] = int(256);
    }
    yield b;
  }
}
