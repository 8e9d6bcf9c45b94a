/**
 * A deterministic synthetic fleet for the engine benchmark: 10,000 servers, 1,000 labels,
 * 300 groups nested four deep, 2,000 alerts, sizes, secrets and Puppet class definitions,
 * written as YAML files that `lab apply -f` accepts. Same seed, same bytes.
 *
 * The shapes follow a mid-sized company: services split into components (role labels that
 * carry Puppet classes, ports, sizes, alerts and secrets), platform labels (k8s, postgres, …),
 * team and policy tags, racks for bare metal; groups from leaf selectors up to divisions;
 * alerts aimed at labels, groups, environments, regions and single servers.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type {
  AlertSpec,
  ClassSpec,
  GroupSpec,
  LabelSpec,
  SecretSpec,
  SelectorSpec,
  ServerSpec,
  SizeSpec,
} from "@lab/core";
import { stringify } from "yaml";

export interface FleetShape {
  seed: number;
  servers: number;
  labels: number;
  groups: number;
  alerts: number;
}

export const DEFAULT_SHAPE: FleetShape = {
  seed: 20240611,
  servers: 10_000,
  labels: 1_000,
  groups: 300,
  alerts: 2_000,
};

export interface GeneratedFleet {
  shape: FleetShape;
  sizes: Record<string, SizeSpec>;
  secrets: Record<string, SecretSpec>;
  classes: Record<string, ClassSpec>;
  labels: Record<string, LabelSpec>;
  groups: Record<string, GroupSpec>;
  alerts: AlertSpec[];
  servers: Record<string, ServerSpec>;
  /** Group name → nesting level (1 = top). */
  groupLevel: Record<string, number>;
}

// ---------------------------------------------------------------------------------------------
// Seeded randomness (mulberry32): fast, 32-bit state, identical on every platform.

export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  }

  /** Picks by weight; `weights` is parallel to `items`. */
  weighted<T>(items: readonly T[], weights: readonly number[]): T {
    const total = weights.reduce((a, b) => a + b, 0);
    let r = this.next() * total;
    for (let i = 0; i < items.length; i++) {
      r -= weights[i] ?? 0;
      if (r < 0) return items[i] as T;
    }
    return items[items.length - 1] as T;
  }

  /** `k` distinct items, in the order drawn. */
  sample<T>(items: readonly T[], k: number): T[] {
    const n = Math.min(k, items.length);
    if (n * 8 < items.length) {
      // Few out of many: draw indices, skipping repeats (no copy of a 10,000-item list).
      const seen = new Set<number>();
      const out: T[] = [];
      while (out.length < n) {
        const j = Math.floor(this.next() * items.length);
        if (seen.has(j)) continue;
        seen.add(j);
        out.push(items[j] as T);
      }
      return out;
    }
    const copy = [...items];
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(this.next() * (copy.length - i));
      [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
    }
    return copy.slice(0, n);
  }
}

// ---------------------------------------------------------------------------------------------
// Vocabulary.

const words = (text: string): string[] => text.split(" ");

const ENVIRONMENTS = ["prod", "staging", "dev", "qa", "perf"] as const;
const ENV_WEIGHTS = [50, 20, 15, 10, 5];
const REGIONS = words("eu-west eu-central eu-north us-east us-west ap-south ap-northeast sa-east");
const REGION_WEIGHTS = [22, 18, 8, 20, 12, 8, 8, 4];
const PROVIDERS = ["aws", "xcpng", "baremetal", "hetzner", "proxmox", "gcp"];
const PROVIDER_WEIGHTS = [35, 15, 20, 12, 10, 8];

const SERVICES = words(
  "payments billing checkout cart catalog search auth identity sso accounts orders inventory " +
    "shipping pricing promotions reviews recommendations ads analytics reporting etl warehouse lake " +
    "ml-training ml-serving feature-store notifications email sms push chat support crm erp hr " +
    "payroll wiki docs cms media images video transcode cdn-origin uploads backup archive audit " +
    "compliance fraud risk ledger treasury fx tax invoicing subscriptions metering usage quota " +
    "gateway edge dns vpn bastion registry artifacts ci build deploy",
);

