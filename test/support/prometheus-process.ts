/**
 * Real Prometheus, node_exporter and promtool for tests: Debian's `prometheus` and
 * `prometheus-node-exporter` packages, started on free loopback ports with temporary folders.
 *
 * A missing binary is a failure with the install command, never a skip. Cleanup never depends
 * on the test passing: every child is tracked, `stopAllExporters()` SIGKILLs what still runs
 * (call it in afterAll), a process "exit" hook does the same synchronously, and on Linux each
 * child runs under `setpriv --pdeathsig KILL`, so the kernel kills it if the worker dies.
 *
 * Nothing here measures time: the deadlines only turn a hang into a failure.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";

export const PROMETHEUS = process.env.LAB_TEST_PROMETHEUS || "/usr/bin/prometheus";
export const PROMTOOL = process.env.LAB_TEST_PROMTOOL || "/usr/bin/promtool";
export const NODE_EXPORTER = process.env.LAB_TEST_NODE_EXPORTER || "/usr/bin/prometheus-node-exporter";

const INSTALL: Record<string, string> = {
  prometheus: "apt-get install -y prometheus",
  promtool: "apt-get install -y prometheus",
  "prometheus-node-exporter": "apt-get install -y prometheus-node-exporter",
};

/** The binary's path; throws (the test fails) with the install command when it is missing. */
export function requireBinary(path: string): string {
  const name = path.split("/").pop() ?? path;
  const found = existsSync(path) ? path : which(name);
  if (!found) {
    throw new Error(`${name} is not installed (looked for ${path}): ${INSTALL[name] ?? `install ${name}`}`);
  }
  return found;
}

