/**
 * `provider: baremetal` — a physical machine known by its MAC, installed over the network by
 * Lab's own PXE lifecycle (the provisioner's DISCOVERED → INSTALL_QUEUE → INSTALLING →
 * INSTALLED) and switched by its `power:` driver. What Lab compares is what the machine itself
 * reported when it booted the discovery image (the provisioner's hardware record) — never the
 * spec — against the size with "at least" semantics. Its hardware is not Lab's to change, so
 * every difference is reported with why it cannot be reconciled.
 *
 * The provisioner and the power control belong to whoever runs the provider (the CLI's local
 * mode, lab server), so the caller builds it (registry `extra`) with both.
 */
import type { Hardware } from "@lab/core";
import { isLabError, LabError } from "@lab/core";
import { compare, planFrom, type Reconcilable } from "./compare.js";
import { catalogueSizes, type SizeCatalogue } from "./sizes.js";
import type {
  ApplyOptions,
  DiffResult,
  Filters,
  ObservedResource,
  PlanResult,
  PlanStep,
  Progress,
  Provider,
  ProviderImage,
  ProviderSize,
  ResourceSpec,
} from "./types.js";
import { formatMiB } from "./units.js";

/** A machine as the provisioner keeps it (the fields this provider reads). */
export interface BaremetalMachine {
  mac: string;
  name: string | null;
  state: "DISCOVERED" | "INSTALL_QUEUE" | "INSTALLING" | "INSTALLED" | "FAILED";
  reason: string | null;
  image: string | null;
  stage: string | null;
  hardware: Hardware | null;
}

/** The provisioner's operations this provider drives (Provisioner, or the CLI's ProvisionClient). */
export interface BaremetalMachines {
  list(): Promise<BaremetalMachine[]>;
  /** Throws LAB_E_NOT_FOUND for a MAC Lab does not know. */
  find(mac: string): Promise<BaremetalMachine>;
  /** `bastion`: the remote site the machine boots at (`attributes.bastion`; lab server only). */
  enlist(o: { mac: string; name: string; image: string; bastion?: string }): Promise<BaremetalMachine>;
  install(mac: string, o: { image?: string; name?: string }): Promise<BaremetalMachine>;
  forget(mac: string): Promise<BaremetalMachine>;
}

/** Power through the server's drivers (PowerControl.act with its actor, or the CLI's PowerClient). */
export interface BaremetalPower {
  act(name: string, action: "cycle" | "off", nextBoot?: "pxe"): Promise<{ state: string; detail: string }>;
}

export interface BaremetalProviderOptions {
  machines: () => Promise<BaremetalMachines>;
  power: () => Promise<BaremetalPower>;
  /** How long apply waits for INSTALLED (default 30 min; LAB_BAREMETAL_WAIT_MS). */
  waitMs?: number;
  /** Between reads of the machine's state while waiting (default 2 s). */
  pollMs?: number;
  sizes?: SizeCatalogue;
}

const CAN: Reconcilable = {
  why: "a physical machine's hardware is changed by hand (Lab compares what its discovery boot reported)",
};

const STATE: Record<BaremetalMachine["state"], ObservedResource["state"]> = {
  DISCOVERED: "stopped",
  INSTALL_QUEUE: "pending",
  INSTALLING: "installing",
  INSTALLED: "running",
  FAILED: "unknown",
};

export class BaremetalProvider implements Provider {
  readonly name = "baremetal";

  constructor(private readonly o: BaremetalProviderOptions) {}

  private mac(spec: ResourceSpec): string {
    if (!spec.mac) {
      throw new LabError(
        "LAB_E_PROVIDER_NOT_CONFIGURED",
        `server ${spec.name} has no mac: — bare metal is known by the MAC it boots from (lab apply server ${spec.name} --mac MAC)`,
      );
    }
    return spec.mac;
  }

