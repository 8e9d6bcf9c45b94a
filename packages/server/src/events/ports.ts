/**
 * The port watcher (labwatch's simplest watcher): a TCP connect to every declared port of
 * every server (from its labels, resolved by the engine), round after round. Each endpoint
 * is up, down or not yet probed ("unknown"), with the time it last changed; a change is an
 * event (down: warn, up: info). The first observation of an endpoint is a change from
 * unknown, so the log says when each port was first seen and how.
 */
import { type Endpoint, probeTcp } from "@lab/monitor";
import type { LabEvent } from "./model.js";
import type { EventSource, SourceContext } from "./sources.js";

export interface PortState {
  node: string;
  host: string;
  port: number;
  state: "up" | "down" | "unknown";
  /** When the state last changed (ISO), null before the first probe. */
  since: string | null;
  checkedAt: string | null;
  /** The probe's answer: connect time, or why not. */
  detail: string;
}

export interface PortWatcherOptions {
  /** The endpoints now (the model may change between rounds). */
  endpoints: () => Promise<Endpoint[]>;
  intervalMs?: number;
  timeoutMs?: number;
  concurrency?: number;
}

const key = (e: Endpoint) => `${e.server}\u0000${e.host}\u0000${e.port}`;

export class PortWatcher implements EventSource {
  readonly name = "ports";
  readonly kind = "ports";
  private readonly states = new Map<string, PortState>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private rounds = 0;
  private lastError: string | null = null;

  constructor(private readonly opts: PortWatcherOptions) {}

  start(ctx: SourceContext): void {
    this.running = true;
    const loop = async () => {
      if (!this.running) return;
      try {
        await this.round(ctx);
        this.lastError = null;
      } catch (e) {
        this.lastError = (e as Error).message;
      }
      if (this.running) this.timer = setTimeout(loop, this.opts.intervalMs ?? 10_000);
      this.timer?.unref();
    };
    void loop();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
  }

  status() {
    if (!this.running) return { state: "stopped" as const, detail: "not started" };
    const all = [...this.states.values()];
    const down = all.filter((s) => s.state === "down").length;
    return {
      state: "running" as const,
      detail: this.lastError
        ? `last round failed: ${this.lastError}`
        : `${all.length} ports, ${down} down, ${this.rounds} rounds`,
    };
  }

  /** Every endpoint's observed state (unknown ones included), by node then port. */
  list(node?: string[]): PortState[] {
    return [...this.states.values()]
      .filter((s) => !node?.length || node.includes(s.node))
      .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : a.port - b.port));
  }

  /** One round: probe everything listed now, emit what changed. */
  async round(ctx: Pick<SourceContext, "emit">): Promise<void> {
    const endpoints = await this.opts.endpoints();
    const listed = new Set(endpoints.map(key));
    for (const k of this.states.keys()) if (!listed.has(k)) this.states.delete(k);
    for (const e of endpoints) {
      if (!this.states.has(key(e))) {
        this.states.set(key(e), {
          node: e.server,
          host: e.host,
          port: e.port,
          state: "unknown",
          since: null,
          checkedAt: null,
          detail: "not probed yet",
        });
      }
    }
    const changes: LabEvent[] = [];
    let next = 0;
    const worker = async () => {
      while (next < endpoints.length && this.running) {
        const e = endpoints[next++] as Endpoint;
        const r = await probeTcp(e.host, e.port, this.opts.timeoutMs ?? 2000);
        const s = this.states.get(key(e));
        if (!s) continue;
        const now = new Date().toISOString();
        const state = r.ok ? "up" : "down";
        s.checkedAt = now;
        s.detail = r.ok ? `connected in ${r.ms} ms` : (r.error ?? "refused");
        if (state !== s.state) {
          const was = s.state;
          s.state = state;
          s.since = now;
          changes.push({
            time: now,
            node: e.server,
            service: null,
            source: "ports",
            level: state === "down" ? "warn" : "info",
            message: `port ${e.port} on ${e.host} is ${state}${was === "unknown" ? "" : ` (was ${was})`}: ${s.detail}`,
            attributes: { port: e.port, host: e.host, state, was },
          });
        }
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(this.opts.concurrency ?? 32, endpoints.length) }, worker),
    );
    this.rounds++;
    if (changes.length) await ctx.emit(changes);
  }
}
