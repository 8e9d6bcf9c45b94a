/**
 * IPv4 addresses as unsigned 32-bit numbers (what the handler computes with) and MAC formatting.
 */
import { LabError } from "@lab/core";

/** Parses "a.b.c.d" to an unsigned 32-bit number; undefined when it is not a dotted quad. */
export function tryIp(text: string): number | undefined {
  // Hand-rolled (no regex): lease and reservation addresses are parsed on every request.
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return undefined;
    } else if (c === 46 && digits > 0 && dots < 3) {
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else {
      return undefined;
    }
  }
  if (dots !== 3 || digits === 0) return undefined;
  return n * 256 + part;
}

/** Parses "a.b.c.d"; throws LAB_E_DHCP_CONFIG naming `what` when it is not an IPv4 address. */
export function ip(text: string, what = "address"): number {
  const n = tryIp(text);
  if (n === undefined) throw new LabError("LAB_E_DHCP_CONFIG", `${what} "${text}" is not an IPv4 address`);
  return n;
}

/** Formats an unsigned 32-bit number as "a.b.c.d". */
export function ipString(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** True when `addr` is in the subnet of `base`/`mask`. */
export function sameSubnet(addr: number, base: number, mask: number): boolean {
  return (addr & mask) >>> 0 === (base & mask) >>> 0;
}

/** Validates a contiguous netmask ("255.255.255.0") and returns it as a number. */
export function netmask(text: string): number {
  const n = ip(text, "netmask");
  const inverted = ~n >>> 0;
  if ((inverted & (inverted + 1)) !== 0 || n === 0) {
    throw new LabError("LAB_E_DHCP_CONFIG", `netmask "${text}" is not a contiguous mask like 255.255.255.0`);
  }
  return n;
}

/** Four-byte big-endian encoding of one or more addresses (option values). */
export function ipBytes(...addrs: number[]): Buffer {
  const b = Buffer.allocUnsafe(addrs.length * 4);
  addrs.forEach((a, i) => {
    b.writeUInt32BE(a >>> 0, i * 4);
  });
  return b;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lower-case "aa:bb:cc:dd:ee:ff" of the first `len` bytes of `buf` from `offset`. */
export function macString(buf: Uint8Array, offset: number, len: number): string {
  let s = "";
  for (let i = 0; i < len; i++) s += (i ? ":" : "") + HEX[buf[offset + i] ?? 0];
  return s;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Normalises a MAC to lower-case colon form; throws LAB_E_DHCP_CONFIG when it is not one. */
export function normalizeMac(text: string): string {
  const m = text.trim().toLowerCase().replaceAll("-", ":");
  if (!MAC.test(m)) throw new LabError("LAB_E_DHCP_CONFIG", `"${text}" is not a MAC address`);
  return m;
}
