/**
 * Power for a fleet: which servers declare a `power:` driver, what each says now, and the
 * actions on them — the one place the CLI (local mode) and `lab server` both go through.
 * Every action is an audit event; a state that changed without Lab (someone at the BMC, a
 * person at the relay board, a guest that powered itself off) is noticed by polling and is an
 * event too. A server without `power:` reads "not configured"; a driver that cannot read
 * state reads "unknown" — never a guessed "on".
 */
import { isLabError, LabError, type NewAuditEvent, type PowerSpec } from "@lab/core";
import type { BootDevice, PowerCapabilities, PowerDriver, PowerState } from "./driver.js";
import { type DriverContext, driverFor } from "./from-spec.js";

export interface PowerTarget {
  name: string;
  spec: PowerSpec | undefined;
  mac?: string;
}

export type PowerAction = "on" | "off" | "cycle";

/** One server's power as last observed. */
export interface PowerRow {
  name: string;
  driver: string | null;
  /** `not configured` without `power:`; `error` when the controller did not answer. */
  state: PowerState | "not configured" | "error";
  detail: string;
  nextBoot: BootDevice | "none" | null;
  capabilities: PowerCapabilities | null;
  observedAt: string | null;
  error: { code: string; message: string } | null;
}

export interface PowerControlOptions {
  /** The servers and their `power:` (read fresh: the model changes). */
  targets: () => Promise<PowerTarget[]>;
  /** What a driver needs from its host: secrets, the boot watch, how to tell a person. */
  context: (target: PowerTarget) => Omit<DriverContext, "name">;
  record: (event: NewAuditEvent) => Promise<unknown>;
  now?: () => Date;
}

export class PowerControl {
  /** The last state seen per server, to tell outside changes from Lab's own. */
  private readonly last = new Map<string, PowerRow>();
  private readonly now: () => Date;
  /** Ticks once per poll round and per action: an action newer than a round's start wins. */
  private tick = 0;
  private readonly actedAt = new Map<string, number>();

  constructor(private readonly opts: PowerControlOptions) {
    this.now = opts.now ?? (() => new Date());
  }

  private async target(name: string): Promise<PowerTarget> {
    const all = await this.opts.targets();
    const t = all.find((x) => x.name === name);
    if (!t) throw new LabError("LAB_E_NOT_FOUND", `server "${name}" not found`);
    return t;
  }

  private async driver(t: PowerTarget): Promise<PowerDriver> {
    if (!t.spec) {
      throw new LabError("LAB_E_POWER_NOT_CONFIGURED", `server "${t.name}" has no power: section`);
    }
    return driverFor(t.spec, { name: t.name, ...this.opts.context(t) });
  }

  /** Asks each server's controller now (in parallel); order follows `names`, or the fleet. */
  async status(names?: string[]): Promise<PowerRow[]> {
    const all = await this.opts.targets();
    const chosen = names ? names.map((n) => all.find((t) => t.name === n) ?? n) : all;
    return Promise.all(
      chosen.map((t) => {
        if (typeof t === "string") throw new LabError("LAB_E_NOT_FOUND", `server "${t}" not found`);
        return this.observe(t);
      }),
    );
  }

  private async observe(t: PowerTarget): Promise<PowerRow> {
    const row: PowerRow = {
      name: t.name,
      driver: t.spec?.driver ?? null,
      state: "not configured",
      detail: "no power: section",
      nextBoot: null,
      capabilities: null,
      observedAt: null,
      error: null,
    };
    if (!t.spec) return row;
    let driver: PowerDriver | undefined;
    try {
      driver = await this.driver(t);
      row.capabilities = driver.capabilities();
      const s = await driver.status();
      Object.assign(row, { state: s.state, detail: s.detail, nextBoot: s.nextBoot ?? null });
      row.observedAt = this.now().toISOString();
    } catch (e) {
      row.state = "error";
      row.error = isLabError(e)
        ? { code: e.code, message: e.message }
        : { code: "LAB_E_INTERNAL", message: String(e) };
      row.detail = row.error.message;
    } finally {
      await driver?.close();
    }
    return row;
  }

