/**
 * The targeting engine. One function, `Fleet.resolve`, computes everything a server gets and
 * why; every view (`show`, `targets`, counts, filters) reads its answers and never re-derives
 * them.
 *
 * Semantics: inside one selector key a list is any-of, different keys are all-of; an
 * `exclude:` removes a server if any of its keys matches; exclusion always wins.
 */
import { alertDefinition, classAlerts } from "./alert-defs.js";
import { Bitset } from "./bitset.js";
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

interface ServerFacts {
  id: number;
  name: string;
  spec: ServerSpec;
  labels: Set<string>;
}

/** Servers a group holds, and the ones its `exclude:` took out of it. */
interface GroupSet {
  name: string;
  spec: GroupSpec;
  members: Bitset;
  excluded: Bitset;
}

/** An alert or secret that a selector or a label can bring, and what its `exclude:` removes. */
interface TargetSet {
  name: string;
  /** Servers its `target:` selects (before exclusion); undefined when it has no target. */
  target?: Bitset;
  targetSpec?: SelectorSpec;
  /** Servers its `exclude:` matches; undefined when it has none. */
  exclude?: Bitset;
}

/**
 * A compiled model. Targeting is computed for the whole fleet at once, as sets of server ids:
 * each label's, environment's and region's servers, then every group's members (subgroups
 * first), every alert's target and every exclusion, with set operations. Resolving one server
 * reads its memberships off those sets and builds the provenance for what it is a member of;
 * the reverse views ("which servers get X") read the sets and never resolve the whole fleet.
 */
export class Fleet {
  readonly model: Model;
  /** Server names in definition order: a server's id is its index. */
  readonly servers: string[];
  private readonly ids = new Map<string, number>();
  private sets?: FleetSets;
  private readonly severities = new Map<string, string>();
  private resolutions?: Resolution[];

  constructor(model: Model) {
    this.model = model;
    this.servers = [...model.server.keys()];
    this.servers.forEach((name, i) => {
      this.ids.set(name, i);
    });
  }

  /** The server's id (its index in definition order), or undefined when there is none. */
  idOf(name: string): number | undefined {
    return this.ids.get(name);
  }

  /** Everything `name` gets, with provenance; undefined when there is no such server. */
  resolve(name: string): Resolution | undefined {
    const id = this.ids.get(name);
    if (id === undefined) return undefined;
    return this.resolutions?.[id] ?? this.compute(this.facts(id));
  }

