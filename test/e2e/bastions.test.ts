/**
 * Two remote sites, one control plane, real VMs. Each site is a network namespace with its
 * own bridge; `lab bastion` runs inside it (scoped DHCP, TFTP, boot HTTP, syslog) and joins
 * `lab server`, which runs on the host and is reached over each site's host link — the only
 * way between a site and the control plane, as across a WAN. A machine is onboarded at each
 * site through the control plane; QEMU (BIOS, iPXE ROM) boots it from its site's bastion and
 * installs. At site A the control plane is killed while the VM installs: the bastion carries
 * the install to the end, and the restarted control plane shows it INSTALLED with every step.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BootImage, ensureBootImage } from "../support/boot-image.js";
import { labAsyncIn, ROOT, SLOW_MACHINE } from "../support/cli.js";
import { type BootNetwork, createBootNetwork, type NsProcess } from "../support/netns.js";
import { createDisk, randomMac, readDiskMarker, startVm, type Vm, waitForExit } from "../support/qemu.js";
import { killAllServers, type ServerProcess, startLabServer } from "../support/server-process.js";

const VM_TIMEOUT = 300_000;
const API_PORT = 17270;
const CHANNEL_PORT = 17271;

interface Site {
  name: string;
  net: BootNetwork;
  bastion: NsProcess;
}

let home: string;
let dir: string;
let image: BootImage;
let server: ServerProcess;
const sites: Site[] = [];

const startServer = () =>
  startLabServer({
    home,
    tls: true,
    args: [
      "--listen",
      `0.0.0.0:${API_PORT}`,
      "--agent-listen",
      `0.0.0.0:${CHANNEL_PORT}`,
      "--san",
      ...sites.map((s) => s.net.hostIp as string),
    ],
    readyTimeoutMs: 60_000,
  });

const cli = () =>
  labAsyncIn(join(home, "cli"), {
    ...SLOW_MACHINE,
    LAB_SERVER: `https://127.0.0.1:${API_PORT}`,
    LAB_TOKEN: server.token as string,
    LAB_CA_FILE: join(home, "server", "ca.crt"),
  });

async function machine(
  mac: string,
): Promise<{ state: string; name: string | null; bastion: string | null } | undefined> {
  const r = await cli()(["provision", "list", "-o", "json"]);
  if (r.code !== 0) return undefined;
  return (
    JSON.parse(r.stdout) as { mac: string; state: string; name: string | null; bastion: string | null }[]
  ).find((m) => m.mac === mac);
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 180_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end)
      throw new Error(
        `gave up waiting for ${what}\n${sites.map((s) => `── ${s.name} ──\n${s.bastion.output().slice(-3000)}`).join("\n")}`,
      );
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function addSite(name: string, prefix: string): Promise<Site> {
  const net = await createBootNetwork({ prefix });
  const state = join(dir, name);
  // The installer this test boots (the discovery image in install mode) lives at the site.
  const images = join(state, "images", "lab-discovery");
  await mkdir(images, { recursive: true });
  await copyFile(image.kernel, join(images, "vmlinuz"));
  await copyFile(image.initrd, join(images, "initrd.gz"));
  const site: Site = { name, net, bastion: undefined as unknown as NsProcess };
  sites.push(site);
  return site;
}

async function startBastion(site: Site, token?: string): Promise<void> {
  const { net } = site;
  site.bastion = net.spawn(
    process.execPath,
    [
      join(ROOT, "bin/lab.js"),
      "bastion",
      "--join",
      `https://${net.hostIp}:${API_PORT}`,
      "--name",
      site.name,
      "--ca-file",
      join(home, "server", "ca.crt"),
      "--state-dir",
      join(dir, site.name),
      "--pxe-interface",
      net.bridge,
      "--dhcp",
      "scoped",
      "--dhcp-pool",
      `${net.address(50)}-${net.address(60)}`,
      "--dhcp-router",
      net.serverIp,
      ...(token ? ["--join-token-file", await tokenFile(site.name, token)] : []),
    ],
    { env: { HOME: dir, PATH: process.env.PATH ?? "" }, name: `bastion ${site.name}` },
  );
  await site.bastion.waitForOutput(/^Ready\.$/m, 60_000);
}

async function tokenFile(name: string, token: string): Promise<string> {
  const path = join(dir, `${name}.token`);
  await writeFile(path, token, { mode: 0o600 });
  return path;
}

async function bootVm(site: Site, mac: string, disk: string): Promise<Vm> {
  return startVm({
    net: site.net,
    tap: await site.net.addTap(),
    firmware: "bios",
    mac,
    diskPath: disk,
    serialPath: join(dir, `${site.name}.serial`),
  });
}

const ended = (vm: Vm, what: string) => waitForExit(vm, what, VM_TIMEOUT);

/** Onboards a machine at a site through the control plane, then boots it there until it installs. */
async function installAt(site: Site, name: string, mac: string, disk: string): Promise<Vm> {
  const onboard = await cli()([
    "onboard",
    name,
    "--provider",
    "baremetal",
    "--mac",
    mac,
    "--image",
    "lab-discovery",
    "--bastion",
    site.name,
    "--yes",
    "--no-wait",
  ]);
  expect(onboard.code, onboard.stderr).toBe(0);
  await createDisk(disk, 64);
  const vm = await bootVm(site, mac, disk);
  await vm.waitForSerial(new RegExp(`lab: install lab-discovery for ${name}`), VM_TIMEOUT);
  return vm;
}

