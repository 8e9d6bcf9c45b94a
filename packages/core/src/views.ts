/**
 * Read-side views over the engine's resolutions: lists for `lab get`, details for `lab show`.
 * Every membership, count and exclusion here is read from `Fleet.resolve*`; nothing re-derives
 * targeting.
 */

import { alertDefinition, backendFor, classAlerts } from "./alert-defs.js";
import { Bitset } from "./bitset.js";
import { CLASS_ALERTS, portCheck } from "./conditions.js";
import { type Exclusion, type Fleet, type Resolution, SIZE_ALERTS, type Source } from "./engine.js";
import { notFound } from "./errors.js";
import { imageCatalogue } from "./images.js";
import { type LayoutRow, layoutRows } from "./layout.js";
import { placeAlert, renderedPath } from "./placement.js";
import { type PriceRow, priceRows, priceTables } from "./prices.js";
import type { ClusterSpec, Kind, LabelRuleSpec, LabSpec, SelectorSpec, ServerSpec } from "./schema.js";

/** Server filters shared by every `get`: any-of inside a flag, all-of across flags. */
export interface ServerFilter {
  labels?: string[];
  groups?: string[];
  environments?: string[];
  regions?: string[];
  exclude?: string[];
}

/**
 * Status pillars. Each is observed by a source (a provider, Puppet reports, monitoring, the
 * enrolled agent); until one reports it is "none" and shown as "—", with the reason.
 */
export interface Pillars {
  sync: PillarState;
  puppet: PillarState;
  health: PillarState;
  identity: PillarState;
}
export interface PillarState {
  /** "unknown": a source answered and could not tell; "none": no source has said anything. */
  state: "ok" | "warning" | "failed" | "pending" | "unknown" | "none";
  text: string;
  /** Why nothing is observed (state "none"), for `describe`. */
  reason?: string;
}

const none = (reason: string): PillarState => ({ state: "none", text: "—", reason });
export const NO_HEALTH_REPORT = none("no health source has reported on this server");
export const NO_PUPPET_REPORT = none("no Puppet run report received yet");

/** What every pillar says before any source has reported on the server. */
export function unobservedPillars(provider: string, server = "NAME"): Pillars {
  return {
    sync: none(`never compared with provider "${provider}": \`lab diff server ${server}\` compares it`),
    puppet: NO_PUPPET_REPORT,
    health: NO_HEALTH_REPORT,
    identity: none("no agent has enrolled as this server"),
  };
}

export interface ServerRow {
  name: string;
  provider: string;
  labels: string[];
  environment: string | null;
  region: string | null;
  size: string | null;
  host: string | null;
  mac: string | null;
  groups: string[];
  status: Pillars;
}

export interface LabelRow {
  name: string;
  classes: string[];
  ports: number[];
  size: string | null;
  alerts: string[];
  secrets: string[];
  servers: number;
}

export interface GroupRow {
  name: string;
  servers: number;
  excluded: number;
  subgroups: string[];
  match: SelectorSpec | null;
}

export interface AlertRow {
  name: string;
  severity: string;
  kind: "user" | "label" | "auto";
  condition: string | null;
  /** The monitoring backend that renders it; null when it has no usable condition. */
  backend: "prometheus" | "naemon" | null;
  target: string;
  servers: number;
  excluded: number;
}

export interface SecretRow {
  name: string;
  type: string;
  labels: string[];
  servers: number;
  rotateEvery: string | null;
  setBy: string | null;
}

export interface ImageRow {
  name: string;
  format: string;
  arch: string;
  source: "builtin" | "model";
  /** Where the kernel comes from: a URL, or a file Lab serves itself. */
  kernel: string;
  servers: number;
}

export interface LabRow {
  name: string;
  machines: string[];
  steps: number;
  description: string | null;
  spec: LabSpec;
}

/** A cluster node: a Lab server, its role, and which part of the cluster's spec put it there. */
export interface ClusterNode {
  name: string;
  /** "server": control plane (listed by name); "agent": a worker (by name under `agents:`, or matched by `members:`). */
  role: "server" | "agent";
  from: string;
}

