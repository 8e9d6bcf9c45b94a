/**
 * Bare QEMU through its QMP socket (`-qmp unix:PATH,server=on,wait=off`). A QEMU process has
 * no "off" in which it can still be switched on, so Lab keeps the process and models power
 * with the vCPUs: off = reset and halted (`system_reset` + `stop`), on = reset and running.
 * Start QEMU with `-no-shutdown` so a guest power-off also stays a halted, switchable machine,
 * and without `-no-reboot` (or with `-action reboot=reset` after it): under -no-reboot a reset
 * is a shutdown, and a machine that cannot be reset cannot be switched on again.
 * The next boot device is each device's `bootindex` (settable at run time, read by the
 * firmware at the next reset); name the NIC and disk with `-device …,id=ID`.
 */
import { connect, type Socket } from "node:net";
import { LabError } from "@lab/core";
import {
  type BootDevice,
  type PowerCapabilities,
  type PowerDriver,
  type PowerStatus,
  unsupported,
} from "./driver.js";

export interface QmpOptions {
  /** Unix socket path, or `tcp:HOST:PORT`. */
  socket: string;
  /** QOM id of the NIC that network-boots (`-device e1000,id=net0`). */
  pxeDevice?: string;
  /** QOM id of the boot disk's device. */
  diskDevice?: string;
  timeoutMs?: number;
}

type Reply = { return?: unknown; error?: { class: string; desc: string } };

