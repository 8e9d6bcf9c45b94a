/**
 * The slice of the DNS wire format (RFC 1035) that dynamic registration needs: header,
 * question/zone section, resource records with A, NS, PTR, SOA and TSIG data, name
 * compression on read, and TSIG (RFC 8945, hmac-sha256) signing and verification.
 *
 * The decoder treats every input as hostile: lengths are checked against what is left,
 * compression pointers must point backwards, names stop at 255 octets, and any violation is
 * a LabError (LAB_E_DNS_BAD_RESPONSE) — never a RangeError or an endless loop.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { LabError } from "@lab/core";

export const TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, TSIG: 250, ANY: 255 } as const;
export const CLASS = { IN: 1, NONE: 254, ANY: 255 } as const;
export const OPCODE = { QUERY: 0, UPDATE: 5 } as const;
export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  YXDOMAIN: 6,
  YXRRSET: 7,
  NXRRSET: 8,
  NOTAUTH: 9,
  NOTZONE: 10,
} as const;
/** TSIG error field values (RFC 8945 §3). */
export const TSIG_ERROR = { BADSIG: 16, BADKEY: 17, BADTIME: 18, BADTRUNC: 22 } as const;

const RCODE_NAMES = new Map<number, string>([
  ...Object.entries(RCODE).map(([k, v]) => [v, k] as [number, string]),
  ...Object.entries(TSIG_ERROR).map(([k, v]) => [v, k] as [number, string]),
]);

/** `REFUSED`, `BADSIG`, … or `RCODE42`. */
export function rcodeName(code: number): string {
  return RCODE_NAMES.get(code) ?? `RCODE${code}`;
}

const HEADER = 12;
const MAX_NAME = 255;
const MAX_MESSAGE = 65_535;

export interface Question {
  name: string;
  type: number;
  class: number;
}

export interface Soa {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

export interface Tsig {
  algorithm: string;
  /** Seconds since the epoch (48 bits on the wire). */
  timeSigned: number;
  fudge: number;
  mac: Buffer;
  originalId: number;
  error: number;
  other: Buffer;
}

export interface ResourceRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  /** Raw RDATA as on the wire (names inside may be compressed pointers into the message). */
  rdata: Buffer;
  /** Decoded data for A (dotted quad), NS/PTR/CNAME (name), SOA and TSIG. */
  data?: string | Soa | Tsig;
}

export interface DnsMessage {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  /** Header RCODE (4 bits; no EDNS here). */
  rcode: number;
  /** Question section (the zone section in an UPDATE). */
  questions: Question[];
  /** Answer section (the prerequisite section in an UPDATE). */
  answers: ResourceRecord[];
  /** Authority section (the update section in an UPDATE). */
  authority: ResourceRecord[];
  additional: ResourceRecord[];
}

export interface DecodedMessage extends DnsMessage {
  /** The TSIG record if the message ends with one, with its byte offset in the message. */
  tsig?: { record: ResourceRecord; data: Tsig; offset: number };
}

function bad(detail: string): never {
  throw new LabError("LAB_E_DNS_BAD_RESPONSE", `malformed DNS message: ${detail}`);
}

// ── names ──

/** Splits a presentation-format name into labels (no escapes: Lab only writes LDH names). */
export function nameLabels(name: string): string[] {
  const trimmed = name.endsWith(".") ? name.slice(0, -1) : name;
  if (trimmed === "") return [];
  return trimmed.split(".");
}

