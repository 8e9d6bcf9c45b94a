/**
 * The real peer of every power driver, each read around the driver for the contract suite
 * (packages/power/src/contract.ts):
 *
 * - ipmi_sim (OpenIPMI) on a loopback UDP port, whose chassis_control program keeps the
 *   "machine" (power, boot device, starts) in files this side reads and a person may change;
 * - the DMTF mockup service (redfish-mockup.ts);
 * - a bare QEMU (TCG, no disk image needed) with two QMP sockets: the driver's and the observer's;
 * - a libvirt domain on a private session-mode libvirtd of its own;
 * - a relay board behind a socat pty pair (relay-board.ts);
 * - a "person" for the manual driver who presses the button when told, and whose machine is
 *   then seen in a real PXE Timeline (no person can run in CI: that stand-in is the mock).
 */
import { createSocket } from "node:dgram";
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  IpmiDriver,
  LibvirtDriver,
  ManualDriver,
  type PowerDriver,
  QmpDriver,
  QmpSession,
  RedfishDriver,
  RelayDriver,
  type TimelineLike,
  timelineBootWatch,
} from "@lab/power";
import type { PowerPeer } from "@lab/power/contract";
import { spawnTracked, type TrackedChild } from "./child.js";
import { startLibvirtSession } from "./libvirt-session.js";
import { startRedfishMockup } from "./redfish-mockup.js";
import { startRelayBoard } from "./relay-board.js";
import { until } from "./wait.js";

