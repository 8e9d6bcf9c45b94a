/**
 * Pure parsers for the outputs hardware detection collects over SSH. Each takes the raw text a
 * tool printed and returns what it could read, or `undefined` when the text is not that tool's
 * output at all (so the caller can fall back and say why). None of them throws on bad input:
 * a remote host may print anything.
 */
import { type Disk, type Gpu, type Nic, normaliseMac } from "@lab/core";

/** What the CPU parsers find; `model` and `threads` are always known when a result is returned. */
export interface CpuInfo {
  model: string;
  /** Physical cores over all sockets (not hardware threads). */
  cores: number;
  threads: number;
  sockets?: number;
  /** From lscpu's "Architecture:" line; a fallback for `uname -m`. */
  arch?: string;
}

export interface OsInfo {
  id: string;
  name: string;
  version?: string;
}

/** Cuts a string to `max` characters so one absurd value cannot make the record invalid. */
export function clip(value: string, max: number): string {
  return value.length <= max ? value : value.slice(0, max);
}

/** Collapses runs of whitespace and drops control characters a lying host might send. */
function clean(value: string): string {
  return (
    value
      // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
      .replace(/[\u0000-\u001f\u007f]+/g, " ")
      .replace(/\s+/g, " ")
      .trim()
  );
}

function positiveInt(value: unknown): number | undefined {
  const n = typeof value === "number" ? value : typeof value === "string" ? Number(value.trim()) : NaN;
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

// ── uname -m ──

/** `uname -m`: the machine architecture, or undefined if the text is not one word like x86_64. */
export function parseUname(text: string): string | undefined {
  const word = text.trim();
  return /^[A-Za-z0-9_.-]{1,32}$/.test(word) ? word : undefined;
}

// ── lscpu -J ──

interface LscpuField {
  field: string;
  data: string;
}

/** Flattens lscpu's JSON: util-linux ≥ 2.38 nests fields under `children`, older ones are flat. */
function lscpuFields(json: unknown): LscpuField[] | undefined {
  if (typeof json !== "object" || json === null) return undefined;
  const top = (json as { lscpu?: unknown }).lscpu;
  if (!Array.isArray(top)) return undefined;
  const out: LscpuField[] = [];
  const walk = (items: unknown[], depth: number) => {
    for (const item of items) {
      if (out.length > 4096 || depth > 8) return;
      if (typeof item !== "object" || item === null) continue;
      const { field, data, children } = item as { field?: unknown; data?: unknown; children?: unknown };
      if (typeof field === "string") {
        out.push({
          field: field.trim().replace(/:$/, ""),
          data: typeof data === "string" ? data.trim() : "",
        });
      }
      if (Array.isArray(children)) walk(children, depth + 1);
    }
  };
  walk(top, 0);
  return out;
}

/** Vendors whose model names already say who made them. */
const SELF_NAMING_VENDORS = new Set(["GenuineIntel", "AuthenticAMD", "HygonGenuine", "CentaurHauls"]);
/** lscpu's Vendor ID on Arm is the implementer; names users recognise. */
const ARM_VENDOR_NAMES: Record<string, string> = {
  ARM: "ARM",
  NVIDIA: "NVIDIA",
  Ampere: "Ampere",
  APM: "Ampere",
  Apple: "Apple",
  Qualcomm: "Qualcomm",
  HiSilicon: "HiSilicon",
  Cavium: "Cavium",
  Fujitsu: "Fujitsu",
};

interface CpuGroup {
  model?: string;
  coresPerUnit?: number;
  units?: number;
  sockets?: number;
  threadsPerCore?: number;
}

/**
 * `lscpu -J`. Heterogeneous CPUs (GB10's Cortex-X925 + Cortex-A725) list one "Model name" per
 * core type, each with its own per-socket/cluster core count: cores are summed over them.
 * Older lscpu prints the topology before the model name; those values go to the first model.
 */
export function parseLscpu(json: string): CpuInfo | undefined {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch {
    return undefined;
  }
  const fields = lscpuFields(data);
  if (!fields?.length) return undefined;
  let arch: string | undefined;
  let threads: number | undefined;
  let vendor: string | undefined;
  const groups: CpuGroup[] = [];
  const pending: CpuGroup = {};
  for (const { field, data: value } of fields) {
    const current = groups[groups.length - 1] ?? pending;
    switch (field) {
      case "Architecture":
        arch = parseUname(value);
        break;
      case "CPU(s)":
        threads ??= positiveInt(value);
        break;
      case "Vendor ID":
        vendor ??= clean(value) || undefined;
        break;
      case "Model name":
        if (clean(value) && clean(value) !== "-") groups.push({ model: clean(value) });
        break;
      case "Core(s) per socket":
      case "Core(s) per cluster":
        current.coresPerUnit ??= positiveInt(value);
        break;
      case "Socket(s)":
        current.sockets ??= positiveInt(value);
        current.units ??= positiveInt(value);
        break;
      case "Cluster(s)":
        // Arm boards print "Socket(s): -" and count clusters instead.
        current.units ??= positiveInt(value);
        break;
      case "Thread(s) per core":
        current.threadsPerCore ??= positiveInt(value);
        break;
    }
  }
  const first = groups[0];
  if (!threads || !first) return undefined;
  first.coresPerUnit ??= pending.coresPerUnit;
  first.units ??= pending.units;
  first.sockets ??= pending.sockets;
  first.threadsPerCore ??= pending.threadsPerCore;

  const names = [...new Set(groups.map((g) => g.model ?? ""))];
  let model = names.join(" + ");
  const vendorName =
    vendor && !SELF_NAMING_VENDORS.has(vendor) ? (ARM_VENDOR_NAMES[vendor] ?? vendor) : undefined;
  if (vendorName && !model.toLowerCase().startsWith(vendorName.toLowerCase()))
    model = `${vendorName} ${model}`;

  let cores = 0;
  for (const g of groups) {
    if (!g.coresPerUnit) {
      cores = 0;
      break;
    }
    cores += g.coresPerUnit * (g.units ?? 1);
  }
  if (!cores || cores > threads) cores = Math.max(1, Math.floor(threads / (first.threadsPerCore ?? 1)));
  const sockets = groups.length === 1 ? first.sockets : undefined;
  return {
    model: clip(model, 256),
    cores,
    threads,
    ...(sockets ? { sockets } : {}),
    ...(arch ? { arch } : {}),
  };
}

// ── /proc/cpuinfo ──

/** Arm MIDR implementer → part → core name, for /proc/cpuinfo, which names no model on Arm. */
const ARM_PARTS: Record<string, { vendor: string; parts: Record<string, string> }> = {
  "0x41": {
    vendor: "ARM",
    parts: {
      "0xd03": "Cortex-A53",
      "0xd07": "Cortex-A57",
      "0xd08": "Cortex-A72",
      "0xd0b": "Cortex-A76",
      "0xd0c": "Neoverse-N1",
      "0xd40": "Neoverse-V1",
      "0xd49": "Neoverse-N2",
      "0xd4f": "Neoverse-V2",
      "0xd83": "Neoverse-V3AE",
      "0xd84": "Neoverse-V3",
      "0xd85": "Cortex-X925",
      "0xd87": "Cortex-A725",
      "0xd8e": "Neoverse-N3",
    },
  },
  "0x4e": { vendor: "NVIDIA", parts: { "0x004": "Carmel" } },
  "0x51": { vendor: "Qualcomm", parts: { "0x001": "Oryon" } },
  "0x61": { vendor: "Apple", parts: {} },
  "0xc0": { vendor: "Ampere", parts: { "0xac3": "AmpereOne", "0xac4": "AmpereOne AC04" } },
  "0x48": { vendor: "HiSilicon", parts: { "0xd01": "Kunpeng-920" } },
};

function armName(implementer: string, part: string): string {
  const imp = ARM_PARTS[implementer.toLowerCase()];
  const name = imp?.parts[part.toLowerCase()];
  if (imp && name) return `${imp.vendor} ${name}`;
  return `${imp?.vendor ?? `Arm implementer ${implementer}`} part ${part}`;
}

/** `/proc/cpuinfo` (the lscpu fallback): x86 gives names and topology, Arm only MIDR parts. */
export function parseCpuinfo(text: string): CpuInfo | undefined {
  const blocks = text.split(/\n\s*\n/);
  let threads = 0;
  const models: string[] = [];
  const sockets = new Set<string>();
  const coreIds = new Set<string>();
  let coresPerSocket: number | undefined;
  for (const block of blocks) {
    const kv = new Map<string, string>();
    for (const line of block.split("\n")) {
      const i = line.indexOf(":");
      if (i <= 0) continue;
      kv.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
    }
    if (!kv.has("processor") || !/^\d+$/.test(kv.get("processor") ?? "")) continue;
    threads++;
    const name = kv.get("model name") ?? kv.get("cpu model");
    const imp = kv.get("cpu implementer");
    const part = kv.get("cpu part");
    const model = name ? clean(name) : imp && part ? armName(imp, part) : undefined;
    if (model && !models.includes(model)) models.push(model);
    const phys = kv.get("physical id");
    const core = kv.get("core id");
    if (phys !== undefined) sockets.add(phys);
    if (phys !== undefined && core !== undefined) coreIds.add(`${phys}/${core}`);
    coresPerSocket ??= positiveInt(kv.get("cpu cores"));
  }
  if (threads === 0 || models.length === 0) return undefined;
  let cores = coreIds.size || (coresPerSocket ? coresPerSocket * Math.max(1, sockets.size) : threads);
  if (cores > threads) cores = threads;
  return {
    model: clip(models.join(" + "), 256),
    cores,
    threads,
    ...(sockets.size ? { sockets: sockets.size } : {}),
  };
}

// ── /proc/meminfo ──

/** `/proc/meminfo`: MemTotal in bytes. */
export function parseMeminfo(text: string): number | undefined {
  const m = /^MemTotal:\s*(\d+)\s*kB\s*$/im.exec(text);
  if (!m?.[1]) return undefined;
  const bytes = Number(m[1]) * 1024;
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

// ── disks ──

/** Block devices that are never a machine's disks. */
const NOT_A_DISK = /^(loop|ram|zram|sr|fd|nbd|dm-|md|drbd|mtdblock)/;
const VIRTUAL_MODEL = /QEMU|VBOX|VMware|Virtual disk|Msft Virtual|Google PersistentDisk|Amazon Elastic/i;

function diskType(name: string, tran: string | undefined, rotational: boolean | undefined, model?: string) {
  const t = tran?.toLowerCase();
  if (name.startsWith("nvme") || t === "nvme") return "nvme" as const;
  if (t === "usb") return "usb" as const;
  if (/^(vd|xvd)[a-z]/.test(name) || t === "virtio" || (model && VIRTUAL_MODEL.test(model))) {
    return "virtual" as const;
  }
  if (rotational === true) return "hdd" as const;
  if (rotational === false) return "ssd" as const;
  return "unknown" as const;
}

function flag(value: unknown): boolean | undefined {
  if (value === true || value === 1 || value === "1") return true;
  if (value === false || value === 0 || value === "0") return false;
  return undefined;
}

function byteCount(value: unknown): number | undefined {
  const n = typeof value === "number" ? value : typeof value === "string" ? Number(value) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function diskName(value: unknown): string | undefined {
  return typeof value === "string" && /^[A-Za-z0-9_.:!-]{1,64}$/.test(value) ? value : undefined;
}

function optionalModel(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const m = clean(value);
  return m ? clip(m, 128) : undefined;
}

/**
 * `lsblk -J -b -o NAME,TYPE,SIZE,ROTA,RM,TRAN,MODEL`: whole disks only (partitions are children
 * and skipped; loop, zram and optical devices too). Older lsblk prints numbers as strings.
 */
export function parseLsblk(json: string): Disk[] | undefined {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch {
    return undefined;
  }
  const devices = (data as { blockdevices?: unknown } | null)?.blockdevices;
  if (!Array.isArray(devices)) return undefined;
  const disks: Disk[] = [];
  for (const d of devices) {
    if (typeof d !== "object" || d === null) continue;
    const r = d as Record<string, unknown>;
    const name = diskName(r.name);
    const size = byteCount(r.size);
    if (!name || r.type !== "disk" || NOT_A_DISK.test(name) || !size) continue;
    const model = optionalModel(r.model);
    const tran = typeof r.tran === "string" ? r.tran : undefined;
    disks.push({
      name,
      type: diskType(name, tran, flag(r.rota), model),
      sizeBytes: size,
      removable: flag(r.rm) ?? false,
      ...(model ? { model } : {}),
    });
  }
  return disks;
}

/**
 * The lsblk fallback: lines `blk NAME SECTORS ROTATIONAL REMOVABLE SYSFS_PATH MODEL` (tab
 * separated) from /sys/block. Sizes there are always in 512-byte sectors.
 */
export function parseSysBlock(listing: string): Disk[] {
  const disks: Disk[] = [];
  for (const line of listing.split("\n")) {
    const f = line.split("\t");
    if (f[0] !== "blk") continue;
    const name = diskName(f[1]);
    const sectors = byteCount(f[2]?.trim());
    if (!name || NOT_A_DISK.test(name) || !sectors) continue;
    const path = f[5] ?? "";
    const model = optionalModel(f.slice(6).join(" "));
    const tran = /\/usb\d*\//.test(path) ? "usb" : /\/virtio\d+\//.test(path) ? "virtio" : undefined;
    disks.push({
      name,
      type: diskType(name, tran, flag(f[3]?.trim()), model),
      sizeBytes: sectors * 512,
      removable: flag(f[4]?.trim()) ?? false,
      ...(model ? { model } : {}),
    });
  }
  return disks;
}

// ── network interfaces ──

/** Virtual interfaces that are plumbing (bridges, container runtimes, overlays, tunnels). */
const PLUMBING =
  /^(lo$|docker|br-|virbr|cni|flannel|cali|cilium|vxlan|kube-|lxcbr|tunl|tun|tap|wg|tailscale|zt|genev|ifb|dummy|gre|sit|ip6tnl|erspan|nlmon)/;

interface NetEntry {
  name: string;
  mac?: string;
  speedMbps?: number;
  hasDevice: boolean;
  isBridge: boolean;
  master?: string;
  type?: number;
}

/** `ip -4 -o addr`: interface → IPv4 addresses (without prefix length), host-scope ones skipped. */
export function parseIpAddr(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const m = /^\d+:\s+([^\s:@]+)(?:@\S+)?\s+inet\s+(\d{1,3}(?:\.\d{1,3}){3})(?:\/\d+)?\s(.*)$/.exec(
      line.trim(),
    );
    if (!m?.[1] || !m[2]) continue;
    if (/\bscope host\b/.test(m[3] ?? "")) continue;
    if (m[2].split(".").some((o) => Number(o) > 255)) continue;
    const list = out.get(m[1]) ?? [];
    if (!list.includes(m[2]) && list.length < 64) list.push(m[2]);
    out.set(m[1], list);
  }
  return out;
}

/**
 * Network interfaces from lines `net NAME ADDRESS SPEED OPERSTATE TYPE HAS_DEVICE IS_BRIDGE
 * MASTER` (tab separated, from /sys/class/net) and `ip -4 -o addr` output.
 *
 * Kept: every interface backed by a device (`/sys/class/net/X/device`), and a virtual one only
 * when it carries an IPv4 address and is not plumbing (a bridge, docker/CNI/overlay, a
 * tunnel): inside a container or network namespace the address-carrying veth or bond is how the
 * machine is reached, while address-less veths are other containers' ends. A physical port
 * enslaved to a bridge or bond gets its master's addresses, since that is where they live.
 */
export function parseNics(listing: string, ipAddr = ""): Nic[] {
  const entries = new Map<string, NetEntry>();
  for (const line of listing.split("\n")) {
    const f = line.split("\t");
    if (f[0] !== "net") continue;
    const name = f[1]?.trim();
    if (!name || !/^[^\s/:]{1,15}$/.test(name)) continue;
    const mac = normaliseMac(f[2] ?? "");
    const speed = Number(f[3]?.trim());
    entries.set(name, {
      name,
      ...(mac && mac !== "00:00:00:00:00:00" ? { mac } : {}),
      // -1 and 4294967295 mean "unknown" (no link, virtual).
      ...(Number.isSafeInteger(speed) && speed > 0 && speed < 4_000_000 ? { speedMbps: speed } : {}),
      type: Number(f[5]?.trim()) || undefined,
      hasDevice: f[6]?.trim() === "1",
      isBridge: f[7]?.trim() === "1",
      ...(f[8]?.trim() ? { master: f[8].trim() } : {}),
    });
  }
  const addrs = parseIpAddr(ipAddr);
  const addressesOf = (e: NetEntry): string[] => {
    let own = addrs.get(e.name) ?? [];
    // A port of a bond in a bridge: follow masters two levels at most.
    let master = e.master ? entries.get(e.master) : undefined;
    for (let i = 0; own.length === 0 && master && i < 2; i++) {
      own = addrs.get(master.name) ?? [];
      master = master.master ? entries.get(master.master) : undefined;
    }
    return own;
  };
  const nics: Nic[] = [];
  for (const e of entries.values()) {
    if (e.name === "lo" || e.type === 772) continue;
    const ipv4 = addressesOf(e);
    const keep =
      e.hasDevice || (!e.isBridge && !PLUMBING.test(e.name) && (addrs.get(e.name)?.length ?? 0) > 0);
    if (!keep) continue;
    nics.push({
      name: e.name,
      ...(e.mac ? { mac: e.mac } : {}),
      ...(e.speedMbps ? { speedMbps: e.speedMbps } : {}),
      ipv4,
    });
  }
  return nics;
}

// ── GPUs ──

const GPU_VENDORS: Record<string, Gpu["vendor"]> = { "10de": "nvidia", "1002": "amd", "8086": "intel" };
/** Display controllers that are a BMC's or a hypervisor's console, never a compute GPU. */
const CONSOLE_VENDORS = new Set(["1a03", "102b", "1234", "1013", "15ad", "1b36", "1af4", "1414", "80ee"]);
const VENDOR_LABEL: Record<Gpu["vendor"], string> = {
  nvidia: "NVIDIA",
  amd: "AMD",
  intel: "Intel",
  other: "",
};

/** Splits an `lspci -mm` line into its fields: quoted strings and bare -rXX/-pXX options. */
function lspciFields(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] ?? m[2] ?? "");
  return out;
}

