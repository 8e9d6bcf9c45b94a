/**
 * `provider: libvirt` — a VM per server on a libvirt host, through `virsh` (libvirt's own
 * client: the RPC protocol is XDR over a socket with SASL/TLS variants, virsh speaks all of
 * them; the power driver reaches libvirt the same way). A server is a persistent domain named
 * after it with a system volume in a storage pool; `sizes:` give cores, memory and disk.
 *
 * What Lab compares is the domain's persistent definition (what the next start gets) plus any
 * disk hot-plugged into the running domain: memory a guest without a balloon driver never gave
 * back would otherwise read as changed and unchanged at once. Mounts are inside the guest,
 * which libvirt cannot see without a guest agent, so they are reported as not compared.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LabError } from "@lab/core";
import { compare, planFrom, type Reconcilable } from "./compare.js";
import type { SizeCatalogue } from "./sizes.js";
import { catalogueSizes } from "./sizes.js";
import type {
  DiffResult,
  Filters,
  ObservedDisk,
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

export interface LibvirtProviderOptions {
  /** Connection URI (default qemu:///system); a private daemon: qemu+unix:///session?socket=… */
  uri?: string;
  /** Storage pool for the servers' volumes (default "default"). */
  pool?: string;
  /** `<interface type=…>`: "user" (no host setup), or "network:NAME" / "bridge:BR". */
  network?: string;
  virsh?: string;
  /** Sizes for servers whose size says nothing to libvirt. */
  defaults?: { cores: number; memoryMiB: number; diskMiB: number };
  sizes?: SizeCatalogue;
}

const INSTALL =
  "apt-get install -y libvirt-clients libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86";
const CAN: Reconcilable = {
  cores: true,
  memory: true,
  disk: true,
  extra_disk: true,
  why: "libvirt cannot change this in place",
};
/** What a domain gets when its size says nothing to libvirt (and no `defaults` were given). */
export const LIBVIRT_DEFAULTS = { cores: 1, memoryMiB: 512, diskMiB: 4096 } as const;

/** Domains Lab made carry this in their <description>, so `list({managed})` can tell them apart. */
const MARK = "managed by lab";

export class LibvirtProvider implements Provider {
  readonly name = "libvirt";
  private readonly uri: string;
  private readonly pool: string;
  private readonly defaults: { cores: number; memoryMiB: number; diskMiB: number };

  constructor(private readonly o: LibvirtProviderOptions = {}) {
    this.uri = o.uri ?? "qemu:///system";
    this.pool = o.pool ?? "default";
    this.defaults = o.defaults ?? { ...LIBVIRT_DEFAULTS };
  }