  /**
   * Polls every server once and records an event for each whose state changed since the last
   * poll or action without Lab doing it. The first poll only learns (nothing to compare with).
   */
  async poll(): Promise<PowerRow[]> {
    const started = ++this.tick;
    const rows = await this.status();
    for (const row of rows) {
      // Lab acted on it while this round was asking: the round's answer may predate the action.
      if ((this.actedAt.get(row.name) ?? 0) > started) continue;
      const before = this.last.get(row.name);
      this.last.set(row.name, row);
      if (!before || before.state === row.state) continue;
      // An answer lost or regained is reported as such, not as the machine switching.
      const outside = isPower(before.state) && isPower(row.state);
      await this.opts.record({
        actor: "power",
        action: outside ? "power.changed" : "power.observed",
        result: row.state === "error" ? "error" : "ok",
        summary: outside
          ? `${row.name}: power ${before.state} → ${row.state}, not done through Lab (${row.detail})`
          : `${row.name}: power ${before.state} → ${row.state} (${row.detail})`,
        changes: [],
        subjects: [`server/${row.name}`],
      });
    }
    return rows;
  }

  /** on / off / cycle, optionally choosing the next boot first; recorded with who asked. */
  async act(name: string, action: PowerAction, actor: string, nextBoot?: BootDevice): Promise<PowerRow> {
    const t = await this.target(name);
    const driver = await this.driver(t);
    try {
      const caps = driver.capabilities();
      if (nextBoot && !caps.nextBoot.includes(nextBoot)) {
        throw new LabError(
          "LAB_E_POWER_UNSUPPORTED",
          `the ${driver.driver} driver of ${name} cannot set the next boot to ${nextBoot}${caps.nextBoot.length ? ` (it can: ${caps.nextBoot.join(", ")})` : ""}`,
        );
      }
      // While Lab acts, no poll round may take the change for an outside one.
      this.actedAt.set(name, Number.POSITIVE_INFINITY);
      try {
        if (nextBoot) await driver.setNextBoot(nextBoot);
        await driver[action]();
      } catch (e) {
        await this.opts.record({
          actor,
          action: `power.${action}`,
          result: "error",
          summary: `${name}: power ${action}${nextBoot ? ` (next boot ${nextBoot})` : ""} failed: ${(e as Error).message}`,
          changes: [],
          subjects: [`server/${name}`],
        });
        this.actedAt.set(name, ++this.tick);
        throw e;
      }
    } finally {
      await driver.close();
    }
    const row = await this.observe(t);
    // What Lab did is not an outside change: the poller compares with this.
    this.last.set(name, row);
    this.actedAt.set(name, ++this.tick);
    await this.opts.record({
      actor,
      action: `power.${action}`,
      result: "ok",
      summary: `${name}: power ${action}${nextBoot ? `, next boot ${nextBoot}` : ""} → ${row.state} (${row.detail})`,
      changes: [],
      subjects: [`server/${name}`],
    });
    return row;
  }

  async setNextBoot(name: string, device: BootDevice, actor: string): Promise<PowerRow> {
    const t = await this.target(name);
    const driver = await this.driver(t);
    try {
      await driver.setNextBoot(device);
    } finally {
      await driver.close();
    }
    await this.opts.record({
      actor,
      action: "power.next-boot",
      result: "ok",
      summary: `${name}: next boot ${device}`,
      changes: [],
      subjects: [`server/${name}`],
    });
    return this.observe(t);
  }
}

function isPower(s: PowerRow["state"]): s is "on" | "off" {
  return s === "on" || s === "off";
}

/** Polls on an interval; one round at a time (a slow BMC delays the next round, never stacks). */
export class PowerPoller {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly control: PowerControl,
    private readonly intervalMs: number,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  start(): void {
    const tick = () => {
      this.running = this.control
        .poll()
        .catch((e: unknown) => this.log(`power poll: ${(e as Error).message}`))
        .finally(() => {
          this.running = undefined;
          if (this.timer !== undefined) this.timer = setTimeout(tick, this.intervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
