/**
 * IPMI over LAN (RMCP+, "lanplus") by driving `ipmitool`. Why not a TypeScript RMCP+ client:
 * RAKP key exchange, cipher suites and the integrity/confidentiality algorithms vary by BMC
 * vendor, and ipmitool carries two decades of workarounds for them. A process per call costs
 * ~10 ms — nothing next to a BMC's own latency — and the password reaches ipmitool through
 * its environment (`-E`), never its argument list.
 */
import { LabError } from "@lab/core";
import {
  type BootDevice,
  type PowerCapabilities,
  type PowerDriver,
  type PowerStatus,
  until,
} from "./driver.js";
import { runTool } from "./run.js";

export interface IpmiOptions {
  host: string;
  /** UDP port; default 623. */
  port?: number;
  user: string;
  password: string;
  /** RMCP+ cipher suite; default 3 (RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128). */
  cipher?: number;
  /** Path of ipmitool; default found on PATH. */
  ipmitool?: string;
  /** Seconds ipmitool waits for one answer; default 2, with 2 retries. */
  timeoutSeconds?: number;
}

const INSTALL = "apt-get install -y ipmitool";

export class IpmiDriver implements PowerDriver {
  readonly driver = "ipmi";
  constructor(private readonly opts: IpmiOptions) {}

  capabilities(): PowerCapabilities {
    return { status: true, on: true, off: true, cycle: true, nextBoot: ["pxe", "disk"] };
  }

  private async ipmitool(...command: string[]): Promise<string> {
    const o = this.opts;
    const t = o.timeoutSeconds ?? 2;
    const args = ["-I", "lanplus", "-C", String(o.cipher ?? 3), "-H", o.host, "-p", String(o.port ?? 623)];
    // -v: ipmitool then says which RAKP step failed, telling a wrong password from silence.
    args.push("-v", "-U", o.user, "-E", "-N", String(t), "-R", "2", ...command);
    const r = await runTool(o.ipmitool ?? "ipmitool", args, {
      env: { IPMI_PASSWORD: o.password },
      timeoutMs: (t * 3 + 5) * 1000,
      install: INSTALL,
    });
    if (r.code === 0) return r.stdout;
    const all = `${r.stderr}\n${r.stdout}`;
    const said = all
      .split("\n")
      .filter((l) => l.trim() && !/^Loading IANA/.test(l))
      .slice(-2)
      .join("; ");
    const where = `${o.host}:${o.port ?? 623}`;
    if (/RAKP \d.*(invalid|error)|unauthorized name|invalid user|password/i.test(all)) {
      throw new LabError("LAB_E_POWER_AUTH", `IPMI at ${where} refused user "${o.user}": ${said}`);
    }
    if (/Unable to establish|timeout|no response|Connection refused/i.test(said)) {
      throw new LabError("LAB_E_POWER_UNREACHABLE", `no IPMI answer from ${where}: ${said}`);
    }
    throw new LabError("LAB_E_POWER_REFUSED", `IPMI at ${where}: ipmitool ${command.join(" ")}: ${said}`);
  }

  async status(): Promise<PowerStatus> {
    const out = (await this.ipmitool("chassis", "power", "status")).trim();
    const m = /Chassis Power is (on|off)/i.exec(out);
    const status: PowerStatus = {
      state: m ? ((m[1] as string).toLowerCase() as "on" | "off") : "unknown",
      detail: out,
    };
    const boot = await this.nextBoot().catch(() => undefined);
    if (boot) status.nextBoot = boot;
    return status;
  }

  /** The boot device selector of boot parameter 5, as the BMC holds it. */
  private async nextBoot(): Promise<BootDevice | "none"> {
    const out = await this.ipmitool("chassis", "bootparam", "get", "5");
    const sel = /Boot Device Selector : (.*)/.exec(out)?.[1] ?? "";
    if (/PXE/i.test(sel)) return "pxe";
    if (/Hard-Drive/i.test(sel)) return "disk";
    return "none";
  }

  async on(): Promise<void> {
    await this.ipmitool("chassis", "power", "on");
  }

  async off(): Promise<void> {
    await this.ipmitool("chassis", "power", "off");
  }

  async cycle(): Promise<void> {
    // The IPMI spec lets a BMC refuse "cycle" while the chassis is off: start it instead.
    const before = await this.status();
    if (before.state === "off") return this.on();
    await this.ipmitool("chassis", "power", "cycle");
    // A cycle is off, a BMC-chosen pause, then on: done once the chassis is on again.
    if (!(await until(async () => (await this.status()).state === "on", 30_000, 500))) {
      throw new LabError("LAB_E_POWER_TIMEOUT", `IPMI at ${this.opts.host}: not on 30 s after a power cycle`);
    }
  }

  async setNextBoot(device: BootDevice): Promise<void> {
    await this.ipmitool("chassis", "bootdev", device);
  }

  async close(): Promise<void> {}
}
