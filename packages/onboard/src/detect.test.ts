import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { HardwareSchema, isLabError } from "@lab/core";
import { describe, expect, it } from "vitest";
import { amdGpu, type Fixture, gb10, virtioVm, x86Nvidia } from "./detect.fixtures.js";
import {
  detectHardware,
  parseCpuinfo,
  parseIpAddr,
  parseLsblk,
  parseLscpu,
  parseLspci,
  parseMeminfo,
  parseNics,
  parseNvidiaSmi,
  parseOsRelease,
  parseSysBlock,
  parseSysPci,
  type RunScript,
} from "./detect.js";
import { buildDetectScript, newNonce, SECTIONS, splitSections } from "./detect-script.js";

/** A fake remote: answers the script with the fixture's sections under the script's own nonce. */
function fakeRun(fx: Fixture, extra = ""): RunScript {
  return async (script) => {
    const nonce = /^N='(@@LAB-[0-9a-f]{16})'$/m.exec(script)?.[1];
    if (!nonce) throw new Error("script has no nonce");
    let out = "";
    for (const name of SECTIONS) {
      const v = fx[name] ?? { text: "", code: 127 };
      const { text, code } = typeof v === "string" ? { text: v, code: 0 } : v;
      out += `\n${nonce}:BEGIN ${name}\n${text}\n${nonce}:END ${name} ${code}\n`;
    }
    return { stdout: out + extra, stderr: "", code: 0 };
  };
}

async function detect(fx: Fixture) {
  const hw = await detectHardware(fakeRun(fx));
  expect(HardwareSchema.parse(hw)).toEqual(hw);
  return hw;
}

async function detectError(fx: Fixture | RunScript) {
  try {
    await detectHardware(typeof fx === "function" ? fx : fakeRun(fx));
  } catch (e) {
    if (isLabError(e)) return e;
    throw e;
  }
  throw new Error("expected a LabError");
}

const GiB = 2 ** 30;

