/**
 * `lab apply cluster NAME --servers a,b,c [--agents d] [--join]`: the k3s module. Observes every
 * machine, decides create-or-join, then runs each node's operation groups in order (host-prep,
 * networking, k3s-server or k3s-agent, hardening) — the server holding the cluster first, so the
 * others can be given its token — and finally asks k3s for each node's readiness.
 */
import { LabError } from "@lab/core";
import type { Executor } from "../executor.js";
import { type Operation, type OpResult, runOperations } from "../operation.js";
import { serverHardening } from "./hardening.js";
import { firewalldOp, kernelModulesOp, nftablesOp, sysctlOp } from "./host-prep.js";
import { configOp, nodeIpOp } from "./networking.js";
import { type ClusterPlan, type ClusterRecord, observeNode, planCluster } from "./plan.js";
import { binaryOp, K3S_BIN, type K3sBinary, readNodeToken, serviceOp, tokenFileOp } from "./service.js";

export interface ApplyClusterOptions {
  name: string;
  servers: string[];
  agents: string[];
  join: boolean;
  binary: K3sBinary;
  /** The cluster as recorded by an earlier apply. */
  recorded?: ClusterRecord;
  /** Opens an executor for a Lab server by name (SSH today). */
  connect(node: string): Promise<Executor>;
  onPlan?(plan: ClusterPlan): void;
  onResult?(r: OpResult): void;
  onHealth?(h: HealthResult): void;
  /**
   * The admin kubeconfig k3s wrote on the join server, its `server:` pointed at the cluster's
   * URL instead of 127.0.0.1; or why it could not be read. Handed over while the connection is
   * open and never part of the result (it holds the cluster's admin credentials).
   */
  onKubeconfig?(k: { text: string; from: string } | { error: string; from: string }): Promise<void>;
  clusterCidr?: string;
  serviceCidr?: string;
}

export interface HealthResult {
  node: string;
  check: "node-ready" | "api-ready";
  ok: boolean;
  detail: string;
}