  private async machine(spec: ResourceSpec): Promise<BaremetalMachine | null> {
    const mac = this.mac(spec);
    try {
      return await (await this.o.machines()).find(mac);
    } catch (e) {
      if (isLabError(e) && e.code === "LAB_E_NOT_FOUND") return null;
      throw e;
    }
  }

  async get(spec: ResourceSpec): Promise<ObservedResource | null> {
    const m = await this.machine(spec);
    return m ? observed(m) : null;
  }

  async diff(spec: ResourceSpec): Promise<DiffResult> {
    const m = await this.machine(spec);
    return compare(spec, m ? observed(m) : null, CAN, [
      "mounts (the discovery image reports the hardware, not the installed system's mounts)",
      ...(m && !m.hardware ? ["hardware (the machine has not booted the discovery image yet)"] : []),
    ]);
  }

  async plan(spec: ResourceSpec): Promise<PlanResult> {
    const m = await this.machine(spec);
    const image = spec.image?.name ?? null;
    const boot: PlanStep = {
      op: "create",
      what: spec.power
        ? `power cycle ${spec.name} into PXE (power driver ${String(spec.power.driver)})`
        : `boot ${spec.name} from the network (no power: section: by hand)`,
    };
    const install = (what: string): PlanResult => ({
      server: spec.name,
      provider: this.name,
      action: "create",
      steps: [{ op: "create", what }, boot, { op: "create", what: `wait until ${spec.name} is INSTALLED` }],
      unreconcilable: [],
      notes: image ? [] : [`no image: on ${spec.name}: apply needs one (lab get images lists them)`],
    });
    if (!m) return install(`register ${spec.mac} as ${spec.name} and queue the install of ${image ?? "—"}`);
    if (m.state === "DISCOVERED" || m.state === "FAILED")
      return install(
        `queue the install of ${image ?? "—"} on ${m.mac} (${m.state === "FAILED" ? `failed before: ${m.reason ?? "no reason"}` : "discovered"})`,
      );
    const plan = planFrom(spec, await this.diff(spec), []);
    if (m.state !== "INSTALLED") plan.notes.push(`${spec.name} is ${m.state} already (${m.image ?? "—"})`);
    else if (image && m.image !== image)
      plan.notes.push(
        `installed with ${m.image ?? "—"}, the spec says ${image}: apply does not wipe a machine — lab provision reprovision ${spec.name} --image ${image} reinstalls it`,
      );
    return plan;
  }

  /**
   * Queues the install, boots the machine into PXE through its power driver, waits for
   * INSTALLED (unless `wait: false`: then it returns once the machine is queued and booted).
   */
  async apply(
    spec: ResourceSpec,
    progress: Progress = () => {},
    options: ApplyOptions = {},
  ): Promise<ObservedResource> {
    const mac = this.mac(spec);
    const machines = await this.o.machines();
    let m = await this.machine(spec);
    if (m?.state === "INSTALLED") {
      progress(`${spec.name} is installed (${m.image ?? "—"}): nothing to do`);
      return observed(m);
    }
    if (!m || m.state === "DISCOVERED" || m.state === "FAILED") {
      const image = spec.image?.name;
      if (!image) {
        throw new LabError(
          "LAB_E_PROVIDER_NOT_CONFIGURED",
          `server ${spec.name} has no image: — which system should it get? (lab get images lists them)`,
        );
      }
      const bastion = bastionOf(spec);
      m = m
        ? await machines.install(mac, { image, name: spec.name })
        : await machines.enlist({ mac, name: spec.name, image, ...(bastion ? { bastion } : {}) });
      progress(`${spec.name} (${mac}) queued for ${image}${bastion ? ` at bastion ${bastion}` : ""}`);
      if (spec.power) {
        const row = await (await this.o.power()).act(spec.name, "cycle", "pxe");
        progress(`power cycle, next boot pxe → ${row.state} (${row.detail})`);
      } else progress(`no power: section — boot ${spec.name} from the network now`);
    }
    if (options.wait === false) return observed(await machines.find(mac));
    return observed(await this.waitInstalled(machines, mac, spec.name, progress));
  }