/** A name in uncompressed wire form. Lowercased when `canonical` (RFC 4034 §6.2, for TSIG). */
export function encodeName(name: string, canonical = false): Buffer {
  const parts: Buffer[] = [];
  let total = 1;
  for (const label of nameLabels(canonical ? name.toLowerCase() : name)) {
    const bytes = Buffer.from(label, "ascii");
    if (bytes.length === 0 || bytes.length > 63) {
      throw new LabError(
        "LAB_E_DNS_INVALID",
        `DNS name ${JSON.stringify(name)} has an empty or over-long label`,
      );
    }
    total += 1 + bytes.length;
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  if (total > MAX_NAME)
    throw new LabError("LAB_E_DNS_INVALID", `DNS name ${JSON.stringify(name)} is too long`);
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** Reads a possibly compressed name at `offset`; returns it and the offset just after it. */
export function decodeName(buf: Buffer, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let pos = offset;
  let next = -1;
  let length = 1;
  // Each pointer must land before the previous one (the first before itself): positions
  // strictly decrease, so the walk ends. The hop bound is a second guard.
  let limit = -1;
  for (let hops = 0; ; hops++) {
    if (hops > 127) bad("too many compression pointers");
    if (pos >= buf.length) bad("name runs past the end");
    const len = buf[pos] as number;
    if (len === 0) {
      if (next < 0) next = pos + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= buf.length) bad("compression pointer runs past the end");
      const target = ((len & 0x3f) << 8) | (buf[pos + 1] as number);
      if (target >= (limit < 0 ? pos : limit)) bad("compression pointer does not point backwards");
      if (next < 0) next = pos + 2;
      limit = target;
      pos = target;
      continue;
    }
    if (kind !== 0) bad(`unsupported label type 0x${kind.toString(16)}`);
    if (pos + 1 + len > buf.length) bad("label runs past the end");
    length += len + 1;
    if (length > MAX_NAME) bad("name longer than 255 octets");
    labels.push(escapeLabel(buf.subarray(pos + 1, pos + 1 + len)));
    pos += 1 + len;
  }
  return { name: labels.length ? `${labels.join(".")}.` : ".", next };
}

function escapeLabel(bytes: Buffer): string {
  let s = "";
  for (const b of bytes) {
    if (b === 0x2e || b === 0x5c) s += `\\${String.fromCharCode(b)}`;
    else if (b > 0x20 && b < 0x7f) s += String.fromCharCode(b);
    else s += `\\${b.toString().padStart(3, "0")}`;
  }
  return s;
}

/** Whether two presentation names are the same DNS name (case-insensitive, trailing dot optional). */
export function sameName(a: string, b: string): boolean {
  const norm = (n: string) => (n.endsWith(".") ? n : `${n}.`).toLowerCase();
  return norm(a) === norm(b);
}

// ── encoding ──

export interface RecordSpec {
  name: string;
  type: number;
  class: number;
  ttl: number;
  rdata: Buffer;
}

export interface MessageSpec {
  id: number;
  opcode: number;
  qr?: boolean;
  aa?: boolean;
  tc?: boolean;
  rd?: boolean;
  rcode?: number;
  questions: Question[];
  answers?: RecordSpec[];
  authority?: RecordSpec[];
  additional?: RecordSpec[];
}

/** Encodes a message without compression (Lab's messages are small). */
export function encodeMessage(m: MessageSpec): Buffer {
  const header = Buffer.alloc(HEADER);
  header.writeUInt16BE(m.id & 0xffff, 0);
  const flags =
    (m.qr ? 0x8000 : 0) |
    ((m.opcode & 0xf) << 11) |
    (m.aa ? 0x0400 : 0) |
    (m.tc ? 0x0200 : 0) |
    (m.rd ? 0x0100 : 0) |
    ((m.rcode ?? 0) & 0xf);
  header.writeUInt16BE(flags, 2);
  const answers = m.answers ?? [];
  const authority = m.authority ?? [];
  const additional = m.additional ?? [];
  header.writeUInt16BE(m.questions.length, 4);
  header.writeUInt16BE(answers.length, 6);
  header.writeUInt16BE(authority.length, 8);
  header.writeUInt16BE(additional.length, 10);
  const parts: Buffer[] = [header];
  for (const q of m.questions) {
    const tail = Buffer.alloc(4);
    tail.writeUInt16BE(q.type, 0);
    tail.writeUInt16BE(q.class, 2);
    parts.push(encodeName(q.name), tail);
  }
  for (const rr of [...answers, ...authority, ...additional]) parts.push(encodeRecord(rr));
  return Buffer.concat(parts);
}

export function encodeRecord(rr: RecordSpec): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(rr.type, 0);
  fixed.writeUInt16BE(rr.class, 2);
  fixed.writeUInt32BE(rr.ttl >>> 0, 4);
  fixed.writeUInt16BE(rr.rdata.length, 8);
  return Buffer.concat([encodeName(rr.name), fixed, rr.rdata]);
}

