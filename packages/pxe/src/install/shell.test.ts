/**
 * The shell helpers run for real: dash (Ubuntu live / Anaconda-like POSIX sh) and busybox ash
 * with only busybox applets on PATH (debian-installer), against fake /sys trees, a fake
 * efibootmgr and a local HTTP server standing in for Lab.
 */

import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shellLibrary, shQuote } from "./shell.js";
import { SAMPLE_IMAGES, sampleContext } from "./testing.js";
import { busyboxBin, DISKS, type FakeDisk, fakeSysfs, runSh, type Shell } from "./testing-sh.js";
import type { InstallContext } from "./types.js";
import { checkInstallContext } from "./validate.js";

let root: string;
let bbBin: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "ldc-shell-"));
  bbBin = await busyboxBin(root);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const SHELLS: Shell[] = ["dash", "busybox"];

function lib(over: Partial<InstallContext> = {}, runner: "curtin" | "d-i" | "chroot-already" = "d-i") {
  const ctx = checkInstallContext(sampleContext(SAMPLE_IMAGES.debian as never, over));
  return shellLibrary(ctx, { target: "/target", runner });
}

let n = 0;
async function withLib(text: string): Promise<string> {
  const file = join(root, `lib-${n++}.sh`);
  await writeFile(file, text);
  return file;
}

describe("shQuote", () => {
  for (const s of ["plain", "it's", "'", "$(rm -rf /)", "a\\b", '"q"', ""]) {
    it(`round-trips ${JSON.stringify(s)}`, async () => {
      const r = await runSh("dash", `printf '%s' ${shQuote(s)}`);
      expect(r.stdout).toBe(s);
    });
  }
});

describe("install disk choice (lab_disk)", () => {
  const CASES: { name: string; disks: FakeDisk[]; wanted?: string; pick: string | null }[] = [
    {
      name: "NVMe wins over SATA and a bigger USB SSD",
      disks: [DISKS.sata, DISKS.usbSsd, DISKS.nvme],
      pick: "nvme0n1",
    },
    {
      name: "SATA when there is no NVMe; USB and removable skipped",
      disks: [DISKS.usbSsd, DISKS.cardReader, DISKS.sata],
      pick: "sda",
    },
    { name: "virtio in a VM", disks: [DISKS.virtio, DISKS.cdrom, DISKS.loop], pick: "vda" },
    { name: "virtio before eMMC", disks: [DISKS.emmc, DISKS.emmcBoot, DISKS.virtio], pick: "vda" },
    { name: "eMMC, never its boot partitions", disks: [DISKS.emmcBoot, DISKS.emmc], pick: "mmcblk0" },
    {
      name: "tiny and read-only disks skipped",
      disks: [DISKS.tinyVirtio, DISKS.roVirtio, DISKS.emmc],
      pick: "mmcblk0",
    },
    { name: "NVMe multipath node skipped", disks: [DISKS.nvmeMultipath, DISKS.sata], pick: "sda" },
    { name: "only USB and removable: no disk", disks: [DISKS.usbSsd, DISKS.cardReader], pick: null },
    { name: "no disks at all", disks: [], pick: null },
    {
      name: "explicit device that exists",
      disks: [DISKS.nvme, DISKS.tinyVirtio],
      wanted: "/dev/vdb",
      pick: "vdb",
    },
    { name: "explicit device that does not exist", disks: [DISKS.nvme], wanted: "/dev/sdz", pick: null },
  ];
  let k = 0;
  for (const shell of SHELLS) {
    for (const c of CASES) {
      it(`${shell}: ${c.name}`, async () => {
        const sys = await fakeSysfs(join(root, `sys-${k++}`), c.disks);
        const file = await withLib(lib({ disk: c.wanted ?? "auto" }));
        const r = await runSh(shell, `. ${file}; lab_disk`, { LAB_SYSFS: sys }, { busyboxBin: bbBin });
        if (c.pick === null) {
          expect(r.code).not.toBe(0);
          expect(r.stdout.trim()).toBe("");
        } else {
          expect({ code: r.code, out: r.stdout.trim(), err: r.stderr }).toEqual({
            code: 0,
            out: c.pick,
            err: "",
          });
        }
      });
    }
  }

  it("partition prefix", async () => {
    const file = await withLib(lib());
    const r = await runSh(
      "dash",
      `. ${file}; lab_part_prefix nvme0n1; lab_part_prefix sda; lab_part_prefix mmcblk0`,
    );
    expect(r.stdout.split("\n").filter(Boolean)).toEqual(["nvme0n1p", "sda", "mmcblk0p"]);
  });
});

