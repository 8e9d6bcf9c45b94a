/**
 * A Loki tail over WebSocket (`/loki/api/v1/tail?query=…`), labwatch's LokiWatcher. Each frame
 * is `{streams: [{stream: {label: value}, values: [["<unix ns>", "<line>"], …]}],
 * dropped_entries: [{labels, timestamp}]}`; entries Loki says it dropped are counted and
 * reported as one warn event per frame, never hidden. A lost connection is retried with
 * exponential backoff (250 ms doubling to 30 s, reset once a connection has held), and the
 * source's status says which attempt it is on and why the last one failed.
 */
import WebSocket from "ws";
import type { AttributeValue, LabEvent, Level } from "./model.js";
import type { EventSource, SourceContext } from "./sources.js";

interface LokiFrame {
  streams?: { stream?: Record<string, string>; values?: [string, string][] }[];
  dropped_entries?: { labels?: Record<string, string>; timestamp?: string }[] | null;
}

const NODE_LABELS = ["host", "hostname", "node", "instance", "nodename"];
const SERVICE_LABELS = ["service_name", "service", "app", "job", "container"];
const LEVEL_LABELS = ["level", "detected_level", "severity"];

function levelFrom(text: string | undefined): Level {
  const t = (text ?? "").toLowerCase();
  if (t.startsWith("trace")) return "trace";
  if (t.startsWith("debug")) return "debug";
  if (t.startsWith("warn")) return "warn";
  if (t.startsWith("err")) return "error";
  if (t.startsWith("fatal") || t.startsWith("crit") || t.startsWith("emerg") || t.startsWith("alert"))
    return "fatal";
  return "info";
}

/** Nanoseconds as text (Loki's form) or an RFC 3339 time to an ISO time. */
function isoOf(ts: string | undefined): string {
  if (ts && /^\d+$/.test(ts)) return new Date(ts.length > 6 ? Number(ts.slice(0, -6)) : 0).toISOString();
  const t = ts ? Date.parse(ts) : Number.NaN;
  return new Date(Number.isNaN(t) ? Date.now() : t).toISOString();
}

/** The events of one tail frame, and how many entries Loki dropped (throws on non-JSON). */
export function decodeLokiFrame(text: string, source: string): { events: LabEvent[]; dropped: number } {
  const frame = JSON.parse(text) as LokiFrame;
  if (typeof frame !== "object" || frame === null || (!frame.streams && !frame.dropped_entries)) {
    throw new Error("not a Loki tail frame (no streams, no dropped_entries)");
  }
  const events: LabEvent[] = [];
  for (const s of frame.streams ?? []) {
    const labels = s.stream ?? {};
    const pick = (keys: string[]) => keys.map((k) => labels[k]).find((v) => v !== undefined) ?? null;
    const attributes: Record<string, AttributeValue> = { ...labels };
    for (const [ts, line] of s.values ?? []) {
      events.push({
        time: isoOf(ts),
        node: pick(NODE_LABELS),
        service: pick(SERVICE_LABELS),
        source,
        level: levelFrom(pick(LEVEL_LABELS) ?? undefined),
        message: line,
        attributes,
      });
    }
  }
  const dropped = frame.dropped_entries?.length ?? 0;
  if (dropped > 0) {
    events.push({
      time: isoOf(frame.dropped_entries?.[0]?.timestamp),
      node: null,
      service: null,
      source,
      level: "warn",
      message: `Loki dropped ${dropped} entries from this tail (it could not keep up)`,
      attributes: { dropped },
    });
  }
  return { events, dropped };
}

export interface LokiTailOptions {
  url: string;
  headers?: Record<string, string>;
  /** First retry delay; doubled per failure up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

export class LokiTail implements EventSource {
  readonly name: string;
  readonly kind = "loki";
  private socket: WebSocket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private delay: number;
  private state: "running" | "waiting" = "waiting";
  private detail = "not started";
  readonly counts = { frames: 0, malformed: 0, dropped: 0, connects: 0, failures: 0 };

  constructor(private readonly opts: LokiTailOptions) {
    this.name = `loki:${opts.url.replace(/\?.*$/, "")}`;
    this.delay = opts.backoffMs ?? 250;
  }

  start(ctx: SourceContext): void {
    this.running = true;
    this.connect(ctx);
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.socket?.terminate();
    this.socket = undefined;
  }

  status() {
    return { state: this.running ? this.state : ("stopped" as const), detail: this.detail };
  }

  /** The delay before the next attempt (for tests and the status line). */
  get nextDelayMs(): number {
    return this.delay;
  }

  private connect(ctx: SourceContext): void {
    if (!this.running) return;
    const socket = new WebSocket(this.opts.url, { headers: this.opts.headers });
    this.socket = socket;
    let opened = false;
    let heldTimer: NodeJS.Timeout | undefined;
    socket.on("open", () => {
      opened = true;
      this.counts.connects++;
      this.state = "running";
      this.detail = `following ${this.opts.url}`;
      // A connection that holds for a while resets the backoff; one that drops at once does not.
      heldTimer = setTimeout(() => {
        this.delay = this.opts.backoffMs ?? 250;
      }, 5000);
      heldTimer.unref();
    });
    socket.on("message", (data) => {
      this.counts.frames++;
      try {
        const { events, dropped } = decodeLokiFrame(data.toString(), this.name);
        this.counts.dropped += dropped;
        void ctx.emit(events);
      } catch {
        this.counts.malformed++;
      }
    });
    const retry = (why: string) => {
      if (heldTimer) clearTimeout(heldTimer);
      if (this.socket !== socket || !this.running) return;
      this.socket = undefined;
      this.counts.failures++;
      this.state = "waiting";
      this.detail = `${opened ? "connection lost" : "cannot connect"} (${why}); retrying in ${this.delay} ms`;
      this.timer = setTimeout(() => this.connect(ctx), this.delay);
      this.timer.unref();
      this.delay = Math.min(this.delay * 2, this.opts.maxBackoffMs ?? 30_000);
    };
    socket.on("error", (e) => retry((e as NodeJS.ErrnoException).code ?? e.message));
    socket.on("close", (code) => retry(`closed ${code}`));
  }
}
