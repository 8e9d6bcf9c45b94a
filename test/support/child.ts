/**
 * Peers the tests start (named, sshd, …) as tracked child processes: output kept (bounded),
 * stopped with SIGTERM then SIGKILL, and never outliving the test worker — each is started
 * through `setpriv --pdeathsig KILL` where it exists, and an exit hook kills what is left.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import net from "node:net";

const children = new Set<ChildProcess>();

/** Whether a child has not exited yet. */
export function isRunning(c: ChildProcess): boolean {
  return c.exitCode === null && c.signalCode === null;
}

process.once("exit", () => {
  for (const c of children) if (isRunning(c)) c.kill("SIGKILL");
});

export interface TrackedChild {
  readonly child: ChildProcess;
  /** stdout and stderr interleaved, the last 200 KB. */
  output(): string;
  readonly exited: Promise<void>;
  /** SIGTERM, SIGKILL after `graceMs`; resolves once it has exited. */
  stop(): Promise<void>;
}

/** Starts `bin args` with a clean PATH-only environment, tracked until it exits. */
export function spawnTracked(bin: string, args: string[], graceMs = 5000): TrackedChild {
  const [command, argv] = existsSync("/usr/bin/setpriv")
    ? ["/usr/bin/setpriv", ["--pdeathsig", "KILL", bin, ...args]]
    : [bin, args];
  const child = spawn(command, argv, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: process.env.PATH ?? "" },
  });
  children.add(child);
  let out = "";
  const append = (d: string) => {
    out = (out + d).slice(-200_000);
  };
  child.stdout?.setEncoding("utf8").on("data", append);
  child.stderr?.setEncoding("utf8").on("data", append);
  child.once("error", (e) => append(`\n[spawn error] ${e.message}\n`));
  const exited = new Promise<void>((done) => {
    if (!isRunning(child)) done();
    else child.once("exit", () => done());
  });
  return {
    child,
    output: () => out,
    exited,
    async stop() {
      if (isRunning(child)) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => isRunning(child) && child.kill("SIGKILL"), graceMs);
        await exited;
        clearTimeout(timer);
      }
      children.delete(child);
    },
  };
}

/** SIGKILLs every tracked child started with `bin` (or all) and waits for them to exit. */
export async function killTracked(): Promise<void> {
  await Promise.all(
    [...children].map(
      (c) =>
        new Promise<void>((done) => {
          if (!isRunning(c)) return done();
          c.once("exit", () => done());
          c.kill("SIGKILL");
        }),
    ),
  );
  children.clear();
}

/** A TCP port on `host` that was free a moment ago (the kernel's pick). */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program to completion without blocking the event loop (output capped at 1 MiB each,
 * killed after `timeoutMs`). A program that cannot start rejects; a failing one resolves.
 */
export function runToEnd(
  bin: string,
  args: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env: opts.env ?? { PATH: process.env.PATH ?? "", TZ: "UTC" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      stdout = (stdout + d).slice(-1_048_576);
    });
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      stderr = (stderr + d).slice(-1_048_576);
    });
    child.stdin?.end(opts.input);
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr });
    });
  });
}
