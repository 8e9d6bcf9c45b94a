/**
 * Proves the end-to-end boot harness (test/support/netns.ts, qemu.ts, boot-image.ts and the
 * discovery image's /init) without Lab's server: dnsmasq serves DHCP and TFTP on the boot
 * network, a tiny node:http server in this process (on the host end of the host link) serves
 * the iPXE scripts, the kernel and the initrd, and takes the posts; a UDP socket takes syslog.
 *
 * - BIOS (iPXE ROM on an e1000): discovery posts an inventory HardwareSchema accepts, with the
 *   VM's real memory, disks and NIC, then powers off.
 * - UEFI (OVMF, virtio NIC without ROM): the firmware fetches ipxe.efi over TFTP, then the same.
 * - Install mode: every progress stage, syslog lines per stage, the marker on the NVMe disk
 *   (not on the other one), and a reboot that ends QEMU.
 *
 * Boots are software-emulated on shared cores: the timeouts are hang guards, and the durations
 * printed are for information only.
 */
import { createSocket, type Socket } from "node:dgram";
import { createReadStream } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HardwareSchema } from "@lab/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { type BootImage, ensureBootImage, ipxeBootScript } from "../support/boot-image.js";
import { type BootNetwork, createBootNetwork, type NsProcess, startPxeDnsmasq } from "../support/netns.js";
import { createDisk, randomMac, readDiskMarker, startVm, type Vm } from "../support/qemu.js";

const BOOT_TIMEOUT = 8 * 60_000;
const TOKEN = "harness-token-0123456789abcdefghijklmnopqrstuvwx";
const STAGES = ["booted", "partitioning", "installing", "configuring", "complete"];

const InventorySchema = HardwareSchema.extend({ mac: z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/) });

interface Post {
  path: string;
  token: string | undefined;
  contentType: string | undefined;
  body: string;
  at: number;
  from: string | undefined;
}
interface Syslog {
  text: string;
  from: string;
  at: number;
}

/** What the fake server saw of one machine. */
interface Machine {
  mode: "discover" | "install";
  /** install: kernel argument lab.fail=<stage>. */
  failAt?: string;
  dispatchedAt?: number;
  initrdDoneAt?: number;
  posts: Post[];
}

let net: BootNetwork;
let image: BootImage;
let work: string;
let server: http.Server;
let baseUrl: string;
let syslog: Socket;
let syslogPort: number;
let dnsmasq: NsProcess;
const machines = new Map<string, Machine>();
const syslogLines: Syslog[] = [];
const vms: Vm[] = [];

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? "/", baseUrl);
  const send = (status: number, body: string, type = "text/plain") => {
    res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
    res.end(body);
  };
  if (req.method === "GET" && url.pathname === "/boot.ipxe") {
    // As Lab's contract: the first script chains to a per-machine dispatch. The URL must be
    // absolute: iPXE takes everything before the first ':' as the scheme, even in a query.
    send(
      200,
      `#!ipxe\nchain ${baseUrl}/pxe/v1/dispatch?mac=\${net0/mac}&arch=\${buildarch}&platform=\${platform}\n`,
    );
    return;
  }
  if (req.method === "GET" && url.pathname === "/pxe/v1/dispatch") {
    const mac = url.searchParams.get("mac") ?? "";
    const m = machines.get(mac);
    if (!m) {
      send(404, `#!ipxe\necho unknown machine ${mac}\npoweroff\n`);
      return;
    }
    m.dispatchedAt = Date.now();
    const args = [
      "console=ttyS0",
      "panic=-1",
      "quiet",
      `lab.server=${baseUrl}`,
      `lab.mac=${mac}`,
      `lab.token=${TOKEN}`,
      `lab.mode=${m.mode}`,
      ...(m.mode === "install"
        ? [`lab.syslog=${net.hostIp}:${syslogPort}`, `lab.config=${baseUrl}/config.txt`]
        : []),
      ...(m.failAt ? [`lab.fail=${m.failAt}`] : []),
    ];
    const script = ipxeBootScript({
      kernelUrl: `${baseUrl}/vmlinuz`,
      initrdUrl: `${baseUrl}/initrd.gz?mac=${mac}`,
      args,
      echo: `lab-harness: dispatched ${mac} ${url.searchParams.get("platform")}`,
    });
    send(200, script);
    return;
  }
  if (req.method === "GET" && (url.pathname === "/vmlinuz" || url.pathname === "/initrd.gz")) {
    const mac = url.searchParams.get("mac");
    const m = mac ? machines.get(mac) : undefined;
    if (m) res.on("finish", () => (m.initrdDoneAt = Date.now()));
    const file = url.pathname === "/vmlinuz" ? image.kernel : image.initrd;
    stat(file).then(
      (st) => {
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": st.size });
        createReadStream(file).pipe(res);
      },
      () => send(404, "missing"),
    );
    return;
  }
  if (req.method === "GET" && url.pathname === "/config.txt") {
    send(200, "hello from the harness\n");
    return;
  }
  if (req.method === "POST" && url.pathname.startsWith("/pxe/v1/")) {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const post: Post = {
        path: url.pathname,
        token: req.headers["x-lab-install-token"] as string | undefined,
        contentType: req.headers["content-type"],
        body,
        at: Date.now(),
        from: req.socket.remoteAddress,
      };
      let mac: string | undefined;
      try {
        mac = (JSON.parse(body) as { mac?: string }).mac;
      } catch {
        // /pxe/v1/log is plain text: attribute it by source address.
        mac = [...machines.entries()].find(([, m]) =>
          m.posts.some((p) => p.from === req.socket.remoteAddress),
        )?.[0];
      }
      const m = mac ? machines.get(mac) : undefined;
      if (m) m.posts.push(post);
      else orphanPosts.push(post);
      if (post.token !== TOKEN) send(401, "bad token");
      else send(200, "{}", "application/json");
    });
    return;
  }
  send(404, "not found");
}
const orphanPosts: Post[] = [];

