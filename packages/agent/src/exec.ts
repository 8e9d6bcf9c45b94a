/**
 * Commands the server asks the agent to run: `/bin/sh -c COMMAND` in its own process group,
 * output streamed as it comes, killed (the whole group: SIGTERM, then SIGKILL) on timeout or
 * cancel. Output is paused while the channel is congested, so memory stays bounded.
 */
import { type ChildProcess, spawn } from "node:child_process";

export interface ExecResult {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  error?: string;
}

export interface ExecSink {
  output(stream: "stdout" | "stderr", data: Buffer): void;
  exit(result: ExecResult): void;
  /** True when the channel has too much unsent data: output waits until it is not. */
  congested(): boolean;
}

/** Environment variables a command must never inherit from the agent. */
const SECRET_ENV = ["LAB_JOIN_TOKEN"];
const KILL_GRACE_MS = 5000;
const CONGESTION_POLL_MS = 20;
const PIPE_GRACE_MS = 2000;

/** Running commands, by the server's id; at most `max` at once. */
export class CommandRunner {
  private readonly running = new Map<string, Running>();

  constructor(
    private readonly max = 16,
    private readonly shell = "/bin/sh",
  ) {}

  get size(): number {
    return this.running.size;
  }

  /** Starts a command; a duplicate id or too many commands answers with an error exit. */
  start(id: string, command: string, timeoutMs: number, sink: ExecSink): void {
    const refuse = (error: string) => sink.exit({ code: null, signal: null, timedOut: false, error });
    if (this.running.has(id)) {
      refuse(`duplicate id ${id}`);
      return;
    }
    if (this.running.size >= this.max) {
      refuse(`more than ${this.max} commands running`);
      return;
    }
    const env = { ...process.env };
    for (const k of SECRET_ENV) delete env[k];
    let child: ChildProcess;
    try {
      child = spawn(this.shell, ["-c", command], {
        stdio: ["ignore", "pipe", "pipe"],
        detached: true, // its own process group: a timeout kills the whole pipeline
        cwd: "/",
        env,
      });
    } catch (e) {
      refuse((e as Error).message);
      return;
    }
    const run = new Running(child, sink, () => this.running.delete(id));
    this.running.set(id, run);
    run.arm(timeoutMs);
  }

  cancel(id: string): void {
    this.running.get(id)?.kill(false);
  }

  /** Kills every command (the channel went away: nobody is listening for their output). */
  cancelAll(): void {
    for (const r of this.running.values()) r.kill(false);
  }
}

class Running {
  private timedOut = false;
  private killed = false;
  private timer: NodeJS.Timeout | undefined;
  private hardKill: NodeJS.Timeout | undefined;
  private pending = 2; // stdout and stderr must both end before the exit is reported
  private exit: { code: number | null; signal: string | null } | undefined;
  private spawnError: string | undefined;
  private done = false;

  constructor(
    private readonly child: ChildProcess,
    private readonly sink: ExecSink,
    private readonly onDone: () => void,
  ) {
    for (const [name, stream] of [
      ["stdout", child.stdout],
      ["stderr", child.stderr],
    ] as const) {
      stream?.on("data", (chunk: Buffer) => {
        sink.output(name, chunk);
        if (sink.congested()) this.waitForRoom(stream);
      });
      stream?.on("close", () => this.streamEnded());
    }
    child.on("error", (e) => {
      this.spawnError = e.message;
      // A failed spawn never emits exit; its pipes still close.
      this.exit ??= { code: null, signal: null };
      this.finish();
    });
    child.on("exit", (code, signal) => {
      this.exit = { code, signal };
      // A background grandchild may hold the pipes open forever: stop waiting after a while.
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
      }, PIPE_GRACE_MS).unref();
      this.finish();
    });
  }

  arm(timeoutMs: number): void {
    this.timer = setTimeout(() => this.kill(true), timeoutMs);
  }

  kill(timedOut: boolean): void {
    if (this.killed || this.exit) return;
    this.killed = true;
    this.timedOut = timedOut;
    this.signal("SIGTERM");
    this.hardKill = setTimeout(() => this.signal("SIGKILL"), KILL_GRACE_MS);
  }

  private signal(sig: NodeJS.Signals): void {
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, sig);
    } catch {
      try {
        this.child.kill(sig);
      } catch {
        // already gone
      }
    }
  }

  private waitForRoom(stream: NodeJS.ReadableStream): void {
    stream.pause();
    const check = () => {
      if (this.done) return;
      if (this.sink.congested()) setTimeout(check, CONGESTION_POLL_MS);
      else stream.resume();
    };
    setTimeout(check, CONGESTION_POLL_MS);
  }

  private streamEnded(): void {
    this.pending--;
    this.finish();
  }

  private finish(): void {
    if (this.done || !this.exit || this.pending > 0) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.hardKill) clearTimeout(this.hardKill);
    this.onDone();
    this.sink.exit({
      code: this.exit.code,
      signal: this.exit.signal,
      timedOut: this.timedOut,
      ...(this.spawnError ? { error: this.spawnError } : {}),
    });
  }
}
