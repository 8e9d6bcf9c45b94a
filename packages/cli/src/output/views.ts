/** Human renderings of the engine's answers: the tables and trees of the design document. */

import type {
  AlertRow,
  AlertView,
  ApplyResult,
  AuditEvent,
  ClassRow,
  ClusterRow,
  GroupRow,
  GroupView,
  IdentitySummary,
  ImageRow,
  LabelRow,
  LabelRuleRow,
  LabelView,
  LabRow,
  LayoutRow,
  PillarState,
  Resolution,
  SecretRow,
  SecretView,
  ServerDescription,
  ServerRef,
  ServerRow,
  SizeRow,
  Source,
} from "@lab/core";
import { describeTarget } from "@lab/core";
import { parsePublicKeyLine, sshFingerprint } from "@lab/identity/ssh-ca";
import type { Style } from "./style.js";
import { type Column, renderTable } from "./table.js";
import { bracketList, treeLines } from "./tree.js";

// ---------- lists (`lab get`) ----------

export function pillar(p: PillarState, style: Style): string {
  if (!style.tty) return p.text;
  if (p.state === "none") return style.dim(p.text);
  const symbol = {
    ok: style.green("✓"),
    warning: style.yellow("⚠"),
    failed: style.red("✗"),
    pending: "…",
    unknown: style.dim("?"),
  }[p.state];
  return `${symbol} ${p.text}`;
}

/** Table: identity, labels, size and the four pillars. Wide: where it is and its groups instead. */
export function serverTable(rows: ServerRow[], style: Style, wide: boolean): string {
  const head: Column<ServerRow>[] = [
    { header: "NAME", value: (r) => r.name },
    { header: "PROVIDER", value: (r) => r.provider },
    { header: "LABELS", value: (r) => r.labels.join(","), shrink: true, min: 12 },
    { header: "SIZE", value: (r) => r.size ?? "-" },
  ];
  const tail: Column<ServerRow>[] = wide
    ? [
        { header: "ENV", value: (r) => r.environment ?? "-" },
        { header: "REGION", value: (r) => r.region ?? "-" },
        { header: "HOST", value: (r) => r.host ?? "-" },
        { header: "GROUPS", value: (r) => r.groups.join(",") || "-", shrink: true, min: 10 },
      ]
    : [
        { header: "SYNC", value: (r) => pillar(r.status.sync, style) },
        { header: "PUPPET", value: (r) => pillar(r.status.puppet, style) },
        { header: "HEALTH", value: (r) => pillar(r.status.health, style) },
        { header: "IDENTITY", value: (r) => pillar(r.status.identity, style) },
      ];
  return renderTable(rows, [...head, ...tail], style);
}

export function labelTable(rows: LabelRow[], style: Style, wide: boolean): string {
  const cols: Column<LabelRow>[] = [
    { header: "LABEL", value: (r) => r.name },
    { header: "PUPPET CLASSES", value: (r) => r.classes.join(", ") || "-", shrink: true, min: 16 },
    { header: "SERVERS", value: (r) => String(r.servers) },
    ...(wide
      ? [
          { header: "SIZE", value: (r: LabelRow) => r.size ?? "-" },
          { header: "PORTS", value: (r: LabelRow) => r.ports.join(",") || "-", shrink: true },
          { header: "ALERTS", value: (r: LabelRow) => r.alerts.join(",") || "-", shrink: true },
          { header: "SECRETS", value: (r: LabelRow) => r.secrets.join(",") || "-", shrink: true },
        ]
      : []),
  ];
  return renderTable(rows, cols, style);
}

export function groupTable(rows: GroupRow[], style: Style): string {
  return renderTable(
    rows,
    [
      { header: "GROUP", value: (r) => r.name },
      { header: "SERVERS", value: (r) => String(r.servers) },
      { header: "EXCLUDED", value: (r) => String(r.excluded) },
      { header: "SUBGROUPS", value: (r) => r.subgroups.join(",") || "-", shrink: true },
      { header: "MATCH", value: (r) => (r.match ? describeTarget(r.match) : "-"), shrink: true, min: 12 },
    ],
    style,
  );
}