/** Component → (Puppet classes, ports, built-in alerts the role label attaches). */
const COMPONENTS: Record<string, { classes: string[]; ports: number[]; alerts: string[] }> = {
  api: { classes: ["nginx", "app::runtime"], ports: [443, 8080], alerts: ["nginx_process"] },
  web: { classes: ["nginx", "app::static"], ports: [80, 443], alerts: ["nginx_process"] },
  worker: { classes: ["app::runtime", "app::queue_consumer"], ports: [], alerts: [] },
  cron: { classes: ["app::runtime", "cron::jobs"], ports: [], alerts: [] },
  db: {
    classes: ["postgresql::server", "backup::pgbackrest"],
    ports: [5432],
    alerts: ["postgres_replication_lag", "postgres_connections"],
  },
  cache: { classes: ["redis::server"], ports: [6379], alerts: ["tcp_6379"] },
  queue: { classes: ["rabbitmq::server"], ports: [5672, 15672], alerts: ["tcp_5672"] },
  ingest: { classes: ["kafka::connect", "app::runtime"], ports: [8083], alerts: [] },
  index: { classes: ["elasticsearch::node"], ports: [9200, 9300], alerts: ["tcp_9200"] },
  proxy: { classes: ["haproxy", "keepalived"], ports: [80, 443, 8404], alerts: ["http_80"] },
  batch: { classes: ["app::runtime", "slurm::node"], ports: [], alerts: [] },
  stream: { classes: ["flink::taskmanager"], ports: [6121, 6122], alerts: [] },
};
const COMPONENT_NAMES = Object.keys(COMPONENTS);

const PLATFORMS: { name: string; classes: string[]; ports: number[]; size?: string; alerts: string[] }[] = [
  {
    name: "k8s-worker",
    classes: ["kubernetes::worker", "containerd"],
    ports: [10250],
    alerts: ["kubelet_healthy", "node_ready"],
  },
  {
    name: "k8s-server",
    classes: ["kubernetes::server", "containerd", "etcd"],
    ports: [6443, 2379],
    alerts: ["apiserver_healthy"],
  },
  {
    name: "postgres",
    classes: ["postgresql::server", "backup::pgbackrest"],
    ports: [5432],
    size: "mem-large",
    alerts: ["postgres_connections", "postgres_replication_lag"],
  },
  { name: "mysql", classes: ["mysql::server"], ports: [3306], alerts: ["tcp_3306"] },
  { name: "redis", classes: ["redis::server"], ports: [6379], alerts: ["tcp_6379"] },
  {
    name: "kafka",
    classes: ["kafka::broker", "zookeeper"],
    ports: [9092],
    size: "storage-large",
    alerts: ["tcp_9092"],
  },
  { name: "elasticsearch", classes: ["elasticsearch::node"], ports: [9200], alerts: ["tcp_9200"] },
  { name: "ceph-osd", classes: ["ceph::osd"], ports: [6800], size: "storage-large", alerts: ["tcp_6800"] },
  { name: "ceph-mon", classes: ["ceph::mon"], ports: [6789], alerts: ["tcp_6789"] },
  { name: "nginx", classes: ["nginx"], ports: [80, 443], alerts: ["nginx_process"] },
  { name: "haproxy", classes: ["haproxy"], ports: [80, 443], alerts: ["http_80"] },
  {
    name: "mailserver",
    classes: ["postfix", "dovecot", "spamassassin"],
    ports: [25, 587, 993],
    alerts: ["smtp_connect", "imap_connect", "mail_queue_length"],
  },
  {
    name: "cuda",
    classes: ["nvidia-drivers", "cuda-toolkit"],
    ports: [],
    size: "gpu-large",
    alerts: [],
  },
  { name: "rocm", classes: ["rocm"], ports: [], size: "gpu-medium", alerts: [] },
  { name: "docker-host", classes: ["docker"], ports: [2376], alerts: ["tcp_2376"] },
  { name: "jenkins-agent", classes: ["jenkins::agent", "docker"], ports: [], alerts: [] },
  { name: "gitlab-runner", classes: ["gitlab::runner", "docker"], ports: [], alerts: [] },
  {
    name: "prometheus",
    classes: ["prometheus::server"],
    ports: [9090],
    size: "storage-small",
    alerts: ["tcp_9090"],
  },
  { name: "loki", classes: ["loki"], ports: [3100], alerts: ["tcp_3100"] },
  { name: "vault", classes: ["vault::server"], ports: [8200], alerts: ["tcp_8200"] },
  { name: "consul", classes: ["consul::server"], ports: [8500, 8300], alerts: ["tcp_8500"] },
  {
    name: "nfs-server",
    classes: ["nfs::server"],
    ports: [2049],
    size: "storage-small",
    alerts: ["tcp_2049"],
  },
  { name: "minio", classes: ["minio"], ports: [9000], alerts: ["tcp_9000"] },
  { name: "bind", classes: ["bind::server"], ports: [53], alerts: ["tcp_53"] },
  { name: "ntp", classes: ["chrony::server"], ports: [123], alerts: ["tcp_123"] },
];