/** One QMP session: greeting, capabilities negotiation, then commands in order. */
export class QmpSession {
  private buffer = "";
  private readonly waiting: ((r: Reply) => void)[] = [];
  private readonly listeners: ((event: string, data: unknown) => void)[] = [];
  private constructor(private readonly sock: Socket) {
    sock.setEncoding("utf8");
    sock.on("data", (chunk: string) => {
      this.buffer += chunk;
      for (let i = this.buffer.indexOf("\n"); i >= 0; i = this.buffer.indexOf("\n")) {
        const line = this.buffer.slice(0, i).trim();
        this.buffer = this.buffer.slice(i + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as Reply & { event?: string; QMP?: unknown };
        // Greetings and asynchronous events (STOP, RESET, …) are not answers.
        if (msg.event) {
          for (const l of this.listeners) l(msg.event, (msg as { data?: unknown }).data);
          continue;
        }
        if (msg.QMP) continue;
        this.waiting.shift()?.(msg);
      }
    });
  }

  static open(target: string, timeoutMs: number): Promise<QmpSession> {
    return new Promise((resolve, reject) => {
      const tcp = /^tcp:(.+):(\d+)$/.exec(target);
      const sock = tcp ? connect(Number(tcp[2]), tcp[1]) : connect(target);
      const timer = setTimeout(
        () => sock.destroy(new Error(`no QMP greeting in ${timeoutMs} ms`)),
        timeoutMs,
      );
      sock.once("error", (e) => {
        clearTimeout(timer);
        reject(new LabError("LAB_E_POWER_UNREACHABLE", `QMP at ${target}: ${e.message}`));
      });
      sock.once("connect", async () => {
        const session = new QmpSession(sock);
        try {
          await session.execute("qmp_capabilities");
          clearTimeout(timer);
          resolve(session);
        } catch (e) {
          clearTimeout(timer);
          sock.destroy();
          reject(e);
        }
      });
    });
  }

  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.waiting.push((r) => {
        if (r.error) reject(new LabError("LAB_E_POWER_REFUSED", `QMP ${command}: ${r.error.desc}`));
        else resolve(r.return);
      });
      this.sock.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) })}\n`);
    });
  }

  /** Calls `fn` for every asynchronous event QEMU sends on this session (RESET, STOP, RESUME, …). */
  onEvent(fn: (event: string, data: unknown) => void): void {
    this.listeners.push(fn);
  }

  close(): void {
    this.sock.end();
    this.sock.destroy();
  }
}

export class QmpDriver implements PowerDriver {
  readonly driver = "qmp";
  constructor(private readonly opts: QmpOptions) {}

  capabilities(): PowerCapabilities {
    const boot = this.opts.pxeDevice && this.opts.diskDevice;
    return { status: true, on: true, off: true, cycle: true, nextBoot: boot ? ["pxe", "disk"] : [] };
  }

  /** A session per operation: a QEMU that was restarted is simply reached again. */
  private async with<T>(fn: (s: QmpSession) => Promise<T>): Promise<T> {
    const s = await QmpSession.open(this.opts.socket, this.opts.timeoutMs ?? 5_000);
    try {
      return await fn(s);
    } finally {
      s.close();
    }
  }

  async status(): Promise<PowerStatus> {
    return this.with(async (s) => {
      const st = (await s.execute("query-status")) as { running: boolean; status: string };
      const status: PowerStatus = { state: st.running ? "on" : "off", detail: `QEMU ${st.status}` };
      if (this.capabilities().nextBoot.length > 0) {
        const pxe = await bootIndex(s, this.opts.pxeDevice as string);
        const disk = await bootIndex(s, this.opts.diskDevice as string);
        status.nextBoot = pxe >= 0 && (disk < 0 || pxe < disk) ? "pxe" : disk >= 0 ? "disk" : "none";
      }
      return status;
    });
  }

  async on(): Promise<void> {
    await this.with(async (s) => {
      const st = (await s.execute("query-status")) as { running: boolean; status: string };
      if (st.running) return;
      // From halted (off) or a guest power-off: start over from the firmware.
      if (st.status !== "prelaunch") await resetHalted(s);
      await s.execute("cont");
    });
  }

  async off(): Promise<void> {
    await this.with(async (s) => {
      await s.execute("stop");
      await s.execute("system_reset");
    });
  }

  async cycle(): Promise<void> {
    await this.with(async (s) => {
      const st = (await s.execute("query-status")) as { running: boolean };
      if (st.running) {
        await s.execute("system_reset");
        return;
      }
      await resetHalted(s);
      await s.execute("cont");
    });
  }

  async setNextBoot(device: BootDevice): Promise<void> {
    const { pxeDevice, diskDevice } = this.opts;
    if (!pxeDevice || !diskDevice)
      throw unsupported(this.driver, "choose the next boot device without pxe_device and disk_device");
    const [first, second] = device === "pxe" ? [pxeDevice, diskDevice] : [diskDevice, pxeDevice];
    await this.with(async (s) => {
      // Two devices may not share an index: move the second out of the way first.
      await s.execute("qom-set", { path: devicePath(second), property: "bootindex", value: 9 });
      await s.execute("qom-set", { path: devicePath(first), property: "bootindex", value: 1 });
      await s.execute("qom-set", { path: devicePath(second), property: "bootindex", value: 2 });
    });
  }

  async close(): Promise<void> {}
}

/**
 * Resets a machine whose vCPUs are stopped. QEMU answers `system_reset` before its main loop
 * performs the reset; a machine the guest powered off ("shutdown") refuses `cont` until then.
 */
async function resetHalted(s: QmpSession): Promise<void> {
  await s.execute("system_reset");
  for (let i = 0; i < 100; i++) {
    const st = (await s.execute("query-status")) as { status: string };
    if (st.status !== "shutdown") return;
    await new Promise((r) => setTimeout(r, 50));
  }
  // Under -no-reboot QEMU turns every reset into a shutdown: the machine can never start again.
  throw new LabError(
    "LAB_E_POWER_REFUSED",
    "QEMU stays shut down after system_reset: it was started with -no-reboot (a reset is a shutdown there); start it with -action reboot=reset (or without -no-reboot)",
  );
}

function devicePath(id: string): string {
  return id.startsWith("/") ? id : `/machine/peripheral/${id}`;
}

async function bootIndex(s: QmpSession, id: string): Promise<number> {
  return Number(await s.execute("qom-get", { path: devicePath(id), property: "bootindex" }));
}
