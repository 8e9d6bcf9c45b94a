/**
 * Every view's content: lists (rows, columns, where Enter goes) and detail screens (sections
 * of lines, every related object a link). Data comes from the TuiSource only; nothing here
 * re-derives targeting — memberships, provenance and values are the engine's.
 */
import {
  type AlertRow,
  type AuditEvent,
  describeTarget,
  type GroupRow,
  hasKeys,
  isLabError,
  type LabelRow,
  parseQuery,
  queryFilter,
  type SecretRow,
  type ServerRow,
} from "@lab/core";
import {
  type Cell,
  cell,
  clock,
  type Line,
  pillar,
  progress,
  provenance,
  sourceLink,
  stateTone,
} from "./lines.js";
import type { DetailName, ListName, Location } from "./nav.js";
import type { LogLine, MachineRow, TimelineRow, TuiSource } from "./source.js";

export interface Column<R> {
  header: string;
  /** Columns; 0 = takes what is left. */
  width: number;
  /** Shown only when the terminal is at least this wide. */
  minScreen?: number;
  cell(row: R): Cell;
}

export interface ListSpec<R> {
  columns: Column<R>[];
  /** The rows; `query` is the filter's keyed part (servers hand it to the engine). */
  load(source: TuiSource, query: string, node?: string): Promise<R[]>;
  /** What free-text `/` words are matched against (applied as the user types). */
  text(row: R): string;
  open(row: R): Location | null;
  /** The server or machine an action on this row targets. */
  target?(row: R): { server?: string; machine?: string };
  empty: string;
}

/** The rows whose text holds every free-text word of the filter. */
export function filterRows<R>(spec: ListSpec<R>, rows: R[], query: string): R[] {
  const w = parseQuery(query).text;
  if (w.length === 0) return rows;
  return rows.filter((r) => {
    const hay = spec.text(r).toLowerCase();
    return w.every((x) => hay.includes(x));
  });
}

/** The filter's keyed part, canonical: what a list must be fetched again for. */
export function keyedPart(query: string): string {
  const q = parseQuery(query);
  return hasKeys(q) ? JSON.stringify(queryFilter(q)) : "";
}

const servers: ListSpec<ServerRow> = {
  columns: [
    { header: "NAME", width: 18, cell: (r) => cell(r.name, undefined, true) },
    { header: "PROVIDER", width: 10, cell: (r) => cell(r.provider) },
    { header: "ENV", width: 8, cell: (r) => cell(r.environment ?? "—", r.environment ? undefined : "muted") },
    { header: "REGION", width: 10, minScreen: 100, cell: (r) => cell(r.region ?? "—") },
    { header: "SYNC", width: 5, cell: (r) => pillar(r.status.sync) },
    { header: "PUP", width: 4, cell: (r) => pillar(r.status.puppet) },
    { header: "HLTH", width: 5, cell: (r) => pillar(r.status.health) },
    { header: "ID", width: 3, cell: (r) => pillar(r.status.identity) },
    { header: "LABELS", width: 0, cell: (r) => cell(r.labels.join(","), "muted") },
  ],
  // The keyed part is the engine's filter (the same selection as `lab get servers -l …`).
  load: async (s, query) => {
    const q = parseQuery(query);
    return s.engine.list("server", hasKeys(q) ? { filter: queryFilter(q) } : {});
  },
  // matchesText's haystack: name, host and labels, as the dashboard matches.
  text: (r) => `${r.name} ${r.host ?? ""} ${r.labels.join(" ")}`,
  open: (r) => ({ detail: "server", name: r.name }),
  target: (r) => ({ server: r.name, machine: r.name }),
  empty: "No servers match. `lab apply -f DIR` adds some; Esc clears the filter.",
};

const machines: ListSpec<MachineRow> = {
  columns: [
    { header: "MACHINE", width: 16, cell: (r) => cell(r.name ?? "—", r.name ? undefined : "muted", true) },
    { header: "MAC", width: 18, cell: (r) => cell(r.mac, "muted") },
    { header: "STATE", width: 14, cell: (r) => cell(r.state + (r.debug ? "+D" : ""), stateTone(r.state)) },
    { header: "PROGRESS", width: 20, cell: (r) => progress(r.state, r.stage) ?? cell("—", "muted") },
    { header: "IMAGE", width: 14, minScreen: 100, cell: (r) => cell(r.image ?? "—") },
    { header: "IP", width: 0, cell: (r) => cell(r.ip ?? "—", "muted") },
  ],
  load: (s) => s.machines(),
  text: (r) => `${r.name ?? ""} ${r.mac} ${r.state} ${r.ip ?? ""} ${r.image ?? ""}`,
  open: (r) => ({ detail: "machine", name: r.mac }),
  target: (r) => ({ machine: r.mac, server: r.name ?? undefined }),
  empty: "No network-booted machines. `lab onboard NAME --provider baremetal --mac …` adds one.",
};

