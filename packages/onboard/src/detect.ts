/**
 * Hardware detection for `lab onboard --provider ssh`: one remote round trip runs a POSIX sh
 * script (detect-script.ts) that prints every tool's output, then the pure parsers
 * (detect-parse.ts) turn it into the `Hardware` record PXE discovery also produces. A missing
 * tool or unparsable output falls back to the next source and leaves a warning naming the tool;
 * only a machine whose architecture, CPU or memory cannot be found at all is an error.
 */
import { type Disk, type Gpu, type Hardware, HardwareSchema, LabError, type Nic } from "@lab/core";
import {
  clip,
  parseCpuinfo,
  parseDmi,
  parseLsblk,
  parseLscpu,
  parseLspci,
  parseMeminfo,
  parseNics,
  parseNvidiaSmi,
  parseOsRelease,
  parseSysBlock,
  parseSysPci,
  parseUname,
} from "./detect-parse.js";
import {
  buildDetectScript,
  newNonce,
  type Section,
  type SectionName,
  splitSections,
} from "./detect-script.js";

export * from "./detect-parse.js";

/** Runs a sh script on the target and returns what it printed (`SshSession` gives one via `scriptRunner`). */
export type RunScript = (script: string) => Promise<{ stdout: string; stderr: string; code: number }>;

/** Detects the target's hardware with one remote round trip. */
export async function detectHardware(run: RunScript): Promise<Hardware> {
  const nonce = newNonce();
  const result = await run(buildDetectScript(nonce));
  const sections = splitSections(result.stdout, nonce);
  if (sections.size === 0) {
    const detail = result.stderr.trim().split("\n").slice(0, 3).join(" / ").slice(0, 300);
    throw new LabError(
      "LAB_E_DETECT_FAILED",
      `the hardware detection script produced no output (exit ${result.code})${detail ? `: ${detail}` : ""}`,
    );
  }
  return hardwareFromSections(sections);
}

const LIMITS = { disks: 256, nics: 256, gpus: 64, warnings: 64 } as const;

/** Why a tool gave nothing usable, in words for a warning. */
function failure(tool: string, s: Section | undefined, parsedBadly: boolean): string {
  if (!s) return `${tool} gave no output (detection was cut short)`;
  if (s.code === 127) return `${tool} not found`;
  if (s.code === 124) return `${tool} timed out`;
  if (!s.complete) return `${tool} output was cut off`;
  if (s.code !== 0) return `${tool} failed (exit ${s.code})`;
  return parsedBadly ? `${tool} printed unparsable output` : `${tool} printed nothing`;
}

/** The section's text if the tool ran to the end and succeeded. */
function ok(s: Section | undefined): string | undefined {
  return s?.complete && s.code === 0 ? s.text : undefined;
}

