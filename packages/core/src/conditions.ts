/**
 * The alert condition vocabulary: `METRIC OP NUMBER`, e.g. `disk_usage_percent > 85`. Each
 * metric says what it measures, which exporter or plugin provides it, and which monitoring
 * backend handles it by default. Renderers turn a parsed condition into PromQL or a Naemon
 * check; an unknown metric is a located validation error.
 *
 * Routing (the design left it open): thresholds on host and service metrics go to
 * Prometheus, which scrapes every server's exporters; reachability checks (TCP connect,
 * HTTP(S), SMTP and IMAP banners, ping) go to Naemon, whose active checks need nothing on the
 * target. `backend:` on an alert, or `alert_backend:` on a label, overrides it.
 */

export type Backend = "prometheus" | "naemon";
export const BACKENDS: Backend[] = ["prometheus", "naemon"];

export type Comparison = ">" | ">=" | "<" | "<=" | "==" | "!=";

export interface Condition {
  metric: string;
  op: Comparison;
  value: number;
}

export interface MetricInfo {
  description: string;
  /** What provides it, for the docs and for "why is this unknown". */
  source: string;
  backend: Backend;
  /** PromQL for the metric, with `SEL` standing for the target selector's label matchers. */
  promql: string;
  /** For Naemon: the Lab command and its arguments (`$PORT` and the thresholds filled in). */
  naemon?: { command: string; args: (c: Condition) => string[] };
}

