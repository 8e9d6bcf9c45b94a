import { describe, expect, it } from "vitest";
import { compare, planFrom } from "./compare.js";
import { formatDiff, formatPlan } from "./print.js";
import type { ObservedResource, ResourceSpec } from "./types.js";
import { formatMiB, toMiB } from "./units.js";

const spec = (over: Partial<ResourceSpec> = {}): ResourceSpec => ({
  name: "db-1",
  provider: "libvirt",
  labels: [],
  size: "large",
  sizing: { cores: 2, memoryMiB: 1024, diskMiB: 4096, instanceType: null, atLeast: false },
  image: null,
  host: null,
  mac: null,
  mounts: [],
  attributes: {},
  power: null,
  ...over,
});
const seen = (over: Partial<ObservedResource> = {}): ObservedResource => ({
  id: "db-1",
  name: "db-1",
  provider: "libvirt",
  state: "running",
  cores: 2,
  memoryMiB: 1024,
  instanceType: null,
  disks: [{ name: "vda", sizeMiB: 4096 }],
  mounts: [],
  network: [],
  detail: "domain running",
  ...over,
});
const all = { cores: true, memory: true, disk: true, extra_disk: true, why: "cannot" };

describe("units", () => {
  it.each([
    ["8GB", 8192],
    ["512MB", 512],
    ["8192MB", 8192],
    ["2TB", 2 * 1024 * 1024],
    [8, 8192],
    ["500GB NVMe", 512000],
    ["1.5G", 1536],
  ] as const)("%s is %i MiB", (q, mib) => expect(toMiB(q)).toBe(mib));
  it("refuses what is not a size, with a code", () => {
    expect(() => toMiB("lots")).toThrow(expect.objectContaining({ code: "LAB_E_PROVIDER_SIZE" }));
  });
  it("prints as the design does", () => {
    expect([formatMiB(65536), formatMiB(512), formatMiB(1536), formatMiB(null)]).toEqual([
      "64GB",
      "512MB",
      "1.5GB",
      "—",
    ]);
  });
});

describe("compare", () => {
  const cases: {
    name: string;
    spec?: Partial<ResourceSpec>;
    seen: Partial<ObservedResource>;
    fields: string[];
  }[] = [
    { name: "identical", seen: {}, fields: [] },
    { name: "memory changed by hand", seen: { memoryMiB: 2048 }, fields: ["memory"] },
    {
      name: "a disk attached outside Lab",
      seen: {
        disks: [
          { name: "vda", sizeMiB: 4096 },
          { name: "vdb", sizeMiB: 32 },
        ],
      },
      fields: ["extra_disk"],
    },
    { name: "an unmanaged mount", seen: { mounts: ["/data"] }, fields: ["extra_mount"] },
    { name: "a declared mount missing", spec: { mounts: ["/srv"] }, seen: {}, fields: ["mount"] },
    {
      name: "a physical machine with more than the size asks meets it",
      spec: { sizing: { cores: 4, memoryMiB: 8192, diskMiB: null, instanceType: null, atLeast: true } },
      seen: {
        cores: 16,
        memoryMiB: 7800,
        disks: [
          { name: "nvme0n1", sizeMiB: 1 },
          { name: "sda", sizeMiB: 9 },
        ],
      },
      fields: [],
    },
    {
      name: "a physical machine with fewer cores does not",
      spec: { sizing: { cores: 4, memoryMiB: null, diskMiB: null, instanceType: null, atLeast: true } },
      seen: { cores: 2 },
      fields: ["cores"],
    },
    {
      name: "an instance type changed in the console",
      spec: {
        sizing: { cores: null, memoryMiB: null, diskMiB: null, instanceType: "t3.large", atLeast: false },
      },
      seen: { instanceType: "t3.small" },
      fields: ["instance_type"],
    },
    {
      name: "a host address on no interface",
      spec: { host: "10.0.0.5" },
      seen: { network: [{ name: "eth0", mac: null, ipv4: ["10.0.0.9/24"] }] },
      fields: ["network"],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const d = compare(spec(c.spec), seen(c.seen), all);
      expect(d.differences.map((x) => x.field)).toEqual(c.fields);
    });
  }

  it("plans a create when the provider has nothing, a sync when it differs, nothing when it matches", () => {
    const s = spec();
    expect(planFrom(s, compare(s, null, all), [{ op: "create", what: "vm" }]).action).toBe("create");
    const drift = planFrom(
      s,
      compare(
        s,
        seen({
          memoryMiB: 2048,
          disks: [
            { name: "vda", sizeMiB: 4096 },
            { name: "vdb", sizeMiB: 32 },
          ],
        }),
        all,
      ),
      [],
    );
    expect(drift.action).toBe("sync");
    expect(formatPlan(drift)).toBe(
      [
        "Plan for server db-1 (provider libvirt):",
        "  ~ memory: 2GB → 1GB",
        "  - extra disk vdb 32MB",
        "Plan: 0 to create, 1 to change, 1 to destroy.",
        "",
      ].join("\n"),
    );
    expect(planFrom(s, compare(s, seen(), all), []).action).toBe("none");
  });

  it("keeps what the provider cannot reconcile out of the steps, with the reason", () => {
    const s = spec();
    const plan = planFrom(
      s,
      compare(s, seen({ mounts: ["/data"] }), { why: "changed on the machine itself" }),
      [],
    );
    expect(plan.steps).toEqual([]);
    expect(plan.unreconcilable[0]).toMatchObject({
      field: "extra_mount",
      reconcile: "changed on the machine itself",
    });
  });

  it("prints the design's diff", () => {
    const d = compare(spec(), seen({ disks: [{ name: "nvme0n1", sizeMiB: 4096 }], mounts: ["/data"] }), all);
    expect(formatDiff(d, undefined, "large")).toBe(
      "size: large\ndisk: 4GB\n+ extra_mount: /data ← unmanaged, not in spec\n",
    );
  });
});
