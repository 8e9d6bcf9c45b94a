/**
 * Plan/apply for the control plane, the shape every Lab plan has: a list of steps, each
 * printed before anything runs (+ creates, ~ changes, - removes, = already so, nothing to do),
 * then applied in order with a progress line each. A step that fails undoes the ones before it,
 * newest first, so a failed migration leaves the source as it was.
 */
import { isLabError, LabError } from "@lab/core";

export type Op = "+" | "~" | "-" | "=";

export interface Step {
  op: Op;
  /** One line for the plan: what will be done. */
  plan: string;
  /** The progress line's title while it runs ("Deploy Lab on beelink"). "=" steps have none. */
  title?: string;
  run?: (progress: (line: string) => void) => Promise<string | undefined>;
  /** Puts things back as they were before `run`; called only when run had completed. */
  undo?: () => Promise<string | undefined>;
}

export interface Plan {
  headline: string;
  steps: Step[];
  notes: string[];
}

export function renderPlan(
  plan: Plan,
  style: {
    green(s: string): string;
    yellow(s: string): string;
    red(s: string): string;
    dim(s: string): string;
  },
): string {
  const colour: Record<Op, (s: string) => string> = {
    "+": style.green,
    "~": style.yellow,
    "-": style.red,
    "=": style.dim,
  };
  const lines = ["Step 1: Plan", plan.headline];
  for (const s of plan.steps) lines.push(colour[s.op](`${s.op} ${s.plan}`));
  for (const n of plan.notes) lines.push(style.yellow(`⚠ Note: ${n}`));
  return `${lines.join("\n")}\n`;
}

export interface ApplyReport {
  done: string[];
  failed?: { step: string; error: LabError };
  undone: string[];
  undoFailures: string[];
}

/** Runs the steps; on failure undoes what ran and reports the failure (it does not throw). */
export async function applyPlan(
  plan: Plan,
  say: (line: string) => void,
  failureCode: "LAB_E_MIGRATE_FAILED" = "LAB_E_MIGRATE_FAILED",
): Promise<ApplyReport> {
  say("Step 2: Apply");
  const completed: Step[] = [];
  const report: ApplyReport = { done: [], undone: [], undoFailures: [] };
  for (const step of plan.steps) {
    if (!step.run) continue;
    const title = step.title ?? step.plan;
    const started = Date.now();
    say(`→ ${title}`);
    try {
      const result = await step.run((line) => say(`  ${line}`));
      say(`  ✓ ${result ?? "done"} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      completed.push(step);
      report.done.push(title);
    } catch (e) {
      const error = isLabError(e) ? e : new LabError(failureCode, `${title}: ${(e as Error).message}`);
      say(`  ✗ ${title} failed: ${error.code}: ${error.message}`);
      report.failed = { step: title, error };
      if (completed.length > 0) say("Rolling back");
      for (const s of completed.reverse()) {
        if (!s.undo) continue;
        try {
          const what = await s.undo();
          say(`  ↩ ${what ?? `undid: ${s.title ?? s.plan}`}`);
          report.undone.push(s.title ?? s.plan);
        } catch (u) {
          const msg = `${s.title ?? s.plan}: ${(u as Error).message}`;
          say(`  ✗ could not undo ${msg}`);
          report.undoFailures.push(msg);
        }
      }
      return report;
    }
  }
  return report;
}