const TEAMS = words(
  "sre platform data ml payments growth core infra security netops dba frontend mobile search ads " +
    "finance it support storage observability",
);
const POLICY_TAGS = words(
  "pci gdpr sox hipaa iso27001 tier-1 tier-2 tier-3 experimental deprecated canary legacy " +
    "backup-daily backup-weekly no-backup patch-early patch-late spot reserved public-facing " +
    "internal-only dmz high-memory ipv6-only dual-stack",
);
const DATACENTRES = ["fra1", "ams2", "dub1", "iad1", "sjc1", "bom1", "nrt1", "gru1"];
/** Alert conditions on metrics Lab knows (`lab get metrics`): metric, comparison, threshold range. */
const CONDITIONS: [string, string, number, number][] = [
  ["cpu_usage_percent", ">", 70, 98],
  ["memory_usage_percent", ">", 70, 98],
  ["disk_usage_percent", ">", 70, 95],
  ["disk_iops_percent", ">", 60, 95],
  ["load1", ">", 4, 64],
  ["network_latency_ms", ">", 20, 500],
  ["gpu_temp_celsius", ">", 75, 95],
  ["postgres_replication_lag_seconds", ">", 10, 300],
  ["postgres_connections_percent", ">", 70, 95],
  ["mail_queue_length", ">", 50, 500],
  ["process_count", "<", 1, 1],
  ["cert_expiry_days", "<", 7, 30],
  ["config_run_failed", "==", 1, 1],
  ["up", "==", 0, 0],
  ["ping_ok", "==", 0, 0],
  ["tcp_connect", "==", 0, 0],
  ["http_ok", "==", 0, 0],
  ["https_ok", "==", 0, 0],
  ["kubelet_up", "==", 0, 0],
  ["k8s_node_ready", "==", 0, 0],
];

/** Puppet classes whose monitoring the model defines (`classes:`): class → built-in alerts. */
const CLASS_DEFS: Record<string, string[]> = {
  "redis::server": ["tcp_6379"],
  "rabbitmq::server": ["tcp_5672"],
  "elasticsearch::node": ["tcp_9200"],
  "kafka::broker": ["tcp_9092"],
  "kubernetes::worker": ["kubelet_healthy", "node_ready"],
  "kubernetes::server": ["apiserver_healthy"],
  "mysql::server": ["tcp_3306"],
  "vault::server": ["tcp_8200"],
  "consul::server": ["tcp_8500"],
  "bind::server": ["tcp_53"],
  "chrony::server": ["tcp_123"],
  "ceph::osd": ["tcp_6800"],
  "ceph::mon": ["tcp_6789"],
  "prometheus::server": ["tcp_9090"],
  haproxy: ["http_80"],
  docker: ["tcp_2376"],
  dovecot: ["imap_connect"],
};

