/**
 * The compiled secret policy: for every server, the secrets it may read and every chain that
 * grants each one. Two sources, both read from what already exists:
 *
 * - the engine's resolution (a label's `secrets:` list, exclusions already applied);
 * - the code: a class the server's labels apply (or that class includes) that calls
 *   `lab::secret('…')`, found by the Puppet scanner.
 *
 * Default deny: a secret is readable only through a chain. Exclusion wins: a secret's
 * `exclude:` removes it from a server however it arrived, code included.
 */
import type { Fleet, Resolution, SelectorSpec, Source } from "@lab/core";
import type { CallSite, CodeIndex } from "./puppet.js";

/** One step of a derivation chain, printed as `label "x" → puppet class "y" → lab::secret('z')`. */
export type Link =
  | { kind: "label"; name: string }
  | { kind: "class"; name: string }
  | { kind: "call"; secret: string; file: string; line: number; column: number };

export interface Grant {
  secret: string;
  chains: Link[][];
}

export interface MachinePolicy {
  machine: string;
  /** Entitled secrets, in first-seen order. */
  grants: Grant[];
  /** Secrets a chain would have granted but an `exclude:` removed. */
  excluded: { secret: string; by: Source }[];
}

export interface CompiledPolicy {
  machines: Map<string, MachinePolicy>;
  /** Whether Puppet code was scanned at all (no module path: only labels grant). */
  codeScanned: boolean;
}

/** The empty index: no module path configured. */
export const NO_CODE: CodeIndex = { scanned: false, modulePath: [], classes: new Map(), problems: [] };

export function compilePolicy(fleet: Fleet, code: CodeIndex = NO_CODE): CompiledPolicy {
  const machines = new Map<string, MachinePolicy>();
  for (const r of fleet.resolveAll()) machines.set(r.name, machinePolicy(fleet, r, code));
  return { machines, codeScanned: code.scanned };
}

/** One server's entitlement (what the store checks on every fetch). */
export function machinePolicy(fleet: Fleet, r: Resolution, code: CodeIndex = NO_CODE): MachinePolicy {
  const grants = new Map<string, Link[][]>();
  const add = (secret: string, chain: Link[]) => {
    const list = grants.get(secret);
    if (list) list.push(chain);
    else grants.set(secret, [chain]);
  };
  for (const s of r.secrets) {
    for (const f of s.from) if (f.kind === "label") add(s.name, [{ kind: "label", name: f.name }]);
  }
  for (const c of r.classes) {
    for (const f of c.from) {
      if (f.kind !== "label") continue;
      for (const { site, via } of callSites(code, c.name)) {
        add(site.secret, [
          { kind: "label", name: f.name },
          ...[c.name, ...via].map((name): Link => ({ kind: "class", name })),
          { kind: "call", secret: site.secret, file: site.file, line: site.line, column: site.column },
        ]);
      }
    }
  }
  const excluded: MachinePolicy["excluded"] = r.excludedFrom
    .filter((e) => e.kind === "secret")
    .map((e) => ({ secret: e.name, by: e.by }));
  for (const secret of [...grants.keys()]) {
    const exclude = fleet.model.secret.get(secret)?.spec.exclude;
    const by = exclude && excludedBy(exclude, r);
    if (by) {
      grants.delete(secret);
      if (!excluded.some((e) => e.secret === secret)) excluded.push({ secret, by });
    }
  }
  return {
    machine: r.name,
    grants: [...grants.entries()].map(([secret, chains]) => ({ secret, chains })),
    excluded,
  };
}

/** The call sites reachable from a class, with the classes included on the way. */
export function callSites(code: CodeIndex, cls: string): { site: CallSite; via: string[] }[] {
  const out: { site: CallSite; via: string[] }[] = [];
  const seen = new Set<string>();
  const walk = (name: string, via: string[]) => {
    if (seen.has(name)) return;
    seen.add(name);
    const c = code.classes.get(name);
    if (!c) return;
    for (const site of c.calls) out.push({ site, via });
    for (const inc of c.includes) walk(inc, [...via, inc]);
  };
  walk(cls, []);
  return out;
}

/**
 * The engine's exclusion rule, over a resolution: any key that matches excludes (servers,
 * labels, environment, region, groups).
 */
function excludedBy(sel: SelectorSpec, r: Resolution): Source | undefined {
  if (sel.servers?.includes(r.name)) return { kind: "server", name: r.name, reason: "explicitly excluded" };
  const reason = "excluded";
  const label = sel.labels?.find((l) => r.labels.includes(l));
  if (label) return { kind: "label", name: label, reason };
  if (r.environment && sel.environment?.includes(r.environment))
    return { kind: "environment", name: r.environment, reason };
  if (r.region && sel.region?.includes(r.region)) return { kind: "region", name: r.region, reason };
  const group = sel.groups?.find((g) => r.groups.some((x) => x.name === g));
  if (group) return { kind: "group", name: group, reason };
  return undefined;
}

export function isEntitled(policy: MachinePolicy | undefined, secret: string): boolean {
  return Boolean(policy?.grants.some((g) => g.secret === secret));
}

/** `label "mailserver" → puppet class "postfix" → lab::secret('mail/relay-credentials')`. */
export function chainText(chain: Link[], withSite = false): string {
  return chain
    .map((l) => {
      if (l.kind === "label") return `Label "${l.name}"`;
      if (l.kind === "class") return `puppet class "${l.name}"`;
      return `lab::secret('${l.secret}')${withSite ? ` (${l.file}:${l.line})` : ""}`;
    })
    .join(" → ");
}
