/**
 * Install logs per machine: a bounded in-memory ring (lines and bytes) for `tail` and live
 * `follow`, and an append-only file per MAC on disk (rotated once at a size limit) so nothing
 * is lost when the ring wraps or Lab restarts. Disk writes are batched per MAC and bounded:
 * when the disk cannot keep up, the oldest pending bytes are dropped and counted.
 */
import { appendFile, mkdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { LabError, redact } from "@lab/core";
import { checkMac } from "../install/validate.js";

export interface InstallLogBufferOptions {
  /** Directory of the per-MAC files (<aa-bb-cc-dd-ee-ff>.log). */
  dir: string;
  /** Lines kept in memory per MAC; default 2000. */
  maxLines?: number;
  /** Bytes kept in memory per MAC; default 1 MiB. */
  maxBytes?: number;
  /** MACs kept in memory (least recently written are evicted; their files stay); default 256. */
  maxMachines?: number;
  /** A file is rotated to .1 beyond this size; default 32 MiB. */
  maxFileBytes?: number;
  /** Pending (unwritten) bytes per MAC before the oldest are dropped; default 4 MiB. */
  maxPendingBytes?: number;
  /** Where disk errors are reported; default console.warn. */
  log?: (message: string) => void;
}

export type LogListener = (line: string) => void;

const MAX_LINE = 8192;

interface Ring {
  lines: string[];
  bytes: number;
  listeners: Set<LogListener>;
  pending: string[];
  pendingBytes: number;
  writing?: Promise<void>;
  fileBytes?: number;
}

/** Splits text into clean lines: no control characters but tab, each at most 8 KB. */
export function cleanLines(text: string): string[] {
  return text
    .split(/\r?\n|\r/)
    .map((l) =>
      l
        // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping them is the point
        .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "")
        .slice(0, MAX_LINE),
    )
    .filter((l) => l.length > 0);
}

export class InstallLogBuffer {
  private readonly rings = new Map<string, Ring>();
  private readonly o: Required<Omit<InstallLogBufferOptions, "log">>;
  private readonly log: (m: string) => void;
  private ready?: Promise<void>;
  private closed = false;
  /** Bytes dropped because the disk did not keep up (all MACs). */
  droppedBytes = 0;

  constructor(opts: InstallLogBufferOptions) {
    this.o = {
      dir: opts.dir,
      maxLines: opts.maxLines ?? 2000,
      maxBytes: opts.maxBytes ?? 1024 * 1024,
      maxMachines: opts.maxMachines ?? 256,
      maxFileBytes: opts.maxFileBytes ?? 32 * 1024 * 1024,
      maxPendingBytes: opts.maxPendingBytes ?? 4 * 1024 * 1024,
    };
    this.log = opts.log ?? ((m) => console.warn(m));
  }

  /** The file holding a MAC's log. */
  fileFor(mac: string): string {
    return join(this.o.dir, `${checkMac(mac).replaceAll(":", "-")}.log`);
  }

  private ring(mac: string, create: boolean): Ring | undefined {
    let r = this.rings.get(mac);
    if (r) {
      // Most recently used last, so eviction takes the first.
      this.rings.delete(mac);
      this.rings.set(mac, r);
      return r;
    }
    if (!create) return undefined;
    r = { lines: [], bytes: 0, listeners: new Set(), pending: [], pendingBytes: 0 };
    this.rings.set(mac, r);
    this.evict(mac);
    return r;
  }

  /** Drops idle machines beyond maxMachines from memory, oldest first (busy ones wait). */
  private evict(keep?: string): void {
    for (const [mac, r] of this.rings) {
      if (this.rings.size <= this.o.maxMachines) break;
      if (mac === keep || r.listeners.size > 0 || r.pending.length > 0 || r.writing) continue;
      this.rings.delete(mac);
    }
  }