const SIZES: [string, number, number, number][] = [
  // name, cores, memory GB, disk GB
  ["nano", 1, 1, 20],
  ["micro", 1, 2, 32],
  ["small", 2, 4, 64],
  ["medium", 4, 8, 128],
  ["large", 8, 32, 500],
  ["xlarge", 16, 64, 1000],
  ["2xlarge", 32, 128, 2000],
  ["4xlarge", 64, 256, 4000],
  ["mem-large", 16, 128, 1000],
  ["mem-xlarge", 32, 512, 2000],
  ["storage-small", 8, 32, 8000],
  ["storage-large", 16, 64, 48000],
  ["gpu-small", 8, 64, 1000],
  ["gpu-medium", 16, 128, 2000],
  ["gpu-large", 64, 512, 8000],
  ["edge", 2, 2, 32],
];

const SHORT_ENV: Record<string, string> = { prod: "p", staging: "s", dev: "d", qa: "q", perf: "f" };

// ---------------------------------------------------------------------------------------------

export function generateFleet(shape: FleetShape = DEFAULT_SHAPE): GeneratedFleet {
  const rng = new Rng(shape.seed);

  // Sizes, each mapped onto every provider's own terms.
  const sizes: Record<string, SizeSpec> = {};
  for (const [name, cores, memory, disk] of SIZES) {
    sizes[name] = {
      description: `${cores} cores, ${memory} GB`,
      abstract: {
        cores,
        memory: `${memory}GB`,
        disk: `${disk}GB`,
        ...(name.startsWith("gpu") ? { gpus: cores / 8 } : {}),
      },
      providers: {
        aws: { instance_type: `m6i.${name}` },
        gcp: { machine_type: `n2-standard-${cores}` },
        xcpng: { cores, memory: `${memory * 1024}MB` },
        proxmox: { cores, memory: memory * 1024 },
        hetzner: { server_type: `ccx${cores}` },
        baremetal: { min_cores: cores, min_memory: `${memory}GB`, maas_tag: name },
      },
    };
  }
  const sizeNames = Object.keys(sizes);

  // Secrets: per service, platform-wide TLS and join tokens; some excluded from dev.
  const secrets: Record<string, SecretSpec> = {};
  const serviceSecrets = new Map<string, string[]>();
  for (const service of SERVICES) {
    const own: string[] = [];
    const add = (path: string, spec: SecretSpec) => {
      secrets[path] = spec;
      own.push(path);
    };
    add(`${service}/db-password`, { type: "static", set_by: rng.pick(["admin", "dba", "ci"]) });
    add(`${service}/api-key`, {
      type: "static",
      set_by: "admin",
      description: `${service} upstream API key`,
    });
    add(`tls/${service}-cert`, { type: "dynamic", generator: "acme", rotate_every: "90d" });
    if (rng.chance(0.6)) {
      add(`${service}/signing-key`, {
        type: "dynamic",
        generator: "vault-transit",
        rotate_every: rng.pick(["7d", "30d", "90d"]),
        ...(rng.chance(0.5) ? { exclude: { environment: ["dev"] } } : {}),
      });
    }
    serviceSecrets.set(service, own);
  }
  for (const p of [
    "k8s/join-token",
    "tls/node-cert",
    "ssh/host-key",
    "monitoring/agent-token",
    "backup/repo-key",
  ]) {
    secrets[p] = {
      type: "dynamic",
      generator: p.split("/")[0] ?? "ca",
      rotate_every: "24h",
      per_machine: p !== "k8s/join-token",
      ...(p === "backup/repo-key" ? { exclude: { labels: ["no-backup"] } } : {}),
    };
  }
  const platformSecrets = [
    "k8s/join-token",
    "tls/node-cert",
    "ssh/host-key",
    "monitoring/agent-token",
    "backup/repo-key",
  ];

  // Labels: platform, team and policy tags first, then role labels (service-component), then
  // racks to fill up to the requested count.
  const labels: Record<string, LabelSpec> = {};
  for (const p of PLATFORMS) {
    labels[p.name] = {
      description: `platform: ${p.name}`,
      puppet_classes: [...p.classes, "node_exporter"],
      ...(p.ports.length ? { ports: [...p.ports] } : {}),
      ...(p.size ? { size: p.size } : {}),
      ...(p.alerts.length ? { alerts: [...p.alerts] } : {}),
      secrets: p.name.startsWith("k8s") ? ["k8s/join-token", "tls/node-cert"] : ["tls/node-cert"],
    };
  }
  for (const t of TEAMS) labels[`team-${t}`] = { description: `owned by the ${t} team` };
  for (const t of POLICY_TAGS) {
    labels[t] = t.startsWith("backup")
      ? { puppet_classes: ["backup::client"], secrets: ["backup/repo-key"] }
      : {};
  }
  const roleLabels: string[] = [];
  const rolesOfService = new Map<string, string[]>();
  const roleService = new Map<string, string>();
  const roleComponent = new Map<string, string>();
  const fixedCount = Object.keys(labels).length;
  const racks = DATACENTRES.length * 30;
  const roleTarget = shape.labels - fixedCount - racks;
  outer: for (let round = 0; ; round++) {
    for (const service of SERVICES) {
      for (const component of rng.sample(COMPONENT_NAMES, 3)) {
        if (roleLabels.length >= roleTarget) break outer;
        const name = round === 0 ? `${service}-${component}` : `${service}-${component}-${round + 1}`;
        if (labels[name]) continue;
        const c = COMPONENTS[component] ?? { classes: [], ports: [], alerts: [] };
        const own = serviceSecrets.get(service) ?? [];
        const spec: LabelSpec = {
          puppet_classes: [
            `profile::${service.replace(/-/g, "_")}::${component}`,
            ...c.classes,
            ...rng.sample(
              ["node_exporter", "base::hardening", "base::logging", "filebeat", "auditd"],
              rng.int(1, 3),
            ),
          ],
        };
        if (c.ports.length) spec.ports = [...c.ports];
        if (rng.chance(0.4)) spec.size = rng.pick(sizeNames.slice(1, 10));
        if (c.alerts.length) spec.alerts = [...c.alerts];
        const picked = rng.sample(own, rng.int(0, 3));
        if (rng.chance(0.3)) picked.push(rng.pick(platformSecrets));
        if (picked.length) spec.secrets = picked;
        labels[name] = spec;
        roleLabels.push(name);
        roleService.set(name, service);
        rolesOfService.set(service, [...(rolesOfService.get(service) ?? []), name]);
        roleComponent.set(name, component);
      }
    }
  }
  const rackLabels: string[] = [];
  for (const dc of DATACENTRES) {
    for (let r = 1; Object.keys(labels).length < shape.labels && r <= 30; r++) {
      const name = `rack-${dc}-${String(r).padStart(2, "0")}`;
      labels[name] = {};
      rackLabels.push(name);
    }
  }

  // Servers. Role popularity is skewed (a few roles run hundreds of servers, most run a few).
  const roleWeights = roleLabels.map((_, i) => 1 / ((i % 97) + 1) ** 0.8);
  const servers: Record<string, ServerSpec> = {};
  const serverNames: string[] = [];
  const serversByRole = new Map<string, string[]>();
  for (let i = 0; i < shape.servers; i++) {
    const role = rng.weighted(roleLabels, roleWeights);
    const service = roleService.get(role) ?? "misc";
    const component = roleComponent.get(role) ?? "app";
    const environment = rng.weighted(ENVIRONMENTS, ENV_WEIGHTS);
    const region = rng.weighted(REGIONS, REGION_WEIGHTS);
    const provider = rng.weighted(PROVIDERS, PROVIDER_WEIGHTS);
    const name = `${role}-${SHORT_ENV[environment]}${String(i).padStart(5, "0")}`;
    const ls: string[] = [role];
    if (rng.chance(0.25)) ls.push(rng.pick(rolesOfService.get(service) ?? [role]));
    if (component === "db") ls.push(rng.chance(0.8) ? "postgres" : "mysql");
    else if (component === "cache") ls.push("redis");
    else if (component === "index") ls.push("elasticsearch");
    else if (component === "api" || component === "worker") {
      if (rng.chance(0.5)) ls.push("k8s-worker");
    } else if (rng.chance(0.15)) ls.push(rng.pick(PLATFORMS).name);
    ls.push(`team-${rng.pick(TEAMS)}`);
    for (const t of rng.sample(POLICY_TAGS, rng.int(0, 3))) ls.push(t);
    if (provider === "baremetal") ls.push(rng.pick(rackLabels));
    const spec: ServerSpec = {
      provider,
      labels: [...new Set(ls)],
      environment,
      ...(rng.chance(0.97) ? { region } : {}),
      ...(rng.chance(0.25) ? { size: rng.pick(sizeNames) } : {}),
      host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    };
    if (provider === "baremetal") {
      spec.mac = `52:54:00:${[(i >> 16) & 255, (i >> 8) & 255, i & 255].map((b) => b.toString(16).padStart(2, "0")).join(":")}`;
    }
    if (rng.chance(0.3)) {
      spec.attributes = { owner: `${rng.pick(TEAMS)}@example.com`, cost_center: `cc-${rng.int(1000, 9999)}` };
    }
    if (rng.chance(0.1)) spec.description = `${service} ${component} (${environment}, ${region})`;
    servers[name] = spec;
    serverNames.push(name);
    const list = serversByRole.get(role);
    if (list) list.push(name);
    else serversByRole.set(role, [name]);
  }
  const usedRoles = roleLabels.filter((r) => serversByRole.has(r));

  // Groups, four levels: leaves select servers; each level above nests the one below and
  // excludes by server, label, environment or a deeper group. Edges only point downwards.
  const groupCounts = splitGroups(shape.groups);
  const groups: Record<string, GroupSpec> = {};
  const groupLevel: Record<string, number> = {};
  const levels: string[][] = [[], [], [], []];
  const addGroup = (level: number, base: string, spec: GroupSpec) => {
    let name = base;
    for (let n = 2; groups[name]; n++) name = `${base}-${n}`;
    groups[name] = spec;
    groupLevel[name] = level;
    levels[level - 1]?.push(name);
    return name;
  };
  const maybeExclude = (level: number, p: number): SelectorSpec | undefined => {
    if (!rng.chance(p)) return undefined;
    const kind = rng.weighted(["servers", "labels", "environment", "groups"], [3, 3, 2, level < 4 ? 2 : 0]);
    if (kind === "servers") return { servers: rng.sample(serverNames, rng.int(1, 3)) };
    if (kind === "labels")
      return {
        labels: rng.sample(["experimental", "deprecated", "canary", "legacy", "spot"], rng.int(1, 2)),
      };
    if (kind === "environment") return { environment: [rng.pick(["dev", "qa", "perf"])] };
    const deeper = levels.slice(level).flat();
    return { groups: rng.sample(deeper, 1) };
  };
  // Level 4 (leaves) are created first so the levels above can point at them.
  for (let i = 0; i < groupCounts[3]; i++) {
    const kind = rng.weighted(
      ["role-env", "platform-region", "env-region", "explicit", "service"],
      [35, 20, 15, 15, 15],
    );
    let spec: GroupSpec;
    let base: string;
    if (kind === "role-env") {
      const role = rng.pick(usedRoles);
      const env = rng.weighted(ENVIRONMENTS, ENV_WEIGHTS);
      spec = { match: { labels: [role], environment: [env] } };
      base = `${role}-${env}`;
    } else if (kind === "platform-region") {
      const p = rng.pick(PLATFORMS).name;
      const rs = rng.sample(REGIONS, rng.int(1, 2));
      spec = { match: { labels: [p], region: rs } };
      base = `${p}-${rs.join("-")}`;
    } else if (kind === "env-region") {
      const env = rng.weighted(ENVIRONMENTS, ENV_WEIGHTS);
      const r = rng.pick(REGIONS);
      spec = { match: { environment: [env], region: [r] } };
      base = `${env}-${r}`;
    } else if (kind === "explicit") {
      spec = { servers: rng.sample(serverNames, rng.int(5, 30)), description: "maintenance batch" };
      base = `batch-${i}`;
    } else {
      const service = rng.pick(SERVICES);
      const roles = usedRoles.filter((r) => roleService.get(r) === service);
      spec = { match: { labels: roles.length ? roles : [rng.pick(usedRoles)] } };
      base = `svc-${service}`;
      if (rng.chance(0.3)) spec.servers = rng.sample(serverNames, rng.int(1, 4));
    }
    const exclude = maybeExclude(4, 0.3);
    if (exclude) spec.exclude = exclude;
    addGroup(4, base, spec);
  }
  for (const level of [3, 2, 1]) {
    const below = levels[level] ?? [];
    const deeper = levels.slice(level).flat();
    const prefix = level === 3 ? "team" : level === 2 ? "dept" : "division";
    for (let i = 0; i < (groupCounts[level - 1] ?? 0); i++) {
      const subgroups = rng.sample(below, rng.int(2, level === 1 ? 5 : 4));
      const spec: GroupSpec = { groups: subgroups, description: `${prefix} ${i + 1}` };
      if (rng.chance(0.2)) {
        // A group that also selects on its own, sometimes through a deeper group.
        spec.match = rng.chance(0.5)
          ? { groups: rng.sample(deeper, 1), environment: ["prod"] }
          : { labels: rng.sample(usedRoles, rng.int(1, 3)), region: [rng.pick(REGIONS)] };
      }
      if (rng.chance(0.1)) spec.servers = rng.sample(serverNames, rng.int(1, 5));
      const exclude = maybeExclude(level, level === 1 ? 0.5 : 0.4);
      if (exclude) spec.exclude = exclude;
      const name = level === 3 ? `team-${rng.pick(TEAMS)}-${i}` : `${prefix}-${i + 1}`;
      addGroup(level, name, spec);
    }
  }
  const allGroups = levels.flat();

  // Alerts.
  const alerts: AlertSpec[] = [];
  for (let i = 0; i < shape.alerts; i++) {
    const kind = rng.weighted(
      ["labels", "labels-env", "groups", "groups-env", "environment", "region-labels", "servers", "region"],
      [32, 14, 18, 6, 4, 6, 17, 3],
    );
    let target: SelectorSpec;
    if (kind === "labels")
      target = {
        labels: pickLabels(
          rng,
          usedRoles,
          PLATFORMS.map((p) => p.name),
        ),
      };
    else if (kind === "labels-env")
      target = {
        labels: pickLabels(
          rng,
          usedRoles,
          PLATFORMS.map((p) => p.name),
        ),
        environment: rng.sample(["prod", "staging"], rng.int(1, 2)),
      };
    else if (kind === "groups") target = { groups: rng.sample(allGroups, rng.int(1, 2)) };
    else if (kind === "groups-env") target = { groups: rng.sample(allGroups, 1), environment: ["prod"] };
    else if (kind === "environment") target = { environment: [rng.weighted(ENVIRONMENTS, ENV_WEIGHTS)] };
    else if (kind === "region-labels")
      target = { labels: rng.sample(usedRoles, rng.int(1, 3)), region: rng.sample(REGIONS, 2) };
    else if (kind === "servers") target = { servers: rng.sample(serverNames, rng.int(1, 6)) };
    else target = { region: [rng.pick(REGIONS)] };
    const [metric, op, lo, hi] = rng.pick(CONDITIONS);
    const alert: AlertSpec = {
      name: `${metric.replace(/_(percent|ms|seconds|days|celsius)$/, "")}_${kind.replace("-", "_")}_${String(i).padStart(4, "0")}`,
      target,
      condition: `${metric} ${op} ${rng.int(lo, hi)}`,
      severity: rng.weighted(["info", "warning", "critical"] as const, [2, 5, 3]),
    };
    if (rng.chance(0.6)) alert.for = rng.pick(["1m", "5m", "10m", "15m", "30m", "1h"]);
    if (rng.chance(0.25)) {
      const ex = rng.weighted(["servers", "labels", "environment", "groups"], [4, 3, 2, 1]);
      alert.exclude =
        ex === "servers"
          ? { servers: rng.sample(serverNames, rng.int(1, 3)) }
          : ex === "labels"
            ? {
                labels: rng.sample(["experimental", "deprecated", "canary", "spot", "legacy"], rng.int(1, 2)),
              }
            : ex === "environment"
              ? { environment: [rng.pick(["dev", "qa"])] }
              : { groups: rng.sample(allGroups, 1) };
    }
    if (rng.chance(0.15)) alert.description = `${metric} ${op} threshold`;
    alerts.push(alert);
  }

  const classes: Record<string, ClassSpec> = {};
  for (const [name, attached] of Object.entries(CLASS_DEFS)) {
    classes[name] = { description: `monitoring for ${name}`, alerts: [...attached] };
  }

  return { shape, sizes, secrets, classes, labels, groups, alerts, servers, groupLevel };
}

