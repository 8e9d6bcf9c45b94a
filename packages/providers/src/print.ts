/**
 * The plan and diff printers, shared by `lab plan|apply|destroy|diff|sync server`, onboarding
 * and `lab server migrate` (helper 16b): one way to say what will be created (+), changed (~)
 * and destroyed (-). Pure: strings in, strings out; colour comes from the caller's painter.
 */
import type { DiffResult, PlanResult, PlanStep } from "./types.js";
import { formatMiB } from "./units.js";

/** The colours a printer may use (the CLI's Style fits); identity functions print plain text. */
export interface Paint {
  bold(s: string): string;
  dim(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  red(s: string): string;
}

export const PLAIN: Paint = { bold: id, dim: id, green: id, yellow: id, red: id };
function id(s: string): string {
  return s;
}

const SIGN: Record<PlanStep["op"], string> = { create: "+", change: "~", destroy: "-" };

/** One step: `+ volume 64MB`, `~ memory: 48MB → 64MB`, `- extra disk vdb 32MB`. */
export function stepLine(step: PlanStep, p: Paint = PLAIN): string {
  const colour = step.op === "create" ? p.green : step.op === "change" ? p.yellow : p.red;
  const body = step.op === "change" ? `${step.what}: ${step.from ?? "—"} → ${step.to ?? "—"}` : step.what;
  return colour(`${SIGN[step.op]} ${body}`);
}

/** `Plan: 2 to create, 1 to change, 0 to destroy.` */
export function planSummary(steps: PlanStep[]): string {
  const n = (op: PlanStep["op"]) => steps.filter((s) => s.op === op).length;
  return `Plan: ${n("create")} to create, ${n("change")} to change, ${n("destroy")} to destroy.`;
}

/** The whole plan, as `lab plan server` prints it. */
export function formatPlan(plan: PlanResult, p: Paint = PLAIN, heading?: string): string {
  const lines = [p.bold(heading ?? `Plan for server ${plan.server} (provider ${plan.provider}):`)];
  if (plan.steps.length === 0) lines.push("  Nothing to do: the provider reports what the spec asks for.");
  for (const s of plan.steps) lines.push(`  ${stepLine(s, p)}`);
  for (const d of plan.unreconcilable) {
    lines.push(
      `  ${p.yellow("!")} ${d.field.replace("_", " ")}: ${d.spec ?? "—"} ≠ ${d.observed ?? "—"} ${p.dim(`(not changed: ${d.reconcile})`)}`,
    );
  }
  for (const n of plan.notes) lines.push(`  ${p.dim(`ⓘ ${n}`)}`);
  lines.push(planSummary(plan.steps));
  return `${lines.join("\n")}\n`;
}

/**
 * The design's `lab diff server`: the spec's values, then what differs, marked + (the provider
 * has it, the spec does not), - (the spec has it, the provider not) or ~ (both, differently).
 */
export function formatDiff(diff: DiffResult, p: Paint = PLAIN, sizeName?: string | null): string {
  const lines: string[] = [];
  const o = diff.observed;
  if (!o) {
    lines.push(p.red(`- ${diff.server}: provider ${diff.provider} has no such resource`));
    return `${lines.join("\n")}\n`;
  }
  if (sizeName) lines.push(`size: ${sizeName}`);
  const system = o.disks[0];
  if (system) lines.push(`disk: ${formatMiB(system.sizeMiB)}`);
  if (o.instanceType) lines.push(`instance_type: ${o.instanceType}`);
  for (const d of diff.differences) {
    const field = d.field;
    if (d.kind === "extra") {
      lines.push(p.yellow(`+ ${field}: ${d.observed} ← unmanaged, not in spec`));
    } else if (d.kind === "missing") {
      lines.push(
        p.red(
          `- ${field}: ${d.spec} ← in spec, not observed${d.observed ? ` (observed ${d.observed})` : ""}`,
        ),
      );
    } else {
      lines.push(p.yellow(`~ ${field}: ${d.observed} ← spec says ${d.spec}`));
    }
  }
  if (diff.differences.length === 0)
    lines.push(p.green("✓ in sync: the provider reports what the spec asks for"));
  for (const u of diff.unobserved) lines.push(p.dim(`ⓘ not compared: ${u}`));
  return `${lines.join("\n")}\n`;
}
