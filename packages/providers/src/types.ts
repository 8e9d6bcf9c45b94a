/**
 * The provider seam, as the design draws it: every place a server can live (an existing
 * machine reached over SSH, bare metal booted from the network, a libvirt VM, an EC2 instance)
 * implements one narrow interface, and every implementation runs the one contract suite
 * (contract.ts) against its real peer — AWS against recorded responses, named so.
 */

/** What Lab wants a server to be, resolved from the model for one provider. */
export interface ResourceSpec {
  name: string;
  provider: string;
  labels: string[];
  /** The size's name (`sizes:`), or null when the server has none. */
  size: string | null;
  /** What the size asks of this provider (its `providers.<name>` block over `abstract`). */
  sizing: Sizing;
  /** The image's name and this provider's mapping of it (an AMI, a volume to clone, a PXE image). */
  image: { name: string; ref: string | null } | null;
  host: string | null;
  mac: string | null;
  /** Mount points the server should have besides the system's (`mounts:` in its spec). */
  mounts: string[];
  /** The server's own `attributes:` (provider options such as ssh_user). */
  attributes: Record<string, unknown>;
  /** `power:` as the model has it (bare metal). */
  power: Record<string, unknown> | null;
}

/** A size for one provider: the numbers Lab can compare, and the provider's own words. */
export interface Sizing {
  cores: number | null;
  memoryMiB: number | null;
  /** The first (system) disk; null when the size says nothing. */
  diskMiB: number | null;
  /** A cloud's instance type (t3.large), when the provider names sizes that way. */
  instanceType: string | null;
  /** Physical machines meet a size when they have at least this much (min_cores/min_memory). */
  atLeast: boolean;
}

export interface ObservedDisk {
  /** The provider's device name (vda, /dev/xvda, nvme0n1). */
  name: string;
  sizeMiB: number | null;
  /** Where it comes from (a volume, a file, an EBS id), for the diff's words. */
  source?: string;
}

export interface ObservedNic {
  name: string;
  mac: string | null;
  ipv4: string[];
}

/** What a provider reports a server is, read from the provider (never from Lab's own record). */
export interface ObservedResource {
  /** The provider's id for it (domain name, instance id, MAC, host). */
  id: string;
  name: string;
  provider: string;
  state: "running" | "stopped" | "pending" | "installing" | "unknown";
  cores: number | null;
  memoryMiB: number | null;
  instanceType: string | null;
  disks: ObservedDisk[];
  /** Mount points beyond the system's; null when the provider cannot see inside the machine. */
  mounts: string[] | null;
  network: ObservedNic[];
  /** The provider's own words about its state ("domain running", "INSTALL_QUEUE"). */
  detail: string;
}

/** One field where the spec and the provider disagree. */
export interface Difference {
  field: "cores" | "memory" | "instance_type" | "disk" | "extra_disk" | "mount" | "extra_mount" | "network";
  /** "changed": both have it, differently; "missing": the spec has it, the provider not; "extra": the reverse. */
  kind: "changed" | "missing" | "extra";
  spec: string | null;
  observed: string | null;
  /** Whether this provider can make it match (`lab sync`); otherwise why not. */
  reconcile: true | string;
}

export interface DiffResult {
  server: string;
  provider: string;
  /** null: the provider has no such resource. */
  observed: ObservedResource | null;
  differences: Difference[];
  /** What the provider could not observe, and why (mounts without a guest agent). */
  unobserved: string[];
}

/** One step of a plan, in the order it would run. */
export interface PlanStep {
  op: "create" | "change" | "destroy";
  what: string;
  /** `from → to` for a change. */
  from?: string;
  to?: string;
}

export interface PlanResult {
  server: string;
  provider: string;
  /**
   * "create": the resource is absent; "adopt": it exists and Lab takes it over, creating nothing
   * (an SSH host, a discovered machine); "sync": it exists and differs; "none": nothing to do.
   */
  action: "create" | "adopt" | "sync" | "destroy" | "none";
  steps: PlanStep[];
  /** Differences the plan cannot reconcile, and why (kept out of `steps`). */
  unreconcilable: Difference[];
  /** Extra words: a size mapped to nothing, a price unknown. */
  notes: string[];
}

/** A size as the provider offers it (`sizes:` mapped, or the provider's catalogue). */
export interface ProviderSize {
  name: string;
  sizing: Sizing;
  /** The provider's own words: "t3.large", "2 vCPU / 1024 MiB", "min 4 cores". */
  label: string;
}

export interface ProviderImage {
  name: string;
  /** What the provider uses: an AMI id, a volume path, a PXE image. */
  ref: string;
  source: "model" | "provider";
}

/** Progress lines while a provider works (`→ creating volume …`). */
export type Progress = (line: string) => void;

/** How far an apply goes before it returns. */
export interface ApplyOptions {
  /**
   * false: start the work and return without following it (bare metal: queued and booted into
   * PXE, the install not waited for — `lab onboard --no-wait`, which follows it itself).
   * Providers that finish within the call ignore it.
   */
  wait?: boolean;
}

export interface Filters {
  /** Only resources Lab created (tagged/named as Lab's). */
  managed?: boolean;
}

export interface Provider {
  readonly name: string;
  /** What an apply would do, without touching anything. */
  plan(spec: ResourceSpec): Promise<PlanResult>;
  /** Creates the resource, or reconciles it to the spec when it exists (`lab sync`). */
  apply(spec: ResourceSpec, progress?: Progress, options?: ApplyOptions): Promise<ObservedResource>;
  /** Removes the resource (a cloud instance terminated, a VM and its volumes deleted, a machine released). */
  destroy(spec: ResourceSpec, progress?: Progress): Promise<void>;
  get(spec: ResourceSpec): Promise<ObservedResource | null>;
  list(filters?: Filters): Promise<ObservedResource[]>;
  diff(spec: ResourceSpec): Promise<DiffResult>;
  /** Resources the provider holds that Lab may not know yet (an account's instances, a host's domains). */
  discover(): Promise<ObservedResource[]>;
  sizes(): Promise<ProviderSize[]>;
  images(): Promise<ProviderImage[]>;
}
