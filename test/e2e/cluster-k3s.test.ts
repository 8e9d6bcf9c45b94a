/**
 * The k3s cluster module end to end: `lab apply cluster` over SSH against two debootstrapped
 * test hosts (real sshd in their own network namespaces). Host preparation is real: kernel
 * modules are probed on the kernel (this one has no module loading, its overlay and br_netfilter
 * are built in), sysctls are written through the host's own `sysctl` (net.* are per network
 * namespace; fs.inotify.* are machine-wide and restored afterwards), the firewall is a real
 * nftables table in the host's namespace (Debian's nftables installed into the tree with dpkg).
 * k3s itself is k3s-standin (NOT k3s; the real binary cannot be downloaded here): the server and
 * agent start, the token file and `k3s kubectl get node` come from it.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { appendFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import { SecretVault, vaultPaths } from "@lab/secrets";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labAsyncIn, tempHome } from "../support/cli.js";
import { startTestHost, type TestHost } from "../support/ssh-host.js";
import { installDebs } from "../support/tree-debs.js";

interface Op {
  node: string;
  group: string;
  name: string;
  status: "ok" | "changed" | "failed" | "skipped";
  detail: string;
}
interface Result {
  plan: { mode: string; joinServer: string; url: string; reason: string };
  results: Op[];
  health: { node: string; check: string; ok: boolean; detail: string }[];
  ok: boolean;
  recorded: {
    model: { op: string; fields?: string[] };
    kubeconfig: { secret: string | null; version?: number; stored?: boolean; from: string; error?: string };
    migrated?: string;
  };
}
interface ClusterRow {
  name: string;
  type: string;
  apiServer: string | null;
  kubeconfigSecret: string | null;
  nodes: { name: string; role: string; from: string }[];
  spec: Record<string, unknown>;
}

const INOTIFY = ["/proc/sys/fs/inotify/max_user_instances", "/proc/sys/fs/inotify/max_user_watches"];
const inotifyBefore = INOTIFY.map((p) => readFileSync(p, "utf8").trim());
let a: TestHost;
let b: TestHost;
const home = tempHome("lab-k3s-");
const lab = labAsyncIn(home);

async function apply(
  name: string,
  extra: string[] = [],
): Promise<{ code: number; r: Result; stderr: string; stdout: string }> {
  const run = await lab([
    "apply",
    "cluster",
    name,
    "--servers",
    "k3s-a,k3s-b",
    "--k3s-binary",
    "standin",
    "--identity-file",
    a.identityFile,
    "-o",
    "json",
    ...extra,
  ]);
  let r: Result;
  try {
    r = JSON.parse(run.stdout) as Result;
  } catch {
    throw new Error(`lab apply cluster printed no JSON (exit ${run.code}): ${run.stderr}${run.stdout}`);
  }
  return { code: run.code, r, stderr: run.stderr, stdout: run.stdout };
}

/** A secret's current value, read from LAB_HOME's vault as lab itself would. */
async function vaultValue(home: string, path: string): Promise<string> {
  const vault = await SecretVault.open(vaultPaths(home, {}));
  try {
    return Buffer.from((await vault.get(path)).value).toString("utf8");
  } finally {
    vault.close();
  }
}

const statuses = (r: Result, node: string) =>
  Object.fromEntries(r.results.filter((o) => o.node === node).map((o) => [`${o.group}/${o.name}`, o.status]));

beforeAll(async () => {
  [a, b] = await Promise.all([startTestHost({ prefix: "k17b" }), startTestHost({ prefix: "k17b" })]);
  await Promise.all([a, b].map((h) => installDebs(h, "/var/cache/lab-test/debs-nftables")));
  // One key for both hosts, as a fleet's admin key would be.
  await appendFile(join(b.tree, "root/.ssh/authorized_keys"), await readFile(`${a.identityFile}.pub`));
  const model = join(home, "fleet.yaml");
  writeFileSync(
    model,
    `servers:\n  k3s-a: {provider: ssh, host: ${a.ip}}\n  k3s-b: {provider: ssh, host: ${b.ip}}\n`,
  );
  const r = await lab(["apply", "-f", model]);
  expect(r.code, r.stderr).toBe(0);
}, 300_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  // The only machine-wide settings the module raised: put them back.
  INOTIFY.forEach((p, i) => {
    writeFileSync(p, `${inotifyBefore[i]}\n`);
  });
});

