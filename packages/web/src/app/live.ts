/**
 * The dashboard's one connection to the server's event stream. Pages do not open their own:
 * they read `revision` (bumped by every event) to know their data may have changed, and the
 * recent events kept here. A dropped stream reconnects from the last id it saw, and a gap
 * the server announces (`missed`) is shown, never papered over.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { readStream, type StreamMessage } from "./api.js";

export interface AuditEvent {
  id: number;
  time: string;
  actor: string;
  action: string;
  result: "ok" | "error";
  summary: string;
  changes: { op: string; kind: string; name: string }[];
  subjects: string[];
}

export type LinkState = "connecting" | "live" | "reconnecting" | "stopped";

const RECENT = 500;

class LiveHub {
  revision = 0;
  /** Bumped on every change of anything here (events, link state). */
  version = 0;
  state: LinkState = "stopped";
  /** Newest last; bounded. */
  recent: AuditEvent[] = [];
  missed = 0;
  private lastId: number | undefined;
  private listeners = new Set<() => void>();
  private abort: AbortController | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  start(): void {
    if (this.abort) return;
    this.abort = new AbortController();
    void this.loop(this.abort.signal);
  }

  stop(): void {
    this.abort?.abort();
    this.abort = undefined;
    clearTimeout(this.timer);
    this.set("stopped");
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private set(state: LinkState): void {
    this.state = state;
    this.emit();
  }

  private emit(): void {
    this.version++;
    for (const fn of this.listeners) fn();
  }

  private async loop(signal: AbortSignal): Promise<void> {
    let delay = 500;
    while (!signal.aborted) {
      this.set(this.everConnected ? "reconnecting" : "connecting");
      try {
        // A reconnect resumes after the last id seen; the first connection starts at the
        // newest event (the pages have just fetched the state it produced), which the server
        // does when no id is given — asking for the newest event first cost a whole apply
        // event (0.9 MB on the 10k fleet) on every page load.
        await readStream(
          this.lastId === undefined ? "/events/stream" : `/events/stream?after=${this.lastId}`,
          (m) => this.onMessage(m),
          signal,
          () => this.connected(),
        );
        delay = 500;
      } catch {
        if (signal.aborted) return;
      }
      if (signal.aborted) return;
      this.set("reconnecting");
      await new Promise((r) => {
        this.timer = setTimeout(r, delay);
      });
      delay = Math.min(delay * 2, 8000);
    }
  }

  /** Connected (again): pages refetch, which covers anything that changed while we were away. */
  private connected(): void {
    this.state = "live";
    if (this.everConnected) this.revision++;
    this.everConnected = true;
    this.emit();
  }

  private everConnected = false;

  private onMessage(m: StreamMessage): void {
    if (this.state !== "live") this.state = "live";
    if (m.event === "missed") {
      const d = m.data as { missed: number };
      this.missed += d.missed;
    } else if (m.event === "shutdown") {
      return;
    } else if (m.id !== null) {
      this.lastId = m.id;
      this.recent.push(m.data as AuditEvent);
      if (this.recent.length > RECENT) this.recent.splice(0, this.recent.length - RECENT);
    }
    this.revision++;
    this.emit();
  }
}

export const live = new LiveHub();

/** Re-renders the caller on every event or link change; returns the hub. */
export function useLive(): LiveHub {
  const [, setTick] = useState(0);
  const seen = useRef(live.version);
  seen.current = live.version;
  useEffect(() => {
    const unsubscribe = live.subscribe(() => setTick((t) => t + 1));
    // A change between this render and the subscription (effects run after paint: the
    // stream can open in between) would otherwise leave the caller showing the old state.
    if (live.version !== seen.current) setTick((t) => t + 1);
    return unsubscribe;
  }, []);
  return live;
}

/** A point of a keyed series: time in seconds, the key's index, the value. */
export interface SeriesPoint {
  t: number;
  k: number;
  v: number;
}

/** Points of several keys on one time axis, as uPlot wants them: [xs, ys per key] (gaps null). */
export function alignSeries(
  keys: string[],
  points: SeriesPoint[],
): { keys: string[]; data: (number | null)[][] } {
  const xs = [...new Set(points.map((p) => p.t))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys: (number | null)[][] = keys.map(() => xs.map(() => null));
  for (const p of points) (ys[p.k] as (number | null)[])[index.get(p.t) as number] = p.v;
  return { keys, data: [xs, ...ys] };
}
