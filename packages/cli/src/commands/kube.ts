/**
 * Kubernetes from the CLI: `lab describe cluster NAME` (the cluster kind: its nodes and where
 * each came from, whether its kubeconfig secret holds a value). Clusters are listed by the
 * generic `lab get clusters`.
 */
import { type ClusterRow, LabError, notFound } from "@lab/core";
import type { Style } from "../output/style.js";
import type { Format } from "../program.js";
import type { CommandContext } from "./command-context.js";

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
