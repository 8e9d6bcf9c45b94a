/**
 * The baremetal provider against a netbooting machine: the contract suite (packages/providers/
 * src/contract.ts) on the virtual lab (test/support/virtual-lab.ts) — one QEMU TCG VM with QMP
 * power, halted, and `lab server --pxe --discover --dhcp proxy` in its boot namespace.
 *
 * The provider is built as a client of that server, the way the CLI's client mode reaches it:
 * its machines are the provisioning API (remoteProvisioning), its power the power API, its
 * agents the agents API, each through the CLI's HttpClient with the server's CA and token.
 * The peer is read around the provider: whether the machine exists is asked of the server's
 * machines API directly; the drift is observed on the agents API and on the VM's serial console.
 *
 *  - apply: the MAC is enlisted with the lab-vm image, power-cycled into PXE through QMP, the
 *    test install runs and the installed system's first boot (in RAM) enrols Lab's agent.
 *  - drift, as it happens to a physical machine: the machine's hardware changed by hand — QEMU
 *    stopped and started again with the same MAC, disk, tap and QMP socket but -m 768 -smp 1
 *    instead of -m 1024 -smp 2 — and observed at its next boot: the installed system boots from
 *    its disk (QEMU's -kernel standing in for the disk's boot loader; the test install kept
 *    the agent's identity on the disk), its agent reconnects and sends its facts. diff compares
 *    that report (fresher than any discovery boot): cores and memory, neither reconcilable.
 *  - destroy: QMP power off through the server, and the provisioner forgets the MAC.
 *
 * Needs root, qemu-system-x86, ipxe-qemu, dnsmasq-base and `npm run build`. Run it alone: it
 * boots a VM twice under TCG (minutes on a loaded 2-core machine); nothing asserts on time.
 */
import { open } from "node:fs/promises";
import { HttpClient } from "@lab/cli";
import { isLabError } from "@lab/core";
import { type BaremetalAgent, BaremetalProvider, type ResourceSpec, sizingFor } from "@lab/providers";
import { providerContract } from "@lab/providers/contract";
import { remoteProvisioning } from "../../packages/cli/src/commands/provision.js";
import { startVirtualLab, type VirtualLab } from "../support/virtual-lab.js";
import { until } from "../support/wait.js";

const SIZES = { metal: { abstract: { cores: 2, memory: "1024MB" } } };
/** What the machine has at first, and after the "RAM swap" (below the size on both counts). */
const FIRST = { memoryMb: 1024, smp: 2 };
const SWAPPED = { memoryMb: 768, smp: 1 };
const MINUTES = 60_000;

/** Whether the test install's tar of the agent's identity is on the disk image (after the marker). */
async function identityKept(disk: string): Promise<boolean> {
  const fh = await open(disk, "r");
  try {
    const buf = Buffer.alloc(64 * 1024);
    await fh.read(buf, 0, buf.length, 1024 * 1024);
    const text = buf.toString("latin1");
    return text.includes("var/lib/lab-agent/cert.pem") && text.includes("etc/lab/hostname");
  } finally {
    await fh.close();
  }
}

/** The provider as a client of lab server (what `lab … server` reaches in client mode). */
function clientProvider(url: string, token: string, caPem?: string): BaremetalProvider {
  const api = new HttpClient({ url, token, ...(caPem ? { caPem } : {}) });
  return new BaremetalProvider({
    machines: async () => remoteProvisioning(api),
    power: async () => ({
      act: (name, action, nextBoot) =>
        api.request(
          "POST",
          `/api/v1/power/${encodeURIComponent(name)}/${action}`,
          nextBoot ? { nextBoot } : {},
        ),
    }),
    agents: async () => ({
      find: (name) =>
        api
          .request<BaremetalAgent>("GET", `/api/v1/agents/${encodeURIComponent(name)}`)
          .catch((e: unknown) =>
            isLabError(e) && e.code === "LAB_E_NOT_FOUND" ? undefined : Promise.reject(e),
          ),
    }),
    // Between reads of the install's progress; the wait itself is the provider's default.
    pollMs: 2000,
    sizes: SIZES,
  });
}

providerContract(
  "baremetal (lab server --pxe in a netns, a QEMU TCG VM netbooting with QMP power)",
  async () => {
    const vl: VirtualLab = await startVirtualLab({
      prefix: "labbm16",
      count: 1,
      hardware: FIRST,
      say: (l) => console.log(`virtual lab: ${l}`),
    });
    const machine = vl.machines[0];
    if (!machine) throw new Error("the virtual lab has no machine");
    const api = new HttpClient({ url: vl.url, token: vl.token, caPem: vl.caPem });
    const spec: ResourceSpec = {
      name: machine.name,
      provider: "baremetal",
      labels: [],
      size: "metal",
      sizing: sizingFor(SIZES.metal, "baremetal"),
      image: { name: "lab-vm", ref: null },
      host: null,
      mac: machine.vm.mac,
      mounts: [],
      attributes: {},
      power: { driver: "qmp", socket: machine.qmp },
    };
    const diagnose = async () => {
      console.log(`── ${machine.name} serial (tail) ──\n${(await machine.vm.serialText()).slice(-3000)}`);
      console.log(`── lab server (tail) ──\n${vl.server.output().slice(-3000)}`);
    };
    return {
      provider: clientProvider(vl.url, vl.token, vl.caPem),
      spec,
      creates: true,
      // The server's own record of the MAC, not the provider's answer.
      exists: () =>
        api.request("GET", `/api/v1/provision/machines/${encodeURIComponent(machine.vm.mac)}`).then(
          () => true,
          (e: unknown) => (isLabError(e) && e.code === "LAB_E_NOT_FOUND" ? false : Promise.reject(e)),
        ),
      drift: async () => {
        try {
          // The first boot keeps the enrolled agent's identity on the disk (init.sh: a tar from
          // 1 MiB, its last member etc/lab/hostname) before the machine is switched off for its
          // new hardware. Its kernel console is not the serial port, so the disk is read.
          await until(
            `${machine.name}'s agent identity on its disk`,
            () => identityKept(machine.disk),
            10 * MINUTES,
          );
          await machine.relaunch({ ...SWAPPED, installed: true });
          await machine.vm.waitForSerial(/installed system: agent identity restored/, 10 * MINUTES);
          // Observed at its next boot: the agent's facts on the server, read past the provider.
          const seen = await until(
            `${machine.name}'s agent to report ${SWAPPED.smp} CPU after the swap`,
            async () => {
              const a = await api.request<BaremetalAgent & { connected: boolean }>(
                "GET",
                `/api/v1/agents/${machine.name}`,
              );
              return a.connected && a.facts.cpus === SWAPPED.smp ? a : undefined;
            },
            10 * MINUTES,
          );
          console.log(`after the swap ${machine.name}'s agent reports ${JSON.stringify(seen.facts)}`);
        } catch (e) {
          await diagnose();
          throw e;
        }
      },
      driftFields: ["cores", "memory"],
      reconciles: false,
      destroyRemoves: true,
      // Where nothing listens: a port on the server's address that lab server does not serve.
      unreachable: () => clientProvider(`https://${vl.net.serverIp}:9`, vl.token, vl.caPem),
      cleanup: async () => {
        api.close();
        await vl.close();
      },
    };
  },
  { timeoutMs: 30 * MINUTES },
);