/** RDATA of an A record. */
export function aRdata(ipv4: string): Buffer {
  const octets = ipv4.split(".").map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) {
    throw new LabError("LAB_E_DNS_INVALID", `${JSON.stringify(ipv4)} is not an IPv4 address`);
  }
  return Buffer.from(octets);
}

/** RDATA of a PTR/NS/CNAME record. */
export function nameRdata(name: string): Buffer {
  return encodeName(name);
}

// ── decoding ──

class Cursor {
  constructor(
    readonly buf: Buffer,
    public pos: number,
  ) {}

  need(n: number, what: string): void {
    if (this.pos + n > this.buf.length) bad(`${what} runs past the end`);
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  bytes(n: number, what: string): Buffer {
    this.need(n, what);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  name(): string {
    const { name, next } = decodeName(this.buf, this.pos);
    this.pos = next;
    return name;
  }
}

/** Decodes a whole message; throws LAB_E_DNS_BAD_RESPONSE on anything malformed. */
export function decodeMessage(buf: Buffer): DecodedMessage {
  if (!Buffer.isBuffer(buf)) bad("not a byte buffer");
  if (buf.length < HEADER) bad(`${buf.length} bytes is shorter than a header`);
  if (buf.length > MAX_MESSAGE) bad("longer than 65535 bytes");
  const c = new Cursor(buf, 0);
  const id = c.u16("id");
  const flags = c.u16("flags");
  const counts = [c.u16("qdcount"), c.u16("ancount"), c.u16("nscount"), c.u16("arcount")] as const;
  // Each question takes at least 5 bytes and each record 11: reject impossible counts up front.
  const minimum = HEADER + counts[0] * 5 + (counts[1] + counts[2] + counts[3]) * 11;
  if (minimum > buf.length) bad("section counts exceed the message size");
  const questions: Question[] = [];
  for (let i = 0; i < counts[0]; i++) {
    const name = c.name();
    questions.push({ name, type: c.u16("question type"), class: c.u16("question class") });
  }
  const sections: ResourceRecord[][] = [[], [], []];
  let tsig: DecodedMessage["tsig"];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < (counts[s + 1] as number); i++) {
      const offset = c.pos;
      const rr = decodeRecord(c);
      if (tsig) bad("TSIG record is not the last record");
      if (rr.type === TYPE.TSIG) {
        if (s !== 2) bad("TSIG record outside the additional section");
        tsig = { record: rr, data: rr.data as Tsig, offset };
      }
      (sections[s] as ResourceRecord[]).push(rr);
    }
  }
  if (c.pos !== buf.length) bad(`${buf.length - c.pos} trailing bytes`);
  return {
    id,
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    rcode: flags & 0xf,
    questions,
    answers: sections[0] as ResourceRecord[],
    authority: sections[1] as ResourceRecord[],
    additional: sections[2] as ResourceRecord[],
    ...(tsig ? { tsig } : {}),
  };
}

