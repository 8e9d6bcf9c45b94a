/**
 * Kubernetes from the CLI: `lab describe cluster NAME` (the cluster kind: its nodes and where
 * each came from, whether its kubeconfig secret holds a value), `lab get deployments`,
 * `lab deploy --label L --cluster C` and `lab scale`. Local mode runs @lab/kube's deployer in
 * this process with the local vault's kubeconfig; client mode asks lab server, which holds the
 * secrets. Clusters are listed by the generic `lab get clusters`.
 */

import { readFileSync } from "node:fs";
import { type ClusterRow, LabError, notFound } from "@lab/core";
import type { ClusterFailure, DeploymentRow } from "@lab/kube";
import type { Command } from "commander";
import { parseAllDocuments, stringify as toYaml } from "yaml";
import { actor, labHome } from "../context.js";
import type { Style } from "../output/style.js";
import { renderTable } from "../output/table.js";
import type { Format } from "../program.js";
import type { CommandContext } from "./command-context.js";
import type { ClusterAnswers } from "./containers.js";

interface Ctx extends CommandContext {
  setExitCode: (code: number) => void;
}

/** The deployer's operations, whichever side runs them. */
export interface KubeApi {
  list(o: {
    cluster?: string;
    label?: string;
  }): Promise<{ deployments: DeploymentRow[]; failures: ClusterFailure[] }>;
  render(r: {
    label: string;
    cluster: string;
    replicas: number;
    image: string;
  }): Promise<Record<string, unknown>>;
  deploy(r: { label: string; cluster: string; replicas: number; image: string }): Promise<{
    op: "created" | "updated";
    row: DeploymentRow;
    manifest: Record<string, unknown>;
  }>;
  scale(r: { label: string; cluster: string; replicas: number }): Promise<{
    name: string;
    cluster: string;
    from: number;
    to: number;
  }>;
  close(): void;
}

async function kubeApi(ctx: CommandContext): Promise<KubeApi> {
  const session = await ctx.open();
  if (session.remote) {
    const c = session.remote;
    const q = (o: Record<string, string | undefined>) => {
      const p = new URLSearchParams(
        Object.entries(o).filter((e): e is [string, string] => e[1] !== undefined),
      );
      return p.size ? `?${p}` : "";
    };
    const at = (cluster: string) => `/api/v1/clusters/${encodeURIComponent(cluster)}/deployments`;
    const body = ({ label, replicas, image }: { label: string; replicas: number; image: string }) => ({
      label,
      replicas,
      image,
    });
    return {
      list: (o) => c.request("GET", `/api/v1/deployments${q(o)}`),
      render: (r) => c.request("POST", `${at(r.cluster)}?dryRun=true`, body(r)),
      deploy: (r) => c.request("POST", at(r.cluster), body(r)),
      scale: (r) =>
        c.request("POST", `${at(r.cluster)}/${encodeURIComponent(r.label)}/scale`, { replicas: r.replicas }),
      close: () => undefined,
    };
  }
  const { modelDeployer } = await import("@lab/kube");
  const store = session.store;
  if (!store) throw new LabError("LAB_E_INTERNAL", "local mode without a local store");
  let host: { vault: { get(path: string): Promise<{ value: Uint8Array }> }; close(): void } | undefined;
  const deployer = modelDeployer({
    engine: session.engine,
    actor: actor(ctx.io.env),
    record: (e) => store.record(e),
    secret: async (path) => {
      if (!host) {
        const { SecretsHost, vaultPaths, modulePathFrom } = await import("@lab/secrets");
        host = await SecretsHost.open({
          vault: vaultPaths(labHome(ctx.io.env), ctx.io.env),
          model: store,
          modulePath: modulePathFrom(ctx.io.env),
        });
      }
      return Buffer.from((await host.vault.get(path)).value).toString("utf8");
    },
  });
  return {
    list: (o) => deployer.list(o),
    render: (r) => deployer.render(r),
    deploy: (r) => deployer.deploy(r),
    scale: (r) => deployer.scale(r),
    close: () => host?.close(),
  };
}