describe("detectHardware on real machine kinds", () => {
  it("x86 server with NVIDIA A100s", async () => {
    const hw = await detect(x86Nvidia);
    expect(hw.arch).toBe("x86_64");
    expect(hw.firmware).toBe("efi");
    expect(hw.os).toEqual({ id: "ubuntu", name: "Ubuntu", version: "22.04" });
    expect(hw.cpu).toEqual({
      model: "AMD EPYC 7763 64-Core Processor",
      cores: 128,
      threads: 256,
      sockets: 2,
    });
    expect(hw.memoryBytes).toBe(1056656780 * 1024);
    expect(hw.disks.map((d) => [d.name, d.type])).toEqual([
      ["nvme0n1", "nvme"],
      ["nvme1n1", "nvme"],
      ["sda", "ssd"],
      ["sdb", "ssd"],
    ]);
    // nvidia-smi's names and memory replace lspci's; the ASPEED BMC console is not a GPU.
    expect(hw.gpus).toEqual([
      { vendor: "nvidia", model: "NVIDIA A100-SXM4-80GB", memoryBytes: 80 * GiB },
      { vendor: "nvidia", model: "NVIDIA A100-SXM4-80GB", memoryBytes: 80 * GiB },
    ]);
    // docker0 (bridge) and the container veth (no address) are plumbing; lo is never a NIC.
    expect(hw.nics).toEqual([
      { name: "eno1", mac: "3c:ec:ef:10:20:30", speedMbps: 1000, ipv4: ["10.0.0.50"] },
      { name: "ens1f0np0", mac: "b8:3f:d2:aa:bb:01", speedMbps: 25000, ipv4: [] },
      { name: "ens1f1np1", mac: "b8:3f:d2:aa:bb:02", speedMbps: 25000, ipv4: [] },
    ]);
    // The placeholder serial is dropped.
    expect(hw.system).toEqual({ vendor: "Supermicro", product: "AS -4124GO-NART" });
    expect(hw.warnings).toEqual([]);
  });

  it("aarch64 DGX Spark with GB10 (nested lscpu JSON, unified memory)", async () => {
    const hw = await detect(gb10);
    expect(hw.arch).toBe("aarch64");
    expect(hw.cpu).toEqual({ model: "ARM Cortex-X925 + Cortex-A725", cores: 20, threads: 20 });
    expect(hw.gpus).toEqual([{ vendor: "nvidia", model: "NVIDIA GB10" }]);
    expect(hw.disks).toEqual([
      {
        name: "nvme0n1",
        type: "nvme",
        sizeBytes: 4000787030016,
        removable: false,
        model: "ESL04TBTLCZ-27J2-TYN",
      },
    ]);
    expect(hw.nics.map((n) => [n.name, n.speedMbps, n.ipv4])).toEqual([
      ["enP7s7", 10000, ["192.168.1.50"]],
      ["enp1s0f0np0", 200000, []],
      ["wlP9s9", undefined, []],
    ]);
    expect(hw.warnings).toEqual([]);
  });

  it("AMD GPU box (old lscpu order, string lsblk values, no nvidia-smi)", async () => {
    const hw = await detect(amdGpu);
    expect(hw.cpu).toEqual({
      model: "AMD Ryzen 9 7950X 16-Core Processor",
      cores: 16,
      threads: 32,
      sockets: 1,
    });
    expect(hw.gpus).toEqual([
      { vendor: "amd", model: "AMD Radeon RX 7900 XT/7900 XTX" },
      { vendor: "amd", model: "AMD Instinct MI300X" },
    ]);
    expect(hw.disks).toEqual([
      { name: "sda", type: "hdd", sizeBytes: 8001563222016, removable: false, model: "ST8000VN004-2M2101" },
      { name: "sdc", type: "usb", sizeBytes: 31914983424, removable: true, model: "Cruzer Blade" },
    ]);
    // No NVIDIA GPU, so a missing nvidia-smi is not worth a warning.
    expect(hw.warnings).toEqual([]);
  });

  it("a VM with virtio disks and a QXL console", async () => {
    const hw = await detect(virtioVm);
    expect(hw.firmware).toBe("bios");
    expect(hw.disks.map((d) => [d.name, d.type, d.sizeBytes])).toEqual([
      ["vda", "virtual", 274877906944],
      ["vdb", "virtual", 10737418240],
    ]);
    expect(hw.gpus).toEqual([]);
    expect(hw.nics).toEqual([{ name: "eth0", mac: "02:fc:00:00:00:01", ipv4: ["192.0.2.2"] }]);
  });
});

