/**
 * A deterministic fleet for the API benchmark (default 1,000 servers): service-component
 * role labels that carry Puppet classes, ports, sizes, alerts and secrets; platform labels;
 * team and policy tags; groups by selector, by nesting and by explicit membership; alerts
 * aimed at labels, groups, environments, regions and single servers. Written as YAML files
 * that `lab apply -f DIR` accepts. Same seed, same bytes.
 *
 *   node bench/api/generate.mjs OUTDIR [SERVERS]
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";

/** mulberry32: small, fast, identical everywhere. */
function rng(seed) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1));
  const pick = (xs) => xs[Math.floor(next() * xs.length)];
  const weighted = (xs, ws) => {
    let r = next() * ws.reduce((a, b) => a + b, 0);
    for (let i = 0; i < xs.length; i++) {
      r -= ws[i];
      if (r < 0) return xs[i];
    }
    return xs[xs.length - 1];
  };
  const sample = (xs, k) => {
    const copy = [...xs];
    const n = Math.min(k, copy.length);
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(next() * (copy.length - i));
      [copy[i], copy[j]] = [copy[j], copy[i]];
    }
    return copy.slice(0, n);
  };
  return { next, int, pick, weighted, sample, chance: (p) => next() < p };
}

const ENVS = ["prod", "staging", "dev", "qa"];
const ENV_W = [55, 20, 15, 10];
const REGIONS = ["eu-west", "eu-central", "us-east", "us-west", "ap-south"];
const REGION_W = [30, 20, 25, 15, 10];
const PROVIDERS = ["aws", "xcpng", "baremetal", "hetzner", "proxmox"];
const PROVIDER_W = [40, 15, 20, 15, 10];
const SERVICES = (
  "payments billing checkout cart catalog search auth identity orders inventory shipping pricing " +
  "reviews analytics reporting etl ml-serving notifications email chat crm wiki media backup " +
  "ledger fraud gateway dns vpn registry ci deploy"
).split(" ");
const COMPONENTS = {
  api: { classes: ["nginx", "app::runtime"], ports: [443, 8080], alerts: ["http_5xx_rate", "latency_p99"] },
  web: { classes: ["nginx", "app::static"], ports: [80, 443], alerts: ["http_5xx_rate"] },
  worker: { classes: ["app::runtime", "app::queue_consumer"], ports: [], alerts: ["queue_lag"] },
  db: { classes: ["postgresql::server", "backup::pgbackrest"], ports: [5432], alerts: ["replication_lag"] },
  cache: { classes: ["redis::server"], ports: [6379], alerts: ["evictions", "memory_usage"] },
  queue: { classes: ["rabbitmq::server"], ports: [5672, 15672], alerts: ["queue_depth"] },
};
const PLATFORMS = {
  "k8s-worker": {
    classes: ["kubernetes::worker", "containerd"],
    ports: [10250],
    alerts: ["kubelet_healthy"],
  },
  "k8s-server": {
    classes: ["kubernetes::server", "etcd"],
    ports: [6443, 2379],
    alerts: ["apiserver_healthy"],
  },
  postgres: {
    classes: ["postgresql::server"],
    ports: [5432],
    alerts: ["postgres_connections"],
    size: "large",
  },
  redis: { classes: ["redis::server"], ports: [6379], alerts: ["redis_memory"] },
  kafka: { classes: ["kafka::broker", "zookeeper"], ports: [9092], alerts: ["kafka_isr"], size: "storage" },
  nginx: { classes: ["nginx"], ports: [80, 443], alerts: ["nginx_up"] },
  haproxy: { classes: ["haproxy", "keepalived"], ports: [80, 443, 8404], alerts: ["haproxy_backend"] },
  mailserver: { classes: ["postfix", "dovecot"], ports: [25, 587, 993], alerts: ["smtp_connect"] },
};
const TEAMS = ["team-core", "team-data", "team-web", "team-sre", "team-dba", "team-ml", "team-sec"];
const POLICIES = ["pci", "iso27001", "public-facing", "dual-stack", "high-memory", "experimental"];
/** Metrics Lab's alert conditions know (packages/core/src/conditions.ts). */
const METRICS = [
  "disk_usage_percent",
  "cpu_usage_percent",
  "memory_usage_percent",
  "disk_iops_percent",
  "network_latency_ms",
  "process_count",
];

