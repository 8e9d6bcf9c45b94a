/** The in-memory model: every object of every kind, by name, with where it was defined. */
import type { Location } from "./errors.js";
import { KINDS, type Kind, type SpecOf } from "./schema.js";

export interface Resource<K extends Kind = Kind> {
  kind: K;
  name: string;
  spec: SpecOf[K];
  /** Where the object was defined in the files it was applied from. */
  origin?: Location;
}

export type Model = { [K in Kind]: Map<string, Resource<K>> };

export function emptyModel(): Model {
  return {
    label: new Map(),
    group: new Map(),
    size: new Map(),
    alert: new Map(),
    secret: new Map(),
    server: new Map(),
    class: new Map(),
    image: new Map(),
    label_rule: new Map(),
    layout: new Map(),
    lab: new Map(),
    cluster: new Map(),
    price: new Map(),
  };
}

export function modelFromResources(resources: Iterable<Resource>): Model {
  const model = emptyModel();
  for (const r of resources) (model[r.kind] as Map<string, Resource>).set(r.name, r);
  return model;
}

export function* allResources(model: Model): Generator<Resource> {
  for (const kind of KINDS) yield* model[kind].values() as Iterable<Resource>;
}

/** JSON with object keys sorted, so equal specs compare equal as strings. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out;
  }
  return value;
}