export function alertTable(rows: AlertRow[], style: Style): string {
  return renderTable(
    rows,
    [
      { header: "ALERT", value: (r) => r.name },
      { header: "SEVERITY", value: (r) => r.severity },
      { header: "BACKEND", value: (r) => r.backend ?? "-" },
      { header: "SERVERS", value: (r) => String(r.servers) },
      { header: "EXCLUDED", value: (r) => String(r.excluded) },
      { header: "TARGET", value: (r) => r.target || "-", shrink: true, min: 12 },
      { header: "CONDITION", value: (r) => r.condition ?? `(${r.kind})`, shrink: true, min: 12 },
    ],
    style,
  );
}

export function secretTable(rows: SecretRow[], style: Style): string {
  return renderTable(
    rows,
    [
      { header: "SECRET", value: (r) => r.name },
      { header: "TYPE", value: (r) => r.type },
      {
        header: "USED BY",
        value: (r) => `${r.labels.join(", ") || "-"} (${r.servers} srv)`,
        shrink: true,
        min: 12,
      },
      { header: "ROTATE", value: (r) => r.rotateEvery ?? "-" },
      { header: "SET BY", value: (r) => r.setBy ?? "-" },
    ],
    style,
  );
}

export function imageTable(rows: ImageRow[], style: Style): string {
  return renderTable(
    rows,
    [
      { header: "IMAGE", value: (r) => r.name },
      { header: "FORMAT", value: (r) => r.format },
      { header: "ARCH", value: (r) => r.arch },
      { header: "SOURCE", value: (r) => r.source },
      { header: "SERVERS", value: (r) => String(r.servers) },
      { header: "KERNEL", value: (r) => r.kernel, shrink: true },
    ],
    style,
  );
}

export function labelRuleTable(rows: LabelRuleRow[], style: Style): string {
  return renderTable(
    rows,
    [
      { header: "LABEL", value: (r) => r.label },
      { header: "WHEN", value: (r) => r.when },
      { header: "REASON", value: (r) => r.reason ?? "-", shrink: true },
    ],
    style,
  );
}

export function layoutTable(rows: LayoutRow[], style: Style): string {
  return renderTable(
    rows,
    [
      { header: "NAME", value: (r) => r.name },
      { header: "TYPE", value: (r) => r.type },
      { header: "WHERE", value: (r) => r.where ?? "-" },
      { header: "IN", value: (r) => r.parent ?? "-" },
      { header: "SIZE", value: (r) => (r.size === null ? "-" : String(r.size)) },
      { header: "NODES", value: (r) => String(r.nodes) },
      {
        header: "HOLDS",
        value: (r) => r.items.map((i) => (i.kind === "layout" ? `[${i.name}]` : i.name)).join(", ") || "-",
        shrink: true,
      },
    ],
    style,
  );
}

export function sizeTable(rows: SizeRow[], style: Style): string {
  return renderTable(
    rows,
    [
      { header: "SIZE", value: (r) => r.name },
      { header: "CORES", value: (r) => (r.cores === null ? "-" : String(r.cores)) },
      { header: "MEMORY", value: (r) => r.memory ?? "-" },
      { header: "DISK", value: (r) => r.disk ?? "-" },
      { header: "SERVERS", value: (r) => String(r.servers) },
      { header: "PROVIDERS", value: (r) => r.providers.join(",") || "-", shrink: true },
    ],
    style,
  );
}

export function classTable(rows: ClassRow[], style: Style): string {
  return renderTable(
    rows,
    [
      { header: "CLASS", value: (r) => r.name },
      { header: "SERVERS", value: (r) => String(r.servers) },
      { header: "SOURCE", value: (r) => r.source },
      { header: "ALERTS", value: (r) => r.alerts.join(", ") || "-", shrink: true, min: 12 },
    ],
    style,
  );
}

export function eventTable(rows: AuditEvent[], style: Style): string {
  return renderTable(
    rows,
    [
      { header: "ID", value: (r) => String(r.id) },
      { header: "TIME", value: (r) => r.time.replace("T", " ").slice(0, 19) },
      { header: "ACTOR", value: (r) => r.actor, shrink: true, min: 10 },
      { header: "ACTION", value: (r) => r.action },
      { header: "RESULT", value: (r) => (r.result === "ok" ? "ok" : style.red("error")) },
      { header: "SUMMARY", value: (r) => r.summary, shrink: true, min: 20 },
    ],
    style,
  );
}

