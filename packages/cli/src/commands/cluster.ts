/**
 * `lab apply cluster NAME --servers a,b,c [--agents d,e] [--join]`: the k3s module over SSH, a
 * progress line per operation as it finishes (ok / changed / failed / skipped), then each node's
 * health as k3s reports it. The servers are Lab servers; each is reached at its `host:`.
 * The cluster is then recorded in the model's `clusters:` kind (servers, agents, the join server
 * and whether Lab created or joined it, the API URL) and the kubeconfig k3s wrote is stored as
 * the cluster's secret, so `lab get clusters`, `lab deploy --cluster` and lab server see it.
 * Exit 1 when any operation failed or any node is not ready.
 */
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { type ClusterRow, type ClusterSpec, LabError } from "@lab/core";
import {
  type ApplyClusterResult,
  applyK3sCluster,
  type ClusterRecord,
  type HealthResult,
  type K3sBinary,
  type OpResult,
  sshExecutor,
} from "@lab/modules";
import { SshSession } from "@lab/onboard";
import { stringify as toYaml } from "yaml";
import { labHome } from "../context.js";
import type { Style } from "../output/style.js";
import type { Format } from "../program.js";
import type { CommandContext } from "./command-context.js";
import { secretsApi } from "./secret.js";

/** `lab apply cluster`'s flags (program.ts's apply command declares them, once). */
export interface ClusterOptions {
  servers?: string[];
  agents?: string[];
  join?: boolean;
  k3sBinary?: string;
  user: string;
  identityFile?: string;
  sshPort: number;
}

/**
 * Where clusters were recorded before the `clusters:` kind carried them: LAB_HOME/clusters/NAME.json
 * (join server and URL, never the token). Read once to migrate it into the model, then removed.
 */
function legacyRecord(
  env: NodeJS.ProcessEnv,
  name: string,
): { path: string; record: ClusterRecord } | undefined {
  const path = join(labHome(env), "clusters", `${name}.json`);
  if (!existsSync(path)) return undefined;
  const raw = JSON.parse(readFileSync(path, "utf8")) as Partial<ClusterRecord>;
  if (typeof raw.joinServer !== "string")
    throw new LabError(
      "LAB_E_USAGE",
      `${path} is not a cluster record Lab wrote (no joinServer): move it away`,
    );
  return {
    path,
    record: {
      name,
      distribution: "k3s",
      joinServer: raw.joinServer,
      url: raw.url ?? "",
      servers: raw.servers ?? [],
      agents: raw.agents ?? [],
    },
  };
}

function removeLegacy(path: string): void {
  rmSync(path, { force: true });
  const dir = join(path, "..");
  if (existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir);
}

/** The k3s module's record of a cluster from the model (none when the module never ran on it). */
function recordOf(row: ClusterRow): ClusterRecord | undefined {
  const k = row.spec.k3s;
  if (!k) return undefined;
  return {
    name: row.name,
    distribution: "k3s",
    joinServer: k.join_server,
    url: row.apiServer ?? "",
    servers: row.spec.servers ?? [],
    agents: row.spec.agents ?? [],
    ...(k.origin ? { origin: k.origin } : {}),
  };
}

const union = (...lists: (string[] | undefined)[]) => [...new Set(lists.flatMap((l) => l ?? []))];

function binary(opt: string | undefined): K3sBinary {
  if (!opt) throw new LabError("LAB_E_K3S_BINARY", "no k3s binary given (Lab downloads nothing)");
  if (opt === "standin") return { kind: "standin" };
  try {
    return { kind: "file", path: opt, data: readFileSync(opt) };
  } catch (e) {
    throw new LabError(
      "LAB_E_K3S_BINARY",
      `cannot read ${opt} (${(e as NodeJS.ErrnoException).code ?? "error"})`,
    );
  }
}

