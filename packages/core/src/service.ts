/**
 * The `Engine`: everything the CLI (and later the API) can ask of Lab, as data. Local mode
 * runs `LabService` in-process over a `StateStore`; client mode implements the same interface
 * over HTTP. Formatting happens in the caller, so both modes print the same bytes.
 */
import type { Backend } from "./conditions.js";
import { Fleet, type Resolution } from "./engine.js";
import { type Diagnostic, LabError, notFound } from "./errors.js";
import type { LayoutRow } from "./layout.js";
import { type Model, modelFromResources, type Resource } from "./model.js";
import { type ParseCache, parseSources, type SourceFile } from "./parse.js";
import { placeAlerts, type Unrenderable } from "./placement.js";
import { type Change, planApply, withoutResource } from "./plan.js";
import type { PriceRow } from "./prices.js";
import {
  type EncNode,
  encNode,
  type PuppetRun,
  type PuppetStore,
  type PuppetSummary,
  parsePuppetReport,
  puppetPillar,
  runIntervalOf,
  serverForCertname,
} from "./puppet.js";
import type { Kind, SpecOf } from "./schema.js";
import { type SyncObservation, type SyncStore, syncPillar } from "./sync.js";
import { validateModel } from "./validate.js";
import {
  type AlertRow,
  type AlertView,
  type ClassRow,
  type ClusterRow,
  FleetViews,
  type GroupRow,
  type GroupView,
  type ImageRow,
  type LabelRow,
  type LabelRuleRow,
  type LabelView,
  type LabRow,
  NO_HEALTH_REPORT,
  type PillarState,
  type Pillars,
  type SecretRow,
  type SecretView,
  type ServerFilter,
  type ServerRow,
  type SizeRow,
  unobservedPillars,
} from "./views.js";

/** One audit record: who did what, when, and how it ended. */
export interface AuditEvent {
  id: number;
  time: string;
  actor: string;
  action: string;
  result: "ok" | "error";
  summary: string;
  changes: ChangeSummary[];
  /** What the event touched, as `kind/name` (for filtered event streams). */
  subjects: string[];
}

/** An event to record; `subjects` defaults to the objects in `changes`. */
export type NewAuditEvent = Omit<AuditEvent, "id" | "time" | "subjects"> & { subjects?: string[] };

export interface ChangeSummary {
  op: Change["op"];
  kind: Kind;
  name: string;
  fields?: string[];
}

export interface EventQuery {
  limit?: number;
  /** Only events with a larger id. */
  after?: number;
}

/**
 * read ⊂ write ⊂ admin nest; `puppet` stands apart: it may only fetch ENC answers and post run
 * reports (a credential a puppetserver can hold without reading or changing anything else);
 * `autosign` too: it may only ask Lab to sign Puppet CSRs (which spends join tokens).
 */
export type Scope = "read" | "write" | "admin" | "puppet" | "autosign";
export const SCOPES: Scope[] = ["read", "write", "admin", "puppet", "autosign"];

