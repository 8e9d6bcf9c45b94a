/**
 * Address pool for scoped mode: O(1) allocation from a free queue instead of scanning the range.
 *
 * Each address is free, offered (held briefly for the MAC it was offered to) or leased. The free
 * queue is a ring of candidates; claiming a specific address does not remove it from the ring, so
 * a popped entry is checked and skipped when someone holds it (lazy deletion). Released addresses
 * go to the back, so a recently used address is reused last and its old owner likely gets it back.
 * Expired holders are reclaimed in one sweep only when the queue runs dry (amortised O(1)).
 */
import { LabError } from "@lab/core";
import { ipString } from "./ip.js";

interface Holder {
  mac: string;
  /** Epoch ms after which the address may go to someone else. */
  until: number;
  /** True for a lease (committed), false for an offer hold or a declined-address quarantine. */
  leased: boolean;
}

/** The largest pool accepted (a /12); bigger ranges are a configuration mistake. */
export const MAX_POOL_SIZE = 1 << 20;

export class AddressPool {
  readonly first: number;
  readonly last: number;
  private readonly excluded: Set<number>;
  private readonly holders = new Map<number, Holder>();
  private ring: Uint32Array;
  private head = 0;
  private count = 0;

  /** A pool of first..last inclusive (unsigned 32-bit addresses), never handing out `exclude`. */
  constructor(first: number, last: number, exclude: Iterable<number> = []) {
    if (last < first) {
      throw new LabError(
        "LAB_E_DHCP_CONFIG",
        `pool ${ipString(first)}-${ipString(last)} ends before it starts`,
      );
    }
    if (last - first + 1 > MAX_POOL_SIZE) {
      throw new LabError(
        "LAB_E_DHCP_CONFIG",
        `pool ${ipString(first)}-${ipString(last)} has more than ${MAX_POOL_SIZE} addresses`,
      );
    }
    this.first = first;
    this.last = last;
    this.excluded = new Set(exclude);
    this.ring = new Uint32Array(this.capacityFor(last - first + 1));
    this.refill();
  }

  /** Marks existing leases as held (expired ones stay with their MAC until the pool needs them). */
  load(leases: Iterable<{ ip: number; mac: string; until: number }>): void {
    for (const l of leases)
      if (this.contains(l.ip)) this.holders.set(l.ip, { mac: l.mac, until: l.until, leased: true });
    this.refill();
  }

  /** True when `ip` is inside the range and not excluded. */
  contains(ip: number): boolean {
    return ip >= this.first && ip <= this.last && !this.excluded.has(ip);
  }

  /** Who holds `ip` at `now` (expired holders do not count). */
  holder(ip: number, now: number): string | undefined {
    const h = this.holders.get(ip);
    return h && h.until > now ? h.mac : undefined;
  }

  /** True when `mac` may take `ip` now: in the pool and unheld or held by `mac` already. */
  available(ip: number, mac: string, now: number): boolean {
    if (!this.contains(ip)) return false;
    const h = this.holders.get(ip);
    return !h || h.mac === mac || h.until <= now;
  }

  /** Holds `ip` for `mac` until `until` (offer: leased=false; lease: leased=true). */
  hold(ip: number, mac: string, until: number, leased: boolean): void {
    const h = this.holders.get(ip);
    if (h) {
      h.mac = mac;
      h.until = until;
      h.leased = leased;
    } else {
      this.holders.set(ip, { mac, until, leased });
    }
  }

  /** Returns `ip` to the free queue if `mac` holds it (or anyone, when mac is undefined). */
  free(ip: number, mac?: string): void {
    const h = this.holders.get(ip);
    if (!h || (mac !== undefined && h.mac !== mac)) return;
    this.holders.delete(ip);
    this.push(ip);
  }

  /** Takes a free address for `mac` (held as an offer until `until`); undefined when the pool is full. */
  allocate(mac: string, now: number, until: number): number | undefined {
    for (let pass = 0; pass < 2; pass++) {
      while (this.count > 0) {
        const ip = this.ring[this.head] as number;
        this.head = (this.head + 1) % this.ring.length;
        this.count--;
        const h = this.holders.get(ip);
        if (h && h.until > now) continue; // claimed since it was queued
        this.hold(ip, mac, until, false);
        return ip;
      }
      if (pass === 0 && this.reclaim(now) === 0) break;
    }
    return undefined;
  }

  /** Counts for metrics: addresses in the range, held now, queued as free. */
  stats(now: number): { size: number; held: number; queued: number } {
    let held = 0;
    for (const h of this.holders.values()) if (h.until > now) held++;
    return { size: this.last - this.first + 1 - this.excludedInRange(), held, queued: this.count };
  }

  private excludedInRange(): number {
    let n = 0;
    for (const ip of this.excluded) if (ip >= this.first && ip <= this.last) n++;
    return n;
  }

  /** Moves every expired holder's address back to the queue; returns how many. */
  private reclaim(now: number): number {
    let n = 0;
    for (const [ip, h] of this.holders) {
      if (h.until <= now) {
        this.holders.delete(ip);
        this.push(ip);
        n++;
      }
    }
    return n;
  }

  private capacityFor(size: number): number {
    return size * 2 + 64;
  }

  private push(ip: number): void {
    if (this.count === this.ring.length) {
      // Only stale duplicates can fill twice the pool size: rebuild from the holders instead.
      this.refill();
      return;
    }
    this.ring[(this.head + this.count) % this.ring.length] = ip;
    this.count++;
  }

  /** Rebuilds the queue with every address nobody holds, in range order. */
  private refill(): void {
    this.head = 0;
    this.count = 0;
    for (let ip = this.first; ip <= this.last; ip++) {
      if (!this.excluded.has(ip) && !this.holders.has(ip)) this.ring[this.count++] = ip;
    }
  }
}
