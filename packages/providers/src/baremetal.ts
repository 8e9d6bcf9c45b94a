/**
 * `provider: baremetal` — a physical machine known by its MAC, installed over the network by
 * Lab's own PXE lifecycle (the provisioner's DISCOVERED → INSTALL_QUEUE → INSTALLING →
 * INSTALLED) and switched by its `power:` driver. What Lab compares is what the machine itself
 * reported — never the spec — against the size with "at least" semantics: the freshest of its
 * discovery boot's hardware record and, once installed, the facts its agent sends on every
 * connection (so RAM swapped by hand shows at the installed system's next boot, not only after
 * a rediscovery). Its hardware is not Lab's to change, so every difference is reported with why
 * it cannot be reconciled.
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
  /** When the provisioner last changed the record (for INSTALLED: when the install completed). */
  updatedAt?: string;
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

/** An enrolled agent as the identity store keeps it (the fields this provider reads). */
export interface BaremetalAgent {
  /** What it sent on its last connection (system.ts facts(): cpus, memoryBytes, …). */
  facts: Record<string, unknown>;
  lastSeenAt: string | null;
  revokedAt: string | null;
}

/** The agents by server name (the identity store, or the API's /api/v1/agents/NAME). */
export interface BaremetalAgents {
  /** Undefined for a name no agent enrolled as. */
  find(name: string): Promise<BaremetalAgent | undefined>;
}

/** Power through the server's drivers (PowerControl.act with its actor, or the CLI's PowerClient). */
export interface BaremetalPower {
  /** Refuses a next boot the driver cannot set with LAB_E_POWER_UNSUPPORTED. */
  act(name: string, action: "cycle" | "off", nextBoot?: "pxe"): Promise<{ state: string; detail: string }>;
}

export interface BaremetalProviderOptions {
  machines: () => Promise<BaremetalMachines>;
  power: () => Promise<BaremetalPower>;
  /** The installed systems' agents; without it only the discovery record is compared. */
  agents?: () => Promise<BaremetalAgents>;
  /** How long apply waits for INSTALLED (default 30 min; LAB_BAREMETAL_WAIT_MS). */
  waitMs?: number;
  /** Between reads of the machine's state while waiting (default 2 s). */
  pollMs?: number;
  sizes?: SizeCatalogue;
}

const CAN: Reconcilable = {
  why: "a physical machine's hardware is changed by hand (Lab compares what the machine last reported of itself)",
};

