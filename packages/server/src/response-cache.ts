/**
 * Serialised read responses keyed by URL, valid for one store revision. Only successful
 * answers are kept (errors are thrown through); the cache is bounded (least recently used
 * out). Health verdicts change without a revision, so health-dependent reads expire quickly.
 */
import type { StateStore } from "@lab/core";

const MAX_ENTRIES = 2000;
/** Health overlays (server rows, alert views) may change between revisions. */
const MAX_AGE_MS = 1000;

export class ResponseCache {
  private readonly entries = new Map<string, { revision: number; at: number; body: string }>();

  constructor(
    private readonly store: Pick<StateStore, "revision">,
    private readonly now: () => number = Date.now,
  ) {}

  async get(key: string, compute: () => Promise<unknown>): Promise<string> {
    const revision = await this.store.revision();
    const hit = this.entries.get(key);
    if (hit && hit.revision === revision && this.now() - hit.at < MAX_AGE_MS) {
      this.entries.delete(key); // re-insert: most recently used last
      this.entries.set(key, hit);
      return hit.body;
    }
    const body = JSON.stringify(await compute());
    this.entries.delete(key);
    this.entries.set(key, { revision, at: this.now(), body });
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
    return body;
  }
}
