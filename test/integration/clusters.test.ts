/**
 * The clusters kind through the built CLI in local mode: applied from YAML, listed, described
 * with its nodes resolved (control plane by name, workers by selector) and its kubeconfig
 * secret's state read from the real local vault; bad references are refused with their code.
 * In client mode, a real `lab server` stores the kubeconfig through PUT
 * /api/v1/secret-store/value, where `unlessSame` (what `lab apply cluster` sends) makes no new
 * version for the value already stored.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labAsyncIn, labIn, tempHome } from "../support/cli.js";
import { killAllServers, type ServerProcess, startLabServer } from "../support/server-process.js";

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

describe("client mode: the kubeconfig stored through lab server, unlessSame", () => {
  const SECRET = "k8s/homelab/kubeconfig";
  const PATH = `/api/v1/secret-store/value?name=${encodeURIComponent(SECRET)}`;
  const A = "apiVersion: v1\nkind: Config\nclusters: [{name: a}]\n";
  const B = "apiVersion: v1\nkind: Config\nclusters: [{name: b}]\n";
  let server: ServerProcess;
  let lab: ReturnType<typeof labAsyncIn>;

  type SetAnswer = { meta: { version: number }; unchanged?: boolean };
  const put = async (value: string, unlessSame?: boolean) => {
    const r = await server.request<SetAnswer>("PUT", PATH, {
      value: Buffer.from(value).toString("base64"),
      ...(unlessSame === undefined ? {} : { unlessSame }),
    });
    expect(r.status, r.text).toBe(200);
    return r.body;
  };
  /** What the store says through the CLI in client mode: the kubeconfig's version. */
  const version = async () => {
    const r = await lab(["describe", "cluster", "homelab", "-o", "json"]);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { kubeconfig: { state: string; version: number } }).kubeconfig;
  };
  const setEvents = async () => {
    const r = await lab(["get", "events", "-o", "json", "--limit", "200"]);
    return (JSON.parse(r.stdout) as { action: string; summary: string }[]).filter(
      (e) => e.action === "secret.set" && e.summary.includes(SECRET),
    ).length;
  };

  beforeAll(async () => {
    server = await startLabServer({ home: tempHome("lab-h17-clusters-server-") });
    lab = labAsyncIn(tempHome("lab-h17-clusters-client-"), {
      LAB_SERVER: server.url,
      LAB_TOKEN: server.token as string,
    });
    const file = join(tempHome("lab-h17-clusters-model-"), "fleet.yaml");
    writeFileSync(file, FLEET);
    const applied = await lab(["apply", "-f", file]);
    expect(applied.code, applied.stderr).toBe(0);
  });
  afterAll(() => killAllServers());

  it("a same value with unlessSame stores no new version (and records no event); a different one does", async () => {
    expect(await put(A)).toMatchObject({ meta: { version: 1 } });
    expect(await version()).toMatchObject({ state: "set", version: 1 });
    expect(await setEvents()).toBe(1);

    const same = await put(A, true);
    expect(same.unchanged).toBe(true);
    expect(same.meta.version).toBe(1);
    expect(await version()).toMatchObject({ state: "set", version: 1 });
    expect(await setEvents()).toBe(1);

    const changed = await put(B, true);
    expect(changed.unchanged).toBeUndefined();
    expect(changed.meta.version).toBe(2);
    expect(await version()).toMatchObject({ state: "set", version: 2 });
    expect(await setEvents()).toBe(2);

    // Without unlessSame every PUT is a new version, the same bytes or not.
    expect(await put(B, false)).toMatchObject({ meta: { version: 3 } });
    expect(await version()).toMatchObject({ version: 3 });
  });
});