describe("progress callbacks (lab_progress)", () => {
  let server: Server;
  let port: number;
  const requests: { url: string; token?: string; type?: string; body: string }[] = [];
  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let body = "";
      req.on("data", (c: Buffer) => {
        body += c.toString();
      });
      req.on("end", () => {
        requests.push({
          url: req.url ?? "",
          token: req.headers["x-lab-install-token"] as string | undefined,
          type: req.headers["content-type"],
          body,
        });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  for (const shell of SHELLS) {
    const via = shell === "dash" ? "curl" : "busybox wget";
    it(`${shell} posts the contract's JSON with the token (${via})`, async () => {
      requests.length = 0;
      const token = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycA";
      const file = await withLib(lib({ serverUrl: `http://127.0.0.1:${port}` }));
      const stage = join(root, `stage-${shell}`);
      const r = await runSh(
        shell,
        `. ${file}; lab_progress partitioning running 'disk "nvme0n1" \\ ok'; lab_stage`,
        { LAB_STAGE_FILE: stage },
        { busyboxBin: bbBin },
      );
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("partitioning");
      expect(requests.length).toBe(1);
      const req = requests[0] as (typeof requests)[number];
      expect(JSON.parse(req.body)).toEqual({
        mac: "52:54:00:12:34:56",
        stage: "partitioning",
        status: "running",
        message: "disk nvme0n1  ok",
      });
      expect(req.type).toBe("application/json");
      if (shell === "dash") {
        expect([req.url, req.token]).toEqual(["/pxe/v1/progress", token]);
      } else {
        expect(req.url).toBe(`/pxe/v1/progress?token=${token}`);
      }
    });
  }

  it("never fails the install when Lab is unreachable", async () => {
    const file = await withLib(lib({ serverUrl: "http://127.0.0.1:9" }));
    const r = await runSh("dash", `. ${file}; lab_progress complete ok done; echo after`);
    expect([r.code, r.stdout.includes("after")]).toEqual([0, true]);
  });
});

describe("network-first EFI boot order (lab_efi_network_first)", () => {
  const LISTING = [
    "BootCurrent: 0001",
    "Timeout: 0 seconds",
    "BootOrder: 0003,0001,0000,0002",
    "Boot0000* UiApp",
    "Boot0001* UEFI PXEv4 (MAC:525400123456)",
    "Boot0002* UEFI HTTPv4 (MAC:525400123456)",
    "Boot0003* ubuntu",
  ].join("\n");

  for (const shell of SHELLS) {
    it(`${shell}: puts the network entries first, keeps the rest in order`, async () => {
      const dir = join(root, `efi-${shell}`);
      const bin = join(dir, "bin");
      await mkdir(bin, { recursive: true });
      const record = join(dir, "order");
      const fake = join(bin, "efibootmgr");
      await writeFile(
        fake,
        `#!/bin/sh\nif [ "$1" = -o ]; then echo "$2" >${record}; exit 0; fi\ncat <<'EOF'\n${LISTING}\nEOF\n`,
      );
      await chmod(fake, 0o755);
      const sys = await fakeSysfs(join(dir, "root"), [], { efi: true });
      const file = await withLib(lib());
      const r = await runSh(
        shell,
        `. ${file}; lab_efi_network_first`,
        { LAB_SYSFS: sys, PATH_PREFIX: bin },
        { busyboxBin: bbBin },
      );
      expect(r.code).toBe(0);
      expect((await readFile(record, "utf8")).trim()).toBe("0001,0002,0003,0000");
    });
  }

  it("does nothing on BIOS machines", async () => {
    const sys = await fakeSysfs(join(root, "bios"), []);
    const file = await withLib(lib());
    const r = await runSh("dash", `. ${file}; lab_efi_network_first; echo rc=$?`, { LAB_SYSFS: sys });
    expect(r.stdout.trim()).toBe("rc=0");
  });
});

describe("join token (lab_write_join_token)", () => {
  for (const shell of SHELLS) {
    it(`${shell}: writes /etc/lab/join-token readable by its owner only`, async () => {
      const target = join(root, `target-${shell}`);
      const file = await withLib(lib());
      const r = await runSh(shell, `. ${file}; lab_write_join_token ${target}`, {}, { busyboxBin: bbBin });
      expect(r.code).toBe(0);
      const token = join(target, "etc/lab/join-token");
      expect(await readFile(token, "utf8")).toBe("labj_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ\n");
      expect((await stat(token)).mode & 0o777).toBe(0o600);
      expect((await stat(join(target, "etc/lab"))).mode & 0o777).toBe(0o700);
    });
  }

  it("is a no-op without a join token", async () => {
    const target = join(root, "target-none");
    const file = await withLib(lib({ joinToken: undefined }));
    const r = await runSh("dash", `. ${file}; lab_write_join_token ${target} && echo ok`);
    expect(r.stdout.trim()).toBe("ok");
    await expect(stat(join(target, "etc"))).rejects.toThrow();
  });
});

describe("the library parses in every installer shell", () => {
  const variants: Partial<InstallContext>[] = [
    {},
    { joinToken: undefined },
    { agentInstallUrl: "http://10.0.0.1/agent.sh?x=1" },
  ];
  for (const shell of SHELLS) {
    for (const runner of ["curtin", "d-i", "chroot-already"] as const) {
      it(`${shell} -n, runner ${runner}`, async () => {
        for (const v of variants) {
          const file = await withLib(lib(v, runner));
          const r = await runSh(shell, `set -e; . ${file}`, {}, { busyboxBin: bbBin });
          expect({ code: r.code, err: r.stderr }).toEqual({ code: 0, err: "" });
        }
      });
    }
  }
});