function seconds(from: number, to: number | undefined): string {
  return to === undefined ? "—" : `${((to - from) / 1000).toFixed(1)} s`;
}

async function bootOne(opts: {
  label: string;
  firmware: "bios" | "uefi";
  mode: "discover" | "install";
  failAt?: string;
  disks: { name: string; sizeMb: number; interface: "virtio" | "ide" | "nvme" }[];
}): Promise<{ vm: Vm; machine: Machine; disks: Record<string, string>; exitCode: number | null }> {
  const mac = randomMac();
  const machine: Machine = { mode: opts.mode, failAt: opts.failAt, posts: [] };
  machines.set(mac, machine);
  const disks: Record<string, string> = {};
  for (const d of opts.disks) {
    disks[d.name] = join(work, `${opts.label}-${d.name}.img`);
    await createDisk(disks[d.name] as string, d.sizeMb);
  }
  const tap = await net.addTap();
  const vm = await startVm({
    net,
    tap,
    firmware: opts.firmware,
    mac,
    serialPath: join(work, `${opts.label}.serial.log`),
    memoryMb: 512,
    disks: opts.disks.map((d) => ({ path: disks[d.name] as string, interface: d.interface })),
  });
  vms.push(vm);
  const done =
    opts.mode === "discover"
      ? /lab-init: inventory posted/
      : opts.failAt
        ? /lab-init: FAILED at /
        : /lab-init: stage complete/;
  await vm.waitForSerial(done, BOOT_TIMEOUT);
  const exitCode = await Promise.race([
    vm.exited,
    new Promise<null>((_, reject) => setTimeout(() => reject(new Error("VM did not exit")), 120_000)),
  ]);
  const last = machine.posts.at(-1)?.at;
  console.log(
    `[harness] ${opts.label}: power-on → iPXE script fetched ${seconds(vm.startedAt, machine.dispatchedAt)}` +
      ` → initrd downloaded ${seconds(vm.startedAt, machine.initrdDoneAt)}` +
      ` → last post (${opts.mode === "discover" ? "inventory" : "progress"}) ${seconds(vm.startedAt, last)}` +
      ` → QEMU exited ${seconds(vm.startedAt, Date.now())}`,
  );
  return { vm, machine, disks, exitCode };
}

beforeAll(async () => {
  image = await ensureBootImage();
  work = await mkdtemp(join(tmpdir(), "lab-harness-"));
  net = await createBootNetwork({ prefix: "ldf" });
  const hostIp = net.hostIp as string;

  server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, hostIp, resolve));
  baseUrl = `http://${hostIp}:${(server.address() as AddressInfo).port}`;

  syslog = createSocket("udp4");
  syslog.on("message", (msg, rinfo) =>
    syslogLines.push({ text: msg.toString("utf8"), from: rinfo.address, at: Date.now() }),
  );
  await new Promise<void>((resolve) => syslog.bind(0, hostIp, resolve));
  syslogPort = syslog.address().port;

  const tftp = join(net.dir, "tftp");
  await mkdir(tftp);
  await copyFile("/usr/lib/ipxe/ipxe.efi", join(tftp, "ipxe.efi"));
  await copyFile("/usr/lib/ipxe/undionly.kpxe", join(tftp, "undionly.kpxe"));
  dnsmasq = await startPxeDnsmasq(net, { ipxeScriptUrl: `${baseUrl}/boot.ipxe`, tftpRoot: tftp });
}, 20 * 60_000);

