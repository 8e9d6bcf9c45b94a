/**
 * Moves recorded events from the store onto the bus. The store is the source of truth:
 * events reach the bus by id order, whichever process or replica recorded them — woken by
 * this server's own writes, by PostgreSQL NOTIFY, or by a slow poll for stores that cannot
 * notify (SQLite written by a CLI next to the server).
 */
import type { StateStore } from "@lab/core";
import type { EventBus } from "./bus.js";

const PAGE = 1000;

export class EventFeed {
  private lastId = 0;
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: StateStore,
    private readonly bus: EventBus,
    private readonly onError: (e: unknown) => void,
    /** Runs before a batch that changed the model is published (stream filters refresh). */
    private readonly beforeModelChange: () => Promise<void> = async () => undefined,
  ) {}

  /** Starts from the newest recorded event; only later events are published. */
  async start(pollMs: number): Promise<void> {
    const newest = await this.store.events({ limit: 1 });
    this.lastId = newest[0]?.id ?? 0;
    const notifies = await this.store.watch(() => this.poke());
    // Even with NOTIFY a slow poll stays on: it heals a missed notification.
    this.timer = setInterval(() => this.poke(), notifies ? pollMs * 10 : pollMs);
    this.timer.unref();
  }

  get position(): number {
    return this.lastId;
  }

  /** Publishes whatever was recorded since the last look; coalesces concurrent pokes. */
  poke(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        void this.poke();
      }
    });
    return this.running;
  }

  private async drain(): Promise<void> {
    try {
      for (;;) {
        const events = await this.store.events({ after: this.lastId, limit: PAGE });
        if (events.some((e) => e.changes.length > 0)) await this.beforeModelChange();
        for (const e of events) {
          this.lastId = e.id;
          this.bus.publish(e);
        }
        if (events.length < PAGE) return;
        // Let sockets flush between pages, so a burst does not pile up in their buffers.
        await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (e) {
      this.onError(e);
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