function pickLabels(rng: Rng, roles: string[], platforms: string[]): string[] {
  return rng.chance(0.3) ? rng.sample(platforms, rng.int(1, 2)) : rng.sample(roles, rng.int(1, 3));
}

/** 300 → [12, 38, 90, 160]: about 4%, 13%, 30% and the rest at levels 1–4. */
function splitGroups(total: number): [number, number, number, number] {
  const l1 = Math.max(1, Math.round(total * 0.04));
  const l2 = Math.max(2, Math.round(total * 0.127));
  const l3 = Math.max(2, Math.round(total * 0.3));
  return [l1, l2, l3, Math.max(2, total - l1 - l2 - l3)];
}

// ---------------------------------------------------------------------------------------------

/** The YAML files, in the order `lab apply -f DIR` reads them (sorted by name). */
export function fleetFiles(fleet: GeneratedFleet, serversPerFile = 1000): { path: string; text: string }[] {
  const header = (what: string) =>
    `# ${what}: generated by bench/engine/generate.ts (seed ${fleet.shape.seed}); do not edit.\n`;
  const dump = (doc: unknown) => stringify(doc, { aliasDuplicateObjects: false, lineWidth: 0 });
  const files = [
    { path: "00-sizes.yaml", text: header("sizes") + dump({ sizes: fleet.sizes }) },
    { path: "01-secrets.yaml", text: header("secrets") + dump({ secrets: fleet.secrets }) },
    { path: "01-classes.yaml", text: header("classes") + dump({ classes: fleet.classes }) },
    { path: "02-labels.yaml", text: header("labels") + dump({ labels: fleet.labels }) },
    { path: "03-groups.yaml", text: header("groups") + dump({ groups: fleet.groups }) },
    { path: "04-alerts.yaml", text: header("alerts") + dump({ alerts: fleet.alerts }) },
  ];
  const names = Object.keys(fleet.servers);
  for (let i = 0, part = 0; i < names.length; i += serversPerFile, part++) {
    const chunk: Record<string, ServerSpec> = {};
    for (const n of names.slice(i, i + serversPerFile)) chunk[n] = fleet.servers[n] as ServerSpec;
    files.push({
      path: `servers/servers-${String(part).padStart(2, "0")}.yaml`,
      text: header(`servers ${i + 1}–${i + Object.keys(chunk).length}`) + dump({ servers: chunk }),
    });
  }
  return files;
}

/** Writes the fleet under `dir` (replacing what was there); returns the files written. */
export function writeFleet(dir: string, fleet: GeneratedFleet): { path: string; bytes: number }[] {
  rmSync(dir, { recursive: true, force: true });
  const out: { path: string; bytes: number }[] = [];
  for (const f of fleetFiles(fleet)) {
    const full = join(dir, f.path);
    mkdirSync(join(full, ".."), { recursive: true });
    writeFileSync(full, f.text);
    out.push({ path: full, bytes: Buffer.byteLength(f.text) });
  }
  return out;
}