/** An API token as stored: the secret itself is never kept, only its hash. */
export interface ApiToken {
  id: string;
  name: string;
  scopes: Scope[];
  createdAt: string;
  createdBy: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** One health source's latest verdict on one server. */
export interface HealthRecord {
  source: string;
  server: string;
  state: "ok" | "warning" | "failed" | "unknown";
  summary: string;
  findings: { alert: string; state: "firing" | "pending" | "ok"; value?: number; detail?: string }[];
  updatedAt: string;
}

/** Health verdicts, shared by every replica and by local mode. */
export interface HealthStore {
  /** Replaces everything `source` said with `records` (one transaction). */
  putHealth(source: string, records: Omit<HealthRecord, "source" | "updatedAt">[]): Promise<void>;
  health(): Promise<HealthRecord[]>;
}

/** The outcome of the last DNS step for a machine, as recorded. */
export type DnsState = "not configured" | "registered" | "failed" | "removed";

/** What a revoke did to DNS, as the audit log and the CLI say it (appended to a sentence). */
export const DNS_AFTER_REVOKE: Record<DnsState, string> = {
  removed: ", removed from DNS",
  failed: ", DNS removal failed (retried by the server)",
  "not configured": ", DNS not configured",
  registered: "",
};

/** What Lab knows of a server's identity (its enrolled agent), for IDENTITY and `describe`. */
export interface IdentitySummary {
  name: string;
  state: "enrolled" | "enrolling" | "cert expiring" | "revoked";
  certNotAfter: string | null;
  enrolledAt: string | null;
  lastSeenAt: string | null;
  ipv4: string | null;
  /** What DNS was last set to, and the error when the update failed. */
  dnsIpv4: string | null;
  /** The PTR name the DNS server accepted, if any. */
  dnsPtr: string | null;
  /** The last DNS step: "not configured", "registered", "failed" or "removed"; null before any. */
  dnsState: DnsState | null;
  dnsError: string | null;
  dnsUpdatedAt: string | null;
  /** OpenSSH public key lines of the host keys the CA signed. */
  hostKeys: string[];
}

export interface IdentityStore {
  identities(): Promise<IdentitySummary[]>;
}

/** Token persistence, next to the state it guards (so every replica sees the same tokens). */
export interface TokenStore {
  createToken(token: ApiToken, hash: string): Promise<void>;
  findTokenByHash(hash: string): Promise<ApiToken | undefined>;
  listTokens(): Promise<ApiToken[]>;
  /** Marks a token revoked; false when there is no such token. */
  revokeToken(id: string, at: string): Promise<boolean>;
  touchToken(id: string, at: string): Promise<void>;
}

/** The persistence port. SQLite and PostgreSQL implement it; one contract suite tests both. */
export interface StateStore {
  /** Every stored object. */
  load(): Promise<Resource[]>;
  /** A number that changes whenever the stored objects change (cache invalidation). */
  revision(): Promise<number>;
  /**
   * Runs `decide` inside one serialised write transaction with the current objects. The
   * changes and the audit event it returns are committed together, or not at all.
   */
  transact<T>(
    decide: (current: Resource[]) => { changes: Change[]; event: NewAuditEvent | null; value: T },
  ): Promise<T>;
  /** Records an event on its own (e.g. a refused apply). */
  record(event: NewAuditEvent): Promise<AuditEvent>;
  events(query?: EventQuery): Promise<AuditEvent[]>;
  /**
   * Calls `onChange` when another process or replica may have recorded events (PostgreSQL
   * LISTEN/NOTIFY). Stores that cannot tell return false, and callers poll instead.
   */
  watch(onChange: () => void): Promise<boolean>;
  close(): Promise<void>;
}

export interface ApplyRequest {
  files: SourceFile[];
  dryRun?: boolean;
  prune?: boolean;
}

export interface ApplyResult {
  dryRun: boolean;
  changes: ChangeSummary[];
  unchanged: number;
  warnings: Diagnostic[];
  eventId: number | null;
}

export interface ServerDescription {
  name: string;
  spec: SpecOf["server"];
  resolution: Resolution;
  sizeDetails: SpecOf["size"] | null;
  definedAt: string | null;
  /** The four pillars, as `get servers` shows them. */
  status: Pillars;
  /** Every health source's latest verdict on this server. */
  health: HealthRecord[];
  identity: IdentitySummary | null;
  /** The design's Puppet block: environment, role, classes, last run, next run. */
  puppet: PuppetSummary;
}

export type ListKind = Kind | "event";
export interface ListResultMap {
  server: ServerRow;
  label: LabelRow;
  group: GroupRow;
  alert: AlertRow;
  secret: SecretRow;
  size: SizeRow;
  class: ClassRow;
  image: ImageRow;
  label_rule: LabelRuleRow;
  layout: LayoutRow;
  lab: LabRow;
  cluster: ClusterRow;
  price: PriceRow;
  event: AuditEvent;
}
export type ShowKind = "server" | "label" | "group" | "alert" | "secret";
export interface ShowResultMap {
  server: Resolution;
  label: LabelView;
  group: GroupView;
  alert: AlertView;
  secret: SecretView;
}

export interface ListOptions {
  filter?: ServerFilter;
  /** Include each server's groups (costs a full resolution). */
  wide?: boolean;
  limit?: number;
}

export interface RenderNote {
  backend: Backend;
  out: string;
  changed: number;
  unchanged: number;
  removed: number;
}

export interface Engine {
  apply(req: ApplyRequest): Promise<ApplyResult>;
  /**
   * One backend's configuration files for the fleet, rendered where the model lives;
   * `baseDir` is where they will be written (for absolute paths inside them).
   */
  render(backend: Backend, baseDir?: string): Promise<RenderResult>;
  /** Records where the files were written (the audit log, and `lab show alert`). */
  noteRendered(note: RenderNote): Promise<void>;
  list<K extends ListKind>(kind: K, opts?: ListOptions): Promise<ListResultMap[K][]>;
  show<K extends ShowKind>(kind: K, name: string): Promise<ShowResultMap[K]>;
  targets(server: string): Promise<Resolution>;
  describe(server: string): Promise<ServerDescription>;
  delete(kind: Kind, name: string): Promise<ChangeSummary>;
  names(kind: Kind): Promise<string[]>;
  /** What the ENC tells Puppet about the node `certname` (a server name or its FQDN). */
  enc(certname: string): Promise<EncNode>;
}

/** The engine over a store, used in-process by local mode and by the server. */
/** Turns the fleet into one monitoring backend's files (the monitor package provides them). */
export type AlertRenderer = (
  fleet: Fleet,
  opts: { baseDir?: string; labServer?: LabServerTarget },
) => { path: string; content: string }[];

/** Where Prometheus scrapes lab server's own /metrics (machines' certificates). */
export interface LabServerTarget {
  /** `host:port` */
  address: string;
  scheme: "http" | "https";
  /** Lab's CA certificate, as a path on the server's host. */
  caFile?: string;
}

export interface RenderResult {
  backend: Backend;
  files: { path: string; content: string }[];
  /** Alerts that apply somewhere but cannot be rendered, and why. */
  unrenderable: Unrenderable[];
}

export interface LabServiceOptions {
  renderers?: Partial<Record<Backend, AlertRenderer>>;
  /** The lab server this engine runs in (unknown in local mode), for the scrape snippet. */
  labServer?: () => LabServerTarget | undefined;
  /** Keeps each applied file's parse, so an unchanged file is not parsed again. */
  parseCache?: ParseCache;
}

export class LabService implements Engine {
  private cache?: { revision: number; model: Model; views: FleetViews };

