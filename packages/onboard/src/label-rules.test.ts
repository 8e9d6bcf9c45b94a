import { type Hardware, HardwareSchema, isLabError } from "@lab/core";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { amdGpu, type Fixture, gb10, virtioVm, x86Nvidia } from "./detect.fixtures.js";
import { detectHardware } from "./detect.js";
import { SECTIONS } from "./detect-script.js";
import {
  defaultLabelRules,
  type LabelRule,
  LabelRuleSchema,
  nominalMemoryGB,
  parseLabelRules,
  suggestLabels,
} from "./label-rules.js";

async function hw(fx: Fixture): Promise<Hardware> {
  return detectHardware(async (script) => {
    const nonce = /^N='(@@LAB-[0-9a-f]{16})'$/m.exec(script)?.[1] ?? "";
    let stdout = "";
    for (const name of SECTIONS) {
      const v = fx[name] ?? { text: "", code: 127 };
      const { text, code } = typeof v === "string" ? { text: v, code: 0 } : v;
      stdout += `${nonce}:BEGIN ${name}\n${text}\n${nonce}:END ${name} ${code}\n`;
    }
    return { stdout, stderr: "", code: 0 };
  });
}

const base: Hardware = HardwareSchema.parse({
  arch: "x86_64",
  cpu: { model: "Intel(R) Xeon(R) E-2236", cores: 6, threads: 12 },
  memoryBytes: 32 * 2 ** 30,
});

describe("suggestLabels with the default rules", () => {
  const cases: { name: string; fx: Fixture; want: [string, string][] }[] = [
    {
      name: "x86 server with A100s, 1 TB, NVMe, 25GbE",
      fx: x86Nvidia,
      want: [
        ["cuda", "GPU: 2x NVIDIA A100-SXM4-80GB"],
        ["high-memory", "RAM: 1024 GB"],
        ["storage", "Disk: 2x NVMe 1.92 TB (3.84 TB total)"],
        ["compute", "CPU: AMD EPYC 7763 64-Core Processor (x86_64, 128 cores)"],
        ["high-bandwidth", "NIC: 2x 25GbE"],
      ],
    },
    {
      name: "DGX Spark (GB10): 128 GB shows as ~120 GiB but is sold as 128 GB",
      fx: gb10,
      want: [
        ["cuda", "GPU: NVIDIA GB10"],
        ["high-memory", "RAM: 128 GB"],
        ["arm", "Arch: aarch64"],
        ["storage", "Disk: NVMe 4 TB"],
        ["high-bandwidth", "NIC: 200GbE"],
      ],
    },
    {
      name: "AMD GPU box",
      fx: amdGpu,
      want: [["rocm", "GPU: AMD Radeon RX 7900 XT/7900 XTX, AMD Instinct MI300X"]],
    },
    { name: "small VM: nothing", fx: virtioVm, want: [] },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      expect(suggestLabels(await hw(c.fx)).map((s) => [s.label, s.reason])).toEqual(c.want);
    });
  }
});

