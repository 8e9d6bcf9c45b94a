/** Reconnection delays and the bounded outbox: the agent's two memory- and load-bounding tools. */

/**
 * Exponential backoff with full jitter: attempt n waits a random time in [min, min(max, base·2ⁿ)].
 * Jitter spreads a fleet's reconnections after a server restart instead of a thundering herd.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly opts: { baseMs: number; maxMs: number; minMs?: number } = {
      baseMs: 1000,
      maxMs: 60_000,
    },
    private readonly random: () => number = Math.random,
  ) {}

  /** The next delay, growing with every call until `reset`. */
  next(): number {
    const ceiling = Math.min(this.opts.maxMs, this.opts.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    const min = this.opts.minMs ?? Math.min(250, ceiling);
    return Math.round(min + this.random() * Math.max(0, ceiling - min));
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}

/**
 * A FIFO with a hard size limit. Items with a key replace the queued item with the same key
 * (only the latest heartbeat matters); when full, the oldest item goes and is counted.
 */
export class BoundedQueue<T> {
  private items: { key?: string; value: T }[] = [];
  dropped = 0;

  constructor(readonly max: number) {}

  push(value: T, key?: string): void {
    if (key !== undefined) {
      const i = this.items.findIndex((it) => it.key === key);
      if (i >= 0) {
        this.items[i] = { key, value };
        return;
      }
    }
    if (this.items.length >= this.max) {
      this.items.shift();
      this.dropped++;
    }
    this.items.push({ key, value });
  }

  /** Everything queued, oldest first; the queue is empty afterwards. */
  drain(): T[] {
    const out = this.items.map((it) => it.value);
    this.items = [];
    return out;
  }

  get size(): number {
    return this.items.length;
  }
}
