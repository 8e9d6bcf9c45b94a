/**
 * DHCP packet codec (RFC 2131 header, RFC 2132 options, RFC 3396 long options, option overload)
 * plus typed readers for the options the PXE handler looks at (RFC 4578 93/94/97, iPXE 175).
 * Parsing never trusts a length and throws only LabError LAB_E_DHCP_MALFORMED.
 */
import { LabError } from "@lab/core";
import { HEADER_SIZE, MAGIC_COOKIE, MAX_REPLY_SIZE, MIN_PACKET_SIZE, MSG_NAMES, OPT } from "./constants.js";
import { macString } from "./ip.js";

/** One DHCP/BOOTP message. Addresses are unsigned 32-bit numbers (see ip.ts). */
export interface DhcpPacket {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  giaddr: number;
  /** The 16-byte chaddr field; the client's hardware address is its first `hlen` bytes. */
  chaddr: Buffer;
  /** Server host name field (empty when it carries overloaded options). */
  sname: string;
  /** Boot file name field (empty when it carries overloaded options). */
  file: string;
  /** Option values by code, in the order they appeared; repeated codes are concatenated (RFC 3396). */
  options: Map<number, Buffer>;
}

function malformed(message: string): LabError {
  return new LabError("LAB_E_DHCP_MALFORMED", message);
}

/** Reads options from buf[start, end) into `into`; `where` names the area for error messages. */
function readOptions(
  buf: Buffer,
  start: number,
  end: number,
  into: Map<number, Buffer>,
  where: string,
): void {
  let i = start;
  while (i < end) {
    const code = buf[i] as number;
    if (code === OPT.PAD) {
      i++;
      continue;
    }
    if (code === OPT.END) return;
    if (i + 1 >= end) throw malformed(`option ${code} in the ${where} has no length byte`);
    const len = buf[i + 1] as number;
    const from = i + 2;
    const to = from + len;
    if (to > end) throw malformed(`option ${code} in the ${where} runs past its end (length ${len})`);
    const prev = into.get(code);
    // RFC 3396: a repeated option is one long option split in pieces; join them in order.
    into.set(code, prev ? Buffer.concat([prev, buf.subarray(from, to)]) : buf.subarray(from, to));
    i = to;
  }
  // A missing END option is tolerated when the options fill the area exactly (many ROMs do this).
}

/** Reads a NUL-terminated latin1 string field. */
function readField(buf: Buffer, start: number, len: number): string {
  let end = start;
  const limit = start + len;
  while (end < limit && buf[end] !== 0) end++;
  return end === start ? "" : buf.toString("latin1", start, end);
}

/** Options the handler reads as fixed-size numbers or addresses: code, length, name. */
const EXACT_LENGTHS: ReadonlyArray<readonly [number, number, string]> = [
  [OPT.MESSAGE_TYPE, 1, "message type"],
  [OPT.REQUESTED_IP, 4, "requested address"],
  [OPT.SERVER_ID, 4, "server identifier"],
  [OPT.LEASE_TIME, 4, "lease time"],
];

/** Checks the lengths of the options whose values the handler reads as numbers or addresses. */
function checkOptionShapes(options: Map<number, Buffer>): void {
  for (const [code, len, name] of EXACT_LENGTHS) {
    const v = options.get(code);
    if (v && v.length !== len) throw malformed(`option ${code} (${name}) has length ${v.length}, not ${len}`);
  }
  const arch = options.get(OPT.CLIENT_ARCH);
  if (arch && (arch.length < 2 || arch.length % 2 !== 0)) {
    throw malformed(`option 93 (client architecture) has length ${arch.length}, not a list of 16-bit types`);
  }
  const mms = options.get(OPT.MAX_MESSAGE_SIZE);
  if (mms && mms.length !== 2) throw malformed(`option 57 (maximum message size) has length ${mms.length}`);
}

