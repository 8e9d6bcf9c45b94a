/**
 * Label suggestion from detected hardware. A `label_rules:` list in the model says which label
 * a machine earns from which facts (`{label, when: {...}, reason?}`); every condition in `when`
 * must hold. `suggestLabels` returns each label once, in rule order, with a reason made of the
 * facts that matched ("GPU: NVIDIA A100 80GB"), so the onboarding prompt can show why.
 */
import {
  type Disk,
  type Hardware,
  LabError,
  labelRuleConditionSchema,
  labelRuleSchema,
  nameSchema,
} from "@lab/core";
import { z } from "zod";

const ARCH_ALIASES: Record<string, string> = { arm64: "aarch64", amd64: "x86_64", x64: "x86_64" };
const normaliseArch = (arch: string): string => ARCH_ALIASES[arch.toLowerCase()] ?? arch.toLowerCase();

/** The conditions, as the model's `label_rules:` kind defines them (one schema source). */
export const LabelRuleConditionSchema = labelRuleConditionSchema;

/** One rule with the label it gives (the model keys rules by label). */
export const LabelRuleSchema = z.strictObject({ label: nameSchema, ...labelRuleSchema.shape });

export const LabelRulesSchema = z.array(LabelRuleSchema).max(1000);

export type LabelRule = z.infer<typeof LabelRuleSchema>;
export type LabelRuleCondition = LabelRule["when"];

export interface LabelSuggestion {
  label: string;
  reason: string;
}

/** The rules used when the model defines no `label_rules:`. */
export const defaultLabelRules: readonly LabelRule[] = Object.freeze([
  { label: "cuda", when: { gpuVendor: "nvidia" } },
  { label: "rocm", when: { gpuVendor: "amd" } },
  { label: "high-memory", when: { minMemoryGB: 128 } },
  { label: "arm", when: { arch: "aarch64" } },
  { label: "storage", when: { diskType: "nvme", minDiskTB: 2 } },
  { label: "compute", when: { minCores: 64 } },
  { label: "high-bandwidth", when: { nicMinSpeedGbps: 25 } },
]);

/** Validates a `label_rules:` list (from YAML or JSON); a LabError says which rule is wrong. */
export function parseLabelRules(input: unknown): LabelRule[] {
  const result = LabelRulesSchema.safeParse(input);
  if (result.success) return result.data;
  const lines = result.error.issues
    .slice(0, 10)
    .map(
      (i) =>
        `label_rules${i.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("")}: ${i.message}`,
    );
  throw new LabError("LAB_E_INVALID", `invalid label_rules: ${lines.join("; ")}`);
}

/** Installed sizes RAM is sold in (GiB); MemTotal is a few percent under them. */
const RAM_SIZES = [
  1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144,
  8192, 12288, 16384,
];

/**
 * Memory as the machine is sold: MemTotal (what Linux reports) lacks firmware and kernel
 * reservations, so 128 GB shows as ~119–126 GiB; within 15 % under a standard size counts as it.
 */
export function nominalMemoryGB(memoryBytes: number): number {
  const gib = memoryBytes / 2 ** 30;
  const size = RAM_SIZES.find((s) => gib <= s && gib >= s * 0.85);
  return size ?? Math.round(gib);
}

const TB = 1e12;
const DISK_TYPE: Record<Disk["type"], string> = {
  nvme: "NVMe",
  ssd: "SSD",
  hdd: "HDD",
  virtual: "virtual disk",
  usb: "USB disk",
  unknown: "disk",
};

/** "2x NVMe 1.92 TB" style: identical items counted, others listed. */
function grouped(items: string[]): string {
  const counts = new Map<string, number>();
  for (const i of items) counts.set(i, (counts.get(i) ?? 0) + 1);
  return [...counts].map(([item, n]) => (n > 1 ? `${n}x ${item}` : item)).join(", ");
}

function formatTB(bytes: number): string {
  const tb = bytes / TB;
  if (tb >= 1) return `${Number(tb.toFixed(2))} TB`;
  return `${Math.round(bytes / 1e9)} GB`;
}

function formatGbps(mbps: number): string {
  return mbps >= 1000 ? `${Number((mbps / 1000).toFixed(1))}GbE` : `${mbps}Mb/s Ethernet`;
}

/** Checks one rule; returns the facts that made it match, or undefined. */
function match(hw: Hardware, when: LabelRuleCondition): string[] | undefined {
  const facts: string[] = [];
  if (when.gpuVendor !== undefined) {
    const gpus = hw.gpus.filter((g) => g.vendor === when.gpuVendor);
    if (gpus.length === 0) return undefined;
    facts.push(`GPU: ${grouped(gpus.map((g) => g.model))}`);
  }
  if (when.minMemoryGB !== undefined) {
    const gb = nominalMemoryGB(hw.memoryBytes);
    if (gb < when.minMemoryGB) return undefined;
    facts.push(`RAM: ${gb} GB`);
  }
  if (when.arch !== undefined) {
    if (normaliseArch(hw.arch) !== normaliseArch(when.arch)) return undefined;
    facts.push(`Arch: ${hw.arch}`);
  }
  if (when.diskType !== undefined || when.minDiskTB !== undefined) {
    // Removable and USB disks are not the machine's storage unless the rule asks for them.
    const disks = hw.disks.filter((d) =>
      when.diskType !== undefined ? d.type === when.diskType : !d.removable && d.type !== "usb",
    );
    if (disks.length === 0) return undefined;
    const total = disks.reduce((sum, d) => sum + d.sizeBytes, 0);
    if (when.minDiskTB !== undefined && total < when.minDiskTB * TB) return undefined;
    const list = grouped(disks.map((d) => `${DISK_TYPE[d.type]} ${formatTB(d.sizeBytes)}`));
    facts.push(
      `Disk: ${list}${disks.length > 1 && when.minDiskTB !== undefined ? ` (${formatTB(total)} total)` : ""}`,
    );
  }
  if (when.minCores !== undefined) {
    if (hw.cpu.cores < when.minCores) return undefined;
    facts.push(`CPU: ${hw.cpu.model} (${hw.arch}, ${hw.cpu.cores} cores)`);
  }
  if (when.nicMinSpeedGbps !== undefined) {
    const minMbps = when.nicMinSpeedGbps * 1000;
    const fast = hw.nics.filter((n) => (n.speedMbps ?? 0) >= minMbps);
    if (fast.length === 0) return undefined;
    facts.push(`NIC: ${grouped(fast.map((n) => formatGbps(n.speedMbps ?? 0)))}`);
  }
  return facts;
}

/** Labels the rules suggest for this hardware: each once, in rule order, with the facts behind it. */
export function suggestLabels(
  hw: Hardware,
  rules: readonly LabelRule[] = defaultLabelRules,
): LabelSuggestion[] {
  const out: LabelSuggestion[] = [];
  const seen = new Set<string>();
  for (const rule of rules) {
    if (seen.has(rule.label)) continue;
    const facts = match(hw, rule.when);
    if (!facts) continue;
    seen.add(rule.label);
    const text = facts.join("; ");
    out.push({ label: rule.label, reason: rule.reason ? `${text} (${rule.reason})` : text });
  }
  return out;
}
