/** Runs a peer's command-line tool (ipmitool, virsh) with a deadline; never through a shell. */
import { execFile } from "node:child_process";
import { LabError } from "@lab/core";

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `file args…`; a missing binary is LAB_E_POWER_TOOL_MISSING, a non-zero exit is returned. */
export function runTool(
  file: string,
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number; install: string },
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...opts.env },
        timeout: opts.timeoutMs ?? 30_000,
        maxBuffer: 4 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { killed?: boolean; code?: unknown }) | null;
        if (e && e.code === "ENOENT") {
          reject(new LabError("LAB_E_POWER_TOOL_MISSING", `${file} is not installed: ${opts.install}`));
          return;
        }
        if (e?.killed) {
          reject(
            new LabError(
              "LAB_E_POWER_UNREACHABLE",
              `${file} ${args.filter((a) => !a.startsWith("-")).join(" ")} did not finish in ${opts.timeoutMs ?? 30_000} ms`,
            ),
          );
          return;
        }
        resolve({ code: typeof e?.code === "number" ? e.code : e ? 1 : 0, stdout, stderr });
      },
    );
  });
}
