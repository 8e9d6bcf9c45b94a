/**
 * From a dispatch decision to the bytes a machine gets: the iPXE script, the per-machine
 * install files, the image files Lab serves itself, and the stored install log.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { type ImageSpec, isRemote } from "@lab/core";
import type { InstallContext, InstallFile } from "./install/index.js";
import { renderInstallFile } from "./install/index.js";
import {
  bootScript,
  debugScript,
  discoverScript,
  errorScript,
  installScript,
  localBootScript,
} from "./ipxe.js";
import { DEFAULT_IPXE_DIR, IPXE_FILES } from "./ipxe-files.js";
import type { BootDecision, Machine } from "./provisioner.js";

export { DEFAULT_IPXE_DIR, IPXE_FILES } from "./ipxe-files.js";

export interface DoctorCheck {
  ok: boolean;
  /** A boot cannot work without it (the others are for some machines or some modes). */
  required: boolean;
  /** What was found, or what is missing and how to get it. */
  line: string;
}

/** What the boot services need on this machine, and how to get what is missing. */
export function pxeDoctor(o: { ipxeDir?: string; home: string }): DoctorCheck[] {
  const dir = o.ipxeDir ?? DEFAULT_IPXE_DIR;
  const out: DoctorCheck[] = IPXE_FILES.map((f) => {
    const present = existsSync(join(dir, f));
    const fix =
      f === "ipxe-arm64.efi"
        ? "only arm64 machines need it: build iPXE for arm64 (make bin-arm64-efi/snp.efi) and put it there"
        : "apt-get install ipxe";
    const required = f === "undionly.kpxe" || f === "ipxe.efi";
    return { ok: present, required, line: present ? `${f} in ${dir}` : `${f} missing from ${dir} (${fix})` };
  });
  const images = join(o.home, "images", "lab-discovery");
  const built = existsSync(join(images, "vmlinuz")) && existsSync(join(images, "initrd.gz"));
  out.push({
    ok: built,
    required: true,
    line: built
      ? `discovery image in ${images}`
      : `no discovery image in ${images} (sudo lab pxe image build)`,
  });
  const root = process.getuid?.() === 0;
  out.push({
    ok: root,
    required: false,
    line: root
      ? "running as root: DHCP (67, 4011) and TFTP (69) can bind"
      : "not root: DHCP and TFTP need ports below 1024 (run lab server as root, or setcap cap_net_bind_service+ep on node)",
  });
  return out;
}

/** What every script and install file needs to know about this Lab and its network. */
export interface BootContext {
  /** The boot HTTP base as machines reach it, e.g. http://10.0.0.1:7480. */
  serverUrl: string;
  syslog?: { host: string; port: number };
  domain: string;
  sshAuthorizedKeys: string[];
  /** Serial console for installers and installed systems (only when asked: it slows real hardware). */
  console?: string;
  firmware?: "bios" | "efi";
  /** Mints a one-time agent join token for a machine being installed (identity service). */
  joinToken?: (name: string) => string | undefined;
  /** Where installed systems fetch the agent's install script. */
  agentInstallUrl?: string;
}

type Named = ImageSpec & { name: string };

/** The iPXE script for a decision (or the `/boot.ipxe` chain script). */
export function renderBootScript(d: BootDecision | { action: "chain" }, ctx: BootContext): string {
  try {
    switch (d.action) {
      case "chain":
        return bootScript(ctx.serverUrl);
      case "discover":
        return discoverScript({
          serverUrl: ctx.serverUrl,
          mac: d.mac,
          discoveryToken: d.token,
          image: d.image,
          syslog: ctx.syslog,
          console: ctx.console,
        });
      case "install":
        return installScript(installContext(d.machine, d.image, d.token, ctx, d.reprovision));
      case "debug":
        return debugScript({
          serverUrl: ctx.serverUrl,
          mac: d.machine.mac,
          hostname: d.machine.name ?? undefined,
          image: d.image,
          installToken: d.token,
          syslog: ctx.syslog,
          console: ctx.console,
        });
      case "local":
        return localBootScript(ctx.firmware ?? "bios");
      case "refuse":
        return errorScript(d.message);
    }
  } catch (e) {
    // A script that cannot be rendered (bad value in the model) still tells the console why.
    return errorScript(`cannot boot this machine: ${(e as Error).message}`);
  }
}

/** A per-machine install file (user-data, ks.cfg, preseed.cfg, talos.yaml, …). */
export function renderMachineFile(
  file: string,
  o: { machine: Machine; image: Named; token: string },
  ctx: BootContext,
): InstallFile | undefined {
  return renderInstallFile(installContext(o.machine, o.image, o.token, ctx, false), file);
}

export function installContext(
  m: Machine,
  image: Named,
  token: string,
  ctx: BootContext,
  reprovision: boolean,
): InstallContext {
  const hostname = m.name ?? `machine-${m.mac.replaceAll(":", "")}`;
  const joinToken = ctx.joinToken?.(hostname);
  return {
    hostname,
    domain: ctx.domain,
    mac: m.mac,
    serverUrl: ctx.serverUrl,
    installToken: token,
    ...(joinToken ? { joinToken } : {}),
    sshAuthorizedKeys: ctx.sshAuthorizedKeys,
    ...(ctx.syslog ? { syslog: ctx.syslog } : {}),
    image,
    ...(ctx.console ? { console: ctx.console } : {}),
    ...(ctx.agentInstallUrl && joinToken ? { agentInstallUrl: ctx.agentInstallUrl } : {}),
    disk: "auto",
    reprovision,
    preserve: reprovision ? m.preserve : [],
  };
}

/**
 * The local file behind `/pxe/v1/images/<image>/<file>`: only the image's own kernel and
 * initrds, from LAB_HOME/images/<image>/ (names only: no paths, no traversal).
 */
export function resolveImageFile(imagesDir: string, image: Named, file: string): string | undefined {
  const own = [image.kernel, ...image.initrd].filter((f) => !isRemote(f)).map((f) => basename(f));
  if (!own.includes(file) || file !== basename(file) || file.startsWith(".")) return undefined;
  const path = join(imagesDir, image.name, file);
  return existsSync(path) ? path : undefined;
}

/** The last `n` lines of a machine's stored install log (local mode reads the file). */
export function readInstallLog(dir: string, mac: string, n: number): string[] {
  const path = join(dir, `${mac.replaceAll(":", "-")}.log`);
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, "utf8").split("\n").filter(Boolean);
  return lines.slice(-n);
}
