/**
 * Durable lease store: an append-only journal of JSON lines with group commit.
 *
 * Every put/remove is applied in memory at once and appended to the current batch; the batch is
 * written with one write and one fdatasync, and only then does the Promise all its writers share
 * resolve, so the handler's ACKs of a batch leave after a single disk flush. While a flush runs the
 * next batch fills up, so batches grow with load instead of queuing one fsync per lease.
 *
 * Crash safety: a crash can leave the last line incomplete (never fsynced, so never acknowledged);
 * opening ignores it and reports it in `recovery`. Damage anywhere else is not a crash artefact
 * and fails the open with LAB_E_DHCP_LEASES_CORRUPT rather than silently dropping leases.
 * The journal is compacted (rewritten to one line per lease, via a temporary file, fsync and
 * rename) on open and whenever it holds many more records than leases.
 */
import { fdatasync, constants as fsConstants, writeSync } from "node:fs";
import { type FileHandle, open, readFile, rename, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { LabError } from "@lab/core";
import { tryIp } from "./ip.js";
import { type Lease, type LeaseStore, LeaseTable } from "./leases.js";

/** Knobs; the defaults suit a LAN of thousands of machines. */
export interface FileLeaseStoreOptions {
  /** Writes waiting for the disk before put() fails with LAB_E_DHCP_BUSY (the client retries). */
  maxPending?: number;
  /** Compact once the journal holds more than max(this, factor × leases) records. */
  compactMinRecords?: number;
  compactFactor?: number;
  /**
   * Shortest time between the starts of two fsyncs, in ms (default 4). Under load a batch then holds
   * a couple of milliseconds of leases instead of one fsync (~100 µs of CPU) per handful of them;
   * DHCP clients wait seconds for an answer, so the added latency is immaterial.
   */
  commitIntervalMs?: number;
}

/** What opening found. */
export interface LeaseRecovery {
  path: string;
  /** Journal records replayed. */
  records: number;
  /** Leases after replay. */
  leases: number;
  /** An incomplete last line (a write cut by a crash before its fsync), ignored. */
  torn?: { line: number; bytes: number };
}

/** Counters for metrics and the benchmark. */
export interface FileLeaseStats {
  batches: number;
  records: number;
  compactions: number;
  pending: number;
  largestBatch: number;
}

const HEADER = { lab: "dhcp-leases", v: 1 };
const HEADER_LINE = `${JSON.stringify(HEADER)}\n`;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

interface Compaction {
  tmp: string;
  fh?: FileHandle;
  /** Journal lines written after the snapshot was taken. */
  tail: string[];
  ready: boolean;
  records: number;
  done?: Promise<void>;
  error?: unknown;
}

interface Batch {
  lines: string[];
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A batch nobody awaits (only removes) must not surface as an unhandled rejection.
  promise.catch(() => {});
  return { lines: [], promise, resolve, reject };
}

function corrupt(path: string, line: number, why: string): LabError {
  return new LabError("LAB_E_DHCP_LEASES_CORRUPT", `${path}:${line}: ${why}`);
}

function ioError(path: string, what: string, e: unknown): LabError {
  const detail = e instanceof Error ? e.message : String(e);
  return new LabError("LAB_E_DHCP_LEASE_IO", `${what} ${path} failed: ${detail}`);
}

function leaseLine(l: Lease): string {
  // mac and ip are validated formats; only the client-chosen host name needs escaping.
  const host = l.hostname === undefined ? "" : `,"h":${JSON.stringify(l.hostname)}`;
  return `{"m":"${l.mac}","i":"${l.ip}","e":${Math.trunc(l.expiresAt)}${host}}\n`;
}

/** Applies one journal line to the table; throws a description of what is wrong with it. */
function applyLine(table: LeaseTable, text: string): void {
  const r = JSON.parse(text) as Record<string, unknown>;
  if (typeof r !== "object" || r === null) throw new Error("not a JSON object");
  const mac = r.m;
  if (typeof mac !== "string" || !MAC.test(mac)) throw new Error("missing or invalid MAC");
  if (r.d === 1) {
    table.remove(mac);
    return;
  }
  const ip = r.i;
  const e = r.e;
  if (typeof ip !== "string" || tryIp(ip) === undefined) throw new Error("missing or invalid address");
  if (typeof e !== "number" || !Number.isFinite(e)) throw new Error("missing or invalid expiry");
  const h = r.h;
  if (h !== undefined && typeof h !== "string") throw new Error("host name is not a string");
  table.put(h === undefined ? { mac, ip, expiresAt: e } : { mac, ip, expiresAt: e, hostname: h });
}

/** Replays a journal into a table; a torn last line is reported, damage elsewhere throws. */
async function replay(path: string): Promise<{ table: LeaseTable; recovery: LeaseRecovery }> {
  let text = "";
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw ioError(path, "reading", e);
  }
  const table = new LeaseTable();
  const recovery: LeaseRecovery = { path, records: 0, leases: 0 };
  const lines = text.split("\n");
  // Everything after the last newline was never completely written: a torn tail, not damage.
  const tail = lines.pop() ?? "";
  if (tail !== "") recovery.torn = { line: lines.length + 1, bytes: Buffer.byteLength(tail) };
  lines.forEach((line, i) => {
    if (line === "") return;
    if (i === 0 && line.startsWith('{"lab"')) {
      let header: { lab?: unknown; v?: unknown };
      try {
        header = JSON.parse(line) as typeof header;
      } catch {
        throw corrupt(path, 1, "unreadable header");
      }
      if (header.lab !== HEADER.lab) throw corrupt(path, 1, "not a Lab DHCP lease journal");
      if (header.v !== HEADER.v)
        throw corrupt(
          path,
          1,
          `journal format ${String(header.v)} is not ${HEADER.v}: written by another Lab version`,
        );
      return;
    }
    try {
      applyLine(table, line);
      recovery.records++;
    } catch (e) {
      throw corrupt(path, i + 1, `${(e as Error).message}: ${line.slice(0, 80)}`);
    }
  });
  recovery.leases = table.size;
  return { table, recovery };
}

