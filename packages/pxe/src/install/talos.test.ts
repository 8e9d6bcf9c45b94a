import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isLabError } from "@lab/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { renderInstallFile } from "./files.js";
import { pushTalosConfig, renderTalosConfig, talosInstallerImage, waitForTalosApi } from "./talos.js";
import { applyTalosConfig, encodeApplyRequest } from "./talos-api.js";
import { startTalosStandIn, type TalosStandIn } from "./talos-standin.js";
import { SAMPLE_IMAGES, SAMPLE_TALOS_WORKER, sampleContext } from "./testing.js";
import type { InstallContext } from "./types.js";

const talos = SAMPLE_IMAGES.talos as never;

function docs(text: string): Record<string, unknown>[] {
  return parseAllDocuments(text).map((d) => {
    expect(d.errors).toEqual([]);
    return d.toJS() as Record<string, unknown>;
  });
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isLabError(e) ? e.code : `not a LabError: ${(e as Error).message}`;
  }
  return undefined;
}

describe("renderTalosConfig", () => {
  const CASES: { name: string; over: Partial<InstallContext>; install: Record<string, unknown> }[] = [
    {
      name: "auto disk: NVMe selector, base disk dropped",
      over: {},
      install: { diskSelector: { type: "nvme" }, image: "ghcr.io/siderolabs/installer:v1.8.3", wipe: false },
    },
    {
      name: "explicit disk",
      over: { disk: "/dev/sda" },
      install: { disk: "/dev/sda", image: "ghcr.io/siderolabs/installer:v1.8.3", wipe: false },
    },
    {
      name: "reprovision without kept volumes",
      over: { reprovision: true, disk: "/dev/nvme1n1" },
      install: { disk: "/dev/nvme1n1", image: "ghcr.io/siderolabs/installer:v1.8.3", wipe: false },
    },
  ];
  for (const c of CASES) {
    it(c.name, () => {
      const [doc] = docs(renderTalosConfig(sampleContext(talos, c.over)));
      const d = doc as {
        version: string;
        machine: Record<string, unknown>;
        cluster: Record<string, unknown>;
      };
      expect(d.version).toBe("v1alpha1");
      expect(d.machine.type).toBe("worker");
      expect(d.machine.install).toEqual(c.install);
      expect(d.machine.network).toEqual({ hostname: "web-1" });
      // Everything else is the cluster's config, untouched.
      const base = docs(SAMPLE_TALOS_WORKER)[0] as typeof d;
      expect(d.cluster).toEqual(base.cluster);
      expect(d.machine.token).toBe(base.machine.token);
    });
  }

  it("patches a HostnameConfig document of newer Talos too", () => {
    const base = `${SAMPLE_TALOS_WORKER}---\napiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n`;
    const [, host] = docs(renderTalosConfig(sampleContext(talos, { talosBaseConfig: base })));
    expect(host).toEqual({ apiVersion: "v1alpha1", kind: "HostnameConfig", hostname: "web-1" });
  });

  it("keeps the version prefix straight", () => {
    expect(talosInstallerImage("1.9.0")).toBe("ghcr.io/siderolabs/installer:v1.9.0");
    expect(talosInstallerImage("v1.9.0")).toBe("ghcr.io/siderolabs/installer:v1.9.0");
  });

  const BAD: [string, string | undefined, string][] = [
    ["no base config", undefined, "LAB_E_TALOS_CONFIG"],
    ["not YAML", "version: [v1alpha1\n", "LAB_E_TALOS_CONFIG"],
    ["no v1alpha1 document", "kind: HostnameConfig\n", "LAB_E_TALOS_CONFIG"],
    ["bad machine type", SAMPLE_TALOS_WORKER.replace("type: worker", "type: pet"), "LAB_E_TALOS_CONFIG"],
    [
      "no cluster",
      SAMPLE_TALOS_WORKER.slice(0, SAMPLE_TALOS_WORKER.indexOf("cluster:")),
      "LAB_E_TALOS_CONFIG",
    ],
    [
      "install is not a map",
      SAMPLE_TALOS_WORKER.replace(/ {2}install:\n( {4}.*\n)+/, "  install: yes\n"),
      "LAB_E_TALOS_CONFIG",
    ],
  ];
  for (const [name, base, want] of BAD) {
    it(`refuses: ${name}`, () => {
      expect(code(() => renderTalosConfig(sampleContext(talos, { talosBaseConfig: base })))).toBe(want);
    });
  }

  it("refuses kept volumes", () => {
    expect(
      code(() => renderTalosConfig(sampleContext(talos, { reprovision: true, preserve: ["/srv"] }))),
    ).toBe("LAB_E_INSTALL_UNSUPPORTED");
  });

  it("serves talos.yaml in pull mode only (push keeps the secrets off HTTP)", () => {
    expect(renderInstallFile(sampleContext(talos), "talos.yaml")?.contentType).toContain("yaml");
    const push = { ...SAMPLE_IMAGES.talos, talos: { mode: "push" as const } };
    expect(renderInstallFile(sampleContext(push as never), "talos.yaml")).toBeUndefined();
  });
});

