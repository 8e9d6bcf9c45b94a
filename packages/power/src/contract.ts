/**
 * The PowerDriver contract: what every driver must do against its real peer. Each peer's test
 * calls `powerContract` with a factory for a fresh peer; the peer is read *around* the driver
 * (the BMC simulator's chassis, the mockup's state, QEMU's own QMP, virsh, the board), so a
 * driver that only believes itself fails. Imported only by tests.
 */
import { LabError } from "@lab/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BootDevice, type PowerDriver, type PowerState, until } from "./driver.js";

export interface PowerPeer {
  driver: PowerDriver;
  /** The power state as the peer itself holds it. */
  observed(): Promise<"on" | "off">;
  /** Switches the machine behind Lab's back (a person at the BMC's web page, a guest shutdown). */
  outside(state: "on" | "off"): Promise<void>;
  /** The device the peer will boot from next, read from the peer; only for drivers that set it. */
  observedNextBoot?(): Promise<BootDevice | "none">;
  /** How many times the machine has started (power-on or reset), as the peer counts them. */
  starts(): Promise<number>;
  /** The same driver with a wrong password, where the peer checks one. */
  badCredentials?(): PowerDriver;
  /** The same driver pointed at an address where nothing answers. */
  unreachable(): PowerDriver;
  cleanup(): Promise<void>;
}

export interface ContractOptions {
  /** How long a state change may take to show at the peer (BMCs apply asynchronously). */
  settleMs?: number;
}

export function powerContract(
  name: string,
  makePeer: () => Promise<PowerPeer>,
  opts: ContractOptions = {},
): void {
  const settle = opts.settleMs ?? 15_000;
  describe(`power driver contract: ${name}`, () => {
    let peer: PowerPeer;
    beforeAll(async () => {
      peer = await makePeer();
    });
    afterAll(async () => {
      await peer?.driver.close();
      await peer?.cleanup();
    });

    const observedBecomes = (want: "on" | "off") =>
      until(async () => (await peer.observed()) === want, settle, 100);
    const statusBecomes = (want: PowerState) =>
      until(async () => (await peer.driver.status()).state === want, settle, 100);

    it("on: the peer is on, and status says so", async () => {
      const caps = peer.driver.capabilities();
      expect(caps.on).toBe(true);
      await peer.driver.on();
      expect(await observedBecomes("on")).toBe(true);
      if (caps.status) expect(await statusBecomes("on")).toBe(true);
      else expect((await peer.driver.status()).state).toBe("unknown");
    });

    it("off: the peer is off, and status says so", async () => {
      const caps = peer.driver.capabilities();
      expect(caps.off).toBe(true);
      await peer.driver.off();
      // A manual machine is switched off by the person; Lab asked and cannot see it.
      if (!caps.status) await peer.outside("off");
      expect(await observedBecomes("off")).toBe(true);
      if (caps.status) expect(await statusBecomes("off")).toBe(true);
    });

    it("status follows a change made outside Lab", async () => {
      if (!peer.driver.capabilities().status) {
        // The honest answer without a controller: unknown, whatever happens.
        await peer.outside("on");
        expect((await peer.driver.status()).state).toBe("unknown");
        return;
      }
      await peer.outside("on");
      expect(await statusBecomes("on")).toBe(true);
      await peer.outside("off");
      expect(await statusBecomes("off")).toBe(true);
    });

    it("cycle from on: the machine starts again and ends on", async () => {
      await peer.driver.on();
      expect(await observedBecomes("on")).toBe(true);
      const before = await peer.starts();
      await peer.driver.cycle();
      expect(await until(async () => (await peer.starts()) > before, settle, 100)).toBe(true);
      expect(await observedBecomes("on")).toBe(true);
    });

    it("cycle from off: the machine ends on", async () => {
      await peer.driver.off();
      if (!peer.driver.capabilities().status) await peer.outside("off");
      expect(await observedBecomes("off")).toBe(true);
      await peer.driver.cycle();
      expect(await observedBecomes("on")).toBe(true);
    });

    it("next boot: what the capabilities list reaches the peer; the rest is refused with a code", async () => {
      const caps = peer.driver.capabilities();
      for (const device of ["pxe", "disk", "pxe"] as BootDevice[]) {
        if (!caps.nextBoot.includes(device)) {
          await expect(peer.driver.setNextBoot(device)).rejects.toMatchObject({
            code: "LAB_E_POWER_UNSUPPORTED",
          });
          continue;
        }
        await peer.driver.setNextBoot(device);
        expect(peer.observedNextBoot, "a peer whose driver sets the next boot must show it").toBeDefined();
        expect(await peer.observedNextBoot?.()).toBe(device);
        const reported = (await peer.driver.status()).nextBoot;
        if (reported !== undefined) expect(reported).toBe(device);
      }
    });

    it("a wrong password is LAB_E_POWER_AUTH", async () => {
      const bad = peer.badCredentials?.();
      if (!bad) return; // this peer has no credentials to get wrong
      const e = await bad.status().catch((x: unknown) => x);
      expect(e).toBeInstanceOf(LabError);
      expect((e as LabError).code).toBe("LAB_E_POWER_AUTH");
    });

    it("nothing answering is LAB_E_POWER_UNREACHABLE, with where it looked", async () => {
      const driver = peer.unreachable();
      const op = driver.capabilities().status ? () => driver.status() : () => driver.on();
      const e = await op().catch((x: unknown) => x);
      expect(e).toBeInstanceOf(LabError);
      expect([(e as LabError).code, (e as LabError).message]).toEqual([
        driver.capabilities().status ? "LAB_E_POWER_UNREACHABLE" : "LAB_E_POWER_TIMEOUT",
        expect.any(String),
      ]);
    });
  });
}
