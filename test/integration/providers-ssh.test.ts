/**
 * The ssh provider against a real machine: Debian's sshd in a chroot in its own network
 * namespace (test/support/ssh-host.ts). The contract suite, with a mount made by hand on the
 * host as the drift (an existing machine's mounts are not Lab's to change: reconciles false),
 * then the lifecycle through the built `lab`: adopt, in sync, drift in diff and get servers,
 * sync refused with the reason, a pinned host key that no longer matches, destroy = let go.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { type ResourceSpec, SshProvider } from "@lab/providers";
import { providerContract } from "@lab/providers/contract";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labAsyncIn, tempHome } from "../support/cli.js";
import { startTestHost, type TestHost } from "../support/ssh-host.js";

const SIZES = { small: { abstract: { cores: 1, memory: "256MB" }, providers: { ssh: { min_cores: 1 } } } };

function spec(name: string, host: string): ResourceSpec {
  return {
    name,
    provider: "ssh",
    labels: [],
    size: "small",
    sizing: { cores: 1, memoryMiB: 256, diskMiB: null, instanceType: null, atLeast: true },
    image: null,
    host,
    mac: null,
    mounts: [],
    attributes: {},
    power: null,
  };
}

/** Whether sshd on the host answers: its banner on a plain TCP connection, not through the provider. */
function answers(h: TestHost): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: h.ip, port: h.port });
    sock.setTimeout(5000, () => sock.destroy());
    sock.once("data", (b) => {
      sock.destroy();
      resolve(b.toString("latin1").startsWith("SSH-2.0-"));
    });
    sock.once("error", () => resolve(false));
    sock.once("close", () => resolve(false));
  });
}

providerContract("ssh (Debian sshd in a chroot, own network namespace)", async () => {
  const host = await startTestHost({ prefix: "pssh" });
  const home = tempHome("lab-pssh-");
  const make = (port = 22) =>
    new SshProvider({
      statePath: join(home, "providers", "ssh-hosts.json"),
      identityFile: host.identityFile,
      port,
      timeoutMs: 10_000,
      sizes: SIZES,
    });
  return {
    provider: make(),
    spec: spec("host-1", host.ip),
    creates: false,
    exists: () => answers(host),
    drift: async () => {
      const r = await host.execInChroot("mkdir -p /srv/by-hand && mount -t tmpfs by-hand /srv/by-hand");
      expect(r.code, r.stderr).toBe(0);
    },
    driftFields: ["extra_mount"],
    reconciles: false,
    destroyRemoves: false,
    // Port 1 on the same address: the host is there, nothing listens.
    unreachable: () => make(1),
    cleanup: () => host.stop(),
  };
});