function decodeRecord(c: Cursor): ResourceRecord {
  const name = c.name();
  const type = c.u16("record type");
  const klass = c.u16("record class");
  const ttl = c.u32("record ttl");
  const rdlength = c.u16("rdlength");
  const start = c.pos;
  const rdata = c.bytes(rdlength, "rdata");
  const end = c.pos;
  const rr: ResourceRecord = { name, type, class: klass, ttl, rdata };
  // An UPDATE's delete requests carry empty RDATA: only decode data that is there.
  if (rdlength === 0) return rr;
  const d = new Cursor(c.buf.subarray(0, end), start);
  switch (type) {
    case TYPE.A:
      if (rdlength !== 4) bad(`A record with ${rdlength} bytes of data`);
      rr.data = [...d.bytes(4, "address")].join(".");
      break;
    case TYPE.NS:
    case TYPE.PTR:
    case TYPE.CNAME:
      rr.data = d.name();
      break;
    case TYPE.SOA:
      rr.data = {
        mname: d.name(),
        rname: d.name(),
        serial: d.u32("soa serial"),
        refresh: d.u32("soa refresh"),
        retry: d.u32("soa retry"),
        expire: d.u32("soa expire"),
        minimum: d.u32("soa minimum"),
      };
      break;
    case TYPE.TSIG: {
      const algorithm = d.name();
      const hi = d.u16("tsig time");
      const lo = d.u32("tsig time");
      const fudge = d.u16("tsig fudge");
      const mac = Buffer.from(d.bytes(d.u16("tsig mac size"), "tsig mac"));
      const originalId = d.u16("tsig original id");
      const error = d.u16("tsig error");
      const other = Buffer.from(d.bytes(d.u16("tsig other len"), "tsig other data"));
      rr.data = { algorithm, timeSigned: hi * 2 ** 32 + lo, fudge, mac, originalId, error, other };
      break;
    }
    default:
      return rr;
  }
  if (d.pos !== end) bad(`record data of type ${type} has ${end - d.pos} extra bytes`);
  return rr;
}

// ── TSIG (RFC 8945) ──

export interface TsigKey {
  /** Key name as in named.conf (`key "NAME" { … }`). */
  name: string;
  algorithm: "hmac-sha256";
  /** Base64 secret as in named.conf. */
  secret: string;
}

const ALGORITHMS: Record<TsigKey["algorithm"], { wire: string; hash: string; size: number }> = {
  "hmac-sha256": { wire: "hmac-sha256.", hash: "sha256", size: 32 },
};
/** Seconds of clock difference tolerated (RFC 8945 recommends 300). */
export const TSIG_FUDGE = 300;

/** Checks a key's fields; returns the decoded secret. */
export function tsigSecret(key: TsigKey): Buffer {
  if (!key || typeof key.name !== "string" || !/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/.test(key.name)) {
    throw new LabError("LAB_E_DNS_INVALID", `TSIG key name ${JSON.stringify(key?.name)} is not a DNS name`);
  }
  if (!(key.algorithm in ALGORITHMS)) {
    throw new LabError(
      "LAB_E_DNS_INVALID",
      `TSIG algorithm ${JSON.stringify(key.algorithm)} is not supported (use hmac-sha256)`,
    );
  }
  const s = typeof key.secret === "string" ? key.secret.trim() : "";
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(s) || s.length % 4 !== 0) {
    throw new LabError("LAB_E_DNS_INVALID", `the secret of TSIG key ${key.name} is not base64`);
  }
  return Buffer.from(s, "base64");
}

export interface TsigSignOptions {
  /** Seconds since the epoch; defaults to now. */
  time?: number;
  /** For responses: the MAC of the request being answered. */
  requestMac?: Buffer;
  error?: number;
  other?: Buffer;
  fudge?: number;
}

/** Appends a TSIG record to an encoded message; returns the signed message and its MAC. */
export function tsigSign(
  message: Buffer,
  key: TsigKey,
  o: TsigSignOptions = {},
): { wire: Buffer; mac: Buffer } {
  const secret = tsigSecret(key);
  const alg = ALGORITHMS[key.algorithm];
  const time = o.time ?? Math.floor(Date.now() / 1000);
  const fudge = o.fudge ?? TSIG_FUDGE;
  const error = o.error ?? 0;
  const other = o.other ?? Buffer.alloc(0);
  const hmac = createHmac(alg.hash, secret);
  if (o.requestMac) hmac.update(u16(o.requestMac.length)).update(o.requestMac);
  hmac.update(message).update(tsigVariables(key.name, alg.wire, time, fudge, error, other));
  const mac = hmac.digest();
  const originalId = message.readUInt16BE(0);
  const rdata = Buffer.concat([
    encodeName(alg.wire, true),
    u48(time),
    u16(fudge),
    u16(mac.length),
    mac,
    u16(originalId),
    u16(error),
    u16(other.length),
    other,
  ]);
  const record = encodeRecord({
    name: key.name.toLowerCase(),
    type: TYPE.TSIG,
    class: CLASS.ANY,
    ttl: 0,
    rdata,
  });
  const wire = Buffer.concat([message, record]);
  wire.writeUInt16BE(message.readUInt16BE(10) + 1, 10);
  return { wire, mac };
}

