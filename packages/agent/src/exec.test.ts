import { describe, expect, it } from "vitest";
import { CommandRunner, type ExecResult } from "./exec.js";

function run(
  runner: CommandRunner,
  command: string,
  timeoutMs = 30_000,
  id = "1",
): { done: Promise<{ stdout: string; stderr: string; result: ExecResult }>; runner: CommandRunner } {
  let stdout = "";
  let stderr = "";
  const done = new Promise<{ stdout: string; stderr: string; result: ExecResult }>((resolve) => {
    runner.start(id, command, timeoutMs, {
      output: (stream, data) => {
        if (stream === "stdout") stdout += data.toString();
        else stderr += data.toString();
      },
      exit: (result) => resolve({ stdout, stderr, result }),
      congested: () => false,
    });
  });
  return { done, runner };
}

describe("CommandRunner", () => {
  it.each([
    {
      what: "output on both streams and the exit code",
      command: "echo out; echo err >&2; exit 3",
      stdout: "out\n",
      stderr: "err\n",
      code: 3,
    },
    {
      what: "a pipeline through the shell",
      command: "printf 'a\\nb\\nc\\n' | wc -l",
      stdout: "3\n",
      stderr: "",
      code: 0,
    },
    {
      what: "a command that does not exist",
      command: "no-such-command-lab",
      stdout: "",
      stderr: "not found",
      code: 127,
    },
  ])("reports $what", async ({ command, stdout, stderr, code }) => {
    const { done } = run(new CommandRunner(), command);
    const r = await done;
    expect(r.stdout).toBe(stdout);
    expect(r.stderr).toContain(stderr);
    expect(r.result).toMatchObject({ code, timedOut: false });
  });

  it("kills the whole process group on timeout", async () => {
    const { done } = run(new CommandRunner(), "sleep 30 | sleep 30", 200);
    const r = await done;
    expect(r.result).toMatchObject({ code: null, signal: "SIGTERM", timedOut: true });
  });

  it("cancels on request (the whole group)", async () => {
    const runner = new CommandRunner();
    let stdout = "";
    const result = await new Promise<ExecResult>((resolve) => {
      runner.start("c1", "echo started; sleep 30", 30_000, {
        output: (_stream, data) => {
          stdout += data.toString();
          if (stdout.includes("started")) runner.cancel("c1");
        },
        exit: resolve,
        congested: () => false,
      });
    });
    expect(stdout).toBe("started\n");
    expect(result).toMatchObject({ signal: "SIGTERM", timedOut: false });
    expect(runner.size).toBe(0);
  });

  it("does not wait forever for a background child holding the pipes", async () => {
    const { done } = run(new CommandRunner(), "sleep 3 & echo bg");
    const r = await done;
    expect(r.stdout).toBe("bg\n");
    expect(r.result.code).toBe(0);
  });

  it("refuses more commands than its limit", async () => {
    const runner = new CommandRunner(1);
    const first = run(runner, "sleep 30", 30_000, "a");
    const second = await run(runner, "true", 30_000, "b").done;
    expect(second.result.error).toContain("more than 1");
    runner.cancelAll();
    await first.done;
  });

  it("never hands the join token to commands", async () => {
    process.env.LAB_JOIN_TOKEN = "labj_secret";
    try {
      const r = await run(new CommandRunner(), 'echo "[$LAB_JOIN_TOKEN]"').done;
      expect(r.stdout).toBe("[]\n");
    } finally {
      delete process.env.LAB_JOIN_TOKEN;
    }
  });
});
