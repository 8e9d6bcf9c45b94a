/**
 * The targeting engine. One function, `Fleet.resolve`, computes everything a server gets and
 * why; every view (`show`, `targets`, counts, filters) reads its answers and never re-derives
 * them.
 *
 * Semantics: inside one selector key a list is any-of, different keys are all-of; an
 * `exclude:` removes a server if any of its keys matches; exclusion always wins.
 */
import { alertDefinition, classAlerts } from "./alert-defs.js";
import { portCheck } from "./conditions.js";
import type { Model } from "./model.js";
import type { GroupSpec, SelectorSpec, ServerSpec } from "./schema.js";

export type SourceKind = "label" | "group" | "server" | "environment" | "region" | "auto";

/** Why something applies: the label, group, server, environment, region or rule it came from. */
export interface Source {
  kind: SourceKind;
  name: string;
  reason?: string;
}

export interface Sourced {
  from: Source[];
}

export interface Exclusion {
  kind: "alert" | "group" | "secret";
  name: string;
  by: Source;
}

export interface Conflict {
  kind: "size";
  message: string;
  from: Source[];
}

/** Everything one server gets, each item with its provenance. The `-o json` contract. */
export interface Resolution {
  name: string;
  provider: string;
  environment: string | null;
  region: string | null;
  labels: string[];
  groups: ({ name: string } & Sourced)[];
  size: ({ name: string } & Sourced) | null;
  classes: ({ name: string } & Sourced)[];
  ports: ({ port: number } & Sourced)[];
  alerts: ({ name: string; severity: string } & Sourced)[];
  secrets: ({ name: string; access: "read" | "dynamic" } & Sourced)[];
  excludedFrom: Exclusion[];
  conflicts: Conflict[];
}

/** Alerts generated from a server's effective size. */
export const SIZE_ALERTS = ["cpu_threshold", "memory_threshold"] as const;

const DEFAULT_SEVERITY = "warning";

/** Selector keys in the order used to pick an index key (most selective first). */
const INDEX_KEYS = ["servers", "labels", "environment", "region", "groups"] as const;
type IndexKey = (typeof INDEX_KEYS)[number];

interface ServerFacts {
  name: string;
  spec: ServerSpec;
  labels: Set<string>;
}

/** Memoised group memberships of one server while it is being resolved. */
type GroupMemo = Map<string, GroupVerdict> & {
  /** Groups that can contain the server at all; any other is a quick "no". */
  reachable?: Set<string>;
};
type GroupVerdict = { member: true; from: Source[] } | { member: false; excludedBy?: Source };

/**
 * A compiled model. Building it indexes groups and alerts by the selector keys that can make
 * them apply, so resolving a server only checks the candidates its own labels, environment,
 * region, name and groups point at.
 */
export class Fleet {
  readonly model: Model;
  /** Index key (`labels:k8s-worker`, `*`, …) → groups whose direct membership it can grant. */
  private readonly groupIndex = new Map<string, string[]>();
  /** Group → groups that contain it (as a subgroup or through `match.groups`). */
  private readonly parents = new Map<string, string[]>();
  private readonly alertIndex = new Map<string, string[]>();
  /** Definition order of alerts and groups, so candidates are visited in that order. */
  private readonly alertOrder = new Map<string, number>();
  private readonly groupOrder = new Map<string, number>();
  private readonly severities = new Map<string, string>();
  private resolutions?: Map<string, Resolution>;

  constructor(model: Model) {
    this.model = model;
    for (const [name, { spec }] of model.group) {
      if (spec.match) this.index(this.groupIndex, spec.match, name);
      for (const s of spec.servers ?? []) push(this.groupIndex, `servers:${s}`, name);
      for (const sub of spec.groups ?? []) push(this.parents, sub, name);
      for (const g of spec.match?.groups ?? []) push(this.parents, g, name);
    }
    for (const [name, { spec }] of model.alert) {
      this.alertOrder.set(name, this.alertOrder.size);
      if (spec.target) this.index(this.alertIndex, spec.target, name);
    }
    for (const name of model.group.keys()) this.groupOrder.set(name, this.groupOrder.size);
  }

