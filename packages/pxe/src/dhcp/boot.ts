/**
 * Which boot program a network-booting client gets, from its architecture (option 93), vendor class
 * (option 60) and user class (option 77 / iPXE's option 175). Pure and table-driven.
 *
 * The chain: firmware PXE (TFTP) → iPXE binary → iPXE asks DHCP again, now as iPXE → the HTTP
 * script `httpBase/boot.ipxe`, which chains to Lab's dispatch. UEFI HTTP-boot firmware skips TFTP
 * and fetches the iPXE EFI binary over HTTP.
 */
import { ARCH } from "./constants.js";

/** What the handler knows about the client, read from its DHCP request. */
export interface BootClient {
  /** Option 93's first type; undefined when the client sent none. */
  arch?: number;
  /** Option 60, e.g. "PXEClient:Arch:00007:UNDI:003016" or "HTTPClient:Arch:00016". */
  vendorClass?: string;
  /** Option 77 user classes (iPXE sends "iPXE"). */
  userClasses?: readonly string[];
  /** True when option 175 (iPXE encapsulated options) was present. */
  ipxeOptions?: boolean;
}

/** Boot settings; only `httpBase` is required. */
export interface BootConfig {
  /** Base URL of Lab's HTTP server as machines reach it, e.g. "http://10.0.0.1:8080" (no trailing /). */
  httpBase: string;
  /** TFTP server for the next-server field and option 66; the DHCP server's own address when unset. */
  tftpServer?: string;
  /** BIOS (arch 0) binary on TFTP. */
  biosFile?: string;
  /** x86-64 UEFI (arch 7, 9) binary on TFTP; "snponly.efi" uses the firmware's network driver. */
  efiX64File?: string;
  /** arm64 UEFI (arch 11) binary on TFTP. */
  efiArm64File?: string;
  /** Base URL the UEFI HTTP-boot binaries are fetched from; `httpBase` when unset. */
  httpFilesBase?: string;
}

export const BOOT_DEFAULTS = {
  biosFile: "undionly.kpxe",
  efiX64File: "ipxe.efi",
  efiArm64File: "ipxe-arm64.efi",
} as const;

/** The decision: a TFTP file or an HTTP URL, and the vendor class to answer with. */
export type BootChoice =
  | {
      ok: true;
      /** Boot file name (TFTP path) or full URL (HTTP). */
      file: string;
      protocol: "tftp" | "http";
      /** Which step of the chain this is, for the boot timeline. */
      stage: "bios" | "efi-x64" | "efi-arm64" | "http-efi-x64" | "http-efi-arm64" | "ipxe-script";
      /** Option 60 in the reply: UEFI HTTP boot needs "HTTPClient", PXE ROMs "PXEClient". */
      vendorClass: "PXEClient" | "HTTPClient";
    }
  | { ok: false; reason: string };

/** True when the client says it is iPXE (user class "iPXE" or option 175 present). */
export function isIpxeClient(client: BootClient): boolean {
  return client.ipxeOptions === true || (client.userClasses ?? []).includes("iPXE");
}

/** True when option 60 marks a PXE ROM or UEFI HTTP-boot client. */
export function isBootClient(client: BootClient): boolean {
  const vc = client.vendorClass ?? "";
  return vc.startsWith("PXEClient") || vc.startsWith("HTTPClient") || isIpxeClient(client);
}

function joinUrl(base: string, file: string): string {
  return `${base.replace(/\/+$/, "")}/${file.replace(/^\/+/, "")}`;
}

/** Chooses the boot program for a client; `{ ok: false, reason }` when Lab cannot boot it. */
export function chooseBoot(client: BootClient, cfg: BootConfig): BootChoice {
  // Already running iPXE: go straight to the HTTP script; handing it a TFTP binary again would loop.
  if (isIpxeClient(client)) {
    return {
      ok: true,
      file: joinUrl(cfg.httpBase, "boot.ipxe"),
      protocol: "http",
      stage: "ipxe-script",
      vendorClass: "PXEClient",
    };
  }
  const vc = client.vendorClass ?? "";
  const arch = client.arch;
  if (vc.startsWith("HTTPClient")) {
    const base = cfg.httpFilesBase ?? cfg.httpBase;
    if (arch === ARCH.EFI_X64_HTTP) {
      return {
        ok: true,
        file: joinUrl(base, cfg.efiX64File ?? BOOT_DEFAULTS.efiX64File),
        protocol: "http",
        stage: "http-efi-x64",
        vendorClass: "HTTPClient",
      };
    }
    if (arch === ARCH.EFI_ARM64_HTTP) {
      return {
        ok: true,
        file: joinUrl(base, cfg.efiArm64File ?? BOOT_DEFAULTS.efiArm64File),
        protocol: "http",
        stage: "http-efi-arm64",
        vendorClass: "HTTPClient",
      };
    }
    return { ok: false, reason: `UEFI HTTP boot for architecture ${arch ?? "(none)"} is not supported` };
  }
  if (!vc.startsWith("PXEClient"))
    return { ok: false, reason: "not a PXE client (no PXEClient/HTTPClient vendor class)" };
  switch (arch) {
    case undefined:
    case ARCH.BIOS:
      // PXE 2.1 ROMs always send option 93; an old ROM without it is a BIOS one.
      return {
        ok: true,
        file: cfg.biosFile ?? BOOT_DEFAULTS.biosFile,
        protocol: "tftp",
        stage: "bios",
        vendorClass: "PXEClient",
      };
    case ARCH.EFI_BC:
    case ARCH.EFI_X64:
      return {
        ok: true,
        file: cfg.efiX64File ?? BOOT_DEFAULTS.efiX64File,
        protocol: "tftp",
        stage: "efi-x64",
        vendorClass: "PXEClient",
      };
    case ARCH.EFI_ARM64:
      return {
        ok: true,
        file: cfg.efiArm64File ?? BOOT_DEFAULTS.efiArm64File,
        protocol: "tftp",
        stage: "efi-arm64",
        vendorClass: "PXEClient",
      };
    default:
      return {
        ok: false,
        reason: `PXE client architecture ${arch} is not supported (BIOS 0, x86-64 UEFI 7/9, arm64 UEFI 11 are)`,
      };
  }
}
