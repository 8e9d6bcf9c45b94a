import { describe, expect, it } from "vitest";
import { parseMounts, rootSource, userMounts } from "./mounts.js";

const HOST = `/dev/nvme0n1p2 / ext4 rw,relatime 0 0
proc /proc proc rw,nosuid 0 0
sysfs /sys sysfs rw 0 0
devtmpfs /dev devtmpfs rw 0 0
tmpfs /dev/shm tmpfs rw 0 0
tmpfs /run tmpfs rw 0 0
tmpfs /run/user/0 tmpfs rw 0 0
/dev/nvme0n1p1 /boot/efi vfat rw 0 0
tmpfs /tmp tmpfs rw 0 0
/dev/sda1 /srv/data ext4 rw 0 0
nas:/export /mnt/my\\040share nfs4 rw 0 0
overlay /var/lib/docker/overlay2/abc/merged overlay rw 0 0
tmpfs /var/lib/kubelet/pods/x/volumes/token tmpfs rw 0 0
/dev/loop3 /snap/core/1 squashfs ro 0 0
/dev/sda1 /srv/data ext4 rw 0 0
`;

describe("mounts from /proc/self/mounts", () => {
  it("keeps what an operator made, each once, sorted; octal escapes decoded", () => {
    expect(userMounts(parseMounts(HOST))).toEqual(["/mnt/my share", "/srv/data"]);
  });

  const cases: [string, string, string[]][] = [
    ["a tmpfs made by hand counts", "by-hand /srv/by-hand tmpfs rw 0 0", ["/srv/by-hand"]],
    [
      "the root and pseudo filesystems do not",
      "/dev/vda1 / ext4 rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw 0 0",
      [],
    ],
    ["a path that only starts like /run does", "/dev/vdb /runner ext4 rw 0 0", ["/runner"]],
    ["garbage lines are skipped", "nonsense\n\n  \nx y", []],
  ];
  it.each(cases)("%s", (_n, text, want) => {
    expect(userMounts(parseMounts(text))).toEqual(want);
  });

  it("names the device / lives on, or null for a non-block root", () => {
    expect(rootSource(parseMounts(HOST))).toBe("/dev/nvme0n1p2");
    expect(rootSource(parseMounts("overlay / overlay rw 0 0"))).toBeNull();
  });
});