/** The TSIG variables that follow the message in the MAC input (RFC 8945 §4.3.3). */
function tsigVariables(
  keyName: string,
  alg: string,
  time: number,
  fudge: number,
  error: number,
  other: Buffer,
): Buffer {
  return Buffer.concat([
    encodeName(keyName, true),
    u16(CLASS.ANY),
    Buffer.alloc(4), // TTL 0
    encodeName(alg, true),
    u48(time),
    u16(fudge),
    u16(error),
    u16(other.length),
    other,
  ]);
}

export type TsigVerdict =
  /** The response is signed by the key and in time. */
  | { ok: true }
  /** The server could not verify the request and said why (its TSIG carries no MAC). */
  | { ok: false; serverError: number }
  /** The response carries no usable signature. */
  | { ok: false; reason: string };

/**
 * Verifies the TSIG of a response to a request signed with `key` whose MAC was `requestMac`.
 * Throws LAB_E_DNS_BADTIME if the signature is good but the clocks differ too much.
 */
export function tsigVerifyResponse(
  wire: Buffer,
  msg: DecodedMessage,
  key: TsigKey,
  requestMac: Buffer,
  now = Math.floor(Date.now() / 1000),
): TsigVerdict {
  const t = msg.tsig;
  if (!t) return { ok: false, reason: "the response is not signed" };
  if (!sameName(t.record.name, key.name)) {
    return { ok: false, reason: `the response is signed with key ${t.record.name}, not ${key.name}` };
  }
  const alg = ALGORITHMS[key.algorithm];
  if (!sameName(t.data.algorithm, alg.wire)) {
    return { ok: false, reason: `the response is signed with ${t.data.algorithm}, not ${key.algorithm}` };
  }
  if (t.data.error === TSIG_ERROR.BADSIG || t.data.error === TSIG_ERROR.BADKEY) {
    // RFC 8945 §5.3.2: these answers are unsigned; the server could not check our MAC.
    return { ok: false, serverError: t.data.error };
  }
  const size = t.data.mac.length;
  if (size < Math.max(10, alg.size / 2) || size > alg.size) {
    return { ok: false, reason: `the response MAC has ${size} bytes` };
  }
  if (t.data.originalId !== msg.id)
    return { ok: false, reason: "the TSIG original id differs from the message id" };
  const signed = Buffer.from(wire.subarray(0, t.offset));
  signed.writeUInt16BE(t.data.originalId, 0);
  signed.writeUInt16BE(signed.readUInt16BE(10) - 1, 10);
  const expected = createHmac(alg.hash, tsigSecret(key))
    .update(u16(requestMac.length))
    .update(requestMac)
    .update(signed)
    .update(tsigVariables(key.name, alg.wire, t.data.timeSigned, t.data.fudge, t.data.error, t.data.other))
    .digest()
    .subarray(0, size);
  if (!timingSafeEqual(expected, t.data.mac))
    return { ok: false, reason: "the response signature does not verify" };
  if (t.data.error === TSIG_ERROR.BADTIME || Math.abs(now - t.data.timeSigned) > t.data.fudge) {
    throw new LabError(
      "LAB_E_DNS_BADTIME",
      `the DNS server's clock (${new Date(t.data.timeSigned * 1000).toISOString()}) and ours differ by more than ${t.data.fudge} s`,
    );
  }
  if (t.data.error !== 0) return { ok: false, serverError: t.data.error };
  return { ok: true };
}

function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v & 0xffff);
  return b;
}

function u48(v: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUInt16BE(Math.floor(v / 2 ** 32) & 0xffff, 0);
  b.writeUInt32BE(v % 2 ** 32, 2);
  return b;
}
