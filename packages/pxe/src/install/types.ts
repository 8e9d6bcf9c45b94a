/**
 * What Lab needs to render one machine's unattended install: the image and the per-machine
 * context. Every string here ends up inside installer scripts, so `checkInstallContext`
 * validates each one against a strict character set before any renderer uses it.
 */

export type InstallFormat = "autoinstall" | "kickstart" | "preseed" | "talos" | "none";

export interface ImageSpec {
  name: string;
  format: InstallFormat;
  arch?: "x86_64" | "aarch64";
  /** A URL, or a file name under /pxe/v1/images/<name>/. */
  kernel: string;
  /** URLs, or file names under /pxe/v1/images/<name>/. */
  initrd: string[];
  /** Extra kernel arguments, space separated. */
  cmdline?: string;
  /** Installer mirror or ISO URL (autoinstall ISO, kickstart inst.repo, preseed mirror). */
  repo?: string;
  talos?: { mode: "pull" | "push"; version?: string; machine_config?: string };
  description?: string;
}

export interface InstallContext {
  hostname: string;
  domain: string;
  mac: string;
  /** Base URL the machine reaches `lab server` at, e.g. http://10.0.0.1:8080 (no trailing slash). */
  serverUrl: string;
  installToken: string;
  joinToken?: string;
  sshAuthorizedKeys: string[];
  syslog?: { host: string; port: number };
  image: ImageSpec;
  /** Serial console for installer and installed system, e.g. "ttyS0,115200"; none when unset. */
  console?: string;
  /** "auto" (NVMe first, then SATA/virtio, never USB/removable) or a device path. */
  disk: "auto" | string;
  reprovision: boolean;
  /** Mount points kept on reprovision, e.g. /home /srv (kickstart only). */
  preserve: string[];
  timezone?: string;
  locale?: string;
  adminUser?: string;
  /** Where the installed system downloads the lab agent's install script; optional. */
  agentInstallUrl?: string;
  /**
   * Talos only: the cluster's machine config (`talosctl gen config` → controlplane.yaml or
   * worker.yaml). Lab patches the hostname and install disk into it.
   */
  talosBaseConfig?: string;
}

/** A rendered per-machine file, as served under /pxe/v1/machines/<mac>/<token>/<file>. */
export interface InstallFile {
  contentType: string;
  body: string;
}