// ---------- detail views (`lab show`, `lab targets`, `lab describe`) ----------

function sourceWord(s: Source): string {
  return s.kind === "auto" ? "AUTO-GENERATED" : `${s.kind.toUpperCase()} ${s.name}`;
}

/** Items grouped under the sources they came from, as the design's "FROM LABEL x:" blocks. */
function bySource<T extends { from: Source[] }>(items: T[], text: (item: T) => string): string[] {
  const blocks = new Map<string, string[]>();
  for (const item of items) {
    const auto = item.from.every((s) => s.kind === "auto");
    const key = auto ? "AUTO-GENERATED" : `FROM ${item.from.map(sourceWord).join(" + ")}`;
    const reason = auto ? item.from.map((s) => s.reason ?? s.name).join(", ") : "";
    const list = blocks.get(key) ?? [];
    list.push(reason ? `${text(item)} (${reason})` : text(item));
    blocks.set(key, list);
  }
  const out: string[] = [];
  for (const [key, list] of blocks) out.push(`  ${key}:`, ...treeLines(list, "  "));
  return out;
}

function excludedText(kind: string, name: string, by: Source): string {
  const why =
    by.kind === "server"
      ? "explicitly excluded"
      : `excluded by ${by.kind === "environment" || by.kind === "region" ? by.kind : by.kind} "${by.name}"`;
  return `${kind} "${name}" (${why})`;
}

export function showServer(r: Resolution, style: Style): string {
  const out: string[] = [];
  const where = [r.provider, r.region].filter(Boolean).join(", ");
  out.push(`${style.bold("Server:")} ${r.name} (${where})`);
  out.push(`Labels: ${bracketList(r.labels)}`);
  out.push(`Groups: ${bracketList(r.groups.map((g) => g.name))}`);
  out.push(`Environment: ${r.environment ?? "-"}`);
  out.push(`Size: ${r.size ? `${r.size.name} (from ${r.size.from.map(fromText).join(", ")})` : "-"}`);
  for (const c of r.conflicts) out.push(style.yellow(`${style.tty ? "⚠ " : "warning: "}${c.message}`));
  out.push("");
  out.push(`${style.bold("Puppet Classes")} (${r.classes.length}):`);
  out.push(...bySource(r.classes, (c) => c.name));
  out.push(`${style.bold("Ports")} (${r.ports.length}):`);
  out.push(...bySource(r.ports, (p) => String(p.port)));
  out.push(`${style.bold("Alerts")} (${r.alerts.length}):`);
  out.push(...bySource(r.alerts, (a) => a.name));
  out.push(`${style.bold("Secrets")} (${r.secrets.length}):`);
  out.push(...bySource(r.secrets, (s) => `${s.name} (${s.access})`));
  out.push(...excludedFromBlock(r, style));
  return `${out.join("\n")}\n`;
}

/** The "Excluded From" tree of a server's resolution (nothing when nothing excluded it). */
function excludedFromBlock(r: Resolution, style: Style): string[] {
  if (!r.excludedFrom.length) return [];
  return [
    `${style.bold("Excluded From")}:`,
    ...treeLines(
      r.excludedFrom.map((e) => excludedText(e.kind, e.name, e.by)),
      "",
    ),
  ];
}

/** `label: postgres`, `group: production`, `class postgresql::server` (for "(from …)"). */
function fromText(s: Source): string {
  if (s.kind === "auto") return (s.reason ?? "auto-generated").replace(/^from /, "");
  return `${s.kind}: ${s.name}`;
}

export function showTargets(r: Resolution, style: Style): string {
  const out: string[] = [`${style.bold(`Everything targeting ${r.name}:`)}`];
  out.push(`Labels: ${bracketList(r.labels)}`);
  out.push(`Groups: ${bracketList(r.groups.map((g) => `${g.name} (${g.from.map(fromText).join(", ")})`))}`);
  out.push(`Environment: ${r.environment ?? "-"}`);
  out.push(`Region: ${r.region ?? "-"}`);
  const flat = <T extends { from: Source[] }>(title: string, items: T[], text: (i: T) => string) => {
    out.push(`${style.bold(title)} (${items.length}):`);
    out.push(
      ...treeLines(
        items.map((i) => `${text(i)} (from ${i.from.map(fromText).join(", ")})`),
        "",
      ),
    );
  };
  flat("Alerts", r.alerts, (a) => a.name);
  flat("Puppet Classes", r.classes, (c) => c.name);
  flat("Secrets", r.secrets, (s) => s.name);
  flat("Ports", r.ports, (p) => String(p.port));
  if (r.size) out.push(`Size: ${r.size.name} (from ${r.size.from.map(fromText).join(", ")})`);
  out.push(...excludedFromBlock(r, style));
  return `${out.join("\n")}\n`;
}

