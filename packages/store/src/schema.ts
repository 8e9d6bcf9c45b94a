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

export interface MachineTable {
  mac: string;
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

export interface BootEventTable {
  id: Generated<number>;
  mac: string;
  time: string;
  kind: string;
  type: string;
  detail: string;
}

export interface Database {
  resources: ResourceTable;
  events: EventTable;
  meta: MetaTable;
  tokens: TokenTable;
  health: HealthTable;
  machines: MachineTable;
  boot_events: BootEventTable;
}

export type Dialect = "sqlite" | "postgres";