export interface ClusterRow {
  name: string;
  type: ClusterSpec["type"];
  apiServer: string | null;
  namespace: string;
  nodes: ClusterNode[];
  kubeconfigSecret: string | null;
  description: string | null;
  spec: ClusterSpec;
}

export interface LabelRuleRow {
  label: string;
  /** The conditions as written, shown as `key=value …`. */
  when: string;
  reason: string | null;
  spec: LabelRuleSpec;
}

export interface SizeRow {
  name: string;
  cores: number | null;
  memory: string | null;
  disk: string | null;
  providers: string[];
  servers: number;
}

export interface ClassRow {
  name: string;
  alerts: string[];
  /** "model" when `classes:` defines it, "built-in" for Lab's own table. */
  source: "model" | "built-in";
  servers: number;
}

export interface ServerRef {
  name: string;
  provider: string;
  environment: string | null;
  from: Source[];
}

export interface ExcludedServer {
  name: string;
  by: Source;
}

export interface LabelView {
  name: string;
  description: string | null;
  servers: ServerRef[];
  provides: {
    classes: string[];
    alerts: string[];
    secrets: string[];
    ports: number[];
    size: string | null;
  };
}

export interface GroupView {
  name: string;
  description: string | null;
  match: SelectorSpec | null;
  explicit: string[];
  exclude: SelectorSpec | null;
  subgroups: { name: string; servers: number }[];
  servers: ServerRef[];
  excluded: ExcludedServer[];
  alerts: { name: string; severity: string }[];
}

/** What monitoring last said about one alert on one server. */
export interface AlertCurrent {
  state: "firing" | "pending" | "ok";
  value?: number;
  source: string;
}

export interface AlertView {
  name: string;
  kind: "user" | "label" | "auto";
  severity: string;
  condition: string | null;
  backend: "prometheus" | "naemon" | null;
  for: string | null;
  description: string | null;
  target: SelectorSpec | null;
  exclude: SelectorSpec | null;
  servers: (ServerRef & { current?: AlertCurrent })[];
  excluded: ExcludedServer[];
  /** Where rendering puts it: backend, file, how many servers. */
  renderedTo: { backend: "prometheus" | "naemon"; path: string; servers: number }[];
  /** The latest `lab render` per backend, from the audit log. */
  lastRendered: { backend: string; summary: string; time: string }[];
}

export interface SecretView {
  name: string;
  type: string | null;
  generator: string | null;
  rotateEvery: string | null;
  perMachine: boolean;
  setBy: string | null;
  defined: boolean;
  labels: string[];
  servers: ServerRef[];
  excluded: ExcludedServer[];
}

export class FleetViews {
  private attached?: Set<string>;

  constructor(readonly fleet: Fleet) {}

  private get model() {
    return this.fleet.model;
  }

  /** Servers passing the filter, in definition order, with their resolutions. */
  select(filter: ServerFilter = {}): Resolution[] {
    return this.chosen(filter)
      .ids()
      .map((id) => this.resolutionOf(id));
  }

  /** Server rows; groups are read off the group sets, so no server is resolved. */
  serverRows(filter: ServerFilter = {}, withGroups = false): ServerRow[] {
    const ids = this.chosen(filter).ids();
    const groupsOf = withGroups ? this.groupsByServer() : undefined;
    return ids.map((id) => {
      const name = this.fleet.servers[id] as string;
      const spec = this.specOf(id);
      return {
        name,
        provider: spec.provider,
        labels: spec.labels ?? [],
        environment: spec.environment ?? null,
        region: spec.region ?? null,
        size: this.fleet.effectiveSize(spec),
        host: spec.host ?? null,
        mac: spec.mac ?? null,
        groups: groupsOf?.[id] ?? [],
        status: unobservedPillars(spec.provider, name),
      };
    });
  }

  /** Each server's groups in definition order, from the groups' member sets. */
  private groupsByServer(): string[][] {
    const out: string[][] = this.fleet.servers.map(() => []);
    for (const name of this.model.group.keys()) {
      for (const id of this.fleet.groupSet(name)?.members.ids() ?? []) (out[id] as string[]).push(name);
    }
    return out;
  }

