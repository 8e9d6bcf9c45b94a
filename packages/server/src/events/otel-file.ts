/**
 * Tails an OpenTelemetry collector `file` exporter's output: one JSON object per line, each
 * `{resourceLogs: [{resource, scopeLogs: [{scope, logRecords: […]}]}]}`.
 *
 * Delivery: a line is handed over only when complete (a half-written line waits), and the
 * offset after it is committed only after the sink took it, so a restart resumes exactly
 * where delivery stopped. Rotation (the file renamed, a new one created) is seen by the path
 * naming another inode: the old file is read to its end first, then the new one from 0.
 * Truncation in place (copytruncate) restarts at 0 and is reported: what was written between
 * the last read and the truncation is gone, and the status says so instead of hiding it.
 */
import { type FSWatcher, watch } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { type AttributeValue, type LabEvent, levelOf } from "./model.js";

/** Where the tail resumes: the file's identity and the byte after the last delivered line. */
export interface FilePosition {
  dev: number;
  ino: number;
  offset: number;
}

export interface PositionStore {
  load(): Promise<FilePosition | null>;
  save(p: FilePosition): Promise<void>;
}

export interface TailStatus {
  state: "waiting" | "reading" | "failed";
  /** Why it is waiting or failed, in words. */
  detail: string;
  lines: number;
  events: number;
  malformed: number;
  rotations: number;
  truncations: number;
  position: FilePosition | null;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: OtlpValue[] };
  kvlistValue?: { values?: OtlpKv[] };
}
interface OtlpKv {
  key: string;
  value?: OtlpValue;
}

function scalar(v: OtlpValue | undefined): AttributeValue {
  if (!v) return "";
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  return JSON.stringify(v.arrayValue ?? v.kvlistValue ?? v);
}

function attributes(list: OtlpKv[] | undefined): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of list ?? []) out[kv.key] = scalar(kv.value);
  return out;
}

const NODE_KEYS = ["host.name", "k8s.node.name", "lab.server", "talos.node"];

/** The events in one exporter line (throws on a line that is not JSON). */
export function parseOtelLine(line: string, source: string): LabEvent[] {
  const doc = JSON.parse(line) as {
    resourceLogs?: {
      resource?: { attributes?: OtlpKv[] };
      scopeLogs?: {
        scope?: { name?: string };
        logRecords?: {
          timeUnixNano?: string;
          observedTimeUnixNano?: string;
          severityNumber?: number;
          severityText?: string;
          body?: OtlpValue;
          attributes?: OtlpKv[];
        }[];
      }[];
    }[];
  };
  const out: LabEvent[] = [];
  for (const rl of doc.resourceLogs ?? []) {
    const resource = attributes(rl.resource?.attributes);
    const nodeKey = NODE_KEYS.find((k) => resource[k] !== undefined);
    const node = nodeKey ? String(resource[nodeKey]) : null;
    const service = resource["service.name"] !== undefined ? String(resource["service.name"]) : null;
    // Promoted to node and service: not repeated in every event's attributes (bytes × clients).
    if (nodeKey) delete resource[nodeKey];
    delete resource["service.name"];
    for (const sl of rl.scopeLogs ?? []) {
      const scopeName = sl.scope?.name;
      for (const r of sl.logRecords ?? []) {
        const nanos = r.timeUnixNano && r.timeUnixNano !== "0" ? r.timeUnixNano : r.observedTimeUnixNano;
        // Nanoseconds as text: dropping the last six digits is exact and avoids a BigInt.
        const ms = nanos ? (nanos.length > 6 ? Number(nanos.slice(0, -6)) : 0) : Date.now();
        const attrs: Record<string, AttributeValue> = Object.assign({}, resource);
        for (const kv of r.attributes ?? []) attrs[kv.key] = scalar(kv.value);
        if (scopeName) attrs["otel.scope"] = scopeName;
        out.push({
          time: new Date(ms).toISOString(),
          node,
          service,
          source,
          level: levelOf(r.severityNumber, r.severityText),
          message: r.body ? String(scalar(r.body)) : "",
          attributes: attrs,
        });
      }
    }
  }
  return out;
}

const CHUNK = 1024 * 1024;
/** Chunks handed to the sink before reading waits for the oldest to be kept. */
const MAX_IN_FLIGHT = 4;

export interface OtelFileTailOptions {
  path: string;
  positions: PositionStore;
  /** Takes a batch; the position after it is committed once this resolves. */
  sink: (events: LabEvent[]) => void | Promise<void>;
  /** Longest line accepted; a longer one is skipped and counted as malformed. */
  maxLine?: number;
}

export class OtelFileTail {
  private file: FileHandle | undefined;
  private pos: FilePosition | null = null;
  private partial: Buffer = Buffer.alloc(0);
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  readonly source: string;
  readonly status: TailStatus = {
    state: "waiting",
    detail: "not started",
    lines: 0,
    events: 0,
    malformed: 0,
    rotations: 0,
    truncations: 0,
    position: null,
  };

  constructor(private readonly opts: OtelFileTailOptions) {
    this.source = `otel-file:${opts.path}`;
  }

  start(intervalMs = 250): void {
    void this.poll();
    this.timer = setInterval(() => void this.poll(), intervalMs);
    this.timer.unref();
    // A write wakes the tail at once (latency); the interval is the fallback where watching
    // does not work (network file systems) and catches rotations the watch coalesced.
    try {
      const name = basename(this.opts.path);
      this.watcher = watch(dirname(this.opts.path), (_event, file) => {
        if (!file || file === name) this.wake();
      });
      this.watcher.on("error", () => this.watcher?.close());
      this.watcher.unref();
    } catch {
      // No directory yet, or no inotify: polling alone.
    }
  }

