/**
 * iPXE scripts Lab serves: the chain script, and one script per dispatch decision (install,
 * discover, debug, local boot, error). Every script starts with `#!ipxe` and echoes one
 * `lab: …` marker line saying what Lab decided; tests read these from the serial console.
 *
 * iPXE splits a line on whitespace only, treats a token that starts with `#` as a comment and a
 * lone `;`, `&&` or `||` as a separator, and expands `${…}` everywhere. It has no quoting, so
 * every interpolated value is validated against a strict character set (LabError otherwise);
 * a token such as `ds=nocloud-net;s=URL` passes through to the kernel unchanged.
 */
import { LabError } from "@lab/core";
import type { ImageSpec, InstallContext } from "./install/types.js";
import {
  checkCmdline,
  checkConsole,
  checkHostname,
  checkImage,
  checkInstallContext,
  checkInstallToken,
  checkMac,
  checkServerUrl,
  checkSyslog,
  imageFileUrl,
  machineFileUrl,
} from "./install/validate.js";

/** The dispatch URL the chain script fetches (iPXE fills in the settings). */
export function dispatchUrl(serverUrl: string): string {
  return `${checkServerUrl(serverUrl)}/pxe/v1/dispatch?mac=\${net0/mac}&arch=\${buildarch}&platform=\${platform}`;
}

/** `/boot.ipxe`: chains to the dispatch script; after three failures, boots the local disk. */
export function bootScript(serverUrl: string): string {
  const url = dispatchUrl(serverUrl);
  return [
    "#!ipxe",
    "echo lab: chain to dispatch",
    "set lab_tries:int32 0",
    ":dispatch",
    `chain --autofree ${url} || goto dispatch_failed`,
    ":dispatch_failed",
    "inc lab_tries",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell/iPXE syntax, not a template
    "iseq ${lab_tries} 3 && goto give_up ||",
    "echo lab: dispatch unreachable, retrying in 10 seconds",
    "sleep 10",
    "goto dispatch",
    ":give_up",
    "echo lab: dispatch unreachable, booting the local disk",
    "exit",
    "",
  ].join("\n");
}

/**
 * Kernel, initrds and arguments: the common tail of every booting script. Each initrd gets a
 * name and an `initrd=<name>` argument: an EFI kernel's stub loads them by name from iPXE
 * (Debian's 2019 iPXE has no initrd.magic); BIOS kernels ignore the argument.
 */
function loadAndBoot(serverUrl: string, image: ImageSpec, args: string[]): string[] {
  const kernel = imageFileUrl(serverUrl, image, image.kernel);
  const names = image.initrd.map((_, i) => `initrd${i}`);
  const all = [...names.map((n) => `initrd=${n}`), ...args];
  return [
    "imgfree",
    `kernel ${kernel}${all.length ? ` ${all.join(" ")}` : ""} || goto failed`,
    ...image.initrd.map(
      (f, i) => `initrd --name ${names[i]} ${imageFileUrl(serverUrl, image, f)} || goto failed`,
    ),
    "boot || goto failed",
    ":failed",
    "echo lab: boot failed, asking Lab again in 10 seconds",
    "sleep 10",
    `chain --autofree ${dispatchUrl(serverUrl)} || exit`,
  ];
}

function consoleArgs(console: string | undefined): string[] {
  return console ? ["console=tty0", `console=${console}`] : [];
}

function syslogArg(syslog: InstallContext["syslog"]): string[] {
  return syslog ? [`lab.syslog=${syslog.host}:${syslog.port}`] : [];
}

/** Kernel arguments Talos requires (KSPP) plus the platform. */
function talosArgs(image: ImageSpec): string[] {
  const kspp =
    image.arch === "aarch64"
      ? ["init_on_alloc=1", "slab_nomerge"]
      : ["init_on_alloc=1", "slab_nomerge", "pti=on"];
  return ["talos.platform=metal", ...kspp, "printk.devkmsg=on"];
}

