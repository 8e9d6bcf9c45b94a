/**
 * A libvirt domain, by driving `virsh` (libvirt's own client: the RPC protocol is XDR over a
 * socket with SASL/TLS variants; virsh speaks all of them). The next boot device is the
 * domain's `<os><boot dev=…/>` order, written to its persistent definition: libvirt applies
 * it at the next start, so `cycle` is destroy + start rather than a guest reset.
 */
import { LabError } from "@lab/core";
import {
  type BootDevice,
  type PowerCapabilities,
  type PowerDriver,
  type PowerStatus,
  unsupported,
} from "./driver.js";
import { runTool } from "./run.js";

export interface LibvirtOptions {
  /** Connection URI; default qemu:///system. */
  uri?: string;
  domain: string;
  virsh?: string;
  timeoutMs?: number;
}

const INSTALL = "apt-get install -y libvirt-clients libvirt-daemon-driver-qemu";
const DEV: Record<BootDevice, string> = { pxe: "network", disk: "hd" };

export class LibvirtDriver implements PowerDriver {
  readonly driver = "libvirt";
  constructor(private readonly opts: LibvirtOptions) {}

  capabilities(): PowerCapabilities {
    return { status: true, on: true, off: true, cycle: true, nextBoot: ["pxe", "disk"] };
  }

  private async virsh(...args: string[]): Promise<string> {
    const uri = this.opts.uri ?? "qemu:///system";
    const r = await runTool(this.opts.virsh ?? "virsh", ["-q", "-c", uri, ...args], {
      timeoutMs: this.opts.timeoutMs ?? 30_000,
      install: INSTALL,
      env: {
        HOME: process.env.HOME ?? "/root",
        ...(process.env.XDG_RUNTIME_DIR ? { XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR } : {}),
      },
    });
    if (r.code === 0) return r.stdout;
    const said = r.stderr.trim().replace(/\s+/g, " ");
    if (/failed to connect|no connection driver|Cannot recv data|Failed to connect socket/i.test(said)) {
      throw new LabError("LAB_E_POWER_UNREACHABLE", `libvirt at ${uri}: ${said}`);
    }
    if (/authentication|access denied|not authorized/i.test(said)) {
      throw new LabError("LAB_E_POWER_AUTH", `libvirt at ${uri}: ${said}`);
    }
    throw new LabError("LAB_E_POWER_REFUSED", `virsh ${args[0]} ${this.opts.domain}: ${said}`);
  }

  private async state(): Promise<string> {
    return (await this.virsh("domstate", this.opts.domain)).trim();
  }

  async status(): Promise<PowerStatus> {
    const state = await this.state();
    const xml = await this.virsh("dumpxml", "--inactive", this.opts.domain);
    const first = /<os\b[\s\S]*?<boot dev=['"]([a-z]+)['"]/.exec(xml)?.[1];
    return {
      // "paused" and "pmsuspended" keep the machine powered; "shut off", "crashed" do not.
      state: /^(running|paused|idle|pmsuspended|in shutdown)$/.test(state)
        ? "on"
        : /^(shut off|crashed)$/.test(state)
          ? "off"
          : "unknown",
      detail: `domain ${state}`,
      nextBoot: first === "network" ? "pxe" : first === "hd" ? "disk" : "none",
    };
  }

  async on(): Promise<void> {
    if ((await this.status()).state === "on") return;
    await this.virsh("start", this.opts.domain);
  }

  async off(): Promise<void> {
    if ((await this.status()).state === "off") return;
    await this.virsh("destroy", this.opts.domain);
  }

  async cycle(): Promise<void> {
    await this.off();
    await this.virsh("start", this.opts.domain);
  }

  async setNextBoot(device: BootDevice): Promise<void> {
    const xml = await this.virsh("dumpxml", "--inactive", "--security-info", this.opts.domain);
    if (/<boot order=/.test(xml)) {
      throw unsupported(
        this.driver,
        `set the next boot of ${this.opts.domain}: its devices carry <boot order=…> (remove them to let Lab choose)`,
      );
    }
    const other = device === "pxe" ? "disk" : "pxe";
    const boots = `<boot dev='${DEV[device]}'/><boot dev='${DEV[other]}'/>`;
    const next = xml
      .replace(/\s*<boot dev=['"][a-z]+['"]\s*\/>/g, "")
      .replace(/(<os\b[^>]*>[\s\S]*?<type\b[^>]*>[^<]*<\/type>)/, `$1${boots}`);
    if (!next.includes(boots))
      throw new LabError("LAB_E_POWER_REFUSED", `domain ${this.opts.domain}: no <os><type> in its XML`);
    const { writeFile, rm, mkdtemp } = await import("node:fs/promises");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const dir = await mkdtemp(join(tmpdir(), "lab-virsh-"));
    try {
      await writeFile(join(dir, "domain.xml"), next, { mode: 0o600 });
      await this.virsh("define", join(dir, "domain.xml"));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async close(): Promise<void> {}
}