function serverLine(s: ServerRef): string {
  return `${s.name} (${[s.provider, s.environment].filter(Boolean).join(", ")})`;
}

export function showLabel(v: LabelView, style: Style): string {
  const out = [`${style.bold("Label:")} ${v.name}`];
  if (v.description) out.push(`Description: ${v.description}`);
  out.push(`Applied to: ${v.servers.length} server${v.servers.length === 1 ? "" : "s"}`);
  out.push("Servers:", ...treeLines(v.servers.map(serverLine), ""));
  const p = v.provides;
  out.push("Provides:");
  out.push(`  Puppet Classes: ${p.classes.join(", ") || "-"}`);
  out.push(`  Alerts: ${p.alerts.join(", ") || "-"}`);
  out.push(`  Secrets: ${p.secrets.join(", ") || "-"}`);
  out.push(`  Ports: ${p.ports.join(", ") || "-"}`);
  out.push(`  Size: ${p.size ?? "-"}`);
  return `${out.join("\n")}\n`;
}

export function showGroup(v: GroupView, style: Style): string {
  const out = [`${style.bold("Group:")} ${v.name}`];
  if (v.description) out.push(`Description: ${v.description}`);
  const subs = v.subgroups.length ? `${v.subgroups.length} subgroups, ` : "";
  out.push(`Contains: ${subs}${v.servers.length} servers (${v.excluded.length} excluded)`);
  if (v.match) out.push(`Match: ${describeTarget(v.match)}`);
  if (v.explicit.length) out.push(`Explicit servers: ${bracketList(v.explicit)}`);
  if (v.subgroups.length) {
    out.push(
      "Subgroups:",
      ...treeLines(
        v.subgroups.map((s) => `${s.name} (${s.servers} servers)`),
        "",
      ),
    );
  }
  out.push(
    "Servers:",
    ...treeLines(
      v.servers.map((s) => `${serverLine(s)} ← ${s.from.map(fromText).join(", ")}`),
      "",
    ),
  );
  if (v.excluded.length) {
    const byName = v.excluded.filter((e) => e.by.kind === "server").map((e) => `${e.name} (by name)`);
    const byOther = new Map<string, string[]>();
    for (const e of v.excluded.filter((x) => x.by.kind !== "server")) {
      const key = `${e.by.kind} "${e.by.name}"`;
      byOther.set(key, [...(byOther.get(key) ?? []), e.name]);
    }
    const other = [...byOther].map(
      ([key, names]) =>
        `${names.length} server${names.length === 1 ? "" : "s"} with ${key}: ${names.join(", ")}`,
    );
    out.push("Excluded:", ...treeLines([...byName, ...other], ""));
  } else out.push("Excluded: none");
  if (v.alerts.length) {
    out.push(
      "Alerts targeting this group:",
      ...treeLines(
        v.alerts.map((a) => `${a.name} (${a.severity})`),
        "",
      ),
    );
  }
  return `${out.join("\n")}\n`;
}

