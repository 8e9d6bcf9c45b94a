/**
 * The fleet list in a compact, columnar shape for the dashboard (`GET /api/v1/fleet`).
 *
 * `GET /api/v1/servers` repeats every label, provider, environment and pillar reason on
 * every row: 6.3 MB of JSON for the 10k bench fleet, most of the fleet page's first paint
 * went into moving and parsing it. Here each distinct string and each distinct pillar value
 * is written once and rows refer to them by index, so the same rows cost about a tenth.
 * `decodeFleetTable(encodeFleetTable(rows))` gives back exactly `rows`.
 */
import type { PillarState, ServerRow } from "./views.js";

const PILLAR_KEYS = ["sync", "puppet", "health", "identity"] as const;

export interface FleetTable {
  /** The shape's version: a client refuses what it does not know. */
  v: 1;
  count: number;
  /** Every repeated string once: providers, environments, regions, sizes, labels, groups. */
  strings: string[];
  /** Every distinct pillar value once. */
  pillars: PillarState[];
  /** One entry per row, in the order of `GET /api/v1/servers`. */
  name: string[];
  host: (string | null)[];
  mac: (string | null)[];
  /** Indexes into `strings`; -1 for null. */
  provider: number[];
  environment: number[];
  region: number[];
  size: number[];
  labels: number[][];
  groups: number[][];
  /** Four indexes into `pillars` per row: sync, puppet, health, identity. */
  status: number[];
}

/** Interns values into a list, answering each value's index. */
class Interner<T> {
  readonly list: T[] = [];
  private readonly index = new Map<string, number>();
  constructor(private readonly key: (v: T) => string) {}
  add(value: T): number {
    const k = this.key(value);
    let i = this.index.get(k);
    if (i === undefined) {
      i = this.list.length;
      this.list.push(value);
      this.index.set(k, i);
    }
    return i;
  }
}

export function encodeFleetTable(rows: ServerRow[]): FleetTable {
  const strings = new Interner<string>((s) => s);
  const pillars = new Interner<PillarState>((p) => `${p.state}\u0000${p.text}\u0000${p.reason ?? "\u0001"}`);
  const str = (s: string | null) => (s === null ? -1 : strings.add(s));
  const t: FleetTable = {
    v: 1,
    count: rows.length,
    strings: strings.list,
    pillars: pillars.list,
    name: [],
    host: [],
    mac: [],
    provider: [],
    environment: [],
    region: [],
    size: [],
    labels: [],
    groups: [],
    status: [],
  };
  for (const r of rows) {
    t.name.push(r.name);
    t.host.push(r.host);
    t.mac.push(r.mac);
    t.provider.push(str(r.provider));
    t.environment.push(str(r.environment));
    t.region.push(str(r.region));
    t.size.push(str(r.size));
    t.labels.push(r.labels.map((l) => strings.add(l)));
    t.groups.push(r.groups.map((g) => strings.add(g)));
    for (const k of PILLAR_KEYS) t.status.push(pillars.add(r.status[k]));
  }
  return t;
}

/** Row `i` of a table, decoded alone: a page that shows 30 rows of 10,000 decodes 30. */
export function fleetRow(t: FleetTable, i: number): ServerRow {
  const s = t.strings;
  const at = (x: number) => (x < 0 ? null : (s[x] as string));
  const pillar = (x: number) => t.pillars[x] as PillarState;
  const p = i * 4;
  return {
    name: t.name[i] as string,
    provider: at(t.provider[i] as number) as string,
    labels: (t.labels[i] as number[]).map((x) => s[x] as string),
    environment: at(t.environment[i] as number),
    region: at(t.region[i] as number),
    size: at(t.size[i] as number),
    host: t.host[i] ?? null,
    mac: t.mac[i] ?? null,
    groups: (t.groups[i] as number[]).map((x) => s[x] as string),
    status: {
      sync: pillar(t.status[p] as number),
      puppet: pillar(t.status[p + 1] as number),
      health: pillar(t.status[p + 2] as number),
      identity: pillar(t.status[p + 3] as number),
    },
  };
}

/** Every row, as `GET /api/v1/servers` answers them. */
export function decodeFleetTable(t: FleetTable): ServerRow[] {
  if (t.v !== 1) throw new Error(`fleet table version ${String(t.v)} is not understood; reload the page`);
  const rows: ServerRow[] = new Array(t.count);
  for (let i = 0; i < t.count; i++) rows[i] = fleetRow(t, i);
  return rows;
}
