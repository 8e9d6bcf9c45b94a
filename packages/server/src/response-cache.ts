/**
 * Serialised read responses keyed by URL, valid for one store revision. Only successful
 * answers are kept (errors are thrown through); the cache is bounded (least recently used
 * out). Health verdicts change without a revision, so health-dependent reads expire quickly.
 */
import type { StateStore } from "@lab/core";

/**
 * The store's revision without a query per request: re-read after this server writes, when
 * the event feed sees another writer's events, and at least once a second regardless.
 */
export class RevisionCache {
  private value: number | undefined;
  private at = 0;

  constructor(
    private readonly store: Pick<StateStore, "revision">,
    private readonly maxAgeMs = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  async revision(): Promise<number> {
    if (this.value === undefined || this.now() - this.at >= this.maxAgeMs) {
      this.at = this.now();
      this.value = await this.store.revision();
    }
    return this.value;
  }

  /** The cached revision if it is still fresh, without waiting; else undefined. */
  peek(): number | undefined {
    return this.value !== undefined && this.now() - this.at < this.maxAgeMs ? this.value : undefined;
  }

  invalidate(): void {
    this.value = undefined;
  }
}

const MAX_ENTRIES = 2000;
/** Health overlays (server rows, alert views) may change between revisions. */
const MAX_AGE_MS = 1000;

export class ResponseCache {
  private readonly entries = new Map<string, { revision: number; at: number; body: Buffer }>();

  constructor(
    private readonly store: Pick<StateStore, "revision"> & { peek?: () => number | undefined },
    private readonly now: () => number = Date.now,
  ) {}

  /** A fresh cached body for `key`, answered synchronously (the request fast path). */
  peek(key: string): Buffer | undefined {
    const revision = this.store.peek?.();
    const hit = this.entries.get(key);
    if (revision === undefined || !hit || hit.revision !== revision || this.now() - hit.at >= MAX_AGE_MS) {
      return undefined;
    }
    return hit.body;
  }

  /** The body as bytes: a cached Buffer is sent without re-encoding the string each time. */
  async get(key: string, compute: () => Promise<unknown>): Promise<Buffer> {
    const revision = await this.store.revision();
    const hit = this.entries.get(key);
    if (hit && hit.revision === revision && this.now() - hit.at < MAX_AGE_MS) {
      this.entries.delete(key); // re-insert: most recently used last
      this.entries.set(key, hit);
      return hit.body;
    }
    const body = Buffer.from(JSON.stringify(await compute()));
    this.entries.delete(key);
    this.entries.set(key, { revision, at: this.now(), body });
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
    return body;
  }
}
