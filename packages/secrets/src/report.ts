/**
 * What `lab get secrets`, `lab show secret` and `lab secret audit` print, computed from the
 * compiled policy (one derivation for all three), the scanned code and the vault's metadata.
 * Nothing here decrypts a value.
 */
import type { Fleet, Source } from "@lab/core";
import { type CompiledPolicy, chainText, type Link } from "./policy.js";
import type { CodeIndex, ScanProblem } from "./puppet.js";
import type { Fetch, SecretMeta } from "./vault.js";

export interface SecretListRow {
  name: string;
  type: string;
  /** Labels whose `secrets:` list names it (the model's own list, as before code counted). */
  labels: string[];
  rotateEvery: string | null;
  setBy: string | null;
  /** Labels whose chains grant it, each with how many servers it reaches through them. */
  usedBy: { label: string; servers: number }[];
  servers: number;
  perMachine: boolean;
  /** When the current value was set; null: never set. */
  lastRotated: string | null;
  version: number | null;
}

export interface SecretReport {
  name: string;
  type: string | null;
  generator: string | null;
  rotateEvery: string | null;
  perMachine: boolean;
  defined: boolean;
  /** Labels whose `secrets:` list names it. */
  labels: string[];
  /** Every server that may read it, with the labels it came through and when it last fetched. */
  servers: {
    name: string;
    provider: string;
    environment: string | null;
    from: Source[];
    lastFetched: string | null;
  }[];
  lastSet: { at: string; by: string; version: number } | null;
  /** Each distinct chain, with the servers it reaches. */
  chains: {
    chain: Link[];
    text: string;
    servers: { name: string; provider: string; lastFetched: string | null }[];
  }[];
  excluded: { name: string; by: Source }[];
  /** Call sites in classes no label applies (they grant nothing today). */
  unapplied: { class: string; file: string; line: number }[];
  codeScanned: boolean;
}

export interface AuditReport {
  codeScanned: boolean;
  modulePath: string[];
  /** Defined under `secrets:` but no label or applied class refers to it. */
  orphans: string[];
  /** Referenced, but the store has no value. */
  empties: { name: string; referencedBy: string[] }[];
  /** Values in the store for names nothing defines or references. */
  strays: string[];
  problems: ScanProblem[];
}

export interface ReportInputs {
  fleet: Fleet;
  policy: CompiledPolicy;
  code: CodeIndex;
  values: SecretMeta[];
  fetches: Fetch[];
}

/** Every secret name Lab knows of: defined, listed by a label, called in scanned code. */
export function secretNames({ fleet, code }: Pick<ReportInputs, "fleet" | "code">): string[] {
  const names = new Set(fleet.model.secret.keys());
  for (const l of fleet.model.label.values()) for (const s of l.spec.secrets ?? []) names.add(s);
  for (const c of code.classes.values()) for (const s of c.calls) names.add(s.secret);
  // A cluster's kubeconfig is Lab's own secret (read by the K8s deployer, never by a machine).
  for (const c of fleet.model.cluster.values())
    if (c.spec.kubeconfig_secret) names.add(c.spec.kubeconfig_secret);
  return [...names];
}

export function secretList(inputs: ReportInputs): SecretListRow[] {
  const values = new Map(inputs.values.map((v) => [v.path, v]));
  return secretNames(inputs).map((name) => {
    const spec = inputs.fleet.model.secret.get(name)?.spec;
    const byLabel = new Map<string, Set<string>>();
    const servers = new Set<string>();
    for (const m of inputs.policy.machines.values()) {
      const g = m.grants.find((x) => x.secret === name);
      if (!g) continue;
      servers.add(m.machine);
      for (const chain of g.chains) {
        const label = chain[0]?.kind === "label" ? chain[0].name : "?";
        const set = byLabel.get(label) ?? new Set<string>();
        set.add(m.machine);
        byLabel.set(label, set);
      }
    }
    const v = values.get(name);
    return {
      name,
      type: spec?.type ?? "undefined",
      labels: labelsListing(inputs.fleet, name),
      rotateEvery: spec?.rotate_every ?? null,
      setBy: v?.setBy ?? spec?.set_by ?? null,
      usedBy: [...byLabel.entries()].map(([label, s]) => ({ label, servers: s.size })),
      servers: servers.size,
      perMachine: spec?.per_machine ?? false,
      lastRotated: v?.setAt ?? null,
      version: v?.version ?? null,
    };
  });
}

