/**
 * Tool outputs of real machine kinds, as the detection script collects them (trimmed to the
 * fields that matter). Used by detect.test.ts and label-rules.test.ts.
 */
import type { SectionName } from "./detect-script.js";

export type Fixture = Partial<Record<SectionName, string | { text: string; code: number }>>;

const lscpuFlat = (fields: [string, string][]) =>
  JSON.stringify({ lscpu: fields.map(([field, data]) => ({ field: `${field}:`, data })) }, null, 3);

const net = (rows: [string, string, string, string, string, string, string, string][]) =>
  rows.map((r) => ["net", ...r].join("\t")).join("\n");

// ── x86 server: 2x EPYC 7763, 1 TB, 4x A100 80GB, NVMe + SATA SSDs, 25GbE, docker ──
export const x86Nvidia: Fixture = {
  uname: "x86_64\n",
  osrelease: 'NAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\nPRETTY_NAME="Ubuntu 22.04.4 LTS"\n',
  firmware: "efi",
  lscpu: lscpuFlat([
    ["Architecture", "x86_64"],
    ["CPU op-mode(s)", "32-bit, 64-bit"],
    ["CPU(s)", "256"],
    ["On-line CPU(s) list", "0-255"],
    ["Vendor ID", "AuthenticAMD"],
    ["Model name", "AMD EPYC 7763 64-Core Processor"],
    ["CPU family", "25"],
    ["Thread(s) per core", "2"],
    ["Core(s) per socket", "64"],
    ["Socket(s)", "2"],
    ["NUMA node(s)", "8"],
  ]),
  cpuinfo: "processor\t: 0\nmodel name\t: AMD EPYC 7763 64-Core Processor\n",
  meminfo: "MemTotal:       1056656780 kB\n",
  lsblk: JSON.stringify({
    blockdevices: [
      {
        name: "nvme0n1",
        type: "disk",
        size: 1920383410176,
        rota: false,
        rm: false,
        tran: "nvme",
        model: "SAMSUNG MZQL21T9HCJR-00A07",
      },
      {
        name: "nvme1n1",
        type: "disk",
        size: 1920383410176,
        rota: false,
        rm: false,
        tran: "nvme",
        model: "SAMSUNG MZQL21T9HCJR-00A07",
      },
      {
        name: "sda",
        type: "disk",
        size: 3840755982336,
        rota: false,
        rm: false,
        tran: "sata",
        model: "MZ7L33T8HBLT-00A07",
      },
      {
        name: "sdb",
        type: "disk",
        size: 3840755982336,
        rota: false,
        rm: false,
        tran: "sata",
        model: "MZ7L33T8HBLT-00A07",
      },
      { name: "loop0", type: "loop", size: 67108864, rota: false, rm: false, tran: null, model: null },
    ],
  }),
  net: net([
    ["lo", "00:00:00:00:00:00", "", "unknown", "772", "0", "0", ""],
    ["eno1", "3c:ec:ef:10:20:30", "1000", "up", "1", "1", "0", ""],
    ["ens1f0np0", "b8:3f:d2:aa:bb:01", "25000", "up", "1", "1", "0", ""],
    ["ens1f1np1", "b8:3f:d2:aa:bb:02", "25000", "up", "1", "1", "0", ""],
    ["docker0", "02:42:ac:11:00:01", "", "up", "1", "0", "1", ""],
    ["veth9a8b7c6", "6e:11:22:33:44:55", "10000", "up", "1", "0", "0", "docker0"],
  ]),
  ipaddr: [
    "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever",
    "2: eno1    inet 10.0.0.50/24 brd 10.0.0.255 scope global eno1\\       valid_lft forever preferred_lft forever",
    "5: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\\       valid_lft forever preferred_lft forever",
  ].join("\n"),
  lspci: [
    '02:00.0 "VGA compatible controller [0300]" "ASPEED Technology, Inc. [1a03]" "ASPEED Graphics Family [2000]" -r41 "ASPEED Technology, Inc. [1a03]" "ASPEED Graphics Family [2000]"',
    '41:00.0 "Ethernet controller [0200]" "Mellanox Technologies [15b3]" "MT2894 Family [ConnectX-6 Lx] [101f]" "Mellanox Technologies [15b3]" "Device [0016]"',
    '81:00.0 "3D controller [0302]" "NVIDIA Corporation [10de]" "GA100 [A100 SXM4 80GB] [20b2]" -ra1 "NVIDIA Corporation [10de]" "Device [1463]"',
    '82:00.0 "3D controller [0302]" "NVIDIA Corporation [10de]" "GA100 [A100 SXM4 80GB] [20b2]" -ra1 "NVIDIA Corporation [10de]" "Device [1463]"',
  ].join("\n"),
  nvidiasmi: "NVIDIA A100-SXM4-80GB, 81920\nNVIDIA A100-SXM4-80GB, 81920\n",
  dmi: "dmi\tsys_vendor\tSupermicro\ndmi\tproduct_name\tAS -4124GO-NART\ndmi\tproduct_serial\t0123456789\n",
};

