/**
 * Spec against what a provider observed, field by field (size, disks, mounts, network), and
 * the plan that follows from it. One comparison for every provider: a provider only says what
 * it sees and which fields it can change.
 */
import type {
  Difference,
  DiffResult,
  ObservedResource,
  PlanResult,
  PlanStep,
  ResourceSpec,
} from "./types.js";
import { formatMiB } from "./units.js";

/** Which differences a provider can reconcile; the rest get the reason as their `reconcile`. */
export interface Reconcilable {
  cores?: boolean;
  memory?: boolean;
  instance_type?: boolean;
  disk?: boolean;
  extra_disk?: boolean;
  mount?: boolean;
  extra_mount?: boolean;
  network?: boolean;
  /** Why the others cannot be (e.g. "an existing machine's hardware is changed by hand"). */
  why: string;
}

/** Memory an OS reports is below what was installed (firmware, kernel): within 8% meets a size. */
const MEMORY_SLACK = 0.08;

export function compare(
  spec: ResourceSpec,
  observed: ObservedResource | null,
  can: Reconcilable,
  unobserved: string[] = [],
): DiffResult {
  const out: Difference[] = [];
  const add = (d: Omit<Difference, "reconcile">) =>
    out.push({ ...d, reconcile: can[d.field] ? true : can.why });
  if (observed) {
    const s = spec.sizing;
    if (s.instanceType && observed.instanceType !== null && s.instanceType !== observed.instanceType) {
      add({ field: "instance_type", kind: "changed", spec: s.instanceType, observed: observed.instanceType });
    }
    if (s.cores !== null && observed.cores !== null) {
      const ok = s.atLeast ? observed.cores >= s.cores : observed.cores === s.cores;
      if (!ok)
        add({
          field: "cores",
          kind: "changed",
          spec: `${s.atLeast ? "≥" : ""}${s.cores}`,
          observed: `${observed.cores}`,
        });
    }
    if (s.memoryMiB !== null && observed.memoryMiB !== null) {
      const ok = s.atLeast
        ? observed.memoryMiB >= s.memoryMiB * (1 - MEMORY_SLACK)
        : observed.memoryMiB === s.memoryMiB;
      if (!ok)
        add({
          field: "memory",
          kind: "changed",
          spec: `${s.atLeast ? "≥" : ""}${formatMiB(s.memoryMiB)}`,
          observed: formatMiB(observed.memoryMiB),
        });
    }
    const [system, ...others] = observed.disks;
    if (s.diskMiB !== null) {
      if (!system) add({ field: "disk", kind: "missing", spec: formatMiB(s.diskMiB), observed: null });
      else if (system.sizeMiB !== null) {
        const ok = s.atLeast
          ? system.sizeMiB >= s.diskMiB * (1 - MEMORY_SLACK)
          : system.sizeMiB === s.diskMiB;
        if (!ok)
          add({
            field: "disk",
            kind: "changed",
            spec: formatMiB(s.diskMiB),
            observed: `${system.name} ${formatMiB(system.sizeMiB)}`,
          });
      }
    }
    // Physical machines come with the disks they have; only VMs and instances are sized disk by disk.
    if (!s.atLeast) {
      for (const d of others)
        add({
          field: "extra_disk",
          kind: "extra",
          spec: null,
          observed: `${d.name} ${formatMiB(d.sizeMiB)}`,
        });
    }
    if (observed.mounts) {
      const want = new Set(spec.mounts);
      for (const m of spec.mounts)
        if (!observed.mounts.includes(m)) add({ field: "mount", kind: "missing", spec: m, observed: null });
      for (const m of observed.mounts)
        if (!want.has(m)) add({ field: "extra_mount", kind: "extra", spec: null, observed: m });
    }
    const addresses = observed.network.flatMap((n) => n.ipv4.map((ip) => ip.split("/")[0]));
    const isAddress = spec.host !== null && /^\d+\.\d+\.\d+\.\d+$/.test(spec.host);
    if (isAddress && addresses.length && !addresses.includes(spec.host as string)) {
      add({
        field: "network",
        kind: "missing",
        spec: `address ${spec.host}`,
        observed: addresses.join(", "),
      });
    }
    const macs = observed.network.map((n) => n.mac).filter((m): m is string => !!m);
    if (spec.mac && macs.length && !macs.includes(spec.mac)) {
      add({ field: "network", kind: "missing", spec: `mac ${spec.mac}`, observed: macs.join(", ") });
    }
  }
  return { server: spec.name, provider: spec.provider, observed, differences: out, unobserved };
}

/** The plan an apply would carry out, from the comparison. */
export function planFrom(spec: ResourceSpec, diff: DiffResult, creates: PlanStep[]): PlanResult {
  if (!diff.observed) {
    return {
      server: spec.name,
      provider: spec.provider,
      action: "create",
      steps: creates,
      unreconcilable: [],
      notes: [],
    };
  }
  const steps: PlanStep[] = [];
  const unreconcilable: Difference[] = [];
  for (const d of diff.differences) {
    if (d.reconcile !== true) {
      unreconcilable.push(d);
      continue;
    }
    if (d.kind === "extra") steps.push({ op: "destroy", what: `${d.field.replace("_", " ")} ${d.observed}` });
    else if (d.kind === "missing") steps.push({ op: "create", what: `${d.field} ${d.spec}` });
    else
      steps.push({
        op: "change",
        what: d.field.replace("_", " "),
        from: d.observed ?? "—",
        to: d.spec ?? "—",
      });
  }
  return {
    server: spec.name,
    provider: spec.provider,
    action: steps.length ? "sync" : "none",
    steps,
    unreconcilable,
    notes: [],
  };
}