export function generateFleet(serverCount = 1000, seed = 20251123) {
  const r = rng(seed);
  const sizes = {
    small: { abstract: { cores: 2, memory: "4GB" }, providers: { aws: { instance_type: "t3.medium" } } },
    medium: { abstract: { cores: 4, memory: "8GB" }, providers: { aws: { instance_type: "t3.large" } } },
    large: {
      abstract: { cores: 8, memory: "32GB", disk: "500GB" },
      providers: { aws: { instance_type: "m6i.2xlarge" }, baremetal: { min_cores: 8 } },
    },
    storage: {
      abstract: { cores: 8, memory: "64GB", disk: "8TB" },
      providers: { aws: { instance_type: "i4i.2xlarge" } },
    },
  };
  const secrets = {
    "tls/node-cert": { type: "dynamic", generator: "ca", per_machine: true, rotate_every: "30d" },
    "k8s/join-token": { type: "dynamic", generator: "kubernetes", rotate_every: "24h" },
    "db/master-password": { type: "static", set_by: "admin" },
    "app/api-key": { type: "static", set_by: "admin" },
  };
  const labels = {};
  for (const [name, p] of Object.entries(PLATFORMS)) {
    labels[name] = {
      description: `platform: ${name}`,
      puppet_classes: [...p.classes, "node_exporter"],
      ports: p.ports,
      ...(p.size ? { size: p.size } : {}),
      alerts: p.alerts,
      secrets: name.startsWith("k8s") ? ["k8s/join-token", "tls/node-cert"] : ["tls/node-cert"],
    };
  }
  const roles = [];
  for (const svc of SERVICES) {
    for (const comp of r.sample(Object.keys(COMPONENTS), r.int(2, 4))) {
      const c = COMPONENTS[comp];
      const name = `${svc}-${comp}`;
      roles.push({ name, svc, comp });
      labels[name] = {
        description: `${svc} ${comp}`,
        puppet_classes: [...c.classes, `${svc.replace(/-/g, "_")}::${comp}`],
        ...(c.ports.length ? { ports: c.ports } : {}),
        size: comp === "db" ? "large" : r.pick(["small", "medium"]),
        alerts: c.alerts,
        secrets: comp === "db" ? ["db/master-password", "tls/node-cert"] : ["app/api-key"],
      };
    }
  }
  for (const t of TEAMS) labels[t] = { description: `owned by ${t.slice(5)}` };
  for (const p of POLICIES)
    labels[p] = p === "pci" ? { puppet_classes: ["base::pci_hardening", "auditd"] } : {};
  for (const region of REGIONS)
    labels[`site-${region}`] = { puppet_classes: [`base::ntp_${region.replace(/-/g, "_")}`] };

  const servers = {};
  const names = [];
  for (let i = 0; i < serverCount; i++) {
    const role = r.pick(roles);
    const env = r.weighted(ENVS, ENV_W);
    const region = r.weighted(REGIONS, REGION_W);
    const provider = r.weighted(PROVIDERS, PROVIDER_W);
    const name = `${role.name}-${env[0]}${String(i).padStart(4, "0")}`;
    const platform =
      role.comp === "db"
        ? "postgres"
        : role.comp === "cache"
          ? "redis"
          : r.pick(["k8s-worker", "nginx", "haproxy"]);
    const ls = [role.name, platform, r.pick(TEAMS), `site-${region}`, ...r.sample(POLICIES, r.int(0, 2))];
    servers[name] = {
      provider,
      labels: ls,
      environment: env,
      region,
      ...(r.chance(0.2) ? { size: r.pick(Object.keys(sizes)) } : {}),
      host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      ...(provider === "baremetal"
        ? {
            mac: `52:54:00:00:${((i >> 8) & 255).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`,
          }
        : {}),
      ...(r.chance(0.3) ? { description: `${role.svc} ${role.comp} (${env}, ${region})` } : {}),
    };
    names.push(name);
  }

  const groups = {};
  for (const env of ENVS) groups[`env-${env}`] = { match: { environment: env } };
  for (const region of REGIONS) {
    groups[`${region}-prod`] = { match: { environment: "prod", region } };
    groups[`${region}-k8s`] = {
      match: { labels: ["k8s-worker", "k8s-server"], region },
      exclude: { labels: ["experimental"] },
    };
  }
  for (const svc of SERVICES) {
    groups[`svc-${svc}`] = { match: { labels: roles.filter((x) => x.svc === svc).map((x) => x.name) } };
  }
  groups.databases = { match: { labels: ["postgres"] }, exclude: { environment: "dev" } };
  groups.europe = { groups: ["eu-west-prod", "eu-central-prod"], exclude: { labels: ["experimental"] } };
  groups.americas = { groups: ["us-east-prod", "us-west-prod"] };
  groups.production = { groups: ["europe", "americas", "ap-south-prod"] };
  groups.canaries = { servers: r.sample(names, 40) };
  groups["critical-path"] = { groups: ["svc-payments", "svc-checkout", "svc-auth", "canaries"] };

  const alerts = [];
  const groupNames = Object.keys(groups);
  const labelNames = Object.keys(labels);
  for (let i = 0; i < 150; i++) {
    const metric = r.pick(METRICS);
    const kind = r.weighted(["labels", "groups", "environment", "region", "servers"], [40, 30, 10, 10, 10]);
    const target =
      kind === "labels"
        ? { labels: r.sample(labelNames, r.int(1, 3)) }
        : kind === "groups"
          ? { groups: r.sample(groupNames, r.int(1, 2)) }
          : kind === "environment"
            ? { environment: r.pick(ENVS) }
            : kind === "region"
              ? { region: r.pick(REGIONS) }
              : { servers: r.sample(names, r.int(1, 5)) };
    alerts.push({
      name: `${metric}_${kind}_${String(i).padStart(3, "0")}`,
      target,
      ...(r.chance(0.2) ? { exclude: { environment: "dev" } } : {}),
      condition: `${metric} > ${r.int(50, 95)}`,
      severity: r.weighted(["info", "warning", "critical"], [10, 60, 30]),
      ...(r.chance(0.5) ? { for: r.pick(["1m", "5m", "15m"]) } : {}),
    });
  }
  return { sizes, secrets, labels, groups, alerts, servers, names };
}

export function writeFleet(dir, fleet) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "servers"), { recursive: true });
  const head = "# generated by bench/api/generate.mjs; do not edit.\n";
  const put = (file, doc) => writeFileSync(join(dir, file), head + stringify(doc, { lineWidth: 0 }));
  put("00-sizes.yaml", { sizes: fleet.sizes });
  put("01-secrets.yaml", { secrets: fleet.secrets });
  put("02-labels.yaml", { labels: fleet.labels });
  put("03-groups.yaml", { groups: fleet.groups });
  put("04-alerts.yaml", { alerts: fleet.alerts });
  const entries = Object.entries(fleet.servers);
  for (let i = 0; i < entries.length; i += 250) {
    put(`servers/servers-${String(i / 250).padStart(2, "0")}.yaml`, {
      servers: Object.fromEntries(entries.slice(i, i + 250)),
    });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) throw new Error("usage: generate.mjs OUTDIR [SERVERS]");
  const fleet = generateFleet(Number(process.argv[3] ?? 1000));
  writeFleet(dir, fleet);
  console.log(
    `${fleet.names.length} servers, ${Object.keys(fleet.labels).length} labels, ${Object.keys(fleet.groups).length} groups, ${fleet.alerts.length} alerts → ${dir}`,
  );
}