const labels: ListSpec<LabelRow> = {
  columns: [
    { header: "LABEL", width: 20, cell: (r) => cell(r.name, undefined, true) },
    { header: "SERVERS", width: 8, cell: (r) => cell(String(r.servers)) },
    { header: "CLASSES", width: 24, cell: (r) => cell(r.classes.join(",") || "—", "muted") },
    { header: "ALERTS", width: 0, cell: (r) => cell(r.alerts.join(",") || "—", "muted") },
  ],
  load: (s) => s.engine.list("label"),
  text: (r) => `${r.name} ${r.classes.join(" ")} ${r.alerts.join(" ")}`,
  open: (r) => ({ detail: "label", name: r.name }),
  empty: "No labels.",
};

const groups: ListSpec<GroupRow> = {
  columns: [
    { header: "GROUP", width: 24, cell: (r) => cell(r.name, undefined, true) },
    { header: "SERVERS", width: 8, cell: (r) => cell(String(r.servers)) },
    { header: "EXCL", width: 5, cell: (r) => cell(String(r.excluded), r.excluded ? "warn" : "muted") },
    { header: "SUBGROUPS", width: 0, cell: (r) => cell(r.subgroups.join(",") || "—", "muted") },
  ],
  load: (s) => s.engine.list("group"),
  text: (r) => `${r.name} ${r.subgroups.join(" ")}`,
  open: (r) => ({ detail: "group", name: r.name }),
  empty: "No groups.",
};

const alerts: ListSpec<AlertRow> = {
  columns: [
    { header: "ALERT", width: 26, cell: (r) => cell(r.name, undefined, true) },
    { header: "SEVERITY", width: 9, cell: (r) => cell(r.severity, severityTone(r.severity)) },
    { header: "SERVERS", width: 8, cell: (r) => cell(String(r.servers)) },
    { header: "BACKEND", width: 11, minScreen: 100, cell: (r) => cell(r.backend ?? "—", "muted") },
    { header: "TARGET", width: 0, cell: (r) => cell(r.target, "muted") },
  ],
  load: (s) => s.engine.list("alert"),
  text: (r) => `${r.name} ${r.severity} ${r.target} ${r.kind}`,
  open: (r) => ({ detail: "alert", name: r.name }),
  empty: "No alerts.",
};

const secrets: ListSpec<SecretRow> = {
  columns: [
    { header: "SECRET", width: 28, cell: (r) => cell(r.name, undefined, true) },
    { header: "TYPE", width: 10, cell: (r) => cell(r.type) },
    { header: "SERVERS", width: 8, cell: (r) => cell(String(r.servers)) },
    { header: "LABELS", width: 0, cell: (r) => cell(r.labels.join(",") || "—", "muted") },
  ],
  load: (s) => s.engine.list("secret"),
  text: (r) => `${r.name} ${r.type} ${r.labels.join(" ")}`,
  open: (r) => ({ detail: "secret", name: r.name }),
  empty: "No secrets.",
};

const events: ListSpec<AuditEvent> = {
  columns: [
    { header: "TIME", width: 9, cell: (e) => cell(clock(e.time), "muted") },
    { header: "ACTOR", width: 16, minScreen: 100, cell: (e) => cell(e.actor, "muted") },
    { header: "ACTION", width: 18, cell: (e) => cell(e.action, e.result === "error" ? "bad" : "accent") },
    { header: "SUMMARY", width: 0, cell: (e) => cell(e.summary) },
  ],
  load: (s) => s.engine.list("event", { limit: 500 }),
  text: (e) => `${e.actor} ${e.action} ${e.summary} ${e.subjects.join(" ")}`,
  open: (e) => ({ detail: "event", name: String(e.id) }),
  empty: "No events yet.",
};