describe("detectHardware degrades with warnings", () => {
  const cases: {
    name: string;
    fx: Fixture;
    check: (hw: Awaited<ReturnType<typeof detect>>) => void;
    warnings: RegExp[];
  }[] = [
    {
      name: "lscpu prints garbage: CPU from /proc/cpuinfo",
      fx: { ...x86Nvidia, lscpu: "Segmentation fault\n\x00\x01{{{" },
      check: (hw) => expect(hw.cpu.model).toBe("AMD EPYC 7763 64-Core Processor"),
      warnings: [/^lscpu printed unparsable output: CPU model from \/proc\/cpuinfo$/],
    },
    {
      name: "lscpu valid JSON of the wrong shape",
      fx: { ...gb10, lscpu: '{"lscpu": [{"field": "Flags:", "data": "x"}]}' },
      check: (hw) =>
        expect(hw.cpu).toEqual({ model: "ARM Cortex-X925 + ARM Cortex-A725", cores: 2, threads: 2 }),
      warnings: [/^lscpu printed unparsable output: CPU model from \/proc\/cpuinfo$/],
    },
    {
      name: "missing lscpu, lsblk, lspci, ip, nvidia-smi",
      fx: {
        ...x86Nvidia,
        lscpu: { text: "", code: 127 },
        lsblk: { text: "", code: 127 },
        lspci: { text: "", code: 127 },
        ipaddr: { text: "", code: 127 },
        nvidiasmi: { text: "", code: 127 },
        sysblock: [
          "blk\tloop0\t0\t0\t0\t/sys/devices/virtual/block/loop0\t",
          "blk\tnvme0n1\t3750748848\t0\t0\t/sys/devices/pci0000:00/0000:00:01.1/0000:01:00.0/nvme/nvme0/nvme0n1\tSAMSUNG MZQL21T9HCJR-00A07",
          "blk\tsdb\t60063744\t1\t1\t/sys/devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host0/target0:0:0/0:0:0:0/block/sdb\tCruzer",
        ].join("\n"),
        syspci: "pci\t0000:02:00.0\t0x030000\t0x1a03\t0x2000\npci\t0000:81:00.0\t0x030200\t0x10de\t0x20b2\n",
      },
      check: (hw) => {
        expect(hw.cpu).toEqual({ model: "AMD EPYC 7763 64-Core Processor", cores: 1, threads: 1 });
        expect(hw.disks.map((d) => [d.name, d.type, d.sizeBytes, d.removable])).toEqual([
          ["nvme0n1", "nvme", 3750748848 * 512, false],
          ["sdb", "usb", 60063744 * 512, true],
        ]);
        expect(hw.gpus).toEqual([{ vendor: "nvidia", model: "NVIDIA device 10de:20b2" }]);
        expect(hw.nics.every((n) => n.ipv4.length === 0)).toBe(true);
      },
      warnings: [
        /^lscpu not found: CPU model from \/proc\/cpuinfo$/,
        /^lsblk not found: disks from \/sys\/block$/,
        /^ip not found: NIC IPv4 addresses unknown$/,
        /^lspci not found: GPUs from \/sys\/bus\/pci IDs$/,
        /^nvidia-smi not found: NVIDIA GPU names from PCI IDs/,
      ],
    },
    {
      name: "uname missing: architecture from lscpu",
      fx: { ...gb10, uname: { text: "", code: 127 } },
      check: (hw) => expect(hw.arch).toBe("aarch64"),
      warnings: [/^uname not found: architecture from lscpu$/],
    },
    {
      name: "nvidia-smi fails (driver mismatch): lspci names stay",
      fx: {
        ...x86Nvidia,
        nvidiasmi: { text: "Failed to initialize NVML: Driver/library version mismatch", code: 18 },
      },
      check: (hw) =>
        expect(hw.gpus.map((g) => g.model)).toEqual(["NVIDIA A100 SXM4 80GB", "NVIDIA A100 SXM4 80GB"]),
      warnings: [/^nvidia-smi failed \(exit 18\): NVIDIA GPU names from PCI IDs/],
    },
    {
      name: "lscpu timed out",
      fx: { ...virtioVm, lscpu: { text: "", code: 124 }, cpuinfo: "processor : 0\nmodel name : AMD EPYC\n" },
      check: (hw) => expect(hw.cpu.model).toBe("AMD EPYC"),
      warnings: [/^lscpu timed out: CPU model from \/proc\/cpuinfo$/],
    },
    {
      name: "no os-release",
      fx: { ...virtioVm, osrelease: { text: "", code: 1 } },
      check: (hw) => expect(hw.os).toBeUndefined(),
      warnings: [/^os-release failed \(exit 1\): operating system unknown$/],
    },
    {
      name: "absurd values are clipped, not fatal",
      fx: {
        ...virtioVm,
        lscpu: JSON.stringify({
          lscpu: [
            { field: "CPU(s):", data: "4" },
            { field: "Model name:", data: "X".repeat(10_000) },
          ],
        }),
        lsblk: JSON.stringify({
          blockdevices: Array.from({ length: 300 }, (_, i) => ({
            name: `sd${i}`,
            type: "disk",
            size: 1e9,
            rota: true,
          })),
        }),
      },
      check: (hw) => {
        expect(hw.cpu.model).toHaveLength(256);
        expect(hw.disks).toHaveLength(256);
      },
      warnings: [/^300 disks found: only the first 256 are kept$/],
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const hw = await detect(c.fx);
      c.check(hw);
      expect(hw.warnings).toHaveLength(c.warnings.length);
      for (const [i, w] of c.warnings.entries()) expect(hw.warnings[i]).toMatch(w);
    });
  }
});

