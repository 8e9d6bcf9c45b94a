/**
 * Talos installs, push mode: once dispatch has sent a machine the Talos kernel (with no
 * config), Lab waits for the node's maintenance API at the address it booted from, renders
 * the machine's config (the cluster's config from a secret, hostname and disk patched in) and
 * applies it there. The config never sits on an HTTP URL. Each step is a progress report of
 * the machine's own install, so the timeline, `lab provision logs -f` and the lifecycle
 * (INSTALLED / FAILED) read it like any installer's.
 */
import { LabError } from "@lab/core";
import {
  type BootContext,
  type BootDecision,
  type Provisioner,
  pushTalosConfig,
  renderTalosConfig,
  TALOS_API_PORT,
} from "@lab/pxe";

export interface TalosPushOptions {
  provisioner: Provisioner;
  /** The cluster's machine config, from the secret the image names. */
  machineConfig: (secret: string) => Promise<string>;
  context: () => BootContext;
  /** The nodes' API port (50000; tests point it at a stand-in). */
  port?: number;
  /** How long a node may take to boot into maintenance mode (default 10 minutes). */
  waitMs?: number;
  log: (line: string) => void;
}

/** An install dispatch, and the address the machine asked from. */
export type InstallDispatch = Extract<BootDecision, { action: "install" }> & { source: string };

export class TalosPusher {
  /** One push per machine at a time: a second network boot restarts it. */
  private readonly running = new Map<string, AbortController>();

  constructor(private readonly o: TalosPushOptions) {}

  /** Called for every install dispatch; starts a push for a Talos push-mode image. */
  dispatched(decision: InstallDispatch): void {
    const { machine, image } = decision;
    if (image.format !== "talos" || image.talos?.mode !== "push") return;
    this.running.get(machine.mac)?.abort();
    const abort = new AbortController();
    this.running.set(machine.mac, abort);
    void this.push(decision, abort.signal)
      .catch((e) => this.o.log(`talos push ${machine.name ?? machine.mac}: ${(e as Error).message}`))
      .finally(() => {
        if (this.running.get(machine.mac) === abort) this.running.delete(machine.mac);
      });
  }

  private async push(d: InstallDispatch, signal: AbortSignal): Promise<void> {
    const p = this.o.provisioner;
    const mac = d.machine.mac;
    const host = d.source.replace(/^::ffff:/, "");
    const port = this.o.port ?? TALOS_API_PORT;
    const report = (stage: string, status: "running" | "ok" | "failed", message: string) =>
      p.progress({ mac, stage, status, message }, d.token);
    try {
      const secret = d.image.talos?.machine_config;
      if (!secret)
        throw new LabError("LAB_E_TALOS_CONFIG", `image ${d.image.name} names no machine_config secret`);
      const base = await this.o.machineConfig(secret);
      const ctx = this.o.context();
      const config = renderTalosConfig({
        hostname: d.machine.name ?? mac.replaceAll(":", ""),
        domain: ctx.domain,
        mac,
        serverUrl: ctx.serverUrl,
        installToken: d.token,
        sshAuthorizedKeys: [],
        image: d.image,
        disk: "auto",
        reprovision: false,
        preserve: [],
        talosBaseConfig: base,
      });
      await report("talos-wait", "running", `waiting for the Talos API at ${host}:${port}`);
      const result = await pushTalosConfig({ host, port, config, waitMs: this.o.waitMs ?? 600_000, signal });
      if (signal.aborted) return;
      const warnings = result.warnings.length ? `; warnings: ${result.warnings.join("; ")}` : "";
      await report("complete", "ok", `machine config applied at ${host}:${port}${warnings}`);
    } catch (e) {
      if (signal.aborted) return;
      const why = e instanceof LabError ? `${e.code}: ${e.message}` : (e as Error).message;
      await report("talos-config", "failed", why).catch(() => undefined);
    }
  }

  close(): void {
    for (const a of this.running.values()) a.abort();
    this.running.clear();
  }
}
