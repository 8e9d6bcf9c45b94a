/**
 * The clusters kind through the built CLI in local mode: applied from YAML, listed, described
 * with its nodes resolved (control plane by name, workers by selector) and its kubeconfig
 * secret's state read from the real local vault; bad references are refused with their code.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { labIn, tempHome } from "../support/cli.js";

const FLEET = `
labels:
  k8s-server: {}
  k8s-worker: {}
servers:
  cp-1: { provider: ssh, labels: [k8s-server] }
  w-1: { provider: ssh, labels: [k8s-worker] }
  w-2: { provider: ssh, labels: [k8s-worker] }
  other: { provider: ssh }
clusters:
  homelab:
    type: k3s
    api_server: https://cp-1.lab.test:6443
    servers: [cp-1]
    members: { labels: [k8s-worker] }
    agents: [other]
    kubeconfig_secret: k8s/homelab/kubeconfig
  bare:
    type: k8s
`;

describe("clusters: a model kind with its kubeconfig as a secret", () => {
  const home = tempHome("lab-h17-clusters-");
  const lab = labIn(home);
  const file = join(home, "fleet.yaml");
  writeFileSync(file, FLEET);

  it("applies, lists and resolves nodes with where they came from", () => {
    const apply = lab(["apply", "-f", file]);
    expect(apply.stderr).toBe("");
    expect(apply.code).toBe(0);
    const table = lab(["get", "clusters"]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/CLUSTER\s+TYPE\s+API SERVER\s+NODES\s+NAMESPACE\s+KUBECONFIG/);
    expect(table.stdout).toMatch(
      /homelab\s+k3s\s+https:\/\/cp-1\.lab\.test:6443\s+1 server, 3 agents\s+default\s+k8s\/homelab\/kubeconfig/,
    );
    expect(table.stdout).toMatch(/bare\s+k8s\s+—\s+0 servers, 0 agents\s+default\s+not configured/);
    const rows = JSON.parse(lab(["get", "clusters", "-o", "json"]).stdout) as {
      name: string;
      nodes: { name: string; role: string; from: string }[];
    }[];
    expect(rows.find((r) => r.name === "homelab")?.nodes).toEqual([
      { name: "cp-1", role: "server", from: "servers:" },
      { name: "other", role: "agent", from: "agents:" },
      { name: "w-1", role: "agent", from: 'members: label "k8s-worker"' },
      { name: "w-2", role: "agent", from: 'members: label "k8s-worker"' },
    ]);
  });

  it("describe cluster reads the kubeconfig's state from the vault: no value, then set", () => {
    const before = lab(["describe", "cluster", "homelab"]);
    expect(before.code).toBe(0);
    expect(before.stdout).toContain(
      "secret k8s/homelab/kubeconfig (no value: lab secret set k8s/homelab/kubeconfig",
    );
    expect(before.stdout).toMatch(/w-2\s+agent\s+members: label "k8s-worker"/);
    const kc = join(home, "kubeconfig.yaml");
    writeFileSync(kc, "apiVersion: v1\nkind: Config\nclusters: []\n");
    const set = lab(["secret", "set", "k8s/homelab/kubeconfig", "--from-file", kc]);
    expect(set.code, set.stderr).toBe(0);
    const after = JSON.parse(lab(["describe", "cluster", "homelab", "-o", "json"]).stdout);
    expect(after.kubeconfig).toMatchObject({ secret: "k8s/homelab/kubeconfig", state: "set", version: 1 });
    const bare = lab(["describe", "cluster", "bare"]);
    expect(bare.stdout).toContain("Kubeconfig:  not configured");
  });

  it("refuses unknown nodes, bad types and plain-http API servers with codes", () => {
    const bad = join(home, "bad.yaml");
    writeFileSync(
      bad,
      "clusters:\n  x:\n    type: k3s\n    servers: [cp-9]\n    agents: [w-9]\n    members: { labels: [nope] }\n",
    );
    const r = lab(["apply", "-f", bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("LAB_E_REF_SERVER");
    expect(r.stderr).toContain('cluster "x" refers to server "cp-9"');
    expect(r.stderr).toContain('cluster "x" refers to server "w-9"');
    expect(r.stderr).toContain("LAB_E_REF_LABEL");
    writeFileSync(bad, "clusters:\n  y:\n    type: eks\n    api_server: http://a:6443\n");
    const t = lab(["apply", "-f", bad]);
    expect(t.code).toBe(1);
    expect(t.stderr).toContain("a cluster's type is k8s or k3s");
    expect(t.stderr).toContain("expected the API server's https:// URL");
    const missing = lab(["describe", "cluster", "homelabb"]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('cluster "homelabb" not found (did you mean "homelab"?)');
  });
});
