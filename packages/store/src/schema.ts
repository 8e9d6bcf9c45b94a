/** The tables, as Kysely sees them. JSON columns are text in both dialects. */
import type { Generated } from "kysely";

export interface ResourceTable {
  kind: string;
  name: string;
  spec: string;
  origin: string | null;
  updated_at: string;
  /** First-definition order, for listings. */
  position: number;
}

export interface EventTable {
  id: Generated<number>;
  time: string;
  actor: string;
  action: string;
  result: string;
  summary: string;
  changes: string;
  subjects: Generated<string>;
}

export interface TokenTable {
  id: string;
  name: string;
  hash: string;
  scopes: string;
  created_at: string;
  created_by: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface MetaTable {
  key: string;
  value: number;
}

export interface HealthTable {
  source: string;
  server: string;
  state: string;
  summary: string;
  findings: string;
  updated_at: string;
}

export interface PuppetRunTable {
  server: string;
  certname: string;
  time: string;
  status: string;
  run: string;
  received_at: string;
}

export interface MachineTable {
  mac: string;
  /** The bastion that serves it; null for this server's own boot services. */
  bastion: string | null;
  name: string | null;
  state: string;
  reason: string | null;
  image: string | null;
  hardware: string | null;
  token_hash: string | null;
  debug: number;
  preserve: string;
  ip: string | null;
  stage: string | null;
  created_at: string;
  updated_at: string;
}

/** Remote boot sites reporting to this control plane (`lab get bastions`). */
export interface BastionTable {
  name: string;
  acked_seq: number | string;
  boot_url: string | null;
  version: string | null;
  address: string | null;
  first_seen_at: string;
  last_seen_at: string;
}

export interface BootEventTable {
  id: Generated<number>;
  mac: string;
  time: string;
  kind: string;
  type: string;
  detail: string;
}

/** One-time join tokens (hash only; single use). */
export interface JoinTokenTable {
  hash: string;
  name: string;
  created_at: string;
  created_by: string;
  expires_at: string;
  consumed_at: string | null;
}

/** Enrolled agents, one per machine name. JSON columns: addresses, host_keys, facts, status. */
export interface AgentTable {
  name: string;
  spki_sha256: string;
  cert_serial: string;
  cert_not_before: string;
  cert_not_after: string;
  enrolled_at: string;
  renewed_at: string | null;
  renew_requested_at: string | null;
  revoked_at: string | null;
  revoked_by: string | null;
  last_seen_at: string | null;
  version: string | null;
  ipv4: string | null;
  addresses: string;
  dns_ipv4: string | null;
  dns_ptr: string | null;
  dns_state: string | null;
  dns_error: string | null;
  dns_updated_at: string | null;
  host_keys: string;
  facts: string;
  status: string | null;
}

/** Every client certificate issued to an agent (the CRL is made from the revoked ones). */
export interface AgentCertTable {
  serial: string;
  name: string;
  spki_sha256: string;
  not_before: string;
  not_after: string;
  issued_at: string;
  revoked_at: string | null;
  reason: string | null;
}

export interface Database {
  resources: ResourceTable;
  events: EventTable;
  meta: MetaTable;
  tokens: TokenTable;
  health: HealthTable;
  machines: MachineTable;
  bastions: BastionTable;
  boot_events: BootEventTable;
  join_tokens: JoinTokenTable;
  agents: AgentTable;
  agent_certs: AgentCertTable;
  log_blocks: LogBlockTable;
  lab_runs: LabRunTable;
  lab_run_steps: LabRunStepTable;
  puppet_runs: PuppetRunTable;
  sync_observations: SyncObservationTable;
}

/** A server's last comparison with its provider (see SyncObservation in @lab/core). */
export interface SyncObservationTable {
  server: string;
  provider: string;
  observed_at: string;
  state: string;
  observation: string;
}

/** One `lab run` (see @lab/runs). */
export interface LabRunTable {
  id: string;
  lab: string;
  /** Runs of one reliability series share it. */
  series: string | null;
  iteration: number;
  /** running, ok, failed, timeout, stopped. */
  status: string;
  actor: string;
  started_at: string;
  ended_at: string | null;
  duration_ms: number | null;
  error: string | null;
}

/** One step on one machine ("-" for a step of the whole lab). */
export interface LabRunStepTable {
  run_id: string;
  idx: number;
  machine: string;
  name: string;
  action: string;
  status: string;
  started_at: string;
  ended_at: string | null;
  duration_ms: number | null;
  detail: string;
}

/** The log pipeline's retention window (see log-repo.ts): one row per appended batch. */
export interface LogBlockTable {
  first_seq: number;
  last_seq: number;
  count: number;
  min_time_ms: number;
  max_time_ms: number;
  /** JSON: counts per level, source and node of the events in the block. */
  stats: string;
  /** JSON: the events, seq ascending. */
  body: string;
}

export type Dialect = "sqlite" | "postgres";