function which(name: string): string | null {
  const r = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

/** Runs promtool; returns its exit code and output (the caller asserts). */
export function promtool(args: string[]): { code: number | null; output: string } {
  const bin = requireBinary(PROMTOOL);
  const r = spawnSync(bin, args, { encoding: "utf8", timeout: 120_000 });
  if (r.error) throw new Error(`promtool ${args.join(" ")} could not run: ${r.error.message}`);
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

import { freePort } from "./child.js";

export { freePort };

export interface Proc {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly running: boolean;
  readonly exited: Promise<void>;
  output(): string;
  signal(sig: NodeJS.Signals): void;
  /**
   * SIGSTOP, then waits until every thread is really stopped (kill returns before the kernel
   * has stopped a busy multi-threaded process, which may answer a request in between).
   */
  freeze(): Promise<void>;
  /** SIGTERM, SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

const children = new Set<ChildProcess>();

function alive(c: ChildProcess): boolean {
  return c.exitCode === null && c.signalCode === null;
}

function killSync(c: ChildProcess): void {
  if (!alive(c)) return;
  try {
    c.kill("SIGKILL");
  } catch {
    // already gone
  }
}

process.once("exit", () => {
  for (const c of children) killSync(c);
});

let pdeathsig: boolean | undefined;
function canUsePdeathsig(): boolean {
  if (pdeathsig === undefined) {
    const r = process.platform === "linux" ? spawnSync("setpriv", ["--help"], { encoding: "utf8" }) : null;
    pdeathsig = !!r && r.status === 0 && r.stdout.includes("--pdeathsig");
  }
  return pdeathsig;
}

/** SIGKILLs every child still running and waits until each has exited. */
export async function stopAllExporters(): Promise<void> {
  await Promise.all(
    [...children].filter(alive).map(
      (c) =>
        new Promise<void>((done) => {
          c.once("exit", () => done());
          killSync(c);
        }),
    ),
  );
}

/** Pids of children still running (a test asserts none are left). */
export function runningPids(): number[] {
  return [...children].filter((c) => alive(c) && c.pid !== undefined).map((c) => c.pid as number);
}

/**
 * Spawns `bin args(port)` on a free port and waits until `readyPath` answers 200. Retries on
 * another port if the process dies before it is ready (the port was taken in between).
 */
async function startOnFreePort(
  name: string,
  bin: string,
  args: (port: number) => string[],
  readyPath: string,
  readyTimeoutMs = 30_000,
): Promise<Proc> {
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      return await start(name, bin, args(port), port, readyPath, readyTimeoutMs);
    } catch (e) {
      lastError = e as Error;
    }
  }
  throw lastError ?? new Error(`${name} did not start`);
}

async function start(
  name: string,
  bin: string,
  args: string[],
  port: number,
  readyPath: string,
  readyTimeoutMs: number,
): Promise<Proc> {
  const [command, argv] = canUsePdeathsig()
    ? ["setpriv", ["--pdeathsig", "KILL", bin, ...args]]
    : [bin, args];
  const child = spawn(command, argv, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: process.env.PATH ?? "" },
  });
  children.add(child);
  let out = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => {
    out = (out + d).slice(-200_000);
  });
  child.stderr?.setEncoding("utf8").on("data", (d: string) => {
    out = (out + d).slice(-200_000);
  });
  child.once("error", (e) => {
    out += `\n[spawn error] ${e.message}\n`;
  });
  const exited = new Promise<void>((done) => {
    if (!alive(child)) done();
    else child.once("exit", () => done());
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (!alive(child)) {
      throw new Error(`${name} exited before it was ready:\n${out.slice(-4000)}`);
    }
    if (await answers200(`${url}${readyPath}`)) break;
    if (Date.now() > deadline) {
      killSync(child);
      throw new Error(`${name} was not ready within ${readyTimeoutMs} ms:\n${out.slice(-4000)}`);
    }
    await sleep(100);
  }
  return {
    name,
    pid: child.pid as number,
    port,
    url,
    get running() {
      return alive(child);
    },
    exited,
    output: () => out,
    signal(sig) {
      if (alive(child)) child.kill(sig);
    },
    async freeze() {
      if (!alive(child)) return;
      child.kill("SIGSTOP");
      const pid = child.pid as number;
      if (!existsSync(`/proc/${pid}/task`)) return; // not Linux: best effort
      await waitFor(
        `${name} (pid ${pid}) stopped`,
        async () => (allThreadsStopped(pid) ? true : undefined),
        10_000,
        10,
      );
    },
    async stop(graceMs = 10_000) {
      if (!alive(child)) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => killSync(child), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Whether every thread of `pid` is in state T (stopped) per /proc. */
function allThreadsStopped(pid: number): boolean {
  const tasks = readdirSync(`/proc/${pid}/task`);
  return tasks.every((t) => {
    try {
      // The state follows the parenthesised command name, which may itself contain spaces.
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8");
      return /^[Tt]$/.test(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] ?? "");
    } catch {
      return true; // the thread is gone
    }
  });
}

async function answers200(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/** node_exporter on a free loopback port with only the collectors the tests use. */
export function startNodeExporter(collectors = ["meminfo", "loadavg"]): Promise<Proc> {
  const bin = requireBinary(NODE_EXPORTER);
  return startOnFreePort(
    "prometheus-node-exporter",
    bin,
    (port) => [
      `--web.listen-address=127.0.0.1:${port}`,
      "--collector.disable-defaults",
      ...collectors.map((c) => `--collector.${c}`),
      "--log.level=warn",
    ],
    "/metrics",
  );
}

/**
 * Prometheus with `configFile` on a free loopback port, TSDB in `dataDir`, reload on SIGHUP
 * or POST /-/reload. Ready once /-/ready answers 200.
 */
export function startPrometheus(configFile: string, dataDir: string): Promise<Proc> {
  const bin = requireBinary(PROMETHEUS);
  return startOnFreePort(
    "prometheus",
    bin,
    (port) => [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${dataDir}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--web.enable-lifecycle",
      "--log.level=warn",
    ],
    "/-/ready",
  );
}

/** Polls `probe` until it returns a value that is not undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`,
      );
    }
    await sleep(intervalMs);
  }
}
