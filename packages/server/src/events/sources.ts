/**
 * Every event source the server runs, each on its own: one that fails to start or fails
 * later is marked failed with its reason and the others go on; `lab get sources` and the
 * dashboard read this list.
 */
export interface SourceStatus {
  name: string;
  kind: string;
  state: "running" | "waiting" | "failed" | "stopped";
  detail: string;
  events: number;
  lastEventAt: string | null;
}

export interface EventSource {
  name: string;
  kind: string;
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
  /** What the source itself says now (state and detail). */
  status(): { state: SourceStatus["state"]; detail: string; events: number };
}

export class SourceRegistry {
  private readonly sources: { source: EventSource; failed?: string; lastEventAt: string | null }[] = [];

  add(source: EventSource): void {
    this.sources.push({ source, lastEventAt: null });
  }

  /** Notes that a source delivered (for `lastEventAt`). */
  delivered(name: string, at = new Date()): void {
    const s = this.sources.find((x) => x.source.name === name);
    if (s) s.lastEventAt = at.toISOString();
  }

  async startAll(log: (line: string) => void): Promise<void> {
    for (const s of this.sources) {
      try {
        await s.source.start();
      } catch (e) {
        s.failed = (e as Error).message;
        log(`event source ${s.source.name} failed to start: ${s.failed}`);
      }
    }
  }

  async stopAll(): Promise<void> {
    for (const s of this.sources) await Promise.resolve(s.source.stop()).catch(() => undefined);
  }

  list(): SourceStatus[] {
    return this.sources.map((s) => {
      const st = s.source.status();
      return {
        name: s.source.name,
        kind: s.source.kind,
        state: s.failed ? "failed" : st.state,
        detail: s.failed ? `failed to start: ${s.failed}` : st.detail,
        events: st.events,
        lastEventAt: s.lastEventAt,
      };
    });
  }
}
