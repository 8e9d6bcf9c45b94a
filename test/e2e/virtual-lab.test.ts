/**
 * The ready virtual lab: three QEMU VMs (TCG, BIOS + iPXE NIC ROM) in a boot network, powered
 * through QMP, network-booting from `lab server --pxe` (proxy DHCP beside a router). The lab is
 * declared in the model and run with `lab run` in local mode over the server's own state
 * database (the timeline the boot services write is what the wait steps read).
 *
 *  - `virtual-3`: power on in order → each VM fetches Lab's iPXE dispatch → each is discovered
 *    (its inventory posted: DISCOVERED) → power off. One run (CI).
 *  - `virtual-3-dispatch`: the lighter lab for reliability runs — power on in order → dispatch
 *    seen for all three → power off. LAB_VLAB_RUNS=N repeats it N times (default 2) and prints
 *    `lab run report`; full discovery per run is minutes under TCG on two shared cores.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { copyFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BootImage, ensureBootImage } from "../support/boot-image.js";
import { labAsyncIn, ROOT, SLOW_MACHINE } from "../support/cli.js";
import { type BootNetwork, createBootNetwork, type NsProcess } from "../support/netns.js";
import { createDisk, randomMac, startVm, type Vm } from "../support/qemu.js";

const RUNS = Number(process.env.LAB_VLAB_RUNS ?? 2);

let net: BootNetwork;
let server: NsProcess;
let home: string;
let lab: ReturnType<typeof labAsyncIn>;
const vms: Vm[] = [];

async function startServer(image: BootImage): Promise<void> {
  home = mkdtempSync(join(tmpdir(), "lab-vlab-"));
  const images = join(home, "images", "lab-discovery");
  await mkdir(images, { recursive: true });
  await copyFile(image.kernel, join(images, "vmlinuz"));
  await copyFile(image.initrd, join(images, "initrd.gz"));
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
  await server.waitForOutput(/^Ready\.$/m, 60_000);
}

beforeAll(async () => {
  const image = await ensureBootImage();
  net = await createBootNetwork({ prefix: "lvl" });
  await net.addRouterDhcp();
  await startServer(image);
  const dir = mkdtempSync(join(tmpdir(), "lab-vlab-vms-"));
  const servers: string[] = [];
  for (let i = 1; i <= 3; i++) {
    const mac = randomMac();
    const qmp = join(dir, `vm-${i}.qmp`);
    const disk = join(dir, `vm-${i}.img`);
    await createDisk(disk, 64);
    // Started halted (-S): "off" until Lab powers it on through QMP; -no-shutdown keeps a
    // guest power-off (the discovery image ends with one) a halted machine Lab can start again.
    vms.push(
      await startVm({
        net,
        tap: await net.addTap(),
        firmware: "bios",
        mac,
        diskPath: disk,
        serialPath: join(dir, `vm-${i}.serial`),
        // -action reboot=reset undoes startVm's -no-reboot: Lab's power-on is a reset.
        extraArgs: [
          "-S",
          "-no-shutdown",
          "-action",
          "reboot=reset",
          "-qmp",
          `unix:${qmp},server=on,wait=off`,
        ],
      }),
    );
    servers.push(`  vm-${i}:
    provider: qemu
    mac: "${mac}"
    power: { driver: qmp, socket: ${qmp} }`);
  }
  const steps = (discover: boolean) => `
      - action: power-off
        name: all off
      - action: power-on
        interval: 1s
        explain: QMP starts each VM's vCPUs; SeaBIOS runs the NIC's iPXE ROM
      - action: wait-boot-stage
        stage: dispatch
        timeout: 4m
        explain: iPXE asked Lab what to boot (DHCP → HTTP dispatch)
${
  discover
    ? `      - action: wait-install-state
        state: DISCOVERED
        timeout: 10m
        explain: the discovery image posted the VM's hardware
`
    : ""
}      - action: power-off
        name: all off again`;
  writeFileSync(
    join(home, "vlab.yaml"),
    `servers:
${servers.join("\n")}
labs:
  virtual-3:
    description: three QEMU VMs network-boot from Lab and are discovered
    machines: [vm-1, vm-2, vm-3]
    steps:${steps(true)}
  virtual-3-dispatch:
    description: three QEMU VMs reach Lab's iPXE dispatch (the reliability lab)
    machines: [vm-1, vm-2, vm-3]
    steps:${steps(false)}
`,
  );
  // Local mode over the server's own state: the model, the runs and the boot timeline in one file.
  lab = labAsyncIn(home, SLOW_MACHINE);
  const applied = await lab(["apply", "-f", join(home, "vlab.yaml")]);
  expect(applied.code, applied.stderr).toBe(0);
}, 900_000);

afterAll(async () => {
  for (const vm of vms) await vm.kill();
  await server?.stop();
  await net?.destroy();
});

describe("the virtual lab", () => {
  it("virtual-3: three VMs powered over QMP boot from Lab and are discovered", async () => {
    const r = await lab(["run", "virtual-3"]);
    console.log(r.stdout);
    if (r.code !== 0) console.log(`── lab server (tail) ──\n${server.output().slice(-4000)}`);
    expect(r.code, r.stderr).toBe(0);
    const list = JSON.parse((await lab(["provision", "list", "-o", "json"])).stdout) as {
      mac: string;
      state: string;
    }[];
    for (const vm of vms) expect(list.find((m) => m.mac === vm.mac)?.state).toBe("DISCOVERED");
  }, 1_200_000);

  it(`virtual-3-dispatch: ${RUNS} consecutive runs, reported per step`, async () => {
    const r = await lab(["run", "virtual-3-dispatch", "--repeat", String(RUNS)]);
    const report = await lab(["run", "report", "virtual-3-dispatch"]);
    console.log(
      `${r.stdout
        .split("\n")
        .filter((l) => /^(ok|failed|timeout):/.test(l))
        .join("\n")}\n${report.stdout}`,
    );
    writeFileSync(
      join(tmpdir(), "lab-vlab-report.json"),
      (await lab(["run", "report", "virtual-3-dispatch", "-o", "json"])).stdout,
    );
    const json = JSON.parse(readFileSync(join(tmpdir(), "lab-vlab-report.json"), "utf8")) as {
      runs: number;
      ok: number;
    };
    expect(json.runs).toBe(RUNS);
    expect(json.ok).toBe(RUNS);
  }, 3_600_000);
});