export const METRICS: Record<string, MetricInfo> = {
  up: {
    description: "1 when the node exporter answers",
    source: "Prometheus scrape",
    backend: "prometheus",
    promql: 'up{job="lab-node",SEL}',
  },
  cpu_usage_percent: {
    description: "CPU busy, all cores, 5-minute rate",
    source: "node_exporter",
    backend: "prometheus",
    promql: '100 * (1 - avg by (lab_server) (rate(node_cpu_seconds_total{mode="idle",SEL}[5m])))',
  },
  memory_usage_percent: {
    description: "memory in use (not available)",
    source: "node_exporter",
    backend: "prometheus",
    promql: "100 * (1 - node_memory_MemAvailable_bytes{SEL} / node_memory_MemTotal_bytes{SEL})",
  },
  disk_usage_percent: {
    description: "fullest real filesystem",
    source: "node_exporter",
    backend: "prometheus",
    promql:
      'max by (lab_server) (100 * (1 - node_filesystem_avail_bytes{fstype!~"tmpfs|overlay|squashfs",SEL} / node_filesystem_size_bytes{fstype!~"tmpfs|overlay|squashfs",SEL}))',
  },
  disk_iops_percent: {
    description: "busiest disk's utilisation",
    source: "node_exporter",
    backend: "prometheus",
    promql: "max by (lab_server) (100 * rate(node_disk_io_time_seconds_total{SEL}[5m]))",
  },
  load1: {
    description: "1-minute load average",
    source: "node_exporter",
    backend: "prometheus",
    promql: "node_load1{SEL}",
  },
  network_latency_ms: {
    description: "ICMP round trip from the monitoring host",
    source: "blackbox_exporter (icmp)",
    backend: "prometheus",
    promql: '1000 * probe_duration_seconds{job="lab-blackbox-icmp",SEL}',
    naemon: { command: "lab_check_ping", args: (c) => [`${c.value},20%`, `${c.value * 2},60%`] },
  },
  gpu_temp_celsius: {
    description: "hottest GPU",
    source: "dcgm-exporter",
    backend: "prometheus",
    promql: "max by (lab_server) (DCGM_FI_DEV_GPU_TEMP{SEL})",
  },
  mail_queue_length: {
    description: "messages in the Postfix queue",
    source: "postfix_exporter",
    backend: "prometheus",
    promql: "sum by (lab_server) (postfix_showq_message_age_seconds_count{SEL})",
  },
  postgres_replication_lag_seconds: {
    description: "replica lag behind the primary",
    source: "postgres_exporter",
    backend: "prometheus",
    promql: "max by (lab_server) (pg_replication_lag_seconds{SEL})",
  },
  postgres_connections_percent: {
    description: "connections in use of max_connections",
    source: "postgres_exporter",
    backend: "prometheus",
    promql:
      "100 * sum by (lab_server) (pg_stat_activity_count{SEL}) / max by (lab_server) (pg_settings_max_connections{SEL})",
  },
  process_count: {
    description: "processes of the service (per label `process`)",
    source: "process-exporter",
    backend: "prometheus",
    promql: "sum by (lab_server) (namedprocess_namegroup_num_procs{SEL})",
  },
  cert_expiry_days: {
    description: "days until the machine's Lab certificate expires",
    source: "lab server /metrics",
    backend: "prometheus",
    promql: "(lab_identity_cert_expiry_timestamp_seconds{SEL} - time()) / 86400",
  },
  cert_life_remaining_percent: {
    description: "share of the machine's certificate lifetime left (renewal is due at 33%)",
    source: "lab server /metrics",
    backend: "prometheus",
    promql:
      "100 * (lab_identity_cert_expiry_timestamp_seconds{SEL} - time()) / (lab_identity_cert_expiry_timestamp_seconds{SEL} - lab_identity_cert_renewed_timestamp_seconds{SEL})",
  },
  config_run_failed: {
    description: "1 when the last configuration (Puppet) run failed",
    source: "lab server /metrics (Puppet run reports)",
    backend: "prometheus",
    promql: "lab_puppet_last_run_failed{SEL}",
  },
  puppet_last_run_age_seconds: {
    description: "seconds since the last Puppet run Lab received started",
    source: "lab server /metrics (Puppet run reports)",
    backend: "prometheus",
    promql: "time() - lab_puppet_last_run_timestamp_seconds{SEL}",
  },
  kubelet_up: {
    description: "1 when the kubelet answers",
    source: "kubelet /metrics",
    backend: "prometheus",
    promql: 'up{job="kubelet",SEL}',
  },
  k8s_node_ready: {
    description: "1 when the Kubernetes node is Ready",
    source: "kube-state-metrics",
    backend: "prometheus",
    promql: 'kube_node_status_condition{condition="Ready",status="true",SEL}',
  },
  tcp_connect: {
    description: "1 when a TCP connection to the port succeeds",
    source: "Naemon check_tcp / blackbox tcp_connect",
    backend: "naemon",
    promql: 'probe_success{job="lab-blackbox-tcp",SEL}',
    naemon: { command: "lab_check_tcp", args: () => ["$PORT"] },
  },
  http_ok: {
    description: "1 when HTTP answers 2xx/3xx",
    source: "Naemon check_http / blackbox http_2xx",
    backend: "naemon",
    promql: 'probe_success{job="lab-blackbox-http",SEL}',
    naemon: { command: "lab_check_http", args: () => ["$PORT"] },
  },
  https_ok: {
    description: "1 when HTTPS answers 2xx/3xx",
    source: "Naemon check_http -S / blackbox http_2xx",
    backend: "naemon",
    promql: 'probe_success{job="lab-blackbox-https",SEL}',
    naemon: { command: "lab_check_https", args: () => ["$PORT"] },
  },
  smtp_banner: {
    description: "1 when the SMTP server greets",
    source: "Naemon check_smtp / blackbox smtp_banner",
    backend: "naemon",
    promql: 'probe_success{job="lab-blackbox-smtp",SEL}',
    naemon: { command: "lab_check_smtp", args: () => ["$PORT"] },
  },
  imap_banner: {
    description: "1 when the IMAP(S) server greets",
    source: "Naemon check_imap / blackbox imap_banner",
    backend: "naemon",
    promql: 'probe_success{job="lab-blackbox-imap",SEL}',
    naemon: { command: "lab_check_imaps", args: () => ["$PORT"] },
  },
  ping_ok: {
    description: "1 when the host answers ping",
    source: "Naemon check_ping / blackbox icmp",
    backend: "naemon",
    promql: 'probe_success{job="lab-blackbox-icmp",SEL}',
    naemon: { command: "lab_check_ping", args: () => ["3000.0,80%", "5000.0,100%"] },
  },
};

const CONDITION = /^\s*([a-z][a-z0-9_]*)\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)\s*%?\s*$/;

export type ConditionResult = { ok: true; condition: Condition } | { ok: false; message: string };

