/**
 * Node networking for k3s: the address the node is known by must be on one of its interfaces,
 * and k3s's own config file says which address, which CIDRs and which flannel backend to use.
 */
import { fileOp } from "../files.js";
import { must, type Operation } from "../operation.js";

export const K3S_CONFIG = "/etc/rancher/k3s/config.yaml";
export const K3S_TOKEN_FILE = "/etc/rancher/k3s/cluster-token";

export interface NodeConfig {
  node: string;
  role: "server" | "agent";
  /** The node's IPv4 address, when Lab reaches it by one. */
  nodeIp?: string;
  /** The first server creates the cluster (embedded etcd); the others join `joinUrl`. */
  init: boolean;
  joinUrl?: string;
  clusterCidr: string;
  serviceCidr: string;
  cluster: string;
}

/** k3s's config.yaml for a node (k3s reads it at start; flags Lab never passes). */
export function k3sConfig(c: NodeConfig): string {
  const lines = [
    `# Written by Lab (lab apply cluster ${c.cluster}): k3s reads it at start. Edit the cluster in Lab.`,
    `node-name: ${c.node}`,
    ...(c.nodeIp ? [`node-ip: ${c.nodeIp}`] : []),
    ...(c.init ? ["cluster-init: true"] : []),
    ...(c.joinUrl ? [`server: ${c.joinUrl}`, `token-file: ${K3S_TOKEN_FILE}`] : []),
    ...(c.role === "server"
      ? [
          `cluster-cidr: ${c.clusterCidr}`,
          `service-cidr: ${c.serviceCidr}`,
          "flannel-backend: vxlan",
          'write-kubeconfig-mode: "0600"',
        ]
      : []),
  ];
  return `${lines.join("\n")}\n`;
}

/** The address Lab uses for the node is configured on it (k3s would advertise a dead one). */
export function nodeIpOp(nodeIp: string | undefined): Operation {
  return {
    group: "networking",
    name: "node-ip",
    async check(x) {
      if (!nodeIp) return { ok: true, detail: "k3s picks the default route's address" };
      const addrs = await must(x, "ip -o -4 addr show", "ip addr");
      const dev = addrs
        .split("\n")
        .find((l) => l.includes(` ${nodeIp}/`))
        ?.split(/\s+/)[1];
      if (!dev) return { ok: false, detail: `${nodeIp} is on no interface of ${x.node}` };
      return { ok: true, detail: `${nodeIp} on ${dev}` };
    },
    async change(x) {
      // Lab does not renumber machines: the server's host: in the model must be its address.
      throw new Error(`${nodeIp} is on no interface of ${x.node}: fix the server's host: in the model`);
    },
  };
}

export function configOp(c: NodeConfig): Operation {
  return fileOp("networking", "k3s-config", K3S_CONFIG, k3sConfig(c), 0o600);
}
