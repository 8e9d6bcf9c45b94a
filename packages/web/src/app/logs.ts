/**
 * The dashboard's one connection to the log pipeline (docs/events.md, "Live stream — SSE"):
 * opened while some page wants it, it keeps the newest events in a bounded buffer, the
 * server's counts, and every gap the server announced. A dropped stream resumes after the
 * last seq it saw, so nothing is skipped or shown twice; a gap is counted and shown, never
 * papered over.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { api, readStream } from "./api.js";

export const LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;
export type Level = (typeof LEVELS)[number];

/** One event of the pipeline, as the wire contract defines it. */
export interface LogEvent {
  seq: number;
  time: string;
  node: string | null;
  service: string | null;
  source: string;
  level: Level;
  message: string;
  attributes: Record<string, string | number | boolean>;
}

export interface Counts {
  total: number;
  evicted?: number;
  byLevel: Record<string, number>;
  bySource: Record<string, number>;
  byNode: Record<string, number>;
}

export type LogLinkState = "idle" | "connecting" | "live" | "reconnecting" | "unavailable";

/** How many events the page keeps (the newest). */
export const KEEP = 5000;

class LogHub {
  state: LogLinkState = "idle";
  /** Oldest first, bounded by KEEP. */
  events: LogEvent[] = [];
  counts: Counts | undefined;
  /** Events the server said this page did not get (queue overflow or evicted history). */
  missed = 0;
  lastSeq: number | undefined;
  /** Bumped on every change. */
  version = 0;
  /** Why the stream is unavailable (a server without the log pipeline answers 404). */
  problem = "";
  private users = 0;
  private abort: AbortController | undefined;
  private readonly listeners = new Set<() => void>();

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    if (this.users++ === 0) this.start();
    return () => {
      this.listeners.delete(fn);
      if (--this.users === 0) this.stop();
    };
  }

  private emit(): void {
    this.version++;
    for (const fn of this.listeners) fn();
  }

  private start(): void {
    this.abort = new AbortController();
    void this.loop(this.abort.signal);
  }

  private stop(): void {
    this.abort?.abort();
    this.abort = undefined;
    this.state = "idle";
  }

  private async loop(signal: AbortSignal): Promise<void> {
    let delay = 500;
    while (!signal.aborted) {
      this.state = this.lastSeq === undefined ? "connecting" : "reconnecting";
      this.emit();
      try {
        if (this.lastSeq === undefined) await this.history();
        await readStream(
          `/logs/stream?stats=1&after=${this.lastSeq ?? 0}`,
          (m) => this.onMessage(m.event, m.data),
          signal,
          () => {
            this.state = "live";
            delay = 500;
            this.emit();
          },
        );
      } catch (e) {
        if (signal.aborted) return;
        const status = (e as { status?: number }).status;
        if (status === 404 || status === 403) {
          this.state = "unavailable";
          this.problem = (e as Error).message || `HTTP ${status}`;
          this.emit();
          return;
        }
      }
      if (signal.aborted) return;
      this.state = "reconnecting";
      this.emit();
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 8000);
    }
  }

  /** The newest events before the stream opens, so the page does not start empty. */
  private async history(): Promise<void> {
    const page = await api<{ events: LogEvent[]; last: number; counts: Counts }>("/logs?limit=1000");
    this.events = page.events.slice(-KEEP);
    this.counts = page.counts;
    this.lastSeq = page.last;
  }

  private onMessage(event: string, data: unknown): void {
    if (event === "events") {
      const batch = (data as { events: LogEvent[] }).events;
      for (const e of batch) {
        if (this.lastSeq !== undefined && e.seq <= this.lastSeq) continue; // already held
        this.events.push(e);
        this.lastSeq = e.seq;
      }
      if (this.events.length > KEEP) this.events.splice(0, this.events.length - KEEP);
    } else if (event === "gap") {
      const g = data as { missed: number; until: number };
      this.missed += g.missed;
      this.lastSeq = Math.max(this.lastSeq ?? 0, g.until);
    } else if (event === "stats") {
      this.counts = (data as { counts: Counts }).counts;
    } else if (event === "hello") {
      // {last, first}: nothing to do; the replay after lastSeq follows.
      return;
    } else {
      return;
    }
    this.emit();
  }
}

export const logs = new LogHub();

/** Subscribes the caller to the log stream (opened while anyone listens); re-renders on change. */
export function useLogs(): LogHub {
  const [, setTick] = useState(0);
  const seen = useRef(logs.version);
  seen.current = logs.version;
  useEffect(() => {
    const off = logs.subscribe(() => setTick((t) => t + 1));
    if (logs.version !== seen.current) setTick((t) => t + 1);
    return off;
  }, []);
  return logs;
}

/** Does an event pass the Live page's filters? (`level` is the lowest level wanted.) */
export function passes(
  e: LogEvent,
  f: { level?: Level | ""; node?: string; source?: string; text?: string },
): boolean {
  if (f.level && LEVELS.indexOf(e.level) < LEVELS.indexOf(f.level)) return false;
  if (f.node && e.node !== f.node) return false;
  if (f.source && e.source !== f.source && !e.source.startsWith(`${f.source}:`)) return false;
  if (f.text) {
    const t = f.text.toLowerCase();
    if (!e.message.toLowerCase().includes(t) && !(e.service ?? "").toLowerCase().includes(t)) return false;
  }
  return true;
}
