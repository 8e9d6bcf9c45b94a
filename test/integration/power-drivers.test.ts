/**
 * Every power driver against its real peer, through the one contract (packages/power/src/contract.ts).
 * Peers: ipmi_sim (openipmi) with ipmitool -C 3, the DMTF Redfish mockup, bare QEMU over QMP,
 * a libvirt domain, a relay board behind a socat pty pair, and the manual driver's PXE timeline.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { powerContract } from "@lab/power/contract";
import { Timeline } from "@lab/pxe";
import { type KyselyStore, openSqliteStore } from "@lab/store";
import {
  ipmiSimPeer,
  libvirtPeer,
  manualPeer,
  qmpPeer,
  redfishPeer,
  relayPeer,
} from "../support/power-peers.js";

powerContract("ipmi (ipmitool lanplus -C 3 → ipmi_sim)", ipmiSimPeer);
powerContract("redfish (DMTF public-rackmount1 mockup)", redfishPeer);
powerContract("qmp (bare QEMU, TCG)", qmpPeer);
powerContract("libvirt (qemu:///system, TCG domain)", libvirtPeer, { settleMs: 60_000 });
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
