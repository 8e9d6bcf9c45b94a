/**
 * Every event source the server runs, each on its own: one that fails to start or fails
 * later is marked failed with its reason and restarted with backoff while the others go on;
 * any of them can be switched off and on, or restarted, at run time. `lab get sources` and
 * the dashboard read this list.
 */
import type { LabEvent } from "./model.js";

export interface SourceStatus {
  name: string;
  kind: string;
  state: "running" | "waiting" | "failed" | "stopped" | "disabled";
  detail: string;
  events: number;
  lastEventAt: string | null;
  /** How many times the registry restarted it after a failure (or on request). */
  restarts: number;
}

/** What a running source is given: where its events go, and how to say it broke. */
export interface SourceContext {
  /** Hands a batch to the pipeline; resolves once it is kept (stored, when there is a store). */
  emit(events: LabEvent[]): Promise<void>;
  /** Reports an error the source cannot go on from: it is stopped and restarted later. */
  fail(error: Error): void;
}

export interface EventSource {
  name: string;
  kind: string;
  start(ctx: SourceContext): void | Promise<void>;
  stop(): void | Promise<void>;
  /** What the source itself says now (state and detail); events are counted by the registry. */
  status(): { state: "running" | "waiting" | "failed" | "stopped"; detail: string };
}

interface Entry {
  source: EventSource;
  failed?: string;
  disabled: boolean;
  running: boolean;
  events: number;
  lastEventAt: string | null;
  restarts: number;
  backoffMs: number;
  retry?: NodeJS.Timeout;
  /** Bumped on every start: a stale context's emits and failures are ignored. */
  generation: number;
}

export interface RegistryOptions {
  /** The pipeline's intake. */
  ingest: (events: LabEvent[]) => Promise<void>;
  log?: (line: string) => void;
  /** Sources named here start switched off. */
  disabled?: string[];
  /** First restart delay after a failure, doubled up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

export class SourceRegistry {
  private readonly entries: Entry[] = [];
  private started = false;

  constructor(private readonly opts: RegistryOptions) {}

  add(source: EventSource): void {
    if (this.entries.some((e) => e.source.name === source.name)) {
      throw new Error(`two event sources named ${source.name}`);
    }
    const entry: Entry = {
      source,
      disabled:
        this.opts.disabled?.includes(source.name) || this.opts.disabled?.includes(source.kind) || false,
      running: false,
      events: 0,
      lastEventAt: null,
      restarts: 0,
      backoffMs: this.opts.backoffMs ?? 1000,
      generation: 0,
    };
    this.entries.push(entry);
    if (this.started && !entry.disabled) void this.launch(entry);
  }

  has(name: string): boolean {
    return this.entries.some((e) => e.source.name === name);
  }

  async startAll(): Promise<void> {
    this.started = true;
    for (const e of this.entries) if (!e.disabled) await this.launch(e);
  }

  async stopAll(): Promise<void> {
    this.started = false;
    for (const e of this.entries) await this.halt(e);
  }

  /** Switches a source off (stopped, not restarted) until `enable`. */
  async disable(name: string): Promise<SourceStatus> {
    const e = this.find(name);
    e.disabled = true;
    await this.halt(e);
    return this.statusOf(e);
  }

  async enable(name: string): Promise<SourceStatus> {
    const e = this.find(name);
    if (e.disabled) {
      e.disabled = false;
      if (this.started) await this.launch(e);
    }
    return this.statusOf(e);
  }

  /** Stops and starts a source now (a failed one does not wait for its backoff). */
  async restart(name: string): Promise<SourceStatus> {
    const e = this.find(name);
    await this.halt(e);
    e.disabled = false;
    e.restarts++;
    if (this.started) await this.launch(e);
    return this.statusOf(e);
  }

  list(): SourceStatus[] {
    return this.entries.map((e) => this.statusOf(e));
  }

  private find(name: string): Entry {
    const e = this.entries.find((x) => x.source.name === name);
    if (!e)
      throw new SourceNotFound(
        name,
        this.entries.map((x) => x.source.name),
      );
    return e;
  }

  private statusOf(e: Entry): SourceStatus {
    const st =
      e.running || e.failed ? e.source.status() : { state: "stopped" as const, detail: "not started" };
    return {
      name: e.source.name,
      kind: e.source.kind,
      state: e.disabled ? "disabled" : e.failed ? "failed" : st.state,
      detail: e.disabled
        ? "switched off (enable it with POST /api/v1/sources/NAME/enable)"
        : e.failed
          ? `${e.failed}${e.retry ? `; retrying in ${Math.round(e.backoffMs / 1000)} s` : ""}`
          : st.detail,
      events: e.events,
      lastEventAt: e.lastEventAt,
      restarts: e.restarts,
    };
  }

  private async launch(e: Entry): Promise<void> {
    if (e.running) return;
    if (e.retry) clearTimeout(e.retry);
    e.retry = undefined;
    const generation = ++e.generation;
    const ctx: SourceContext = {
      emit: async (events) => {
        if (generation !== e.generation || events.length === 0) return;
        e.events += events.length;
        e.lastEventAt = new Date().toISOString();
        await this.opts.ingest(events);
      },
      fail: (error) => {
        if (generation !== e.generation) return;
        void this.failed(e, error);
      },
    };
    e.running = true;
    try {
      await e.source.start(ctx);
      e.failed = undefined;
      e.backoffMs = this.opts.backoffMs ?? 1000;
    } catch (err) {
      await this.failed(e, err as Error, "failed to start: ");
    }
  }

  private async failed(e: Entry, error: Error, prefix = ""): Promise<void> {
    e.failed = `${prefix}${error.message}`;
    this.opts.log?.(`event source ${e.source.name} ${e.failed}`);
    await this.halt(e, true);
    if (!this.started || e.disabled) return;
    const delay = e.backoffMs;
    e.backoffMs = Math.min(delay * 2, this.opts.maxBackoffMs ?? 60_000);
    e.retry = setTimeout(() => {
      e.retry = undefined;
      e.restarts++;
      void this.launch(e);
    }, delay);
    e.retry.unref();
  }

  private async halt(e: Entry, keepFailure = false): Promise<void> {
    if (e.retry && !keepFailure) {
      clearTimeout(e.retry);
      e.retry = undefined;
    }
    if (!keepFailure) e.failed = undefined;
    e.generation++;
    if (!e.running) return;
    e.running = false;
    await Promise.resolve()
      .then(() => e.source.stop())
      .catch(() => undefined);
  }
}

/** Asked for a source that is not registered (the HTTP route maps it to LAB_E_NOT_FOUND). */
export class SourceNotFound extends Error {
  constructor(
    readonly sourceName: string,
    readonly known: string[],
  ) {
    super(`no event source named ${sourceName} (known: ${known.join(", ") || "none"})`);
  }
}