function writeAllSync(fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
}

function datasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasync(fd, (e) => (e ? reject(e) : resolve())));
}

async function writeAll(fh: FileHandle, data: Buffer): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off);
    off += bytesWritten;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, fsConstants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The durable LeaseStore. Create with `await FileLeaseStore.open(path)`. */
export class FileLeaseStore implements LeaseStore {
  readonly recovery: LeaseRecovery;
  private readonly table: LeaseTable;
  private readonly path: string;
  private readonly maxPending: number;
  private readonly compactMin: number;
  private readonly compactFactor: number;
  private readonly commitIntervalMs: number;
  private fh: FileHandle | undefined;
  private batch: Batch = newBatch();
  private flushing: Promise<void> | undefined;
  private scheduled = false;
  private failed: LabError | undefined;
  private closed = false;
  private journalRecords = 0;
  private compaction: Compaction | undefined;
  private lastFlushStart = Number.NEGATIVE_INFINITY;
  private readonly counters = { batches: 0, records: 0, compactions: 0, largestBatch: 0 };

  private constructor(path: string, table: LeaseTable, recovery: LeaseRecovery, opts: FileLeaseStoreOptions) {
    this.path = path;
    this.table = table;
    this.recovery = recovery;
    this.maxPending = opts.maxPending ?? 50_000;
    this.compactMin = opts.compactMinRecords ?? 10_000;
    this.compactFactor = opts.compactFactor ?? 4;
    this.commitIntervalMs = opts.commitIntervalMs ?? 4;
  }

  /** Opens (creating if missing) and replays the journal at `path`, then compacts it. One process per journal. */
  static async open(path: string, opts: FileLeaseStoreOptions = {}): Promise<FileLeaseStore> {
    const { table, recovery } = await replay(path);
    const store = new FileLeaseStore(path, table, recovery, opts);
    await store.compact();
    return store;
  }