export function showAlert(v: AlertView, style: Style): string {
  const out = [`${style.bold("Alert:")} ${v.name}`];
  out.push(`Severity: ${v.severity}`);
  out.push(`Condition: ${v.condition ?? "none (define it under alerts: to render it)"}`);
  out.push(`Backend: ${v.backend ?? "-"}`);
  if (v.for) out.push(`For: ${v.for}`);
  if (v.description) out.push(`Description: ${v.description}`);
  const target = v.target
    ? describeTarget(v.target)
    : v.kind === "auto"
      ? "auto-generated"
      : "the labels that attach it";
  out.push(`Target: ${target}`);
  out.push(`Excludes: ${v.exclude ? describeTarget(v.exclude) : "none"}`);
  out.push(`Applies to ${v.servers.length} server${v.servers.length === 1 ? "" : "s"}:`);
  out.push(
    ...treeLines(
      v.servers.map((s) => `${serverLine(s)} ← ${s.from.map(fromText).join(", ")}${current(s, style)}`),
      "",
    ),
  );
  if (v.excluded.length) {
    out.push(
      "Excluded:",
      ...treeLines(
        v.excluded.map((e) => excludedText("server", e.name, e.by)),
        "",
      ),
    );
  }
  if (v.renderedTo.length === 0) out.push("Rendered to: nothing (no condition a backend can check)");
  else {
    const last = new Map(v.lastRendered.map((r) => [r.backend, r]));
    const line = (r: AlertView["renderedTo"][number]) => {
      const when = last.get(r.backend);
      const at = when
        ? ` — last rendered ${when.summary.split(":")[0]?.replace(`${r.backend} → `, "to ")} at ${when.time.slice(0, 19).replace("T", " ")}`
        : " — not rendered yet";
      const what =
        r.backend === "prometheus" ? `rule "${v.name}" in ${r.path}` : `service check in ${r.path}`;
      const name = r.backend === "prometheus" ? "Prometheus" : "Naemon";
      return `${name}: ${what} (${r.servers} server${r.servers === 1 ? "" : "s"})${at}`;
    };
    out.push("Rendered to:", ...treeLines(v.renderedTo.map(line), ""));
  }
  return `${out.join("\n")}\n`;
}

/** `  currently: 42 ✓` — what monitoring last said about this alert on this server. */
function current(s: AlertView["servers"][number], style: Style): string {
  if (!s.current) return "";
  const value = s.current.value === undefined ? "" : ` ${Number(s.current.value.toFixed(2))}`;
  if (s.current.state === "ok") return `  currently:${value} ${style.tty ? style.green("✓") : "ok"}`;
  return `  currently:${value} ${style.tty ? `${style.yellow("⚠")} ` : ""}${s.current.state}`;
}

export function showSecret(v: SecretView, style: Style): string {
  const out = [`${style.bold("Secret:")} ${v.name}`];
  out.push(`Type: ${v.type ?? style.yellow("not defined under secrets:")}`);
  if (v.generator) out.push(`Generator: ${v.generator}`);
  if (v.rotateEvery) out.push(`Rotate every: ${v.rotateEvery}`);
  if (v.perMachine) out.push("Per machine: yes");
  if (v.setBy) out.push(`Set by: ${v.setBy}`);
  out.push("Accessible by (derived from labels):");
  out.push(
    ...treeLines(
      v.labels.map((l) => `label "${l}"`),
      "",
    ),
  );
  out.push(`Servers (${v.servers.length}):`, ...treeLines(v.servers.map(serverLine), ""));
  if (v.excluded.length) {
    out.push(
      "Excluded:",
      ...treeLines(
        v.excluded.map((e) => excludedText("server", e.name, e.by)),
        "",
      ),
    );
  }
  return `${out.join("\n")}\n`;
}

/** The design document's Identity block: DNS, certificate, SSH host key, enrolment, check-in. */
function identityBlock(d: ServerDescription, style: Style): string[] {
  const i = d.identity;
  if (!i) return [`Identity: ${pillarLine(d.status.identity, style)}`];
  const ok = (good: boolean) => (good ? style.green("✓") : style.yellow("⚠"));
  const dns = dnsLine(i, ok);
  const seen = i.lastSeenAt
    ? `${i.lastSeenAt.slice(0, 19).replace("T", " ")} (${ago(i.lastSeenAt)})`
    : "never";
  if (i.state === "enrolling") return ["Identity:", "  ⏳ enrolling (a join token is waiting to be used)"];
  return [
    `Identity: ${i.state === "revoked" ? style.red("revoked") : i.state}`,
    `  DNS: ${dns}`,
    `  Certificate: ${certificateLine(i, ok)}`,
    `  SSH Host Key: ${i.hostKeys.length ? `${ok(true)} CA-signed (fingerprint: ${i.hostKeys.map(hostKeyFingerprint).join(", ")})` : "- not signed"}`,
    `  Enrolled: ${i.enrolledAt?.slice(0, 19).replace("T", " ") ?? "-"} (one-time token, consumed)`,
    `  Last Check-in: ${seen}`,
  ];
}