/** Parses one DHCP datagram. Throws LabError LAB_E_DHCP_MALFORMED when it is not valid DHCP. */
export function parseDhcp(buf: Buffer): DhcpPacket {
  if (buf.length < HEADER_SIZE) {
    throw malformed(`packet of ${buf.length} bytes is shorter than the ${HEADER_SIZE}-byte DHCP header`);
  }
  const op = buf[0] as number;
  if (op !== 1 && op !== 2) throw malformed(`op ${op} is neither BOOTREQUEST (1) nor BOOTREPLY (2)`);
  const hlen = buf[2] as number;
  if (hlen > 16) throw malformed(`hardware address length ${hlen} is longer than the 16-byte chaddr field`);
  if (buf.readUInt32BE(236) !== MAGIC_COOKIE)
    throw malformed("no DHCP magic cookie (plain BOOTP is not served)");
  const options = new Map<number, Buffer>();
  readOptions(buf, HEADER_SIZE, buf.length, options, "options area");
  let sname = "";
  let file = "";
  const overload = options.get(OPT.OVERLOAD);
  if (overload) {
    const v = overload.length === 1 ? (overload[0] as number) : 0;
    if (v < 1 || v > 3) throw malformed("option 52 (overload) is not 1, 2 or 3");
    // RFC 2131 §4.1: options continue in `file` first, then `sname`.
    if (v & 1) readOptions(buf, 108, 236, options, "file field");
    else file = readField(buf, 108, 128);
    if (v & 2) readOptions(buf, 44, 108, options, "sname field");
    else sname = readField(buf, 44, 64);
  } else {
    sname = readField(buf, 44, 64);
    file = readField(buf, 108, 128);
  }
  checkOptionShapes(options);
  const type = options.get(OPT.MESSAGE_TYPE);
  if (type && (type[0] === 0 || (type[0] as number) > 18)) {
    throw malformed(`option 53 (message type) ${type[0]} is not a DHCP message type`);
  }
  return {
    op,
    htype: buf[1] as number,
    hlen,
    hops: buf[3] as number,
    xid: buf.readUInt32BE(4),
    secs: buf.readUInt16BE(8),
    flags: buf.readUInt16BE(10),
    ciaddr: buf.readUInt32BE(12),
    yiaddr: buf.readUInt32BE(16),
    siaddr: buf.readUInt32BE(20),
    giaddr: buf.readUInt32BE(24),
    chaddr: buf.subarray(28, 44),
    sname,
    file,
    options,
  };
}

/** Bytes an option value takes once split into ≤255-byte pieces (RFC 3396). */
function encodedLength(value: Buffer): number {
  if (value.length === 0) return 2;
  return value.length + 2 * Math.ceil(value.length / 255);
}

function writeOption(out: Buffer, pos: number, code: number, value: Buffer): number {
  if (value.length === 0) {
    out[pos] = code;
    out[pos + 1] = 0;
    return pos + 2;
  }
  for (let from = 0; from < value.length; from += 255) {
    const n = Math.min(255, value.length - from);
    out[pos] = code;
    out[pos + 1] = n;
    value.copy(out, pos + 2, from, from + n);
    pos += 2 + n;
  }
  return pos;
}

function writeField(out: Buffer, start: number, size: number, text: string, name: string): void {
  const len = Buffer.byteLength(text, "latin1");
  if (len >= size)
    throw new LabError("LAB_E_DHCP_ENCODE", `${name} "${text}" is ${len} bytes; it must be under ${size}`);
  out.fill(0, start, start + size);
  out.write(text, start, "latin1");
}

/**
 * Encodes a packet. Option 53 goes first and option 82 last (RFC 3046); long values are split
 * (RFC 3396); the result is padded to 300 bytes. Throws LAB_E_DHCP_ENCODE past `maxSize`.
 */
export function encodeDhcp(packet: DhcpPacket, maxSize = MAX_REPLY_SIZE): Buffer {
  let size = HEADER_SIZE + 1;
  for (const [code, value] of packet.options) {
    if (code === OPT.PAD || code === OPT.END || code > 255 || code < 0) {
      throw new LabError("LAB_E_DHCP_ENCODE", `option code ${code} cannot be sent`);
    }
    size += encodedLength(value);
  }
  if (size > maxSize) {
    throw new LabError("LAB_E_DHCP_ENCODE", `reply of ${size} bytes exceeds the ${maxSize}-byte limit`);
  }
  const out = Buffer.alloc(Math.max(size, MIN_PACKET_SIZE));
  out[0] = packet.op;
  out[1] = packet.htype;
  out[2] = packet.hlen;
  out[3] = packet.hops;
  out.writeUInt32BE(packet.xid >>> 0, 4);
  out.writeUInt16BE(packet.secs & 0xffff, 8);
  out.writeUInt16BE(packet.flags & 0xffff, 10);
  out.writeUInt32BE(packet.ciaddr >>> 0, 12);
  out.writeUInt32BE(packet.yiaddr >>> 0, 16);
  out.writeUInt32BE(packet.siaddr >>> 0, 20);
  out.writeUInt32BE(packet.giaddr >>> 0, 24);
  packet.chaddr.copy(out, 28, 0, Math.min(16, packet.chaddr.length));
  if (packet.sname) writeField(out, 44, 64, packet.sname, "server name");
  if (packet.file) writeField(out, 108, 128, packet.file, "boot file name");
  out.writeUInt32BE(MAGIC_COOKIE, 236);
  let pos = HEADER_SIZE;
  const type = packet.options.get(OPT.MESSAGE_TYPE);
  if (type) pos = writeOption(out, pos, OPT.MESSAGE_TYPE, type);
  for (const [code, value] of packet.options) {
    if (code !== OPT.MESSAGE_TYPE && code !== OPT.RELAY_AGENT_INFO) pos = writeOption(out, pos, code, value);
  }
  const relay = packet.options.get(OPT.RELAY_AGENT_INFO);
  if (relay) pos = writeOption(out, pos, OPT.RELAY_AGENT_INFO, relay);
  out[pos] = OPT.END;
  return out;
}

