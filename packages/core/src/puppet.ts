/**
 * Lab and Puppet (OpenVox): what Puppet learns about a node from Lab — the external node
 * classifier (ENC) answer, built from the one resolution every view reads — and what Lab
 * learns back from Puppet's run reports, which back the PUPPET pillar.
 */
import { Document, parseDocument } from "yaml";
import { z } from "zod";
import type { Fleet, Source } from "./engine.js";
import { LabError, notFound } from "./errors.js";
import { NO_PUPPET_REPORT, type PillarState } from "./views.js";

/** What the ENC says about one node: Puppet's exec node terminus reads classes, environment, parameters. */
export interface EncNode {
  /** The name Puppet asked about (its certname, usually an FQDN). */
  certname: string;
  /** The Lab server it resolved to. */
  server: string;
  environment: string;
  /** The first of the server's labels that brings Puppet classes (roles-and-profiles' role). */
  role: string | null;
  classes: { name: string; from: Source[] }[];
  /** Top-scope variables: `$lab_role`, `$lab_labels`, … in manifests. */
  parameters: Record<string, unknown>;
}

/** Puppet's own rule for environment names (directory environments). */
const PUPPET_ENVIRONMENT = /^[a-z0-9_]+$/;
/** Puppet's default when a node has none. */
export const DEFAULT_PUPPET_ENVIRONMENT = "production";

/**
 * The Lab server a Puppet certname stands for: the exact name, else the FQDN's first label
 * (`db-1.lab.internal` → `db-1`), since Lab's server names are host names.
 */
export function serverForCertname(fleet: Fleet, certname: string): string | undefined {
  const name = certname.toLowerCase();
  if (fleet.idOf(name) !== undefined) return name;
  const host = name.split(".")[0] ?? "";
  return fleet.idOf(host) !== undefined ? host : undefined;
}

/** The ENC answer for `certname`; LAB_E_NOT_FOUND when no server is that node. */
export function encNode(fleet: Fleet, certname: string): EncNode {
  const server = serverForCertname(fleet, certname);
  if (!server) throw notFound("server", certname, fleet.servers);
  const r = fleet.resolve(server);
  const spec = fleet.model.server.get(server)?.spec;
  if (!r || !spec) throw notFound("server", certname, fleet.servers);
  const environment = puppetEnvironment(server, spec.environment, spec.attributes?.puppet_environment);
  const role = r.labels.find((l) => (fleet.model.label.get(l)?.spec.puppet_classes ?? []).length > 0) ?? null;
  return {
    certname,
    server,
    environment,
    role,
    classes: r.classes.map((c) => ({ name: c.name, from: c.from })),
    parameters: {
      lab_server: server,
      lab_role: role,
      lab_labels: r.labels,
      lab_groups: r.groups.map((g) => g.name),
      lab_environment: r.environment,
      lab_region: r.region,
      lab_size: r.size?.name ?? null,
      lab_ports: r.ports.map((p) => p.port),
      ...(spec.attributes ? { lab_attributes: spec.attributes } : {}),
    },
  };
}

/** `attributes.puppet_environment`, else the server's Lab environment, else `production`. */
function puppetEnvironment(server: string, labEnvironment: string | undefined, override: unknown): string {
  const chosen = typeof override === "string" ? override : (labEnvironment ?? DEFAULT_PUPPET_ENVIRONMENT);
  if (!PUPPET_ENVIRONMENT.test(chosen)) {
    throw new LabError(
      "LAB_E_PUPPET_ENVIRONMENT",
      `server ${server}: "${chosen}" is not a Puppet environment name (lower-case letters, digits, _)`,
    );
  }
  return chosen;
}

/**
 * The YAML Puppet's exec node terminus expects on standard output: `classes`, `environment`,
 * `parameters`. Each class carries a comment saying where it came from, for whoever reads it.
 */
export function encYaml(node: EncNode): string {
  const doc = new Document({
    classes: node.classes.map((c) => c.name),
    environment: node.environment,
    parameters: node.parameters,
  });
  doc.commentBefore = ` Lab ENC for ${node.certname} (server ${node.server})`;
  const seq = doc.get("classes", true) as { items?: { comment?: string }[] } | undefined;
  node.classes.forEach((c, i) => {
    const item = seq?.items?.[i];
    if (item) item.comment = ` from ${c.from.map((f) => `${f.kind} ${f.name}`).join(", ")}`;
  });
  return doc.toString({ lineWidth: 0 });
}

// -----------------------------------------------------------------------------------------
// Run reports.

/** One Puppet run as Lab keeps it: the latest per server backs the PUPPET pillar. */
export interface PuppetRun {
  server: string;
  certname: string;
  /** When the run started (the report's `time`). */
  time: string;
  status: "changed" | "unchanged" | "failed";
  environment: string | null;
  configurationVersion: string | null;
  puppetVersion: string | null;
  transactionUuid: string | null;
  noop: boolean;
  /** Resources that failed, with the message of their failed event. */
  failures: { resource: string; message: string }[];
  /** Errors that stopped the catalog from being compiled or retrieved. */
  catalogErrors: string[];
  /** Seconds: the whole run, and fetching/compiling the catalog. */
  timing: { total: number | null; configRetrieval: number | null };
  resources: { total: number | null; changed: number | null; failed: number | null };
  receivedAt: string;
}

