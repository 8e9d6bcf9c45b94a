/**
 * The libvirt provider against a real libvirt daemon (a private session daemon as `nobody`,
 * TCG QEMU): the contract suite, then the whole lifecycle through the built `lab` — a VM
 * planned, applied, drifted by hand (virsh setmem, attach-disk), shown as drift in `lab diff`
 * and `lab get servers`, synced and destroyed.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { LibvirtProvider, type ResourceSpec } from "@lab/providers";
import { providerContract } from "@lab/providers/contract";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labAsyncIn, tempHome } from "../support/cli.js";
import { type LibvirtSession, startLibvirtSession } from "../support/libvirt-session.js";

const SIZES = { tiny: { abstract: { cores: 1, memory: "64MB", disk: "64MB" } } };

function spec(name: string): ResourceSpec {
  return {
    name,
    provider: "libvirt",
    labels: [],
    size: "tiny",
    sizing: { cores: 1, memoryMiB: 64, diskMiB: 64, instanceType: null, atLeast: false },
    image: null,
    host: null,
    mac: null,
    mounts: [],
    attributes: {},
    power: null,
  };
}

providerContract("libvirt (private session libvirtd, TCG)", async () => {
  const lv = await startLibvirtSession();
  const name = `lab16a-c${process.pid}`;
  const provider = new LibvirtProvider({ uri: lv.uri, pool: lv.pool, sizes: SIZES });
  const exists = async () => lv.virsh("list", "--all", "--name").split("\n").includes(name);
  return {
    provider,
    spec: spec(name),
    creates: true,
    exists,
    drift: async () => {
      lv.virsh("setmaxmem", name, "96M", "--config");
      lv.virsh("setmem", name, "96M", "--config");
      lv.virsh("vol-create-as", lv.pool, "extra.raw", "32M", "--format", "raw");
      lv.virsh("attach-disk", name, join(lv.dir, "pool/extra.raw"), "vdb", "--config");
    },
    driftFields: ["memory", "extra_disk"],
    reconciles: true,
    destroyRemoves: true,
    unreachable: () => new LibvirtProvider({ uri: `qemu+unix:///session?socket=${lv.dir}/nothing-here` }),
    cleanup: () => lv.stop(),
  };
});

describe("lab plan|apply|diff|sync|destroy server on libvirt", () => {
  let lv: LibvirtSession;
  let lab: ReturnType<typeof labAsyncIn>;
  const name = "web-1";
  beforeAll(async () => {
    lv = await startLibvirtSession();
    const home = tempHome("lab-h16a-");
    lab = labAsyncIn(home, { LAB_LIBVIRT_URI: lv.uri, LAB_LIBVIRT_POOL: lv.pool });
    const model = join(home, "model.yaml");
    writeFileSync(
      model,
      "labels:\n  web: {size: tiny}\nsizes:\n  tiny:\n    abstract: {cores: 1, memory: 64MB, disk: 64MB}\n    providers:\n      libvirt: {cores: 1, memory: 64MB, disk: 64MB}\n",
    );
    expect((await lab(["apply", "-f", model])).code).toBe(0);
  });
  afterAll(async () => {
    await lv?.stop();
  });

  it("plans a VM from the label's size, touching nothing", async () => {
    const r = await lab(["plan", "server", name, "--label", "web", "--provider", "libvirt"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("+ volume web-1-system.raw 64MB in pool lab");
    expect(r.stdout).toContain("+ domain web-1: 1 vCPU, 64MB");
    expect(r.stdout).toContain("Plan: 3 to create, 0 to change, 0 to destroy.");
    expect(lv.virsh("list", "--all", "--name")).not.toContain(name);
    expect(JSON.parse((await lab(["get", "servers", "-o", "json"])).stdout)).toEqual([]);
  });

  it("refuses to apply without a terminal unless --yes", async () => {
    const r = await lab(["apply", "server", name, "--label", "web", "--provider", "libvirt"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("LAB_E_NOT_CONFIRMED");
    expect(lv.virsh("list", "--all", "--name")).not.toContain(name);
  });

  it("applies: the VM runs with the size's memory and disk, and SYNC says sync", async () => {
    const r = await lab(["apply", "server", name, "--label", "web", "--provider", "libvirt", "--yes"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("→ libvirt: starting web-1");
    expect(r.stdout).toContain("✓ web-1: in sync (provider libvirt, domain running)");
    expect(lv.virsh("domstate", name)).toBe("running");
    expect(lv.virsh("dominfo", name)).toMatch(/Max memory:\s+65536 KiB/);
    expect((await lab(["get", "servers"])).stdout).toMatch(/web-1\s+libvirt\s+web\s+tiny\s+sync\s/);
  });

  it("a change by hand shows as drift in diff, get servers and the event log", async () => {
    lv.virsh("setmaxmem", name, "96M", "--config");
    lv.virsh("setmem", name, "96M", "--config");
    lv.virsh("vol-create-as", lv.pool, "by-hand.raw", "32M", "--format", "raw");
    lv.virsh("attach-disk", name, join(lv.dir, "pool/by-hand.raw"), "vdb", "--config");
    const d = await lab(["diff", "server", name]);
    expect(d.stdout).toContain(
      "size: tiny\ndisk: 64MB\n~ memory: 96MB ← spec says 64MB\n+ extra_disk: vdb 32MB ← unmanaged, not in spec\n",
    );
    expect((await lab(["get", "servers"])).stdout).toMatch(/web-1\s+libvirt\s+web\s+tiny\s+drift\s/);
    const events = JSON.parse((await lab(["get", "events", "-o", "json"])).stdout) as {
      action: string;
      summary: string;
    }[];
    expect(events.find((e) => e.action === "drift")?.summary).toBe(
      "web-1: drift (provider libvirt): 2 differences: memory, extra_disk",
    );
    const json = JSON.parse((await lab(["describe", "server", name, "-o", "json"])).stdout);
    expect(json.status.sync).toEqual({ state: "warning", text: "drift" });
  });

  it("sync reconciles it: memory back, the unmanaged disk detached, SYNC back to sync", async () => {
    const r = await lab(["sync", "server", name, "--yes"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("~ memory: 96MB → 64MB");
    expect(r.stdout).toContain("- extra disk vdb 32MB");
    expect(r.stdout).toContain("✓ web-1: in sync");
    expect(lv.virsh("domblklist", name)).not.toContain("vdb");
    expect(lv.virsh("dumpxml", "--inactive", name)).toContain(
      "<currentMemory unit='KiB'>65536</currentMemory>",
    );
    expect((await lab(["get", "servers"])).stdout).toMatch(/web-1\s+libvirt\s+web\s+tiny\s+sync\s/);
  });

  it("destroys the VM and its volume, then the server", async () => {
    const r = await lab(["destroy", "server", name, "--yes"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("✓ web-1 destroyed");
    expect(lv.virsh("list", "--all", "--name")).not.toContain(name);
    expect(lv.virsh("vol-list", lv.pool)).not.toContain("web-1-system.raw");
    expect(JSON.parse((await lab(["get", "servers", "-o", "json"])).stdout)).toEqual([]);
  });
});
