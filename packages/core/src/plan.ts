/** What an apply would change: desired objects compared with stored ones, field by field. */
import { allResources, canonicalJson, type Model, modelFromResources, type Resource } from "./model.js";
import { KINDS } from "./schema.js";

export interface Change {
  op: "create" | "update" | "delete";
  kind: Resource["kind"];
  name: string;
  /** The new object (create, update). */
  resource?: Resource;
  /** Top-level fields that differ (update). */
  fields?: string[];
}

export interface Plan {
  changes: Change[];
  unchanged: number;
  /** The model as it will be after the apply: stored objects overlaid with the files'. */
  result: Model;
}

export function planApply(current: Model, desired: Model, opts: { prune?: boolean } = {}): Plan {
  const changes: Change[] = [];
  let unchanged = 0;
  const result: Resource[] = [];
  for (const kind of KINDS) {
    const before = current[kind] as Map<string, Resource>;
    const after = desired[kind] as Map<string, Resource>;
    for (const [name, resource] of after) {
      const old = before.get(name);
      result.push(resource);
      if (!old) changes.push({ op: "create", kind, name, resource });
      else {
        const fields = changedFields(old.spec, resource.spec);
        if (fields.length) changes.push({ op: "update", kind, name, resource, fields });
        else unchanged++;
      }
    }
    for (const [name, old] of before) {
      if (after.has(name)) continue;
      if (opts.prune) changes.push({ op: "delete", kind, name });
      else result.push(old);
    }
  }
  return { changes, unchanged, result: modelFromResources(result) };
}

/** The model after deleting one object. */
export function withoutResource(model: Model, kind: Resource["kind"], name: string): Model {
  return modelFromResources([...allResources(model)].filter((r) => !(r.kind === kind && r.name === name)));
}

function changedFields(a: object, b: object): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  const get = (o: object, k: string) => canonicalJson((o as Record<string, unknown>)[k] ?? null);
  return [...keys].filter((k) => get(a, k) !== get(b, k)).sort();
}
