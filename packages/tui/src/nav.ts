/**
 * Where the user is: a stack of locations (the breadcrumb). Drilling pushes, Esc pops, and
 * the `:` palette starts a new trail at a list. Each entry keeps its own cursor and filter,
 * so walking back lands where the user left.
 */

export const LISTS = [
  "servers",
  "machines",
  "labels",
  "groups",
  "alerts",
  "secrets",
  "events",
  "logs",
] as const;
export type ListName = (typeof LISTS)[number];
export const DETAILS = ["server", "machine", "label", "group", "alert", "secret", "event"] as const;
export type DetailName = (typeof DETAILS)[number];

export type Location = { list: ListName; node?: string } | { detail: DetailName; name: string };

export interface Entry {
  loc: Location;
  cursor: number;
  /** The `/` filter in force (lists only). */
  query: string;
}

export type Stack = readonly Entry[];

export const initialStack = (loc: Location = { list: "servers" }): Stack => [{ loc, cursor: 0, query: "" }];

export const top = (s: Stack): Entry => s[s.length - 1] as Entry;

export function push(s: Stack, loc: Location): Stack {
  return [...s, { loc, cursor: 0, query: "" }];
}

/** Esc: one step back; the root stays. */
export function pop(s: Stack): Stack {
  return s.length > 1 ? s.slice(0, -1) : s;
}

export function updateTop(s: Stack, change: Partial<Entry>): Stack {
  return [...s.slice(0, -1), { ...top(s), ...change }];
}

const TITLES: Record<ListName, string> = {
  servers: "Servers",
  machines: "Machines",
  labels: "Labels",
  groups: "Groups",
  alerts: "Alerts",
  secrets: "Secrets",
  events: "Events",
  logs: "Logs",
};

export function title(loc: Location): string {
  if ("list" in loc) return loc.node ? `${TITLES[loc.list]} (${loc.node})` : TITLES[loc.list];
  return `${loc.detail} ${loc.name}`;
}

/** `Servers > worker-5 > label k8s-worker`, shortened from the left to fit. */
export function breadcrumb(s: Stack, width: number): string {
  const parts = s.map((e) => ("detail" in e.loc && e.loc.detail === "server" ? e.loc.name : title(e.loc)));
  let text = parts.join(" > ");
  let dropped = 0;
  while (text.length > width && dropped < parts.length - 1) {
    dropped++;
    text = `… > ${parts.slice(dropped).join(" > ")}`;
  }
  return text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text;
}

export interface PaletteResult {
  loc?: Location;
  quit?: boolean;
  error?: string;
}

const ALIASES: Record<string, ListName> = {
  server: "servers",
  srv: "servers",
  s: "servers",
  machine: "machines",
  m: "machines",
  provision: "machines",
  label: "labels",
  l: "labels",
  group: "groups",
  g: "groups",
  alert: "alerts",
  a: "alerts",
  secret: "secrets",
  event: "events",
  e: "events",
  log: "logs",
};

/** `:servers`, `:labels`, `:server worker-5` (straight to one), `:q`. */
export function palette(input: string): PaletteResult {
  const [word = "", ...rest] = input.trim().replace(/^:/, "").split(/\s+/);
  const w = word.toLowerCase();
  if (w === "q" || w === "quit" || w === "q!") return { quit: true };
  const list = (LISTS as readonly string[]).includes(w) ? (w as ListName) : ALIASES[w];
  if (!list) {
    return { error: `unknown view ":${word}": try ${LISTS.map((l) => `:${l}`).join(" ")}` };
  }
  const name = rest.join(" ");
  if (name && list !== "logs" && list !== "events") {
    return { loc: { detail: list.replace(/s$/, "") as DetailName, name } };
  }
  if (name && list === "logs") return { loc: { list, node: name } };
  return { loc: { list } };
}

/** Completions for what has been typed after `:`. */
export function paletteMatches(input: string): string[] {
  const w = input.trim().replace(/^:/, "").toLowerCase();
  return LISTS.filter((l) => l.startsWith(w)).map((l) => `:${l}`);
}
