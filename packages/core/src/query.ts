/**
 * The fleet filter: the CLI's targeting language typed into one box (the dashboard's and the
 * TUI's `/`).
 *   label:k8s-worker  group:production  env:prod  region:eu-west  exclude:db-2 (or -db-2)
 * A repeated key (or a comma list) is any-of; different keys are all-of; words without a key
 * are free text matched against name, host and labels. The keyed part becomes the engine's
 * `ServerFilter`, so a filter selects exactly what `lab get servers -l …` selects.
 *
 * The dashboard imports it as `@lab/core/query` (type-only imports keep it browser-safe).
 */
import type { ServerFilter } from "./views.js";

export type FilterKey = "label" | "group" | "environment" | "region" | "exclude";

export interface FleetQuery {
  filter: Record<FilterKey, string[]>;
  text: string[];
}

const ALIASES: Record<string, FilterKey> = {
  label: "label",
  l: "label",
  group: "group",
  g: "group",
  environment: "environment",
  env: "environment",
  region: "region",
  exclude: "exclude",
  x: "exclude",
};

/** Splits the box's text into keyed filters and free-text words. */
export function parseQuery(input: string): FleetQuery {
  const filter: Record<FilterKey, string[]> = {
    label: [],
    group: [],
    environment: [],
    region: [],
    exclude: [],
  };
  const text: string[] = [];
  for (const word of input.trim().split(/\s+/).filter(Boolean)) {
    if (word.startsWith("-") && word.length > 1) {
      filter.exclude.push(...values(word.slice(1)));
      continue;
    }
    const colon = word.indexOf(":");
    const key = colon > 0 ? ALIASES[word.slice(0, colon).toLowerCase()] : undefined;
    if (key) filter[key].push(...values(word.slice(colon + 1)));
    else text.push(word.toLowerCase());
  }
  return { filter, text };
}

const values = (s: string) =>
  s
    .split(",")
    .map((v) => v.trim())
    .filter(Boolean);

/** The keyed part as the engine's filter (what `lab get servers -l … --group …` builds). */
export function queryFilter(q: FleetQuery): ServerFilter {
  const f: ServerFilter = {};
  if (q.filter.label.length) f.labels = q.filter.label;
  if (q.filter.group.length) f.groups = q.filter.group;
  if (q.filter.environment.length) f.environments = q.filter.environment;
  if (q.filter.region.length) f.regions = q.filter.region;
  if (q.filter.exclude.length) f.exclude = q.filter.exclude;
  return f;
}

/** Whether the query has a keyed part (which the engine must answer, not a text match). */
export function hasKeys(q: FleetQuery): boolean {
  return Object.values(q.filter).some((l) => l.length > 0);
}

/** Free-text match: every word must occur in the name, the host or one of the labels. */
export function matchesText(row: { name: string; host: string | null; labels: string[] }, words: string[]) {
  if (words.length === 0) return true;
  const hay = `${row.name} ${row.host ?? ""} ${row.labels.join(" ")}`.toLowerCase();
  return words.every((w) => hay.includes(w));
}