  /** The servers a filter selects: any-of inside a flag, all-of across flags. */
  private chosen(filter: ServerFilter): Bitset {
    const set = this.fleet.allServers();
    const anyOf = (values: string[] | undefined, of: (v: string) => Bitset) => {
      if (!values?.length) return;
      const any = of(values[0] as string);
      for (const v of values.slice(1)) any.or(of(v));
      set.and(any);
    };
    anyOf(filter.labels, (l) => this.fleet.labelServers(l));
    anyOf(filter.environments, (e) => this.fleet.environmentServers(e));
    anyOf(filter.regions, (r) => this.fleet.regionServers(r));
    anyOf(filter.groups, (g) => this.fleet.groupSet(g)?.members ?? new Bitset(set.size));
    for (const name of filter.exclude ?? []) {
      const id = this.fleet.idOf(name);
      if (id !== undefined) set.delete(id);
    }
    return set;
  }

  /** How many chosen servers are in `set`. */
  private countIn(chosen: Bitset, set: Bitset): number {
    return set.and(chosen).count();
  }

  labelRows(filter: ServerFilter = {}): LabelRow[] {
    const chosen = this.chosen(filter);
    const filtered = isFiltered(filter);
    return [...this.model.label.values()]
      .map(({ name, spec }) => ({
        name,
        classes: spec.puppet_classes ?? [],
        ports: spec.ports ?? [],
        size: spec.size ?? null,
        alerts: spec.alerts ?? [],
        secrets: spec.secrets ?? [],
        servers: this.countIn(chosen, this.fleet.labelServers(name)),
      }))
      .filter((row) => !filtered || row.servers > 0);
  }

  groupRows(filter: ServerFilter = {}): GroupRow[] {
    const chosen = this.chosen(filter);
    const filtered = isFiltered(filter);
    return [...this.model.group.values()]
      .map(({ name, spec }) => {
        const set = this.fleet.groupSet(name);
        return {
          name,
          servers: set ? this.countIn(chosen, set.members) : 0,
          excluded: set ? this.countIn(chosen, set.excluded) : 0,
          subgroups: spec.groups ?? [],
          match: spec.match ?? null,
        };
      })
      .filter((row) => !filtered || row.servers > 0);
  }

  alertRows(filter: ServerFilter = {}): AlertRow[] {
    const chosen = this.chosen(filter);
    const filtered = isFiltered(filter);
    return this.alertNames()
      .map((name) => {
        const v = this.alertBasics(name);
        const set = this.fleet.alertSet(name);
        return {
          name,
          severity: v.severity,
          kind: v.kind,
          condition: v.condition,
          backend: v.backend,
          target: v.targetText,
          servers: this.countIn(chosen, set.members),
          excluded: this.countIn(chosen, set.excluded),
        };
      })
      .filter((row) => row.servers > 0 || (!filtered && !this.autoOnly(row.name)));
  }

  secretRows(filter: ServerFilter = {}): SecretRow[] {
    const chosen = this.chosen(filter);
    const filtered = isFiltered(filter);
    return this.secretNames()
      .map((name) => {
        const spec = this.model.secret.get(name)?.spec;
        return {
          name,
          type: spec?.type ?? "undefined",
          labels: this.labelsUsingSecret(name),
          servers: this.countIn(chosen, this.fleet.secretSet(name).members),
          rotateEvery: spec?.rotate_every ?? null,
          setBy: spec?.set_by ?? null,
        };
      })
      .filter((row) => !filtered || row.servers > 0);
  }

  classRows(filter: ServerFilter = {}): ClassRow[] {
    const chosen = this.chosen(filter);
    const filtered = isFiltered(filter);
    const used: string[] = [];
    for (const l of this.model.label.values()) used.push(...(l.spec.puppet_classes ?? []));
    const names = new Set([...this.model.class.keys(), ...Object.keys(CLASS_ALERTS), ...used]);
    return [...names]
      .map((name) => ({
        name,
        alerts: this.model.class.get(name)?.spec.alerts ?? CLASS_ALERTS[name] ?? [],
        source: this.model.class.has(name) ? ("model" as const) : ("built-in" as const),
        servers: this.countIn(chosen, this.fleet.classServers(name)),
      }))
      .filter((row) => !filtered || row.servers > 0);
  }