export function secretReport(inputs: ReportInputs, name: string): SecretReport | undefined {
  if (!secretNames(inputs).includes(name)) return undefined;
  const spec = inputs.fleet.model.secret.get(name)?.spec;
  const value = inputs.values.find((v) => v.path === name);
  const fetched = new Map(inputs.fetches.filter((f) => f.path === name).map((f) => [f.machine, f.at]));
  const chains = new Map<string, SecretReport["chains"][number]>();
  const excluded: SecretReport["excluded"] = [];
  const servers: SecretReport["servers"] = [];
  for (const m of inputs.policy.machines.values()) {
    const r = inputs.fleet.resolve(m.machine);
    for (const e of m.excluded) if (e.secret === name) excluded.push({ name: m.machine, by: e.by });
    const g = m.grants.find((x) => x.secret === name);
    if (g && r) {
      const from: Source[] = [];
      for (const c of g.chains) {
        const l = c[0];
        if (l?.kind === "label" && !from.some((f) => f.name === l.name))
          from.push({ kind: "label", name: l.name });
      }
      servers.push({
        name: r.name,
        provider: r.provider,
        environment: r.environment,
        from,
        lastFetched: fetched.get(r.name) ?? null,
      });
    }
    for (const chain of g?.chains ?? []) {
      const key = chainText(chain, true);
      const entry = chains.get(key) ?? { chain, text: chainText(chain), servers: [] };
      entry.servers.push({
        name: m.machine,
        provider: r?.provider ?? "?",
        lastFetched: fetched.get(m.machine) ?? null,
      });
      chains.set(key, entry);
    }
  }
  const applied = new Set<string>();
  for (const e of chains.values()) for (const l of e.chain) if (l.kind === "class") applied.add(l.name);
  const unapplied: SecretReport["unapplied"] = [];
  for (const c of inputs.code.classes.values()) {
    if (applied.has(c.name)) continue;
    for (const s of c.calls)
      if (s.secret === name) unapplied.push({ class: c.name, file: s.file, line: s.line });
  }
  return {
    name,
    type: spec?.type ?? null,
    generator: spec?.generator ?? null,
    rotateEvery: spec?.rotate_every ?? null,
    perMachine: spec?.per_machine ?? false,
    defined: spec !== undefined,
    labels: labelsListing(inputs.fleet, name),
    servers,
    lastSet: value ? { at: value.setAt, by: value.setBy, version: value.version } : null,
    chains: [...chains.values()],
    excluded,
    unapplied,
    codeScanned: inputs.code.scanned,
  };
}

export function auditReport(inputs: ReportInputs): AuditReport {
  const { fleet, code } = inputs;
  const referencedBy = new Map<string, Set<string>>();
  const ref = (secret: string, by: string) => {
    const s = referencedBy.get(secret) ?? new Set<string>();
    s.add(by);
    referencedBy.set(secret, s);
  };
  for (const l of fleet.model.label.values())
    for (const s of l.spec.secrets ?? []) ref(s, `label "${l.name}"`);
  // Code counts when a label applies the class (directly or through an include).
  for (const m of inputs.policy.machines.values()) {
    for (const g of m.grants) {
      for (const chain of g.chains) {
        const classes = chain.filter((l) => l.kind === "class");
        const last = classes[classes.length - 1];
        if (last) ref(g.secret, `class "${last.name}"`);
      }
    }
  }
  // Per-machine values are stored as name@machine.
  const values = new Set(inputs.values.map((v) => v.path.split("@")[0] as string));
  const onDemand = (n: string) => {
    const spec = fleet.model.secret.get(n)?.spec;
    return spec?.type === "dynamic" && spec.per_machine === true;
  };
  const orphans = [...fleet.model.secret.keys()].filter((n) => !referencedBy.has(n));
  const empties = [...referencedBy.entries()]
    .filter(([n]) => !values.has(n) && !onDemand(n))
    .map(([name, by]) => ({ name, referencedBy: [...by] }));
  const known = new Set(secretNames(inputs));
  const strays = [...values].filter((v) => !known.has(v));
  return {
    codeScanned: code.scanned,
    modulePath: code.modulePath,
    orphans,
    empties,
    strays,
    problems: code.problems,
  };
}

function labelsListing(fleet: Fleet, name: string): string[] {
  return [...fleet.model.label.values()].filter((l) => l.spec.secrets?.includes(name)).map((l) => l.name);
}