afterAll(async () => {
  await Promise.all(vms.map((vm) => vm.kill()));
  await net?.destroy();
  server?.close();
  syslog?.close();
  // LAB_HARNESS_KEEP=1 keeps the serial logs and disk images for a look afterwards.
  if (work && process.env.LAB_HARNESS_KEEP !== "1") await rm(work, { recursive: true, force: true });
  else if (work) console.log(`[harness] kept ${work}`);
});

function inventoryOf(machine: Machine): z.infer<typeof InventorySchema> {
  const posts = machine.posts.filter((p) => p.path === "/pxe/v1/inventory");
  expect(posts).toHaveLength(1);
  const post = posts[0] as Post;
  expect(post.token).toBe(TOKEN);
  expect(post.contentType).toBe("application/json");
  return InventorySchema.parse(JSON.parse(post.body));
}

describe("boot harness (no Lab server)", () => {
  it(
    "a BIOS VM runs iPXE from its NIC ROM, boots the discovery image and posts a valid inventory",
    async () => {
      const { vm, machine, exitCode } = await bootOne({
        label: "bios-discover",
        firmware: "bios",
        mode: "discover",
        disks: [
          { name: "vda", sizeMb: 64, interface: "virtio" },
          { name: "sda", sizeMb: 32, interface: "ide" },
        ],
      });
      const inv = inventoryOf(machine);
      console.log(`[harness] inventory: ${machine.posts[0]?.body.trim()}`);
      expect(inv.mac).toBe(vm.mac);
      expect(inv.arch).toBe("x86_64");
      expect(inv.firmware).toBe("bios");
      // 512 MiB of RAM, less the firmware's holes.
      expect(inv.memoryBytes).toBeGreaterThan(500 * 2 ** 20);
      expect(inv.memoryBytes).toBeLessThanOrEqual(512 * 2 ** 20);
      expect(inv.cpu.threads).toBe(1);
      expect(inv.disks).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            name: "vda",
            type: "virtual",
            sizeBytes: 64 * 2 ** 20,
            removable: false,
          }),
          expect.objectContaining({
            name: "sda",
            type: "virtual",
            sizeBytes: 32 * 2 ** 20,
            model: "QEMU HARDDISK",
          }),
        ]),
      );
      const nic = inv.nics.find((n) => n.mac === vm.mac);
      expect(nic?.speedMbps).toBe(1000);
      expect(nic?.ipv4[0]).toMatch(
        new RegExp(`^${net.subnet.replace(/\.0\/24$/, "").replaceAll(".", "\\.")}\\.\\d+$`),
      );
      expect(inv.system?.vendor).toBe("QEMU");
      expect(exitCode).toBe(0);
      expect(await vm.serialText()).toMatch(/lab-harness: dispatched .* pcbios/);
    },
    BOOT_TIMEOUT + 180_000,
  );

  it(
    "a UEFI VM (OVMF, virtio NIC without ROM) fetches ipxe.efi over TFTP and posts a valid inventory",
    async () => {
      const { vm, machine, exitCode } = await bootOne({
        label: "uefi-discover",
        firmware: "uefi",
        mode: "discover",
        disks: [{ name: "nvme", sizeMb: 64, interface: "nvme" }],
      });
      expect(dnsmasq.output()).toMatch(/sent \S*ipxe\.efi to 10\./);
      const inv = inventoryOf(machine);
      expect(inv.mac).toBe(vm.mac);
      expect(inv.firmware).toBe("efi");
      expect(inv.disks).toEqual([
        expect.objectContaining({ name: "nvme0n1", type: "nvme", sizeBytes: 64 * 2 ** 20, removable: false }),
      ]);
      expect(inv.nics.map((n) => n.mac)).toContain(vm.mac);
      expect(exitCode).toBe(0);
      expect(await vm.serialText()).toMatch(/lab-harness: dispatched .* efi/);
    },
    BOOT_TIMEOUT + 180_000,
  );

  it(
    "install mode posts every stage, sends syslog, writes the marker to the NVMe disk and reboots",
    async () => {
      const { vm, machine, disks, exitCode } = await bootOne({
        label: "bios-install",
        firmware: "bios",
        mode: "install",
        disks: [
          { name: "vda", sizeMb: 64, interface: "virtio" },
          { name: "nvme", sizeMb: 64, interface: "nvme" },
        ],
      });
      const progress = machine.posts
        .filter((p) => p.path === "/pxe/v1/progress")
        .map((p) => JSON.parse(p.body) as { mac: string; stage: string; status: string; message?: string });
      expect(progress.map((p) => p.stage)).toEqual(STAGES);
      expect(progress.every((p) => p.mac === vm.mac && p.status !== "failed")).toBe(true);
      expect(progress.at(-1)).toMatchObject({ stage: "complete", status: "ok" });
      expect(machine.posts.every((p) => p.token === TOKEN)).toBe(true);

      const marker = await readDiskMarker(disks.nvme as string);
      expect(marker?.mac).toBe(vm.mac);
      expect(await readDiskMarker(disks.vda as string)).toBeNull();

      const ip = machine.posts[0]?.from?.replace(/^::ffff:/, "");
      const lines = syslogLines.filter((l) => l.from === ip).map((l) => l.text);
      // RFC 3164 with a hostname: "<PRI>Mmm dd hh:mm:ss HOST TAG: MSG".
      const rfc3164 =
        /^<\d{1,3}>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d lab-[0-9a-f]{12} lab-install(\[\d+\])?: (\w+): /;
      expect(lines.every((l) => rfc3164.test(l))).toBe(true);
      const stagesLogged = new Set(lines.map((l) => rfc3164.exec(l)?.[2]));
      for (const s of STAGES) expect(stagesLogged).toContain(s);
      expect(lines.some((l) => /config: 23 bytes/.test(l))).toBe(true);
      expect(exitCode).toBe(0);
      expect(await vm.serialText()).toMatch(/lab-init: rebooting/);
    },
    BOOT_TIMEOUT + 180_000,
  );

  it(
    "an install that fails reports the stage as failed with the reason, posts its log and powers off",
    async () => {
      const { vm, machine, disks, exitCode } = await bootOne({
        label: "bios-install-fail",
        firmware: "bios",
        mode: "install",
        failAt: "installing",
        disks: [{ name: "vda", sizeMb: 64, interface: "virtio" }],
      });
      const progress = machine.posts
        .filter((p) => p.path === "/pxe/v1/progress")
        .map((p) => JSON.parse(p.body) as { stage: string; status: string; message?: string });
      expect(progress.map((p) => `${p.stage}:${p.status}`)).toEqual([
        "booted:ok",
        "partitioning:running",
        "installing:failed",
      ]);
      expect(progress.at(-1)?.message).toMatch(/lab\.fail=installing/);
      const log = machine.posts.find((p) => p.path === "/pxe/v1/log");
      expect(log?.contentType).toBe("text/plain");
      expect(log?.body).toMatch(/FAILED at installing/);
      expect(await readDiskMarker(disks.vda as string)).toBeNull();
      expect(exitCode).toBe(0);
      expect(await vm.serialText()).toMatch(/lab-init: powering off/);
    },
    BOOT_TIMEOUT + 180_000,
  );

  it("a second network coexists, and its router namespace hands out 10.X.Y.100-200 without boot options", async () => {
    const other = await createBootNetwork({ prefix: "ldf", ra: false, hostLink: false });
    try {
      expect(other.subnet).not.toBe(net.subnet);
      const router = await other.addRouterDhcp();
      expect(router.range).toEqual({ first: other.address(100), last: other.address(200) });
      // A client on the bridge: one end of a veth pair in the bridge, udhcpc on the other.
      await other.exec("ip", ["link", "add", "ldfc0", "type", "veth", "peer", "name", "ldfc1"]);
      await other.exec("ip", ["link", "set", "ldfc1", "master", other.bridge, "up"]);
      await other.exec("ip", ["link", "set", "ldfc0", "address", "52:54:00:aa:bb:cc", "up"]);
      const client = await other.exec("busybox", [
        "udhcpc",
        "-i",
        "ldfc0",
        "-f",
        "-q",
        "-n",
        "-t",
        "5",
        "-s",
        "/bin/true",
      ]);
      const got = /lease of (\S+) obtained/.exec(client.stdout + client.stderr)?.[1];
      const host = Number(got?.split(".")[3]);
      expect(got?.startsWith(other.subnet.replace(/0\/24$/, ""))).toBe(true);
      expect(host).toBeGreaterThanOrEqual(100);
      expect(host).toBeLessThanOrEqual(200);
      expect(await router.leases()).toEqual([expect.objectContaining({ mac: "52:54:00:aa:bb:cc", ip: got })]);
      expect(router.process.output()).not.toMatch(/bootfile-name|option:175/);
    } finally {
      await other.destroy();
    }
  });
});
