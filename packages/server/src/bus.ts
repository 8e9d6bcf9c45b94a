/**
 * The event bus: every recorded event goes to every subscriber whose filter accepts it.
 * Memory is bounded per subscriber: a subscriber that cannot keep up stops queueing, counts
 * what it missed, and is told the count (and where to resume) once it drains.
 */
import type { AuditEvent } from "@lab/core";

/** Where a subscriber's messages go (a WebSocket, an SSE response). */
export interface Transport {
  /** Sends one message; false when the transport's buffer is full (wait for `onDrain`). */
  send(message: string | Buffer): boolean;
  onDrain(callback: () => void): void;
}

export interface SubscriberOptions {
  filter: (event: AuditEvent) => boolean;
  /** Formats one event as a message for this transport. */
  format: (event: AuditEvent, json: string) => string;
  /** Formats the "you missed N events" notice. */
  formatMissed: (count: number, resumeAfter: number) => string;
  /** Most messages held for this subscriber before it starts missing events. */
  maxQueue?: number;
  /** Events with an id at or below this were already delivered (replay). */
  deliveredUpTo?: number;
}

export class Subscriber {
  private readonly queue: string[] = [];
  private missed = 0;
  /** The last event queued before the current gap: a client fills the gap from there. */
  private gapAfter = 0;
  private waiting = false;
  /** The id of the last event this subscriber was given or told it missed. */
  lastId: number;

  constructor(
    private readonly transport: Transport,
    private readonly opts: SubscriberOptions,
  ) {
    this.lastId = opts.deliveredUpTo ?? 0;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Events that arrive while a replay is under way, released once it ends. */
  private held: [AuditEvent, string][] | undefined;

  /** Holds live events while the caller replays stored ones. */
  hold(): void {
    this.held = [];
  }

  /** Ends a replay that delivered everything up to `deliveredUpTo`; held later events follow. */
  release(deliveredUpTo: number): void {
    const held = this.held ?? [];
    this.held = undefined;
    this.lastId = Math.max(this.lastId, deliveredUpTo);
    for (const [event, json] of held) this.offer(event, json);
    if (this.heldOverflow > 0) {
      // Too much arrived during the replay to hold: say how much, from where.
      this.gapAfter = this.lastId;
      this.missed += this.heldOverflow;
      this.heldOverflow = 0;
      this.pump();
    }
  }

  private heldOverflow = 0;

  offer(event: AuditEvent, json: string): void {
    if (this.held) {
      if (this.held.length < (this.opts.maxQueue ?? 1024)) this.held.push([event, json]);
      else this.heldOverflow++;
      return;
    }
    if (event.id <= this.lastId || !this.opts.filter(event)) return;
    if (this.missed === 0 && this.queue.length >= (this.opts.maxQueue ?? 1024)) this.gapAfter = this.lastId;
    this.lastId = event.id;
    if (this.missed > 0 || this.queue.length >= (this.opts.maxQueue ?? 1024)) {
      this.missed++;
    } else {
      this.queue.push(this.opts.format(event, json));
    }
    this.pump();
  }

  private pump(): void {
    if (this.waiting) return;
    while (this.queue.length > 0) {
      const message = this.queue.shift() as string;
      if (!this.transport.send(message)) {
        this.wait();
        return;
      }
    }
    if (this.missed > 0) {
      const notice = this.opts.formatMissed(this.missed, this.gapAfter);
      this.missed = 0;
      if (!this.transport.send(notice)) this.wait();
    }
  }

  private wait(): void {
    this.waiting = true;
    this.transport.onDrain(() => {
      this.waiting = false;
      this.pump();
    });
  }
}

export class EventBus {
  private readonly subscribers = new Set<Subscriber>();
  published = 0;

  subscribe(sub: Subscriber): () => void {
    this.subscribers.add(sub);
    return () => this.subscribers.delete(sub);
  }

  private readonly taps = new Set<(event: AuditEvent) => void>();

  /** Calls `fn` with every published event (the log pipeline's audit source); returns an untap. */
  tap(fn: (event: AuditEvent) => void): () => void {
    this.taps.add(fn);
    return () => this.taps.delete(fn);
  }

  publish(event: AuditEvent): void {
    this.published++;
    const json = JSON.stringify(event);
    for (const s of this.subscribers) s.offer(event, json);
    for (const t of this.taps) t(event);
  }

  get size(): number {
    return this.subscribers.size;
  }

  /** Messages waiting across all subscribers (the `lab_event_bus_queued` gauge). */
  get depth(): number {
    let n = 0;
    for (const s of this.subscribers) n += s.queued;
    return n;
  }
}