function scratch(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket("udp4");
    s.once("error", reject);
    s.bind(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function need(path: string, pkg: string): void {
  if (!existsSync(path))
    throw new Error(`${path} is missing: apt-get install -y ${pkg} (scripts/ensure-peers.sh)`);
}

// ---------------------------------------------------------------------------------- IPMI

const CHASSIS = `#!/bin/sh
# ipmi_sim's chassis_control program: "get PARM…" prints PARM:VALUE lines, "set PARM VALUE".
dir=$(dirname "$0")
op=$1; shift
case "$op" in
  get) for p in "$@"; do
         case "$p" in
           power) echo "power:$(cat "$dir/power")";;
           boot) echo "boot:$(cat "$dir/boot")";;
         esac
       done;;
  set) case "$1" in
         power) [ "$2" = 1 ] && [ "$(cat "$dir/power")" = 0 ] && echo start >> "$dir/starts"
                echo "$2" > "$dir/power";;
         reset) echo start >> "$dir/starts";;
         boot) echo "$2" > "$dir/boot";;
       esac;;
  check) exit 0;;
esac
`;

export async function ipmiSimPeer(): Promise<PowerPeer & { port: number }> {
  need("/usr/bin/ipmi_sim", "openipmi");
  need("/usr/bin/ipmitool", "ipmitool");
  const dir = scratch("lab-ipmi-");
  const port = await freeUdpPort();
  writeFileSync(join(dir, "power"), "0\n");
  writeFileSync(join(dir, "boot"), "default\n");
  writeFileSync(join(dir, "starts"), "");
  writeFileSync(join(dir, "chassis.sh"), CHASSIS);
  chmodSync(join(dir, "chassis.sh"), 0o755);
  writeFileSync(
    join(dir, "lan.conf"),
    `name "labtest"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 ${port}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user md2 md5 straight
    allowed_auths_operator md2 md5 straight
    allowed_auths_admin md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "${join(dir, "chassis.sh")}"
  user 2 true "admin" "lab-secret" admin 10 md2 md5 straight
`,
  );
  writeFileSync(
    join(dir, "sim.emu"),
    "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\nmc_enable 0x20\n",
  );
  const sim = spawnTracked("/usr/bin/ipmi_sim", [
    "-c",
    join(dir, "lan.conf"),
    "-f",
    join(dir, "sim.emu"),
    "-s",
    dir,
    "-n",
  ]);
  const make = (password: string, at = port) =>
    new IpmiDriver({ host: "127.0.0.1", port: at, user: "admin", password, timeoutSeconds: 1 });
  const driver = make("lab-secret");
  await until(
    `ipmi_sim on 127.0.0.1:${port} (${sim.output()})`,
    () =>
      driver.status().then(
        () => true,
        () => false,
      ),
    20_000,
  );
  const file = (name: string) => readFileSync(join(dir, name), "utf8").trim();
  return {
    port,
    driver,
    observed: async () => (file("power") === "1" ? "on" : "off"),
    outside: async (state) => {
      if (state === "on" && file("power") === "0") appendFileSync(join(dir, "starts"), "start\n");
      writeFileSync(join(dir, "power"), state === "on" ? "1\n" : "0\n");
    },
    // ipmi_sim hands "disk" to the chassis program as "default" (boot from the default hard drive).
    observedNextBoot: async () => {
      const b = file("boot");
      return b === "pxe" ? "pxe" : b === "default" ? "disk" : "none";
    },
    starts: async () => file("starts").split("\n").filter(Boolean).length,
    badCredentials: () => make("wrong-password"),
    unreachable: () => make("lab-secret", port === 65000 ? 65001 : 65000),
    cleanup: async () => {
      await sim.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ------------------------------------------------------------------------------- Redfish

/** How the driver trusts the mockup: plain HTTP, or HTTPS by its CA file or its pinned fingerprint. */
export type RedfishTrust = "http" | "ca-file" | "fingerprint";

export async function redfishPeer(trust: RedfishTrust = "http"): Promise<PowerPeer> {
  const bmc = await startRedfishMockup({ tls: trust !== "http" });
  bmc.system.PowerState = "Off";
  const verify =
    trust === "ca-file"
      ? { caFile: bmc.cert?.file }
      : trust === "fingerprint"
        ? { fingerprint: bmc.cert?.fingerprint }
        : {};
  const make = (password: string, url = bmc.url) =>
    new RedfishDriver({ url, user: bmc.user, password, ...verify });
  const bootOf = () => {
    const boot = bmc.system.Boot as Record<string, string>;
    if (boot.BootSourceOverrideEnabled === "Disabled") return "none" as const;
    return boot.BootSourceOverrideTarget === "Pxe"
      ? "pxe"
      : boot.BootSourceOverrideTarget === "Hdd"
        ? "disk"
        : "none";
  };
  return {
    driver: make(bmc.password),
    observed: async () => (bmc.system.PowerState === "On" ? "on" : "off"),
    outside: async (state) => {
      bmc.system.PowerState = state === "on" ? "On" : "Off";
    },
    observedNextBoot: async () => bootOf(),
    starts: async () => bmc.starts,
    badCredentials: () => make("wrong-password"),
    unreachable: () => make(bmc.password, "http://127.0.0.1:9"),
    cleanup: () => bmc.close(),
  };
}

// ---------------------------------------------------------------------------------- QEMU

export interface QemuPeer extends PowerPeer {
  /** The observer's QMP socket (the driver has its own). */
  observerSocket: string;
  qemu: TrackedChild;
}

/** A bare QEMU under TCG with a NIC and a disk named for boot order, paused at start (off). */
export async function qmpPeer(): Promise<QemuPeer> {
  need("/usr/bin/qemu-system-x86_64", "qemu-system-x86");
  const dir = scratch("lab-qmp-");
  const disk = join(dir, "disk.img");
  writeFileSync(disk, Buffer.alloc(1024 * 1024));
  const lab = join(dir, "lab.qmp");
  const observer = join(dir, "observer.qmp");
  const qemu = spawnTracked("/usr/bin/qemu-system-x86_64", [
    "-accel",
    "tcg",
    "-m",
    "64",
    "-smp",
    "1",
    "-nodefaults",
    "-nographic",
    "-no-shutdown",
    "-S",
    "-qmp",
    `unix:${lab},server=on,wait=off`,
    "-qmp",
    `unix:${observer},server=on,wait=off`,
    "-netdev",
    "user,id=n0,restrict=on",
    "-device",
    "e1000,netdev=n0,id=net0,romfile=,bootindex=2",
    "-drive",
    `if=none,id=d0,file=${disk},format=raw`,
    "-device",
    "virtio-blk-pci,drive=d0,id=disk0,bootindex=1",
  ]);
  await until(`QEMU's QMP sockets (${qemu.output()})`, () => existsSync(lab) && existsSync(observer), 30_000);
  const watch = await QmpSession.open(observer, 10_000);
  let starts = 0;
  watch.onEvent((e) => {
    // RESET: a reset was done; RESUME after a halt: the vCPUs run again. Either is a start.
    if (e === "RESET" || e === "RESUME") starts++;
  });
  const running = async () => ((await watch.execute("query-status")) as { running: boolean }).running;
  const make = (socket: string) => new QmpDriver({ socket, pxeDevice: "net0", diskDevice: "disk0" });
  return {
    observerSocket: observer,
    qemu,
    driver: make(lab),
    observed: async () => ((await running()) ? "on" : "off"),
    outside: async (state) => {
      // Someone at QEMU's monitor: `stop` / `cont` (a guest power-off would look like stop).
      if (state === "off") await watch.execute("stop");
      else if (!(await running())) await watch.execute("cont");
    },
    observedNextBoot: async () => {
      const idx = async (id: string) =>
        Number(await watch.execute("qom-get", { path: `/machine/peripheral/${id}`, property: "bootindex" }));
      const [pxe, disk] = [await idx("net0"), await idx("disk0")];
      return pxe >= 0 && pxe < disk ? "pxe" : "disk";
    },
    starts: async () => starts,
    unreachable: () => make(join(dir, "nobody-listens.qmp")),
    cleanup: async () => {
      watch.close();
      await qemu.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ------------------------------------------------------------------------------- libvirt

/**
 * One persistent libvirt domain (TCG, 32 MiB, no disk) on a private libvirtd (session mode,
 * as nobody, test/support/libvirt-session.ts). The system daemon is shared state on a machine
 * without systemd: a virtlogd killed earlier leaves its socket behind and every start is
 * refused, so the contract proves the driver against a daemon nobody else touches.
 */
export async function libvirtPeer(): Promise<PowerPeer> {
  const session = await startLibvirtSession("lab-power-lv-");
  const virsh = session.virsh;
  const dir = scratch("lab-libvirt-");
  const name = `lab-power-${process.pid}`;
  writeFileSync(
    join(dir, "domain.xml"),
    `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>
`,
  );
  virsh("define", join(dir, "domain.xml"));
  let starts = 0;
  const state = () => virsh("domstate", name);
  const make = (uri: string) => new LibvirtDriver({ uri, domain: name });
  const driver = make(session.uri);
  // libvirt has no start counter of its own: count what the driver and the person do.
  const counting: PowerDriver = {
    driver: driver.driver,
    capabilities: () => driver.capabilities(),
    status: () => driver.status(),
    setNextBoot: (d: "pxe" | "disk") => driver.setNextBoot(d),
    close: () => driver.close(),
    on: async () => {
      const was = state();
      await driver.on();
      if (was !== "running") starts++;
    },
    off: () => driver.off(),
    cycle: async () => {
      await driver.cycle();
      starts++;
    },
  };
  return {
    driver: counting,
    observed: async () => (state() === "running" ? "on" : "off"),
    outside: async (want) => {
      if (want === "on" && state() !== "running") {
        virsh("start", name);
        starts++;
      }
      if (want === "off" && state() === "running") virsh("destroy", name);
    },
    observedNextBoot: async () => {
      const dev = /<boot dev='([a-z]+)'/.exec(virsh("dumpxml", "--inactive", name))?.[1];
      return dev === "network" ? "pxe" : dev === "hd" ? "disk" : "none";
    },
    starts: async () => starts,
    unreachable: () => make("qemu+unix:///session?socket=/nonexistent/libvirt-sock"),
    cleanup: async () => {
      await session.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// --------------------------------------------------------------------------------- relay

export async function relayPeer(channel = 3): Promise<PowerPeer> {
  const dir = scratch("lab-relay-");
  const board = await startRelayBoard(dir);
  const make = (device: string) => new RelayDriver({ device, channel, offMs: 300, timeoutMs: 2000 });
  return {
    driver: make(board.device),
    observed: async () => board.ports.get(channel) ?? "off",
    outside: async (state) => board.flip(channel, state),
    starts: async () => board.starts.get(channel) ?? 0,
    unreachable: () => make(join(dir, "no-such-tty")),
    cleanup: async () => {
      await board.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// -------------------------------------------------------------------------------- manual

export async function manualPeer(
  timeline: TimelineLike & {
    record(mac: string, kind: "dhcp", type: string, detail?: Record<string, unknown>): void;
  },
): Promise<PowerPeer & { told: string[] }> {
  const mac = "52:54:00:aa:bb:01";
  const told: string[] = [];
  let power: "on" | "off" = "off";
  let starts = 0;
  // The stand-in for a person: reads what Lab says and does it a moment later. Pressing the
  // button starts the machine, whose firmware's DHCPDISCOVER lands in the PXE timeline.
  const person = (message: string) => {
    told.push(message);
    setTimeout(() => {
      if (/^Press|off and on/.test(message)) {
        power = "on";
        starts++;
        timeline.record(mac, "dhcp", "discover", { via: "test person" });
      } else if (/^Hold/.test(message)) power = "off";
    }, 300);
  };
  const watch = timelineBootWatch(timeline, mac);
  const make = (timeoutMs: number, tell = person) =>
    new ManualDriver({ name: "nuc-1", instructions: "button on the front", tell, watch, timeoutMs });
  return {
    told,
    driver: make(10_000),
    observed: async () => power,
    outside: async (state) => {
      if (state === "on" && power === "off") starts++;
      power = state;
    },
    starts: async () => starts,
    // Nobody there: the request goes unanswered and Lab says it saw no boot.
    unreachable: () => make(500, () => undefined),
    cleanup: async () => undefined,
  };
}
