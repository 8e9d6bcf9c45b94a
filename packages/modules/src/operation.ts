/**
 * An idempotent operation: observe the machine, change it only when the observation differs
 * from what is wanted, then observe again. The second observation is what gets reported, so a
 * "changed" line means the change was seen to take effect, never just that a command exited 0.
 */
import type { Executor } from "./executor.js";

/** The k3s module's operation groups, in the order they run on a node. */
export const GROUPS = ["host-prep", "networking", "k3s-server", "k3s-agent", "hardening"] as const;
export type Group = (typeof GROUPS)[number];

/** What an observation found: in the desired state, or how it differs. */
export type Observation = { ok: true; detail?: string } | { ok: false; detail: string };

export interface Operation {
  group: Group;
  name: string;
  check(x: Executor): Promise<Observation>;
  /** Brings the machine to the desired state; returns what it did (for the progress line). */
  change(x: Executor): Promise<string>;
}

export type OpStatus = "ok" | "changed" | "failed" | "skipped";

export interface OpResult {
  node: string;
  group: Group;
  name: string;
  status: OpStatus;
  /** ok: what was observed; changed: what was done; failed/skipped: why. */
  detail: string;
  ms: number;
}

/** Runs one node's operations in order; after a failure the node's later operations are skipped. */
export async function runOperations(
  x: Executor,
  ops: Operation[],
  onResult: (r: OpResult) => void,
): Promise<OpResult[]> {
  const results: OpResult[] = [];
  let failed: string | undefined;
  for (const op of ops) {
    const started = Date.now();
    const done = (status: OpStatus, detail: string) => {
      const r = { node: x.node, group: op.group, name: op.name, status, detail, ms: Date.now() - started };
      results.push(r);
      onResult(r);
    };
    if (failed) {
      // Later steps build on earlier ones (k3s needs its sysctls, joins need the server).
      done("skipped", `after ${failed} failed`);
      continue;
    }
    try {
      const before = await op.check(x);
      if (before.ok) {
        done("ok", before.detail ?? "");
        continue;
      }
      const did = await op.change(x);
      const after = await op.check(x);
      if (after.ok) done("changed", did || before.detail);
      else {
        failed = op.name;
        done("failed", `still differs after the change: ${after.detail}`);
      }
    } catch (e) {
      failed = op.name;
      done("failed", e instanceof Error ? e.message : String(e));
    }
  }
  return results;
}

/** Runs a script and returns its stdout; a non-zero exit throws with what it printed. */
export async function must(x: Executor, script: string, what: string): Promise<string> {
  const r = await x.run(script);
  if (r.code !== 0) {
    const said = (r.stderr.trim() || r.stdout.trim()).split("\n").slice(-3).join("; ");
    throw new Error(`${what} on ${x.node} failed (exit ${r.code})${said ? `: ${said}` : ""}`);
  }
  return r.stdout;
}