/** `lab build`'s newest image for the label (buildah's storage on this machine). */
async function builtImage(ctx: CommandContext, label: string): Promise<string> {
  const { listContainers } = await import("./build.js");
  let rows: { label: string; image: string; created: string }[];
  try {
    rows = listContainers(ctx.io.env);
  } catch (e) {
    throw new LabError(
      "LAB_E_DEPLOY_IMAGE",
      `no --image given, and Lab's built images cannot be listed here (${(e as Error).message}): pass --image REF`,
    );
  }
  const mine = rows.filter((r) => r.label === label).sort((a, b) => b.created.localeCompare(a.created));
  const newest = mine[0];
  if (!newest) {
    throw new LabError(
      "LAB_E_DEPLOY_IMAGE",
      `no image of label ${label} was built here: run lab build --label ${label}, or pass --image REF`,
    );
  }
  return newest.image;
}

const replicasArg = (v: string): number => {
  if (!/^\d+$/.test(v)) throw new LabError("LAB_E_USAGE", `--replicas takes a whole number ≥ 0, not "${v}"`);
  return Number.parseInt(v, 10);
};

export function registerKubeCommands(program: Command, ctx: Ctx): void {
  program
    .command("kube")
    .description("Kubernetes helpers")
    .command("validate")
    .description("validate Kubernetes manifests offline against the OpenAPI schema (no cluster needed)")
    .argument("<files...>", "YAML or JSON files, several documents each")
    .action(async (files: string[]) => {
      const { validateManifests } = await import("@lab/kube");
      const objects: { file: string; doc: number; value: unknown }[] = [];
      for (const file of files) {
        let text: string;
        try {
          text = readFileSync(file, "utf8");
        } catch (e) {
          throw new LabError(
            "LAB_E_FILE_NOT_FOUND",
            `cannot read ${file}: ${(e as NodeJS.ErrnoException).code}`,
          );
        }
        parseAllDocuments(text).forEach((d, i) => {
          if (d.errors.length) {
            throw new LabError("LAB_E_YAML_SYNTAX", `${file}: document ${i + 1}: ${d.errors[0]?.message}`);
          }
          const value = d.toJS();
          if (value !== null && value !== undefined) objects.push({ file, doc: i + 1, value });
        });
      }
      const errors = validateManifests(objects.map((o) => o.value));
      for (const e of errors) {
        const at = objects[e.index];
        ctx.io.stderr.write(`${at?.file}: document ${at?.doc}: ${e.object} ${e.path}: ${e.message}\n`);
      }
      if (errors.length) {
        throw new LabError(
          "LAB_E_KUBE_INVALID",
          `${errors.length} problem(s) in ${objects.length} object(s), listed above`,
        );
      }
      ctx.print(
        `${ctx.out.tty ? `${ctx.out.green("✓")} ` : ""}${objects.length} object(s) valid (checked offline)\n`,
      );
    });

  program
    .command("deploy")
    .description("run a label's container image on a cluster (a Deployment, validated offline first)")
    .requiredOption("-l, --label <label>", "the label to deploy")
    .requiredOption("--cluster <name>", "one of `lab get clusters`")
    .option("--replicas <n>", "how many pods", replicasArg, 1)
    .option("--image <ref>", "the image (default: lab build's newest for the label)")
    .option("--dry-run", "print the validated manifest; send nothing")
    .option("-o, --output <format>", "table|json|yaml", "table")
    .action(
      async (o: {
        label: string;
        cluster: string;
        replicas: number;
        image?: string;
        dryRun?: boolean;
        output: Format;
      }) => {
        const image = o.image ?? (await builtImage(ctx, o.label));
        const api = await kubeApi(ctx);
        try {
          const req = { label: o.label, cluster: o.cluster, replicas: o.replicas, image };
          if (o.dryRun) {
            const manifest = await api.render(req);
            return ctx.emit(o.output === "table" ? "yaml" : o.output, manifest, () => toYaml(manifest));
          }
          const human = o.output === "table";
          if (human) ctx.print(`Deploying ${o.label} to ${o.cluster}: ${image}, ${o.replicas} replica(s)\n`);
          const r = await api.deploy(req);
          const ok = ctx.out.tty ? ctx.out.green("✓") : "ok:";
          ctx.emit(o.output, r, () =>
            [
              `  ${ok} manifest valid (checked offline)`,
              `  ${ok} ${r.op} deployment ${r.row.namespace}/${r.row.name} (the API server answered)`,
              `→ ${r.row.name} on ${r.row.cluster}: ${r.row.replicas.ready}/${r.row.replicas.desired} ready, ${r.row.status}`,
              "",
            ].join("\n"),
          );
        } finally {
          api.close();
        }
      },
    );

  program
    .command("scale")
    .description("set how many pods a label's deployment runs on a cluster")
    .requiredOption("-l, --label <label>", "the deployed label")
    .requiredOption("--cluster <name>", "one of `lab get clusters`")
    .requiredOption("--replicas <n>", "how many pods", replicasArg)
    .option("-o, --output <format>", "table|json|yaml", "table")
    .action(async (o: { label: string; cluster: string; replicas: number; output: Format }) => {
      const api = await kubeApi(ctx);
      try {
        const r = await api.scale(o);
        ctx.emit(
          o.output,
          r,
          () =>
            `${ctx.out.tty ? ctx.out.green("✓") : "ok:"} ${r.name} on ${r.cluster}: ${r.from} → ${r.to} replicas (the API server answered)\n`,
        );
      } finally {
        api.close();
      }
    });
}