// ── DGX Spark: GB10 (10x Cortex-X925 + 10x Cortex-A725), 128 GB unified, util-linux 2.39 JSON ──
export const gb10: Fixture = {
  uname: "aarch64\n",
  osrelease:
    'PRETTY_NAME="Ubuntu 24.04.3 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\nID_LIKE=debian\n',
  firmware: "efi",
  lscpu: JSON.stringify({
    lscpu: [
      { field: "Architecture:", data: "aarch64", children: [{ field: "CPU op-mode(s):", data: "64-bit" }] },
      { field: "CPU(s):", data: "20", children: [{ field: "On-line CPU(s) list:", data: "0-19" }] },
      {
        field: "Vendor ID:",
        data: "ARM",
        children: [
          {
            field: "Model name:",
            data: "Cortex-X925",
            children: [
              { field: "Model:", data: "1" },
              { field: "Thread(s) per core:", data: "1" },
              { field: "Core(s) per socket:", data: "10" },
              { field: "Socket(s):", data: "1" },
            ],
          },
          {
            field: "Model name:",
            data: "Cortex-A725",
            children: [
              { field: "Model:", data: "1" },
              { field: "Thread(s) per core:", data: "1" },
              { field: "Core(s) per socket:", data: "10" },
              { field: "Socket(s):", data: "1" },
            ],
          },
        ],
      },
      {
        field: "Caches (sum of all):",
        data: null,
        children: [{ field: "L1d:", data: "1.3 MiB (20 instances)" }],
      },
    ],
  }),
  cpuinfo:
    "processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0xd85\n\nprocessor\t: 1\nCPU implementer\t: 0x41\nCPU part\t: 0xd87\n",
  meminfo: "MemTotal:       125669324 kB\n",
  lsblk: JSON.stringify({
    blockdevices: [
      {
        name: "nvme0n1",
        type: "disk",
        size: 4000787030016,
        rota: false,
        rm: false,
        tran: "nvme",
        model: "ESL04TBTLCZ-27J2-TYN",
      },
    ],
  }),
  net: net([
    ["lo", "00:00:00:00:00:00", "", "unknown", "772", "0", "0", ""],
    ["enP7s7", "4c:bb:47:01:02:03", "10000", "up", "1", "1", "0", ""],
    ["enp1s0f0np0", "4c:bb:47:0a:0b:0c", "200000", "up", "1", "1", "0", ""],
    ["wlP9s9", "4c:bb:47:0d:0e:0f", "", "dormant", "1", "1", "0", ""],
  ]),
  ipaddr:
    "2: enP7s7    inet 192.168.1.50/24 brd 192.168.1.255 scope global dynamic enP7s7\\       valid_lft 86000sec preferred_lft 86000sec\n",
  lspci: [
    '0000:00:00.0 "PCI bridge [0604]" "NVIDIA Corporation [10de]" "Device [22ce]" -r01 "" ""',
    '000f:01:00.0 "VGA compatible controller [0300]" "NVIDIA Corporation [10de]" "Device [2e12]" -ra1 "NVIDIA Corporation [10de]" "Device [0000]"',
  ].join("\n"),
  nvidiasmi: "NVIDIA GB10, [N/A]\n",
};