  imageRows(filter: ServerFilter = {}): ImageRow[] {
    const uses = new Map<string, number>();
    for (const id of this.chosen(filter).ids()) {
      const image = this.model.server.get(this.fleet.servers[id] as string)?.spec.image;
      if (image) uses.set(image, (uses.get(image) ?? 0) + 1);
    }
    const filtered = isFiltered(filter);
    return [...imageCatalogue(this.model).values()]
      .filter((i) => !filtered || uses.has(i.name))
      .map(({ name, spec, source }) => ({
        name,
        format: spec.format,
        arch: spec.arch ?? "x86_64",
        source,
        kernel: spec.kernel,
        servers: uses.get(name) ?? 0,
      }));
  }

  layoutRows(): LayoutRow[] {
    return layoutRows(this.model);
  }

  labRows(): LabRow[] {
    return [...this.model.lab.values()].map(({ name, spec }) => ({
      name,
      machines: spec.machines,
      steps: spec.steps.length,
      description: spec.description ?? null,
      spec,
    }));
  }

  /** Every cluster with its nodes resolved; a server listed by name and matched is a "server". */
  clusterRows(): ClusterRow[] {
    return [...this.model.cluster.values()].map(({ name, spec }) => {
      const nodes: ClusterNode[] = (spec.servers ?? []).map((s) => ({
        name: s,
        role: "server",
        from: "servers:",
      }));
      const listed = new Set(spec.servers ?? []);
      for (const a of spec.agents ?? []) {
        if (listed.has(a)) continue;
        listed.add(a);
        nodes.push({ name: a, role: "agent", from: "agents:" });
      }
      if (spec.members) {
        const m = spec.members;
        const set = this.chosen({
          labels: m.labels,
          groups: m.groups,
          environments: m.environment,
          regions: m.region,
        });
        for (const id of set.ids()) {
          const server = this.fleet.servers[id] as string;
          if (listed.has(server) || (m.servers && !m.servers.includes(server))) continue;
          nodes.push({ name: server, role: "agent", from: `members: ${describeTarget(m)}` });
        }
      }
      return {
        name,
        type: spec.type,
        apiServer: spec.api_server ?? null,
        namespace: spec.namespace ?? "default",
        nodes,
        kubeconfigSecret: spec.kubeconfig_secret ?? null,
        description: spec.description ?? null,
        spec,
      };
    });
  }

  labelRuleRows(): LabelRuleRow[] {
    return [...this.model.label_rule.values()].map(({ name, spec }) => ({
      label: name,
      when: Object.entries(spec.when)
        .map(([k, value]) => `${k}=${value}`)
        .join(" "),
      reason: spec.reason ?? null,
      spec,
    }));
  }

  /** Every provider's price table (the model's, else the shipped default), one row per price. */
  priceRows(): PriceRow[] {
    return priceRows(priceTables(this.model));
  }

  sizeRows(filter: ServerFilter = {}): SizeRow[] {
    const uses = new Map<string, number>();
    for (const id of this.chosen(filter).ids()) {
      const size = this.fleet.effectiveSize(this.specOf(id));
      if (size) uses.set(size, (uses.get(size) ?? 0) + 1);
    }
    const filtered = isFiltered(filter);
    return [...this.model.size.values()]
      .filter((s) => !filtered || uses.has(s.name))
      .map(({ name, spec }) => ({
        name,
        cores: spec.abstract?.cores ?? null,
        memory: spec.abstract?.memory === undefined ? null : String(spec.abstract.memory),
        disk: spec.abstract?.disk === undefined ? null : String(spec.abstract.disk),
        providers: Object.keys(spec.providers ?? {}),
        servers: uses.get(name) ?? 0,
      }));
  }

  server(name: string): Resolution {
    const r = this.fleet.resolve(name);
    if (!r) throw notFound("server", name, this.model.server.keys());
    return r;
  }

