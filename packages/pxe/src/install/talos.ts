/**
 * Talos Linux machine configs. Lab does not generate cluster secrets: it takes the cluster's
 * config from `talosctl gen config` (InstallContext.talosBaseConfig) and patches in what is per
 * machine: hostname and install disk (and the installer image when the image names a version).
 *
 * Pull mode: the kernel gets `talos.config=<URL of talos.yaml>` and the node fetches it.
 * Push mode: the node boots into maintenance mode without a config; Lab waits for its API
 * (port 50000) and applies the config over it (talos-api.ts), so the secrets never sit on an
 * HTTP URL.
 */
import { connect } from "node:net";
import { LabError } from "@lab/core";
import { isMap, parseAllDocuments } from "yaml";
import { type ApplyResult, applyTalosConfig } from "./talos-api.js";
import type { InstallContext } from "./types.js";
import { checkInstallContext } from "./validate.js";

export const TALOS_API_PORT = 50000;

function talosError(message: string): LabError {
  return new LabError("LAB_E_TALOS_CONFIG", message);
}

/** The installer image for a Talos version: ghcr.io/siderolabs/installer:v1.8.3. */
export function talosInstallerImage(version: string): string {
  return `ghcr.io/siderolabs/installer:${version.startsWith("v") ? version : `v${version}`}`;
}

/** Renders talos.yaml for one machine (the base config with hostname and disk patched in). */
export function renderTalosConfig(input: InstallContext): string {
  const ctx = checkInstallContext(input);
  if (ctx.image.format !== "talos")
    throw new LabError(
      "LAB_E_INSTALL_UNSUPPORTED",
      `image ${ctx.image.name} is ${ctx.image.format}, not talos`,
    );
  if (ctx.reprovision && ctx.preserve.length > 0)
    throw new LabError(
      "LAB_E_INSTALL_UNSUPPORTED",
      `keeping ${ctx.preserve.join(", ")} on reprovision is implemented for kickstart images only; Talos reinstalls the disk`,
    );
  const base = ctx.talosBaseConfig;
  if (!base || base.trim() === "")
    throw talosError(
      `no Talos machine config for ${ctx.hostname}: give talosBaseConfig (talosctl gen config output)`,
    );
  if (base.length > 1024 * 1024) throw talosError("the Talos machine config is larger than 1 MiB");
  const docs = parseAllDocuments(base);
  if (!Array.isArray(docs)) throw talosError("the Talos machine config is not YAML");
  for (const doc of docs) {
    if (doc.errors.length > 0)
      throw talosError(
        `the Talos machine config is not valid YAML: ${doc.errors[0]?.message ?? "parse error"}`,
      );
  }
  const main = docs.find((d) => isMap(d.contents) && d.get("version") === "v1alpha1");
  if (!main) throw talosError("the Talos machine config has no `version: v1alpha1` document");
  const type = main.getIn(["machine", "type"]);
  if (type !== "controlplane" && type !== "worker" && type !== "init")
    throw talosError("the Talos machine config's machine.type must be controlplane, worker or init");
  if (!isMap(main.get("cluster", true))) throw talosError("the Talos machine config has no cluster section");
  for (const path of [
    ["machine", "network"],
    ["machine", "install"],
  ]) {
    const node = main.getIn(path, true);
    if (node !== undefined && node !== null && !isMap(node))
      throw talosError(`the Talos config's ${path.join(".")} is not a mapping`);
  }

  main.setIn(["machine", "network", "hostname"], ctx.hostname);
  const network = main.getIn(["machine", "network"], true);
  if (isMap(network)) network.flow = false;
  if (ctx.disk === "auto") {
    // Talos matches one selector, not a preference list: NVMe is what Lab's "auto" prefers, and
    // a machine without NVMe fails visibly instead of installing to a USB stick.
    main.deleteIn(["machine", "install", "disk"]);
    main.setIn(["machine", "install", "diskSelector"], main.createNode({ type: "nvme" }));
  } else {
    main.deleteIn(["machine", "install", "diskSelector"]);
    main.setIn(["machine", "install", "disk"], ctx.disk);
  }
  if (ctx.image.talos?.version)
    main.setIn(["machine", "install", "image"], talosInstallerImage(ctx.image.talos.version));
  // Newer Talos keeps the hostname in a HostnameConfig document: patch it there too.
  for (const doc of docs) {
    if (doc !== main && isMap(doc.contents) && doc.get("kind") === "HostnameConfig") {
      doc.set("hostname", ctx.hostname);
      doc.delete("auto");
    }
  }
  return docs.map((d) => d.toString({ lineWidth: 0 })).join("");
}

export interface TalosPushOptions {
  /** The node's address (from its DHCP lease). */
  host: string;
  /** The rendered machine config (renderTalosConfig). */
  config: string;
  port?: number;
  /** How long to wait for the Talos API to answer, in ms (default 10 minutes). */
  waitMs?: number;
  signal?: AbortSignal;
}

/** Resolves when a TCP connection to host:port succeeds; LabError after `waitMs`. */
export async function waitForTalosApi(
  host: string,
  port = TALOS_API_PORT,
  waitMs = 600_000,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (signal?.aborted) throw new LabError("LAB_E_TALOS_UNREACHABLE", `stopped waiting for ${host}:${port}`);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect({ host, port, timeout: 3000 });
      sock.once("connect", () => {
        sock.destroy();
        resolve(true);
      });
      sock.once("timeout", () => {
        sock.destroy();
        resolve(false);
      });
      sock.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() >= deadline)
      throw new LabError("LAB_E_TALOS_UNREACHABLE", `the Talos API at ${host}:${port} did not answer`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/**
 * Push mode: waits for the node's maintenance-mode API, then applies the config over it
 * (ApplyConfiguration, as `talosctl apply-config --insecure` does; see talos-api.ts).
 */
export async function pushTalosConfig(opts: TalosPushOptions): Promise<ApplyResult> {
  const port = opts.port ?? TALOS_API_PORT;
  await waitForTalosApi(opts.host, port, opts.waitMs, opts.signal);
  return applyTalosConfig({ host: opts.host, port, config: opts.config });
}