  /** Every server's resolution, in definition order; computed once per Fleet. */
  resolveAll(): Resolution[] {
    if (!this.resolutions) {
      // Read every targeted alert's servers off its set once, instead of a bit test per pair.
      const here: number[][] = this.servers.map(() => []);
      this.computeSets().targeted.forEach((a, i) => {
        for (const id of a.target?.ids() ?? []) (here[id] as number[]).push(i);
      });
      this.resolutions = this.servers.map((_, id) => this.compute(this.facts(id), here[id]));
    }
    return this.resolutions;
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

  // ---------------------------------------------------------------------------------------
  // Sets: who gets what, for the whole fleet.

  /** Every server. */
  allServers(): Bitset {
    return Bitset.all(this.servers.length);
  }

  /** Servers in this environment (empty for an unknown one). */
  environmentServers(environment: string): Bitset {
    return (this.computeSets().byEnvironment.get(environment) ?? this.empty()).clone();
  }

  /** Servers in this region (empty for an unknown one). */
  regionServers(region: string): Bitset {
    return (this.computeSets().byRegion.get(region) ?? this.empty()).clone();
  }

  /** Servers with this label (empty for an unknown label). */
  labelServers(label: string): Bitset {
    return (this.computeSets().byLabel.get(label) ?? this.empty()).clone();
  }

  /** A group's members, and the servers its exclusion removed; undefined for an unknown group. */
  groupSet(name: string): { members: Bitset; excluded: Bitset } | undefined {
    const g = this.computeSets().groups.get(name);
    return g && { members: g.members.clone(), excluded: g.excluded.clone() };
  }

  /**
   * The servers whose resolution lists this alert, and those an `exclude:` took it from. Every
   * way an alert arrives is a set: its target, the labels that attach it, the labels whose
   * ports, classes or size generate it, and identity (every server).
   */
  alertSet(name: string): { members: Bitset; excluded: Bitset } {
    const sets = this.computeSets();
    const reach = this.empty();
    const target = sets.alerts.get(name)?.target;
    if (target) reach.or(target);
    for (const label of sets.labelsBringingAlert.get(name) ?? [])
      reach.or(sets.byLabel.get(label) ?? this.empty());
    if ((SIZE_ALERTS as readonly string[]).includes(name)) reach.or(sets.sized);
    if (name === IDENTITY_ALERT) reach.or(sets.all);
    if (name === PUPPET_ALERT) reach.or(sets.classified);
    return this.excluding(reach, sets.alerts.get(name)?.exclude);
  }

  /** The servers whose resolution lists this secret, and those an `exclude:` took it from. */
  secretSet(name: string): { members: Bitset; excluded: Bitset } {
    const sets = this.computeSets();
    const reach = this.empty();
    for (const label of sets.labelsBringingSecret.get(name) ?? [])
      reach.or(sets.byLabel.get(label) ?? this.empty());
    return this.excluding(reach, sets.secrets.get(name)?.exclude);
  }

  /** Servers whose labels apply this Puppet class. */
  classServers(cls: string): Bitset {
    const sets = this.computeSets();
    const out = this.empty();
    for (const [label, { spec }] of this.model.label) {
      if (spec.puppet_classes?.includes(cls)) out.or(sets.byLabel.get(label) ?? this.empty());
    }
    return out;
  }

  /** Why a member of `group` is in it (the same sources its resolution lists). */
  groupProvenance(group: string, server: string): Source[] | undefined {
    const id = this.ids.get(server);
    const g = this.computeSets().groups.get(group);
    if (id === undefined || !g?.members.has(id)) return undefined;
    return this.groupFrom(g, this.facts(id));
  }

  /** What excluded `server` from a group, alert or secret, or undefined when nothing did. */
  exclusionOf(kind: Exclusion["kind"], name: string, server: string): Source | undefined {
    const id = this.ids.get(server);
    if (id === undefined) return undefined;
    const sel =
      kind === "group" ? this.model.group.get(name)?.spec.exclude : this.model[kind].get(name)?.spec.exclude;
    return sel && this.matchExclusion(sel, this.facts(id), this.memberOf(id));
  }

  /** Size disagreements between labels, per server, without resolving anything else. */
  sizeConflicts(): { server: string; conflict: Conflict }[] {
    const out: { server: string; conflict: Conflict }[] = [];
    this.servers.forEach((name, id) => {
      for (const conflict of this.sizeOf(this.facts(id)).conflicts) out.push({ server: name, conflict });
    });
    return out;
  }

  private empty(): Bitset {
    return new Bitset(this.servers.length);
  }

  private excluding(reach: Bitset, exclude: Bitset | undefined): { members: Bitset; excluded: Bitset } {
    if (!exclude) return { members: reach, excluded: this.empty() };
    return { members: reach.clone().andNot(exclude), excluded: reach.and(exclude) };
  }

  private facts(id: number): ServerFacts {
    const name = this.servers[id] as string;
    const spec = (this.model.server.get(name) as { spec: ServerSpec }).spec;
    return { id, name, spec, labels: new Set(spec.labels) };
  }

  private memberOf(id: number): (group: string) => boolean {
    const groups = this.computeSets().groups;
    return (g) => groups.get(g)?.members.has(id) ?? false;
  }

  private computeSets(): FleetSets {
    if (!this.sets) this.sets = new FleetSets(this.model, this.servers);
    return this.sets;
  }

  // ---------------------------------------------------------------------------------------
  // One server's resolution, read off the sets.

  /**
   * `targetedHere`: indices into the targeted alerts that select this server, when the caller
   * has read them off the sets for many servers at once; otherwise each is a bit test.
   */
  private compute(server: ServerFacts, targetedHere?: number[]): Resolution {
    const { spec, id } = server;
    const sets = this.computeSets();
    const src = sets.sources;
    const memberOf = this.memberOf(id);
    const excludedFrom: Exclusion[] = [];

    const groups: Resolution["groups"] = [];
    for (const g of sets.groups.values()) {
      if (g.members.has(id)) groups.push({ name: g.name, from: this.groupFrom(g, server) });
      else if (g.excluded.has(id)) {
        const by = g.spec.exclude && this.matchExclusion(g.spec.exclude, server, memberOf);
        if (by) excludedFrom.push({ kind: "group", name: g.name, by });
      }
    }

    const classes = new Collector<string>();
    const ports = new Collector<number>();
    const secrets = new Collector<string>();
    const alerts = new Collector<string>();
    for (const label of spec.labels ?? []) {
      const def = this.model.label.get(label)?.spec;
      if (!def) continue;
      const from = src.get("label", label);
      for (const c of def.puppet_classes ?? []) classes.add(c, from);
      for (const p of def.ports ?? []) ports.add(p, from);
      for (const s of def.secrets ?? []) secrets.add(s, from);
      for (const a of def.alerts ?? []) alerts.add(a, from);
    }

    // Targeted alerts in definition order; provenance only where one applies.
    const targeted = sets.targeted;
    const addTargeted = (a: TargetSet) => {
      const from = a.targetSpec && this.matchSelector(a.targetSpec, server, memberOf, "target");
      if (from) for (const s of from) alerts.add(a.name, s);
    };
    if (targetedHere) for (const i of targetedHere) addTargeted(targeted[i] as TargetSet);
    else for (const a of targeted) if (a.target?.has(id)) addTargeted(a);

    // Auto-generated alerts, each with the reason it was generated.
    const { size, conflicts } = this.sizeOf(server);
    if (size) {
      const from = src.get("auto", "size", `from size: ${size.name}`);
      for (const a of SIZE_ALERTS) alerts.add(a, from);
    }
    for (const port of ports.keys()) {
      alerts.add(portCheck(port).name, src.get("auto", "port", `from port ${port}`));
    }
    for (const cls of classes.keys()) {
      const from = src.get("auto", "class", `from class ${cls}`);
      for (const a of classAlerts(this.model, cls)) alerts.add(a, from);
    }
    // Over lab server's own /metrics: every enrolled machine's certificate, and the Puppet run
    // reports of every server Lab classifies (one with Puppet classes is expected to run Puppet).
    alerts.add(IDENTITY_ALERT, src.get("auto", "identity", "from identity"));
    if (classes.size > 0) alerts.add(PUPPET_ALERT, src.get("auto", "puppet", "from puppet classes"));

    // Exclusion always wins, however the alert or secret arrived.
    const applyExclusions = (
      kind: "alert" | "secret",
      items: Collector<string>,
      excludes: Map<string, TargetSet>,
    ) => {
      for (const name of items.keys()) {
        if (!excludes.get(name)?.exclude?.has(id)) continue;
        const exclude = this.model[kind].get(name)?.spec.exclude;
        const by = exclude && this.matchExclusion(exclude, server, memberOf);
        if (by) {
          items.delete(name);
          excludedFrom.push({ kind, name, by });
        }
      }
    };
    applyExclusions("alert", alerts, sets.alerts);
    applyExclusions("secret", secrets, sets.secrets);

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
    const src = this.computeSets().sources;
    if (spec.size) {
      return {
        size: { name: spec.size, from: listOf([src.get("server", server.name, "explicit")]) },
        conflicts: [],
      };
    }
    const bySize = new Collector<string>();
    for (const l of spec.labels ?? []) {
      const size = this.model.label.get(l)?.spec.size;
      if (size) bySize.add(size, src.get("label", l));
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

  /** Why a member is in a group: its match, an explicit listing, its subgroups. */
  private groupFrom(g: GroupSet, server: ServerFacts): Source[] {
    const src = this.computeSets().sources;
    const memberOf = this.memberOf(server.id);
    const from: Interned[] = g.spec.match
      ? (this.matchSelector(g.spec.match, server, memberOf, "match") ?? [])
      : [];
    if (g.spec.servers?.includes(server.name)) from.push(src.get("server", server.name, "explicit"));
    for (const sub of g.spec.groups ?? []) {
      if (memberOf(sub)) from.push(src.get("group", sub, "via subgroup"));
    }
    return listOf(from);
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
  ): Interned[] | undefined {
    const src = this.computeSets().sources;
    const from: Interned[] = [];
    if (sel.servers) {
      if (!sel.servers.includes(server.name)) return undefined;
      from.push(src.get("server", server.name, reason));
    }
    if (sel.labels) {
      const before = from.length;
      for (const l of sel.labels) if (server.labels.has(l)) from.push(src.get("label", l, reason));
      if (from.length === before) return undefined;
    }
    if (sel.environment) {
      const env = server.spec.environment;
      if (!env || !sel.environment.includes(env)) return undefined;
      from.push(src.get("environment", env, reason));
    }
    if (sel.region) {
      const region = server.spec.region;
      if (!region || !sel.region.includes(region)) return undefined;
      from.push(src.get("region", region, reason));
    }
    if (sel.groups) {
      const before = from.length;
      for (const g of sel.groups) if (memberOf(g)) from.push(src.get("group", g, reason));
      if (from.length === before) return undefined;
    }
    if (from.length === 0) from.push(src.get("server", server.name, "all servers"));
    return from;
  }

  /** Any-of across keys: the first thing that excludes the server, or undefined. */
  private matchExclusion(
    sel: SelectorSpec,
    server: ServerFacts,
    memberOf: (group: string) => boolean,
  ): Source | undefined {
    const src = this.computeSets().sources;
    const reason = "excluded";
    if (sel.servers?.includes(server.name))
      return src.get("server", server.name, "explicitly excluded").source;
    const label = sel.labels?.find((l) => server.labels.has(l));
    if (label) return src.get("label", label, reason).source;
    const env = server.spec.environment;
    if (env && sel.environment?.includes(env)) return src.get("environment", env, reason).source;
    const region = server.spec.region;
    if (region && sel.region?.includes(region)) return src.get("region", region, reason).source;
    const group = sel.groups?.find(memberOf);
    if (group) return src.get("group", group, reason).source;
    return undefined;
  }
}

/** A list of sources: the shared one-element list when there is one. */
function listOf(from: Interned[]): Source[] {
  return (from.length === 1 ? (from[0] as Interned).alone : from.map((f) => f.source)) as Source[];
}

/** The alert every server gets: its enrolled certificate's expiry. */
const IDENTITY_ALERT = "cert_expiry";
/** The alert every server with Puppet classes gets: its last Puppet run failed. */
const PUPPET_ALERT = "puppet_run_failed";

/**
 * The whole fleet's targeting as sets, computed once per Fleet with set operations (each one a
 * pass over N/32 words): servers by label, environment and region; every group's members, in
 * dependency order; every alert's target; every exclusion.
 */
class FleetSets {
  readonly all: Bitset;
  readonly byLabel = new Map<string, Bitset>();
  readonly byEnvironment = new Map<string, Bitset>();
  readonly byRegion = new Map<string, Bitset>();
  private readonly ids = new Map<string, number>();
  /** Servers with an explicit size or a label that gives one (they get the size alerts). */
  readonly sized: Bitset;
  /** Servers with a label that brings Puppet classes (they get `puppet_run_failed`). */
  readonly classified: Bitset;
  /** Groups in definition order. */
  readonly groups = new Map<string, GroupSet>();
  readonly alerts = new Map<string, TargetSet>();
  /** Alerts with a `target:`, in definition order. */
  readonly targeted: TargetSet[] = [];
  readonly secrets = new Map<string, TargetSet>();
  /** Alert → labels that bring it (attached by name, or generated from their ports or classes). */
  readonly labelsBringingAlert = new Map<string, string[]>();
  readonly labelsBringingSecret = new Map<string, string[]>();
  readonly sources = new Sources();

  constructor(model: Model, servers: string[]) {
    const size = servers.length;
    this.all = Bitset.all(size);
    this.sized = new Bitset(size);
    this.classified = new Bitset(size);
    const bit = (map: Map<string, Bitset>, key: string, id: number) => {
      const b = map.get(key) ?? new Bitset(size);
      map.set(key, b);
      b.add(id);
    };
    servers.forEach((name, id) => {
      this.ids.set(name, id);
      const spec = (model.server.get(name) as { spec: ServerSpec }).spec;
      for (const l of spec.labels ?? []) bit(this.byLabel, l, id);
      if (spec.environment) bit(this.byEnvironment, spec.environment, id);
      if (spec.region) bit(this.byRegion, spec.region, id);
      if (spec.size || spec.labels?.some((l) => model.label.get(l)?.spec.size)) this.sized.add(id);
      if (spec.labels?.some((l) => model.label.get(l)?.spec.puppet_classes?.length)) this.classified.add(id);
    });

    // Placeholders first, so a group can refer to one defined after it.
    const pending = new Set<string>();
    const done = new Map<string, GroupSet>();
    const groupSet = (name: string): GroupSet | undefined => {
      const known = done.get(name);
      if (known) return known;
      const spec = model.group.get(name)?.spec;
      if (!spec || pending.has(name)) return undefined; // a cycle (validation rejects them)
      pending.add(name);
      const direct = spec.match ? this.matchSet(spec.match, groupSet) : new Bitset(size);
      for (const s of spec.servers ?? []) {
        const id = this.ids.get(s);
        if (id !== undefined) direct.add(id);
      }
      for (const sub of spec.groups ?? []) {
        const members = groupSet(sub)?.members;
        if (members) direct.or(members);
      }
      const exclude = spec.exclude && this.exclusionSet(spec.exclude, groupSet);
      const g: GroupSet = exclude
        ? { name, spec, members: direct.clone().andNot(exclude), excluded: direct.and(exclude) }
        : { name, spec, members: direct, excluded: new Bitset(size) };
      pending.delete(name);
      done.set(name, g);
      return g;
    };
    for (const name of model.group.keys()) groupSet(name);
    // In definition order (the recursion above finished them in dependency order).
    for (const name of model.group.keys()) {
      const g = done.get(name);
      if (g) this.groups.set(name, g);
    }
    const members = (name: string) => this.groups.get(name);

    for (const [name, { spec }] of model.alert) {
      const a: TargetSet = {
        name,
        targetSpec: spec.target,
        target: spec.target && this.matchSet(spec.target, members),
        exclude: spec.exclude && this.exclusionSet(spec.exclude, members),
      };
      this.alerts.set(name, a);
      if (a.target) this.targeted.push(a);
    }
    for (const [name, { spec }] of model.secret) {
      if (spec.exclude) this.secrets.set(name, { name, exclude: this.exclusionSet(spec.exclude, members) });
    }
    for (const [label, { spec }] of model.label) {
      const brings = new Set<string>(spec.alerts);
      for (const p of spec.ports ?? []) brings.add(portCheck(p).name);
      for (const c of spec.puppet_classes ?? []) for (const a of classAlerts(model, c)) brings.add(a);
      for (const a of brings) push(this.labelsBringingAlert, a, label);
      for (const s of new Set(spec.secrets)) push(this.labelsBringingSecret, s, label);
    }
  }

  /** All-of across keys, any-of inside one; an empty selector is every server. */
  private matchSet(sel: SelectorSpec, group: (name: string) => GroupSet | undefined): Bitset {
    let acc: Bitset | undefined;
    const narrow = (any: Bitset) => {
      acc = acc ? acc.and(any) : any;
    };
    if (sel.servers) narrow(this.named(sel.servers));
    if (sel.labels) narrow(this.union(sel.labels, this.byLabel));
    if (sel.environment) narrow(this.union(sel.environment, this.byEnvironment));
    if (sel.region) narrow(this.union(sel.region, this.byRegion));
    if (sel.groups) narrow(this.unionGroups(sel.groups, group));
    return acc ?? this.all.clone();
  }

  /** Any-of across keys: every server something in the selector matches. */
  private exclusionSet(sel: SelectorSpec, group: (name: string) => GroupSet | undefined): Bitset {
    const out = new Bitset(this.all.size);
    if (sel.servers) out.or(this.named(sel.servers));
    if (sel.labels) out.or(this.union(sel.labels, this.byLabel));
    if (sel.environment) out.or(this.union(sel.environment, this.byEnvironment));
    if (sel.region) out.or(this.union(sel.region, this.byRegion));
    if (sel.groups) out.or(this.unionGroups(sel.groups, group));
    return out;
  }

  private named(names: string[]): Bitset {
    const out = new Bitset(this.all.size);
    for (const n of names) {
      const id = this.ids.get(n);
      if (id !== undefined) out.add(id);
    }
    return out;
  }

  private union(keys: string[], index: Map<string, Bitset>): Bitset {
    const out = new Bitset(this.all.size);
    for (const k of keys) {
      const b = index.get(k);
      if (b) out.or(b);
    }
    return out;
  }

  private unionGroups(names: string[], group: (name: string) => GroupSet | undefined): Bitset {
    const out = new Bitset(this.all.size);
    for (const n of names) {
      const g = group(n);
      if (g) out.or(g.members);
    }
    return out;
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/**
 * Keeps first-seen order and merges the sources of items seen more than once. Most items have
 * one source: they share that source's interned one-element list, copied when a second source
 * arrives (so a shared list is never changed).
 */
class Collector<T> {
  private readonly items = new Map<T, readonly Source[]>();

  add(item: T, { source, alone }: Interned): void {
    const from = this.items.get(item);
    if (!from) this.items.set(item, alone);
    else if (!from.some((s) => s.kind === source.kind && s.name === source.name)) {
      this.items.set(item, [...from, source]);
    }
  }

  delete(item: T): void {
    this.items.delete(item);
  }

  keys(): T[] {
    return [...this.items.keys()];
  }

  get size(): number {
    return this.items.size;
  }

  entries(): [T, Source[]][] {
    return [...this.items.entries()] as [T, Source[]][];
  }
}

/** A source shared by every resolution that cites it, with its one-element list. */
interface Interned {
  readonly source: Source;
  readonly alone: readonly Source[];
}

/**
 * One frozen Source per (kind, name, reason), so resolving 10,000 servers does not allocate
 * the same "from label web" a hundred thousand times.
 */
class Sources {
  /** kind → reason → name (nested, so a lookup builds no key string). */
  private readonly known = new Map<SourceKind, Map<string, Map<string, Interned>>>();

  get(kind: SourceKind, name: string, reason?: string): Interned {
    const byReason = this.known.get(kind) ?? new Map<string, Map<string, Interned>>();
    if (byReason.size === 0) this.known.set(kind, byReason);
    const byName = byReason.get(reason ?? "") ?? new Map<string, Interned>();
    if (byName.size === 0) byReason.set(reason ?? "", byName);
    let s = byName.get(name);
    if (!s) {
      const source: Source = Object.freeze(reason === undefined ? { kind, name } : { kind, name, reason });
      s = { source, alone: Object.freeze([source]) };
      byName.set(name, s);
    }
    return s;
  }
}
