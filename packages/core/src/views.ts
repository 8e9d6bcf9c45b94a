/**
 * Read-side views over the engine's resolutions: lists for `lab get`, details for `lab show`.
 * Every membership, count and exclusion here is read from `Fleet.resolve*`; nothing re-derives
 * targeting.
 */

import { alertDefinition, backendFor } from "./alert-defs.js";
import { CLASS_ALERTS } from "./conditions.js";
import type { Exclusion, Fleet, Resolution, Source } from "./engine.js";
import { notFound } from "./errors.js";
import { imageCatalogue } from "./images.js";
import { placeAlerts, renderedPath } from "./placement.js";
import type { Kind, LabelRuleSpec, SelectorSpec } from "./schema.js";

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

/** What every pillar says before any source has reported on the server. */
export function unobservedPillars(provider: string): Pillars {
  return {
    sync: none(`no provider sync: provider "${provider}" does not report servers' actual state yet`),
    puppet: none("no Puppet reports configured"),
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
  constructor(readonly fleet: Fleet) {}

  private get model() {
    return this.fleet.model;
  }

  /** Servers passing the filter, in definition order, with their resolutions. */
  select(filter: ServerFilter = {}): Resolution[] {
    const resolved = this.cheapSelect(filter).map((n) => this.fleet.resolve(n) as Resolution);
    const groups = filter.groups;
    if (!groups?.length) return resolved;
    return resolved.filter((r) => r.groups.some((g) => groups.includes(g.name)));
  }

  /** Server rows; only resolves servers fully when the output needs their groups. */
  serverRows(filter: ServerFilter = {}, withGroups = false): ServerRow[] {
    const rows: ServerRow[] = [];
    const needsResolution = withGroups || (filter.groups?.length ?? 0) > 0;
    const chosen = needsResolution ? this.select(filter) : undefined;
    const names = chosen ? chosen.map((r) => r.name) : this.cheapSelect(filter);
    names.forEach((name, i) => {
      const spec = this.model.server.get(name)?.spec;
      if (!spec) return;
      rows.push({
        name,
        provider: spec.provider,
        labels: spec.labels ?? [],
        environment: spec.environment ?? null,
        region: spec.region ?? null,
        size: this.fleet.effectiveSize(spec),
        host: spec.host ?? null,
        mac: spec.mac ?? null,
        groups: chosen?.[i]?.groups.map((g) => g.name) ?? [],
        status: unobservedPillars(spec.provider),
      });
    });
    return rows;
  }

  /** The filters that need no resolution (all but the group filter). */
  private cheapSelect(filter: ServerFilter): string[] {
    const out: string[] = [];
    for (const [name, { spec }] of this.model.server) {
      if (filter.exclude?.includes(name)) continue;
      if (filter.labels?.length && !filter.labels.some((l) => spec.labels?.includes(l))) continue;
      if (filter.environments?.length && !filter.environments.includes(spec.environment ?? "")) continue;
      if (filter.regions?.length && !filter.regions.includes(spec.region ?? "")) continue;
      out.push(name);
    }
    return out;
  }

  labelRows(filter: ServerFilter = {}): LabelRow[] {
    const servers = this.select(filter);
    const counts = countBy(servers, (r) => r.labels);
    const filtered = isFiltered(filter);
    return [...this.model.label.values()]
      .filter((l) => !filtered || counts.has(l.name))
      .map(({ name, spec }) => ({
        name,
        classes: spec.puppet_classes ?? [],
        ports: spec.ports ?? [],
        size: spec.size ?? null,
        alerts: spec.alerts ?? [],
        secrets: spec.secrets ?? [],
        servers: counts.get(name) ?? 0,
      }));
  }

  groupRows(filter: ServerFilter = {}): GroupRow[] {
    const servers = this.select(filter);
    const members = countBy(servers, (r) => r.groups.map((g) => g.name));
    const excluded = countBy(servers, (r) => exclusionsOf(r, "group"));
    const filtered = isFiltered(filter);
    return [...this.model.group.values()]
      .filter((g) => !filtered || members.has(g.name))
      .map(({ name, spec }) => ({
        name,
        servers: members.get(name) ?? 0,
        excluded: excluded.get(name) ?? 0,
        subgroups: spec.groups ?? [],
        match: spec.match ?? null,
      }));
  }

  alertRows(filter: ServerFilter = {}): AlertRow[] {
    const servers = this.select(filter);
    const applies = countBy(servers, (r) => r.alerts.map((a) => a.name));
    const excluded = countBy(servers, (r) => exclusionsOf(r, "alert"));
    const filtered = isFiltered(filter);
    return this.alertNames(servers)
      .filter((n) => !filtered || applies.has(n))
      .map((name) => {
        const v = this.alertBasics(name);
        return {
          name,
          severity: v.severity,
          kind: v.kind,
          condition: v.condition,
          backend: v.backend,
          target: v.targetText,
          servers: applies.get(name) ?? 0,
          excluded: excluded.get(name) ?? 0,
        };
      });
  }

  secretRows(filter: ServerFilter = {}): SecretRow[] {
    const servers = this.select(filter);
    const uses = countBy(servers, (r) => r.secrets.map((s) => s.name));
    const filtered = isFiltered(filter);
    return this.secretNames()
      .filter((n) => !filtered || uses.has(n))
      .map((name) => {
        const spec = this.model.secret.get(name)?.spec;
        return {
          name,
          type: spec?.type ?? "undefined",
          labels: this.labelsUsingSecret(name),
          servers: uses.get(name) ?? 0,
          rotateEvery: spec?.rotate_every ?? null,
          setBy: spec?.set_by ?? null,
        };
      });
  }

  classRows(filter: ServerFilter = {}): ClassRow[] {
    const servers = this.select(filter);
    const uses = countBy(servers, (r) => r.classes.map((c) => c.name));
    const filtered = isFiltered(filter);
    const names = new Set([...this.model.class.keys(), ...Object.keys(CLASS_ALERTS), ...uses.keys()]);
    return [...names]
      .filter((n) => !filtered || uses.has(n))
      .map((name) => ({
        name,
        alerts: this.model.class.get(name)?.spec.alerts ?? CLASS_ALERTS[name] ?? [],
        source: this.model.class.has(name) ? ("model" as const) : ("built-in" as const),
        servers: uses.get(name) ?? 0,
      }));
  }

  imageRows(filter: ServerFilter = {}): ImageRow[] {
    const servers = this.select(filter);
    const uses = countBy(servers, (r) => {
      const image = this.model.server.get(r.name)?.spec.image;
      return image ? [image] : [];
    });
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

  sizeRows(filter: ServerFilter = {}): SizeRow[] {
    const servers = this.select(filter);
    const uses = countBy(servers, (r) => (r.size ? [r.size.name] : []));
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
    const servers = this.fleet
      .resolveAll()
      .filter((r) => r.labels.includes(name))
      .map((r) => ref(r, [{ kind: "label", name }]));
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
    if (!group) throw notFound("group", name, this.model.group.keys());
    const all = this.fleet.resolveAll();
    const { spec } = group;
    const inGroup = (r: Resolution, g: string) => r.groups.find((x) => x.name === g);
    return {
      name,
      description: spec.description ?? null,
      match: spec.match ?? null,
      explicit: spec.servers ?? [],
      exclude: spec.exclude ?? null,
      subgroups: (spec.groups ?? []).map((g) => ({
        name: g,
        servers: all.filter((r) => inGroup(r, g)).length,
      })),
      servers: all.flatMap((r) => {
        const m = inGroup(r, name);
        return m ? [ref(r, m.from)] : [];
      }),
      excluded: excludedFrom(all, "group", name),
      alerts: [...this.model.alert.values()]
        .filter((a) => a.spec.target?.groups?.includes(name))
        .map((a) => ({ name: a.name, severity: a.spec.severity ?? "warning" })),
    };
  }

  alert(name: string): AlertView {
    const all = this.fleet.resolveAll();
    if (!this.alertNames(all).includes(name)) {
      throw notFound("alert", name, this.alertNames(all));
    }
    const basics = this.alertBasics(name);
    const spec = this.model.alert.get(name)?.spec;
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
      servers: all.flatMap((r) => {
        const a = r.alerts.find((x) => x.name === name);
        return a ? [ref(r, a.from)] : [];
      }),
      excluded: excludedFrom(all, "alert", name),
      renderedTo: placeAlerts(this.fleet)
        .placements.filter((p) => p.alert === name)
        .map((p) => ({
          backend: p.backend,
          path: renderedPath(p.backend, p.file),
          servers: p.servers.length,
        })),
      lastRendered: [],
    };
  }

  secret(name: string): SecretView {
    const all = this.fleet.resolveAll();
    if (!this.secretNames().includes(name)) throw notFound("secret", name, this.secretNames());
    const spec = this.model.secret.get(name)?.spec;
    return {
      name,
      type: spec?.type ?? null,
      generator: spec?.generator ?? null,
      rotateEvery: spec?.rotate_every ?? null,
      perMachine: spec?.per_machine ?? false,
      setBy: spec?.set_by ?? null,
      defined: spec !== undefined,
      labels: this.labelsUsingSecret(name),
      servers: all.flatMap((r) => {
        const s = r.secrets.find((x) => x.name === name);
        return s ? [ref(r, s.from)] : [];
      }),
      excluded: excludedFrom(all, "secret", name),
    };
  }

  /** Names of every kind, for completion and "did you mean". */
  names(kind: Kind): string[] {
    if (kind === "alert") return this.alertNames(this.fleet.resolveAll());
    if (kind === "secret") return this.secretNames();
    return [...this.model[kind].keys()];
  }

  /** User-defined alerts, then alerts labels attach by name, then auto-generated ones in use. */
  private alertNames(servers: Resolution[]): string[] {
    const names = new Set(this.model.alert.keys());
    for (const l of this.model.label.values()) for (const a of l.spec.alerts ?? []) names.add(a);
    for (const r of servers) for (const a of r.alerts) names.add(a.name);
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

function excludedFrom(all: Resolution[], kind: Exclusion["kind"], name: string): ExcludedServer[] {
  return all.flatMap((r) => {
    const e = r.excludedFrom.find((x) => x.kind === kind && x.name === name);
    return e ? [{ name: r.name, by: e.by }] : [];
  });
}

function exclusionsOf(r: Resolution, kind: Exclusion["kind"]): string[] {
  return r.excludedFrom.filter((e) => e.kind === kind).map((e) => e.name);
}

function countBy<T>(items: T[], keys: (item: T) => string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) for (const k of keys(item)) counts.set(k, (counts.get(k) ?? 0) + 1);
  return counts;
}

function isFiltered(f: ServerFilter): boolean {
  return Boolean(
    f.labels?.length || f.groups?.length || f.environments?.length || f.regions?.length || f.exclude?.length,
  );
}
