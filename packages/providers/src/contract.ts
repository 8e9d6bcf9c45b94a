/**
 * The Provider contract: what every provider must do against its peer (a libvirt daemon, the
 * SSH test host, the PXE provisioner with a power driver, EC2 on recorded responses). The peer
 * is read *around* the provider (virsh, the host's own shell, the recording's log), so a
 * provider that only believes itself fails. Imported only by tests.
 */
import { LabError } from "@lab/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Difference, Provider, ResourceSpec } from "./types.js";

export interface ProviderPeer {
  provider: Provider;
  /** A server the provider is asked to make (or, for an existing machine, to adopt). */
  spec: ResourceSpec;
  /** Whether apply creates the resource (false: it exists before, as an SSH host does). */
  creates: boolean;
  /** Whether the resource exists, asked of the peer itself. */
  exists(): Promise<boolean>;
  /** Changes the resource behind Lab's back (virsh setmem, a mount by hand, the console). */
  drift(): Promise<void>;
  /** The fields `drift` makes differ. */
  driftFields: Difference["field"][];
  /** Whether `apply` can reconcile that drift (an SSH host's mounts cannot be). */
  reconciles: boolean;
  /** Whether destroy removes the resource at the peer (false: Lab only lets go of it). */
  destroyRemoves: boolean;
  /** The same provider pointed where nothing answers. */
  unreachable(): Provider;
  cleanup(): Promise<void>;
}

export interface ContractOptions {
  /**
   * For each step and the peer's setup (vitest's defaults otherwise): a netbooting machine's
   * apply, or its drift (a reboot, observed), takes minutes under emulation. No step asserts on time.
   */
  timeoutMs?: number;
}

export function providerContract(
  name: string,
  makePeer: () => Promise<ProviderPeer>,
  options: ContractOptions = {},
): void {
  const t = options.timeoutMs;
  describe(`provider contract: ${name}`, { ...(t ? { timeout: t } : {}) }, () => {
    let peer: ProviderPeer;
    beforeAll(async () => {
      peer = await makePeer();
    }, t);
    afterAll(async () => {
      await peer?.cleanup();
    }, t);

    it("names its sizes and images", async () => {
      const sizes = await peer.provider.sizes();
      expect(sizes.length).toBeGreaterThan(0);
      for (const s of sizes) expect(s.label).toMatch(/\S/);
      const images = await peer.provider.images();
      expect(Array.isArray(images)).toBe(true);
      for (const i of images) expect(i.ref).toMatch(/\S/);
    });

    it("plans without touching anything", async () => {
      const before = await peer.exists();
      expect(before).toBe(!peer.creates);
      const plan = await peer.provider.plan(peer.spec);
      if (peer.creates) {
        expect(plan.action).toBe("create");
        expect(plan.steps.filter((s) => s.op === "create").length).toBeGreaterThan(0);
      } else expect(plan.action).not.toBe("create");
      expect(await peer.exists()).toBe(before);
    });

    it("applies: the peer has the resource, and get/diff/list/discover agree", async () => {
      const lines: string[] = [];
      const observed = await peer.provider.apply(peer.spec, (l) => lines.push(l));
      expect(await peer.exists()).toBe(true);
      expect(observed.provider).toBe(peer.provider.name);
      const got = await peer.provider.get(peer.spec);
      expect(got?.id).toBe(observed.id);
      const diff = await peer.provider.diff(peer.spec);
      expect(diff.observed).not.toBeNull();
      expect(diff.differences).toEqual([]);
      expect((await peer.provider.list()).map((r) => r.id)).toContain(observed.id);
      expect((await peer.provider.discover()).map((r) => r.id)).toContain(observed.id);
      if (peer.creates) expect(lines.length).toBeGreaterThan(0);
    });

    it("a change made outside Lab is drift, field by field", async () => {
      await peer.drift();
      const diff = await peer.provider.diff(peer.spec);
      expect(diff.differences.map((d) => d.field).sort()).toEqual([...peer.driftFields].sort());
      const plan = await peer.provider.plan(peer.spec);
      if (peer.reconciles) {
        expect(plan.action).toBe("sync");
        expect(plan.steps.length).toBeGreaterThan(0);
      } else {
        expect(plan.steps).toEqual([]);
        expect(plan.unreconcilable.map((d) => d.field).sort()).toEqual([...peer.driftFields].sort());
        for (const d of plan.unreconcilable) expect(d.reconcile).toEqual(expect.any(String));
      }
    });

    it("apply reconciles what it can; what it cannot stays reported", async () => {
      await peer.provider.apply(peer.spec);
      const diff = await peer.provider.diff(peer.spec);
      if (peer.reconciles) expect(diff.differences).toEqual([]);
      else expect(diff.differences.map((d) => d.field).sort()).toEqual([...peer.driftFields].sort());
    });

    it("destroys: the peer no longer has it (or Lab lets go of it)", async () => {
      await peer.provider.destroy(peer.spec);
      if (peer.destroyRemoves) {
        expect(await peer.exists()).toBe(false);
        expect(await peer.provider.get(peer.spec)).toBeNull();
        expect((await peer.provider.plan(peer.spec)).action).toBe("create");
      } else expect(await peer.exists()).toBe(true);
    });

    it("nothing answering is LAB_E_PROVIDER_UNREACHABLE, with where it looked", async () => {
      const e = await peer
        .unreachable()
        .get(peer.spec)
        .catch((x: unknown) => x);
      expect(e).toBeInstanceOf(LabError);
      expect((e as LabError).code).toBe("LAB_E_PROVIDER_UNREACHABLE");
      expect((e as LabError).message.length).toBeGreaterThan(10);
    });
  });
}
