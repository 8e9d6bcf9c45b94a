/**
 * Lease storage for scoped mode. A lease binds one MAC to one address until `expiresAt`; each MAC
 * has at most one lease and each address at most one holder (a new holder replaces the old one).
 * `put`/`remove` may return a Promise: the handler sends its ACK only once that Promise resolves,
 * so a durable store (FileLeaseStore) never acknowledges an address it could forget.
 */
import { LabError } from "@lab/core";

/** One address binding. */
export interface Lease {
  /** Lower-case "aa:bb:cc:dd:ee:ff". */
  mac: string;
  /** Dotted IPv4 address. */
  ip: string;
  /** Epoch milliseconds; an expired lease is kept (the MAC gets the same address back) until reused. */
  expiresAt: number;
  /** Option 12 the client sent, when it sent one. */
  hostname?: string;
}

/** Where leases live. Synchronous reads; writes are durable once the returned value settles. */
export interface LeaseStore {
  /** The lease of a MAC, expired or not. */
  get(mac: string): Lease | undefined;
  /** The lease holding an address, expired or not. */
  getByIp(ip: string): Lease | undefined;
  /** Every lease (a snapshot). */
  list(): Lease[];
  /** Number of leases held. */
  readonly size: number;
  /** Records the lease of `lease.mac`, replacing that MAC's old lease and any other holder of the address. */
  put(lease: Lease): void | Promise<void>;
  /** Forgets the lease of a MAC (release, decline). */
  remove(mac: string): void | Promise<void>;
  /** Flushes and releases resources; later writes fail. */
  close(): Promise<void>;
}

/** The in-memory index both stores keep: MAC → lease and address → MAC, kept consistent. */
export class LeaseTable {
  private readonly byMac = new Map<string, Lease>();
  private readonly byIp = new Map<string, string>();

  get size(): number {
    return this.byMac.size;
  }

  get(mac: string): Lease | undefined {
    return this.byMac.get(mac);
  }

  getByIp(ip: string): Lease | undefined {
    const mac = this.byIp.get(ip);
    return mac === undefined ? undefined : this.byMac.get(mac);
  }

  list(): Lease[] {
    return [...this.byMac.values()];
  }

  values(): IterableIterator<Lease> {
    return this.byMac.values();
  }

  /** Applies a put: the MAC's old address is freed and another holder of the new address loses it. */
  put(lease: Lease): void {
    const old = this.byMac.get(lease.mac);
    if (old && old.ip !== lease.ip && this.byIp.get(old.ip) === lease.mac) this.byIp.delete(old.ip);
    const holder = this.byIp.get(lease.ip);
    if (holder !== undefined && holder !== lease.mac) this.byMac.delete(holder);
    this.byMac.set(lease.mac, lease);
    this.byIp.set(lease.ip, lease.mac);
  }

  remove(mac: string): void {
    const old = this.byMac.get(mac);
    if (!old) return;
    this.byMac.delete(mac);
    if (this.byIp.get(old.ip) === mac) this.byIp.delete(old.ip);
  }
}

/** Leases in memory only (tests, proxy mode, or when losing leases on restart is acceptable). */
export class MemoryLeaseStore implements LeaseStore {
  private readonly table = new LeaseTable();
  private closed = false;

  get size(): number {
    return this.table.size;
  }

  get(mac: string): Lease | undefined {
    return this.table.get(mac);
  }

  getByIp(ip: string): Lease | undefined {
    return this.table.getByIp(ip);
  }

  list(): Lease[] {
    return this.table.list();
  }

  put(lease: Lease): void {
    if (this.closed) throw new LabError("LAB_E_DHCP_LEASE_IO", "the lease store is closed");
    this.table.put({ ...lease });
  }

  remove(mac: string): void {
    this.table.remove(mac);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
