/** Builds the driver a server's `power:` declares, with its password looked up where it says. */
import { LabError, type PowerSpec } from "@lab/core";
import type { PowerDriver } from "./driver.js";
import { IpmiDriver } from "./ipmi.js";
import { LibvirtDriver } from "./libvirt.js";
import { type BootWatch, ManualDriver } from "./manual.js";
import { QmpDriver } from "./qmp.js";
import { RedfishDriver } from "./redfish.js";
import { RelayDriver } from "./relay.js";

export interface DriverContext {
  /** The server's name (instructions, messages). */
  name: string;
  /** Reads a secret's current value (the secret store of whoever runs the driver). */
  secret?: (path: string) => Promise<string>;
  /** Where a manual machine's boot is seen; without one, `manual` cannot wait. */
  bootWatch?: BootWatch;
  /** How a person is told what to press. */
  tell?: (message: string) => void;
  env?: NodeJS.ProcessEnv;
}

async function password(
  spec: { password_secret?: string; password_env?: string },
  ctx: DriverContext,
): Promise<string> {
  if (spec.password_secret) {
    if (!ctx.secret) {
      throw new LabError(
        "LAB_E_POWER_NOT_CONFIGURED",
        `${ctx.name}: power.password_secret needs Lab's secret store, which this process has not opened`,
      );
    }
    return ctx.secret(spec.password_secret);
  }
  if (spec.password_env) {
    const v = (ctx.env ?? process.env)[spec.password_env];
    if (v === undefined) {
      throw new LabError(
        "LAB_E_POWER_NOT_CONFIGURED",
        `${ctx.name}: power.password_env names ${spec.password_env}, which is not set in this process's environment`,
      );
    }
    return v;
  }
  throw new LabError(
    "LAB_E_POWER_NOT_CONFIGURED",
    `${ctx.name}: the BMC needs a password: add power.password_secret (a secret path) or power.password_env`,
  );
}

export async function driverFor(spec: PowerSpec, ctx: DriverContext): Promise<PowerDriver> {
  switch (spec.driver) {
    case "ipmi":
      return new IpmiDriver({
        host: spec.host,
        port: spec.port,
        cipher: spec.cipher,
        user: spec.user,
        password: await password(spec, ctx),
      });
    case "redfish":
      return new RedfishDriver({
        url: spec.url,
        system: spec.system,
        caFile: spec.ca_file,
        fingerprint: spec.fingerprint,
        insecureSkipVerify: spec.insecure_skip_verify,
        user: spec.user,
        password: await password(spec, ctx),
      });
    case "qmp":
      return new QmpDriver({ socket: spec.socket, pxeDevice: spec.pxe_device, diskDevice: spec.disk_device });
    case "libvirt":
      return new LibvirtDriver({ uri: spec.uri, domain: spec.domain });
    case "relay":
      return new RelayDriver({ device: spec.device, channel: spec.channel });
    case "manual": {
      if (!ctx.bootWatch) {
        throw new LabError(
          "LAB_E_POWER_NOT_CONFIGURED",
          `${ctx.name}: a manual machine's boot is seen in the PXE timeline, which needs its mac: and lab server --pxe`,
        );
      }
      return new ManualDriver({
        name: ctx.name,
        instructions: spec.instructions,
        watch: ctx.bootWatch,
        tell: ctx.tell ?? (() => undefined),
      });
    }
  }
}