beforeAll(async () => {
  image = await ensureBootImage();
  home = mkdtempSync(join(tmpdir(), "lab-sites-"));
  dir = mkdtempSync(join(tmpdir(), "lab-sites-state-"));
  await addSite("site-a", "lba");
  await addSite("site-b", "lbb");
  server = await startServer();
  for (const s of sites) {
    const { body } = await server.request<{ token: string }>("POST", "/api/v1/join-tokens", { name: s.name });
    await startBastion(s, body.token);
  }
  await waitFor("both sites connected", async () => {
    const r = await cli()(["get", "bastions", "-o", "json"]);
    const rows = JSON.parse(r.stdout || "[]") as { connected: boolean }[];
    return rows.length === 2 && rows.every((b) => b.connected);
  });
}, 600_000);

afterAll(async () => {
  for (const s of sites) {
    await s.bastion?.stop();
    await s.net.destroy();
  }
  await killAllServers();
  rmSync(home, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

describe("two bastions, one control plane, VMs booting at each site", () => {
  it("installs a VM at site B through its bastion", async () => {
    const [, b] = sites as [Site, Site];
    const mac = randomMac();
    const disk = join(dir, "b.img");
    const vm = await installAt(b, "db-1", mac, disk);
    await ended(vm, "the install");
    const m = await waitFor("db-1 INSTALLED at the control plane", async () => {
      const x = await machine(mac);
      return x?.state === "INSTALLED" ? x : undefined;
    });
    expect(m.bastion).toBe("site-b");
    expect((await readDiskMarker(disk))?.mac).toBe(mac);
    // Site B's bastion gave the address (scoped DHCP, its own pool). Steps follow the machine's
    // state over the link (batched at the site), so the last ones may arrive a moment later.
    const timeline = await waitFor("site-b's steps up to INSTALLED", async () => {
      const t = (await cli()(["provision", "timeline", mac, "--all"])).stdout;
      return /state\s+INSTALLED/.test(t) ? t : undefined;
    });
    console.log(`\n── boot timeline at the control plane: site-b (${mac}) ──\n${timeline}`);
    expect(timeline).toMatch(/dhcp\s+ack/);
    expect(timeline).toContain("INSTALLED");
  }, 900_000);

  it("finishes an install at site A while the control plane is down, then catches the control plane up", async () => {
    const [a] = sites as [Site, Site];
    const mac = randomMac();
    const disk = join(dir, "a.img");
    const vm = await installAt(a, "web-1", mac, disk);
    server.kill("SIGKILL");
    await server.exited;
    await ended(vm, "the install (control plane down)");
    expect((await readDiskMarker(disk))?.mac).toBe(mac);
    await a.bastion.waitForOutput(/bastion link: lost/, 10_000);

    server = await startServer();
    await waitFor("web-1 INSTALLED at the restarted control plane", async () =>
      (await machine(mac))?.state === "INSTALLED" ? true : undefined,
    );
    const steps = JSON.parse((await cli()(["provision", "timeline", mac, "--all", "-o", "json"])).stdout) as {
      kind: string;
      type: string;
    }[];
    console.log(`site-a: ${steps.length} steps at the control plane after the outage`);
    expect(steps.filter((s) => s.kind === "progress" && s.type === "complete")).toHaveLength(1);
    expect(steps.filter((s) => s.kind === "state" && s.type === "INSTALLED")).toHaveLength(1);
    expect(steps.some((s) => s.kind === "dhcp")).toBe(true);
  }, 900_000);
});