/**
 * Every cluster's Lab deployments, for `lab get containers`: what `lab get deployments` lists,
 * with the clusters that could not be asked; an error reaching the model or lab server at all is
 * returned as `error`, since the images are still worth listing without their clusters.
 */
export async function askClusters(ctx: CommandContext): Promise<ClusterAnswers> {
  try {
    const clusters = (await (await ctx.open()).engine.list("cluster")).length;
    if (clusters === 0) return { deployments: [], failures: [], clusters };
    const api = await kubeApi(ctx);
    try {
      return { ...(await api.list({})), clusters };
    } finally {
      api.close();
    }
  } catch (e) {
    const why = e instanceof LabError ? `${e.code}: ${e.message}` : (e as Error).message;
    return { deployments: [], failures: [], clusters: 0, error: why };
  }
}

/** `lab get deployments [--cluster C] [-l L]`: a cluster that cannot be asked is a row saying why. */
export async function getDeployments(
  ctx: Ctx,
  o: { cluster?: string; label?: string; output: Format },
): Promise<void> {
  const api = await kubeApi(ctx);
  try {
    const r = await api.list({ cluster: o.cluster, label: o.label });
    if (r.failures.length) ctx.setExitCode(1);
    if (o.output === "json" || o.output === "yaml") return ctx.emit(o.output, r, () => "");
    if (r.deployments.length === 0 && r.failures.length === 0) {
      ctx.io.stderr.write("No deployments found (lab deploy --label L --cluster C makes one).\n");
      return;
    }
    ctx.print(deploymentTable(r.deployments, r.failures, ctx.out));
    for (const f of r.failures) ctx.io.stderr.write(`${f.cluster}: ${f.code}: ${f.message}\n`);
  } finally {
    api.close();
  }
}

/** The API's status in words; ✓/✗/⚠ in front only on a terminal. */
function statusText(r: DeploymentRow, out: Style): string {
  const mark = (m: string) => (out.tty ? `${m} ` : "");
  if (r.status === "running") return `${mark(out.green("✓"))}running`;
  if (r.status === "failed" || r.status === "degraded") return `${mark(out.red("✗"))}${r.status}`;
  return `${mark(out.yellow("⚠"))}${r.status}`;
}

/** A cluster that did not answer, in a word: unreachable, forbidden, unauthorized, no kubeconfig. */
function failureWord(code: string): string {
  if (code === "LAB_E_KUBECONFIG") return "no kubeconfig";
  return code
    .replace(/^LAB_E_(KUBE_)?/, "")
    .toLowerCase()
    .replaceAll("_", " ");
}