export interface ApplyClusterResult {
  cluster: string;
  plan: ClusterPlan;
  results: OpResult[];
  health: HealthResult[];
  /** Every operation ok or changed, every health check passed. */
  ok: boolean;
  record: ClusterRecord;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** The operations for one node, in group order. */
export function nodeOperations(o: {
  cluster: string;
  role: "server" | "agent";
  node: string;
  address: string;
  init: boolean;
  joinUrl?: string;
  token?: string;
  binary: K3sBinary;
  clusterCidr: string;
  serviceCidr: string;
}): Operation[] {
  const nodeIp = IPV4.test(o.address) ? o.address : undefined;
  const group = o.role === "server" ? "k3s-server" : "k3s-agent";
  return [
    kernelModulesOp(),
    sysctlOp(),
    firewalldOp(),
    nftablesOp(o.role),
    nodeIpOp(nodeIp),
    configOp({
      cluster: o.cluster,
      node: o.node,
      role: o.role,
      init: o.init,
      clusterCidr: o.clusterCidr,
      serviceCidr: o.serviceCidr,
      ...(nodeIp ? { nodeIp } : {}),
      ...(o.joinUrl ? { joinUrl: o.joinUrl } : {}),
    }),
    binaryOp(o.binary, group),
    ...(o.token ? [tokenFileOp(o.token, group)] : []),
    serviceOp(o.role, group),
    ...(o.role === "server" ? serverHardening() : []),
  ];
}

async function nodeHealth(x: Executor, asker: Executor, role: "server" | "agent"): Promise<HealthResult[]> {
  const out: HealthResult[] = [];
  // An agent has no admin kubeconfig: its readiness is asked of the server it joined.
  const r = await asker.run(`${K3S_BIN} kubectl get node ${x.node} --no-headers`);
  const status = r.stdout.trim().split(/\s+/)[1];
  out.push({
    node: x.node,
    check: "node-ready",
    ok: r.code === 0 && status === "Ready",
    detail:
      r.code === 0
        ? `${status ?? "?"} (asked ${asker.node})`
        : r.stderr.trim().split("\n")[0] || `exit ${r.code}`,
  });
  if (role === "server") {
    const api = await x.run(`${K3S_BIN} kubectl get --raw /readyz`);
    out.push({
      node: x.node,
      check: "api-ready",
      ok: api.code === 0 && api.stdout.trim() === "ok",
      detail:
        api.code === 0
          ? `/readyz ${api.stdout.trim()}`
          : api.stderr.trim().split("\n")[0] || `exit ${api.code}`,
    });
  }
  return out;
}

/** Where k3s writes the admin kubeconfig on a server. */
export const K3S_KUBECONFIG = "/etc/rancher/k3s/k3s.yaml";

/** k3s's kubeconfig names the API server as seen from the server itself: 127.0.0.1:6443. */
const LOOPBACK_API = /https:\/\/(?:127\.0\.0\.1|localhost|\[::1\]):6443/g;

async function readKubeconfig(
  head: Executor,
  url: string,
): Promise<{ text: string; from: string } | { error: string; from: string }> {
  const r = await head.run(`cat ${K3S_KUBECONFIG}`);
  if (r.code !== 0 || !r.stdout.trim())
    return {
      from: head.node,
      error: `${K3S_KUBECONFIG}: ${r.stderr.trim().split("\n")[0] || (r.code === 0 ? "empty" : `exit ${r.code}`)}`,
    };
  return { from: head.node, text: r.stdout.replace(LOOPBACK_API, url) };
}

export async function applyK3sCluster(o: ApplyClusterOptions): Promise<ApplyClusterResult> {
  if (o.servers.length === 0)
    throw new LabError("LAB_E_USAGE", "a cluster needs at least one server: --servers a,b,c");
  const both = o.servers.filter((s) => o.agents.includes(s));
  if (both.length) throw new LabError("LAB_E_USAGE", `${both.join(", ")} cannot be both server and agent`);
  const names = [...new Set([...o.servers, ...o.agents, ...(o.recorded ? [o.recorded.joinServer] : [])])];
  const xs = new Map<string, Executor>();
  try {
    for (const n of names) xs.set(n, await o.connect(n));
    const ex = (n: string) => xs.get(n) as Executor;
    const observed = await Promise.all(names.map((n) => observeNode(ex(n))));
    const plan = planCluster({
      cluster: o.name,
      servers: o.servers,
      agents: o.agents,
      join: o.join,
      observed,
      ...(o.recorded ? { recorded: o.recorded } : {}),
    });
    o.onPlan?.(plan);
    const head = ex(plan.joinServer);
    const common = {
      cluster: o.name,
      binary: o.binary,
      clusterCidr: o.clusterCidr ?? "10.42.0.0/16",
      serviceCidr: o.serviceCidr ?? "10.43.0.0/16",
    };
    const results: OpResult[] = [];
    const failedNodes = new Set<string>();
    const onResult = (r: OpResult) => {
      if (r.status === "failed") failedNodes.add(r.node);
      o.onResult?.(r);
    };
    if (o.servers.includes(plan.joinServer)) {
      results.push(
        ...(await runOperations(
          head,
          nodeOperations({ ...common, role: "server", node: head.node, address: head.address, init: true }),
          onResult,
        )),
      );
    }
    const token = await readNodeToken(head);
    const rest = [
      ...o.servers.filter((s) => s !== plan.joinServer).map((s) => ({ s, role: "server" as const })),
      ...o.agents.map((s) => ({ s, role: "agent" as const })),
    ];
    for (const { s, role } of rest) {
      const x = ex(s);
      if (!token) {
        // The cluster's server failed before k3s wrote its token: nothing can join it.
        const r: OpResult = {
          node: s,
          group: "host-prep",
          name: "all",
          status: "skipped",
          detail: `${plan.joinServer} has no k3s token to join with`,
          ms: 0,
        };
        results.push(r);
        onResult(r);
        failedNodes.add(s);
        continue;
      }
      const ops = nodeOperations({
        ...common,
        role,
        node: s,
        address: x.address,
        init: false,
        joinUrl: plan.url,
        token,
      });
      results.push(...(await runOperations(x, ops, onResult)));
    }
    const health: HealthResult[] = [];
    for (const n of [...o.servers, ...o.agents]) {
      if (failedNodes.has(n)) continue;
      const role = o.servers.includes(n) ? "server" : "agent";
      for (const h of await nodeHealth(ex(n), role === "server" ? ex(n) : head, role)) {
        health.push(h);
        o.onHealth?.(h);
      }
    }
    const ok = results.every((r) => r.status === "ok" || r.status === "changed") && health.every((h) => h.ok);
    if (o.onKubeconfig) await o.onKubeconfig(await readKubeconfig(head, plan.url));
    const origin = o.recorded ? o.recorded.origin : plan.mode === "create" ? "created" : "joined";
    const record: ClusterRecord = {
      name: o.name,
      distribution: "k3s",
      joinServer: plan.joinServer,
      url: plan.url,
      servers: [...new Set([...(o.recorded?.servers ?? []), ...o.servers])],
      agents: [...new Set([...(o.recorded?.agents ?? []), ...o.agents])],
      ...(origin ? { origin } : {}),
    };
    return { cluster: o.name, plan, results, health, ok, record };
  } finally {
    await Promise.all([...xs.values()].map((x) => x.close().catch(() => undefined)));
  }
}
