/**
 * No controller at all — most homelabs. Lab tells a person what to press and, for "on",
 * waits until the machine's boot is seen (its first DHCP request in the PXE timeline). Lab
 * cannot read the power state, so status is always "unknown", with the last boot it saw.
 */
import { LabError } from "@lab/core";
import {
  type BootDevice,
  type PowerCapabilities,
  type PowerDriver,
  type PowerStatus,
  unsupported,
} from "./driver.js";

/** Where Lab sees a machine start: the PXE timeline of its MAC. */
export interface BootWatch {
  /** Resolves with what was seen once the machine is seen booting after `since`, or null at the deadline. */
  waitForBoot(since: Date, timeoutMs: number): Promise<{ time: string; what: string } | null>;
  /** The last boot seen, if any. */
  lastBoot(): Promise<{ time: string; what: string } | null>;
}

export interface ManualOptions {
  /** The machine's name, for the instructions. */
  name: string;
  /** Extra words for the person ("the NUC under the desk, button on the front"). */
  instructions?: string;
  /** How the person is told (the CLI prints; the server records an event). */
  tell: (message: string) => void;
  watch: BootWatch;
  /** How long to wait for the boot after asking; default 10 minutes. */
  timeoutMs?: number;
}

export class ManualDriver implements PowerDriver {
  readonly driver = "manual";
  constructor(private readonly opts: ManualOptions) {}

  capabilities(): PowerCapabilities {
    // on and cycle end only once the boot is seen; off is asked for and cannot be seen.
    return { status: false, on: true, off: true, cycle: true, nextBoot: [] };
  }

  private where(): string {
    return this.opts.instructions ? ` (${this.opts.instructions})` : "";
  }

  async status(): Promise<PowerStatus> {
    const last = await this.opts.watch.lastBoot();
    return {
      state: "unknown",
      detail: last
        ? `no power controller; last boot seen ${last.time} (${last.what})`
        : "no power controller; no boot seen",
    };
  }

  private async pressAndWait(message: string): Promise<void> {
    const since = new Date();
    this.opts.tell(message);
    const timeoutMs = this.opts.timeoutMs ?? 600_000;
    const seen = await this.opts.watch.waitForBoot(since, timeoutMs);
    if (!seen) {
      throw new LabError(
        "LAB_E_POWER_TIMEOUT",
        `${this.opts.name}: no boot seen within ${Math.round(timeoutMs / 1000)} s of asking for the power button (is it set to network-boot first?)`,
      );
    }
  }

  async on(): Promise<void> {
    await this.pressAndWait(
      `Press the power button of ${this.opts.name}${this.where()}; Lab waits for it to network-boot.`,
    );
  }

  async off(): Promise<void> {
    this.opts.tell(`Hold the power button of ${this.opts.name}${this.where()} until it switches off.`);
  }

  async cycle(): Promise<void> {
    await this.pressAndWait(
      `Switch ${this.opts.name}${this.where()} off and on again (hold the power button, then press it); Lab waits for it to network-boot.`,
    );
  }

  async setNextBoot(_device: BootDevice): Promise<void> {
    throw unsupported(this.driver, "choose the next boot device (set network boot first in its firmware)");
  }

  async close(): Promise<void> {}
}

/** What a BootWatch needs from the PXE timeline (@lab/pxe Timeline): its steps, and live ones. */
export interface TimelineLike {
  subscribe(fn: (entry: { time: string; kind: string; type: string }) => void, mac?: string): () => void;
  read(mac: string, after?: number): Promise<{ time: string; kind: string; type: string }[]>;
}

/** A BootWatch over a PXE timeline: a machine is seen booting at its first DHCP step. */
export function timelineBootWatch(timeline: TimelineLike, mac: string): BootWatch {
  return {
    lastBoot: async () => {
      const dhcp = (await timeline.read(mac)).filter((e) => e.kind === "dhcp");
      const last = dhcp.at(-1);
      return last ? { time: last.time, what: `DHCP ${last.type}` } : null;
    },
    waitForBoot: (since, timeoutMs) =>
      new Promise((resolve) => {
        const timer = setTimeout(() => {
          off();
          resolve(null);
        }, timeoutMs);
        const off = timeline.subscribe((e) => {
          if (e.kind !== "dhcp" || new Date(e.time) < since) return;
          clearTimeout(timer);
          off();
          resolve({ time: e.time, what: `DHCP ${e.type}` });
        }, mac);
      }),
  };
}
