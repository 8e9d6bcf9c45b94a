/**
 * Option negotiation for read requests: blksize (RFC 2348), timeout and tsize (RFC 2349),
 * windowsize (RFC 7440). The server only ever answers with values the client may accept:
 * the same or smaller blksize/windowsize, the client's own timeout, the real tsize.
 */
import type { TftpOptions } from "./packet.js";

export interface NegotiationLimits {
  /** Largest block the server agrees to (the client's request is clamped to it). */
  maxBlksize: number;
  /** Largest window the server agrees to. */
  maxWindowsize: number;
  /** Retransmission timeout when the client does not ask for one. */
  defaultTimeoutMs: number;
}

export interface Negotiated {
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  /** Accepted options in request order for the OACK; empty means: answer with DATA, no OACK. */
  oack: [string, string][];
}

export const BLKSIZE_MIN = 8;
export const BLKSIZE_MAX = 65464;
export const WINDOWSIZE_MAX = 65535;

/** Strict base-10 integer: option values are ASCII digits, nothing else. */
function int(value: string): number | undefined {
  if (!/^[0-9]{1,10}$/.test(value)) return undefined;
  return Number(value);
}

/**
 * Decides blksize, windowsize and timeout for a read of `size` bytes. Options with values
 * outside their RFC ranges are left out of the OACK, which per RFC 2347 means "not accepted"
 * (the transfer goes on with the default for that option) rather than failing the request.
 */
export function negotiate(options: TftpOptions, size: number, limits: NegotiationLimits): Negotiated {
  const result: Negotiated = {
    blksize: 512,
    windowsize: 1,
    timeoutMs: limits.defaultTimeoutMs,
    oack: [],
  };
  for (const [name, raw] of options) {
    const n = int(raw.trim());
    switch (name) {
      case "blksize":
        if (n === undefined || n < BLKSIZE_MIN) break;
        result.blksize = Math.min(n, BLKSIZE_MAX, limits.maxBlksize);
        result.oack.push([name, String(result.blksize)]);
        break;
      case "timeout":
        // RFC 2349: 1..255 seconds, and the OACK must echo the client's value unchanged.
        if (n === undefined || n < 1 || n > 255) break;
        result.timeoutMs = n * 1000;
        result.oack.push([name, String(n)]);
        break;
      case "tsize":
        // In a read request the client sends 0 and the OACK carries the real size. For an empty
        // file the option is left out (allowed by RFC 2347): curl rejects "tsize 0" as illegal.
        if (n === undefined || size === 0) break;
        result.oack.push([name, String(size)]);
        break;
      case "windowsize":
        if (n === undefined || n < 1 || n > WINDOWSIZE_MAX) break;
        result.windowsize = Math.max(1, Math.min(n, limits.maxWindowsize));
        result.oack.push([name, String(result.windowsize)]);
        break;
      default:
        // Unknown options are silently omitted from the OACK (RFC 2347).
        break;
    }
  }
  return result;
}
