/**
 * `provider: ssh` — a machine that already exists and runs Linux, reached over SSH. Nothing is
 * created: apply *adopts* it (checks it answers, pins its host key, keeps it in Lab's record),
 * destroy lets go of it (the machine is left as it is). What Lab compares comes from the
 * machine each time it asks — the same hardware detection `lab onboard --provider ssh` runs
 * (@lab/onboard) and its /proc/self/mounts — against the size with "at least" semantics, as
 * physical machines are sized. Nothing on the machine is changed, so every difference is
 * reported with why it cannot be reconciled.
 */
import { type Hardware, isLabError, LabError } from "@lab/core";
import { defaultIdentityFile, detectHardware, SshSession, scriptRunner } from "@lab/onboard";
import { compare, planFrom, type Reconcilable } from "./compare.js";
import { parseMounts, rootSource, userMounts } from "./mounts.js";
import { catalogueSizes, type SizeCatalogue } from "./sizes.js";
import { AdoptedHosts } from "./ssh-adopted.js";
import type {
  DiffResult,
  Filters,
  ObservedDisk,
  ObservedResource,
  PlanResult,
  Progress,
  Provider,
  ProviderImage,
  ProviderSize,
  ResourceSpec,
} from "./types.js";
import { formatMiB } from "./units.js";

export interface SshProviderOptions {
  /** The adoption record (LAB_HOME/providers/ssh-hosts.json). */
  statePath: string;
  /** Login user when the server has no `attributes.ssh_user` (default root). */
  user?: string;
  /** Port when the server has no `attributes.ssh_port` (default 22). */
  port?: number;
  /** Private key file (default: ~/.ssh/id_ed25519, id_ecdsa, id_rsa). */
  identityFile?: string;
  /** ssh-agent socket ($SSH_AUTH_SOCK). */
  agent?: string;
  /** Connect + handshake limit (default 15 s). */
  timeoutMs?: number;
  sizes?: SizeCatalogue;
}

const CAN: Reconcilable = {
  why: "an existing machine is changed by hand: the ssh provider reads it, it does not resize, remount or readdress it",
};

interface Target {
  host: string;
  port: number;
  user: string;
  where: string;
}

/** The host key the machine must present, and who said so. */
interface Pin {
  key: string;
  from: "adoption" | "spec";
}

export class SshProvider implements Provider {
  readonly name = "ssh";
  private readonly adopted: AdoptedHosts;

  constructor(private readonly o: SshProviderOptions) {
    this.adopted = new AdoptedHosts(o.statePath);
  }