  private watcher: FSWatcher | undefined;
  private again = false;

  /** Polls now, and once more after a poll already under way (its read may have ended early). */
  private wake(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    void this.poll().then(() => {
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  async stop(): Promise<void> {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.timer) clearInterval(this.timer);
    await this.running;
    await this.file?.close();
    this.file = undefined;
  }

  /** Reads whatever complete lines are there now; calls never overlap. */
  poll(): Promise<void> {
    this.running ??= this.readAvailable()
      .then(() => this.settle())
      .catch(async (e: Error) => {
        this.status.state = "failed";
        this.status.detail = e.message;
        // Read on from the last committed position: what the sink refused comes again.
        this.chain = Promise.resolve();
        this.inFlight = 0;
        await this.file?.close().catch(() => undefined);
        this.file = undefined;
        this.pos = null;
        this.partial = Buffer.alloc(0);
      })
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  /**
   * Batches handed to the sink whose offsets are not committed yet: reading goes on while the
   * store writes (the sink resolves once a batch is kept), and offsets are committed in order
   * as each resolves. At most MAX_IN_FLIGHT chunks are outstanding.
   */
  private chain: Promise<void> = Promise.resolve();
  private inFlight = 0;

  private async settle(): Promise<void> {
    await this.chain;
  }

  private async readAvailable(): Promise<void> {
    if (!this.file) {
      this.pos ??= await this.opts.positions.load();
      if (!(await this.openCurrent())) return;
    }
    // Drain what is open (the rotated-away file too), then follow the path if it moved on.
    await this.drain();
    const now = await stat(this.opts.path).catch(() => null);
    const p = this.pos as FilePosition;
    if (now && (now.ino !== p.ino || now.dev !== p.dev)) {
      await this.drain();
      await this.file?.close();
      this.file = undefined;
      this.partial = Buffer.alloc(0);
      this.status.rotations++;
      this.pos = { dev: now.dev, ino: now.ino, offset: 0 };
      await this.commit();
      if (await this.openCurrent()) await this.drain();
    }
  }

  /** Opens the path; resumes at the stored offset when it is the same file. */
  private async openCurrent(): Promise<boolean> {
    let handle: FileHandle;
    try {
      handle = await open(this.opts.path, "r");
    } catch (e) {
      this.status.state = "waiting";
      this.status.detail = `no file yet (${(e as NodeJS.ErrnoException).code})`;
      return false;
    }
    const s = await handle.stat();
    const same = this.pos && this.pos.ino === s.ino && this.pos.dev === s.dev;
    this.pos = { dev: s.dev, ino: s.ino, offset: same ? (this.pos as FilePosition).offset : 0 };
    this.file = handle;
    this.status.state = "reading";
    this.status.detail = "following";
    this.status.position = { ...this.pos };
    return true;
  }

  private async drain(): Promise<void> {
    const file = this.file;
    if (!file) return;
    const p = this.pos as FilePosition;
    const size = (await file.stat()).size;
    if (size < p.offset + this.partial.length) {
      // Truncated in place: start again from the beginning, and say so.
      this.status.truncations++;
      this.status.detail = "the file was truncated; reading it again from the start";
      this.partial = Buffer.alloc(0);
      p.offset = 0;
    }
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const at = p.offset + this.partial.length;
      const { bytesRead } = await file.read(buf, 0, CHUNK, at);
      if (bytesRead === 0) return;
      await this.deliver(Buffer.concat([this.partial, buf.subarray(0, bytesRead)]));
    }
  }

  /** Delivers the complete lines of `data` (which starts at the committed offset). */
  private async deliver(data: Buffer): Promise<void> {
    const p = this.pos as FilePosition;
    const last = data.lastIndexOf(10);
    if (last < 0) {
      if (data.length > (this.opts.maxLine ?? 16 * 1024 * 1024)) {
        // A line too long to hold: skip it (counted) rather than grow without bound.
        this.status.malformed++;
        p.offset += data.length;
        this.partial = Buffer.alloc(0);
        await this.commit();
      } else this.partial = data;
      return;
    }
    const text = data.subarray(0, last).toString("utf8");
    const events: LabEvent[] = [];
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      this.status.lines++;
      try {
        for (const e of parseOtelLine(line, this.source)) events.push(e);
      } catch {
        this.status.malformed++;
      }
    }
    const kept = events.length ? this.opts.sink(events) : undefined;
    this.status.events += events.length;
    p.offset += last + 1;
    this.partial = data.subarray(last + 1);
    const at = { ...p };
    this.inFlight++;
    this.chain = this.chain.then(async () => {
      await kept;
      this.inFlight--;
      await this.commitAt(at);
    });
    // Handled here too: a refusal must not count as unhandled while reading goes on (settle
    // and the next in-flight wait still see it through `chain`).
    this.chain.catch(() => undefined);
    if (this.inFlight >= MAX_IN_FLIGHT) await this.chain;
  }

  private async commit(): Promise<void> {
    // Everything handed over before comes first (offsets only ever move in order).
    await this.chain;
    await this.commitAt({ ...(this.pos as FilePosition) });
  }

  private async commitAt(p: FilePosition): Promise<void> {
    this.status.position = { ...p };
    await this.opts.positions.save(p);
  }
}

/** Positions in a small JSON file, replaced atomically (write, then rename). */
export function filePositionStore(path: string): PositionStore {
  return {
    async load() {
      const { readFile } = await import("node:fs/promises");
      try {
        return JSON.parse(await readFile(path, "utf8")) as FilePosition;
      } catch {
        return null;
      }
    },
    async save(p) {
      const { writeFile, rename } = await import("node:fs/promises");
      await writeFile(`${path}.tmp`, JSON.stringify(p));
      await rename(`${path}.tmp`, path);
    },
  };
}