const logs: ListSpec<LogLine> = {
  columns: [
    { header: "TIME", width: 9, cell: (l) => cell(clock(l.time), "muted") },
    { header: "NODE", width: 14, cell: (l) => cell(l.node ?? "—") },
    { header: "LEVEL", width: 6, cell: (l) => cell(l.level, levelTone(l.level)) },
    { header: "SOURCE", width: 12, minScreen: 100, cell: (l) => cell(l.source, "muted") },
    { header: "MESSAGE", width: 0, cell: (l) => cell(l.message) },
  ],
  load: async (s, _query, node) => {
    const page = await s.logs({ node, limit: 1000 });
    return page.events;
  },
  text: (l) => `${l.node ?? ""} ${l.level} ${l.source} ${l.message}`,
  open: (l) => (l.node ? { detail: "server", name: l.node } : null),
  target: (l) => (l.node ? { server: l.node } : {}),
  empty: "No log lines yet (lab server --otel-file FILE collects them).",
};

// biome-ignore lint/suspicious/noExplicitAny: each list has its own row type
export const LIST_SPECS: Record<ListName, ListSpec<any>> = {
  servers,
  machines,
  labels,
  groups,
  alerts,
  secrets,
  events,
  logs,
};

function severityTone(s: string) {
  return s === "critical" ? "bad" : s === "warning" ? "warn" : undefined;
}