/** "Name [1234]" → { name, id }. */
function nameAndId(field: string): { name: string; id?: string } {
  const m = /^(.*?)\s*\[([0-9a-fA-F]{4})\]$/.exec(field.trim());
  return m ? { name: (m[1] ?? "").trim(), id: m[2]?.toLowerCase() } : { name: field.trim() };
}

/** Picks the marketing name lspci puts in brackets ("GA100 [A100 PCIe 80GB]" → "A100 PCIe 80GB"). */
function gpuModel(vendor: Gpu["vendor"], vendorId: string, device: { name: string; id?: string }): string {
  const inner = /\[([^\]]+)\]\s*$/.exec(device.name)?.[1];
  let name = clean(inner ?? device.name);
  if (!name || /^Device( [0-9a-f]{4})?$/i.test(name)) name = `device ${vendorId}:${device.id ?? "????"}`;
  const label = VENDOR_LABEL[vendor];
  return clip(label && !name.toLowerCase().startsWith(label.toLowerCase()) ? `${label} ${name}` : name, 256);
}

function isGpuClass(classId: string, vendorId: string): boolean {
  // 0300 VGA, 0302 3D (A100/H100), 0380 other display (AMD Instinct MI100/MI200);
  // 1200 processing accelerator only for AMD (MI300), since Intel uses it for NPUs.
  return ["0300", "0302", "0380"].includes(classId) || (classId === "1200" && vendorId === "1002");
}