  private async waitInstalled(
    machines: BaremetalMachines,
    mac: string,
    name: string,
    progress: Progress,
  ): Promise<BaremetalMachine> {
    const deadline = Date.now() + (this.o.waitMs ?? 30 * 60_000);
    let said = "";
    for (;;) {
      const m = await machines.find(mac);
      const now = `${m.state}${m.stage ? ` (${m.stage})` : ""}`;
      if (now !== said) progress(`${name}: ${now}`);
      said = now;
      if (m.state === "INSTALLED") return m;
      if (m.state === "FAILED")
        throw new LabError(
          "LAB_E_PROVIDER_REFUSED",
          `${name}: the install failed (${m.reason ?? "no reason given"}): lab provision logs ${name}`,
        );
      if (Date.now() > deadline)
        throw new LabError(
          "LAB_E_PROVIDER_REFUSED",
          `${name} is ${now}, not INSTALLED, after ${Math.round((this.o.waitMs ?? 1_800_000) / 1000)} s: lab provision timeline ${name} shows how far it came`,
        );
      await new Promise((r) => setTimeout(r, this.o.pollMs ?? 2000));
    }
  }

  /** Powers the machine off (when it has power:) and forgets it: its next boot finds Lab a stranger. */
  async destroy(spec: ResourceSpec, progress: Progress = () => {}): Promise<void> {
    const m = await this.machine(spec);
    if (!m) {
      progress(`${spec.mac} is not a machine Lab knows: nothing to release`);
      return;
    }
    if (spec.power) {
      const row = await (await this.o.power()).act(spec.name, "off");
      progress(`power off → ${row.state} (${row.detail})`);
    }
    await (await this.o.machines()).forget(m.mac);
    progress(`released ${m.mac}: Lab forgot the machine (its disks are left as they are)`);
  }

  async list(filters: Filters = {}): Promise<ObservedResource[]> {
    const all = await (await this.o.machines()).list();
    return all.filter((m) => !filters.managed || m.name !== null).map(observed);
  }

  /** Every machine that booted Lab's network, named or not (a DISCOVERED one may be no server yet). */
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

  /** Images are the model's `images:` (lab get images): the provider adds none of its own. */
  async images(): Promise<ProviderImage[]> {
    return [];
  }
}

/** The remote site the machine boots at, when its `attributes.bastion` names one. */
function bastionOf(spec: ResourceSpec): string | undefined {
  const b = spec.attributes.bastion;
  if (b === undefined) return undefined;
  if (typeof b !== "string" || !b)
    throw new LabError(
      "LAB_E_PROVIDER_NOT_CONFIGURED",
      `server ${spec.name}: attributes.bastion must be a bastion's name (lab get bastions), not ${JSON.stringify(b)}`,
    );
  return b;
}

/** What the machine reported of itself (its discovery boot), with the provisioner's state. */
function observed(m: BaremetalMachine): ObservedResource {
  const hw = m.hardware;
  return {
    id: m.mac,
    name: m.name ?? m.mac,
    provider: "baremetal",
    state: STATE[m.state],
    cores: hw?.cpu.cores ?? null,
    memoryMiB: hw ? Math.round(hw.memoryBytes / 2 ** 20) : null,
    instanceType: null,
    disks: (hw?.disks ?? [])
      .filter((d) => !d.removable)
      .map((d) => ({ name: d.name, sizeMiB: Math.round(d.sizeBytes / 2 ** 20) })),
    mounts: null,
    network: (hw?.nics ?? []).map((n) => ({ name: n.name, mac: n.mac ?? null, ipv4: n.ipv4 })),
    detail: `${m.state}${m.image ? ` ${m.image}` : ""}${m.stage ? `, ${m.stage}` : ""}`,
  };
}