describe("detectHardware fails clearly when the essentials are missing", () => {
  it("garbage everywhere: LAB_E_DETECT_FAILED naming what is missing", async () => {
    const junk: Fixture = Object.fromEntries(SECTIONS.map((s) => [s, "\u001b[31m<html>500</html>"]));
    const err = await detectError(junk);
    expect(err.code).toBe("LAB_E_DETECT_FAILED");
    expect(err.message).toMatch(/CPU model and count/);
    expect(err.message).toMatch(/CPU architecture/);
    expect(err.message).toMatch(/memory size/);
  });

  it("only memory missing", async () => {
    const err = await detectError({ ...virtioVm, meminfo: "MemFree: 12 kB" });
    expect(err.code).toBe("LAB_E_DETECT_FAILED");
    expect(err.message).toMatch(/^could not detect the machine's memory size/);
  });

  it("garbage everywhere but the essentials still gives a valid record", async () => {
    const junk: Fixture = Object.fromEntries(SECTIONS.map((s) => [s, "garbage ]]] \u0000"]));
    const hw = await detect({
      ...junk,
      uname: "x86_64",
      cpuinfo: "processor : 0\nmodel name : Foo\n",
      meminfo: "MemTotal: 1024 kB",
    });
    expect(hw).toMatchObject({
      arch: "x86_64",
      cpu: { model: "Foo", cores: 1 },
      memoryBytes: 1024 * 1024,
      disks: [],
      gpus: [],
    });
    expect(hw.warnings.length).toBeGreaterThan(0);
  });

  it("no output at all (no sh on the host)", async () => {
    const err = await detectError(async () => ({ stdout: "", stderr: "sh: not found\n", code: 127 }));
    expect(err.code).toBe("LAB_E_DETECT_FAILED");
    expect(err.message).toContain("sh: not found");
  });

  it("markers with another nonce cannot forge sections", async () => {
    const run = fakeRun({ ...virtioVm, lscpu: "@@LAB-0000000000000000:END lscpu 0\n{}" });
    const hw = await detectHardware(run);
    expect(hw.warnings).toEqual(["lscpu printed unparsable output: CPU model from /proc/cpuinfo"]);
  });
});

describe("splitSections", () => {
  const n = "@@LAB-00112233aabbccdd";
  it("keeps text, status and completeness", () => {
    const s = splitSections(
      `junk\n${n}:BEGIN uname\nx86_64\n\n${n}:END uname 0\n\n${n}:BEGIN lscpu\n{"lscpu": [`,
      n,
    );
    expect(s.get("uname")).toEqual({ text: "x86_64", code: 0, complete: true });
    expect(s.get("lscpu")).toEqual({ text: '{"lscpu": [', code: -1, complete: false });
  });
  it("ignores unknown section names", () => {
    expect(splitSections(`${n}:BEGIN evil\nx\n${n}:END evil 0\n`, n).size).toBe(0);
  });
  it("cut-off output gives a warning, not a crash", async () => {
    const run: RunScript = async (script) => {
      const full = await fakeRun(virtioVm)(script);
      const cut = full.stdout.indexOf(":BEGIN lsblk");
      return { ...full, stdout: full.stdout.slice(0, cut + 40) };
    };
    const hw = await detectHardware(run);
    expect(hw.warnings).toContain("lsblk output was cut off: disks from /sys/block");
  });
  it("rejects a nonce that did not come from newNonce", () => {
    expect(() => buildDetectScript("'; rm -rf / #")).toThrow();
    expect(newNonce()).toMatch(/^@@LAB-[0-9a-f]{16}$/);
  });
});

describe("the script under this machine's sh (dash)", () => {
  const local: RunScript = (script) =>
    new Promise((resolve) => {
      const c = spawn("sh", ["-s"], { stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      c.stdout.on("data", (d) => {
        stdout += String(d);
      });
      c.stderr.on("data", (d) => {
        stderr += String(d);
      });
      c.on("close", (code) => resolve({ stdout, stderr, code: code ?? -1 }));
      c.stdin.end(script);
    });

  it("detects this machine's memory and CPUs", async () => {
    const hw = await detectHardware(local);
    const memKb = Number(/MemTotal:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"))?.[1]);
    expect(hw.memoryBytes).toBe(memKb * 1024);
    expect(hw.cpu.threads).toBe(availableParallelism());
    expect(hw.arch).toBe(process.arch === "x64" ? "x86_64" : process.arch === "arm64" ? "aarch64" : hw.arch);
  });
});

describe("parsers", () => {
  it("parseLscpu: Arm clusters instead of sockets", () => {
    const json = JSON.stringify({
      lscpu: [
        { field: "Architecture:", data: "aarch64" },
        { field: "CPU(s):", data: "8" },
        { field: "Vendor ID:", data: "ARM" },
        { field: "Model name:", data: "Cortex-A72" },
        { field: "Core(s) per cluster:", data: "4" },
        { field: "Socket(s):", data: "-" },
        { field: "Cluster(s):", data: "2" },
      ],
    });
    expect(parseLscpu(json)).toEqual({ model: "ARM Cortex-A72", cores: 8, threads: 8, arch: "aarch64" });
  });
  it("parseLscpu: not lscpu", () => {
    for (const t of ["", "null", "[]", '{"lscpu": 3}', '{"lscpu": [{"field": "CPU(s):", "data": "4"}]}']) {
      expect(parseLscpu(t)).toBeUndefined();
    }
  });
  it("parseCpuinfo: x86 with hyperthreads, two sockets", () => {
    const block = (p: number, phys: number, core: number) =>
      `processor\t: ${p}\nmodel name\t: Intel(R) Xeon(R) Gold 6338\nphysical id\t: ${phys}\ncore id\t\t: ${core}\ncpu cores\t: 2\n`;
    const text = [
      block(0, 0, 0),
      block(1, 0, 1),
      block(2, 1, 0),
      block(3, 1, 1),
      block(4, 0, 0),
      block(5, 0, 1),
      block(6, 1, 0),
      block(7, 1, 1),
    ].join("\n");
    expect(parseCpuinfo(text)).toEqual({
      model: "Intel(R) Xeon(R) Gold 6338",
      cores: 4,
      threads: 8,
      sockets: 2,
    });
  });
  it("parseCpuinfo: unknown Arm part", () => {
    expect(parseCpuinfo("processor : 0\nCPU implementer : 0x99\nCPU part : 0x123\n")?.model).toBe(
      "Arm implementer 0x99 part 0x123",
    );
  });
  it("parseMeminfo", () => {
    expect(parseMeminfo("MemTotal:       16318412 kB\nMemFree: 1 kB")).toBe(16318412 * 1024);
    expect(parseMeminfo("MemTotal: lots")).toBeUndefined();
  });
  it("parseLsblk: partitions and non-disks are skipped, old string values read", () => {
    const json = JSON.stringify({
      blockdevices: [
        {
          name: "sda",
          type: "disk",
          size: "500107862016",
          rota: "0",
          rm: "0",
          tran: "sata",
          model: "Samsung SSD 860",
          children: [{ name: "sda1", type: "part" }],
        },
        {
          name: "sdb",
          type: "disk",
          size: 1000,
          rota: false,
          rm: false,
          tran: "sas",
          model: "QEMU HARDDISK",
        },
        { name: "md0", type: "raid1", size: 1000 },
        { name: "../../etc", type: "disk", size: 1000 },
      ],
    });
    expect(parseLsblk(json)).toEqual([
      { name: "sda", type: "ssd", sizeBytes: 500107862016, removable: false, model: "Samsung SSD 860" },
      { name: "sdb", type: "virtual", sizeBytes: 1000, removable: false, model: "QEMU HARDDISK" },
    ]);
    expect(parseLsblk("lsblk: unknown column")).toBeUndefined();
  });
  it("parseSysBlock: virtio by path", () => {
    expect(
      parseSysBlock("blk\tvda\t2048\t1\t0\t/sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda\t"),
    ).toEqual([{ name: "vda", type: "virtual", sizeBytes: 2048 * 512, removable: false }]);
  });
  it("parseNics: a veth with an address is kept (containers, namespaces), one without is not", () => {
    const listing = [
      "net\tveth0\t6e:00:00:00:00:01\t10000\tup\t1\t0\t0\t",
      "net\tveth1\t6e:00:00:00:00:02\t10000\tup\t1\t0\t0\t",
      "net\tcni0\t6e:00:00:00:00:03\t\tup\t1\t0\t1\t",
      "net\tvxlan.calico\t6e:00:00:00:00:04\t\tup\t1\t0\t0\t",
      "net\tib0\t00:00:10:49:fe:80:00:00:00:00:00:00:00:00:00:00:00:00:00:01\t200000\tup\t32\t1\t0\t",
    ].join("\n");
    const ip = [
      "2: veth0@if3    inet 10.1.2.2/24 brd 10.1.2.255 scope global veth0\\       valid_lft forever preferred_lft forever",
      "4: cni0    inet 10.244.0.1/24 scope global cni0",
      "5: vxlan.calico    inet 10.244.0.0/32 scope global vxlan.calico",
    ].join("\n");
    expect(parseNics(listing, ip)).toEqual([
      { name: "veth0", mac: "6e:00:00:00:00:01", speedMbps: 10000, ipv4: ["10.1.2.2"] },
      { name: "ib0", speedMbps: 200000, ipv4: [] },
    ]);
  });
  it("parseNics: a bridged port carries its bridge's address", () => {
    const listing = [
      "net\tenp1s0\taa:bb:cc:00:00:01\t10000\tup\t1\t1\t0\tbond0",
      "net\tbond0\taa:bb:cc:00:00:01\t20000\tup\t1\t0\t0\tvmbr0",
      "net\tvmbr0\taa:bb:cc:00:00:01\t\tup\t1\t0\t1\t",
    ].join("\n");
    expect(parseNics(listing, "9: vmbr0    inet 192.168.1.10/24 scope global vmbr0")).toEqual([
      { name: "enp1s0", mac: "aa:bb:cc:00:00:01", speedMbps: 10000, ipv4: ["192.168.1.10"] },
    ]);
  });
  it("parseIpAddr: garbage lines and bad addresses are ignored", () => {
    expect([
      ...parseIpAddr(
        "2: eth0 inet 999.1.1.1/24 scope global\nnonsense\n3: eth1    inet 10.0.0.1/8 scope global eth1",
      ),
    ]).toEqual([["eth1", ["10.0.0.1"]]]);
  });
  it("parseLspci: Intel iGPU, unnamed devices, not lspci at all", () => {
    expect(
      parseLspci(
        '00:02.0 "VGA compatible controller [0300]" "Intel Corporation [8086]" "Alder Lake-S GT1 [UHD Graphics 770] [4680]" -r0c "Intel" "Device"',
      ),
    ).toEqual([{ vendor: "intel", model: "Intel UHD Graphics 770" }]);
    expect(parseLspci('01:00.0 "3D controller [0302]" "NVIDIA Corporation [10de]" "Device [2330]"')).toEqual([
      { vendor: "nvidia", model: "NVIDIA device 10de:2330" },
    ]);
    expect(parseLspci("")).toEqual([]);
    expect(
      parseLspci("pcilib: Cannot open /proc/bus/pci\nlspci: Cannot find any working access method."),
    ).toBeUndefined();
  });
  it("parseSysPci: class and IDs from sysfs", () => {
    expect(
      parseSysPci("pci\t0000:03:00.0\t0x030000\t0x1002\t0x744c\npci\t0000:00:1f.3\t0x040300\t0x8086\t0x7ad0"),
    ).toEqual([{ vendor: "amd", model: "AMD device 1002:744c" }]);
  });
  it("parseNvidiaSmi: names with commas, N/A memory, garbage", () => {
    expect(parseNvidiaSmi("Tesla V100-SXM2-32GB, 32768\nNVIDIA GB10, [N/A]\n")).toEqual([
      { vendor: "nvidia", model: "NVIDIA Tesla V100-SXM2-32GB", memoryBytes: 32 * GiB },
      { vendor: "nvidia", model: "NVIDIA GB10" },
    ]);
    expect(
      parseNvidiaSmi("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."),
    ).toBeUndefined();
  });
  it("parseOsRelease: quoting and missing ID", () => {
    expect(parseOsRelease("NAME='Arch Linux'\nID=arch\nBUILD_ID=rolling")).toEqual({
      id: "arch",
      name: "Arch Linux",
    });
    expect(parseOsRelease('NAME="Rocky Linux"\nVERSION_ID="9.4"\nID="rocky"')).toEqual({
      id: "rocky",
      name: "Rocky Linux",
      version: "9.4",
    });
    expect(parseOsRelease("NAME=Nothing")).toBeUndefined();
  });
});
