/**
 * A serial relay board in the style of labinator's relayinator: one board, N latching power
 * ports, a line protocol over a serial port. Lab sends one command line and reads one reply:
 *
 *   status   → "1:on 2:off 3:off 4:on"   (every port, in order)
 *   on N     → "ok N:on"
 *   off N    → "ok N:off"
 *   anything wrong → "error MESSAGE"
 *
 * A board is shared by several machines (one port each), so commands to one device are
 * serialised. The serial port is opened per command (a board that was unplugged and plugged
 * back is simply reached again) as a tty handle, so a silent board cannot block a thread.
 */
import { constants, openSync, writeSync } from "node:fs";
import { ReadStream } from "node:tty";
import { LabError } from "@lab/core";
import {
  type BootDevice,
  type PowerCapabilities,
  type PowerDriver,
  type PowerStatus,
  unsupported,
} from "./driver.js";

export interface RelayOptions {
  /** The serial device: /dev/ttyUSB0, /dev/serial/by-id/…, or a pty. */
  device: string;
  /** The machine's port on the board, from 1. */
  channel: number;
  /** How long a cycle keeps the port off; default 2 s (a PSU needs to drain). */
  offMs?: number;
  timeoutMs?: number;
}

const queues = new Map<string, Promise<unknown>>();

/** Runs `fn` after every earlier command to the same device has finished. */
function serialised<T>(device: string, fn: () => Promise<T>): Promise<T> {
  const before = queues.get(device) ?? Promise.resolve();
  const run = before.catch(() => undefined).then(fn);
  queues.set(device, run);
  const forget = () => {
    if (queues.get(device) === run) queues.delete(device);
  };
  run.then(forget, forget);
  return run;
}

/** Sends one line to the board and resolves with its one-line reply. */
export function relayCommand(device: string, line: string, timeoutMs = 3000): Promise<string> {
  return serialised(device, () => exchange(device, line, timeoutMs));
}

function exchange(device: string, line: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let fd: number;
    try {
      fd = openSync(device, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
    } catch (e) {
      reject(new LabError("LAB_E_POWER_UNREACHABLE", `relay board at ${device}: ${(e as Error).message}`));
      return;
    }
    const tty = new ReadStream(fd);
    tty.setRawMode(true);
    let text = "";
    const finish = (err: Error | null, reply?: string) => {
      clearTimeout(timer);
      tty.removeAllListeners("data");
      tty.destroy();
      if (err) reject(err);
      else resolve(reply as string);
    };
    const timer = setTimeout(
      () =>
        finish(
          new LabError(
            "LAB_E_POWER_UNREACHABLE",
            `relay board at ${device} did not answer "${line}" in ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
    tty.on("error", (e) =>
      finish(new LabError("LAB_E_POWER_UNREACHABLE", `relay board at ${device}: ${e.message}`)),
    );
    tty.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
      const end = text.search(/\r?\n/);
      if (end >= 0) finish(null, text.slice(0, end).trim());
    });
    try {
      // A tty handle reads without blocking a thread; a short line is written directly.
      writeSync(fd, `${line}\n`);
    } catch (e) {
      finish(new LabError("LAB_E_POWER_UNREACHABLE", `relay board at ${device}: ${(e as Error).message}`));
    }
  });
}

/** Parses a status reply: port number → on/off. */
export function parseRelayStatus(reply: string): Map<number, "on" | "off"> {
  const ports = new Map<number, "on" | "off">();
  for (const m of reply.matchAll(/(\d+):(on|off)/g)) ports.set(Number(m[1]), m[2] as "on" | "off");
  return ports;
}

export class RelayDriver implements PowerDriver {
  readonly driver = "relay";
  constructor(private readonly opts: RelayOptions) {}

  capabilities(): PowerCapabilities {
    // A relay cuts or gives power; it cannot tell the firmware where to boot.
    return { status: true, on: true, off: true, cycle: true, nextBoot: [] };
  }

  private async send(line: string): Promise<string> {
    const reply = await relayCommand(this.opts.device, line, this.opts.timeoutMs);
    if (reply.startsWith("error")) {
      throw new LabError("LAB_E_POWER_REFUSED", `relay board at ${this.opts.device}: "${line}" → ${reply}`);
    }
    return reply;
  }

  async status(): Promise<PowerStatus> {
    const reply = await this.send("status");
    const state = parseRelayStatus(reply).get(this.opts.channel);
    if (!state) {
      throw new LabError(
        "LAB_E_POWER_REFUSED",
        `relay board at ${this.opts.device} has no port ${this.opts.channel} (it said "${reply}")`,
      );
    }
    return { state, detail: `port ${this.opts.channel}: ${state}` };
  }

  async on(): Promise<void> {
    await this.send(`on ${this.opts.channel}`);
  }

  async off(): Promise<void> {
    await this.send(`off ${this.opts.channel}`);
  }

  async cycle(): Promise<void> {
    await this.off();
    await new Promise((r) => setTimeout(r, this.opts.offMs ?? 2000));
    await this.on();
  }

  async setNextBoot(_device: BootDevice): Promise<void> {
    throw unsupported(this.driver, "choose the next boot device (a relay only switches power)");
  }

  async close(): Promise<void> {}
}