  constructor(
    private readonly store: StateStore &
      Partial<HealthStore> &
      Partial<IdentityStore> &
      Partial<PuppetStore> &
      Partial<SyncStore>,
    private readonly actor: string,
    private readonly options: LabServiceOptions = {},
  ) {}

  async render(backend: Backend, baseDir?: string): Promise<RenderResult> {
    const renderer = this.options.renderers?.[backend];
    if (!renderer) throw new LabError("LAB_E_USAGE", `no renderer for backend "${backend}"`);
    const { fleet } = await this.views();
    const files = renderer(fleet, { baseDir, labServer: this.options.labServer?.() });
    return { backend, files, unrenderable: placeAlerts(fleet).unrenderable };
  }

  async noteRendered(note: RenderNote): Promise<void> {
    await this.store.record({
      actor: this.actor,
      action: "render",
      result: "ok",
      summary: `${note.backend} → ${note.out}: ${note.changed} changed, ${note.unchanged} unchanged, ${note.removed} removed`,
      changes: [],
      subjects: [`render/${note.backend}`],
    });
  }

  async apply(req: ApplyRequest): Promise<ApplyResult> {
    const parsed = parseSources(req.files, this.options.parseCache);
    if (req.files.length === 0) throw new LabError("LAB_E_NO_DOCUMENTS", "no files to apply");
    const attempt = (current: Resource[]) => {
      const currentModel = modelFromResources(current);
      const plan = planApply(currentModel, parsed.model, { prune: req.prune });
      const locate = (r: Resource, path: (string | number)[]) =>
        parsed.model[r.kind].get(r.name) === r ? parsed.locate(r, path) : r.origin;
      const diagnostics = [...parsed.diagnostics, ...validateModel(plan.result, locate)];
      const errors = diagnostics.filter((d) => d.severity === "error");
      const warnings = diagnostics.filter((d) => d.severity === "warning");
      const changes = plan.changes.map(summarise);
      return { plan, errors, warnings, changes };
    };

    if (req.dryRun) {
      const { plan, errors, warnings, changes } = attempt(await this.store.load());
      if (errors.length) throw invalid(errors, warnings);
      return { dryRun: true, changes, unchanged: plan.unchanged, warnings, eventId: null };
    }

    const outcome = await this.store.transact((current) => {
      const { plan, errors, warnings, changes } = attempt(current);
      if (errors.length) return { changes: [], event: null, value: { errors, warnings, plan, changes } };
      const event: NewAuditEvent | null = changes.length
        ? {
            actor: this.actor,
            action: "apply",
            result: "ok",
            summary: summaryLine(changes, plan.unchanged),
            changes,
          }
        : null;
      return { changes: plan.changes, event, value: { errors, warnings, plan, changes } };
    });
    if (outcome.errors.length) {
      await this.store.record({
        actor: this.actor,
        action: "apply",
        result: "error",
        summary: `refused: ${outcome.errors.length} error(s), first ${outcome.errors[0]?.code}`,
        changes: [],
      });
      throw invalid(outcome.errors, outcome.warnings);
    }
    this.cache = undefined;
    const events = outcome.changes.length ? await this.store.events({ limit: 1 }) : [];
    return {
      dryRun: false,
      changes: outcome.changes,
      unchanged: outcome.plan.unchanged,
      warnings: outcome.warnings,
      eventId: events[0]?.id ?? null,
    };
  }

