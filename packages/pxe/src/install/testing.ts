/**
 * Sample install contexts for tests (and for trying the renderers by hand): one per image
 * format, and the variations the table-driven tests run every renderer through.
 */
import type { ImageSpec, InstallContext } from "./types.js";

export const SAMPLE_KEYS = [
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPMqxJFpSTcQdLa0G08bPtJcxFfzM7uAo8Bf7C7PLRRG ops@lab",
  "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBNthcRQBvKp2eFdoxcVtLp213d5rNOLXF/5xYAu7jcshrbMIrofoSZE7tKJC2bHDT7nOT3DHobUnwL8Llg3XNQQ= ci key",
];

export const SAMPLE_IMAGES: Record<string, ImageSpec> = {
  ubuntu: {
    name: "ubuntu-24.04",
    format: "autoinstall",
    arch: "x86_64",
    kernel: "https://releases.ubuntu.com/24.04/netboot/amd64/linux",
    initrd: ["https://releases.ubuntu.com/24.04/netboot/amd64/initrd"],
    repo: "https://releases.ubuntu.com/24.04/ubuntu-24.04.3-live-server-amd64.iso",
  },
  rocky: {
    name: "rocky-9",
    format: "kickstart",
    arch: "x86_64",
    kernel: "vmlinuz",
    initrd: ["initrd.img"],
    repo: "https://dl.rockylinux.org/pub/rocky/9/BaseOS/x86_64/os/",
  },
  debian: {
    name: "debian-12",
    format: "preseed",
    arch: "x86_64",
    kernel: "linux",
    initrd: ["initrd.gz"],
    repo: "deb.debian.org",
  },
  talos: {
    name: "talos-1.8",
    format: "talos",
    arch: "x86_64",
    kernel: "vmlinuz-amd64",
    initrd: ["initramfs-amd64.xz"],
    talos: { mode: "pull", version: "v1.8.3" },
  },
  discovery: {
    name: "lab-discovery",
    format: "none",
    arch: "x86_64",
    kernel: "vmlinuz",
    initrd: ["initrd.gz", "lab-tools.cpio.gz"],
    cmdline: "quiet",
  },
};

/** A worker config shaped like `talosctl gen config` output (secrets are dummies). */
export const SAMPLE_TALOS_WORKER = `version: v1alpha1
debug: false
persist: true
machine:
  type: worker
  token: abcdef.0123456789abcdef
  ca:
    crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t
    key: ""
  certSANs: []
  kubelet:
    image: ghcr.io/siderolabs/kubelet:v1.31.2
  network: {}
  install:
    disk: /dev/sda
    image: ghcr.io/siderolabs/installer:v1.8.2
    wipe: false
cluster:
  id: c2FtcGxlLWNsdXN0ZXItaWQ=
  secret: c2FtcGxlLXNlY3JldA==
  controlPlane:
    endpoint: https://10.0.0.10:6443
  clusterName: lab
  network:
    dnsDomain: cluster.local
    podSubnets:
      - 10.244.0.0/16
    serviceSubnets:
      - 10.96.0.0/12
  token: 0123ab.0123456789abcdef
  ca:
    crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t
    key: ""
`;

/** A context for `image`, with overrides. */
export function sampleContext(image: ImageSpec, over: Partial<InstallContext> = {}): InstallContext {
  return {
    hostname: "web-1",
    domain: "lab.internal",
    mac: "52:54:00:12:34:56",
    serverUrl: "http://10.0.0.1:8080",
    installToken: "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycA",
    joinToken: "labj_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ",
    sshAuthorizedKeys: SAMPLE_KEYS,
    syslog: { host: "10.0.0.1", port: 5514 },
    image,
    disk: "auto",
    reprovision: false,
    preserve: [],
    talosBaseConfig: image.format === "talos" ? SAMPLE_TALOS_WORKER : undefined,
    ...over,
  };
}

/** The variations every renderer is run through. */
export const CONTEXT_VARIANTS: { name: string; over: Partial<InstallContext> }[] = [
  { name: "fresh install, auto disk", over: {} },
  { name: "no join token, no syslog", over: { joinToken: undefined, syslog: undefined } },
  { name: "serial console", over: { console: "ttyS0,115200n8" } },
  { name: "explicit disk by id", over: { disk: "/dev/disk/by-id/nvme-Samsung_SSD_980_S64DNX0R123456" } },
  { name: "reprovision, nothing kept", over: { reprovision: true, preserve: [] } },
  {
    name: "agent, admin user and locale",
    over: {
      agentInstallUrl: "http://10.0.0.1:8080/agent/install.sh?arch=x86_64",
      adminUser: "ops",
      locale: "de_DE.UTF-8",
      timezone: "Europe/Berlin",
    },
  },
];

/** Kickstart-only variation: reprovision keeping volumes. */
export const REPROVISION_KEEP: Partial<InstallContext> = {
  reprovision: true,
  preserve: ["/home", "/srv", "/var/lib/longhorn"],
};