describe("push mode", () => {
  let server: Server;
  let port: number;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ldc-talos-"));
    server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  it("waits for the Talos API port to answer", async () => {
    await expect(waitForTalosApi("127.0.0.1", port, 5000)).resolves.toBeUndefined();
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", () => r()));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const err = await waitForTalosApi("127.0.0.1", closedPort, 0).catch((e: unknown) => e);
    expect(isLabError(err) && err.code).toBe("LAB_E_TALOS_UNREACHABLE");
  });
});

describe("the Talos API, against a stand-in for a node in maintenance mode (no Talos runs here)", () => {
  let node: TalosStandIn;
  beforeAll(async () => {
    node = await startTalosStandIn();
  });
  afterAll(async () => {
    await node.close();
  });

  it("encodes the request as Talos's protobuf (data = 1, mode = 4, dry_run = 5)", () => {
    expect([...encodeApplyRequest(Buffer.from("ab"), 1, true)]).toEqual([
      0x0a, 2, 0x61, 0x62, 0x20, 1, 0x28, 1,
    ]);
    // REBOOT (0) is proto3's default: not on the wire.
    expect([...encodeApplyRequest(Buffer.from("a"), 0)]).toEqual([0x0a, 1, 0x61]);
  });

  it("pushes a rendered config once the API answers, as talosctl apply-config --insecure would", async () => {
    const config = renderTalosConfig(sampleContext(talos, { talosBaseConfig: SAMPLE_TALOS_WORKER }));
    const r = await pushTalosConfig({ host: "127.0.0.1", port: node.port, config, waitMs: 5000 });
    expect(r.modeDetails).toContain("Applied configuration");
    expect(node.applied.at(-1)).toEqual({ config, mode: 1, dryRun: false });
  });

  it("says when the node refuses the config, with its reason", async () => {
    node.refuse({ status: 3, message: "1 error occurred: machine.install.disk: invalid" });
    try {
      const err = await applyTalosConfig({ host: "127.0.0.1", port: node.port, config: "x" }).catch(
        (e: unknown) => e,
      );
      expect(isLabError(err) && err.code).toBe("LAB_E_TALOS_REJECTED");
      expect((err as Error).message).toContain("gRPC 3: 1 error occurred: machine.install.disk: invalid");
    } finally {
      node.refuse(null);
    }
  });

  it("says when nothing speaks gRPC there", async () => {
    const plain = createServer((s) => s.destroy());
    await new Promise<void>((r) => plain.listen(0, "127.0.0.1", () => r()));
    const p = (plain.address() as { port: number }).port;
    const err = await applyTalosConfig({ host: "127.0.0.1", port: p, config: "x", timeoutMs: 3000 }).catch(
      (e: unknown) => e,
    );
    await new Promise<void>((r) => plain.close(() => r()));
    expect(isLabError(err) && err.code).toBe("LAB_E_TALOS_UNREACHABLE");
  });
});