  /** Everything `name` gets, with provenance; undefined when there is no such server. */
  resolve(name: string): Resolution | undefined {
    const cached = this.resolutions?.get(name);
    if (cached) return cached;
    const server = this.model.server.get(name);
    return server
      ? this.compute({ name, spec: server.spec, labels: new Set(server.spec.labels) })
      : undefined;
  }

  /** Every server's resolution, in definition order; computed once per Fleet. */
  resolveAll(): Resolution[] {
    if (!this.resolutions) {
      const all = new Map<string, Resolution>();
      for (const [name, { spec }] of this.model.server) {
        all.set(name, this.compute({ name, spec, labels: new Set(spec.labels) }));
      }
      this.resolutions = all;
    }
    return [...this.resolutions.values()];
  }

  /** The size a server runs at: its own, else its labels' (the first label wins a conflict). */
  effectiveSize(spec: ServerSpec): string | null {
    if (spec.size) return spec.size;
    for (const l of spec.labels ?? []) {
      const size = this.model.label.get(l)?.spec.size;
      if (size) return size;
    }
    return null;
  }

  private compute(server: ServerFacts): Resolution {
    const { spec } = server;
    const memo: GroupMemo = new Map();
    const excludedFrom: Exclusion[] = [];

    const groups = this.groupsOf(server, memo, excludedFrom);
    const memberOf = (g: string) => this.groupVerdict(g, server, memo).member;

    const classes = new Collector<string>();
    const ports = new Collector<number>();
    const secrets = new Collector<string>();
    const alerts = new Collector<string>();
    for (const label of spec.labels ?? []) {
      const def = this.model.label.get(label)?.spec;
      if (!def) continue;
      const from: Source = { kind: "label", name: label };
      for (const c of def.puppet_classes ?? []) classes.add(c, from);
      for (const p of def.ports ?? []) ports.add(p, from);
      for (const s of def.secrets ?? []) secrets.add(s, from);
      for (const a of def.alerts ?? []) alerts.add(a, from);
    }

    const candidates = new Set<string>(this.alertIndex.get("*"));
    const lookup = (key: string) => {
      for (const a of this.alertIndex.get(key) ?? []) candidates.add(a);
    };
    lookup(`servers:${server.name}`);
    for (const l of server.labels) lookup(`labels:${l}`);
    if (spec.environment) lookup(`environment:${spec.environment}`);
    if (spec.region) lookup(`region:${spec.region}`);
    for (const g of groups) lookup(`groups:${g.name}`);
    // Only the candidates, in definition order (not every alert of the model per server).
    const order = (a: string, b: string) => (this.alertOrder.get(a) ?? 0) - (this.alertOrder.get(b) ?? 0);
    for (const name of [...candidates].sort(order)) {
      const target = this.model.alert.get(name)?.spec.target;
      const from = target && this.matchSelector(target, server, memberOf, "target");
      if (from) for (const s of from) alerts.add(name, s);
    }

    // Auto-generated alerts, each with the reason it was generated.
    const { size, conflicts } = this.sizeOf(server);
    if (size) {
      for (const a of SIZE_ALERTS)
        alerts.add(a, { kind: "auto", name: "size", reason: `from size: ${size.name}` });
    }
    for (const port of ports.keys()) {
      alerts.add(portCheck(port).name, { kind: "auto", name: "port", reason: `from port ${port}` });
    }
    for (const cls of classes.keys()) {
      for (const a of classAlerts(this.model, cls)) {
        alerts.add(a, { kind: "auto", name: "class", reason: `from class ${cls}` });
      }
    }
    // Over lab server's own /metrics (every enrolled machine's certificate). puppet_run_failed
    // is not generated: nothing collects Puppet run reports yet.
    alerts.add("cert_expiry", { kind: "auto", name: "identity", reason: "from identity" });

    // Exclusion always wins, however the alert or secret arrived.
    const applyExclusions = (kind: "alert" | "secret", items: Collector<string>) => {
      for (const name of items.keys()) {
        const exclude = this.model[kind].get(name)?.spec.exclude;
        const by = exclude && this.matchExclusion(exclude, server, memberOf);
        if (by) {
          items.delete(name);
          excludedFrom.push({ kind, name, by });
        }
      }
    };
    applyExclusions("alert", alerts);
    applyExclusions("secret", secrets);

    return {
      name: server.name,
      provider: spec.provider,
      environment: spec.environment ?? null,
      region: spec.region ?? null,
      labels: [...(spec.labels ?? [])],
      groups,
      size,
      classes: classes.entries().map(([name, from]) => ({ name, from })),
      ports: ports.entries().map(([port, from]) => ({ port, from })),
      alerts: alerts.entries().map(([name, from]) => ({
        name,
        severity: this.severityOf(name),
        from,
      })),
      secrets: secrets.entries().map(([name, from]) => ({
        name,
        access: this.model.secret.get(name)?.spec.type === "dynamic" ? "dynamic" : "read",
        from,
      })),
      excludedFrom,
      conflicts,
    };
  }

