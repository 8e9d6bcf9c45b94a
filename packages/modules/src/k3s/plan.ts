/**
 * Join an existing cluster or create a new one (the bastion seed's open item), decided from what
 * the machines show, never from a flag alone: a server that holds a k3s token already belongs to
 * a cluster, and two different tokens among the named servers are two clusters Lab will not merge.
 */
import { LabError } from "@lab/core";
import type { Executor } from "../executor.js";
import { K3S_CONFIG } from "./networking.js";
import { readNodeToken } from "./service.js";

/** What a machine shows of k3s before anything is changed. */
export interface NodeObservation {
  node: string;
  address: string;
  /** The cluster token it holds (server's node-token), if any. Never printed. */
  token?: string;
  /** The `server:` it was configured to join, if any (absent on the server that created it). */
  joinUrl?: string;
}

/** The cluster as Lab recorded it (the model's `clusters:` kind) when it created or joined it. */
export interface ClusterRecord {
  name: string;
  distribution: "k3s";
  /** The server new nodes join (the one that created the cluster, unless it was replaced). */
  joinServer: string;
  url: string;
  servers: string[];
  agents: string[];
  /** Whether Lab created the cluster or found it on the machines and joined it; absent when not recorded. */
  origin?: "created" | "joined";
}

export interface ClusterPlan {
  /** create: no cluster yet, the first server creates it; join: it exists, the others join it. */
  mode: "create" | "join";
  /** The server holding the cluster: created on it, or joined through it. */
  joinServer: string;
  url: string;
  /** Why, in a sentence for the progress output. */
  reason: string;
}

export interface PlanInput {
  cluster: string;
  servers: string[];
  agents: string[];
  /** --join: the cluster must exist already (recorded or found on the machines). */
  join: boolean;
  recorded?: ClusterRecord;
  /** One per server named (and the recorded join server when it is not among them). */
  observed: NodeObservation[];
}

export function k3sUrl(address: string): string {
  return `https://${address.includes(":") ? `[${address}]` : address}:6443`;
}

/** The pure decision; the caller observed the machines. */
export function planCluster(p: PlanInput): ClusterPlan {
  const byNode = new Map(p.observed.map((o) => [o.node, o]));
  const holders = p.servers.map((s) => byNode.get(s)).filter((o): o is NodeObservation => !!o?.token);
  const tokens = new Set(holders.map((h) => h.token));
  if (tokens.size > 1) {
    throw new LabError(
      "LAB_E_CLUSTER_CONFLICT",
      `${holders.map((h) => h.node).join(", ")} belong to different k3s clusters (their tokens differ): name servers of one cluster, or uninstall k3s from the others`,
    );
  }
  if (p.recorded) {
    const head = byNode.get(p.recorded.joinServer);
    if (!head?.token) {
      throw new LabError(
        "LAB_E_CLUSTER_NOT_FOUND",
        `cluster ${p.cluster} was created on ${p.recorded.joinServer}, which shows no k3s token now: check k3s there, or apply the cluster without --join to create it again`,
      );
    }
    const other = holders.find((h) => h.token !== head.token);
    if (other) {
      throw new LabError(
        "LAB_E_CLUSTER_CONFLICT",
        `${other.node} belongs to another k3s cluster than ${p.cluster} (its token differs from ${head.node}'s)`,
      );
    }
    return {
      mode: "join",
      joinServer: head.node,
      url: k3sUrl(head.address),
      reason: `cluster ${p.cluster} is recorded on ${head.node}`,
    };
  }
  if (holders.length) {
    // Prefer the server that created the cluster (it joined no one).
    const head = holders.find((h) => !h.joinUrl) ?? (holders[0] as NodeObservation);
    return {
      mode: "join",
      joinServer: head.node,
      url: k3sUrl(head.address),
      reason: `found an existing k3s cluster on ${head.node}`,
    };
  }
  if (p.join) {
    throw new LabError(
      "LAB_E_CLUSTER_NOT_FOUND",
      `no k3s cluster ${p.cluster} to join: Lab has not recorded it and none of ${p.servers.join(", ")} runs a k3s server; drop --join to create it`,
    );
  }
  const first = byNode.get(p.servers[0] ?? "");
  if (!first) throw new LabError("LAB_E_USAGE", "a cluster needs at least one server: --servers a,b,c");
  return {
    mode: "create",
    joinServer: first.node,
    url: k3sUrl(first.address),
    reason: `no k3s on ${p.servers.join(", ")}: creating the cluster on ${first.node}`,
  };
}

/** Reads what a machine shows of k3s (token, join URL). */
export async function observeNode(x: Executor): Promise<NodeObservation> {
  const token = await readNodeToken(x);
  const conf = await x.run(`cat ${K3S_CONFIG} 2>/dev/null`);
  const joinUrl = /^server:\s*(\S+)/m.exec(conf.stdout)?.[1];
  return { node: x.node, address: x.address, ...(token ? { token } : {}), ...(joinUrl ? { joinUrl } : {}) };
}
