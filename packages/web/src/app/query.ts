/**
 * The fleet filter is the CLI's targeting language, parsed by @lab/core (the same parser as
 * the TUI's `/`); the dashboard adds only how the keyed part travels: the API's query
 * parameters, so the page selects exactly what `lab get servers -l …` selects.
 */
// The parser alone, not @lab/core's index: only this small module ships to the browser.
import type { FleetQuery } from "@lab/core/query";

export { type FilterKey, type FleetQuery, matchesText, parseQuery } from "@lab/core/query";

/** The API query string for the keyed part (`?label=a,b&environment=prod`), or "". */
export function apiQuery(q: FleetQuery): string {
  const parts: string[] = [];
  for (const [key, list] of Object.entries(q.filter)) {
    if (list.length) parts.push(`${key}=${encodeURIComponent(list.join(","))}`);
  }
  return parts.length ? `?${parts.join("&")}` : "";
}
