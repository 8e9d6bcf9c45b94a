/**
 * QEMU test machines that network-boot on a boot network (see netns.ts): software-emulated
 * (`-accel tcg`, there is no KVM here), one vCPU, serial console to a file, `-no-reboot` so that
 * a reboot or power-off inside the guest ends the QEMU process.
 *
 * - `firmware: "bios"`: SeaBIOS and an e1000 NIC whose option ROM is iPXE (ipxe-qemu), so the
 *   machine runs iPXE directly: DHCP → HTTP script.
 * - `firmware: "uefi"`: OVMF (read-only code + a per-VM copy of the variable store) and a
 *   virtio NIC without option ROM, so the firmware's own PXE client fetches ipxe.efi over TFTP
 *   first: DHCP → TFTP ipxe.efi → iPXE DHCP → HTTP script.
 *
 *   const vm = await startVm({ net, tap, firmware: "bios", mac: randomMac(), serialPath });
 *   await vm.waitForSerial(/lab-init: inventory posted/, 5 * 60_000);
 *   expect(await vm.exited).toBe(0);
 *
 * Timeouts must be generous (minutes): emulation on 2 shared cores is slow and uneven.
 * Needs qemu-system-x86, ipxe-qemu and ovmf.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, open, readFile, rm, writeFile } from "node:fs/promises";
import type { BootNetwork, NsProcess } from "./netns.js";

export const OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd";
export const OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd";
const QEMU = "/usr/bin/qemu-system-x86_64";

export type DiskInterface = "virtio" | "ide" | "nvme";

export interface VmDisk {
  /** A raw image (see createDisk). */
  path: string;
  /** virtio (vda, type "virtual"), ide (sda on the PIIX controller), nvme (nvme0n1); default virtio. */
  interface?: DiskInterface;
}

export interface VmOptions {
  net: BootNetwork;
  /** A tap from `net.addTap()`. */
  tap: string;
  firmware: "bios" | "uefi";
  /** The NIC's MAC, lower-case colon form (see randomMac). */
  mac: string;
  /** Where the serial console is written (created or truncated). */
  serialPath: string;
  /** Default 512. */
  memoryMb?: number;
  /** vCPUs; default 1. */
  smp?: number;
  /**
   * Boots this kernel directly (QEMU's -kernel/-initrd/-append), as the boot loader on an
   * installed disk would, instead of the network.
   */
  kernel?: { path: string; initrd: string; append: string };
  /** Shortcut for one virtio disk. */
  diskPath?: string;
  disks?: VmDisk[];
  /** Default e1000 for bios, virtio for uefi. */
  nic?: "e1000" | "e1000e" | "virtio";
  /** Whether the NIC keeps QEMU's iPXE option ROM; default true for bios, false for uefi. */
  nicRom?: boolean;
  /** More QEMU arguments. */
  extraArgs?: string[];
  /** Boot from this image instead of the network: as a CD, or as a USB stick. */
  media?: { path: string; as: "cdrom" | "usb" };
}

export interface Vm {
  readonly mac: string;
  readonly pid: number;
  readonly serialPath: string;
  /** Date.now() when QEMU was started ("power-on"). */
  readonly startedAt: number;
  /** QEMU's exit code once it ends (0 after a guest power-off or reboot under -no-reboot). */
  readonly exited: Promise<number | null>;
  readonly running: boolean;
  /** Resolves with the match once the serial log matches; rejects on timeout or when QEMU exits first. */
  waitForSerial(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** The serial log so far. */
  serialText(): Promise<string>;
  /** QEMU's own stdout/stderr (errors about taps, firmware files, …). */
  qemuOutput(): string;
  /** Stops QEMU (SIGTERM, then SIGKILL) and removes its scratch files. */
  kill(): Promise<void>;
}

export interface DiskMarker {
  mac: string;
  time: string;
  line: string;
}

/** A locally administered MAC in QEMU's 52:54:00 range. */
export function randomMac(): string {
  const b = randomBytes(3);
  return `52:54:00:${[...b].map((x) => x.toString(16).padStart(2, "0")).join(":")}`;
}

/** Creates (or empties) a sparse raw disk image of `sizeMb` MiB. */
export async function createDisk(path: string, sizeMb: number): Promise<void> {
  const fh = await open(path, "w");
  try {
    await fh.truncate(sizeMb * 1024 * 1024);
  } finally {
    await fh.close();
  }
}

/** Reads the "LAB-INSTALLED <mac> <time>" marker the test installer writes to a disk's first sector. */
export async function readDiskMarker(path: string): Promise<DiskMarker | null> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(512);
    await fh.read(buf, 0, 512, 0);
    const line = buf.toString("latin1").split("\n")[0] ?? "";
    const m = /^LAB-INSTALLED ([0-9a-f:]{17}) (\S+)$/.exec(line);
    return m ? { mac: m[1] as string, time: m[2] as string, line } : null;
  } finally {
    await fh.close();
  }
}

function checkPrerequisites(firmware: "bios" | "uefi"): void {
  if (!existsSync(QEMU)) throw new Error(`${QEMU} is missing: apt-get install -y qemu-system-x86`);
  if (!existsSync("/usr/lib/ipxe/qemu/efi-e1000.rom")) {
    throw new Error("QEMU's iPXE option ROMs are missing: apt-get install -y ipxe-qemu");
  }
  if (firmware === "uefi" && (!existsSync(OVMF_CODE) || !existsSync(OVMF_VARS))) {
    throw new Error(`${OVMF_CODE} / ${OVMF_VARS} are missing: apt-get install -y ovmf`);
  }
}