  async list<K extends ListKind>(kind: K, opts: ListOptions = {}): Promise<ListResultMap[K][]> {
    if (kind === "event") return (await this.store.events({ limit: opts.limit })) as ListResultMap[K][];
    const views = await this.views();
    const f = opts.filter ?? {};
    const rows: Record<Kind, () => unknown[]> = {
      server: () => views.serverRows(f, opts.wide),
      label: () => views.labelRows(f),
      group: () => views.groupRows(f),
      alert: () => views.alertRows(f),
      secret: () => views.secretRows(f),
      size: () => views.sizeRows(f),
      class: () => views.classRows(f),
      image: () => views.imageRows(f),
      label_rule: () => views.labelRuleRows(),
      layout: () => views.layoutRows(),
      lab: () => views.labRows(),
      cluster: () => views.clusterRows(),
      price: () => views.priceRows(),
    };
    const result = rows[kind as Kind]();
    if (kind === "server") {
      await this.withHealth(result as ServerRow[]);
      await this.withIdentity(result as ServerRow[]);
      await this.withPuppet(result as ServerRow[]);
      await this.withSync(result as ServerRow[]);
    }
    return result as ListResultMap[K][];
  }

  /** Fills the IDENTITY pillar from the enrolled agents. */
  private async withIdentity(rows: Pick<ServerRow, "name" | "status">[]): Promise<void> {
    const byName = new Map((await this.store.identities?.())?.map((i) => [i.name, i]) ?? []);
    for (const row of rows) {
      const i = byName.get(row.name);
      if (!i) continue;
      const state = {
        enrolled: "ok",
        enrolling: "pending",
        "cert expiring": "warning",
        revoked: "failed",
      } as const;
      row.status.identity = { state: state[i.state], text: i.state };
    }
  }

  /** Fills the SYNC pillar from each server's last comparison with its provider. */
  private async withSync(rows: Pick<ServerRow, "name" | "status">[]): Promise<void> {
    const seen = (await this.store.syncObservations?.()) ?? [];
    if (seen.length === 0) return;
    const byServer = new Map(seen.map((o) => [o.server, o]));
    for (const row of rows) {
      const o = byServer.get(row.name);
      if (o) row.status.sync = syncPillar(o);
    }
  }

  /** The last comparison of `server` with its provider, if one was made. */
  async lastSync(server: string): Promise<SyncObservation | null> {
    return ((await this.store.syncObservations?.()) ?? []).find((o) => o.server === server) ?? null;
  }

  /** Fills the PUPPET pillar from each server's latest run report. */
  private async withPuppet(rows: Pick<ServerRow, "name" | "status">[]): Promise<void> {
    const runs = (await this.store.puppetRuns?.()) ?? [];
    if (runs.length === 0) return;
    const byServer = new Map(runs.map((r) => [r.server, r]));
    for (const row of rows) {
      const run = byServer.get(row.name);
      if (run) row.status.puppet = puppetPillar(run);
    }
  }

