/**
 * Serving boot files (kernels, initrds, ISO contents) over HTTP: GET/HEAD, a single byte range,
 * conditional requests, and a body written in big chunks with backpressure, from a bounded
 * memory cache of hot files or from disk through pooled buffers, so a rack of machines pulling
 * initrds at once costs neither per-chunk allocations nor descriptors left behind by clients
 * that hang up mid-transfer.
 */
import { realpathSync, type Stats } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, sep } from "node:path";

export interface ServeFileOptions {
  /** Content-Type; by default guessed from the extension (boot files are octet-stream). */
  contentType?: string;
  /** Cache-Control header, if any. */
  cacheControl?: string;
  /** Bytes per read and write (default 1 MiB). */
  chunkBytes?: number;
  /** Memory cache for hot files (default: defaultBootFileCache); false streams every request from disk. */
  cache?: BootFileCache | false;
}

const DEFAULT_CHUNK = 1 << 20;

const TYPES: Record<string, string> = {
  ".ipxe": "text/plain; charset=utf-8",
  ".cfg": "text/plain; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".conf": "text/plain; charset=utf-8",
  ".yaml": "text/yaml; charset=utf-8",
  ".yml": "text/yaml; charset=utf-8",
  ".json": "application/json",
  ".iso": "application/x-iso9660-image",
};

/** Free chunk buffers, reused once the socket has taken their bytes (bounded). */
const pool = new Map<number, Buffer[]>();
const POOL_MAX = 16;

function takeBuffer(size: number): Buffer {
  return pool.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size);
}

function giveBuffer(buf: Buffer): void {
  let free = pool.get(buf.length);
  if (!free) {
    free = [];
    pool.set(buf.length, free);
  }
  if (free.length < POOL_MAX) free.push(buf);
}

/** A strong ETag from mtime and size, like nginx's ("mtime-size" in hex, ms resolution). */
export function etagOf(st: Pick<Stats, "mtimeMs" | "size">): string {
  return `"${Math.floor(st.mtimeMs).toString(16)}-${st.size.toString(16)}"`;
}

export type ByteRange = { start: number; end: number } | "unsatisfiable" | undefined;

/**
 * Parses a Range header for a file of `size` bytes (RFC 9110 §14.1.2). Returns the single
 * inclusive range, "unsatisfiable", or undefined when the header is to be ignored (absent,
 * not bytes, malformed, or several ranges: then the whole file is sent with 200).
 */