describe("suggestLabels with model rules", () => {
  it("all conditions of a rule must hold; a label comes once, from its first matching rule", () => {
    const rules: LabelRule[] = [
      {
        label: "ai-training",
        when: { gpuVendor: "nvidia", minMemoryGB: 512 },
        reason: "big GPU boxes train",
      },
      { label: "ai-inference", when: { gpuVendor: "nvidia" } },
      { label: "ai-training", when: { minCores: 1 } },
      { label: "arm", when: { arch: "arm64" } },
    ];
    const x = HardwareSchema.parse({
      ...base,
      memoryBytes: 1000 * 2 ** 30,
      gpus: [{ vendor: "nvidia", model: "NVIDIA H100 80GB HBM3" }],
    });
    expect(suggestLabels(x, rules)).toEqual([
      { label: "ai-training", reason: "GPU: NVIDIA H100 80GB HBM3; RAM: 1024 GB (big GPU boxes train)" },
      { label: "ai-inference", reason: "GPU: NVIDIA H100 80GB HBM3" },
    ]);
    // arm64 in a rule matches aarch64 from uname.
    expect(suggestLabels({ ...x, arch: "aarch64" }, rules).map((s) => s.label)).toEqual([
      "ai-training",
      "ai-inference",
      "arm",
    ]);
  });

  it("minDiskTB without diskType counts fixed disks only", () => {
    const rules: LabelRule[] = [{ label: "bulk", when: { minDiskTB: 10 } }];
    const disks = [
      { name: "sda", type: "hdd", sizeBytes: 8e12, removable: false },
      { name: "sdb", type: "usb", sizeBytes: 4e12, removable: true },
    ] as const;
    expect(suggestLabels({ ...base, disks: [...disks] }, rules)).toEqual([]);
    expect(suggestLabels({ ...base, disks: [...disks, { ...disks[0], name: "sdc" }] }, rules)).toEqual([
      { label: "bulk", reason: "Disk: 2x HDD 8 TB (16 TB total)" },
    ]);
  });

  it("thresholds are inclusive and NIC speeds without a link do not count", () => {
    const rules: LabelRule[] = [
      { label: "c", when: { minCores: 6 } },
      { label: "n", when: { nicMinSpeedGbps: 10 } },
    ];
    const nics = [
      { name: "eth0", ipv4: [] },
      { name: "eth1", speedMbps: 10000, ipv4: [] },
    ];
    expect(suggestLabels({ ...base, nics }, rules).map((s) => s.label)).toEqual(["c", "n"]);
    expect(
      suggestLabels({ ...base, nics: [nics[0] ?? { name: "x", ipv4: [] }] }, rules).map((s) => s.label),
    ).toEqual(["c"]);
  });
});

describe("nominalMemoryGB", () => {
  const cases: [string, number, number][] = [
    ["128 GB machine reporting 119.8 GiB", 125669324 * 1024, 128],
    ["24 GiB VM", 24683656 * 1024, 24],
    ["100 GiB VM is not rounded up to 128", 100 * 2 ** 30, 100],
    ["exactly 64 GiB", 64 * 2 ** 30, 64],
  ];
  for (const [name, bytes, want] of cases) it(name, () => expect(nominalMemoryGB(bytes)).toBe(want));
});

describe("label_rules schema", () => {
  it("accepts the YAML form and the defaults", () => {
    const yaml = `
- label: cuda
  when: { gpuVendor: nvidia }
  reason: CUDA toolkit needs an NVIDIA GPU
- label: big-iron
  when: { minMemoryGB: 512, minCores: 64, arch: x86_64 }
`;
    expect(parseLabelRules(parseYaml(yaml))).toHaveLength(2);
    for (const r of defaultLabelRules) expect(LabelRuleSchema.parse(r)).toEqual(r);
  });

  const bad: [string, unknown, RegExp][] = [
    ["empty when", [{ label: "x", when: {} }], /at least one condition/],
    ["unknown condition", [{ label: "x", when: { gpuVendr: "nvidia" } }], /label_rules\[0\]\.when/],
    ["bad vendor", [{ label: "x", when: { gpuVendor: "matrox" } }], /gpuVendor/],
    ["bad label name", [{ label: "-x", when: { minCores: 2 } }], /label_rules\[0\]\.label/],
    ["negative memory", [{ label: "x", when: { minMemoryGB: -1 } }], /minMemoryGB must be above 0/],
    ["not a list", { label: "x" }, /label_rules/],
  ];
  for (const [name, input, msg] of bad) {
    it(`rejects ${name}`, () => {
      try {
        parseLabelRules(input);
        throw new Error("accepted");
      } catch (e) {
        expect(isLabError(e) && e.code).toBe("LAB_E_INVALID");
        expect((e as Error).message).toMatch(msg);
      }
    });
  }
});
