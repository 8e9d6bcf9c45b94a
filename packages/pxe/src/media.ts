/**
 * Boot media for machines whose firmware cannot network-boot (or whose network has a DHCP
 * server Lab may not touch): one hybrid image — an ISO 9660 CD, and a disk image `dd` can write
 * to a USB stick — that starts Debian's iPXE and runs a script reaching Lab's dispatch URL.
 *
 *  - BIOS: isolinux loads `ipxe.lkrn` as a Linux kernel with the script as its initrd (iPXE runs
 *    an initrd script when started that way); the isohybrid MBR makes the same file boot from USB.
 *  - UEFI: an El Torito EFI image (FAT, made with mtools) holds `EFI/BOOT/BOOTX64.EFI` = ipxe.efi
 *    and `autoexec.ipxe`, which iPXE runs from the volume it was loaded from; the GPT entry
 *    xorriso adds (`-isohybrid-gpt-basdat`) points USB boots at the same FAT image.
 *
 * Nothing is compiled: Debian's iPXE binaries are used as shipped, so the script is not embedded
 * but carried beside them. Every tool is a Debian package (xorriso, mtools, isolinux,
 * syslinux-common, ipxe); a missing one is named with its install command.
 *
 * UEFI needs an ipxe.efi that runs `autoexec.ipxe` (iPXE 2021 and later: Debian 13, Ubuntu
 * 24.04). Debian 12's 2019 build does not — it would do a plain DHCP boot and stop at "Nothing
 * to boot" — so it is refused for UEFI with the way out (a newer iPXE, or a BIOS-only image),
 * never written into an image that only looks like it boots UEFI machines.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { LabError } from "@lab/core";
import { bootScript } from "./ipxe.js";

export type MediaKind = "iso" | "usb";

export interface MediaOptions {
  kind: MediaKind;
  /** Lab's boot HTTP base URL the machine reaches, e.g. http://10.0.0.1:7480. */
  serverUrl: string;
  /** Where the image is written (atomically: a temporary file, then a rename). */
  out: string;
  /** Debian's iPXE binaries (default /usr/lib/ipxe). */
  ipxeDir?: string;
  /** Leave UEFI out (for an iPXE whose ipxe.efi cannot run a script from the media). */
  biosOnly?: boolean;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface MediaResult {
  path: string;
  bytes: number;
  script: string;
  firmware: ("bios" | "uefi")[];
}

const ISOLINUX_DIR = "/usr/lib/ISOLINUX";
const SYSLINUX_BIOS = "/usr/lib/syslinux/modules/bios";
/** Big enough for ipxe.efi (~1 MiB) and the script, in FAT12 units mformat understands. */
const EFI_IMAGE_KIB = 2880;

const TOOLS: { path: string; pkg: string }[] = [
  { path: "/usr/bin/xorriso", pkg: "xorriso" },
  { path: "/usr/bin/mformat", pkg: "mtools" },
  { path: "/usr/bin/mmd", pkg: "mtools" },
  { path: "/usr/bin/mcopy", pkg: "mtools" },
  { path: join(ISOLINUX_DIR, "isolinux.bin"), pkg: "isolinux" },
  { path: join(ISOLINUX_DIR, "isohdpfx.bin"), pkg: "isolinux" },
  { path: join(SYSLINUX_BIOS, "ldlinux.c32"), pkg: "syslinux-common" },
];

/**
 * Whether this ipxe.efi runs `autoexec.ipxe` from the volume it was loaded from: the feature
 * (iPXE's efi_autoexec, 2021) names the file in the binary; builds without it never mention it.
 */
export function ipxeEfiRunsAutoexec(ipxeEfi: Buffer): boolean {
  return ipxeEfi.includes("autoexec.ipxe", 0, "latin1");
}

/**
 * The media's script: get an address (retrying, a cable may come late), then Lab's own boot
 * script, which chains to the dispatch URL with this machine's MAC.
 */
export function mediaScript(serverUrl: string): string {
  const boot = bootScript(serverUrl).split("\n").slice(1); // without its #!ipxe line
  return [
    "#!ipxe",
    "echo lab: boot media, looking for Lab",
    ":net",
    "dhcp && goto lab ||",
    "echo lab: no DHCP answer yet, retrying in 5 seconds",
    "sleep 5",
    "goto net",
    ":lab",
    ...boot,
  ].join("\n");
}