/** The machine's certificate: when it expires, and whether its renewal is overdue. */
function certificateLine(i: IdentitySummary, ok: (good: boolean) => string): string {
  const expires = i.certNotAfter ? shortTime(i.certNotAfter) : "-";
  if (i.state === "revoked") return `revoked (was valid until ${expires})`;
  if (i.state === "cert expiring")
    return `${ok(false)} signed by Lab's CA, expires ${expires}: not renewed (agents renew at 2/3 of its life)`;
  return `${ok(true)} signed by Lab's CA, expires ${expires}`;
}

/** What the DNS server last accepted or refused for this machine, as recorded at that step. */
function dnsLine(i: IdentitySummary, ok: (good: boolean) => string): string {
  const when = i.dnsUpdatedAt ? ` at ${shortTime(i.dnsUpdatedAt)}` : "";
  switch (i.dnsState) {
    case "registered":
      return `${ok(true)} A ${i.dnsIpv4}, ${i.dnsPtr ? `PTR ${i.dnsPtr.replace(/\.$/, "")}` : "no PTR (the address is outside the reverse zone)"} — accepted by the DNS server${when}`;
    case "failed":
      return `${ok(false)} not updated: ${i.dnsError}${i.dnsIpv4 ? ` (last accepted: A ${i.dnsIpv4})` : ""}${when}`;
    case "removed":
      return `removed${when}`;
    case "not configured":
      return "not configured (lab server runs without --dns-update)";
    default:
      return "— (no DNS step recorded for this machine)";
  }
}

/** The design's Puppet block: what the ENC classifies, what the last run did, when the next is due. */
function puppetBlock(d: ServerDescription, style: Style): string[] {
  const p = d.puppet;
  const run = p.lastRun;
  const lines = [
    "Puppet:",
    `  Environment: ${p.environment ?? "— (not a Puppet environment name: set attributes.puppet_environment)"}`,
    `  Role: ${p.role ?? "-"}`,
    `  Classes: ${bracketList(p.classes)}`,
  ];
  if (!run) return [...lines, `  Last run: ${pillarLine(d.status.puppet, style)}`, "  Next run: -"];
  const outcome = run.status === "failed" ? style.red("failed") : `success, ${run.status}`;
  const took = run.timing.total === null ? "" : `, ${run.timing.total.toFixed(1)} s`;
  lines.push(`  Last run: ${shortTime(run.time)} (${outcome}${took}; Puppet ${run.puppetVersion ?? "?"})`);
  for (const e of run.catalogErrors.slice(0, 3)) lines.push(`    catalog error: ${e.split("\n")[0]}`);
  for (const f of run.failures.slice(0, 5)) lines.push(`    ${f.resource}: ${f.message.split("\n")[0]}`);
  const overdue = p.nextRun && Date.parse(p.nextRun) < Date.now() ? ` ${style.yellow("(overdue)")}` : "";
  lines.push(
    `  Next run: ${p.nextRun ? shortTime(p.nextRun) : "-"} (runinterval ${p.runIntervalSeconds} s)${overdue}`,
  );
  return lines;
}

/** A pillar with what it rests on: the reason when nothing is observed. */
function pillarLine(p: PillarState, style: Style): string {
  return p.state === "none" ? `— (${p.reason ?? "not observed"})` : pillar(p, style);
}

/** Each health source's latest verdict on this server, or why there is none. */
function monitoringLines(d: ServerDescription, style: Style): string[] {
  if (d.health.length === 0) return [`  Monitoring: ${pillarLine(d.status.health, style)}`];
  return [
    "  Monitoring:",
    ...d.health.map(
      (h) =>
        `    ${h.source}: ${pillar({ state: h.state, text: h.summary }, style)} (as of ${shortTime(h.updatedAt)})`,
    ),
  ];
}

function shortTime(iso: string): string {
  return iso.slice(0, 19).replace("T", " ");
}

function hostKeyFingerprint(line: string): string {
  try {
    return sshFingerprint(parsePublicKeyLine(line).blob);
  } catch {
    return line.split(" ")[0] ?? "?";
  }
}

function ago(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 90) return `${s} seconds ago`;
  if (s < 5400) return `${Math.round(s / 60)} minutes ago`;
  return `${Math.round(s / 3600)} hours ago`;
}