  private virsh(...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(
        this.o.virsh ?? "virsh",
        ["-q", "-c", this.uri, ...args],
        { timeout: 60_000, maxBuffer: 8 * 1024 * 1024 },
        (err, stdout, stderr) => {
          const e = err as (NodeJS.ErrnoException & { killed?: boolean }) | null;
          if (!e) return resolve(stdout);
          if (e.code === "ENOENT") {
            return reject(new LabError("LAB_E_PROVIDER_TOOL_MISSING", `virsh is not installed: ${INSTALL}`));
          }
          const said = String(stderr).trim().replace(/\s+/g, " ");
          if (
            /failed to connect|Failed to connect socket|no connection driver|Cannot recv data/i.test(said)
          ) {
            return reject(new LabError("LAB_E_PROVIDER_UNREACHABLE", `libvirt at ${this.uri}: ${said}`));
          }
          reject(new LabError("LAB_E_PROVIDER_REFUSED", `virsh ${args[0]}: ${said || e.message}`));
        },
      );
    });
  }

  /** The domain's definition, or null when there is none. */
  private async xml(name: string, live = false): Promise<string | null> {
    try {
      return await this.virsh("dumpxml", ...(live ? [] : ["--inactive"]), name);
    } catch (e) {
      if (
        e instanceof LabError &&
        /failed to get domain|Domain not found|no domain with matching name/i.test(e.message)
      )
        return null;
      throw e;
    }
  }

  private sizing(spec: ResourceSpec) {
    return {
      cores: spec.sizing.cores ?? this.defaults.cores,
      memoryMiB: spec.sizing.memoryMiB ?? this.defaults.memoryMiB,
      diskMiB: spec.sizing.diskMiB ?? this.defaults.diskMiB,
    };
  }

  /** The spec with libvirt's defaults filled in, so plan and diff compare what apply makes. */
  private effective(spec: ResourceSpec): ResourceSpec {
    const s = this.sizing(spec);
    return {
      ...spec,
      sizing: { ...spec.sizing, cores: s.cores, memoryMiB: s.memoryMiB, diskMiB: s.diskMiB, atLeast: false },
    };
  }

  async get(spec: ResourceSpec): Promise<ObservedResource | null> {
    return this.observe(spec.name);
  }

  private async observe(name: string): Promise<ObservedResource | null> {
    const xml = await this.xml(name);
    if (xml === null) return null;
    const state = (await this.virsh("domstate", name)).trim();
    const running = state === "running" || state === "paused";
    const disks = diskTargets(xml);
    if (running) {
      const live = (await this.xml(name, true)) ?? "";
      for (const d of diskTargets(live)) if (!disks.some((x) => x.name === d.name)) disks.push(d);
    }
    const sized: ObservedDisk[] = [];
    for (const d of disks) sized.push({ ...d, sizeMiB: await this.capacity(name, d) });
    return {
      id: name,
      name,
      provider: this.name,
      state: running ? "running" : state === "shut off" ? "stopped" : "unknown",
      cores: Number(/<vcpu\b[^>]*>(\d+)</.exec(xml)?.[1] ?? Number.NaN) || null,
      memoryMiB: kib(/<currentMemory unit='([A-Za-z]+)'>(\d+)</.exec(xml)),
      instanceType: null,
      disks: sized,
      mounts: null,
      network: [...xml.matchAll(/<interface\b[\s\S]*?<\/interface>/g)].map((m, i) => ({
        name: /<target dev='([^']+)'/.exec(m[0])?.[1] ?? `nic${i}`,
        mac: /<mac address='([^']+)'/.exec(m[0])?.[1] ?? null,
        ipv4: [],
      })),
      detail: `domain ${state}`,
    };
  }

  /** A disk's size: the domain's view, else its volume's (a disk only in the next definition). */
  private async capacity(domain: string, d: ObservedDisk): Promise<number | null> {
    const read = async (args: string[], re: RegExp, unit: number) => {
      try {
        const n = Number(re.exec(await this.virsh(...args))?.[1]);
        return Number.isFinite(n) ? Math.round((n * unit) / 2 ** 20) : null;
      } catch {
        return null;
      }
    };
    return (
      (await read(["domblkinfo", domain, d.source ?? d.name], /Capacity:\s+(\d+)/, 1)) ??
      (d.source ? await read(["vol-info", "--bytes", d.source], /Capacity:\s+(\d+)/, 1) : null)
    );
  }

  async diff(spec: ResourceSpec): Promise<DiffResult> {
    const eff = this.effective(spec);
    return compare(eff, await this.get(spec), CAN, [
      "mounts (inside the guest: libvirt sees them only through a guest agent)",
    ]);
  }

  async plan(spec: ResourceSpec): Promise<PlanResult> {
    const s = this.sizing(spec);
    const diff = await this.diff(spec);
    const creates: PlanStep[] = [
      {
        op: "create",
        what: `volume ${spec.name}-system.raw ${formatMiB(s.diskMiB)} in pool ${this.pool}${spec.image?.ref ? ` (from ${spec.image.ref})` : ""}`,
      },
      { op: "create", what: `domain ${spec.name}: ${s.cores} vCPU, ${formatMiB(s.memoryMiB)} (${this.uri})` },
      { op: "create", what: `start ${spec.name}` },
    ];
    const plan = planFrom(spec, diff, creates);
    if (
      plan.action === "sync" &&
      diff.observed?.state === "running" &&
      plan.steps.some((x) => x.what !== "extra disk")
    )
      plan.notes.push("the running VM is restarted so the new definition takes effect");
    if (!spec.size)
      plan.notes.push(
        `no size: libvirt's defaults (${s.cores} vCPU, ${formatMiB(s.memoryMiB)}, ${formatMiB(s.diskMiB)})`,
      );
    return plan;
  }

  async apply(spec: ResourceSpec, progress: Progress = () => {}): Promise<ObservedResource> {
    const existing = await this.get(spec);
    if (!existing) await this.create(spec, progress);
    else await this.reconcile(spec, existing, progress);
    const now = await this.get(spec);
    if (!now) throw new LabError("LAB_E_PROVIDER_REFUSED", `domain ${spec.name} vanished after apply`);
    return now;
  }

  private async create(spec: ResourceSpec, progress: Progress): Promise<void> {
    const s = this.sizing(spec);
    const volume = `${spec.name}-system.raw`;
    progress(`creating volume ${volume} (${formatMiB(s.diskMiB)}) in pool ${this.pool}`);
    if (spec.image?.ref) await this.virsh("vol-clone", "--pool", this.pool, spec.image.ref, volume);
    else await this.virsh("vol-create-as", this.pool, volume, `${s.diskMiB}M`, "--format", "raw");
    if (spec.image?.ref)
      await this.virsh("vol-resize", "--pool", this.pool, volume, `${s.diskMiB}M`).catch(() => "");
    const path = (await this.virsh("vol-path", "--pool", this.pool, volume)).trim();
    progress(`defining domain ${spec.name} (${s.cores} vCPU, ${formatMiB(s.memoryMiB)})`);
    const dir = await mkdtemp(join(tmpdir(), "lab-libvirt-"));
    try {
      await writeFile(
        join(dir, "domain.xml"),
        domainXml(spec.name, s, path, this.o.network ?? "user", spec.mac),
      );
      await this.virsh("define", join(dir, "domain.xml"));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    progress(`starting ${spec.name}`);
    await this.virsh("start", spec.name);
  }

  private async reconcile(spec: ResourceSpec, observed: ObservedResource, progress: Progress): Promise<void> {
    const diff = compare(this.effective(spec), observed, CAN);
    if (diff.differences.length === 0) {
      progress(`${spec.name} already matches its spec`);
      return;
    }
    const s = this.sizing(spec);
    let restart = false;
    for (const d of diff.differences) {
      if (d.field === "cores") {
        progress(`vCPUs ${d.observed} → ${s.cores}`);
        await this.virsh("setvcpus", spec.name, String(s.cores), "--config", "--maximum");
        await this.virsh("setvcpus", spec.name, String(s.cores), "--config");
        restart = true;
      } else if (d.field === "memory") {
        progress(`memory ${d.observed} → ${formatMiB(s.memoryMiB)}`);
        await this.virsh("setmaxmem", spec.name, `${s.memoryMiB}M`, "--config");
        await this.virsh("setmem", spec.name, `${s.memoryMiB}M`, "--config");
        restart = true;
      } else if (d.field === "disk" && d.kind === "changed") {
        const system = observed.disks[0];
        if (system?.sizeMiB && system.sizeMiB > s.diskMiB)
          throw new LabError(
            "LAB_E_PROVIDER_REFUSED",
            `${spec.name}: its disk is ${formatMiB(system.sizeMiB)} and the size asks ${formatMiB(s.diskMiB)}; libvirt volumes only grow (recreate it with lab destroy + lab apply)`,
          );
        progress(`system volume ${formatMiB(system?.sizeMiB ?? null)} → ${formatMiB(s.diskMiB)}`);
        await this.virsh("vol-resize", system?.source ?? "", `${s.diskMiB}M`);
      } else if (d.field === "extra_disk") {
        const name = (d.observed ?? "").split(" ")[0] ?? "";
        progress(`detaching unmanaged disk ${name}`);
        await this.virsh("detach-disk", spec.name, name, "--config").catch(() => "");
        restart = true;
      }
    }
    if (restart && observed.state === "running") {
      progress(`restarting ${spec.name} so the new definition takes effect`);
      await this.virsh("destroy", spec.name);
      await this.virsh("start", spec.name);
    }
  }

  async destroy(spec: ResourceSpec, progress: Progress = () => {}): Promise<void> {
    const observed = await this.get(spec);
    if (!observed) {
      progress(`domain ${spec.name} does not exist: nothing to destroy`);
      return;
    }
    if (observed.state === "running") {
      progress(`stopping ${spec.name}`);
      await this.virsh("destroy", spec.name);
    }
    progress(`removing domain ${spec.name} and its volumes`);
    await this.virsh("undefine", spec.name, "--remove-all-storage");
  }

  async list(filters: Filters = {}): Promise<ObservedResource[]> {
    const names = (await this.virsh("list", "--all", "--name"))
      .split("\n")
      .map((s) => s.trim())
      .filter(Boolean);
    const out: ObservedResource[] = [];
    for (const n of names) {
      if (filters.managed && !((await this.xml(n)) ?? "").includes(MARK)) continue;
      const o = await this.observe(n);
      if (o) out.push(o);
    }
    return out;
  }

  discover(): Promise<ObservedResource[]> {
    return this.list();
  }

  async sizes(): Promise<ProviderSize[]> {
    return catalogueSizes(
      this.o.sizes ?? {},
      this.name,
      (s) => `${s.cores ?? this.defaults.cores} vCPU / ${formatMiB(s.memoryMiB ?? this.defaults.memoryMiB)}`,
    );
  }

  /** Volumes in the pool: what `image:` may clone. */
  async images(): Promise<ProviderImage[]> {
    const rows = await this.virsh("vol-list", "--pool", this.pool);
    return rows
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      .filter((c) => c.length >= 2 && c[0])
      .map((c) => ({ name: c[0] as string, ref: c[1] as string, source: "provider" as const }));
  }
}

