/**
 * Every power driver against its real peer, through the one contract (packages/power/src/contract.ts).
 * Peers: ipmi_sim (openipmi) with ipmitool -C 3, the DMTF Redfish mockup, bare QEMU over QMP,
 * a libvirt domain, a relay board behind a socat pty pair, and the manual driver's PXE timeline.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LabError } from "@lab/core";
import { RedfishDriver } from "@lab/power";
import { powerContract } from "@lab/power/contract";
import { Timeline } from "@lab/pxe";
import { type KyselyStore, openSqliteStore } from "@lab/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ipmiSimPeer,
  libvirtPeer,
  manualPeer,
  qmpPeer,
  redfishPeer,
  relayPeer,
} from "../support/power-peers.js";
import { type RedfishMockup, startRedfishMockup } from "../support/redfish-mockup.js";

powerContract("ipmi (ipmitool lanplus -C 3 → ipmi_sim)", ipmiSimPeer);
powerContract("redfish (DMTF public-rackmount1 mockup)", () => redfishPeer());
powerContract("redfish over https (self-signed, its CA file)", () => redfishPeer("ca-file"));
powerContract("redfish over https (self-signed, pinned fingerprint)", () => redfishPeer("fingerprint"));
powerContract("qmp (bare QEMU, TCG)", qmpPeer);
powerContract("libvirt (a private session libvirtd, TCG domain)", libvirtPeer, { settleMs: 60_000 });
powerContract("relay (relayinator protocol over a socat pty pair)", relayPeer);

let store: KyselyStore | undefined;
let dir: string | undefined;
powerContract("manual (a person, the boot seen in the PXE timeline)", async () => {
  dir = mkdtempSync(join(tmpdir(), "lab-manual-"));
  store = await openSqliteStore(join(dir, "state.db"));
  const peer = await manualPeer(new Timeline(store.db));
  return {
    ...peer,
    cleanup: async () => {
      await store?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe("redfish over https: a certificate Lab cannot verify is refused with a code", () => {
  let bmc: RedfishMockup;
  beforeAll(async () => {
    bmc = await startRedfishMockup({ tls: true });
  });
  afterAll(() => bmc?.close());
  const drive = (o: Partial<ConstructorParameters<typeof RedfishDriver>[0]>) =>
    new RedfishDriver({ url: bmc.url, user: bmc.user, password: bmc.password, ...o }).status();

  it.each([
    { name: "no CA and no pin", o: {} },
    { name: "another certificate's fingerprint", o: { fingerprint: "AA".repeat(32) } },
  ])("$name → LAB_E_POWER_TLS", async ({ o }) => {
    const before = bmc.requests.length;
    const e = await drive(o).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LabError);
    expect((e as LabError).code).toBe("LAB_E_POWER_TLS");
    expect((e as LabError).message).toMatch(/ca_file|fingerprint/);
    // Refused before a request (and the password in it) went out.
    expect(bmc.requests.length).toBe(before);
  });

  it("insecure_skip_verify reaches it (the opt-out, named so)", async () => {
    expect((await drive({ insecureSkipVerify: true })).detail).toMatch(/PowerState/);
  });

  it("a malformed fingerprint is a usage error that says what to give", () => {
    expect(() => new RedfishDriver({ url: bmc.url, user: "u", password: "p", fingerprint: "abc" })).toThrow(
      /SHA-256 fingerprint/,
    );
  });
});