/** Latest Puppet runs, shared by every replica and by local mode. */
export interface PuppetStore {
  /** Keeps `run` as its server's latest; resolves to the run it replaced, if any. */
  putPuppetRun(run: PuppetRun): Promise<PuppetRun | undefined>;
  puppetRuns(): Promise<PuppetRun[]>;
}

const metricSchema = z
  .object({ values: z.array(z.tuple([z.string(), z.string(), z.number().nullable()]).rest(z.unknown())) })
  .partial();
const reportSchema = z.object({
  host: z.string({ error: "expected the report's host (the node's certname)" }).min(1),
  time: z.union([z.string(), z.date()], { error: "expected the run's start time" }),
  status: z.enum(["changed", "unchanged", "failed"], { error: "status is changed, unchanged or failed" }),
  environment: z.string().nullish(),
  configuration_version: z.union([z.string(), z.number()]).nullish(),
  puppet_version: z.string().nullish(),
  transaction_uuid: z.string().nullish(),
  noop: z.boolean().nullish(),
  logs: z
    .array(z.object({ level: z.string(), message: z.string(), source: z.string().nullish() }).passthrough())
    .nullish(),
  metrics: z.record(z.string(), metricSchema).nullish(),
  resource_statuses: z
    .record(
      z.string(),
      z
        .object({
          failed: z.boolean().nullish(),
          events: z
            .array(z.object({ status: z.string().nullish(), message: z.string().nullish() }).passthrough())
            .nullish(),
        })
        .passthrough(),
    )
    .nullish(),
});

/** Messages Puppet logs when no catalog could be compiled or fetched. */
const CATALOG_ERROR =
  /Could not retrieve catalog|Failed to compile catalog|Evaluation Error|Could not parse|Could not find class|Error 500 on SERVER|Could not find a directory environment|Catalog compilation failed/i;
const MAX_LISTED = 20;

/**
 * A Puppet run report as the `http` report processor posts it (`application/x-yaml`, a Ruby
 * object tag on the document) or as JSON. The server it belongs to is resolved by the caller.
 */
export function parsePuppetReport(text: string, server: string, now = new Date()): PuppetRun {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: false });
  if (doc.errors.length) {
    throw new LabError("LAB_E_PUPPET_REPORT", `the report is not YAML or JSON: ${doc.errors[0]?.message}`);
  }
  const parsed = reportSchema.safeParse(doc.toJS({ maxAliasCount: 1000 }));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new LabError(
      "LAB_E_PUPPET_REPORT",
      `not a Puppet run report: ${issue?.path.join(".") || "$"}: ${issue?.message}`,
    );
  }
  const r = parsed.data;
  const failures = Object.entries(r.resource_statuses ?? {})
    .filter(([, s]) => s.failed)
    .map(([resource, s]) => ({
      resource,
      message: s.events?.find((e) => e.status === "failure")?.message ?? "failed",
    }));
  const errors = (r.logs ?? []).filter((l) => l.level === "err" || l.level === "crit" || l.level === "alert");
  // A failed run with no failed resource never got to apply a catalog: its errors are the catalog's.
  const catalogErrors = errors
    .filter((l) => CATALOG_ERROR.test(l.message) || (r.status === "failed" && failures.length === 0))
    .map((l) => l.message);
  const metric = (group: string, name: string) =>
    r.metrics?.[group]?.values?.find((v) => v[0] === name)?.[2] ?? null;
  return {
    server,
    certname: r.host,
    time: r.time instanceof Date ? r.time.toISOString() : new Date(r.time).toISOString(),
    status: r.status,
    environment: r.environment ?? null,
    configurationVersion: r.configuration_version == null ? null : String(r.configuration_version),
    puppetVersion: r.puppet_version ?? null,
    transactionUuid: r.transaction_uuid ?? null,
    noop: r.noop ?? false,
    failures: failures.slice(0, MAX_LISTED),
    catalogErrors: [...new Set(catalogErrors)].slice(0, MAX_LISTED),
    timing: { total: metric("time", "total"), configRetrieval: metric("time", "config_retrieval") },
    resources: {
      total: metric("resources", "total"),
      changed: metric("resources", "changed"),
      failed: metric("resources", "failed"),
    },
    receivedAt: now.toISOString(),
  };
}

/** The PUPPET pillar from the latest run: a failed run is red, anything else applied is ok. */
export function puppetPillar(run: PuppetRun | undefined): PillarState {
  if (!run) return NO_PUPPET_REPORT;
  if (run.status === "failed") {
    const why = run.catalogErrors.length ? "catalog" : `${run.failures.length} failed`;
    return { state: "failed", text: `failed (${why})` };
  }
  return { state: "ok", text: run.noop ? "ok (noop)" : "ok" };
}

/** The design's Puppet block in `describe server`: what Lab classifies and what Puppet last did. */
export interface PuppetSummary {
  environment: string | null;
  role: string | null;
  classes: string[];
  lastRun: PuppetRun | null;
  /** When the next run is due: the last run plus Puppet's runinterval. */
  nextRun: string | null;
  runIntervalSeconds: number;
}

/** Puppet's default `runinterval` (30 minutes). */
export const DEFAULT_RUN_INTERVAL_SECONDS = 1800;

/** The runinterval a server's agent uses: `attributes.puppet_runinterval` (seconds), else Puppet's default. */
export function runIntervalOf(attributes: Record<string, unknown> | undefined): number {
  const v = attributes?.puppet_runinterval;
  return typeof v === "number" && v > 0 ? v : DEFAULT_RUN_INTERVAL_SECONDS;
}