/** `lspci -mm -nn`: display controllers, BMC and hypervisor consoles excluded. */
export function parseLspci(text: string): Gpu[] | undefined {
  const gpus: Gpu[] = [];
  let lines = 0;
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const f = lspciFields(line);
    if (f.length < 4 || !/^[0-9a-fA-F:.]+$/.test(f[0] ?? "")) continue;
    lines++;
    const cls = nameAndId(f[1] ?? "");
    const vendor = nameAndId(f[2] ?? "");
    const device = nameAndId(f[3] ?? "");
    if (!cls.id || !vendor.id) continue;
    if (!isGpuClass(cls.id, vendor.id) || CONSOLE_VENDORS.has(vendor.id)) continue;
    const v = GPU_VENDORS[vendor.id] ?? "other";
    const model =
      v === "other" ? clip(clean(`${vendor.name} ${device.name}`), 256) : gpuModel(v, vendor.id, device);
    gpus.push({ vendor: v, model });
  }
  // Text with no lspci-shaped line at all is not lspci output (empty output is: no PCI bus).
  if (lines === 0 && text.trim()) return undefined;
  return gpus;
}

/** The lspci fallback: lines `pci SLOT CLASS VENDOR DEVICE` from /sys/bus/pci/devices (hex, 0x…). */
export function parseSysPci(listing: string): Gpu[] {
  const gpus: Gpu[] = [];
  for (const line of listing.split("\n")) {
    const f = line.split("\t").map((s) => s.trim());
    if (f[0] !== "pci") continue;
    const cls = /^0x([0-9a-f]{4})[0-9a-f]{2}$/i.exec(f[2] ?? "")?.[1]?.toLowerCase();
    const vendorId = /^0x([0-9a-f]{4})$/i.exec(f[3] ?? "")?.[1]?.toLowerCase();
    const deviceId = /^0x([0-9a-f]{4})$/i.exec(f[4] ?? "")?.[1]?.toLowerCase();
    if (!cls || !vendorId || !isGpuClass(cls, vendorId) || CONSOLE_VENDORS.has(vendorId)) continue;
    const v = GPU_VENDORS[vendorId] ?? "other";
    gpus.push({
      vendor: v,
      model: gpuModel(v, vendorId, { name: "", ...(deviceId ? { id: deviceId } : {}) }),
    });
  }
  return gpus;
}

