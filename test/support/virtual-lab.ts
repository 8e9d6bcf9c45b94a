/**
 * The ready virtual lab, built for real: a boot network namespace with a router's DHCP,
 * `lab server --pxe --discover --dhcp proxy` inside it (API, agent channel), three QEMU VMs
 * (TCG, SeaBIOS + the NIC's iPXE ROM) started halted with a QMP socket each, declared as
 * servers with `power: {driver: qmp}`, and the labs in examples/virtual-lab/labs.yaml.
 * test/e2e/virtual-lab.test.ts runs it; examples/virtual-lab/start.ts starts it as a demo.
 *
 * Two images are served: `lab-discovery` (what an unknown machine boots) and `lab-vm`, the
 * same kernel and initrd plus the glibc runtime initrd (scripts/build-agent-runtime.sh) with
 * `lab.agent=run`: its test install writes the disk marker, then stays up as the installed
 * system's first boot and runs Lab's agent, installed by /pxe/v1/agent/install.sh with the
 * one-time join token from its lab.env — so the machine enrols itself.
 *
 * Needs root, qemu-system-x86, ipxe-qemu, dnsmasq-base, iproute2 and `npm run build` (the
 * agent's single executable in dist/agent).
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BootImage, ensureBootImage } from "./boot-image.js";
import { labAsyncIn, ROOT, SLOW_MACHINE } from "./cli.js";
import { type BootNetwork, createBootNetwork, type NsProcess } from "./netns.js";
import { createDisk, randomMac, startVm, type Vm } from "./qemu.js";

export const LABS_FILE = join(ROOT, "examples/virtual-lab/labs.yaml");

export interface VirtualMachine {
  name: string;
  vm: Vm;
  tap: string;
  qmp: string;
  /** The VM's disk image (the test install writes its marker to the first sector). */
  disk: string;
  /**
   * Stops QEMU and starts it again with the same MAC, tap, disk and QMP socket but other
   * hardware — a person swapping RAM or CPUs. It comes up halted, as at the start, unless
   * `installed` boots the installed system from its disk (installedSystem()) right away.
   */
  relaunch(o: Hardware & { installed?: boolean }): Promise<void>;
}

/** A virtual machine's hardware. */
export interface Hardware {
  memoryMb: number;
  smp: number;
}

export interface VirtualLab {
  net: BootNetwork;
  server: NsProcess;
  /** lab server's LAB_HOME. */
  home: string;
  /** The API's URL and an admin token (the dashboard's login). */
  url: string;
  token: string;
  /** `lab` as a client of the server (logged in). */
  cli: ReturnType<typeof labAsyncIn>;
  /** The machine-facing boot URL (lab.server= of the images). */
  bootUrl: string;
  /** The server's CA (PEM), for API clients other than `lab`. */
  caPem: string;
  machines: VirtualMachine[];
  /** The model applied: servers (with their QMP sockets and taps) and the labs. */
  modelFile: string;
  close(): Promise<void>;
}

