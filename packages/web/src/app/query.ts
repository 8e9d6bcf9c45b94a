/**
 * The fleet filter: the CLI's targeting language typed into one box.
 *   label:k8s-worker  group:production  env:prod  region:eu-west  exclude:db-2 (or -db-2)
 * A repeated key (or a comma list) is any-of; different keys are all-of; words without a key
 * are free text matched against name, host and labels. Keys go to the server as the API's
 * query parameters, so the dashboard selects exactly what `lab get servers -l …` selects.
 */

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

/** The API query string for the keyed part (`?label=a,b&environment=prod`), or "". */
export function apiQuery(q: FleetQuery): string {
  const parts: string[] = [];
  for (const [key, list] of Object.entries(q.filter)) {
    if (list.length) parts.push(`${key}=${encodeURIComponent(list.join(","))}`);
  }
  return parts.length ? `?${parts.join("&")}` : "";
}

/** Free-text match: every word must occur in the name, the host or one of the labels. */
export function matchesText(row: { name: string; host: string | null; labels: string[] }, words: string[]) {
  if (words.length === 0) return true;
  const hay = `${row.name} ${row.host ?? ""} ${row.labels.join(" ")}`.toLowerCase();
  return words.every((w) => hay.includes(w));
}