  /** Reads a journal without changing it (inspection, or another process looking at a live journal). */
  static async read(path: string): Promise<{ leases: Lease[]; recovery: LeaseRecovery }> {
    const { table, recovery } = await replay(path);
    return { leases: table.list(), recovery };
  }

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

  /** Resolves once the lease is on disk (the batch holding it was fsynced). */
  put(lease: Lease): Promise<void> {
    const refused = this.refuse();
    if (refused) return refused;
    if (!MAC.test(lease.mac) || tryIp(lease.ip) === undefined || !Number.isFinite(lease.expiresAt)) {
      // A record the journal could not replay must never be written.
      return Promise.reject(
        new LabError("LAB_E_DHCP_LEASE_IO", `refusing to record an invalid lease ${JSON.stringify(lease)}`),
      );
    }
    const copy: Lease = { ...lease };
    this.table.put(copy);
    return this.append(leaseLine(copy));
  }

  /** Resolves once the removal is on disk. */
  remove(mac: string): Promise<void> {
    const refused = this.refuse();
    if (refused) return refused;
    if (!MAC.test(mac) || !this.table.get(mac)) return Promise.resolve();
    this.table.remove(mac);
    return this.append(`{"m":"${mac}","d":1}\n`);
  }

  stats(): FileLeaseStats {
    return { ...this.counters, pending: this.batch.lines.length };
  }

  /** Waits for every pending write, then closes the journal. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing || this.batch.lines.length > 0) {
      if (!this.flushing) this.startFlush();
      await this.flushing;
    }
    const c = this.compaction;
    if (c) {
      if (this.failed) c.error ??= this.failed;
      await this.finishCompaction(c).catch(() => {});
    }
    await this.fh?.close();
    this.fh = undefined;
  }

  private refuse(): Promise<void> | undefined {
    if (this.failed) return Promise.reject(this.failed);
    if (this.closed)
      return Promise.reject(new LabError("LAB_E_DHCP_LEASE_IO", `lease journal ${this.path} is closed`));
    if (this.batch.lines.length >= this.maxPending) {
      return Promise.reject(
        new LabError(
          "LAB_E_DHCP_BUSY",
          `${this.batch.lines.length} lease writes are waiting for ${this.path}`,
        ),
      );
    }
    return undefined;
  }

  private append(line: string): Promise<void> {
    const batch = this.batch;
    batch.lines.push(line);
    if (!this.flushing) this.schedule();
    return batch.promise;
  }

  /** Defers the flush to the end of this I/O phase so every packet that arrived with this one joins the batch. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = () => {
      this.scheduled = false;
      if (!this.flushing) this.startFlush();
    };
    // Keep fsyncs at least commitIntervalMs apart, also when the previous batch found nothing more.
    const wait = this.commitIntervalMs - (performance.now() - this.lastFlushStart);
    if (wait > 0.1) setTimeout(run, Math.ceil(wait));
    else setImmediate(run);
  }

  private startFlush(): void {
    this.flushing = this.flushLoop().finally(() => {
      this.flushing = undefined;
      // Writers woken by the last batch may have appended before this ran: do not strand them.
      if (this.batch.lines.length > 0 && !this.failed) this.schedule();
    });
  }

  private async flushLoop(): Promise<void> {
    while (this.batch.lines.length > 0 && !this.failed) {
      const started = performance.now();
      this.lastFlushStart = started;
      const batch = this.batch;
      this.batch = newBatch();
      try {
        if (!this.fh) throw new Error("journal is not open");
        // The append goes to the page cache: a synchronous write costs a few µs, while handing it to
        // the thread pool costs more than that in wake-ups (and preempts this thread when pinned to
        // one core). Only the fdatasync, which waits for the disk, runs off the event loop.
        writeAllSync(this.fh.fd, Buffer.from(batch.lines.join(""), "utf8"));
        await datasync(this.fh.fd);
      } catch (e) {
        this.fail(ioError(this.path, "appending to", e), batch);
        return;
      }
      this.counters.batches++;
      this.counters.records += batch.lines.length;
      this.counters.largestBatch = Math.max(this.counters.largestBatch, batch.lines.length);
      this.journalRecords += batch.lines.length;
      batch.resolve();
      const c = this.compaction;
      if (c) {
        for (const line of batch.lines) c.tail.push(line);
        if (c.ready || c.error) {
          try {
            await this.finishCompaction(c);
          } catch (e) {
            this.fail(e instanceof LabError ? e : ioError(this.path, "compacting", e));
            return;
          }
        }
      } else if (this.journalRecords > Math.max(this.compactMin, this.compactFactor * this.table.size)) {
        this.startCompaction();
      }
      const rest = this.commitIntervalMs - (performance.now() - started);
      if (rest > 0.1 && this.batch.lines.length > 0) await new Promise((r) => setTimeout(r, Math.ceil(rest)));
    }
  }

  /**
   * Starts writing a snapshot to a temporary file in the background while batches keep going to the
   * journal; records written meanwhile are kept in `tail` and appended to the snapshot when it is
   * switched in (between two batches), so commits never wait for the whole snapshot.
   */
  private startCompaction(): void {
    const tmp = `${this.path}.tmp`;
    const text = this.snapshot();
    const c: Compaction = { tmp, tail: [], ready: false, records: this.table.size };
    c.done = (async () => {
      await unlink(tmp).catch(() => {});
      c.fh = await open(tmp, "a", 0o600);
      await writeAll(c.fh, Buffer.from(text, "utf8"));
      await c.fh.datasync();
      c.ready = true;
    })().catch((e: unknown) => {
      c.error = e;
    });
    this.compaction = c;
  }