/** Builds the `Hardware` record from the script's sections (exported for tests). */
export function hardwareFromSections(sections: Map<SectionName, Section>): Hardware {
  const warnings: string[] = [];
  const warn = (w: string) => {
    if (warnings.length < LIMITS.warnings) warnings.push(clip(w, 512));
  };
  const get = (n: SectionName) => sections.get(n);
  const missing: string[] = [];

  // CPU: lscpu, then /proc/cpuinfo.
  const lscpuText = ok(get("lscpu"));
  const lscpu = lscpuText !== undefined ? parseLscpu(lscpuText) : undefined;
  let cpu = lscpu;
  if (!cpu) {
    const cpuinfoText = ok(get("cpuinfo"));
    cpu = cpuinfoText !== undefined ? parseCpuinfo(cpuinfoText) : undefined;
    const why = failure("lscpu", get("lscpu"), lscpuText !== undefined);
    if (cpu) warn(`${why}: CPU model from /proc/cpuinfo`);
    else {
      warn(`${why}, and /proc/cpuinfo was unreadable: CPU unknown`);
      missing.push("CPU model and count (lscpu, /proc/cpuinfo)");
    }
  }

  // Architecture: uname -m, then lscpu's Architecture line.
  const unameText = ok(get("uname"));
  let arch = unameText !== undefined ? parseUname(unameText) : undefined;
  if (!arch) {
    arch = lscpu?.arch;
    const why = failure("uname", get("uname"), unameText !== undefined);
    if (arch) warn(`${why}: architecture from lscpu`);
    else missing.push("CPU architecture (uname -m, lscpu)");
  }

  const memText = ok(get("meminfo"));
  const memoryBytes = memText !== undefined ? parseMeminfo(memText) : undefined;
  if (memoryBytes === undefined) missing.push("memory size (/proc/meminfo MemTotal)");

  if (missing.length || !cpu || !arch || memoryBytes === undefined) {
    throw new LabError(
      "LAB_E_DETECT_FAILED",
      `could not detect the machine's ${missing.join(", ")}${warnings.length ? ` (${warnings.join("; ")})` : ""}`,
    );
  }

  const osText = ok(get("osrelease"));
  const os = osText !== undefined ? parseOsRelease(osText) : undefined;
  if (!os) warn(`${failure("os-release", get("osrelease"), osText !== undefined)}: operating system unknown`);

  const fwText = ok(get("firmware"))?.trim();
  const firmware = fwText === "efi" || fwText === "bios" ? fwText : "unknown";

  let disks: Disk[] | undefined;
  const lsblkText = ok(get("lsblk"));
  disks = lsblkText !== undefined ? parseLsblk(lsblkText) : undefined;
  if (!disks) {
    disks = parseSysBlock(ok(get("sysblock")) ?? "");
    warn(`${failure("lsblk", get("lsblk"), lsblkText !== undefined)}: disks from /sys/block`);
  }

  const netText = ok(get("net")) ?? "";
  const ipText = ok(get("ipaddr"));
  if (ipText === undefined) warn(`${failure("ip", get("ipaddr"), false)}: NIC IPv4 addresses unknown`);
  const nics: Nic[] = parseNics(netText, ipText ?? "");
  if (!netText.trim()) warn("no network interfaces listed in /sys/class/net");

  const gpus = detectGpus(sections, warn);

  const dmiText = ok(get("dmi"));
  const system = dmiText !== undefined ? parseDmi(dmiText) : undefined;

  const cap = <T>(list: T[], what: keyof typeof LIMITS): T[] => {
    if (list.length <= LIMITS[what]) return list;
    warn(`${list.length} ${what} found: only the first ${LIMITS[what]} are kept`);
    return list.slice(0, LIMITS[what]);
  };

  const candidate = {
    ...(os ? { os } : {}),
    arch,
    firmware,
    cpu: {
      model: cpu.model,
      cores: cpu.cores,
      threads: cpu.threads,
      ...(cpu.sockets ? { sockets: cpu.sockets } : {}),
    },
    memoryBytes,
    disks: cap(disks, "disks"),
    nics: cap(nics, "nics"),
    gpus: cap(gpus, "gpus"),
    ...(system ? { system } : {}),
    warnings,
  };
  const parsed = HardwareSchema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new LabError(
      "LAB_E_DETECT_FAILED",
      `detected hardware does not fit the record: ${issue?.path.join(".")}: ${issue?.message}`,
    );
  }
  return parsed.data;
}

/** GPUs: lspci (or /sys/bus/pci IDs), with NVIDIA entries replaced by nvidia-smi's names and memory. */
function detectGpus(sections: Map<SectionName, Section>, warn: (w: string) => void): Gpu[] {
  const lspciText = ok(sections.get("lspci"));
  let pci = lspciText !== undefined ? parseLspci(lspciText) : undefined;
  if (!pci) {
    pci = parseSysPci(ok(sections.get("syspci")) ?? "");
    warn(`${failure("lspci", sections.get("lspci"), lspciText !== undefined)}: GPUs from /sys/bus/pci IDs`);
  }
  const smiSection = sections.get("nvidiasmi");
  const smiText = ok(smiSection);
  const smi = smiText !== undefined ? parseNvidiaSmi(smiText) : undefined;
  const pciNvidia = pci.filter((g) => g.vendor === "nvidia").length;
  if (smi?.length) return [...smi, ...pci.filter((g) => g.vendor !== "nvidia")];
  if (pciNvidia > 0) {
    const why = failure("nvidia-smi", smiSection, smiText !== undefined);
    warn(`${why}: NVIDIA GPU names from PCI IDs, memory unknown (is the NVIDIA driver installed?)`);
  }
  return pci;
}