export function deploymentTable(rows: DeploymentRow[], failures: ClusterFailure[], out: Style): string {
  type Row = { d?: DeploymentRow; f?: ClusterFailure };
  const all: Row[] = [...rows.map((d) => ({ d })), ...failures.map((f) => ({ f }))];
  return renderTable(
    all,
    [
      { header: "NAME", value: (r) => r.d?.name ?? "—" },
      { header: "CLUSTER", value: (r) => r.d?.cluster ?? r.f?.cluster ?? "" },
      { header: "LABEL", value: (r) => r.d?.label ?? "—" },
      { header: "REPLICAS", value: (r) => (r.d ? `${r.d.replicas.ready}/${r.d.replicas.desired}` : "—") },
      { header: "IMAGE", value: (r) => r.d?.image ?? "—", shrink: true, min: 12 },
      {
        header: "STATUS",
        value: (r) =>
          r.d ? statusText(r.d, out) : `${out.tty ? `${out.red("✗")} ` : ""}${failureWord(r.f?.code ?? "")}`,
      },
    ],
    out,
  );
}

/** What the secret store says of the kubeconfig: observed, or why it cannot be told. */
export interface KubeconfigState {
  secret: string | null;
  /** "set": a value is stored; "missing": the store has none; "unknown": the store could not be asked. */
  state: "set" | "missing" | "unknown" | "not configured";
  version: number | null;
  setAt: string | null;
  reason?: string;
}

export interface ClusterDescription extends ClusterRow {
  kubeconfig: KubeconfigState;
}

export async function findCluster(ctx: CommandContext, name: string): Promise<ClusterRow> {
  const rows = await (await ctx.open()).engine.list("cluster");
  const row = rows.find((r) => r.name === name);
  if (!row)
    throw notFound(
      "cluster",
      name,
      rows.map((r) => r.name),
    );
  return row;
}

/** Asks the secret store (local vault or the server's) whether the kubeconfig has a value. */
async function kubeconfigState(ctx: CommandContext, secret: string | null): Promise<KubeconfigState> {
  if (!secret) return { secret, state: "not configured", version: null, setAt: null };
  try {
    const { secretsApi } = await import("./secret.js");
    const api = await secretsApi(ctx);
    try {
      // The report knows a stored value even when no label or class names the secret.
      const last = await api.report(secret).then(
        (r) => r.lastSet,
        (e) => {
          if (e instanceof LabError && e.code === "LAB_E_NOT_FOUND") return null;
          throw e;
        },
      );
      if (last) return { secret, state: "set", version: last.version, setAt: last.at };
      return { secret, state: "missing", version: null, setAt: null };
    } finally {
      api.close();
    }
  } catch (e) {
    const why = e instanceof LabError ? `${e.code}: ${e.message}` : (e as Error).message;
    return { secret, state: "unknown", version: null, setAt: null, reason: why };
  }
}

export async function describeCluster(ctx: CommandContext, name: string, format: Format): Promise<void> {
  const row = await findCluster(ctx, name);
  const data: ClusterDescription = { ...row, kubeconfig: await kubeconfigState(ctx, row.kubeconfigSecret) };
  ctx.emit(format, data, () => clusterText(data, ctx.out));
}

function kubeconfigText(k: KubeconfigState, out: Style): string {
  switch (k.state) {
    case "not configured":
      return `${out.dim("not configured")} (add kubeconfig_secret: PATH to the cluster)`;
    case "set":
      return `secret ${k.secret} (${out.green("set")}, v${k.version}${k.setAt ? ` at ${k.setAt}` : ""})`;
    case "missing":
      return `secret ${k.secret} (${out.red("no value")}: lab secret set ${k.secret} --from-file KUBECONFIG)`;
    default:
      return `secret ${k.secret} (${out.yellow("—")}: ${k.reason ?? "the secret store did not answer"})`;
  }
}

export function clusterText(d: ClusterDescription, out: Style): string {
  const lines = [
    `Name:        ${d.name}`,
    ...(d.description ? [`Description: ${d.description}`] : []),
    `Type:        ${d.type}`,
    `API server:  ${d.apiServer ?? "— (taken from the kubeconfig)"}`,
    `Namespace:   ${d.namespace}`,
    `Kubeconfig:  ${kubeconfigText(d.kubeconfig, out)}`,
    `Nodes:${d.nodes.length ? "" : `       ${out.dim("none (add servers: or members:)")}`}`,
  ];
  const width = Math.max(0, ...d.nodes.map((n) => n.name.length));
  for (const n of d.nodes) lines.push(`  ${n.name.padEnd(width)}  ${n.role.padEnd(6)}  ${out.dim(n.from)}`);
  return `${lines.join("\n")}\n`;
}
