/** The hotkeys, shown in the header (k9s-style) and in `?` help. One table, so they never disagree. */
export interface Hotkey {
  key: string;
  what: string;
  /** Where it applies: every screen, lists, or screens that target a server/machine. */
  scope: "global" | "nav" | "server" | "machine";
}

export const HOTKEYS: Hotkey[] = [
  { key: "enter", what: "open", scope: "nav" },
  { key: "esc", what: "back", scope: "nav" },
  { key: "/", what: "filter", scope: "nav" },
  { key: ":", what: "views", scope: "global" },
  { key: "tab", what: "next pane", scope: "nav" },
  { key: "?", what: "help", scope: "global" },
  { key: "i", what: "install", scope: "machine" },
  { key: "r", what: "reprovision", scope: "machine" },
  { key: "d", what: "debug boot", scope: "machine" },
  { key: "p", what: "power", scope: "server" },
  { key: "x", what: "exec", scope: "server" },
  { key: "l", what: "logs", scope: "server" },
  { key: "a", what: "apply file", scope: "global" },
  { key: "ctrl-r", what: "refresh", scope: "global" },
  { key: "q", what: "quit", scope: "global" },
];

export const HELP_EXTRA = [
  "j/k ↑/↓ move · g/G first/last · PgUp/PgDn (ctrl-b/ctrl-f) page",
  "/ takes the targeting language: label:k8s-worker group:production env:prod",
  "  region:eu-west -db-2 (exclude) and free words (name, host, labels)",
  ": views: :servers :machines :labels :groups :alerts :secrets :events :logs",
  "  :server NAME (straight to one) · :q quits",
  "Actions ask for confirmation (y) before anything is sent.",
  "p asks on, off or cycle for the server (its power: driver), then confirms.",
];
