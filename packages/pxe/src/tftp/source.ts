/**
 * Where a transfer's blocks come from. Small boot files (the usual undionly.kpxe, ipxe.efi,
 * grub images) are served from an in-memory cache keyed by path + mtime + size, so a rack
 * booting at once reads each file once; larger files are streamed in big chunks per transfer.
 */
import type { FileHandle } from "node:fs/promises";
import { open, stat } from "node:fs/promises";

/** Blocks of one file at one block size; block numbers are absolute and start at 1. */
export interface BlockSource {
  readonly size: number;
  /** The bytes of block `n`, or null while they are not loaded yet (then call `load(n)`). */
  block(n: number): Buffer | null;
  /** Resolves once `block(n)` returns data; rejects when the file cannot be read. */
  load(n: number): Promise<void>;
  /** Releases the file descriptor (idempotent). */
  close(): Promise<void>;
}

const EMPTY = Buffer.alloc(0);

/** Serves blocks out of one Buffer (a cached file). */
export class MemorySource implements BlockSource {
  readonly size: number;
  constructor(
    private readonly buf: Buffer,
    private readonly blksize: number,
  ) {
    this.size = buf.length;
  }

  block(n: number): Buffer {
    const start = (n - 1) * this.blksize;
    if (start >= this.size) return EMPTY;
    return this.buf.subarray(start, Math.min(start + this.blksize, this.size));
  }

  load(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Thrown into a transfer when the file shrinks under it; the server reports it as TFTP error 0. */
export class FileChangedError extends Error {
  constructor(path: string) {
    super(`${path} changed while it was being sent`);
    this.name = "FileChangedError";
  }
}

/**
 * Streams a file in chunks of ~1 MiB (a whole number of blocks and at least one window), reading
 * the next chunk ahead while the current one is sent and keeping the previous ones for go-back-N.
 */
export class StreamSource implements BlockSource {
  readonly size: number;
  private readonly chunkSize: number;
  private readonly chunks = new Map<number, Buffer>();
  private readonly loading = new Map<number, Promise<void>>();
  private failure: unknown;
  private closed?: Promise<void>;

  constructor(
    private readonly fh: FileHandle,
    size: number,
    private readonly blksize: number,
    windowsize: number,
    private readonly path: string,
    chunkBytes = 1 << 20,
  ) {
    this.size = size;
    this.chunkSize = Math.max(Math.ceil(chunkBytes / blksize), windowsize) * blksize;
  }

  block(n: number): Buffer | null {
    const start = (n - 1) * this.blksize;
    if (start >= this.size) return EMPTY;
    const ci = Math.floor(start / this.chunkSize);
    const chunk = this.chunks.get(ci);
    if (!chunk) return null;
    this.prefetch(ci + 1);
    const off = start - ci * this.chunkSize;
    return chunk.subarray(off, Math.min(off + this.blksize, chunk.length));
  }

  load(n: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const start = (n - 1) * this.blksize;
    if (start >= this.size) return Promise.resolve();
    return this.loadChunk(Math.floor(start / this.chunkSize));
  }

  close(): Promise<void> {
    this.closed ??= this.fh.close().catch(() => undefined);
    this.chunks.clear();
    return this.closed;
  }

  private prefetch(ci: number): void {
    if (ci * this.chunkSize >= this.size || this.chunks.has(ci) || this.loading.has(ci)) return;
    this.loadChunk(ci).catch((e: unknown) => {
      this.failure = e;
    });
  }

  private loadChunk(ci: number): Promise<void> {
    if (this.chunks.has(ci)) return Promise.resolve();
    const pending = this.loading.get(ci);
    if (pending) return pending;
    const p = this.read(ci).finally(() => this.loading.delete(ci));
    this.loading.set(ci, p);
    return p;
  }

  private async read(ci: number): Promise<void> {
    if (this.closed) return;
    const pos = ci * this.chunkSize;
    const len = Math.min(this.chunkSize, this.size - pos);
    // A fresh buffer per chunk: an earlier chunk may still be referenced by a queued send.
    const buf = Buffer.allocUnsafeSlow(len);
    let got = 0;
    while (got < len) {
      const { bytesRead } = await this.fh.read(buf, got, len - got, pos + got);
      if (bytesRead === 0) throw new FileChangedError(this.path);
      got += bytesRead;
    }
    if (this.closed) return;
    this.chunks.set(ci, buf);
    // Keep two chunks behind the newest (a go-back-N window can reach back into the older of
    // the two once the next one has been prefetched); anything older is done with.
    for (const k of this.chunks.keys()) if (k < ci - 2) this.chunks.delete(k);
  }
}

/** Converts to netascii (RFC 764 as RFC 1350 asks): LF → CR LF, CR → CR NUL. */
export function toNetascii(buf: Buffer): Buffer {
  let extra = 0;
  for (let i = 0; i < buf.length; i++) if (buf[i] === 10 || buf[i] === 13) extra++;
  if (extra === 0) return buf;
  const out = Buffer.allocUnsafe(buf.length + extra);
  let o = 0;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i] as number;
    if (c === 10) {
      out[o++] = 13;
      out[o++] = 10;
    } else if (c === 13) {
      out[o++] = 13;
      out[o++] = 0;
    } else out[o++] = c;
  }
  return out;
}