  private severityOf(alert: string): string {
    let severity = this.severities.get(alert);
    if (severity === undefined) {
      severity = alertDefinition(this.model, alert)?.severity ?? DEFAULT_SEVERITY;
      this.severities.set(alert, severity);
    }
    return severity;
  }

  private sizeOf(server: ServerFacts): { size: Resolution["size"]; conflicts: Conflict[] } {
    const { spec } = server;
    if (spec.size) {
      return {
        size: { name: spec.size, from: [{ kind: "server", name: server.name, reason: "explicit" }] },
        conflicts: [],
      };
    }
    const bySize = new Collector<string>();
    for (const l of spec.labels ?? []) {
      const size = this.model.label.get(l)?.spec.size;
      if (size) bySize.add(size, { kind: "label", name: l });
    }
    const sizes = bySize.entries();
    const first = sizes[0];
    if (!first) return { size: null, conflicts: [] };
    const conflicts: Conflict[] =
      sizes.length > 1
        ? [
            {
              kind: "size",
              message: `labels disagree on the size (${sizes
                .map(([s, from]) => `${from.map((f) => f.name).join(", ")}: ${s}`)
                .join("; ")}); using ${first[0]} from the first label`,
              from: sizes.flatMap(([, from]) => from),
            },
          ]
        : [];
    return { size: { name: first[0], from: first[1] }, conflicts };
  }

  /** The server's groups, in definition order, each with why it is a member. */
  private groupsOf(server: ServerFacts, memo: GroupMemo, excludedFrom: Exclusion[]): Resolution["groups"] {
    // Only groups reachable upwards from a direct candidate can contain the server.
    const reachable = new Set<string>(this.groupIndex.get("*"));
    const add = (key: string) => {
      for (const g of this.groupIndex.get(key) ?? []) reachable.add(g);
    };
    add(`servers:${server.name}`);
    for (const l of server.labels) add(`labels:${l}`);
    if (server.spec.environment) add(`environment:${server.spec.environment}`);
    if (server.spec.region) add(`region:${server.spec.region}`);
    for (const g of reachable) for (const p of this.parents.get(g) ?? []) reachable.add(p);

    memo.reachable = reachable;
    const out: Resolution["groups"] = [];
    const order = (a: string, b: string) => (this.groupOrder.get(a) ?? 0) - (this.groupOrder.get(b) ?? 0);
    for (const name of [...reachable].sort(order)) {
      const verdict = this.groupVerdict(name, server, memo);
      if (verdict.member) out.push({ name, from: verdict.from });
      else if (verdict.excludedBy) excludedFrom.push({ kind: "group", name, by: verdict.excludedBy });
    }
    return out;
  }