export function describeServer(d: ServerDescription, style: Style): string {
  const r = d.resolution;
  const s = d.spec;
  const size = d.sizeDetails?.abstract;
  const sizeText = r.size
    ? `${r.size.name}${size ? ` (${[size.cores && `${size.cores} cores`, size.memory, size.disk].filter(Boolean).join(", ")})` : ""} — from ${r.size.from.map(fromText).join(", ")}`
    : "-";
  const out = [
    `${style.bold("Name:")} ${d.name}`,
    `Provider: ${s.provider}`,
    `Labels: ${bracketList(r.labels)}`,
    `Groups: ${bracketList(r.groups.map((g) => g.name))}`,
    `Environment: ${r.environment ?? "-"}`,
    `Region: ${r.region ?? "-"}`,
    `Host: ${s.host ?? "-"}`,
    `MAC: ${s.mac ?? "-"}`,
    `Size: ${sizeText}`,
    "Status:",
    `  Sync: ${pillarLine(d.status.sync, style)}`,
    `  Puppet: ${pillarLine(d.status.puppet, style)}`,
    `  Health: ${pillarLine(d.status.health, style)}`,
    `  Identity: ${pillarLine(d.status.identity, style)}`,
    ...puppetBlock(d, style),
    "Health:",
    `  Alerts configured: ${r.alerts.length}`,
    ...monitoringLines(d, style),
    ...identityBlock(d, style),
  ];
  if (s.attributes && Object.keys(s.attributes).length) {
    out.push("Attributes:");
    for (const [k, v] of Object.entries(s.attributes)) out.push(`  ${k}: ${JSON.stringify(v)}`);
  }
  if (d.definedAt) out.push(`Defined at: ${d.definedAt}`);
  return `${out.join("\n")}\n`;
}

export function applySummary(res: ApplyResult, style: Style): string {
  const out: string[] = [];
  const verb = { create: "created", update: "configured", delete: "deleted" } as const;
  const would = { create: "would create", update: "would configure", delete: "would delete" } as const;
  const mark = { create: style.green("+"), update: style.yellow("~"), delete: style.red("-") } as const;
  for (const c of res.changes) {
    const fields = c.fields?.length ? ` (${c.fields.join(", ")})` : "";
    out.push(
      res.dryRun
        ? `${mark[c.op]} ${c.kind}/${c.name} ${would[c.op]}${fields}`
        : `${c.kind}/${c.name} ${verb[c.op]}${fields}`,
    );
  }
  const count = (op: "create" | "update" | "delete") => res.changes.filter((c) => c.op === op).length;
  const totals = `${count("create")} created, ${count("update")} configured, ${count("delete")} deleted, ${res.unchanged} unchanged`;
  if (res.dryRun) out.push(`Dry run: ${totals}; nothing was written`);
  else if (res.changes.length === 0) out.push(`No changes (${res.unchanged} unchanged)`);
  else out.push(`Applied: ${totals} (event #${res.eventId})`);
  return `${out.join("\n")}\n`;
}

export function labTable(rows: LabRow[], style: Style): string {
  return renderTable(
    rows,
    [
      { header: "LAB", value: (r) => r.name },
      { header: "MACHINES", value: (r) => r.machines.join(","), shrink: true, min: 10 },
      { header: "STEPS", value: (r) => String(r.steps) },
      { header: "DESCRIPTION", value: (r) => r.description ?? "", shrink: true },
    ],
    style,
  );
}

export function clusterTable(rows: ClusterRow[], style: Style): string {
  return renderTable(
    rows,
    [
      { header: "CLUSTER", value: (r) => r.name },
      { header: "TYPE", value: (r) => r.type },
      { header: "API SERVER", value: (r) => r.apiServer ?? "—", shrink: true, min: 12 },
      {
        header: "NODES",
        value: (r) => {
          const servers = r.nodes.filter((n) => n.role === "server").length;
          return `${servers} server${servers === 1 ? "" : "s"}, ${r.nodes.length - servers} agent${r.nodes.length - servers === 1 ? "" : "s"}`;
        },
      },
      { header: "NAMESPACE", value: (r) => r.namespace },
      { header: "KUBECONFIG", value: (r) => r.kubeconfigSecret ?? "not configured", shrink: true, min: 10 },
    ],
    style,
  );
}