export function parseCondition(text: string): ConditionResult {
  const m = CONDITION.exec(text);
  if (!m) {
    return { ok: false, message: `"${text}" is not METRIC OP NUMBER (for example disk_usage_percent > 85)` };
  }
  const [, metric, op, value] = m as unknown as [string, string, Comparison, string];
  if (!METRICS[metric]) return { ok: false, message: `unknown metric "${metric}"` };
  return { ok: true, condition: { metric, op, value: Number(value) } };
}

export function formatCondition(c: Condition): string {
  return `${c.metric} ${c.op} ${c.value}`;
}

/** An alert Lab knows without a user definition: label-attached names and auto-generated ones. */
export interface BuiltinAlert {
  condition: string;
  severity: "info" | "warning" | "critical";
  for?: string;
  description: string;
}

/** Alerts a label may attach by name with no `alerts:` definition of its own. */
export const BUILTIN_ALERTS: Record<string, BuiltinAlert> = {
  smtp_connect: {
    condition: "smtp_banner == 0",
    severity: "critical",
    for: "2m",
    description: "SMTP does not greet",
  },
  imap_connect: {
    condition: "imap_banner == 0",
    severity: "critical",
    for: "2m",
    description: "IMAP does not greet",
  },
  mail_queue_length: {
    condition: "mail_queue_length > 100",
    severity: "warning",
    for: "10m",
    description: "mail is piling up in the queue",
  },
  kubelet_healthy: {
    condition: "kubelet_up == 0",
    severity: "critical",
    for: "5m",
    description: "kubelet is down",
  },
  node_ready: {
    condition: "k8s_node_ready == 0",
    severity: "critical",
    for: "5m",
    description: "node is not Ready",
  },
  apiserver_healthy: {
    condition: "tcp_connect == 0",
    severity: "critical",
    for: "2m",
    description: "the Kubernetes API does not accept connections",
  },
  postgres_replication_lag: {
    condition: "postgres_replication_lag_seconds > 30",
    severity: "warning",
    for: "5m",
    description: "a replica is behind",
  },
  postgres_connections: {
    condition: "postgres_connections_percent > 80",
    severity: "warning",
    for: "5m",
    description: "connections are running out",
  },
  // Auto-generated ones (see `autoAlerts`):
  cpu_threshold: {
    condition: "cpu_usage_percent > 90",
    severity: "warning",
    for: "15m",
    description: "CPU saturated",
  },
  memory_threshold: {
    condition: "memory_usage_percent > 90",
    severity: "warning",
    for: "10m",
    description: "memory nearly exhausted",
  },
  cert_expiry: {
    // Agents renew at 2/3 of a certificate's life (24 h by default): under a quarter left
    // means a renewal was missed. A fixed "days" threshold would fire for every 24 h cert.
    condition: "cert_life_remaining_percent < 25",
    severity: "warning",
    for: "1h",
    description: "the machine's certificate expires soon and did not renew",
  },
  puppet_run_failed: {
    // A report is a fact, not a sample: the run failed, and it stays failed until the next run
    // (30 min by default) says otherwise, so there is nothing to wait out.
    condition: "config_run_failed == 1",
    severity: "warning",
    description: "the last Puppet run failed",
  },
  postgres_process: {
    condition: "process_count < 1",
    severity: "critical",
    for: "2m",
    description: "postgres is not running",
  },
  nginx_process: {
    condition: "process_count < 1",
    severity: "critical",
    for: "2m",
    description: "nginx is not running",
  },
};

/** Puppet class → the alerts it brings. Users extend it with `classes:` in the model. */
export const CLASS_ALERTS: Record<string, string[]> = {
  "postgresql::server": ["postgres_process", "postgres_replication_lag"],
  nginx: ["nginx_process"],
  postfix: ["mail_queue_length"],
};

/** The service check a declared port gets, by port number (TCP connect otherwise). */
export function portCheck(port: number): { name: string; metric: string } {
  if (port === 80 || port === 8080) return { name: `http_${port}`, metric: "http_ok" };
  if (port === 443 || port === 8443) return { name: `https_${port}`, metric: "https_ok" };
  if (port === 25 || port === 587 || port === 465) return { name: `smtp_${port}`, metric: "smtp_banner" };
  if (port === 993 || port === 143) return { name: `imap_${port}`, metric: "imap_banner" };
  return { name: `tcp_${port}`, metric: "tcp_connect" };
}