  label(name: string): LabelView {
    const label = this.model.label.get(name);
    if (!label) throw notFound("label", name, this.model.label.keys());
    const from: Source[] = [{ kind: "label", name }];
    const servers = this.fleet
      .labelServers(name)
      .ids()
      .map((id) => this.refOf(id, from));
    const { spec } = label;
    return {
      name,
      description: spec.description ?? null,
      servers,
      provides: {
        classes: spec.puppet_classes ?? [],
        alerts: spec.alerts ?? [],
        secrets: spec.secrets ?? [],
        ports: spec.ports ?? [],
        size: spec.size ?? null,
      },
    };
  }

  group(name: string): GroupView {
    const group = this.model.group.get(name);
    const set = this.fleet.groupSet(name);
    if (!group || !set) throw notFound("group", name, this.model.group.keys());
    const { spec } = group;
    return {
      name,
      description: spec.description ?? null,
      match: spec.match ?? null,
      explicit: spec.servers ?? [],
      exclude: spec.exclude ?? null,
      subgroups: (spec.groups ?? []).map((g) => ({
        name: g,
        servers: this.fleet.groupSet(g)?.members.count() ?? 0,
      })),
      servers: set.members.ids().map((id) => {
        const server = this.fleet.servers[id] as string;
        return this.refOf(id, this.fleet.groupProvenance(name, server) ?? []);
      }),
      excluded: this.excludedOf("group", name, set.excluded),
      alerts: [...this.model.alert.values()]
        .filter((a) => a.spec.target?.groups?.includes(name))
        .map((a) => ({ name: a.name, severity: a.spec.severity ?? "warning" })),
    };
  }

  alert(name: string): AlertView {
    const names = this.alertNames();
    if (!names.includes(name) || (this.autoOnly(name) && this.fleet.alertSet(name).members.isEmpty())) {
      throw notFound("alert", name, names);
    }
    const basics = this.alertBasics(name);
    const spec = this.model.alert.get(name)?.spec;
    const set = this.fleet.alertSet(name);
    // Only the servers that get it are resolved: their resolution says why.
    const members = set.members.ids().map((id) => {
      const r = this.resolutionOf(id);
      return { r, entry: r.alerts.find((x) => x.name === name) as Resolution["alerts"][number] };
    });
    return {
      name,
      kind: basics.kind,
      severity: basics.severity,
      condition: basics.condition,
      backend: basics.backend,
      for: spec?.for ?? alertDefinition(this.model, name)?.for ?? null,
      description: spec?.description ?? alertDefinition(this.model, name)?.description ?? null,
      target: spec?.target ?? null,
      exclude: spec?.exclude ?? null,
      servers: members.map(({ r, entry }) => ref(r, entry.from)),
      excluded: this.excludedOf("alert", name, set.excluded),
      renderedTo: placeAlert(this.model, name, members).map((p) => ({
        backend: p.backend,
        path: renderedPath(p.backend, p.file),
        servers: p.servers.length,
      })),
      lastRendered: [],
    };
  }

  secret(name: string): SecretView {
    if (!this.secretNames().includes(name)) throw notFound("secret", name, this.secretNames());
    const spec = this.model.secret.get(name)?.spec;
    const set = this.fleet.secretSet(name);
    return {
      name,
      type: spec?.type ?? null,
      generator: spec?.generator ?? null,
      rotateEvery: spec?.rotate_every ?? null,
      perMachine: spec?.per_machine ?? false,
      setBy: spec?.set_by ?? null,
      defined: spec !== undefined,
      labels: this.labelsUsingSecret(name),
      servers: set.members.ids().map((id) => {
        const r = this.resolutionOf(id);
        return ref(r, r.secrets.find((x) => x.name === name)?.from ?? []);
      }),
      excluded: this.excludedOf("secret", name, set.excluded),
    };
  }

  /** Names of every kind, for completion and "did you mean". */
  names(kind: Kind): string[] {
    if (kind === "alert")
      return this.alertNames().filter((n) => !this.autoOnly(n) || !this.fleet.alertSet(n).members.isEmpty());
    if (kind === "secret") return this.secretNames();
    return [...this.model[kind].keys()];
  }

  private resolutionOf(id: number): Resolution {
    return this.fleet.resolve(this.fleet.servers[id] as string) as Resolution;
  }

