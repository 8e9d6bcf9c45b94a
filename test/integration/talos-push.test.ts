/**
 * Talos installs in push mode with a real `lab server --pxe` and a STAND-IN for the node's
 * maintenance API (no Talos runs here; the stand-in answers ApplyConfiguration over HTTP/2 +
 * TLS as Talos does). The machine config is a secret; dispatch boots the node without any
 * config URL; Lab pushes the rendered config to the address the node booted from, and the
 * machine is INSTALLED — or FAILED with the node's reason when it refuses the config.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTalosStandIn, type TalosStandIn } from "../../packages/pxe/src/install/talos-standin.js";
import { SAMPLE_TALOS_WORKER } from "../../packages/pxe/src/install/testing.js";
import { labIn, tempHome } from "../support/cli.js";
import { killAllServers, type ServerProcess, startLabServer } from "../support/server-process.js";
import { until } from "../support/wait.js";

const BOOT = 17285;
const FLEET = `
secrets:
  talos/worker: { type: static }
images:
  talos-1.8:
    format: talos
    arch: x86_64
    kernel: vmlinuz-amd64
    initrd: [initramfs-amd64.xz]
    talos: { mode: push, machine_config: talos/worker, version: v1.8.3 }
`;

let home: string;
let server: ServerProcess;
let node: TalosStandIn;

interface MachineJson {
  state: string;
  reason: string | null;
}
const machine = async (mac: string) =>
  (await server.request<MachineJson>("GET", `/api/v1/provision/machines/${mac}`)).body;

async function boot(mac: string, name: string): Promise<string> {
  expect(
    (await server.request("POST", "/api/v1/provision/enlist", { mac, name, image: "talos-1.8" })).status,
  ).toBe(200);
  return (await fetch(`http://127.0.0.1:${BOOT}/pxe/v1/dispatch?mac=${mac}&platform=efi`)).text();
}

beforeAll(async () => {
  home = tempHome("lab-talos-");
  const lab = labIn(home);
  expect(lab(["apply", "-f", "-"], FLEET).stderr).toBe("");
  const file = join(home, "worker.yaml");
  writeFileSync(file, SAMPLE_TALOS_WORKER);
  expect(lab(["secret", "set", "talos/worker", "--from-file", file]).code).toBe(0);
  rmSync(file);
  node = await startTalosStandIn();
  server = await startLabServer({
    home,
    args: [
      "--pxe",
      "--dhcp",
      "off",
      "--no-tftp",
      "--advertise",
      "127.0.0.1",
      "--boot-port",
      String(BOOT),
      "--syslog-port",
      String(BOOT + 1),
      "--talos-port",
      String(node.port),
    ],
  });
}, 60_000);

afterAll(async () => {
  await killAllServers();
  await node?.close();
  rmSync(home, { recursive: true, force: true });
});

describe("Talos, push mode", () => {
  it("boots the node without a config URL, pushes its config to the node's API, and records it INSTALLED", async () => {
    const mac = "52:54:00:7a:10:01";
    const script = await boot(mac, "talos-1");
    expect(script).toContain("vmlinuz-amd64");
    expect(script).toContain("talos.platform=metal");
    expect(script).not.toContain("talos.config");
    await until("talos-1 installed", async () => (await machine(mac)).state === "INSTALLED");
    const pushed = node.applied.at(-1);
    expect(pushed?.mode).toBe(1); // AUTO, as talosctl's default
    // The cluster's config, with this machine's hostname and installer patched in.
    expect(pushed?.config).toContain("token: abcdef.0123456789abcdef");
    expect(pushed?.config).toMatch(/hostname: talos-1\b/);
    expect(pushed?.config).toContain("ghcr.io/siderolabs/installer:v1.8.3");
    const steps = (
      await server.request<{ kind: string; type: string; detail: { message?: string } }[]>(
        "GET",
        `/api/v1/provision/machines/${mac}/timeline`,
      )
    ).body;
    expect(steps.map((s) => s.type)).toEqual(expect.arrayContaining(["talos-wait", "complete", "INSTALLED"]));
    expect(steps.find((s) => s.type === "complete")?.detail.message).toContain(`127.0.0.1:${node.port}`);
  });

  it("marks the install FAILED with the node's reason when it refuses the config", async () => {
    node.refuse({ status: 3, message: "machine.install.disk: no such disk" });
    try {
      const mac = "52:54:00:7a:10:02";
      await boot(mac, "talos-2");
      const m = await until("talos-2 failed", async () => {
        const x = await machine(mac);
        return x.state === "FAILED" ? x : undefined;
      });
      expect(m.reason).toContain("LAB_E_TALOS_REJECTED");
      expect(m.reason).toContain("machine.install.disk: no such disk");
    } finally {
      node.refuse(null);
    }
  });

  it("keeps the cluster's secrets out of everything Lab wrote", () => {
    const files = readdirSync(home, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name));
    for (const f of files) {
      expect(readFileSync(f).toString("latin1").includes("abcdef.0123456789abcdef"), f).toBe(false);
    }
    expect(server.stdout()).not.toContain("abcdef.0123456789abcdef");
  });
});