function diskArgs(disks: VmDisk[]): string[] {
  const args: string[] = [];
  disks.forEach((d, i) => {
    const iface = d.interface ?? "virtio";
    if (/[,\s]/.test(d.path)) throw new Error(`disk path ${d.path} must not contain commas or spaces`);
    if (iface === "nvme") {
      args.push("-drive", `file=${d.path},format=raw,if=none,id=disk${i}`);
      args.push("-device", `nvme,drive=disk${i},serial=LAB${String(i).padStart(4, "0")}`);
    } else {
      args.push("-drive", `file=${d.path},format=raw,if=${iface},index=${i}`);
    }
  });
  return args;
}

function mediaArgs(m: { path: string; as: "cdrom" | "usb" }): string[] {
  if (/[,\s]/.test(m.path)) throw new Error(`media path ${m.path} must not contain commas or spaces`);
  return m.as === "cdrom"
    ? [
        "-drive",
        `file=${m.path},if=none,id=media,media=cdrom,readonly=on,format=raw`,
        "-device",
        "ide-cd,drive=media,bootindex=0",
      ]
    : [
        "-drive",
        `file=${m.path},if=none,id=media,format=raw,readonly=on`,
        "-device",
        "qemu-xhci",
        "-device",
        "usb-storage,drive=media,bootindex=0",
      ];
}

/** Starts a VM that network-boots from `tap`, or boots `media` (see the module comment). */
export async function startVm(opts: VmOptions): Promise<Vm> {
  checkPrerequisites(opts.firmware);
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(opts.mac))
    throw new Error(`MAC ${opts.mac} is not lower-case colon form`);
  if (/[,\s]/.test(opts.serialPath))
    throw new Error(`serial path ${opts.serialPath} must not contain commas or spaces`);
  await writeFile(opts.serialPath, "");
  const uefi = opts.firmware === "uefi";
  const nic = opts.nic ?? (uefi ? "virtio" : "e1000");
  // Booting from media: the NIC has no boot ROM, so only the media can reach Lab.
  const rom = opts.media ? false : (opts.nicRom ?? !uefi);
  const device = nic === "virtio" ? "virtio-net-pci" : nic;
  const scratch: string[] = [];

  const args = [
    "-name",
    `lab-test-${opts.mac.replaceAll(":", "")}`,
    "-accel",
    "tcg",
    "-smp",
    String(opts.smp ?? 1),
    "-m",
    String(opts.memoryMb ?? 512),
    "-nographic",
    "-vga",
    "none",
    "-monitor",
    "none",
    "-no-reboot",
    "-serial",
    `file:${opts.serialPath}`,
    "-netdev",
    `tap,id=n0,ifname=${opts.tap},script=no,downscript=no`,
    "-device",
    `${device},netdev=n0,mac=${opts.mac}${opts.media ? "" : ",bootindex=1"}${rom ? "" : ",romfile="}`,
    ...(opts.media ? mediaArgs(opts.media) : opts.kernel ? [] : ["-boot", "n"]),
  ];
  if (opts.kernel) {
    for (const f of [opts.kernel.path, opts.kernel.initrd])
      if (/[,\s]/.test(f)) throw new Error(`kernel file ${f} must not contain commas or spaces`);
    args.push("-kernel", opts.kernel.path, "-initrd", opts.kernel.initrd, "-append", opts.kernel.append);
  }
  if (uefi) {
    const vars = `${opts.serialPath}.OVMF_VARS.fd`;
    await copyFile(OVMF_VARS, vars);
    scratch.push(vars);
    args.push("-drive", `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`);
    args.push("-drive", `if=pflash,format=raw,unit=1,file=${vars}`);
  }
  const disks = [...(opts.diskPath ? [{ path: opts.diskPath }] : []), ...(opts.disks ?? [])];
  args.push(...diskArgs(disks), ...(opts.extraArgs ?? []));

  const startedAt = Date.now();
  const proc: NsProcess = opts.net.spawn(QEMU, args, { name: `qemu ${opts.firmware} ${opts.mac}` });
  const exited = proc.exited.then(async (e) => {
    for (const f of scratch) await rm(f, { force: true });
    return e.code;
  });
  const serialText = () => readFile(opts.serialPath, "utf8").catch(() => "");

  return {
    mac: opts.mac,
    pid: proc.pid,
    serialPath: opts.serialPath,
    startedAt,
    exited,
    get running() {
      return proc.running;
    },
    serialText,
    qemuOutput: () => proc.output(),
    async waitForSerial(re, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        // Read the state before the file: output written just before exit is still seen.
        const ended = !proc.running;
        const text = await serialText();
        const m = text.match(re);
        if (m) return m;
        const tail = `--- serial (tail) ---\n${text.slice(-3000)}\n--- qemu ---\n${proc.output().slice(-1000)}`;
        if (ended) throw new Error(`VM ${opts.mac} exited before its serial log matched ${re}\n${tail}`);
        if (Date.now() > deadline) {
          throw new Error(`VM ${opts.mac}: serial log did not match ${re} within ${timeoutMs} ms\n${tail}`);
        }
        await Promise.race([new Promise((r) => setTimeout(r, 250)), proc.exited]);
      }
    },
    async kill() {
      await proc.stop(3000);
      await exited;
    },
  };
}

/** Waits for the VM to power itself off; on time-out kills it and throws with its serial tail. */
export async function waitForExit(vm: Vm, what: string, timeoutMs: number): Promise<void> {
  const code = await Promise.race([
    vm.exited,
    new Promise<"timeout">((r) => setTimeout(() => r("timeout"), timeoutMs)),
  ]);
  if (code === "timeout") {
    const serial = await vm.serialText();
    await vm.kill();
    throw new Error(`the VM did not finish ${what}:\n${serial.slice(-3000)}`);
  }
}