describe("lab apply cluster (k3s module) over SSH", () => {
  it("first apply creates the cluster on the first server and joins the second, observed on the hosts", async () => {
    const before = await a.execInNs("cat /proc/sys/net/ipv4/ip_forward");
    expect(before.stdout.trim()).toBe("0");
    const { code, r, stdout } = await apply("demo");
    expect(r.plan.mode).toBe("create");
    expect(r.plan.joinServer).toBe("k3s-a");
    expect(r.plan.url).toBe(`https://${a.ip}:6443`);
    const failed = r.results.filter((o) => o.status === "failed" || o.status === "skipped");
    expect(failed, JSON.stringify(failed)).toEqual([]);
    expect(code).toBe(0);
    for (const node of ["k3s-a", "k3s-b"]) {
      const s = statuses(r, node);
      expect(s["host-prep/sysctl"]).toBe("changed");
      expect(s["host-prep/firewall"]).toBe("changed");
      expect(s["networking/k3s-config"]).toBe("changed");
      expect(s["k3s-server/k3s-binary"]).toBe("changed");
      expect(s["k3s-server/k3s-server"]).toBe("changed");
      expect(s["hardening/reload"]).toBe("changed");
    }
    // Only the joining server gets the token file.
    expect(statuses(r, "k3s-b")["k3s-server/join-token"]).toBe("changed");
    expect(statuses(r, "k3s-a")["k3s-server/join-token"]).toBeUndefined();
    const mods = r.results.find((o) => o.node === "k3s-a" && o.name === "kernel-modules");
    expect(mods?.detail).toMatch(/wrote \/etc\/modules-load.d\/k3s.conf/);
    expect(r.health.map((h) => [h.node, h.check, h.ok])).toEqual([
      ["k3s-a", "node-ready", true],
      ["k3s-a", "api-ready", true],
      ["k3s-b", "node-ready", true],
      ["k3s-b", "api-ready", true],
    ]);

    // What the hosts show, read without Lab.
    for (const h of [a, b]) {
      expect((await h.execInNs("cat /proc/sys/net/ipv4/ip_forward")).stdout.trim()).toBe("1");
      const nft = await h.execInChroot("nft list table inet lab_k3s");
      expect(nft.stdout).toMatch(/tcp dport 6443 accept/);
      expect(nft.stdout).toMatch(/udp dport 8472 accept/);
      expect(readFileSync(join(h.tree, "etc/sysctl.d/90-lab-k3s.conf"), "utf8")).toMatch(
        /net.ipv4.ip_forward = 1/,
      );
      expect(readFileSync(join(h.tree, "etc/nftables.conf"), "utf8")).toMatch(
        /include "\/etc\/lab\/k3s.nft"/,
      );
      const nodes = await h.execInChroot("k3s kubectl get nodes");
      expect(nodes.stdout).toMatch(/Ready/);
      expect((await h.execInChroot("k3s --version")).stdout).toMatch(/k3s-standin: not Kubernetes/);
    }
    const confB = readFileSync(join(b.tree, "etc/rancher/k3s/config.yaml"), "utf8");
    expect(confB).toMatch(new RegExp(`server: https://${a.ip.replace(/\./g, "\\.")}:6443`));
    expect(readFileSync(join(a.tree, "etc/rancher/k3s/config.yaml"), "utf8")).toMatch(/cluster-init: true/);
    const token = readFileSync(join(a.tree, "var/lib/rancher/k3s/server/node-token"), "utf8").trim();
    expect(readFileSync(join(b.tree, "etc/rancher/k3s/cluster-token"), "utf8").trim()).toBe(token);
    expect(stdout).not.toContain(token.slice(-32));
    // The cluster is in the model (servers, join server, created, API URL; never the token) and
    // its kubeconfig, as k3s wrote it on k3s-a but pointed at the cluster's URL, is its secret.
    expect(r.recorded.model).toEqual({ op: "create" });
    expect(r.recorded.kubeconfig).toEqual({
      secret: "k8s/demo/kubeconfig",
      version: 1,
      stored: true,
      from: "k3s-a",
    });
    expect(existsSync(join(home, "clusters"))).toBe(false);
    const rows = JSON.parse((await lab(["get", "clusters", "-o", "json"])).stdout) as ClusterRow[];
    const demo = rows.find((c) => c.name === "demo");
    expect(demo?.spec).toEqual({
      type: "k3s",
      api_server: `https://${a.ip}:6443`,
      servers: ["k3s-a", "k3s-b"],
      k3s: { join_server: "k3s-a", origin: "created" },
      kubeconfig_secret: "k8s/demo/kubeconfig",
    });
    expect(demo?.nodes).toEqual([
      { name: "k3s-a", role: "server", from: "servers:" },
      { name: "k3s-b", role: "server", from: "servers:" },
    ]);
    expect(JSON.stringify(rows)).not.toContain(token.slice(-32));
    const table = await lab(["get", "clusters"]);
    expect(table.stdout).toMatch(
      new RegExp(
        `demo\\s+k3s\\s+https://${a.ip.replace(/\./g, "\\.")}:6443\\s+2 servers, 0 agents\\s+default\\s+k8s/demo/kubeconfig`,
      ),
    );
    const described = JSON.parse((await lab(["describe", "cluster", "demo", "-o", "json"])).stdout);
    expect(described.kubeconfig).toMatchObject({ secret: "k8s/demo/kubeconfig", state: "set", version: 1 });
    // The secret's value is the kubeconfig on k3s-a with its server: rewritten, read back through
    // the vault (lab secret get is the machines'; the test reads the vault as lab server would).
    const onHost = readFileSync(join(a.tree, "etc/rancher/k3s/k3s.yaml"), "utf8");
    expect(onHost).toContain("https://127.0.0.1:6443");
    expect(await vaultValue(home, "k8s/demo/kubeconfig")).toBe(
      onHost.replace("https://127.0.0.1:6443", `https://${a.ip}:6443`),
    );
  }, 180_000);

  it("a second apply changes nothing: every operation is ok", async () => {
    const { code, r } = await apply("demo");
    expect(r.plan.mode).toBe("join");
    const notOk = r.results.filter((o) => o.status !== "ok");
    expect(notOk, JSON.stringify(notOk)).toEqual([]);
    expect(r.results.length).toBe(27);
    expect(r.health.every((h) => h.ok)).toBe(true);
    // Nor in the model or the secret store: no new version, no apply event.
    expect(r.recorded.model).toEqual({ op: "unchanged" });
    expect(r.recorded.kubeconfig).toMatchObject({ version: 1, stored: false });
    expect(code).toBe(0);
  }, 120_000);

  it("a drifted sysctl is repaired on the third apply, and only that", async () => {
    const drift = await a.execInNs("sysctl -qw net.ipv4.ip_forward=0 && cat /proc/sys/net/ipv4/ip_forward");
    expect(drift.stdout.trim()).toBe("0");
    const { code, r } = await apply("demo");
    const changed = r.results.filter((o) => o.status !== "ok");
    expect(changed.map((o) => [o.node, o.name, o.status])).toEqual([["k3s-a", "sysctl", "changed"]]);
    expect(changed[0]?.detail).toMatch(/net.ipv4.ip_forward 0→1/);
    expect((await a.execInNs("cat /proc/sys/net/ipv4/ip_forward")).stdout.trim()).toBe("1");
    expect(code).toBe(0);
  }, 120_000);

  it("a cluster Lab has not recorded is found on the machines by its token and joined, not created again", async () => {
    // As if the cluster had been made outside Lab, or Lab's state lost: only the machines know.
    const del = await lab(["delete", "cluster", "demo"]);
    expect(del.code, del.stderr).toBe(0);
    const { code, r } = await apply("demo");
    expect(r.plan).toMatchObject({
      mode: "join",
      joinServer: "k3s-a",
      reason: "found an existing k3s cluster on k3s-a",
    });
    expect(r.results.filter((o) => o.status !== "ok")).toEqual([]);
    // Recorded again, as found: joined, not created. The kubeconfig is the one already stored.
    expect(r.recorded.model).toEqual({ op: "create" });
    expect(r.recorded.kubeconfig).toMatchObject({ version: 1, stored: false });
    const rows = JSON.parse((await lab(["get", "clusters", "-o", "json"])).stdout) as ClusterRow[];
    expect(rows.find((c) => c.name === "demo")?.spec.k3s).toEqual({ join_server: "k3s-a", origin: "joined" });
    expect(code).toBe(0);
  }, 120_000);

  it("a LAB_HOME/clusters/NAME.json from before the clusters kind is migrated into the model once", async () => {
    expect((await lab(["delete", "cluster", "demo"])).code).toBe(0);
    mkdirSync(join(home, "clusters"));
    // What the earlier Lab wrote: join server and URL, never the token.
    writeFileSync(
      join(home, "clusters/demo.json"),
      `${JSON.stringify({ name: "demo", distribution: "k3s", joinServer: "k3s-a", url: `https://${a.ip}:6443`, servers: ["k3s-a", "k3s-b"], agents: [], updated: "2026-12-01T10:00:00.000Z" }, null, 2)}\n`,
    );
    const { code, r, stderr } = await apply("demo");
    expect(r.plan).toMatchObject({ mode: "join", reason: "cluster demo is recorded on k3s-a" });
    expect(stderr).toContain(`migrated ${join(home, "clusters/demo.json")} into the model (clusters: demo)`);
    expect(r.recorded.migrated).toBe(join(home, "clusters/demo.json"));
    expect(existsSync(join(home, "clusters"))).toBe(false);
    const rows = JSON.parse((await lab(["get", "clusters", "-o", "json"])).stdout) as ClusterRow[];
    // The file never said whether Lab created the cluster: the model does not claim it either.
    expect(rows.find((c) => c.name === "demo")?.spec).toMatchObject({
      servers: ["k3s-a", "k3s-b"],
      k3s: { join_server: "k3s-a" },
    });
    expect(rows.find((c) => c.name === "demo")?.spec.k3s).not.toHaveProperty("origin");
    expect(code).toBe(0);
    // Once: the next apply reads the model, says nothing of a file.
    const again = await apply("demo");
    expect(again.stderr).not.toContain("migrated");
    expect(again.r.recorded.model).toEqual({ op: "unchanged" });
  }, 180_000);

  it("a stopped k3s is restarted; the human output has a progress line per operation", async () => {
    await b.execInChroot("kill $(cat /run/lab-k3s.pid)");
    const run = await lab([
      "apply",
      "cluster",
      "demo",
      "--k3s-binary",
      "standin",
      "--identity-file",
      a.identityFile,
    ]);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.split("\n").filter((l) => /^\[\s*\d+\]/.test(l));
    expect(lines.length).toBe(27);
    expect(lines.filter((l) => / changed /.test(l))).toEqual([
      expect.stringMatching(/k3s-b .*k3s-server .*changed .*started k3s/),
    ]);
    expect(run.stdout).toMatch(
      /cluster demo: 1 changed, 26 ok, 0 failed, 0 skipped; 4\/4 health checks pass/,
    );
    expect(run.stdout).toContain(
      "model: cluster demo unchanged (lab get clusters); kubeconfig from k3s-a in secret k8s/demo/kubeconfig (v1, unchanged)\n",
    );
  }, 120_000);

  it("refuses without a k3s binary, and --join of a cluster that exists nowhere", async () => {
    const noBin = await lab(["apply", "cluster", "demo", "--servers", "k3s-a"]);
    expect(noBin.code).toBe(2);
    expect(noBin.stderr).toMatch(/LAB_E_K3S_BINARY/);
    await Promise.all(
      [a, b].map((h) =>
        h.execInChroot(
          "kill $(cat /run/lab-k3s.pid); rm -rf /var/lib/rancher/k3s /etc/rancher/k3s/config.yaml",
        ),
      ),
    );
    const join = await lab([
      "apply",
      "cluster",
      "nowhere",
      "--servers",
      "k3s-a,k3s-b",
      "--join",
      "--k3s-binary",
      "standin",
      "--identity-file",
      a.identityFile,
    ]);
    expect(join.code).toBe(3);
    expect(join.stderr).toMatch(/LAB_E_CLUSTER_NOT_FOUND/);
  }, 120_000);
});
