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
}

export interface MetaTable {
  key: string;
  value: number;
}

export interface Database {
  resources: ResourceTable;
  events: EventTable;
  meta: MetaTable;
}

export type Dialect = "sqlite" | "postgres";
