/**
 * The mount points of a machine that are the user's to declare (`mounts:` on its server), read
 * from /proc/self/mounts. The system's own are left out — the kernel's pseudo filesystems, `/`,
 * /boot, /tmp, anything under /proc, /sys, /dev and /run, and what container runtimes mount
 * per pod — so a `mounts:` list names what an operator made (a data disk, an NFS share).
 */

export interface MountEntry {
  source: string;
  target: string;
  fstype: string;
}

/** Filesystems the kernel provides for itself: never something an operator declares. */
const PSEUDO = new Set([
  "proc",
  "sysfs",
  "devtmpfs",
  "devpts",
  "cgroup",
  "cgroup2",
  "securityfs",
  "debugfs",
  "tracefs",
  "pstore",
  "bpf",
  "mqueue",
  "hugetlbfs",
  "configfs",
  "fusectl",
  "autofs",
  "binfmt_misc",
  "efivarfs",
  "rpc_pipefs",
  "nsfs",
  "ramfs",
  "selinuxfs",
  "squashfs",
]);

const SYSTEM_POINTS = new Set(["/", "/boot", "/boot/efi", "/efi", "/tmp"]);
const SYSTEM_TREES = [
  "/proc/",
  "/sys/",
  "/dev/",
  "/run/",
  "/snap/",
  "/var/lib/docker/",
  "/var/lib/containerd/",
  "/var/lib/kubelet/",
];

/** `/proc/self/mounts` lines (fields octal-escaped: `\040` is a space). */
export function parseMounts(text: string): MountEntry[] {
  const octal = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  const out: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const [source, target, fstype] = line.trim().split(/\s+/);
    if (!source || !target?.startsWith("/") || !fstype) continue;
    out.push({ source: octal(source), target: octal(target), fstype });
  }
  return out;
}

/** Whether a mount is the system's own rather than one an operator made. */
export function isSystemMount(m: MountEntry): boolean {
  if (PSEUDO.has(m.fstype)) return true;
  if (SYSTEM_POINTS.has(m.target)) return true;
  // "/run" itself and everything under it: compare with a trailing slash on both sides.
  const dir = `${m.target}/`;
  return SYSTEM_TREES.some((t) => dir.startsWith(t));
}

/** The operator's mount points, each once (a point mounted over twice is one), sorted. */
export function userMounts(entries: MountEntry[]): string[] {
  return [...new Set(entries.filter((m) => !isSystemMount(m)).map((m) => m.target))].sort();
}

/** The device `/` is mounted from (`/dev/nvme0n1p2`), or null when it is not a block device. */
export function rootSource(entries: MountEntry[]): string | null {
  const root = entries.filter((m) => m.target === "/").pop();
  return root?.source.startsWith("/dev/") ? root.source : null;
}
