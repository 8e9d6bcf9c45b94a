/**
 * Ubuntu 24.04 autoinstall, served as cloud-init NoCloud files (`user-data`, `meta-data`,
 * `vendor-data`). The install disk is chosen at install time: an early command picks it (NVMe
 * first, never USB/removable) and writes its path into /autoinstall.yaml, which subiquity
 * re-reads after the early commands. Until then the storage match names a device that cannot
 * exist, so a failed choice stops the install instead of wiping an arbitrary disk.
 */
import { createHash } from "node:crypto";
import { LabError } from "@lab/core";
import { stringify } from "yaml";
import { shellLibrary } from "./shell.js";
import type { InstallContext } from "./types.js";
import { checkInstallContext, fqdn } from "./validate.js";

/** Stands in for the install disk until the early command has chosen it. */
export const DISK_PLACEHOLDER = "/dev/lab-install-disk-not-chosen";
const LIB = "/tmp/lab-install.sh";

/** The early command that writes the helper library into the live system. */
function writeLibrary(ctx: InstallContext): string {
  const lib = shellLibrary(ctx, { target: "/target", runner: "curtin" });
  return `mkdir -p /tmp && cat >${LIB} <<'LAB_EOF'\n${lib}LAB_EOF\n`;
}

function syslogCommand(ctx: InstallContext): string | undefined {
  if (!ctx.syslog) return undefined;
  const { host, port } = ctx.syslog;
  // rsyslog in the live system forwards everything over UDP; without it, a detached
  // journalctl | logger pipe does the same (its output closed so subiquity does not wait).
  return [
    "if command -v rsyslogd >/dev/null 2>&1; then",
    `  printf '*.* @${host}:${port}\\n' >/etc/rsyslog.d/10-lab.conf`,
    "  systemctl restart rsyslog || true",
    "elif command -v journalctl >/dev/null 2>&1 && command -v logger >/dev/null 2>&1; then",
    `  (journalctl -f -n 200 -o short | logger --udp --server ${host} --port ${port} -t installer) </dev/null >/dev/null 2>&1 &`,
    "fi",
    "",
  ].join("\n");
}

function chooseDiskCommand(): string {
  // The sed pattern is written so that it does not match itself inside /autoinstall.yaml.
  const pattern = DISK_PLACEHOLDER.replace("lab-install-disk", "lab-install[-]disk").replaceAll("/", "\\/");
  return [
    `. ${LIB}`,
    "DISK=$(lab_disk) || {",
    `  lab_progress partitioning failed "no install disk found (wanted $LAB_DISK_WANTED)"`,
    "  exit 1",
    "}",
    `sed -i "s/${pattern}/\\/dev\\/$DISK/" /autoinstall.yaml`,
    `lab_progress partitioning running "installing to $DISK"`,
    "lab_watch_target /target",
    "",
  ].join("\n");
}

/** The cloud-config the installed system boots with (autoinstall's `user-data` section). */
function targetUserData(ctx: InstallContext): Record<string, unknown> {
  return {
    hostname: ctx.hostname,
    fqdn: fqdn(ctx),
    prefer_fqdn_over_hostname: false,
    manage_etc_hosts: true,
    disable_root: true,
    ssh_pwauth: false,
    users: [
      {
        name: ctx.adminUser ?? "lab",
        gecos: "Lab administrator",
        groups: ["adm", "sudo"],
        shell: "/bin/bash",
        lock_passwd: true,
        sudo: "ALL=(ALL) NOPASSWD:ALL",
        ssh_authorized_keys: ctx.sshAuthorizedKeys,
      },
    ],
  };
}

/** The `autoinstall:` section as an object (validated in tests against Ubuntu's JSON Schema). */
export function autoinstallSection(input: InstallContext): Record<string, unknown> {
  const ctx = checkInstallContext(input);
  if (ctx.image.format !== "autoinstall")
    throw new LabError(
      "LAB_E_INSTALL_UNSUPPORTED",
      `image ${ctx.image.name} is ${ctx.image.format}, not autoinstall`,
    );
  if (ctx.reprovision && ctx.preserve.length > 0)
    throw new LabError(
      "LAB_E_INSTALL_UNSUPPORTED",
      `keeping ${ctx.preserve.join(", ")} on reprovision is implemented for kickstart images only; ` +
        `${ctx.image.name} (autoinstall) would wipe the disk`,
    );
  const early = [writeLibrary(ctx), `. ${LIB} && lab_progress booted ok "subiquity started"`];
  const syslog = syslogCommand(ctx);
  if (syslog) early.push(syslog);
  early.push(chooseDiskCommand());
  const late = [
    `. ${LIB} && lab_progress configuring running "configuring the system"`,
    `. ${LIB} && lab_write_join_token /target || { lab_progress configuring failed "could not write the join token"; exit 1; }`,
    `. ${LIB} && printf 'kernel.sysrq = 1\\n' >/target/etc/sysctl.d/90-lab-sysrq.conf`,
  ];
  if (ctx.console) {
    late.push(
      `. ${LIB} && sed -i 's/^GRUB_CMDLINE_LINUX="/&console=tty0 console=${ctx.console} /' /target/etc/default/grub && lab_in_target update-grub`,
    );
  }
  late.push(
    `. ${LIB} && lab_efi_network_first`,
    `. ${LIB} && lab_agent_install || { lab_progress configuring failed "the lab agent did not install"; exit 1; }`,
    `. ${LIB} && lab_progress complete ok "installed, rebooting"`,
  );
  const section: Record<string, unknown> = {
    version: 1,
    "early-commands": early,
    locale: ctx.locale,
    keyboard: { layout: "us" },
    timezone: ctx.timezone,
    storage: { layout: { name: "lvm", "sizing-policy": "all", match: { path: DISK_PLACEHOLDER } } },
    ssh: { "install-server": true, "allow-pw": false },
    "user-data": targetUserData(ctx),
    // curtin's webhook reporter POSTs one JSON event per request; Lab files them as log lines.
    reporting: {
      lab: {
        type: "webhook",
        endpoint: `${ctx.serverUrl}/pxe/v1/log?mac=${ctx.mac}&token=${ctx.installToken}`,
        level: "INFO",
      },
    },
    "late-commands": late,
    "error-commands": [`. ${LIB} && lab_progress "$(lab_stage)" failed "subiquity stopped with an error"`],
    shutdown: "reboot",
  };
  return section;
}

/** Renders `user-data`: `#cloud-config` with the `autoinstall:` section. */
export function renderAutoinstallUserData(input: InstallContext): string {
  const section = autoinstallSection(input);
  return `#cloud-config\n${stringify({ autoinstall: section }, { lineWidth: 0 })}`;
}

/** Renders `meta-data`: a fresh instance-id per install, so cloud-init runs again. */
export function renderAutoinstallMetaData(input: InstallContext): string {
  const ctx = checkInstallContext(input);
  const nonce = createHash("sha256").update(ctx.installToken).digest("hex").slice(0, 12);
  return stringify(
    { "instance-id": `lab-${ctx.mac.replaceAll(":", "")}-${nonce}`, "local-hostname": ctx.hostname },
    { lineWidth: 0 },
  );
}

/** Renders `vendor-data`: intentionally empty. */
export function renderAutoinstallVendorData(_input: InstallContext): string {
  return "";
}