function defaultIdentity(): string | undefined {
  for (const f of ["id_ed25519", "id_ecdsa", "id_rsa"]) {
    const p = join(homedir(), ".ssh", f);
    if (existsSync(p)) return p;
  }
  return undefined;
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** What the apply wrote besides the machines: the model's cluster and the kubeconfig secret. */
export interface ClusterRecorded {
  /** The model's cluster object: created, updated (these fields) or unchanged. */
  model: { op: "create" | "update" | "unchanged"; fields?: string[] };
  kubeconfig:
    | { secret: string; version: number; stored: boolean; from: string }
    | { secret: null; error: string; from: string };
  /** The LAB_HOME/clusters/NAME.json this apply migrated into the model (and removed). */
  migrated?: string;
}

export async function applyCluster(
  ctx: CommandContext & { setExitCode(c: number): void },
  name: string | undefined,
  o: ClusterOptions & { output: Format },
) {
  if (!name || !NAME.test(name))
    throw new LabError("LAB_E_USAGE", "lab apply cluster NAME: a name of lower-case letters, digits and '-'");
  const bin = binary(o.k3sBinary);
  const engine = (await ctx.open()).engine;
  const row = (await engine.list("cluster")).find((r) => r.name === name);
  if (row && row.type !== "k3s")
    throw new LabError(
      "LAB_E_USAGE",
      `cluster ${name} is of type ${row.type} in the model: lab apply cluster runs the k3s module, on k3s clusters only`,
    );
  // The model's record first; a LAB_HOME/clusters/NAME.json from before the kind is migrated.
  const legacy = row?.spec.k3s ? undefined : legacyRecord(ctx.io.env, name);
  const recorded = (row && recordOf(row)) ?? legacy?.record;
  const role = (r: "server" | "agent") => row?.nodes.filter((n) => n.role === r).map((n) => n.name);
  const servers = o.servers ?? union(role("server"), legacy?.record.servers);
  if (servers.length === 0) throw new LabError("LAB_E_USAGE", "name the cluster's servers: --servers a,b,c");
  // Named servers or agents: only those are applied. Neither: every node the cluster has.
  const agents =
    o.agents ??
    (o.servers ? [] : union(role("agent"), legacy?.record.agents).filter((a) => !servers.includes(a)));
  const identityFile = o.identityFile ?? defaultIdentity();
  const human = o.output === "table" || o.output === "wide";
  const out = ctx.out;
  if (human && bin.kind === "standin")
    ctx.io.stderr.write(`${out.yellow("⚠")} k3s-standin: no Kubernetes runs; see docs/modules.md\n`);
  let n = 0;
  let kubeconfig: { text: string; from: string } | { error: string; from: string } | undefined;
  const result: ApplyClusterResult = await applyK3sCluster({
    name,
    servers,
    agents,
    join: !!o.join,
    binary: bin,
    ...(recorded ? { recorded } : {}),
    async connect(node) {
      const d = await engine.describe(node);
      const host = d.spec.host;
      if (!host)
        throw new LabError(
          "LAB_E_USAGE",
          `server ${node} has no host: in the model; Lab cannot reach it over SSH`,
        );
      const ssh = await SshSession.connect({
        host,
        port: o.sshPort,
        user: o.user,
        ...(identityFile ? { identityFile } : {}),
        ...(process.env.SSH_AUTH_SOCK ? { agent: true } : {}),
      });
      if (human)
        ctx.print(out.dim(`  ${node}: SSH ${o.user}@${host} (host key ${ssh.hostKeyFingerprint})\n`));
      return sshExecutor(ssh, node, host);
    },
    onPlan(p) {
      if (human)
        ctx.print(
          `${out.bold(`cluster ${name}`)}: ${p.mode === "create" ? "create" : "existing"} — ${p.reason} (${p.url})\n`,
        );
    },
    onResult(r) {
      n++;
      if (human) ctx.print(progressLine(n, r, out));
    },
    onHealth(h) {
      if (human) ctx.print(healthLine(h, out));
    },
    async onKubeconfig(k) {
      kubeconfig = k;
    },
  });
  const recordedNow = await recordCluster(ctx, name, row, legacy?.record, o.agents, result, kubeconfig);
  if (legacy) {
    removeLegacy(legacy.path);
    recordedNow.migrated = legacy.path;
    ctx.io.stderr.write(
      `ⓘ migrated ${legacy.path} into the model (clusters: ${name}); the file is removed, the model holds the cluster now\n`,
    );
  }
  if (!result.ok) ctx.setExitCode(1);
  if (human) ctx.print(recordedText(name, recordedNow, out) + summary(result, out));
  else ctx.emit(o.output, { ...result, recorded: recordedNow }, () => "");
}

/**
 * Stores the kubeconfig as the cluster's secret (a new version only when it differs) and writes
 * the cluster into the model: the k3s record merged into what the model had (its description,
 * members, namespace, API server and kubeconfig secret stay as they were written).
 */
async function recordCluster(
  ctx: CommandContext,
  name: string,
  row: ClusterRow | undefined,
  legacy: ClusterRecord | undefined,
  explicitAgents: string[] | undefined,
  result: ApplyClusterResult,
  k: { text: string; from: string } | { error: string; from: string } | undefined,
): Promise<ClusterRecorded> {
  const prev: Partial<ClusterSpec> = row?.spec ?? {};
  const secretPath = prev.kubeconfig_secret ?? `k8s/${name}/kubeconfig`;
  let kubeconfig: ClusterRecorded["kubeconfig"];
  if (!k) kubeconfig = { secret: null, error: "not read", from: result.plan.joinServer };
  else if ("error" in k) kubeconfig = { secret: null, error: k.error, from: k.from };
  else {
    const api = await secretsApi(ctx);
    try {
      const r = await api.set(secretPath, Buffer.from(k.text, "utf8"), { unlessSame: true });
      kubeconfig = { secret: secretPath, version: r.meta.version, stored: !r.unchanged, from: k.from };
    } finally {
      api.close();
    }
  }
  const servers = union(prev.servers ?? legacy?.servers, result.record.servers);
  const agents = union(prev.agents ?? legacy?.agents, explicitAgents).filter((a) => !servers.includes(a));
  const spec: ClusterSpec = {
    ...prev,
    type: "k3s",
    api_server: prev.api_server ?? result.record.url,
    servers,
    ...(agents.length ? { agents } : {}),
    k3s: {
      join_server: result.record.joinServer,
      ...(result.record.origin ? { origin: result.record.origin } : {}),
    },
    ...("error" in kubeconfig && !prev.kubeconfig_secret ? {} : { kubeconfig_secret: secretPath }),
  };
  const applied = await (await ctx.open()).engine.apply({
    files: [{ path: `lab apply cluster ${name}`, text: toYaml({ clusters: { [name]: spec } }) }],
  });
  const change = applied.changes.find((c) => c.kind === "cluster" && c.name === name);
  return {
    model: change
      ? {
          op: change.op === "delete" ? "update" : change.op,
          ...(change.fields ? { fields: change.fields } : {}),
        }
      : { op: "unchanged" },
    kubeconfig,
  };
}

function recordedText(name: string, r: ClusterRecorded, out: Style): string {
  const k = r.kubeconfig;
  const kube =
    "error" in k
      ? `${out.yellow("kubeconfig not stored")}: ${k.error} (on ${k.from})`
      : `kubeconfig from ${k.from} in secret ${k.secret} (v${k.version}${k.stored ? ", stored" : ", unchanged"})`;
  const model =
    r.model.op === "unchanged"
      ? "unchanged"
      : r.model.op === "create"
        ? "created"
        : `updated (${(r.model.fields ?? []).join(", ")})`;
  return `model: cluster ${name} ${model} (lab get clusters); ${kube}\n`;
}

const STATUS_WIDTH = 8;

export function progressLine(i: number, r: OpResult, out: Style): string {
  const colour = { ok: out.green, changed: out.yellow, failed: out.red, skipped: out.dim }[r.status];
  const status = colour(r.status.padEnd(STATUS_WIDTH));
  return `[${String(i).padStart(2)}] ${r.node.padEnd(12)} ${r.group.padEnd(10)} ${r.name.padEnd(17)} ${status} ${r.detail}\n`;
}

function healthLine(h: HealthResult, out: Style): string {
  const mark = h.ok ? out.green("✓") : out.red("✗");
  return `health ${h.node.padEnd(12)} ${h.check.padEnd(10)} ${mark} ${h.detail}\n`;
}

function summary(r: ApplyClusterResult, out: Style): string {
  const count = (s: OpResult["status"]) => r.results.filter((x) => x.status === s).length;
  const line = `${count("changed")} changed, ${count("ok")} ok, ${count("failed")} failed, ${count("skipped")} skipped; ${r.health.filter((h) => h.ok).length}/${r.health.length} health checks pass`;
  return `${r.ok ? out.green("✓") : out.red("✗")} cluster ${r.cluster}: ${line}\n`;
}
