/**
 * Which report of itself a bare-metal machine is compared by (discovery record or the installed
 * system's agent), and what a provisioner that does not answer becomes. The provisioner and the
 * agents here are in-memory stand-ins (named as such); the real peers are in
 * test/e2e/providers-baremetal.test.ts.
 */
import type { Hardware } from "@lab/core";
import { LabError } from "@lab/core";
import { describe, expect, it } from "vitest";
import { type BaremetalAgent, type BaremetalMachine, BaremetalProvider } from "./baremetal.js";
import type { ResourceSpec } from "./types.js";

const MAC = "52:54:00:00:00:01";
const GiB = 2 ** 30;

const hardware = (cores: number, memoryBytes: number): Hardware =>
  ({
    arch: "x86_64",
    firmware: "bios",
    cpu: { model: "QEMU", cores, threads: cores, sockets: 1 },
    memoryBytes,
    disks: [{ name: "vda", type: "virtual", sizeBytes: 64 * 2 ** 20, removable: false }],
    nics: [{ name: "eth0", mac: MAC, ipv4: [] }],
    gpus: [],
    system: {},
    warnings: [],
  }) as unknown as Hardware;

const spec: ResourceSpec = {
  name: "vm-1",
  provider: "baremetal",
  labels: [],
  size: "metal",
  sizing: { cores: 2, memoryMiB: 1024, diskMiB: null, instanceType: null, atLeast: true },
  image: { name: "lab-vm", ref: null },
  host: null,
  mac: MAC,
  mounts: [],
  attributes: {},
  power: null,
};

/** An in-memory stand-in for the provisioner (one machine) and the agents. */
function provider(machine: BaremetalMachine, agent?: BaremetalAgent, down = false): BaremetalProvider {
  const refuse = () =>
    Promise.reject(Object.assign(new Error("connect ECONNREFUSED 10.0.0.1:7443"), { code: "ECONNREFUSED" }));
  return new BaremetalProvider({
    machines: async () => ({
      list: async () => (down ? refuse() : [machine]),
      find: async () => (down ? refuse() : machine),
      enlist: async () => machine,
      install: async () => machine,
      forget: async () => machine,
    }),
    power: async () => ({ act: async () => ({ state: "off", detail: "" }) }),
    agents: async () => ({ find: async () => agent }),
  });
}

const installed: BaremetalMachine = {
  mac: MAC,
  name: "vm-1",
  state: "INSTALLED",
  reason: null,
  image: "lab-vm",
  stage: "complete",
  hardware: hardware(2, GiB),
  updatedAt: "2026-01-01T10:00:00.000Z",
};

describe("baremetal: the freshest report of the machine", () => {
  it("compares the discovery record while no agent reported after the install", async () => {
    const stale: BaremetalAgent = {
      facts: { cpus: 1, memoryBytes: 512 * 2 ** 20 },
      lastSeenAt: "2026-01-01T09:00:00.000Z",
      revokedAt: null,
    };
    const d = await provider(installed, stale).diff(spec);
    expect(d.differences).toEqual([]);
    expect(d.observed?.detail).toContain("as its discovery boot reported it");
  });

  it("compares the agent's facts once it connected after the install", async () => {
    const fresh: BaremetalAgent = {
      facts: { cpus: 1, memoryBytes: 700 * 2 ** 20 },
      lastSeenAt: "2026-01-01T11:00:00.000Z",
      revokedAt: null,
    };
    const d = await provider(installed, fresh).diff(spec);
    expect(d.differences.map((x) => [x.field, x.observed, typeof x.reconcile])).toEqual([
      ["cores", "1", "string"],
      ["memory", "700MB", "string"],
    ]);
    expect(d.observed?.detail).toContain(
      "hardware as vm-1's agent reported it (connected 2026-01-01T11:00:00.000Z)",
    );
  });

  it("ignores a revoked agent and a machine not installed yet", async () => {
    const fresh = { facts: { cpus: 1, memoryBytes: GiB / 2 }, lastSeenAt: "2026-01-01T11:00:00.000Z" };
    expect(
      (await provider(installed, { ...fresh, revokedAt: "2026-01-01T12:00:00.000Z" }).diff(spec)).differences,
    ).toEqual([]);
    const queued = { ...installed, state: "INSTALL_QUEUE" as const };
    expect((await provider(queued, { ...fresh, revokedAt: null }).diff(spec)).differences).toEqual([]);
  });

  it("a provisioner that does not answer is LAB_E_PROVIDER_UNREACHABLE, saying what was asked", async () => {
    const e = await provider(installed, undefined, true)
      .get(spec)
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LabError);
    expect((e as LabError).code).toBe("LAB_E_PROVIDER_UNREACHABLE");
    expect((e as LabError).message).toBe(
      "baremetal: the provisioner did not answer: connect ECONNREFUSED 10.0.0.1:7443",
    );
  });

  it("cycles without a next boot when the driver cannot choose one (QMP, a relay)", async () => {
    let m: BaremetalMachine = { ...installed, state: "DISCOVERED" };
    const acts: string[] = [];
    const p = new BaremetalProvider({
      machines: async () => ({
        list: async () => [m],
        find: async () => m,
        enlist: async () => m,
        install: async () => {
          m = { ...m, state: "INSTALLED" };
          return m;
        },
        forget: async () => m,
      }),
      power: async () => ({
        act: async (_name, action, nextBoot) => {
          acts.push(`${action}${nextBoot ? ` ${nextBoot}` : ""}`);
          if (nextBoot)
            throw new LabError(
              "LAB_E_POWER_UNSUPPORTED",
              "the qmp driver of vm-1 cannot set the next boot to pxe",
            );
          return { state: "on", detail: "running" };
        },
      }),
    });
    const lines: string[] = [];
    await p.apply({ ...spec, power: { driver: "qmp" } }, (l) => lines.push(l));
    expect(acts).toEqual(["cycle pxe", "cycle"]);
    expect(lines.join("\n")).toContain("its driver cannot choose the next boot");
  });
});
