/** Runs the built `lab` binary as a user would, in its own LAB_HOME. */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const ROOT = join(import.meta.dirname, "../..");
const BIN = join(ROOT, "bin/lab.js");

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * For a CLI talking to a server that shares two cores with emulated (TCG) VMs: a request may
 * wait longer than the default 30 s for the server's turn on a CPU.
 */
export const SLOW_MACHINE = { LAB_HTTP_TIMEOUT_MS: "120000" };

export function tempHome(prefix = "lab-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function labIn(home: string, extraEnv: Record<string, string> = {}) {
  if (!existsSync(join(ROOT, "dist/lab.js"))) {
    throw new Error("dist/lab.js is missing: run `npm run build` (npm test does it first)");
  }
  return (args: string[], input?: string): Run => {
    const r = spawnSync(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      input,
      encoding: "utf8",
      env: { PATH: process.env.PATH, HOME: home, LAB_HOME: home, LAB_ACTOR: "tester", ...extraEnv },
    });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
}

/**
 * Like `labIn`, but without blocking the event loop: use it when the server under test runs
 * in this same process (a synchronous spawn would stop it from answering).
 */
export function labAsyncIn(home: string, extraEnv: Record<string, string> = {}) {
  return (args: string[], input?: string): Promise<Run> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], {
        cwd: ROOT,
        env: { PATH: process.env.PATH, HOME: home, LAB_HOME: home, LAB_ACTOR: "tester", ...extraEnv },
        stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      });
      child.stdin?.end(input);
      let stdout = "";
      let stderr = "";
      child.stdout?.on("data", (c) => {
        stdout += String(c);
      });
      child.stderr?.on("data", (c) => {
        stderr += String(c);
      });
      child.on("error", reject);
      child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
}