/**
 * `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits`: memory in MiB, or
 * "[N/A]" on unified-memory parts (GB10).
 */
export function parseNvidiaSmi(csv: string): Gpu[] | undefined {
  const gpus: Gpu[] = [];
  let bad = 0;
  for (const line of csv.split("\n")) {
    if (!line.trim()) continue;
    const i = line.lastIndexOf(",");
    const name = clean(i >= 0 ? line.slice(0, i) : "");
    const mem = i >= 0 ? line.slice(i + 1).trim() : "";
    if (!name || (mem && !/^(\d+|\[[^\]]*\])$/.test(mem))) {
      bad++;
      continue;
    }
    const mib = /^\d+$/.test(mem) ? Number(mem) : undefined;
    const model = clip(name.toLowerCase().startsWith("nvidia") ? name : `NVIDIA ${name}`, 256);
    gpus.push({ vendor: "nvidia", model, ...(mib !== undefined ? { memoryBytes: mib * 1024 * 1024 } : {}) });
  }
  return bad > 0 && gpus.length === 0 ? undefined : gpus;
}

// ── os-release, firmware, DMI ──

function unquote(value: string): string {
  const v = value.trim();
  if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v[v.length - 1] === v[0]) {
    return v.slice(1, -1).replace(/\\(["'$`\\])/g, "$1");
  }
  return v;
}

/** `/etc/os-release`: ID, NAME and VERSION_ID. */
export function parseOsRelease(text: string): OsInfo | undefined {
  const kv = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] && m[2] !== undefined) kv.set(m[1], clean(unquote(m[2])));
  }
  const id = kv.get("ID");
  const name = kv.get("NAME") || kv.get("PRETTY_NAME") || id;
  if (!id || !name || !/^[a-z0-9._-]+$/.test(id)) return undefined;
  const version = kv.get("VERSION_ID");
  return { id: clip(id, 64), name: clip(name, 128), ...(version ? { version: clip(version, 64) } : {}) };
}

/** Placeholder strings firmware vendors leave in DMI fields. */
const DMI_JUNK =
  /^(to be filled by o\.?e\.?m\.?|default string|system (product name|manufacturer|serial number)|not specified|not applicable|none|n\/a|0+|0123456789|123456789|x+|empty|unknown)$/i;

/** Lines `dmi FIELD VALUE` for sys_vendor, product_name and product_serial. */
export function parseDmi(
  listing: string,
): { vendor?: string; product?: string; serial?: string } | undefined {
  const out: { vendor?: string; product?: string; serial?: string } = {};
  const keys: Record<string, "vendor" | "product" | "serial"> = {
    sys_vendor: "vendor",
    product_name: "product",
    product_serial: "serial",
  };
  for (const line of listing.split("\n")) {
    const f = line.split("\t");
    const key = f[0] === "dmi" ? keys[f[1] ?? ""] : undefined;
    const value = clean(f.slice(2).join(" "));
    if (key && value && !DMI_JUNK.test(value)) out[key] = clip(value, 128);
  }
  return Object.keys(out).length ? out : undefined;
}