/** The kernel arguments of an install boot, per format (exported for tests and docs). */
export function installKernelArgs(input: InstallContext): string[] {
  const ctx = checkInstallContext(input);
  const { image } = ctx;
  const file = (name: string) => machineFileUrl(ctx, name);
  let args: string[];
  switch (image.format) {
    case "autoinstall":
      args = [
        "ip=dhcp",
        ...(image.repo ? [`url=${image.repo}`] : []),
        // Without this cloud-init would fetch the ISO named by url= as its config.
        "cloud-config-url=/dev/null",
        "autoinstall",
        `ds=nocloud-net;s=${file("")}`,
      ];
      break;
    case "kickstart":
      args = [
        "ip=dhcp",
        `inst.ks=${file("ks.cfg")}`,
        ...(image.repo && /^https?:\/\//.test(image.repo) ? [`inst.repo=${image.repo}`] : []),
        ...(ctx.syslog ? [`inst.syslog=${ctx.syslog.host}:${ctx.syslog.port}`] : []),
      ];
      break;
    case "preseed":
      args = [
        "auto=true",
        "priority=critical",
        `url=${file("preseed.cfg")}`,
        "interface=auto",
        `hostname=${ctx.hostname}`,
        `domain=${ctx.domain || "lan"}`,
        // d-i's syslogd forwards to log-host from the start (add DEBCONF_DEBUG=5 via cmdline for more).
        ...(ctx.syslog ? [`log-host=${ctx.syslog.host}`, `log-port=${ctx.syslog.port}`] : []),
      ];
      break;
    case "talos":
      args = [
        ...talosArgs(image),
        ...(image.talos?.mode === "push" ? [] : [`talos.config=${file("talos.yaml")}`]),
      ];
      break;
    case "none":
      args = [
        `lab.server=${ctx.serverUrl}`,
        `lab.mac=${ctx.mac}`,
        `lab.token=${ctx.installToken}`,
        "lab.mode=install",
        `lab.config=${file("lab.env")}`,
        ...syslogArg(ctx.syslog),
      ];
      break;
  }
  return [...args, ...checkCmdline(image.cmdline, "image.cmdline"), ...consoleArgs(ctx.console)];
}

/** The install script for a machine in INSTALL_QUEUE. */
export function installScript(input: InstallContext): string {
  const ctx = checkInstallContext(input);
  return [
    "#!ipxe",
    `echo lab: install ${ctx.image.name} for ${ctx.hostname}`,
    ...loadAndBoot(ctx.serverUrl, ctx.image, installKernelArgs(ctx)),
    "",
  ].join("\n");
}

export interface DiscoverOptions {
  serverUrl: string;
  mac: string;
  /** The discovery token the discovery image posts its inventory with. */
  discoveryToken: string;
  /** Lab's discovery image (format none). */
  image: ImageSpec;
  syslog?: { host: string; port: number };
  console?: string;
}

/** The discovery script for an unknown machine: boots Lab's discovery image. */
export function discoverScript(o: DiscoverOptions): string {
  const serverUrl = checkServerUrl(o.serverUrl);
  const mac = checkMac(o.mac);
  const image = checkImage(o.image);
  const syslog = checkSyslog(o.syslog);
  const args = [
    `lab.server=${serverUrl}`,
    `lab.mac=${mac}`,
    `lab.token=${checkInstallToken(o.discoveryToken, "discoveryToken")}`,
    "lab.mode=discover",
    ...syslogArg(syslog),
    ...checkCmdline(image.cmdline, "image.cmdline"),
    ...consoleArgs(checkConsole(o.console)),
  ];
  return ["#!ipxe", `echo lab: discover ${mac}`, ...loadAndBoot(serverUrl, image, args), ""].join("\n");
}

export interface DebugOptions {
  serverUrl: string;
  mac: string;
  hostname?: string;
  image: ImageSpec;
  /** Lab's own images get it as lab.token (so they can post logs); installers ignore it. */
  installToken?: string;
  syslog?: { host: string; port: number };
  console?: string;
}

/** The debug script: the image's rescue or shell mode, no install. */
export function debugScript(o: DebugOptions): string {
  const serverUrl = checkServerUrl(o.serverUrl);
  const mac = checkMac(o.mac);
  const image = checkImage(o.image);
  const syslog = checkSyslog(o.syslog);
  const who = o.hostname ? checkHostname(o.hostname) : mac;
  let args: string[];
  switch (image.format) {
    case "kickstart":
      // Anaconda's rescue shell, reachable over SSH (inst.sshd) while it runs.
      args = [
        "ip=dhcp",
        "inst.rescue",
        "inst.sshd",
        ...(image.repo && /^https?:\/\//.test(image.repo) ? [`inst.repo=${image.repo}`] : []),
        ...(syslog ? [`inst.syslog=${syslog.host}:${syslog.port}`] : []),
      ];
      break;
    case "autoinstall":
      // The live installer without autoinstall: its menu has a shell.
      args = ["ip=dhcp", ...(image.repo ? [`url=${image.repo}`] : []), "cloud-config-url=/dev/null"];
      break;
    case "preseed":
      args = [
        "rescue/enable=true",
        ...(syslog ? [`log-host=${syslog.host}`, `log-port=${syslog.port}`] : []),
      ];
      break;
    case "talos":
      // No config: Talos stays in maintenance mode, reachable with talosctl --insecure.
      args = talosArgs(image);
      break;
    case "none":
      args = [
        `lab.server=${serverUrl}`,
        `lab.mac=${mac}`,
        ...(o.installToken ? [`lab.token=${checkInstallToken(o.installToken)}`] : []),
        "lab.mode=debug",
        ...syslogArg(syslog),
      ];
      break;
  }
  args.push(...checkCmdline(image.cmdline, "image.cmdline"), ...consoleArgs(checkConsole(o.console)));
  return [
    "#!ipxe",
    `echo lab: debug ${image.name} for ${who}`,
    ...loadAndBoot(serverUrl, image, args),
    "",
  ].join("\n");
}

/** Firmware as Lab knows it, or as iPXE's ${platform} reports it. */
export type Firmware = "bios" | "pcbios" | "efi";

/** Boots the local disk: BIOS through INT 13h drive 0x80, EFI by returning to the firmware. */
export function localBootScript(firmware: Firmware): string {
  if (firmware === "efi") {
    return ["#!ipxe", "echo lab: local boot (efi)", "exit", ""].join("\n");
  }
  if (firmware !== "bios" && firmware !== "pcbios")
    throw new LabError(
      "LAB_E_INSTALL_BAD_VALUE",
      `firmware "${String(firmware).slice(0, 20)}" is not bios, pcbios or efi`,
    );
  return [
    "#!ipxe",
    "echo lab: local boot (bios)",
    "sanboot --no-describe --drive 0x80 || goto failed",
    ":failed",
    "echo lab: local disk not bootable, returning to the firmware",
    "exit",
    "",
  ].join("\n");
}

/** Text safe to echo: no `${`, comment or separator tokens, one line, bounded. */
export function ipxeText(text: string): string {
  return String(text)
    .replace(/\s+/g, " ")
    .replace(/[^A-Za-z0-9 .,:_()/+=@%!?[\]-]/g, "?")
    .trim()
    .slice(0, 200);
}

/** Shows an error on the console for a while, then returns to the firmware. */
export function errorScript(message: string): string {
  return ["#!ipxe", `echo lab: error ${ipxeText(message)}`, "sleep 30", "exit", ""].join("\n");
}
