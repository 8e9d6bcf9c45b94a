/**
 * The pid file a running `lab server` keeps in LAB_HOME/server/lab-server.pid, so that
 * `lab server migrate` can find the daemon that serves this state, stop it once its successor
 * is healthy, and start it again (same arguments) when a later step fails.
 */
import { spawn } from "node:child_process";
import { existsSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LabError } from "@lab/core";

export interface DaemonRecord {
  pid: number;
  /** The API's URL as the server printed it. */
  url: string;
  /** node, the script and `server …` arguments: what restarts it. */
  argv: string[];
  cwd: string;
  startedAt: string;
}

export function pidFilePath(home: string): string {
  return join(home, "server", "lab-server.pid");
}

/** Written when the API listens; removed by `removePidFile` when the server stops. */
export function writePidFile(home: string, record: Omit<DaemonRecord, "startedAt">): string {
  const path = pidFilePath(home);
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify({ ...record, startedAt: new Date().toISOString() })}\n`, {
    mode: 0o600,
  });
  renameSync(tmp, path);
  return path;
}

/** Removes the pid file only if it is still this process's (a newer server may own it). */
export function removePidFile(home: string, pid = process.pid): void {
  const rec = readPidFile(home);
  if (rec && rec.pid === pid) rmSync(pidFilePath(home), { force: true });
}

export function readPidFile(home: string): DaemonRecord | null {
  const path = pidFilePath(home);
  if (!existsSync(path)) return null;
  try {
    const rec = JSON.parse(readFileSync(path, "utf8")) as DaemonRecord;
    return Number.isInteger(rec.pid) && Array.isArray(rec.argv) ? rec : null;
  } catch {
    return null;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The daemon serving this LAB_HOME, when its pid file names a live process. */
export function runningDaemon(home: string): DaemonRecord | null {
  const rec = readPidFile(home);
  return rec && alive(rec.pid) ? rec : null;
}

/**
 * SIGTERM, then waits for the process to exit: the server finishes in-flight requests and
 * closes the database last, so the state on disk is complete once it is gone.
 */
export async function stopDaemon(rec: DaemonRecord, graceMs = 30_000): Promise<void> {
  try {
    process.kill(rec.pid, "SIGTERM");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ESRCH") return;
    throw new LabError(
      "LAB_E_MIGRATE_LOCAL_STOP",
      `cannot signal the local lab server (pid ${rec.pid}): ${(e as Error).message}`,
    );
  }
  const until = Date.now() + graceMs;
  while (alive(rec.pid)) {
    if (Date.now() > until) {
      throw new LabError(
        "LAB_E_MIGRATE_LOCAL_STOP",
        `the local lab server (pid ${rec.pid}) did not exit within ${graceMs / 1000} s of SIGTERM`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The arguments that start the daemon again where its clients look for it: a `--listen …:0`
 * (the kernel chose the port) becomes the port it was given, from the URL it printed, or the
 * restarted server would answer on another port than the CLI configuration names.
 */
export function restartArgv(rec: Pick<DaemonRecord, "argv" | "url">): string[] {
  let port: string;
  try {
    port = new URL(rec.url).port;
  } catch {
    return rec.argv;
  }
  if (!port) return rec.argv;
  const pin = (listen: string) => listen.replace(/:0$/, `:${port}`);
  return rec.argv.map((a, i) => (rec.argv[i - 1] === "--listen" || a.startsWith("--listen=") ? pin(a) : a));
}

/**
 * Starts the daemon again with the arguments it had (its port pinned: `restartArgv`),
 * detached, its output appended to LAB_HOME/server/lab-server.log (the terminal it first ran
 * in is not ours to write to).
 */
export function restartDaemon(home: string, rec: DaemonRecord): { pid: number; log: string } {
  const log = join(home, "server", "lab-server.log");
  const fd = openSync(log, "a", 0o600);
  const [cmd, ...args] = restartArgv(rec);
  if (!cmd) throw new LabError("LAB_E_MIGRATE_LOCAL_STOP", "the pid file holds no command to restart");
  const child = spawn(cmd, args, {
    cwd: rec.cwd,
    env: { ...process.env, LAB_HOME: home },
    detached: true,
    stdio: ["ignore", fd, fd],
  });
  child.unref();
  return { pid: child.pid ?? -1, log };
}
