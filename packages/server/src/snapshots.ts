/** Automatic SQLite snapshots with retention (PostgreSQL has its own tools: pg_dump, PITR). */
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { backupSqlite } from "@lab/store";

export class Snapshots {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly database: string,
    private readonly dir: string,
    private readonly opts: { intervalMs: number; keep: number },
    private readonly log: (line: string) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.take(), this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Takes one snapshot and deletes the oldest beyond `keep`; failures are logged, not fatal. */
  async take(): Promise<string | undefined> {
    const name = `auto-${new Date().toISOString().replace(/[:.]/g, "-")}.db`;
    try {
      await backupSqlite(this.database, join(this.dir, name));
      const autos = readdirSync(this.dir)
        .filter((f) => /^auto-.*\.db$/.test(f))
        .sort();
      for (const old of autos.slice(0, Math.max(0, autos.length - this.opts.keep)))
        rmSync(join(this.dir, old));
      return join(this.dir, name);
    } catch (e) {
      this.log(`snapshot failed: ${(e as Error).message}`);
      return undefined;
    }
  }
}