  /** Appends text (one or more lines) to a MAC's log. */
  append(mac: string, text: string | string[]): void {
    if (this.closed) throw new LabError("LAB_E_INSTALL_LOG_IO", "the install log buffer is closed");
    const key = checkMac(mac);
    // Installers echo URLs and command lines: their tokens are masked before they are kept.
    const lines = (Array.isArray(text) ? text : [text]).flatMap(cleanLines).map(redact);
    if (lines.length === 0) return;
    const r = this.ring(key, true) as Ring;
    for (const line of lines) {
      const size = Buffer.byteLength(line) + 1;
      r.lines.push(line);
      r.bytes += size;
      while (r.lines.length > this.o.maxLines || (r.bytes > this.o.maxBytes && r.lines.length > 1)) {
        const old = r.lines.shift() ?? "";
        r.bytes -= Buffer.byteLength(old) + 1;
      }
      r.pending.push(line);
      r.pendingBytes += size;
      for (const l of r.listeners) {
        try {
          l(line);
        } catch (e) {
          this.log(`install log: a follower of ${key} failed: ${(e as Error).message}`);
        }
      }
    }
    while (r.pendingBytes > this.o.maxPendingBytes && r.pending.length > 0) {
      const old = r.pending.shift() ?? "";
      const size = Buffer.byteLength(old) + 1;
      r.pendingBytes -= size;
      this.droppedBytes += size;
    }
    if (!r.writing) r.writing = this.drain(key, r);
  }

  private async drain(mac: string, r: Ring): Promise<void> {
    let inflight = 0;
    try {
      this.ready ??= mkdir(this.o.dir, { recursive: true }).then(() => undefined);
      await this.ready;
      const file = this.fileFor(mac);
      if (r.fileBytes === undefined)
        r.fileBytes = await stat(file).then(
          (s) => s.size,
          () => 0,
        );
      while (r.pending.length > 0) {
        const chunk = `${r.pending.join("\n")}\n`;
        inflight = r.pendingBytes;
        r.pending = [];
        r.pendingBytes = 0;
        if (r.fileBytes > 0 && r.fileBytes + Buffer.byteLength(chunk) > this.o.maxFileBytes) {
          await rename(file, `${file}.1`);
          r.fileBytes = 0;
        }
        await appendFile(file, chunk, { mode: 0o640 });
        r.fileBytes += Buffer.byteLength(chunk);
        inflight = 0;
      }
    } catch (e) {
      this.droppedBytes += r.pendingBytes + inflight;
      r.pending = [];
      r.pendingBytes = 0;
      this.log(`install log: cannot write the log of ${mac}: ${(e as Error).message}`);
    } finally {
      r.writing = undefined;
      if (r.pending.length > 0 && !this.closed) r.writing = this.drain(mac, r);
      else this.evict();
    }
  }

  /** The last `n` lines kept in memory for a MAC (oldest first). */
  tail(mac: string, n = 100): string[] {
    const r = this.ring(checkMac(mac), false);
    if (!r || n <= 0) return [];
    return r.lines.slice(-n);
  }

  /** Calls `listener` for every new line of a MAC; returns the unsubscribe function. */
  follow(mac: string, listener: LogListener): () => void {
    const r = this.ring(checkMac(mac), true) as Ring;
    r.listeners.add(listener);
    return () => {
      r.listeners.delete(listener);
    };
  }

  /** Resolves once everything appended so far is on disk. */
  async flush(): Promise<void> {
    for (;;) {
      const writing = [...this.rings.values()].map((r) => r.writing).filter((w): w is Promise<void> => !!w);
      if (writing.length === 0) return;
      await Promise.all(writing);
    }
  }

  /** Forgets a MAC: memory, followers and its files. */
  async forget(mac: string): Promise<void> {
    const key = checkMac(mac);
    const r = this.rings.get(key);
    if (r?.writing) await r.writing;
    this.rings.delete(key);
    const file = this.fileFor(key);
    try {
      await rm(file, { force: true });
      await rm(`${file}.1`, { force: true });
    } catch (e) {
      throw new LabError(
        "LAB_E_INSTALL_LOG_IO",
        `cannot remove the install log of ${key}: ${(e as Error).message}`,
      );
    }
  }

  /** Flushes and stops accepting lines. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    for (const r of this.rings.values()) r.listeners.clear();
  }
}