// ── typed readers ──

/** Option 53, or 0 for a BOOTP packet without one. */
export function messageType(p: DhcpPacket): number {
  const v = p.options.get(OPT.MESSAGE_TYPE);
  return v ? (v[0] as number) : 0;
}

/** "discover", "request", … for logs; "bootp" without option 53. */
export function messageTypeName(p: DhcpPacket): string {
  const t = messageType(p);
  return t === 0 ? "bootp" : (MSG_NAMES[t] ?? `type-${t}`);
}

/** The client hardware address as lower-case "aa:bb:…" (chaddr's first hlen bytes). */
export function clientMac(p: DhcpPacket): string {
  return macString(p.chaddr, 0, Math.min(p.hlen, 16));
}

/** A 4-byte address option as a number, or undefined. */
export function optionIp(p: DhcpPacket, code: number): number | undefined {
  const v = p.options.get(code);
  return v && v.length === 4 ? v.readUInt32BE(0) : undefined;
}

/** An option as a latin1 string without trailing NULs, or undefined. */
export function optionString(p: DhcpPacket, code: number): string | undefined {
  const v = p.options.get(code);
  if (!v) return undefined;
  let end = v.length;
  while (end > 0 && v[end - 1] === 0) end--;
  return v.toString("latin1", 0, end);
}

/** Option 93: the client's first (preferred) architecture type, or undefined. */
export function clientArch(p: DhcpPacket): number | undefined {
  const v = p.options.get(OPT.CLIENT_ARCH);
  return v && v.length >= 2 ? v.readUInt16BE(0) : undefined;
}

const NO_CLASSES: readonly string[] = [];

/**
 * Option 77 user classes. RFC 3004 encodes length-prefixed items, but iPXE and most ROMs send one
 * plain string ("iPXE"); an option that does not parse as RFC 3004 items is that plain string.
 */
export function userClasses(p: DhcpPacket): readonly string[] {
  const v = p.options.get(OPT.USER_CLASS);
  if (!v || v.length === 0) return NO_CLASSES;
  const items: string[] = [];
  let i = 0;
  while (i < v.length) {
    const len = v[i] as number;
    if (len === 0 || i + 1 + len > v.length) return [v.toString("latin1")];
    items.push(v.toString("latin1", i + 1, i + 1 + len));
    i += 1 + len;
  }
  return items;
}

/** Option 57 clamped to what RFC 2131 requires a client to accept and an Ethernet frame holds. */
export function maxMessageSize(p: DhcpPacket): number {
  const v = p.options.get(OPT.MAX_MESSAGE_SIZE);
  const declared = v ? v.readUInt16BE(0) - 28 : 0;
  return Math.min(MAX_REPLY_SIZE, Math.max(576 - 28, declared));
}

/** Encodes sub-options as code/length/value triples (for options 43 and 175), ending with END. */
export function encodeSubOptions(subs: Array<[number, Buffer | number[]]>, withEnd = true): Buffer {
  const parts: number[] = [];
  for (const [code, value] of subs) {
    const bytes = Buffer.isBuffer(value) ? [...value] : value;
    if (bytes.length > 255)
      throw new LabError("LAB_E_DHCP_ENCODE", `sub-option ${code} is longer than 255 bytes`);
    parts.push(code, bytes.length, ...bytes);
  }
  if (withEnd) parts.push(OPT.END);
  return Buffer.from(parts);
}

/** Reads code/length/value sub-options (option 43 or 175); throws LAB_E_DHCP_MALFORMED when truncated. */
export function decodeSubOptions(value: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  readOptions(value, 0, value.length, out, "encapsulated option");
  return out;
}
