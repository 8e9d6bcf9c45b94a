/**
 * TFTP packet codec: RFC 1350 packets plus the OACK of the option extension (RFC 2347).
 * Pure functions over Buffers; parsing never trusts a length and throws only LabError.
 */
import { LabError } from "@lab/core";

export const OP = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

/** TFTP error codes (RFC 1350 §5, code 8 from RFC 2347). */
export const TFTP_ERR = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  OPTION_REFUSED: 8,
} as const;

/** The transfer modes of RFC 1350 ("mail" is obsolete and never served). */
export type TftpMode = "octet" | "netascii" | "mail";

/** Options in request order; names are lower-cased (they are case-insensitive). */
export type TftpOptions = Map<string, string>;

export type TftpPacket =
  | { op: "rrq" | "wrq"; filename: string; mode: string; options: TftpOptions }
  | { op: "data"; block: number; data: Buffer }
  | { op: "ack"; block: number }
  | { op: "error"; code: number; message: string }
  | { op: "oack"; options: TftpOptions };

/** Longest name/mode/option string accepted; real requests are far shorter (RFC 2347 keeps them < 512 B). */
const MAX_STRING = 1024;
/** A request carries a handful of options; more than this is abuse, not a client. */
const MAX_OPTIONS = 32;

function malformed(message: string): LabError {
  return new LabError("LAB_E_TFTP_MALFORMED", message);
}

/** Reads NUL-terminated strings from `start`; `lenientEnd` accepts a last string without its NUL. */
function readStrings(buf: Buffer, start: number, lenientEnd = false): string[] {
  const out: string[] = [];
  let pos = start;
  while (pos < buf.length) {
    let end = buf.indexOf(0, pos);
    if (end === -1) {
      if (!lenientEnd) throw malformed(`string at byte ${pos} is not NUL-terminated`);
      end = buf.length;
    }
    if (end - pos > MAX_STRING) throw malformed(`string at byte ${pos} is longer than ${MAX_STRING} bytes`);
    out.push(buf.toString("utf8", pos, end));
    pos = end + 1;
  }
  return out;
}

/** Pairs option names with values; trailing empty strings are padding some ROMs send and are ignored. */
function readOptions(strings: string[], from: number): TftpOptions {
  const options: TftpOptions = new Map();
  for (let i = from; i < strings.length; i += 2) {
    const name = strings[i] ?? "";
    if (name === "") {
      if (strings.slice(i).some((s) => s !== "")) throw malformed("empty option name before more options");
      break;
    }
    const value = strings[i + 1];
    if (value === undefined) throw malformed(`option "${name}" has no value`);
    if (options.size >= MAX_OPTIONS) throw malformed(`more than ${MAX_OPTIONS} options`);
    const key = name.toLowerCase();
    // RFC 2347 does not allow repeats; the first one counts, as in most servers.
    if (!options.has(key)) options.set(key, value);
  }
  return options;
}

/** Parses one TFTP datagram. Throws LabError LAB_E_TFTP_MALFORMED on anything that is not valid TFTP. */
export function parseTftp(buf: Buffer): TftpPacket {
  if (buf.length < 2) throw malformed(`packet of ${buf.length} byte(s) is shorter than an opcode`);
  const opcode = buf.readUInt16BE(0);
  switch (opcode) {
    case OP.RRQ:
    case OP.WRQ: {
      const strings = readStrings(buf, 2);
      const [filename, mode] = strings;
      if (filename === undefined || filename === "") throw malformed("request without a file name");
      if (mode === undefined || mode === "") throw malformed("request without a transfer mode");
      return {
        op: opcode === OP.RRQ ? "rrq" : "wrq",
        filename,
        mode: mode.toLowerCase(),
        options: readOptions(strings, 2),
      };
    }
    case OP.DATA:
      if (buf.length < 4) throw malformed("DATA packet shorter than its header");
      return { op: "data", block: buf.readUInt16BE(2), data: buf.subarray(4) };
    case OP.ACK:
      if (buf.length < 4) throw malformed("ACK packet shorter than 4 bytes");
      return { op: "ack", block: buf.readUInt16BE(2) };
    case OP.ERROR: {
      if (buf.length < 4) throw malformed("ERROR packet shorter than 4 bytes");
      // Only ever logged, so a message missing its NUL is accepted as it is.
      const [message = ""] = readStrings(buf, 4, true);
      return { op: "error", code: buf.readUInt16BE(2), message };
    }
    case OP.OACK:
      return { op: "oack", options: readOptions(readStrings(buf, 2), 0) };
    default:
      throw malformed(`unknown opcode ${opcode}`);
  }
}

function strings(op: number, parts: string[]): Buffer {
  const bufs = parts.map((p) => Buffer.from(`${p}\0`, "utf8"));
  const head = Buffer.allocUnsafe(2);
  head.writeUInt16BE(op, 0);
  return Buffer.concat([head, ...bufs]);
}

function flatten(options: Iterable<[string, string]>): string[] {
  const out: string[] = [];
  for (const [k, v] of options) out.push(k, v);
  return out;
}

/** Encodes an RRQ or WRQ (used by tests and tools; the server only receives them). */
export function encodeRequest(
  op: "rrq" | "wrq",
  filename: string,
  mode = "octet",
  options: Iterable<[string, string]> = [],
): Buffer {
  return strings(op === "rrq" ? OP.RRQ : OP.WRQ, [filename, mode, ...flatten(options)]);
}

/** The 4-byte DATA header; sent together with the block's bytes as a two-part datagram (no copy). */
export function dataHeader(block: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt16BE(OP.DATA, 0);
  b.writeUInt16BE(block & 0xffff, 2);
  return b;
}

/** A whole DATA packet in one Buffer (copies `data`; the server sends header and data separately). */
export function encodeData(block: number, data: Buffer): Buffer {
  return Buffer.concat([dataHeader(block), data]);
}

/** Encodes an ACK for a 16-bit block number. */
export function encodeAck(block: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt16BE(OP.ACK, 0);
  b.writeUInt16BE(block & 0xffff, 2);
  return b;
}

/** Encodes an ERROR packet; the message is cut to keep the datagram small. */
export function encodeError(code: number, message: string): Buffer {
  const text = Buffer.from(message.slice(0, 200), "utf8");
  const b = Buffer.alloc(5 + text.length);
  b.writeUInt16BE(OP.ERROR, 0);
  b.writeUInt16BE(code & 0xffff, 2);
  text.copy(b, 4);
  return b;
}

/** Encodes an OACK with the accepted options, in the order given. */
export function encodeOack(options: Iterable<[string, string]>): Buffer {
  return strings(OP.OACK, flatten(options));
}
