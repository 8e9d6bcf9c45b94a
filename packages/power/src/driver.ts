/**
 * The power-driver seam: one narrow interface every way of switching a machine implements
 * (a BMC over IPMI or Redfish, QEMU's monitor, libvirt, a serial relay board, a person).
 * Every driver runs the one contract suite (contract.ts) against its real peer.
 */
import { LabError } from "@lab/core";

/** What the peer said. `unknown` is an honest answer (a manual machine, a BMC that is silent). */
export type PowerState = "on" | "off" | "unknown";

/** Where the machine boots from on its next start. */
export type BootDevice = "pxe" | "disk";

export const BOOT_DEVICES: readonly BootDevice[] = ["pxe", "disk"];

export interface PowerCapabilities {
  /** The driver can read the power state from the peer (false: `status` answers unknown). */
  status: boolean;
  on: boolean;
  off: boolean;
  cycle: boolean;
  /** Boot devices `setNextBoot` accepts; empty when the next boot cannot be chosen. */
  nextBoot: BootDevice[];
}

export interface PowerStatus {
  state: PowerState;
  /** The peer's own words ("Chassis Power is on", "running", "PowerState: On"). */
  detail: string;
  /** The next-boot override the peer reports, when it reports one. */
  nextBoot?: BootDevice | "none";
}

export interface PowerDriver {
  /** The driver's name as the model spells it (`ipmi`, `redfish`, …). */
  readonly driver: string;
  capabilities(): PowerCapabilities;
  status(): Promise<PowerStatus>;
  on(): Promise<void>;
  off(): Promise<void>;
  /** Off then on (a hard reset where the peer has one): the machine starts again. */
  cycle(): Promise<void>;
  setNextBoot(device: BootDevice): Promise<void>;
  /** Releases connections (QMP socket, serial port). Safe to call twice. */
  close(): Promise<void>;
}

/** The error a driver throws for an operation its capabilities do not list. */
export function unsupported(driver: string, op: string): LabError {
  return new LabError("LAB_E_POWER_UNSUPPORTED", `the ${driver} power driver cannot ${op}`);
}

/** Waits until `check` holds, polling every `everyMs`; false when `timeoutMs` passes first. */
export async function until(
  check: () => Promise<boolean>,
  timeoutMs: number,
  everyMs = 200,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