function levelTone(l: string) {
  if (l === "error" || l === "fatal") return "bad";
  if (l === "warn" || l === "warning") return "warn";
  if (l === "debug" || l === "trace") return "muted";
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Detail screens: a heading block, then sections.

export interface Detail {
  /** Key facts at the top (not selectable). */
  summary: Line[];
  lines: Line[];
  /** What actions target from this screen. */
  target?: { server?: string; machine?: string };
  /** Poll again this often (ms) while shown: live install progress and log tail. */
  pollMs?: number;
}

const heading = (text: string, count?: number): Line => ({
  cells: [cell(count === undefined ? text : `${text} (${count})`, "title", true)],
  heading: true,
});
const none = (text = "none"): Line => ({ cells: [cell(`  ${text}`, "muted")] });
const item = (link: Location | undefined, ...cells: Cell[]): Line => ({
  cells: [cell("  "), ...cells],
  link,
});
const kv = (pairs: [string, string | Cell][]): Line => ({
  cells: pairs.flatMap(([k, v], i) => [
    cell(`${i ? "   " : ""}${k}: `, "muted"),
    typeof v === "string" ? cell(v) : v,
  ]),
});

function section(title: string, rows: Line[], empty = "none"): Line[] {
  return [heading(title, rows.length), ...(rows.length ? rows : [none(empty)])];
}

export async function loadDetail(source: TuiSource, kind: DetailName, name: string): Promise<Detail> {
  switch (kind) {
    case "server":
      return serverDetail(source, name);
    case "label":
      return labelDetail(source, name);
    case "group":
      return groupDetail(source, name);
    case "alert":
      return alertDetail(source, name);
    case "secret":
      return secretDetail(source, name);
    case "machine":
      return machineDetail(source, name);
    case "event":
      return eventDetail(source, name);
  }
}

async function serverDetail(source: TuiSource, name: string): Promise<Detail> {
  const d = await source.engine.describe(name);
  const r = d.resolution;
  const machine = await findMachine(source, name);
  // Asked now, like `lab power status`; a controller that does not answer is said so.
  const power = await source
    .power(name)
    .catch((e: unknown) => ({ state: "error", detail: errorText(e), driver: null, nextBoot: null }));
  const steps = machine ? await source.timeline(machine.mac).catch(() => []) : [];
  const findings = new Map<string, { state: string; value?: number; source: string }>();
  for (const h of d.health) for (const f of h.findings) findings.set(f.alert, { ...f, source: h.source });
  const p = d.status;
  const summary: Line[] = [
    kv([
      ["Provider", r.provider],
      ["Size", r.size?.name ?? "—"],
      ["Env", r.environment ?? "—"],
      ["Region", r.region ?? "—"],
    ]),
    kv([
      ["Sync", pillarText(p.sync)],
      ["Puppet", pillarText(p.puppet)],
      ["Health", pillarText(p.health)],
      ["Identity", pillarText(p.identity)],
    ]),
    kv([
      [
        "Power",
        cell(
          power.state === "not configured"
            ? "not configured"
            : `${power.state}${power.driver ? ` (${power.driver})` : ""}`,
          power.state === "on"
            ? "ok"
            : power.state === "error"
              ? "bad"
              : power.state === "off"
                ? "warn"
                : "muted",
        ),
      ],
      ["Next boot", power.nextBoot ?? "—"],
      ...(power.state === "error" ? ([["Why", power.detail]] as [string, string][]) : []),
    ]),
  ];
  const id = d.identity;
  const lines: Line[] = [
    ...section(
      "Labels",
      r.labels.map((l) => item({ detail: "label", name: l }, cell("► "), cell(l, "accent"))),
    ),
    ...section(
      "Groups",
      r.groups.map((g) =>
        item({ detail: "group", name: g.name }, cell("► "), cell(g.name, "accent"), from(g.from)),
      ),
    ),
    ...section(
      "Alerts",
      r.alerts.map((a) => {
        const f = findings.get(a.name);
        return item(
          { detail: "alert", name: a.name },
          cell("● "),
          cell(a.name, "accent"),
          cell(` ${a.severity}`, severityTone(a.severity)),
          f ? alertValue(f.state, f.value) : cell("  —", "muted"),
          from(a.from),
        );
      }),
    ),
    ...section(
      "Puppet classes",
      r.classes.map((c) => item(sourceLink(c.from[0]), cell("● "), cell(c.name), from(c.from))),
    ),
    ...section(
      "Secrets",
      r.secrets.map((s) =>
        item(
          { detail: "secret", name: s.name },
          cell("● "),
          cell(s.name, "accent"),
          cell(` (${s.access})`, "muted"),
          from(s.from),
        ),
      ),
    ),
    ...section(
      "Ports",
      r.ports.map((x) => item(sourceLink(x.from[0]), cell(String(x.port)), from(x.from))),
    ),
    heading("Identity"),
    id
      ? kv([
          ["State", id.state],
          ["Cert until", id.certNotAfter?.slice(0, 10) ?? "—"],
          ["Seen", id.lastSeenAt ? clock(id.lastSeenAt) : "—"],
          ["DNS", id.dnsState ?? "—"],
        ])
      : none(p.identity.reason ?? "no agent has enrolled as this server"),
    ...(d.health.length
      ? section(
          "Health sources",
          d.health.map((h) =>
            item(
              undefined,
              cell(h.source),
              cell(` ${h.state}`, healthTone(h.state)),
              cell(` ${h.summary}`, "muted"),
            ),
          ),
        )
      : []),
    heading("Boot timeline"),
    ...(machine
      ? [
          item(
            { detail: "machine", name: machine.mac },
            cell("► "),
            cell(machine.mac, "accent"),
            cell(` ${machine.state}`, stateTone(machine.state)),
            ...(progress(machine.state, machine.stage)
              ? [cell(" "), progress(machine.state, machine.stage) as Cell]
              : []),
          ),
          ...steps.slice(-8).map((s) => timelineLine(s)),
        ]
      : [none("not a network-booted machine")]),
    ...section(
      "Excluded from",
      r.excludedFrom.map((e) =>
        item(
          e.kind === "alert" || e.kind === "group" || e.kind === "secret"
            ? { detail: e.kind, name: e.name }
            : undefined,
          cell(`${e.kind} `, "muted"),
          cell(e.name, "accent"),
          cell(` by ${e.by.kind} ${e.by.name}`, "muted"),
        ),
      ),
    ),
  ];
  return {
    summary,
    lines,
    target: { server: name, machine: machine?.mac ?? name },
    pollMs: machine?.state === "INSTALLING" ? 1000 : undefined,
  };
}

function pillarText(p: { state: string; text: string }): Cell {
  const glyph = pillar(p as never);
  return cell(p.state === "none" ? "—" : `${glyph.text} ${p.text}`, glyph.tone);
}

function alertValue(state: string, value?: number): Cell {
  const v = value === undefined ? "" : ` ${Number.isInteger(value) ? value : value.toFixed(1)}`;
  if (state === "firing") return cell(`  ✗ firing${v}`, "bad");
  if (state === "pending") return cell(`  … pending${v}`, "warn");
  return cell(`  ✓ OK${v}`, "ok");
}

function healthTone(s: string) {
  return s === "ok" ? "ok" : s === "failed" ? "bad" : "warn";
}

const from = (f: { kind: string; name: string; reason?: string }[]) =>
  cell(`  ← ${provenance(f as never)}`, "muted");

async function findMachine(source: TuiSource, name: string): Promise<MachineRow | undefined> {
  try {
    const all = await source.machines();
    return all.find((m) => m.name === name || m.mac === name);
  } catch {
    return undefined;
  }
}

/** The servers an exclusion took out, each with the group or label that excluded it. */
function excludedSection(excluded: { name: string; by: { kind: string; name: string } }[]): Line[] {
  return section(
    "Excluded",
    excluded.map((e) =>
      item(
        { detail: "server", name: e.name },
        cell("✗ ", "warn"),
        cell(e.name),
        cell(` by ${e.by.kind} ${e.by.name}`, "muted"),
      ),
    ),
  );
}

/** A member server, linked, with where its membership came from. */
function memberLine(s: { name: string; from: { kind: string; name: string; reason?: string }[] }): Line {
  return item({ detail: "server", name: s.name }, cell("► "), cell(s.name, "accent"), from(s.from));
}

function timelineLine(s: TimelineRow): Line {
  return item(
    undefined,
    cell(clock(s.time), "muted"),
    cell(` +${(s.sincePreviousMs / 1000).toFixed(1)}s `.padEnd(9), "muted"),
    cell(s.kind.padEnd(9), "accent"),
    cell(` ${s.type}`),
  );
}

async function labelDetail(source: TuiSource, name: string): Promise<Detail> {
  const v = await source.engine.show("label", name);
  const p = v.provides;
  return {
    summary: [
      kv([
        ["Servers", String(v.servers.length)],
        ["Size", p.size ?? "—"],
        ["Ports", p.ports.join(", ") || "—"],
      ]),
      ...(v.description ? [{ cells: [cell(v.description, "muted")] }] : []),
    ],
    lines: [
      ...section(
        "Servers",
        v.servers.map((s) =>
          item(
            { detail: "server", name: s.name },
            cell("► "),
            cell(s.name, "accent"),
            cell(` (${s.provider}, ${s.environment ?? "—"})`, "muted"),
          ),
        ),
      ),
      ...section(
        "Puppet classes",
        p.classes.map((c) => item(undefined, cell("● "), cell(c))),
      ),
      ...section(
        "Alerts",
        p.alerts.map((a) => item({ detail: "alert", name: a }, cell("● "), cell(a, "accent"))),
      ),
      ...section(
        "Secrets",
        p.secrets.map((s) => item({ detail: "secret", name: s }, cell("● "), cell(s, "accent"))),
      ),
    ],
  };
}

async function groupDetail(source: TuiSource, name: string): Promise<Detail> {
  const v = await source.engine.show("group", name);
  return {
    summary: [
      kv([
        ["Servers", String(v.servers.length)],
        ["Excluded", String(v.excluded.length)],
        ["Subgroups", String(v.subgroups.length)],
      ]),
      kv([["Match", describeTarget(v.match)]]),
    ],
    lines: [
      ...section(
        "Subgroups",
        v.subgroups.map((g) =>
          item(
            { detail: "group", name: g.name },
            cell("► "),
            cell(g.name, "accent"),
            cell(` (${g.servers} servers)`, "muted"),
          ),
        ),
      ),
      ...section("Members", v.servers.map(memberLine)),
      ...excludedSection(v.excluded),
      ...section(
        "Alerts targeting this group",
        v.alerts.map((a) =>
          item(
            { detail: "alert", name: a.name },
            cell("● "),
            cell(a.name, "accent"),
            cell(` (${a.severity})`, severityTone(a.severity)),
          ),
        ),
      ),
    ],
  };
}

async function alertDetail(source: TuiSource, name: string): Promise<Detail> {
  const v = await source.engine.show("alert", name);
  return {
    summary: [
      kv([
        ["Severity", cell(v.severity, severityTone(v.severity))],
        ["Backend", v.backend ?? "—"],
        ["For", v.for ?? "—"],
      ]),
      kv([["Condition", v.condition ?? "—"]]),
      kv([
        ["Target", describeTarget(v.target)],
        ["Excludes", describeTarget(v.exclude) === "-" ? "none" : describeTarget(v.exclude)],
      ]),
    ],
    lines: [
      ...section(
        "Applies to",
        v.servers.map((s) =>
          item(
            { detail: "server", name: s.name },
            cell("► "),
            cell(s.name.padEnd(16), "accent"),
            cell(` (${s.provider})`, "muted"),
            s.current ? alertValue(s.current.state, s.current.value) : cell("  — not observed", "muted"),
          ),
        ),
      ),
      ...excludedSection(v.excluded),
      ...section(
        "Rendered to",
        v.renderedTo.map((t) =>
          item(
            undefined,
            cell(t.backend, "accent"),
            cell(` ${t.path}`),
            cell(` (${t.servers} servers)`, "muted"),
          ),
        ),
        "not rendered (lab render alerts --backend …)",
      ),
    ],
  };
}

async function secretDetail(source: TuiSource, name: string): Promise<Detail> {
  const v = await source.engine.show("secret", name);
  return {
    summary: [
      kv([
        ["Type", v.type ?? "—"],
        ["Generator", v.generator ?? "—"],
        ["Rotate", v.rotateEvery ?? "—"],
        ["Value", v.setBy ? `set by ${v.setBy}` : "not set"],
      ]),
    ],
    lines: [
      ...section(
        "Labels",
        v.labels.map((l) => item({ detail: "label", name: l }, cell("► "), cell(l, "accent"))),
      ),
      ...section("Servers", v.servers.map(memberLine)),
      ...excludedSection(v.excluded),
    ],
  };
}

async function machineDetail(source: TuiSource, target: string): Promise<Detail> {
  const all = await source.machines();
  const m = all.find((x) => x.mac === target || x.name === target);
  if (!m) {
    const { LabError } = await import("@lab/core");
    throw new LabError("LAB_E_NOT_FOUND", `no network-booted machine "${target}"`);
  }
  const steps = await source.timeline(m.mac).catch(() => []);
  const log = await source.installLog(m.mac, 200).catch(() => []);
  const bar = progress(m.state, m.stage);
  return {
    summary: [
      kv([
        ["MAC", m.mac],
        ["State", cell(m.state, stateTone(m.state))],
        ["Image", m.image ?? "—"],
        ["IP", m.ip ?? "—"],
      ]),
      kv([
        ["Install", bar ?? cell("—", "muted")],
        ["Debug next boot", m.debug ? "yes" : "no"],
        ...(m.reason ? ([["Why", m.reason]] as [string, string][]) : []),
      ]),
    ],
    lines: [
      ...(m.name
        ? [heading("Server"), item({ detail: "server", name: m.name }, cell("► "), cell(m.name, "accent"))]
        : []),
      ...section("Boot timeline", steps.slice(-40).map(timelineLine), "no boot seen yet"),
      ...section(
        "Install log",
        log.slice(-100).map((l) => item(undefined, cell(l))),
        "no install log yet",
      ),
    ],
    target: { machine: m.mac, server: m.name ?? undefined },
    // The install is live: progress and the log tail refresh while the screen is open.
    pollMs: m.state === "INSTALLING" || m.state === "INSTALL_QUEUE" ? 1000 : 5000,
  };
}

async function eventDetail(source: TuiSource, id: string): Promise<Detail> {
  const all = await source.engine.list("event", { limit: 500 });
  const e = all.find((x) => String(x.id) === id);
  if (!e) {
    const { LabError } = await import("@lab/core");
    throw new LabError("LAB_E_NOT_FOUND", `event ${id} is not among the latest 500`);
  }
  const linkOf = (kind: string, name: string): Location | undefined =>
    ["server", "label", "group", "alert", "secret"].includes(kind)
      ? { detail: kind as DetailName, name }
      : undefined;
  return {
    summary: [
      kv([
        ["Time", e.time],
        ["Actor", e.actor],
        ["Result", cell(e.result, e.result === "error" ? "bad" : "ok")],
      ]),
      kv([["Summary", e.summary]]),
    ],
    lines: [
      ...section(
        "Changes",
        e.changes.map((c) =>
          item(linkOf(c.kind, c.name), cell(`${c.op} `, "muted"), cell(`${c.kind}/${c.name}`, "accent")),
        ),
      ),
      ...section(
        "Subjects",
        e.subjects.map((s) => {
          const [kind = "", ...rest] = s.split("/");
          return item(linkOf(kind, rest.join("/")), cell(s, "accent"));
        }),
      ),
    ],
  };
}

/** A LabError as one status line: code, message and what to do. */
export function errorText(e: unknown): string {
  if (isLabError(e)) return `${e.code}: ${e.message}${e.message.includes(e.hint) ? "" : ` — ${e.hint}`}`;
  return `LAB_E_INTERNAL: ${e instanceof Error ? e.message : String(e)}`;
}