export function parseRange(header: string | undefined, size: number): ByteRange {
  if (!header) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return undefined;
  const [, a = "", b = ""] = m;
  if (a === "" && b === "") return undefined;
  if (a === "") {
    const n = Number(b);
    if (n === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  if (b !== "" && Number(b) < start) return undefined;
  if (start >= size) return "unsatisfiable";
  return { start, end: b === "" ? size - 1 : Math.min(Number(b), size - 1) };
}

function etagMatches(header: string, etag: string, weak: boolean): boolean {
  if (header.trim() === "*") return true;
  const bare = (t: string) => (weak ? t.trim().replace(/^W\//, "") : t.trim());
  return header.split(",").some((t) => bare(t) === etag);
}

/** True when the client's copy is current: If-None-Match, else If-Modified-Since. */
function notModified(req: IncomingMessage, etag: string, mtimeMs: number): boolean {
  const inm = req.headers["if-none-match"];
  if (inm !== undefined) return etagMatches(inm, etag, true);
  const ims = req.headers["if-modified-since"];
  if (ims === undefined) return false;
  const since = Date.parse(ims);
  return !Number.isNaN(since) && Math.floor(mtimeMs / 1000) * 1000 <= since;
}

/** If-Range: a range is honoured only while the client's validator still matches (strongly). */
function ifRangeHolds(req: IncomingMessage, etag: string, lastModified: string): boolean {
  const raw = req.headers["if-range"];
  if (raw === undefined) return true;
  const h = String(raw).trim();
  return h.startsWith('"') ? h === etag : h === lastModified;
}

function plain(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  const body = `${text}\n`;
  res.writeHead(status, {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": Buffer.byteLength(body),
    ...extra,
  });
  res.end(body);
}

interface CacheEntry {
  buf: Buffer;
  mtimeMs: number;
  size: number;
  ino: number;
}

export interface BootFileCacheStats {
  hits: number;
  misses: number;
  bytes: number;
  files: number;
}

const sameFile = (a: Pick<Stats, "mtimeMs" | "size" | "ino">, b: Pick<Stats, "mtimeMs" | "size" | "ino">) =>
  a.mtimeMs === b.mtimeMs && a.size === b.size && a.ino === b.ino;

/**
 * Hot boot files in memory, keyed by path and checked against mtime, size and inode on every
 * request. Node has no sendfile: from disk every byte is copied twice (page cache → buffer →
 * socket), from memory once, which roughly doubles throughput per CPU second. A file is loaded
 * in the background after its first request (that request streams from disk), LRU-bounded.
 */
export class BootFileCache {
  private readonly entries = new Map<string, CacheEntry>();
  private readonly loading = new Set<string>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;

  constructor(
    /** Files up to this size are kept (default 256 MiB: kernels, initrds). */
    readonly maxFileBytes = 256 << 20,
    /** Total bytes kept (default 512 MiB). */
    readonly maxBytes = 512 << 20,
  ) {}

  /** The cached bytes when they still match `st` (the file on disk now). */
  get(path: string, st: Stats): Buffer | undefined {
    const e = this.entries.get(path);
    if (e && sameFile(e, st)) {
      this.hits++;
      this.entries.delete(path);
      this.entries.set(path, e);
      return e.buf;
    }
    this.misses++;
    return undefined;
  }

  /** Starts loading `path` into memory if it fits and is not loading already (errors are ignored). */
  warm(path: string, size: number): void {
    if (size > this.maxFileBytes || size > this.maxBytes || this.loading.has(path)) return;
    this.loading.add(path);
    this.load(path)
      .catch(() => false)
      .finally(() => this.loading.delete(path));
  }

  /** Loads `path` now (e.g. an image's kernel and initrd at startup); false if it does not fit or changed meanwhile. */
  preload(path: string): Promise<boolean> {
    return this.load(path);
  }

  stats(): BootFileCacheStats {
    return { hits: this.hits, misses: this.misses, bytes: this.bytes, files: this.entries.size };
  }

  private async load(path: string): Promise<boolean> {
    const fh = await open(path, "r");
    try {
      const before = await fh.stat();
      if (!before.isFile() || before.size > this.maxFileBytes || before.size > this.maxBytes) return false;
      const buf = Buffer.allocUnsafeSlow(before.size);
      let got = 0;
      while (got < buf.length) {
        const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
        if (bytesRead === 0) return false;
        got += bytesRead;
      }
      // Changed while being read: keep nothing rather than a mix of old and new bytes.
      if (!sameFile(before, await fh.stat())) return false;
      this.store(path, { buf, mtimeMs: before.mtimeMs, size: before.size, ino: before.ino });
      return true;
    } finally {
      await fh.close();
    }
  }

  private store(path: string, entry: CacheEntry): void {
    const old = this.entries.get(path);
    if (old) {
      this.bytes -= old.buf.length;
      this.entries.delete(path);
    }
    this.entries.set(path, entry);
    this.bytes += entry.buf.length;
    for (const [k, e] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= e.buf.length;
    }
  }
}

/** The cache serveFile uses unless told otherwise. */
export const defaultBootFileCache = new BootFileCache();

/**
 * Answers `req` with the file at `absPath` (which the caller has made safe, e.g. with safeJoin):
 * 200/206/304/416 for GET and HEAD, 404 when it is missing or not a regular file, 405 for other
 * methods. Resolves when the response has ended or the client has gone, never rejects (a read
 * error gives 500, or a cut connection once headers are out); descriptors are always closed.
 */
export async function serveFile(
  req: IncomingMessage,
  res: ServerResponse,
  absPath: string,
  opts: ServeFileOptions = {},
): Promise<void> {
  const method = req.method ?? "GET";
  if (method !== "GET" && method !== "HEAD") {
    plain(res, 405, "method not allowed", { Allow: "GET, HEAD" });
    return;
  }
  const cache = opts.cache === undefined ? defaultBootFileCache : opts.cache || undefined;
  let fh: FileHandle | undefined;
  try {
    let st: Stats;
    try {
      st = await stat(absPath);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EACCES" || code === "EPERM") plain(res, 403, "forbidden");
      else plain(res, 404, "not found");
      return;
    }
    if (!st.isFile()) {
      plain(res, 404, "not found");
      return;
    }
    const hit = cache?.get(absPath, st);
    if (hit) {
      await respond(req, res, absPath, st, hit, opts);
      return;
    }
    fh = await open(absPath, "r");
    // Headers describe what is read through this descriptor, even if the path changed meanwhile.
    st = await fh.stat();
    if (!st.isFile()) {
      plain(res, 404, "not found");
      return;
    }
    if (method === "GET") cache?.warm(absPath, st.size);
    await respond(req, res, absPath, st, fh, opts);
  } catch (e) {
    // An I/O error: answer 500 if nothing was sent yet, else cut the connection (the length is promised).
    if (!res.headersSent) plain(res, 500, "file could not be read");
    else res.destroy(e as Error);
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** Status, headers and body for a file whose bytes come from memory or from a descriptor. */
async function respond(
  req: IncomingMessage,
  res: ServerResponse,
  absPath: string,
  st: Stats,
  body: Buffer | FileHandle,
  opts: ServeFileOptions,
): Promise<void> {
  const size = st.size;
  const etag = etagOf(st);
  const lastModified = st.mtime.toUTCString();
  const headers: Record<string, string | number> = {
    "Accept-Ranges": "bytes",
    ETag: etag,
    "Last-Modified": lastModified,
  };
  if (opts.cacheControl) headers["Cache-Control"] = opts.cacheControl;
  if (notModified(req, etag, st.mtimeMs)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  headers["Content-Type"] =
    opts.contentType ?? TYPES[extname(absPath).toLowerCase()] ?? "application/octet-stream";
  const range = ifRangeHolds(req, etag, lastModified) ? parseRange(req.headers.range, size) : undefined;
  if (range === "unsatisfiable") {
    res.writeHead(416, { ...headers, "Content-Range": `bytes */${size}`, "Content-Length": 0 });
    res.end();
    return;
  }
  let start = 0;
  let end = size - 1;
  let status = 200;
  if (range) {
    ({ start, end } = range);
    status = 206;
    headers["Content-Range"] = `bytes ${start}-${end}/${size}`;
  }
  headers["Content-Length"] = end - start + 1;
  res.writeHead(status, headers);
  if (req.method === "HEAD" || end < start) {
    res.end();
    return;
  }
  const chunk = opts.chunkBytes ?? DEFAULT_CHUNK;
  if (Buffer.isBuffer(body)) await pumpBuffer(body, res, start, end + 1, chunk);
  else await pumpFile(body, res, start, end + 1, chunk);
}

/** Body bytes handed to each response's socket by serveFile. */
const bodyBytes = new WeakMap<ServerResponse, number>();

/**
 * The body bytes serveFile wrote to `res` (undefined if serveFile did not answer it). A file's
 * headers go out through writeHead, which a ServerResponse does not report back through
 * getHeader: a caller that logs the transfer asks here, and learns what was really sent (less
 * than Content-Length when the client went away).
 */
export function bodyBytesSent(res: ServerResponse): number | undefined {
  return bodyBytes.get(res);
}

/** Tracks a response's backpressure and whether its client is gone. */
class Flow {
  gone: boolean;
  private wake: (() => void) | undefined;
  private readonly onClose = () => {
    this.gone = true;
    this.wake?.();
  };
  private readonly onDrain = () => this.wake?.();

  constructor(private readonly res: ServerResponse) {
    this.gone = res.destroyed;
    bodyBytes.set(res, 0);
    res.on("close", this.onClose);
    res.on("drain", this.onDrain);
  }

  /** Waits for 'drain' (or for the client to go away). */
  drained(): Promise<void> {
    if (this.gone) return Promise.resolve();
    return new Promise<void>((r) => {
      this.wake = () => {
        this.wake = undefined;
        r();
      };
    });
  }

  /** Writes one piece of the body, counted. */
  write(data: Buffer, cb?: () => void): boolean {
    bodyBytes.set(this.res, (bodyBytes.get(this.res) ?? 0) + data.length);
    return this.res.write(data, cb);
  }

  done(): void {
    this.res.off("close", this.onClose);
    this.res.off("drain", this.onDrain);
  }
}

/** Writes [start, stop) of an in-memory file as views of it (no copy in user space). */
async function pumpBuffer(
  buf: Buffer,
  res: ServerResponse,
  start: number,
  stop: number,
  chunk: number,
): Promise<void> {
  const flow = new Flow(res);
  try {
    let pos = start;
    while (pos < stop && !flow.gone) {
      const end = Math.min(pos + chunk, stop);
      const ok = flow.write(buf.subarray(pos, end));
      pos = end;
      if (!ok) await flow.drained();
    }
    if (!flow.gone) res.end();
  } finally {
    flow.done();
  }
}

/**
 * Copies [start, stop) of the file to the response: the next chunk is read while the socket
 * drains the previous one, and a buffer goes back to the pool only after the socket took it.
 */
async function pumpFile(
  fh: FileHandle,
  res: ServerResponse,
  start: number,
  stop: number,
  chunk: number,
): Promise<void> {
  const flow = new Flow(res);
  const read = async (pos: number): Promise<{ buf: Buffer; data: Buffer }> => {
    const buf = takeBuffer(chunk);
    const len = Math.min(chunk, stop - pos);
    let got = 0;
    while (got < len) {
      const { bytesRead } = await fh.read(buf, got, len - got, pos + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return { buf, data: got === buf.length ? buf : buf.subarray(0, got) };
  };
  let pos = start;
  let next: Promise<{ buf: Buffer; data: Buffer }> | undefined = read(pos);
  try {
    while (next && !flow.gone) {
      const { buf, data } = await next;
      next = undefined;
      if (flow.gone) {
        giveBuffer(buf);
        break;
      }
      if (data.length === 0) {
        // The file shrank under us: the promised Content-Length cannot be kept, so cut the connection.
        giveBuffer(buf);
        res.destroy(new Error("file shrank while being sent"));
        break;
      }
      pos += data.length;
      const ok = flow.write(data, () => giveBuffer(buf));
      if (pos < stop) next = read(pos);
      if (!ok) await flow.drained();
    }
    if (!flow.gone) res.end();
  } finally {
    flow.done();
    // A read still in flight must finish before the caller closes the descriptor.
    if (next) await next.then(({ buf }) => giveBuffer(buf)).catch(() => undefined);
  }
}

const realRoots = new Map<string, string>();

function realRoot(root: string): string | undefined {
  let r = realRoots.get(root);
  if (r === undefined) {
    try {
      r = realpathSync(root);
    } catch {
      return undefined;
    }
    if (realRoots.size > 64) realRoots.clear();
    realRoots.set(root, r);
  }
  return r;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const FORBIDDEN = /[\u0000-\u001f\u007f\\]/;

/**
 * Maps a URL path (still percent-encoded; a query is cut off) to a file under `root`. Escapes
 * are decoded exactly once; `..`, NUL, control characters, backslashes and symlinks that lead
 * out of the root give undefined, as does a file that does not exist.
 */
export function safeJoin(root: string, urlPath: string): string | undefined {
  const cut = urlPath.search(/[?#]/);
  const raw = cut === -1 ? urlPath : urlPath.slice(0, cut);
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  if (FORBIDDEN.test(decoded)) return undefined;
  const parts: string[] = [];
  for (const seg of decoded.split("/")) {
    if (seg === "..") return undefined;
    if (seg !== "" && seg !== ".") parts.push(seg);
  }
  if (parts.length === 0) return undefined;
  const base = realRoot(root);
  if (base === undefined) return undefined;
  let real: string;
  try {
    real = realpathSync(join(base, ...parts));
  } catch {
    return undefined;
  }
  const prefix = base.endsWith(sep) ? base : base + sep;
  return real.startsWith(prefix) ? real : undefined;
}