// ── AMD box: Ryzen 9 7950X (util-linux 2.34: topology before the model name), Radeon + MI300X ──
export const amdGpu: Fixture = {
  uname: "x86_64\n",
  osrelease: 'NAME="Fedora Linux"\nVERSION_ID=40\nID=fedora\n',
  firmware: "efi",
  lscpu: lscpuFlat([
    ["Architecture", "x86_64"],
    ["CPU(s)", "32"],
    ["Thread(s) per core", "2"],
    ["Core(s) per socket", "16"],
    ["Socket(s)", "1"],
    ["Vendor ID", "AuthenticAMD"],
    ["CPU family", "25"],
    ["Model name", "AMD Ryzen 9 7950X 16-Core Processor"],
  ]),
  meminfo: "MemTotal:       65536000 kB\n",
  lsblk: JSON.stringify({
    blockdevices: [
      {
        name: "sda",
        type: "disk",
        size: "8001563222016",
        rota: "1",
        rm: "0",
        tran: "sata",
        model: "ST8000VN004-2M2101",
      },
      {
        name: "sdc",
        type: "disk",
        size: "31914983424",
        rota: "1",
        rm: "1",
        tran: "usb",
        model: "Cruzer Blade",
      },
      { name: "sr0", type: "rom", size: "1073741312", rota: "1", rm: "1", tran: "sata", model: "DVD RW" },
    ],
  }),
  net: net([["enp5s0", "d8:5e:d3:01:02:03", "2500", "up", "1", "1", "0", ""]]),
  ipaddr: "2: enp5s0    inet 192.168.10.20/24 brd 192.168.10.255 scope global enp5s0\n",
  lspci: [
    '03:00.0 "VGA compatible controller [0300]" "Advanced Micro Devices, Inc. [AMD/ATI] [1002]" "Navi 31 [Radeon RX 7900 XT/7900 XTX] [744c]" -rc8 "Sapphire Technology Limited [1da2]" "Device [471e]"',
    '0c:00.0 "Processing accelerators [1200]" "Advanced Micro Devices, Inc. [AMD/ATI] [1002]" "Aqua Vanjaram [Instinct MI300X] [74a1]" "Advanced Micro Devices, Inc. [AMD/ATI] [1002]" "Device [74a1]"',
    '10:00.0 "Non-Volatile memory controller [0108]" "Samsung Electronics Co Ltd [144d]" "NVMe SSD Controller PM9A1/PM9A3/980PRO [a80a]" "Samsung Electronics Co Ltd [144d]" "Device [aa0a]"',
  ].join("\n"),
  nvidiasmi: { text: "", code: 127 },
};

// ── a QEMU/KVM guest: virtio disks and NIC, QXL console, BIOS ──
export const virtioVm: Fixture = {
  uname: "x86_64",
  osrelease:
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n',
  firmware: "bios",
  lscpu: lscpuFlat([
    ["Architecture", "x86_64"],
    ["CPU(s)", "2"],
    ["Vendor ID", "AuthenticAMD"],
    ["Model name", "AMD EPYC"],
    ["Thread(s) per core", "1"],
    ["Core(s) per socket", "2"],
    ["Socket(s)", "1"],
    ["Hypervisor vendor", "KVM"],
  ]),
  cpuinfo:
    "processor\t: 0\nmodel name\t: AMD EPYC\ncpu cores\t: 2\n\nprocessor\t: 1\nmodel name\t: AMD EPYC\ncpu cores\t: 2\n",
  meminfo: "MemTotal:       24683656 kB\n",
  lsblk: JSON.stringify({
    blockdevices: [
      { name: "zram0", type: "disk", size: 0, rota: false, rm: false, tran: null, model: null },
      { name: "vda", type: "disk", size: 274877906944, rota: true, rm: false, tran: null, model: null },
      { name: "vdb", type: "disk", size: 10737418240, rota: true, rm: false, tran: null, model: null },
    ],
  }),
  net: net([
    ["lo", "00:00:00:00:00:00", "", "unknown", "772", "0", "0", ""],
    ["eth0", "02:fc:00:00:00:01", "-1", "up", "1", "1", "0", ""],
  ]),
  ipaddr:
    "4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever preferred_lft forever",
  lspci:
    '00:02.0 "VGA compatible controller [0300]" "Red Hat, Inc. [1b36]" "QXL paravirtual graphic card [0100]" -r05 "Red Hat, Inc. [1af4]" "QEMU Virtual Machine [1100]"',
};