  private groupVerdict(name: string, server: ServerFacts, memo: GroupMemo): GroupVerdict {
    const known = memo.get(name);
    if (known) return known;
    if (memo.reachable && !memo.reachable.has(name)) return { member: false };
    memo.set(name, { member: false }); // a guard: cycles are rejected by validation
    const spec: GroupSpec | undefined = this.model.group.get(name)?.spec;
    if (!spec) return { member: false };
    const memberOf = (g: string) => this.groupVerdict(g, server, memo).member;
    const from: Source[] = [];
    if (spec.match) from.push(...(this.matchSelector(spec.match, server, memberOf, "match") ?? []));
    if (spec.servers?.includes(server.name)) {
      from.push({ kind: "server", name: server.name, reason: "explicit" });
    }
    for (const sub of spec.groups ?? []) {
      if (memberOf(sub)) from.push({ kind: "group", name: sub, reason: "via subgroup" });
    }
    let verdict: GroupVerdict = { member: false };
    if (from.length > 0) {
      const by = spec.exclude && this.matchExclusion(spec.exclude, server, memberOf);
      verdict = by ? { member: false, excludedBy: by } : { member: true, from };
    }
    memo.set(name, verdict);
    return verdict;
  }

  /**
   * All-of across keys, any-of inside one: the sources that made the selector match, or
   * undefined when it does not. An empty selector matches every server.
   */
  private matchSelector(
    sel: SelectorSpec,
    server: ServerFacts,
    memberOf: (group: string) => boolean,
    reason: string,
  ): Source[] | undefined {
    const from: Source[] = [];
    if (sel.servers) {
      if (!sel.servers.includes(server.name)) return undefined;
      from.push({ kind: "server", name: server.name, reason });
    }
    if (sel.labels) {
      const hit = sel.labels.filter((l) => server.labels.has(l));
      if (hit.length === 0) return undefined;
      for (const l of hit) from.push({ kind: "label", name: l, reason });
    }
    if (sel.environment) {
      const env = server.spec.environment;
      if (!env || !sel.environment.includes(env)) return undefined;
      from.push({ kind: "environment", name: env, reason });
    }
    if (sel.region) {
      const region = server.spec.region;
      if (!region || !sel.region.includes(region)) return undefined;
      from.push({ kind: "region", name: region, reason });
    }
    if (sel.groups) {
      const hit = sel.groups.filter(memberOf);
      if (hit.length === 0) return undefined;
      for (const g of hit) from.push({ kind: "group", name: g, reason });
    }
    if (from.length === 0) from.push({ kind: "server", name: server.name, reason: "all servers" });
    return from;
  }

  /** Any-of across keys: the first thing that excludes the server, or undefined. */
  private matchExclusion(
    sel: SelectorSpec,
    server: ServerFacts,
    memberOf: (group: string) => boolean,
  ): Source | undefined {
    const reason = "excluded";
    if (sel.servers?.includes(server.name)) {
      return { kind: "server", name: server.name, reason: "explicitly excluded" };
    }
    const label = sel.labels?.find((l) => server.labels.has(l));
    if (label) return { kind: "label", name: label, reason };
    const env = server.spec.environment;
    if (env && sel.environment?.includes(env)) return { kind: "environment", name: env, reason };
    const region = server.spec.region;
    if (region && sel.region?.includes(region)) return { kind: "region", name: region, reason };
    const group = sel.groups?.find(memberOf);
    if (group) return { kind: "group", name: group, reason };
    return undefined;
  }

  private index(index: Map<string, string[]>, sel: SelectorSpec, name: string): void {
    const key: IndexKey | undefined = INDEX_KEYS.find((k) => sel[k] !== undefined);
    if (!key) {
      push(index, "*", name);
      return;
    }
    for (const v of sel[key] ?? []) push(index, `${key}:${v}`, name);
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** Keeps first-seen order and merges the sources of items seen more than once. */
class Collector<T> {
  private readonly items = new Map<T, Source[]>();

  add(item: T, source: Source): void {
    const from = this.items.get(item);
    if (!from) this.items.set(item, [source]);
    else if (!from.some((s) => s.kind === source.kind && s.name === source.name)) from.push(source);
  }

  delete(item: T): void {
    this.items.delete(item);
  }

  keys(): T[] {
    return [...this.items.keys()];
  }

  entries(): [T, Source[]][] {
    return [...this.items.entries()];
  }
}