  private specOf(id: number): ServerSpec {
    return (this.model.server.get(this.fleet.servers[id] as string) as { spec: ServerSpec }).spec;
  }

  private refOf(id: number, from: Source[]): ServerRef {
    const spec = this.specOf(id);
    return {
      name: this.fleet.servers[id] as string,
      provider: spec.provider,
      environment: spec.environment ?? null,
      from,
    };
  }

  private excludedOf(kind: Exclusion["kind"], name: string, set: Bitset): ExcludedServer[] {
    return set.ids().flatMap((id) => {
      const server = this.fleet.servers[id] as string;
      const by = this.fleet.exclusionOf(kind, name, server);
      return by ? [{ name: server, by }] : [];
    });
  }

  /** An alert only the engine generates (no definition under alerts:, no label attaches it). */
  private autoOnly(name: string): boolean {
    return !this.model.alert.has(name) && !this.labelAttached().has(name);
  }

  /** Alerts labels attach by name (computed once: every alert row asks). */
  private labelAttached(): Set<string> {
    if (this.attached) return this.attached;
    const names = new Set<string>();
    for (const l of this.model.label.values()) for (const a of l.spec.alerts ?? []) names.add(a);
    this.attached = names;
    return names;
  }

  /**
   * User-defined alerts, then alerts labels attach by name, then the ones Lab can generate: from
   * sizes, then the ports and classes labels declare (in label order), then identity, then Puppet
   * runs (when any label brings classes).
   */
  private alertNames(): string[] {
    const names = new Set([...this.model.alert.keys(), ...this.labelAttached()]);
    for (const a of SIZE_ALERTS) names.add(a);
    for (const l of this.model.label.values())
      for (const p of l.spec.ports ?? []) names.add(portCheck(p).name);
    for (const l of this.model.label.values()) {
      for (const c of l.spec.puppet_classes ?? []) for (const a of classAlerts(this.model, c)) names.add(a);
    }
    names.add("cert_expiry");
    if ([...this.model.label.values()].some((l) => l.spec.puppet_classes?.length))
      names.add("puppet_run_failed");
    return [...names];
  }

  private alertBasics(name: string) {
    const def = alertDefinition(this.model, name);
    const spec = this.model.alert.get(name)?.spec;
    const attachedBy = [...this.model.label.values()]
      .filter((l) => l.spec.alerts?.includes(name))
      .map((l) => l.name);
    const kind: AlertRow["kind"] = spec ? "user" : attachedBy.length ? "label" : "auto";
    const targetText = spec?.target
      ? describeTarget(spec.target)
      : attachedBy.length
        ? attachedBy.map((l) => `label "${l}"`).join(" or ")
        : "auto-generated";
    return {
      kind,
      severity: def?.severity ?? "warning",
      condition: def?.conditionText ?? null,
      targetText,
      backend: def ? backendFor(this.model, def, attachedBy) : null,
    };
  }

  private secretNames(): string[] {
    const names = new Set(this.model.secret.keys());
    for (const l of this.model.label.values()) for (const s of l.spec.secrets ?? []) names.add(s);
    return [...names];
  }

  private labelsUsingSecret(name: string): string[] {
    return [...this.model.label.values()].filter((l) => l.spec.secrets?.includes(name)).map((l) => l.name);
  }
}

export function describeTarget(sel: SelectorSpec | undefined | null): string {
  if (!sel) return "-";
  const parts: string[] = [];
  const add = (word: string, values?: string[]) => {
    if (values?.length) parts.push(`${word} ${values.map((v) => `"${v}"`).join(" or ")}`);
  };
  add("label", sel.labels);
  add("group", sel.groups);
  add("server", sel.servers);
  add("environment", sel.environment);
  add("region", sel.region);
  return parts.length ? parts.join(" and ") : "all servers";
}

function ref(r: Resolution, from: Source[]): ServerRef {
  return { name: r.name, provider: r.provider, environment: r.environment, from };
}

function isFiltered(f: ServerFilter): boolean {
  return Boolean(
    f.labels?.length || f.groups?.length || f.environments?.length || f.regions?.length || f.exclude?.length,
  );
}
