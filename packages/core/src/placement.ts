/**
 * Where each (alert, server) pair is rendered: one backend, one file, decided by the model
 * alone, so rendering is deterministic, `lab show alert` can say where an alert went, and a
 * change to one label touches one rule file.
 *
 * A pair goes to the file of the first source that brought the alert to the server:
 * `label-<name>`, `group-<name>`, `environment-<name>`, `region-<name>`, `servers`, or
 * `auto-<size|port|class|identity>`.
 */
import { type AlertDefinition, alertDefinition, backendFor } from "./alert-defs.js";
import { type Backend, METRICS } from "./conditions.js";
import type { Fleet, Resolution, Source } from "./engine.js";
import type { Model } from "./model.js";

export interface Placement {
  alert: string;
  backend: Backend;
  /** File stem, e.g. `label-mailserver` (renderers add their extension and folder). */
  file: string;
  definition: AlertDefinition;
  servers: Resolution[];
}

export interface Unrenderable {
  alert: string;
  reason: string;
  servers: string[];
}

/** The file a backend's renderer writes a placement into. */
export function renderedPath(backend: Backend, file: string): string {
  return backend === "prometheus" ? `rules/${file}.yaml` : `services/${file}.cfg`;
}

export function fileFor(source: Source): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_.-]+/g, "_");
  if (source.kind === "auto") return `auto-${safe(source.name)}`;
  if (source.kind === "server") return "servers";
  return `${source.kind}-${safe(source.name)}`;
}

/**
 * Every renderable alert placement for the fleet, in a stable order (backend, file, alert),
 * plus the alerts that cannot be rendered and why.
 */
export function placeAlerts(fleet: Fleet): { placements: Placement[]; unrenderable: Unrenderable[] } {
  const placer = new Placer(fleet.model);
  for (const r of fleet.resolveAll()) for (const a of r.alerts) placer.add(r, a);
  return placer.result();
}

/** Where one alert goes, from the servers that get it (what `lab show alert` reports). */
export function placeAlert(
  model: Model,
  alert: string,
  members: { r: Resolution; entry: Resolution["alerts"][number] }[],
): Placement[] {
  const placer = new Placer(model);
  for (const { r, entry } of members) if (entry.name === alert) placer.add(r, entry);
  return placer.result().placements;
}

/** Collects (alert, server) pairs into placements: one per backend, file and alert. */
class Placer {
  private readonly byKey = new Map<string, Placement>();
  private readonly skipped = new Map<string, Unrenderable>();
  private readonly definitions = new Map<string, AlertDefinition | undefined>();

  constructor(private readonly model: Model) {}

  add(r: Resolution, a: Resolution["alerts"][number]): void {
    const model = this.model;
    if (!this.definitions.has(a.name)) this.definitions.set(a.name, alertDefinition(model, a.name));
    const def = this.definitions.get(a.name);
    const attachedBy = a.from.filter((f) => f.kind === "label").map((f) => f.name);
    const backend = def ? backendFor(model, def, attachedBy) : null;
    const checkable =
      backend === "prometheus" ||
      (backend === "naemon" && def?.condition && METRICS[def.condition.metric]?.naemon);
    if (!def?.condition || !backend || !checkable) {
      const why = !def
        ? "no condition: define it under alerts:"
        : !def.condition
          ? `its condition does not parse: ${def.conditionText}`
          : `Naemon has no check for ${def.condition.metric}: route it to prometheus`;
      const entry = this.skipped.get(a.name) ?? { alert: a.name, reason: why, servers: [] };
      entry.servers.push(r.name);
      this.skipped.set(a.name, entry);
      return;
    }
    const file = fileFor(a.from[0] as Source);
    const key = `${backend}\u0000${file}\u0000${a.name}`;
    const p = this.byKey.get(key) ?? { alert: a.name, backend, file, definition: def, servers: [] };
    p.servers.push(r);
    this.byKey.set(key, p);
  }

  result(): { placements: Placement[]; unrenderable: Unrenderable[] } {
    const placements = [...this.byKey.values()].sort(
      (a, b) =>
        a.backend.localeCompare(b.backend) || a.file.localeCompare(b.file) || a.alert.localeCompare(b.alert),
    );
    const unrenderable = [...this.skipped.values()].sort((a, b) => a.alert.localeCompare(b.alert));
    return { placements, unrenderable };
  }
}