  async enc(certname: string): Promise<EncNode> {
    return encNode((await this.views()).fleet, certname);
  }

  /**
   * Takes one Puppet run report (YAML or JSON, as Puppet's http report processor posts it):
   * keeps it as its server's latest, and records an event when a run fails or a failing
   * server recovers. Resolves to the run and the audit event, if one was recorded.
   */
  async ingestPuppetReport(text: string): Promise<{ run: PuppetRun; event: AuditEvent | null }> {
    if (!this.store.putPuppetRun) throw new LabError("LAB_E_USAGE", "this store keeps no Puppet reports");
    const parsed = parsePuppetReport(text, "");
    const { fleet } = await this.views();
    const server = serverForCertname(fleet, parsed.certname);
    if (!server) throw notFound("server", parsed.certname, fleet.servers);
    const run: PuppetRun = { ...parsed, server };
    const previous = await this.store.putPuppetRun(run);
    const failed = run.status === "failed";
    if (!failed && previous?.status !== "failed") return { run, event: null };
    const why = run.catalogErrors[0] ?? run.failures[0]?.resource ?? "";
    const event = await this.store.record({
      actor: `puppet:${run.certname}`,
      action: "puppet",
      result: failed ? "error" : "ok",
      summary: failed
        ? `${server}: Puppet run failed (${puppetPillar(run).text})${why ? `: ${why.slice(0, 200)}` : ""}`
        : `${server}: Puppet run ${run.status} after a failed run`,
      changes: [],
      subjects: [`server/${server}`],
    });
    return { run, event };
  }

  /** Fills the HEALTH pillar from the stored verdicts of every health source. */
  private async withHealth(rows: Pick<ServerRow, "name" | "status">[]): Promise<void> {
    const records = (await this.store.health?.()) ?? [];
    const byServer = new Map<string, HealthRecord[]>();
    for (const r of records) byServer.set(r.server, [...(byServer.get(r.server) ?? []), r]);
    for (const row of rows) row.status.health = healthPillar(byServer.get(row.name) ?? []);
  }

  async show<K extends ShowKind>(kind: K, name: string): Promise<ShowResultMap[K]> {
    const views = await this.views();
    const show: { [S in ShowKind]: (n: string) => ShowResultMap[S] } = {
      server: (n) => views.server(n),
      label: (n) => views.label(n),
      group: (n) => views.group(n),
      alert: (n) => views.alert(n),
      secret: (n) => views.secret(n),
    };
    const view = show[kind](name);
    if (kind === "alert") await this.withMonitoring(view as AlertView);
    return view;
  }

  /** Adds what monitoring currently says, and when each backend was last rendered. */
  private async withMonitoring(view: AlertView): Promise<void> {
    const records = (await this.store.health?.()) ?? [];
    for (const s of view.servers) {
      for (const r of records) {
        const f = r.server === s.name ? r.findings.find((x) => x.alert === view.name) : undefined;
        if (f)
          s.current = {
            state: f.state,
            ...(f.value !== undefined ? { value: f.value } : {}),
            source: r.source,
          };
      }
    }
    const recent = (await this.store.events({ limit: 500 })).filter((e) => e.action === "render").reverse();
    const latest = new Map<string, { backend: string; summary: string; time: string }>();
    for (const e of recent) {
      const backend = e.summary.split(" ")[0] ?? "";
      if (!latest.has(backend)) latest.set(backend, { backend, summary: e.summary, time: e.time });
    }
    view.lastRendered = [...latest.values()];
  }

  async targets(server: string): Promise<Resolution> {
    return (await this.views()).server(server);
  }

