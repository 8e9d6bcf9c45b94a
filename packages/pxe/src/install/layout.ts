/**
 * Lab's disk layout (bastion design): EFI 600 MiB and /boot 3 GiB partitions, the rest one LVM
 * volume group `labvg`. On reprovision the partitions are reused, the system volumes recreated
 * and the volumes named in `preserve` kept as they are.
 */

export interface LabVolume {
  /** Mount point, or "swap". */
  mount: string;
  /** LV name in labvg. */
  name: string;
  /** Wanted size in MiB; scaled down together when the disk is smaller than the sum. */
  sizeMiB: number;
  fstype: "xfs" | "swap";
  /** Takes the space left in the VG. */
  grow: boolean;
}

export const VOLUME_GROUP = "labvg";
export const EFI_MIB = 600;
export const BOOT_MIB = 3072;
/** Label of the /boot file system, so a reprovision finds the partition again. */
export const BOOT_LABEL = "labboot";

const GiB = 1024;

/** The volumes every machine gets. */
export const BASE_VOLUMES: readonly LabVolume[] = [
  { mount: "swap", name: "swap", sizeMiB: 27 * GiB, fstype: "swap", grow: false },
  { mount: "/", name: "root", sizeMiB: 33 * GiB, fstype: "xfs", grow: false },
  { mount: "/var", name: "var", sizeMiB: 100 * GiB, fstype: "xfs", grow: false },
  { mount: "/var/log", name: "var_log", sizeMiB: 10 * GiB, fstype: "xfs", grow: false },
  { mount: "/home", name: "home", sizeMiB: 10 * GiB, fstype: "xfs", grow: false },
  { mount: "/srv", name: "srv", sizeMiB: 20 * GiB, fstype: "xfs", grow: false },
];

/** Role volumes that exist only when a machine asks to keep them. */
const KNOWN_EXTRA: Record<string, Omit<LabVolume, "mount" | "name">> = {
  "/var/lib/longhorn": { sizeMiB: 10 * GiB, fstype: "xfs", grow: true },
  "/var/lib/rancher": { sizeMiB: 20 * GiB, fstype: "xfs", grow: false },
};

/** LV name for a mount point: /var/lib/rancher -> var_lib_rancher. */
export function volumeName(mount: string): string {
  return mount === "/"
    ? "root"
    : mount.replace(/^\//, "").replaceAll("/", "_").replaceAll(".", "_").replaceAll("-", "_");
}

/** The volumes for a machine: the base set plus any preserved mount points beyond it. */
export function labVolumes(preserve: readonly string[]): LabVolume[] {
  const out = BASE_VOLUMES.map((v) => ({ ...v }));
  for (const mount of preserve) {
    if (out.some((v) => v.mount === mount)) continue;
    const extra = KNOWN_EXTRA[mount] ?? { sizeMiB: 10 * GiB, fstype: "xfs" as const, grow: false };
    out.push({ mount, name: volumeName(mount), ...extra });
  }
  return out;
}