export interface OpenedFile {
  size: number;
  /** Builds the block source once the block size and window are negotiated. */
  source(blksize: number, windowsize: number): BlockSource;
  /** True when the file came from (or went into) the memory cache. */
  cached: boolean;
  /** Releases the descriptor if no source was made (e.g. the request was refused after opening). */
  discard(): Promise<void>;
}

/** Thrown for a path that exists but is not a regular file (a directory, a device). */
export class NotAFileError extends Error {
  readonly code = "ENOTFILE";
  constructor(path: string) {
    super(`${path} is not a regular file`);
    this.name = "NotAFileError";
  }
}

/** Thrown for a netascii request on a file too big to convert in memory. */
export class NetasciiTooBigError extends Error {
  constructor(path: string, limit: number) {
    super(`${path} is larger than ${limit} bytes; netascii is only served for small files, ask for octet`);
    this.name = "NetasciiTooBigError";
  }
}

interface Entry {
  buf: Buffer;
  mtimeMs: number;
  size: number;
  ino: number;
}

export interface FileCacheStats {
  hits: number;
  misses: number;
  bytes: number;
  files: number;
}

/** An LRU of whole small files, bounded in bytes; stale entries are replaced on the next request. */
export class FileCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<Entry>>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;

  constructor(
    /** Files smaller than this are cached; bigger ones are streamed. */
    readonly maxFileBytes = 16 << 20,
    /** Total cached bytes. */
    readonly maxBytes = 64 << 20,
  ) {}

  stats(): FileCacheStats {
    return { hits: this.hits, misses: this.misses, bytes: this.bytes, files: this.entries.size };
  }

  /** Opens `path` for a transfer: from the cache, into the cache, or as a stream. */
  async open(path: string, netascii: boolean): Promise<OpenedFile> {
    const st = await stat(path);
    if (!st.isFile()) throw new NotAFileError(path);
    if (st.size >= this.maxFileBytes) {
      if (netascii) throw new NetasciiTooBigError(path, this.maxFileBytes);
      const fh = await open(path, "r");
      try {
        const fst = await fh.stat();
        if (!fst.isFile()) throw new NotAFileError(path);
        const size = fst.size;
        return {
          size,
          cached: false,
          source: (blksize, windowsize) => new StreamSource(fh, size, blksize, windowsize, path),
          discard: () => fh.close(),
        };
      } catch (e) {
        await fh.close();
        throw e;
      }
    }
    const key = `${netascii ? "a" : "o"}:${path}`;
    let entry = this.entries.get(key);
    if (entry && entry.mtimeMs === st.mtimeMs && entry.size === st.size && entry.ino === st.ino) {
      this.hits++;
      this.entries.delete(key);
      this.entries.set(key, entry);
    } else {
      this.misses++;
      entry = await this.load(key, path, netascii);
    }
    const buf = entry.buf;
    return {
      size: buf.length,
      cached: true,
      source: (blksize) => new MemorySource(buf, blksize),
      discard: () => Promise.resolve(),
    };
  }

  private load(key: string, path: string, netascii: boolean): Promise<Entry> {
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const p = this.read(path, netascii)
      .then((entry) => {
        this.store(key, entry);
        return entry;
      })
      .finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private async read(path: string, netascii: boolean): Promise<Entry> {
    const fh = await open(path, "r");
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new NotAFileError(path);
      if (st.size >= this.maxFileBytes) throw new FileChangedError(path);
      const buf = Buffer.allocUnsafeSlow(st.size);
      let got = 0;
      while (got < st.size) {
        const { bytesRead } = await fh.read(buf, got, st.size - got, got);
        if (bytesRead === 0) throw new FileChangedError(path);
        got += bytesRead;
      }
      return { buf: netascii ? toNetascii(buf) : buf, mtimeMs: st.mtimeMs, size: st.size, ino: st.ino };
    } finally {
      await fh.close();
    }
  }

  private store(key: string, entry: Entry): void {
    const old = this.entries.get(key);
    if (old) {
      this.bytes -= old.buf.length;
      this.entries.delete(key);
    }
    if (entry.buf.length > this.maxBytes) return;
    this.entries.set(key, entry);
    this.bytes += entry.buf.length;
    for (const [k, e] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= e.buf.length;
    }
  }
}
