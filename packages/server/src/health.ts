/**
 * Periodic health collection: every source is asked about every server, its verdicts are
 * stored (so every replica and local mode see them), and each change of a server's HEALTH
 * pillar becomes an event. A source that hangs is cut off by its timeout; one that fails
 * reports unknown — the server keeps running either way.
 */
import { type Engine, type HealthStore, healthPillar, type StateStore } from "@lab/core";
import type { HealthReport, HealthSource } from "@lab/monitor";

export interface HealthCollectorOptions {
  intervalMs: number;
  /** Per source, per round. */
  timeoutMs: number;
  log: (line: string) => void;
}

export class HealthCollector {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly last = new Map<string, string>();

  constructor(
    private readonly sources: HealthSource[],
    private readonly engine: Engine,
    private readonly store: StateStore & HealthStore,
    private readonly recorded: () => void,
    private readonly opts: HealthCollectorOptions,
  ) {}

  start(): void {
    if (this.sources.length === 0) return;
    void this.collect();
    this.timer = setInterval(() => void this.collect(), this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    return this.running ?? Promise.resolve();
  }

  /** One round; concurrent calls share the round in progress. */
  collect(): Promise<void> {
    this.running ??= this.round().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async round(): Promise<void> {
    const servers = (await this.engine.list("server")).map((s) => s.name);
    for (const source of this.sources) {
      const reports = await this.ask(source, servers);
      // A partial source's "no reports from this server" (only its own reason as a finding)
      // is silence: stored, it would turn every other source's ✓ into unknown.
      const silent = (r: HealthReport) =>
        r.state === "unknown" && r.findings.every((f) => f.alert === source.name);
      await this.store.putHealth(source.name, source.partial ? reports.filter((r) => !silent(r)) : reports);
    }
    const records = await this.store.health();
    let changed = false;
    for (const server of servers) {
      const pillar = healthPillar(records.filter((r) => r.server === server));
      const now = `${pillar.state} (${pillar.text})`;
      const before = this.last.get(server);
      this.last.set(server, now);
      if (before !== undefined && before !== now) {
        changed = true;
        await this.store.record({
          actor: "health",
          action: "health",
          result: "ok",
          summary: `${server}: ${before} → ${now}`,
          changes: [],
          subjects: [`server/${server}`],
        });
      }
    }
    if (changed) this.recorded();
  }

  private async ask(source: HealthSource, servers: string[]): Promise<HealthReport[]> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.opts.timeoutMs);
    try {
      return await source.check(servers, controller.signal);
    } catch (e) {
      // Sources should not throw; if one does, its verdict is unknown, with the reason.
      this.opts.log(`health source ${source.name}: ${(e as Error).message}`);
      return servers.map((server) => ({
        server,
        state: "unknown",
        summary: "unknown",
        findings: [{ alert: source.name, state: "pending", detail: (e as Error).message }],
      }));
    } finally {
      clearTimeout(timer);
    }
  }
}