export interface VirtualLabOptions {
  /** Names the namespaces, bridge and taps (≤ 8 characters). */
  prefix: string;
  count?: number;
  /** The VMs' hardware (default 768 MiB, 1 vCPU). */
  hardware?: Hardware;
  /** Progress lines (the demo prints them; tests may too). */
  say?: (line: string) => void;
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(" ")}: ${stderr || err.message}`)) : resolve(stdout),
    ),
  );
}

async function serveImages(home: string, image: BootImage): Promise<void> {
  const discovery = join(home, "images", "lab-discovery");
  const vmImage = join(home, "images", "lab-vm");
  for (const dir of [discovery, vmImage]) {
    await mkdir(dir, { recursive: true });
    await copyFile(image.kernel, join(dir, "vmlinuz"));
    await copyFile(image.initrd, join(dir, "initrd.gz"));
  }
  await run("bash", [join(ROOT, "scripts/build-agent-runtime.sh"), join(vmImage, "agent-runtime.cpio.gz")]);
}

/**
 * The lab-vm image as its installed system's boot loader would start it: the same kernel, the
 * initramfs and glibc runtime as one initrd (QEMU's -initrd takes one file; concatenated cpio
 * archives are one to the kernel), and `lab.mode=installed` — restore the agent's identity the
 * test install kept on the disk, and run the agent (packages/pxe/assets/init.sh).
 */
function installedSystem(home: string, bootUrl: string): { path: string; initrd: string; append: string } {
  const dir = join(home, "images", "lab-vm");
  return {
    path: join(dir, "vmlinuz"),
    initrd: join(home, "vms", "installed-initrd.gz"),
    append: `lab.server=${bootUrl} lab.mode=installed console=ttyS0`,
  };
}

async function writeInstalledInitrd(home: string): Promise<void> {
  const dir = join(home, "images", "lab-vm");
  const parts = await Promise.all(["initrd.gz", "agent-runtime.cpio.gz"].map((f) => readFile(join(dir, f))));
  await writeFile(join(home, "vms", "installed-initrd.gz"), Buffer.concat(parts));
}

/** Builds the network, the server and the halted VMs, and applies the model; nothing is powered on. */
export async function startVirtualLab(o: VirtualLabOptions): Promise<VirtualLab> {
  const say = o.say ?? (() => {});
  const count = o.count ?? 3;
  say("discovery image: building or reusing the cached one");
  const image = await ensureBootImage();
  say("network: a boot namespace, a bridge and a router's DHCP");
  const net = await createBootNetwork({ prefix: o.prefix });
  let server: NsProcess | undefined;
  const vms: Vm[] = [];
  const close = async () => {
    for (const vm of vms) await vm.kill();
    await server?.stop();
    await net.destroy();
  };
  try {
    await net.addRouterDhcp();
    // A bridge takes the lowest MAC of its ports unless one is set: each tap added below could
    // change it, and the host's ARP entry for the server would point at the old one for a
    // while (requests from the host timed out). Setting the current MAC pins it.
    const link = await net.exec("ip", ["-j", "link", "show", net.bridge]);
    const bridgeMac = (JSON.parse(link.stdout) as { address: string }[])[0]?.address;
    if (bridgeMac) await net.exec("ip", ["link", "set", net.bridge, "address", bridgeMac]);
    const home = mkdtempSync(join(tmpdir(), `${o.prefix}-home-`));
    say("images: lab-discovery, and lab-vm with the agent's glibc runtime");
    await serveImages(home, image);
    say("lab server --pxe --discover --dhcp proxy in the namespace");
    server = net.spawn(
      process.execPath,
      [
        join(ROOT, "bin/lab.js"),
        "server",
        "--listen",
        `${net.serverIp}:7443`,
        "--agent-listen",
        `${net.serverIp}:7444`,
        "--pxe",
        "--pxe-interface",
        net.bridge,
        "--discover",
        "--dhcp",
        "proxy",
        "--power-poll",
        "0",
      ],
      { env: { LAB_HOME: home, HOME: home, PATH: process.env.PATH ?? "" }, name: "lab server" },
    );
    await server.waitForOutput(/^Ready\.$/m, 120_000);
    const url = `https://${net.serverIp}:7443`;
    const token = readFileSync(join(home, "server", "admin.token"), "utf8").trim();
    const cli = labAsyncIn(join(home, "cli"), SLOW_MACHINE);
    const login = await cli(["login", url, "--token", token, "--ca-file", join(home, "server", "ca.crt")]);
    if (login.code !== 0) throw new Error(`lab login failed: ${login.stderr}`);

    const bootUrl = /PXE: boot (http:\/\/\S+),/.exec(server.output())?.[1];
    if (!bootUrl) throw new Error("lab server did not say its boot URL (PXE: boot …)");
    const caPem = readFileSync(join(home, "server", "ca.crt"), "utf8");
    const dir = join(home, "vms");
    await mkdir(dir, { recursive: true });
    const machines: VirtualMachine[] = [];
    const servers: string[] = [];
    for (let i = 1; i <= count; i++) {
      const name = `vm-${i}`;
      const mac = randomMac();
      const qmp = join(dir, `${name}.qmp`);
      const disk = join(dir, `${name}.img`);
      await createDisk(disk, 64);
      const tap = await net.addTap();
      say(`${name}: QEMU (TCG, halted), MAC ${mac}, tap ${tap}`);
      // Started halted (-S): "off" until Lab powers it on through QMP; -no-shutdown keeps a
      // guest power-off (the discovery image ends with one) a halted machine Lab can start
      // again; -action reboot=reset undoes startVm's -no-reboot (Lab's power-on is a reset).
      const launch = (hw: Hardware, installed: boolean) =>
        startVm({
          net,
          tap,
          firmware: "bios",
          mac,
          diskPath: disk,
          // The agent (a 95 MiB Node executable) runs from RAM beside the initramfs.
          memoryMb: hw.memoryMb,
          smp: hw.smp,
          serialPath: join(dir, `${name}.serial`),
          ...(installed ? { kernel: installedSystem(home, bootUrl) } : {}),
          extraArgs: [
            ...(installed ? [] : ["-S"]),
            "-no-shutdown",
            "-action",
            "reboot=reset",
            "-qmp",
            `unix:${qmp},server=on,wait=off`,
          ],
        });
      const vm = await launch(o.hardware ?? { memoryMb: 768, smp: 1 }, false);
      vms.push(vm);
      const machine: VirtualMachine = {
        name,
        vm,
        tap,
        qmp,
        disk,
        async relaunch(hw) {
          await machine.vm.kill();
          const next = await launch(hw, hw.installed === true);
          vms.splice(vms.indexOf(machine.vm), 1, next);
          machine.vm = next;
        },
      };
      machines.push(machine);
      servers.push(`  ${name}:
    provider: qemu
    mac: "${mac}"
    power: { driver: qmp, socket: ${qmp} }`);
    }
    const modelFile = join(home, "virtual-lab.yaml");
    await writeFile(
      modelFile,
      `# The virtual lab's machines (generated: MACs, QMP sockets) and its images.
servers:
${servers.join("\n")}
images:
  lab-vm:
    description: the test install, then the installed system's first boot in RAM running Lab's agent
    format: none
    arch: x86_64
    kernel: vmlinuz
    initrd: [initrd.gz, agent-runtime.cpio.gz]
    cmdline: lab.agent=run
`,
    );
    // The chaos steps name the namespace and the taps through the environment of the server,
    // which runs host commands: labs.yaml reads LAB_VLAB_NS and LAB_VLAB_TAP_<machine>.
    const labs = readFileSync(LABS_FILE, "utf8")
      .replaceAll("@NS@", net.ns)
      .replace(
        /@TAP:(vm-\d+)@/g,
        (_m, n: string) => machines.find((x) => x.name === n)?.tap ?? "missing-tap",
      );
    await writeFile(join(home, "labs.yaml"), labs);
    // The labs name vm-1 … vm-3: a smaller lab (a provider's contract) has the machines only.
    for (const f of count >= 3 ? [modelFile, join(home, "labs.yaml")] : [modelFile]) {
      const applied = await cli(["apply", "-f", f]);
      if (applied.code !== 0) throw new Error(`lab apply -f ${f} failed: ${applied.stderr}`);
    }
    await writeInstalledInitrd(home);
    return { net, server, home, url, token, cli, bootUrl, caPem, machines, modelFile, close };
  } catch (e) {
    const tail = server ? `\n── lab server (tail) ──\n${server.output().slice(-3000)}` : "";
    await close();
    throw new Error(`${(e as Error).message}${tail}`);
  }
}