/** Transport failures of whatever the provider talks to (lab server's API, a local daemon). */
const UNREACHABLE = new Set(["LAB_E_UNREACHABLE", "ECONNREFUSED", "EHOSTUNREACH", "ENOTFOUND", "ETIMEDOUT"]);

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
      return await reached("the provisioner", async () => (await this.o.machines()).find(mac));
    } catch (e) {
      if (isLabError(e) && e.code === "LAB_E_NOT_FOUND") return null;
      throw e;
    }
  }

  /**
   * The installed system's own report, when it is fresher than the discovery record: the agent
   * of the machine's name connected after the machine became INSTALLED (it sends its facts on
   * every connection, so a connection after the install is a report of the installed system —
   * not of an earlier install of another machine under that name).
   */
  private async agentReport(m: BaremetalMachine): Promise<AgentReport | null> {
    if (!this.o.agents || m.state !== "INSTALLED" || !m.name) return null;
    const name = m.name;
    const agents = this.o.agents;
    const a = await reached("the agents", async () => (await agents()).find(name));
    if (!a || a.revokedAt || !a.lastSeenAt) return null;
    if (m.updatedAt && Date.parse(a.lastSeenAt) < Date.parse(m.updatedAt)) return null;
    const cpus = a.facts.cpus;
    const memoryBytes = a.facts.memoryBytes;
    if (typeof cpus !== "number" || typeof memoryBytes !== "number") return null;
    return { cpus, memoryBytes, at: a.lastSeenAt };
  }

  private async observe(m: BaremetalMachine): Promise<ObservedResource> {
    return observed(m, await this.agentReport(m));
  }

  async get(spec: ResourceSpec): Promise<ObservedResource | null> {
    const m = await this.machine(spec);
    return m ? this.observe(m) : null;
  }

  async diff(spec: ResourceSpec): Promise<DiffResult> {
    const m = await this.machine(spec);
    const o = m ? await this.observe(m) : null;
    return compare(spec, o, CAN, [
      "mounts (the discovery image and the agent's facts report the hardware, not the installed system's mounts)",
      ...(m && !m.hardware && o?.cores === null
        ? ["hardware (neither a discovery boot nor the installed system's agent has reported it yet)"]
        : []),
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
    const machines = await reached("the provisioner", () => this.o.machines());
    let m = await this.machine(spec);
    if (m?.state === "INSTALLED") {
      progress(`${spec.name} is installed (${m.image ?? "—"}): nothing to do`);
      return this.observe(m);
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
        progress(await this.cycleIntoPxe(spec.name));
      } else progress(`no power: section — boot ${spec.name} from the network now`);
    }
    if (options.wait === false) return this.observe(await machines.find(mac));
    return this.observe(await this.waitInstalled(machines, mac, spec.name, progress));
  }

  /**
   * A power cycle with the next boot set to PXE; a driver that cannot choose the boot device
   * (QMP, a relay, a person) gets a plain cycle — such a machine must boot the network first
   * by its own firmware order (Lab's dispatch sends an installed one to its disk).
   */
  private async cycleIntoPxe(name: string): Promise<string> {
    const power = await reached("the power control", () => this.o.power());
    try {
      const row = await reached("the power control", () => power.act(name, "cycle", "pxe"));
      return `power cycle, next boot pxe → ${row.state} (${row.detail})`;
    } catch (e) {
      if (!isLabError(e) || e.code !== "LAB_E_POWER_UNSUPPORTED") throw e;
      const row = await reached("the power control", () => power.act(name, "cycle"));
      return `power cycle → ${row.state} (${row.detail}); its driver cannot choose the next boot, so it boots by its firmware order (network first)`;
    }
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
      const row = await reached("the power control", async () =>
        (await this.o.power()).act(spec.name, "off"),
      );
      progress(`power off → ${row.state} (${row.detail})`);
    }
    await reached("the provisioner", async () => (await this.o.machines()).forget(m.mac));
    progress(`released ${m.mac}: Lab forgot the machine (its disks are left as they are)`);
  }

  async list(filters: Filters = {}): Promise<ObservedResource[]> {
    const all = await reached("the provisioner", async () => (await this.o.machines()).list());
    return Promise.all(all.filter((m) => !filters.managed || m.name !== null).map((m) => this.observe(m)));
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

/** The installed system's agent's figures (facts: cpus are logical CPUs, memory the kernel's MemTotal). */
interface AgentReport {
  cpus: number;
  memoryBytes: number;
  at: string;
}

/**
 * Runs a read of the provisioner or the agents; a transport failure (lab server down, nothing on
 * the socket) becomes LAB_E_PROVIDER_UNREACHABLE saying what was asked and where.
 */
async function reached<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const code = isLabError(e) ? e.code : String((e as { code?: unknown })?.code ?? "");
    if (!UNREACHABLE.has(code)) throw e;
    throw new LabError(
      "LAB_E_PROVIDER_UNREACHABLE",
      `baremetal: ${what} did not answer: ${(e as Error).message}`,
    );
  }
}

/**
 * What the machine reported of itself, with the provisioner's state: cores and memory from the
 * agent's report when there is a fresher one (see agentReport), else from the discovery boot;
 * disks and NICs from the discovery boot (the agent does not report them). `detail` says which.
 */
function observed(m: BaremetalMachine, agent: AgentReport | null = null): ObservedResource {
  const hw = m.hardware;
  const memoryBytes = agent?.memoryBytes ?? hw?.memoryBytes;
  const source = agent
    ? `hardware as ${m.name}'s agent reported it (connected ${agent.at})`
    : hw
      ? "hardware as its discovery boot reported it"
      : "hardware not reported yet";
  return {
    id: m.mac,
    name: m.name ?? m.mac,
    provider: "baremetal",
    state: STATE[m.state],
    cores: agent?.cpus ?? hw?.cpu.cores ?? null,
    memoryMiB: memoryBytes === undefined ? null : Math.round(memoryBytes / 2 ** 20),
    instanceType: null,
    disks: (hw?.disks ?? [])
      .filter((d) => !d.removable)
      .map((d) => ({ name: d.name, sizeMiB: Math.round(d.sizeBytes / 2 ** 20) })),
    mounts: null,
    network: (hw?.nics ?? []).map((n) => ({ name: n.name, mac: n.mac ?? null, ipv4: n.ipv4 })),
    detail: `${m.state}${m.image ? ` ${m.image}` : ""}${m.stage ? `, ${m.stage}` : ""}; ${source}`,
  };
}
