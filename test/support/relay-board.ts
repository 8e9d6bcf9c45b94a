/**
 * A relay board on a serial line, for tests: `socat` makes a pseudo-terminal pair (two ptys
 * joined back to back, as a USB serial cable to a board would be), and this small emulator
 * answers the relayinator-style protocol (packages/power/src/relay.ts) on the far end. The
 * socat pair is the real peer of the driver's serial I/O; the board's firmware is emulated.
 */
import { spawn } from "node:child_process";
import { constants, existsSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { ReadStream } from "node:tty";
import { until } from "./wait.js";

export interface RelayBoard {
  /** The pty Lab's driver opens. */
  device: string;
  ports: Map<number, "on" | "off">;
  /** Off → on transitions per port. */
  starts: Map<number, number>;
  /** Every command line the board received. */
  received: string[];
  /** A person flipping the board's own switch for a port. */
  flip(port: number, state: "on" | "off"): void;
  close(): Promise<void>;
}

export async function startRelayBoard(dir: string, portCount = 4): Promise<RelayBoard> {
  if (!existsSync("/usr/bin/socat")) throw new Error("socat is missing: apt-get install -y socat");
  const device = join(dir, "relay-lab");
  const boardSide = join(dir, "relay-board");
  const socat = spawn(
    "/usr/bin/socat",
    [`pty,raw,echo=0,link=${device}`, `pty,raw,echo=0,link=${boardSide}`],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let socatErr = "";
  socat.stderr.on("data", (c) => {
    socatErr += String(c);
  });
  await until(
    `socat's pty pair (${socatErr})`,
    () => existsSync(device) && existsSync(boardSide),
    10_000,
  ).catch((e) => {
    socat.kill();
    throw e;
  });
  const ports = new Map<number, "on" | "off">();
  const starts = new Map<number, number>();
  for (let p = 1; p <= portCount; p++) {
    ports.set(p, "off");
    starts.set(p, 0);
  }
  const set = (p: number, s: "on" | "off") => {
    if (ports.get(p) === "off" && s === "on") starts.set(p, (starts.get(p) ?? 0) + 1);
    ports.set(p, s);
  };
  const received: string[] = [];
  const fd = openSync(boardSide, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
  const tty = new ReadStream(fd);
  tty.setRawMode(true);
  let buffer = "";
  tty.on("data", (chunk: Buffer) => {
    buffer += chunk.toString("latin1");
    for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
      const line = buffer.slice(0, i).trim();
      buffer = buffer.slice(i + 1);
      if (!line) continue;
      received.push(line);
      writeSync(fd, `${answer(line)}\n`);
    }
  });
  const answer = (line: string): string => {
    if (line === "status") return [...ports].map(([p, s]) => `${p}:${s}`).join(" ");
    const m = /^(on|off) (\d+)$/.exec(line);
    if (!m) return `error unknown command "${line}"`;
    const p = Number(m[2]);
    if (!ports.has(p)) return `error no port ${p}`;
    set(p, m[1] as "on" | "off");
    return `ok ${p}:${m[1]}`;
  };
  return {
    device,
    ports,
    starts,
    received,
    flip: set,
    async close() {
      tty.destroy();
      socat.kill();
      await new Promise((r) => socat.once("exit", r));
    },
  };
}