describe("lab apply|diff|sync|destroy server on an existing machine over SSH", () => {
  let host: TestHost;
  let home: string;
  let lab: ReturnType<typeof labAsyncIn>;
  beforeAll(async () => {
    host = await startTestHost({ prefix: "pssh" });
    home = tempHome("lab-pssh-cli-");
    lab = labAsyncIn(home, { LAB_SSH_IDENTITY_FILE: host.identityFile });
    const model = join(home, "model.yaml");
    writeFileSync(
      model,
      "labels:\n  db: {size: small}\nsizes:\n  small:\n    abstract: {cores: 1, memory: 256MB}\n    providers:\n      ssh: {min_cores: 1, min_memory: 256MB}\n",
    );
    expect((await lab(["apply", "-f", model])).code).toBe(0);
  });
  afterAll(async () => {
    await host?.stop();
  });

  it("plans the adoption: nothing created, the host key to pin", async () => {
    const r = await lab(["plan", "server", "db-1", "--label", "db", "--provider", "ssh", "--host", host.ip]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain(
      `+ adopt root@${host.ip}:22 as db-1: pin host key ${host.hostKeyFingerprint} (nothing is installed or changed on it)`,
    );
    expect(r.stdout).toContain("Plan: 1 to create, 0 to change, 0 to destroy.");
    expect(JSON.parse((await lab(["get", "servers", "-o", "json"])).stdout)).toEqual([]);
  });

  it("applies: adopted, and SYNC says sync from what the machine reported", async () => {
    const r = await lab([
      "apply",
      "server",
      "db-1",
      "--label",
      "db",
      "--provider",
      "ssh",
      "--host",
      host.ip,
      "--yes",
    ]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain(`→ ssh: adopted db-1: host key ${host.hostKeyFingerprint} pinned`);
    expect(r.stdout).toContain("✓ db-1: in sync (provider ssh, Debian GNU/Linux 12 over SSH, adopted)");
    const record = JSON.parse(readFileSync(join(home, "providers/ssh-hosts.json"), "utf8"));
    expect(record.hosts).toEqual([
      expect.objectContaining({ name: "db-1", host: host.ip, port: 22, hostKey: host.hostKeyFingerprint }),
    ]);
    expect((await lab(["get", "servers"])).stdout).toMatch(/db-1\s+ssh\s+db\s+small\s+sync\s/);
  });

  it("diff reports the machine's own numbers: its cores and memory as /proc says", async () => {
    const r = await lab(["diff", "server", "db-1", "-o", "json"]);
    const d = JSON.parse(r.stdout);
    const cpus = (await host.execInChroot("grep -c ^processor /proc/cpuinfo")).stdout.trim();
    const memKiB = Number(
      /MemTotal:\s+(\d+)/.exec((await host.execInChroot("cat /proc/meminfo")).stdout)?.[1],
    );
    expect(d.observed.cores).toBeLessThanOrEqual(Number(cpus));
    expect(d.observed.cores).toBeGreaterThan(0);
    expect(d.observed.memoryMiB).toBe(Math.round((memKiB * 1024) / 2 ** 20));
    expect(d.observed.network.flatMap((n: { ipv4: string[] }) => n.ipv4)).toContain(host.ip);
    expect(d.differences).toEqual([]);
  });

  it("a mount made by hand is drift; sync refuses it and says why", async () => {
    const m = await host.execInChroot("mkdir -p /mnt/scratch && mount -t tmpfs scratch /mnt/scratch");
    expect(m.code, m.stderr).toBe(0);
    const d = await lab(["diff", "server", "db-1"]);
    expect(d.stdout).toContain("+ extra_mount: /mnt/scratch ← unmanaged, not in spec");
    expect((await lab(["get", "servers"])).stdout).toMatch(/db-1\s+ssh\s+db\s+small\s+drift\s/);
    const s = await lab(["sync", "server", "db-1", "--yes"]);
    expect(s.code).toBe(1);
    expect(s.stdout).toContain(
      "! extra mount: — ≠ /mnt/scratch (not changed: an existing machine is changed by hand",
    );
    expect(s.stderr).toContain("LAB_E_PROVIDER_UNSUPPORTED: db-1: provider ssh cannot reconcile extra_mount");
  });

  it("declaring the mount in the spec makes it in sync again", async () => {
    const model = join(home, "db-1.yaml");
    writeFileSync(
      model,
      `servers:\n  db-1: {provider: ssh, labels: [db], host: "${host.ip}", mounts: [/mnt/scratch]}\n`,
    );
    expect((await lab(["apply", "-f", model])).code).toBe(0);
    const d = await lab(["diff", "server", "db-1"]);
    expect(d.stdout).toContain("✓ in sync");
    await host.execInChroot("umount /mnt/scratch");
    expect((await lab(["diff", "server", "db-1"])).stdout).toContain(
      "- mount: /mnt/scratch ← in spec, not observed",
    );
  });

  it("a host key other than the pinned one is refused, not compared", async () => {
    const path = join(home, "providers/ssh-hosts.json");
    const before = readFileSync(path, "utf8");
    const other = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    writeFileSync(path, before.replace(host.hostKeyFingerprint, other));
    const r = await lab(["diff", "server", "db-1"]);
    writeFileSync(path, before);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `LAB_E_SSH_HOST_KEY: the host key of ${host.ip}:22 is ${host.hostKeyFingerprint}, not the pinned ${other}`,
    );
    expect((await lab(["get", "servers"])).stdout).toMatch(/db-1\s+ssh\s+db\s+small\s+failed\s/);
  });

  it("destroy lets go: the record is gone, the machine still answers", async () => {
    const r = await lab(["destroy", "server", "db-1", "--yes"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain(
      "→ ssh: let go of db-1: Lab no longer holds its host key; the machine itself is left as it is",
    );
    expect(JSON.parse(readFileSync(join(home, "providers/ssh-hosts.json"), "utf8")).hosts).toEqual([]);
    expect(await answers(host)).toBe(true);
    expect(JSON.parse((await lab(["get", "servers", "-o", "json"])).stdout)).toEqual([]);
  });
});