/** Builds the image; throws LAB_E_MEDIA_TOOL_MISSING (with the apt line) or LAB_E_MEDIA_BUILD. */
export async function buildMedia(o: MediaOptions): Promise<MediaResult> {
  const log = o.log ?? (() => undefined);
  const ipxeDir = o.ipxeDir ?? "/usr/lib/ipxe";
  const uefi = !o.biosOnly;
  const ipxeEfi = join(ipxeDir, "ipxe.efi");
  const missing = [
    ...TOOLS,
    { path: join(ipxeDir, "ipxe.lkrn"), pkg: "ipxe" },
    ...(uefi ? [{ path: ipxeEfi, pkg: "ipxe" }] : []),
  ].filter((t) => !existsSync(t.path));
  if (missing.length) {
    const pkgs = [...new Set(missing.map((t) => t.pkg))].join(" ");
    throw new LabError(
      "LAB_E_MEDIA_TOOL_MISSING",
      `building boot media needs ${missing.map((t) => t.path).join(", ")}: apt-get install -y ${pkgs}`,
    );
  }
  if (uefi && !ipxeEfiRunsAutoexec(await readFile(ipxeEfi))) {
    throw new LabError(
      "LAB_E_MEDIA_IPXE_UEFI",
      `${ipxeEfi} cannot run a script from boot media (it predates iPXE's autoexec.ipxe, 2021; ` +
        "Debian 12 ships a 2019 build): give --ipxe-dir with a newer iPXE (Debian 13's ipxe " +
        "package: apt-get download ipxe/trixie && dpkg-deb -x ipxe_*.deb DIR, then DIR/usr/lib/ipxe), " +
        "or --bios-only for an image that boots BIOS machines only",
    );
  }
  const script = mediaScript(o.serverUrl);
  const work = await mkdtemp(join(tmpdir(), "lab-media-"));
  try {
    const root = join(work, "iso");
    await mkdir(join(root, "isolinux"), { recursive: true });
    await writeFile(join(root, "lab.ipxe"), script);
    await copyFile(join(ipxeDir, "ipxe.lkrn"), join(root, "ipxe.lkrn"));
    await copyFile(join(ISOLINUX_DIR, "isolinux.bin"), join(root, "isolinux", "isolinux.bin"));
    await copyFile(join(SYSLINUX_BIOS, "ldlinux.c32"), join(root, "isolinux", "ldlinux.c32"));
    await writeFile(
      join(root, "isolinux", "isolinux.cfg"),
      [
        "DEFAULT lab",
        "PROMPT 0",
        "TIMEOUT 0",
        "LABEL lab",
        "  LINUX /ipxe.lkrn",
        "  INITRD /lab.ipxe",
        "",
      ].join("\n"),
    );

    if (uefi) {
      log("EFI system image (FAT): EFI/BOOT/BOOTX64.EFI and autoexec.ipxe");
      const efi = join(root, "efi.img");
      await run("mformat", ["-i", efi, "-C", "-f", String(EFI_IMAGE_KIB), "-v", "LABEFI", "::"]);
      await run("mmd", ["-i", efi, "::/EFI", "::/EFI/BOOT"]);
      await run("mcopy", ["-i", efi, ipxeEfi, "::/EFI/BOOT/BOOTX64.EFI"]);
      await run("mcopy", ["-i", efi, join(root, "lab.ipxe"), "::/autoexec.ipxe"]);
    }

    log(`hybrid image (${uefi ? "BIOS and UEFI" : "BIOS"}, CD and USB): ${o.out}`);
    await mkdir(dirname(o.out), { recursive: true });
    const partial = join(dirname(o.out), `.${basename(o.out)}.partial`);
    await run("xorriso", [
      "-as",
      "mkisofs",
      "-quiet",
      "-o",
      partial,
      "-V",
      "LAB_BOOT",
      "-J",
      "-R",
      "-b",
      "isolinux/isolinux.bin",
      "-c",
      "isolinux/boot.cat",
      "-no-emul-boot",
      "-boot-load-size",
      "4",
      "-boot-info-table",
      "-isohybrid-mbr",
      join(ISOLINUX_DIR, "isohdpfx.bin"),
      ...(uefi ? ["-eltorito-alt-boot", "-e", "efi.img", "-no-emul-boot", "-isohybrid-gpt-basdat"] : []),
      root,
    ]);
    await rename(partial, o.out);
    const firmware: MediaResult["firmware"] = uefi ? ["bios", "uefi"] : ["bios"];
    return { path: o.out, bytes: (await stat(o.out)).size, script, firmware };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Runs a build tool; its stderr becomes the error message when it fails. */
function run(bin: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      err = (err + d).slice(-4000);
    });
    child.once("error", (e) =>
      reject(new LabError("LAB_E_MEDIA_BUILD", `${bin} could not run: ${(e as Error).message}`)),
    );
    child.once("close", (code) =>
      code === 0
        ? resolve()
        : reject(
            new LabError("LAB_E_MEDIA_BUILD", `${bin} ${args[0] ?? ""} failed (${code}): ${err.trim()}`),
          ),
    );
  });
}