  private target(spec: ResourceSpec): Target {
    if (!spec.host) {
      throw new LabError(
        "LAB_E_PROVIDER_NOT_CONFIGURED",
        `server ${spec.name} has no host: — the ssh provider reaches a machine at its address (lab apply server ${spec.name} --host ADDRESS)`,
      );
    }
    const a = spec.attributes;
    const port = a.ssh_port ?? this.o.port ?? 22;
    if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new LabError(
        "LAB_E_PROVIDER_NOT_CONFIGURED",
        `server ${spec.name}: attributes.ssh_port must be a port number, not ${JSON.stringify(port)}`,
      );
    }
    const user = typeof a.ssh_user === "string" && a.ssh_user ? a.ssh_user : (this.o.user ?? "root");
    return { host: spec.host, port, user, where: `${user}@${spec.host}:${port}` };
  }

  /**
   * The key to insist on: the one pinned at adoption; before adoption, the server's
   * `attributes.ssh_host_key` (what `lab onboard` saw and showed), else none (first contact).
   */
  private async pinFor(spec: ResourceSpec, t: Target): Promise<{ pin?: Pin; adopted: boolean }> {
    const record = await this.adopted.get(spec.name);
    // A record for another address is a different machine: its pin does not apply here.
    if (record && record.host === t.host && record.port === t.port)
      return { pin: { key: record.hostKey, from: "adoption" }, adopted: true };
    const want = spec.attributes.ssh_host_key;
    if (want === undefined) return { adopted: false };
    if (typeof want !== "string" || !/^SHA256:\S+$/.test(want))
      throw new LabError(
        "LAB_E_PROVIDER_NOT_CONFIGURED",
        `server ${spec.name}: attributes.ssh_host_key must be a fingerprint (SHA256:…), not ${JSON.stringify(want)}`,
      );
    return { pin: { key: want, from: "spec" }, adopted: false };
  }

  /** One SSH session to the machine; its key must be the pinned one, if any. */
  private async connect(t: Target, pin?: Pin): Promise<SshSession> {
    const pinned = pin?.key;
    const identityFile = this.o.identityFile ?? defaultIdentityFile();
    if (!identityFile && !this.o.agent) {
      throw new LabError(
        "LAB_E_PROVIDER_NOT_CONFIGURED",
        "the ssh provider has no key: set LAB_SSH_IDENTITY_FILE, put one in ~/.ssh (id_ed25519, id_ecdsa, id_rsa) or run ssh-agent",
      );
    }
    try {
      return await SshSession.connect({
        host: t.host,
        port: t.port,
        user: t.user,
        ...(identityFile ? { identityFile } : {}),
        ...(this.o.agent ? { agent: this.o.agent } : {}),
        ...(pinned ? { knownHostKeyFingerprint: pinned } : {}),
        timeoutMs: this.o.timeoutMs ?? 15_000,
      });
    } catch (e) {
      // The provider's codes, so callers tell "nothing answers" from "it refused" whatever the provider.
      if (isLabError(e) && e.code === "LAB_E_SSH_UNREACHABLE")
        throw new LabError("LAB_E_PROVIDER_UNREACHABLE", `ssh provider: ${e.message}`);
      if (isLabError(e) && e.code === "LAB_E_SSH_AUTH")
        throw new LabError("LAB_E_PROVIDER_AUTH", `ssh provider: ${e.message}`);
      if (isLabError(e) && e.code === "LAB_E_SSH_HOST_KEY")
        throw new LabError(
          "LAB_E_SSH_HOST_KEY",
          pin?.from === "spec"
            ? `${e.message} (the server's attributes.ssh_host_key, the key lab onboard saw: something else answers at ${t.where} from here)`
            : `${e.message} (pinned when Lab adopted the machine: if it was reinstalled, lab destroy server then lab apply server adopts it again)`,
        );
      throw e;
    }
  }

  async get(spec: ResourceSpec): Promise<ObservedResource | null> {
    const t = this.target(spec);
    const { pin, adopted } = await this.pinFor(spec, t);
    return this.observe(spec.name, t, pin, adopted);
  }

  private async observe(
    name: string,
    t: Target,
    pin: Pin | undefined,
    adopted: boolean,
  ): Promise<ObservedResource & { hostKey: string }> {
    const ssh = await this.connect(t, pin);
    try {
      const hw = await detectHardware(scriptRunner(ssh));
      const mounts = await ssh.exec("cat /proc/self/mounts", { timeoutMs: 30_000 });
      if (mounts.code !== 0) {
        throw new LabError(
          "LAB_E_PROVIDER_REFUSED",
          `${t.where}: cannot read /proc/self/mounts (exit ${mounts.code}): ${mounts.stderr.trim().slice(0, 200)}`,
        );
      }
      const entries = parseMounts(mounts.stdout);
      const os = hw.os ? `${hw.os.name}${hw.os.version ? ` ${hw.os.version}` : ""}` : "OS unknown";
      return {
        id: t.port === 22 ? t.host : `${t.host}:${t.port}`,
        name,
        provider: this.name,
        state: "running",
        cores: hw.cpu.cores,
        memoryMiB: Math.round(hw.memoryBytes / 2 ** 20),
        instanceType: null,
        disks: systemDiskFirst(hw, rootSource(entries)),
        mounts: userMounts(entries),
        network: hw.nics.map((n) => ({ name: n.name, mac: n.mac ?? null, ipv4: n.ipv4 })),
        detail: `${os} over SSH, ${adopted ? "adopted" : "not adopted yet"}`,
        hostKey: ssh.hostKeyFingerprint,
      };
    } finally {
      ssh.close();
    }
  }

  async diff(spec: ResourceSpec): Promise<DiffResult> {
    const observed = await this.get(spec);
    return compare(spec, observed && strip(observed), CAN);
  }

  async plan(spec: ResourceSpec): Promise<PlanResult> {
    const t = this.target(spec);
    const { pin, adopted } = await this.pinFor(spec, t);
    const observed = await this.observe(spec.name, t, pin, adopted);
    const plan = planFrom(spec, compare(spec, strip(observed), CAN), []);
    if (!adopted) {
      plan.action = "adopt";
      plan.steps.unshift({
        op: "create",
        what: `adopt ${t.where} as ${spec.name}: pin host key ${observed.hostKey} (nothing is installed or changed on it)`,
      });
    }
    return plan;
  }

  /** Adopts the machine: it must answer over SSH; its host key is pinned from now on. */
  async apply(spec: ResourceSpec, progress: Progress = () => {}): Promise<ObservedResource> {
    const t = this.target(spec);
    const { pin, adopted } = await this.pinFor(spec, t);
    progress(`connecting to ${t.where}`);
    const observed = await this.observe(spec.name, t, pin, true);
    if (adopted) progress(`${spec.name} is adopted already (host key ${observed.hostKey})`);
    else {
      await this.adopted.put({
        name: spec.name,
        host: t.host,
        port: t.port,
        user: t.user,
        hostKey: observed.hostKey,
        adoptedAt: new Date().toISOString(),
      });
      progress(`adopted ${spec.name}: host key ${observed.hostKey} pinned`);
    }
    return strip(observed);
  }

  /** Lets go of the machine: Lab forgets it; nothing on it is touched. */
  async destroy(spec: ResourceSpec, progress: Progress = () => {}): Promise<void> {
    const had = await this.adopted.remove(spec.name);
    progress(
      had
        ? `let go of ${spec.name}: Lab no longer holds its host key; the machine itself is left as it is`
        : `${spec.name} was not adopted: nothing to let go of`,
    );
  }

  /** The adopted machines, each asked now; one that does not answer is listed as unknown. */
  async list(_filters: Filters = {}): Promise<ObservedResource[]> {
    const hosts = await this.adopted.all();
    return Promise.all(
      hosts.map(async (h) => {
        const t = { host: h.host, port: h.port, user: h.user, where: `${h.user}@${h.host}:${h.port}` };
        try {
          return strip(await this.observe(h.name, t, { key: h.hostKey, from: "adoption" }, true));
        } catch (e) {
          return unanswered(h.name, t, (e as Error).message);
        }
      }),
    );
  }

  /** SSH has no inventory to search: what it can discover is what Lab adopted, as it answers now. */
  discover(): Promise<ObservedResource[]> {
    return this.list();
  }

  async sizes(): Promise<ProviderSize[]> {
    return catalogueSizes(
      this.o.sizes ?? {},
      this.name,
      (s) =>
        `at least ${s.cores ?? "any"} cores / ${s.memoryMiB === null ? "any memory" : formatMiB(s.memoryMiB)}`,
    );
  }

  /** An existing machine keeps the system it has: there is nothing to choose from. */
  async images(): Promise<ProviderImage[]> {
    return [];
  }
}

/** The disks as compared: the one `/` lives on first (the "system" disk), removable ones left out. */
function systemDiskFirst(hw: Hardware, root: string | null): ObservedDisk[] {
  const disks = hw.disks
    .filter((d) => !d.removable)
    .map((d) => ({ name: d.name, sizeMiB: Math.round(d.sizeBytes / 2 ** 20) }));
  const dev = root?.replace(/^\/dev\//, "") ?? "";
  const i = disks.findIndex((d) => dev.startsWith(d.name));
  if (i > 0) disks.unshift(...disks.splice(i, 1));
  return disks;
}

function strip(o: ObservedResource & { hostKey?: string }): ObservedResource {
  const { hostKey: _k, ...rest } = o;
  return rest;
}

function unanswered(name: string, t: Target, why: string): ObservedResource {
  return {
    id: t.port === 22 ? t.host : `${t.host}:${t.port}`,
    name,
    provider: "ssh",
    state: "unknown",
    cores: null,
    memoryMiB: null,
    instanceType: null,
    disks: [],
    mounts: null,
    network: [],
    detail: `not answering: ${why}`,
  };
}