  /** Switches a finished snapshot in: append the tail, fsync, rename over the journal, fsync the folder. */
  private async finishCompaction(c: Compaction): Promise<void> {
    this.compaction = undefined;
    await c.done;
    const discard = async () => {
      await c.fh?.close().catch(() => {});
      await unlink(c.tmp).catch(() => {});
    };
    if (c.error || !c.fh || !c.ready) {
      // The old journal is complete; a failed snapshot is only retried later.
      await discard();
      return;
    }
    try {
      if (c.tail.length) await writeAll(c.fh, Buffer.from(c.tail.join(""), "utf8"));
      await c.fh.datasync();
      await rename(c.tmp, this.path);
    } catch {
      await discard();
      return;
    }
    const old = this.fh;
    this.fh = c.fh;
    await old?.close().catch(() => {});
    await fsyncDir(dirname(this.path));
    this.journalRecords = c.records + c.tail.length;
    this.counters.compactions++;
  }

  private snapshot(): string {
    const parts: string[] = [HEADER_LINE];
    for (const l of this.table.values()) parts.push(leaseLine(l));
    return parts.join("");
  }

  /** After a failed write the file's state is unknown: refuse everything from now on. */
  private fail(error: LabError, batch?: Batch): void {
    this.failed = error;
    batch?.reject(error);
    this.batch.reject(error);
    this.batch = newBatch();
  }

  /**
   * Rewrites the journal as one line per lease, in the foreground (on open). Snapshots may include
   * writes still queued in the next batch; replaying them again after it is harmless (each record
   * sets or clears one MAC, and the last record of a MAC wins).
   */
  private async compact(): Promise<void> {
    const tmp = `${this.path}.tmp`;
    let out: FileHandle | undefined;
    try {
      out = await open(tmp, "w", 0o600);
      await writeAll(out, Buffer.from(this.snapshot(), "utf8"));
      await out.sync();
      await out.close();
      out = undefined;
      await rename(tmp, this.path);
      await fsyncDir(dirname(this.path));
      await this.fh?.close();
      this.fh = await open(this.path, "a", 0o600);
    } catch (e) {
      await out?.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      throw ioError(this.path, "compacting", e);
    }
    this.journalRecords = this.table.size;
    this.counters.compactions++;
  }
}
