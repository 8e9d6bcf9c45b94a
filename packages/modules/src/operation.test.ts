/** The operation runner and host-prep checks against a scripted fake machine (no SSH). */
import { describe, expect, it } from "vitest";
import type { Executor, ScriptResult } from "./executor.js";
import { kernelModulesOp, sysctlOp } from "./k3s/host-prep.js";
import { type OpResult, runOperations } from "./operation.js";

/** A machine whose answers are decided by the script's text. */
function fake(answer: (script: string) => ScriptResult | undefined): Executor & { uploads: string[] } {
  const uploads: string[] = [];
  return {
    node: "n1",
    address: "10.0.0.1",
    uploads,
    async run(script) {
      return answer(script) ?? { code: 0, stdout: "", stderr: "" };
    },
    async upload(_data, path) {
      uploads.push(path);
    },
    async close() {},
  };
}
const ok = (stdout: string): ScriptResult => ({ code: 0, stdout, stderr: "" });

describe("kernel modules on a kernel that cannot load them", () => {
  it("fails with what to know, and skips the node's later operations", async () => {
    // No /proc/modules, no built-in evidence: as in a container or a kernel without modules.
    const x = fake((s) => {
      if (s.includes("/proc/modules 2>/dev/null")) return ok("missing\nmissing\n");
      if (s.startsWith("[ -e /proc/modules ]")) return ok("modprobe\n");
      return undefined;
    });
    const seen: OpResult[] = [];
    const results = await runOperations(x, [kernelModulesOp(), sysctlOp()], (r) => seen.push(r));
    expect(results.map((r) => r.status)).toEqual(["failed", "skipped"]);
    expect(results[0]?.detail).toBe(
      "cannot load kernel modules on n1: its kernel has no module support (/proc/modules absent) and overlay, br_netfilter is not built in",
    );
    expect(results[1]?.detail).toBe("after kernel-modules failed");
    expect(seen).toEqual(results);
    expect(x.uploads).toEqual([]);
  });

  it("a change that does not take effect is failed, not changed", async () => {
    // sysctl -w "succeeds" but the value stays: the re-observation decides.
    const x = fake((s) => (s.includes("sysctl -n") ? ok("0\n0\n1\n1\n8192\n524288\n") : undefined));
    const [r] = await runOperations(x, [sysctlOp()], () => {});
    expect(r?.status).toBe("failed");
    expect(r?.detail).toMatch(/^still differs after the change: net.ipv4.ip_forward=0, want 1/);
  });
});
