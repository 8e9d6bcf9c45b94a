/** Runs the built `lab` binary as a user would, in its own LAB_HOME. */
import { spawnSync } from "node:child_process";
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