  async describe(server: string): Promise<ServerDescription> {
    const views = await this.views();
    const resolution = views.server(server);
    const resource = views.fleet.model.server.get(server) as Resource<"server">;
    const size = resolution.size ? (views.fleet.model.size.get(resolution.size.name)?.spec ?? null) : null;
    const o = resource.origin;
    // The pillars exactly as `lab get servers` computes them: one code path for both views.
    const row = { name: server, status: unobservedPillars(resource.spec.provider, server) };
    await this.withHealth([row]);
    await this.withIdentity([row]);
    await this.withPuppet([row]);
    await this.withSync([row]);
    const lastRun = ((await this.store.puppetRuns?.()) ?? []).find((r) => r.server === server) ?? null;
    const runInterval = runIntervalOf(resource.spec.attributes);
    let enc: EncNode | null = null;
    try {
      enc = encNode(views.fleet, server);
    } catch {
      // An environment Puppet cannot use: the block says so instead of failing `describe`.
    }
    return {
      name: server,
      spec: resource.spec,
      resolution,
      sizeDetails: size,
      definedAt: o ? `${o.file}:${o.line}:${o.column}` : null,
      status: row.status,
      health: ((await this.store.health?.()) ?? []).filter((r) => r.server === server),
      identity: (await this.store.identities?.())?.find((i) => i.name === server) ?? null,
      puppet: {
        environment: enc?.environment ?? null,
        role: enc?.role ?? null,
        classes: resolution.classes.map((c) => c.name),
        lastRun,
        nextRun: lastRun ? new Date(Date.parse(lastRun.time) + runInterval * 1000).toISOString() : null,
        runIntervalSeconds: runInterval,
      },
    };
  }

  async delete(kind: Kind, name: string): Promise<ChangeSummary> {
    const summary: ChangeSummary = { op: "delete", kind, name };
    const result = await this.store.transact((current) => {
      const model = modelFromResources(current);
      if (!(model[kind] as Map<string, Resource>).has(name)) {
        throw notFound(kind, name, model[kind].keys());
      }
      const after = withoutResource(model, kind, name);
      const errors = validateModel(after).filter((d) => d.severity === "error");
      if (errors.length) {
        throw new LabError(
          "LAB_E_CONFLICT",
          `cannot delete ${kind} "${name}": ${errors.length} object(s) still refer to it`,
          errors,
        );
      }
      return {
        changes: [{ op: "delete", kind, name }],
        event: {
          actor: this.actor,
          action: "delete",
          result: "ok",
          summary: `deleted ${kind} ${name}`,
          changes: [summary],
        },
        value: summary,
      };
    });
    this.cache = undefined;
    return result;
  }

  async names(kind: Kind): Promise<string[]> {
    return (await this.views()).names(kind);
  }

  /** The compiled fleet, rebuilt only when the store's revision moved. */
  private async views(): Promise<FleetViews> {
    const revision = await this.store.revision();
    if (this.cache?.revision !== revision) {
      const model = modelFromResources(await this.store.load());
      this.cache = { revision, model, views: new FleetViews(new Fleet(model)) };
    }
    return this.cache.views;
  }
}

/** The HEALTH pillar: failed beats warning beats unknown beats ok; no record leaves it unobserved. */
export function healthPillar(records: HealthRecord[]): PillarState {
  if (records.length === 0) return NO_HEALTH_REPORT;
  const failed = records.find((r) => r.state === "failed");
  if (failed) return { state: "failed", text: failed.summary };
  const firing = records.flatMap((r) => r.findings.filter((f) => f.state === "firing"));
  if (records.some((r) => r.state === "warning")) {
    return { state: "warning", text: firing.length ? `${firing.length} alrt` : "warn" };
  }
  if (records.some((r) => r.state === "unknown")) return { state: "unknown", text: "unknown" };
  return { state: "ok", text: "ok" };
}

function summarise(c: Change): ChangeSummary {
  return { op: c.op, kind: c.kind, name: c.name, ...(c.fields ? { fields: c.fields } : {}) };
}

function summaryLine(changes: ChangeSummary[], unchanged: number): string {
  const count = (op: Change["op"]) => changes.filter((c) => c.op === op).length;
  return `${count("create")} created, ${count("update")} updated, ${count("delete")} deleted, ${unchanged} unchanged`;
}

function invalid(errors: Diagnostic[], warnings: Diagnostic[]): LabError {
  return new LabError("LAB_E_INVALID", `${errors.length} error(s) in the model; nothing was applied`, [
    ...errors,
    ...warnings,
  ]);
}