function kib(m: RegExpExecArray | null): number | null {
  if (!m) return null;
  const factor: Record<string, number> = {
    KiB: 1 / 1024,
    MiB: 1,
    GiB: 1024,
    b: 1 / 2 ** 20,
    bytes: 1 / 2 ** 20,
  };
  return Math.round(Number(m[2]) * (factor[m[1] ?? "KiB"] ?? 1 / 1024));
}

function diskTargets(xml: string): ObservedDisk[] {
  return [...xml.matchAll(/<disk\b[^>]*device='disk'[\s\S]*?<\/disk>/g)].map((m) => ({
    name: /<target dev='([^']+)'/.exec(m[0])?.[1] ?? "?",
    sizeMiB: null,
    ...(/<source (?:file|dev)='([^']+)'/.exec(m[0])?.[1]
      ? { source: /<source (?:file|dev)='([^']+)'/.exec(m[0])?.[1] }
      : {}),
  }));
}

function xmlEscape(s: string): string {
  return s.replace(/[<>&']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function domainXml(
  name: string,
  s: { cores: number; memoryMiB: number },
  volume: string,
  network: string,
  mac: string | null,
): string {
  const [type, source] = network.split(":");
  const nic =
    type === "user"
      ? "<interface type='user'>"
      : `<interface type='${type === "bridge" ? "bridge" : "network"}'><source ${type === "bridge" ? "bridge" : "network"}='${xmlEscape(source ?? "default")}'/>`;
  return `<domain type='qemu'>
  <name>${xmlEscape(name)}</name>
  <description>${MARK}</description>
  <memory unit='MiB'>${s.memoryMiB}</memory>
  <currentMemory unit='MiB'>${s.memoryMiB}</currentMemory>
  <vcpu>${s.cores}</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/><boot dev='network'/></os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${xmlEscape(volume)}'/><target dev='vda' bus='virtio'/></disk>
    ${nic}${mac ? `<mac address='${xmlEscape(mac)}'/>` : ""}<model type='virtio'/></interface>
    <serial type='pty'/>
    <video><model type='none'/></video>
  </devices>
</domain>
`;
}
