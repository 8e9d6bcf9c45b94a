/**
 * Test helpers that run generated shell for real: with dash (Debian's /bin/sh, like the
 * Ubuntu live system and Anaconda's POSIX mode) and with busybox ash on a PATH of busybox
 * applets only (what debian-installer has), against a fake /sys tree.
 */
import { execFile } from "node:child_process";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";

export type Shell = "dash" | "busybox";

export interface ShResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `script` with the given shell; never rejects on a non-zero exit. */
export function runSh(
  shell: Shell,
  script: string,
  env: Record<string, string> = {},
  opts: { busyboxBin?: string; timeoutMs?: number } = {},
): Promise<ShResult> {
  const [cmd, args] =
    shell === "dash" ? ["/usr/bin/dash", ["-c", script]] : ["/usr/bin/busybox", ["sh", "-c", script]];
  const PATH =
    shell === "busybox"
      ? [env.PATH_PREFIX, opts.busyboxBin].filter(Boolean).join(":")
      : [env.PATH_PREFIX, process.env.PATH].filter(Boolean).join(":");
  return new Promise((resolve, reject) => {
    execFile(
      cmd as string,
      args as string[],
      { env: { ...env, PATH, HOME: "/tmp" }, timeout: opts.timeoutMs ?? 20_000, maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && (err as NodeJS.ErrnoException).code === "ENOENT")
          return reject(
            new Error(
              `${cmd} is missing: apt-get install -y ${shell === "dash" ? "dash" : "busybox-static"}`,
            ),
          );
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** A directory of busybox applet links (`busybox --install -s`), for a d-i-like PATH. */
export async function busyboxBin(dir: string): Promise<string> {
  const bin = join(dir, "busybox-bin");
  await mkdir(bin, { recursive: true });
  const list = await new Promise<string>((resolve, reject) =>
    execFile("busybox", ["--list"], (err, out) =>
      err ? reject(new Error("busybox is missing: apt-get install -y busybox-static")) : resolve(out),
    ),
  );
  for (const applet of list.split("\n").filter(Boolean)) {
    await symlink("/usr/bin/busybox", join(bin, applet)).catch(() => {});
  }
  return bin;
}

export interface FakeDisk {
  name: string;
  sizeGiB: number;
  removable?: boolean;
  ro?: boolean;
  /** Device path under /sys/devices (decides USB or not). */
  path: string;
}

const SECTORS_PER_GIB = 2 * 1024 * 1024;

/** Builds a fake sysfs: devices/<path>/block/<name> with size/removable/ro, block/<name> links. */
export async function fakeSysfs(
  root: string,
  disks: FakeDisk[],
  opts: { efi?: boolean } = {},
): Promise<string> {
  const sys = join(root, "sys");
  await mkdir(join(sys, "block"), { recursive: true });
  if (opts.efi) await mkdir(join(sys, "firmware", "efi", "efivars"), { recursive: true });
  for (const d of disks) {
    const devDir = join(sys, "devices", d.path, "block", d.name);
    await mkdir(devDir, { recursive: true });
    await writeFile(join(devDir, "size"), `${Math.round(d.sizeGiB * SECTORS_PER_GIB)}\n`);
    await writeFile(join(devDir, "removable"), d.removable ? "1\n" : "0\n");
    await writeFile(join(devDir, "ro"), d.ro ? "1\n" : "0\n");
    await symlink(join(sys, "devices", d.path), join(devDir, "device")).catch(() => {});
    await symlink(devDir, join(sys, "block", d.name));
  }
  return sys;
}

export const DISKS = {
  nvme: { name: "nvme0n1", sizeGiB: 512, path: "pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0" },
  nvmeMultipath: {
    name: "nvme0c0n1",
    sizeGiB: 512,
    path: "pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0c0",
  },
  sata: { name: "sda", sizeGiB: 240, path: "pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0" },
  usbSsd: {
    name: "sdb",
    sizeGiB: 1000,
    path: "pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0",
  },
  cardReader: {
    name: "sdc",
    sizeGiB: 64,
    removable: true,
    path: "pci0000:00/0000:00:17.0/ata2/host1/target1:0:0/1:0:0:0",
  },
  virtio: { name: "vda", sizeGiB: 40, path: "pci0000:00/0000:00:04.0/virtio1" },
  tinyVirtio: { name: "vdb", sizeGiB: 1, path: "pci0000:00/0000:00:05.0/virtio2" },
  roVirtio: { name: "vdc", sizeGiB: 100, ro: true, path: "pci0000:00/0000:00:06.0/virtio3" },
  emmc: { name: "mmcblk0", sizeGiB: 64, path: "platform/80860F14:00/mmc_host/mmc0/mmc0:0001" },
  emmcBoot: { name: "mmcblk0boot0", sizeGiB: 8, path: "platform/80860F14:00/mmc_host/mmc0/mmc0:0001b" },
  loop: { name: "loop0", sizeGiB: 200, path: "virtual/block-loop" },
  cdrom: { name: "sr0", sizeGiB: 9, path: "pci0000:00/0000:00:17.0/ata3/host2/target2:0:0/2:0:0:0" },
} satisfies Record<string, FakeDisk>;

export interface ProgressServer {
  url: string;
  /** Parsed JSON bodies of POST /pxe/v1/progress, in arrival order. */
  progress: { stage: string; status: string; message?: string; mac: string }[];
  close(): Promise<void>;
}

/** A local stand-in for Lab's progress endpoint. */
export async function progressServer(): Promise<ProgressServer> {
  const { createServer } = await import("node:http");
  const progress: ProgressServer["progress"] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => {
      body += c.toString();
    });
    req.on("end", () => {
      if (req.url?.startsWith("/pxe/v1/progress")) {
        try {
          progress.push(JSON.parse(body));
        } catch {
          progress.push({ stage: "?", status: "unparseable", message: body, mac: "" });
        }
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    progress,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
