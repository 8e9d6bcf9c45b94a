/**
 * The Naemon renderer: the fleet in, Nagios/Naemon object files out (Naemon kept Nagios's
 * object format, so `nagios4 -v` validates it). Pure and deterministic: same model, same bytes.
 *
 * Placement is `placeAlerts`'s decision, never re-made here: every placement with backend
 * "naemon" becomes one service per server, in `services/<placement file>.cfg`, so a change
 * to one label touches one services file (as it touches one Prometheus rule file).
 *
 * Output (relative to the folder Naemon's `cfg_dir` points at):
 *   templates.cfg   lab-24x7 timeperiod, lab-admins contact and contactgroup, lab-host and
 *                   lab-service templates (register 0) — the output needs nothing else
 *   commands.cfg    the lab_check_* commands (`$USER1$` = the plugin directory)
 *   hosts.cfg       one host per server
 *   hostgroups.cfg  one hostgroup per Lab group (resolved members), one per environment
 *   services/*.cfg  the checks
 */
import {
  type AlertDefinition,
  type Fleet,
  formatCondition,
  METRICS,
  type Placement,
  placeAlerts,
  portCheck,
  type Resolution,
  type Source,
} from "@lab/core";
import type { RenderedFile } from "./types.js";

/** Every command Lab's Naemon objects use, by name. `$USER1$` is the plugin directory. */
export const NAEMON_COMMANDS: Readonly<Record<string, string>> = {
  lab_check_host_alive: "$USER1$/check_ping -H $HOSTADDRESS$ -w 3000.0,80% -c 5000.0,100% -p 1",
  lab_check_ping: "$USER1$/check_ping -H $HOSTADDRESS$ -w $ARG1$ -c $ARG2$ -p 5",
  lab_check_tcp: "$USER1$/check_tcp -H $HOSTADDRESS$ -p $ARG1$",
  lab_check_http: "$USER1$/check_http -H $HOSTADDRESS$ -p $ARG1$",
  lab_check_https: "$USER1$/check_http -S -H $HOSTADDRESS$ -p $ARG1$",
  lab_check_smtp: "$USER1$/check_smtp -H $HOSTADDRESS$ -p $ARG1$",
  lab_check_imaps: "$USER1$/check_imap -S -H $HOSTADDRESS$ -p $ARG1$",
  // TLS from the first byte: SMTPS on 465 (check_smtp -S is STARTTLS), plain IMAP on 143.
  lab_check_ssmtp: "$USER1$/check_ssmtp -H $HOSTADDRESS$ -p $ARG1$",
  lab_check_imap: "$USER1$/check_imap -H $HOSTADDRESS$ -p $ARG1$",
  // Notifications are the operator's choice (mail, chat, pager): this one does nothing, so
  // the output is valid as is; replace it in an object file of your own.
  lab_notify_none: "/bin/true",
};

export const HOST_TEMPLATE = "lab-host";
export const SERVICE_TEMPLATE = "lab-service";
export const TIMEPERIOD = "lab-24x7";
export const CONTACT = "lab-admins";
/** The prefix of the per-environment hostgroups (`lab-env-prod`). */
export const ENV_HOSTGROUP_PREFIX = "lab-env-";

/** The port a check uses when neither the alert nor the label that attached it says. */
const DEFAULT_PORT: Record<string, number> = {
  http_ok: 80,
  https_ok: 443,
  smtp_banner: 25,
  imap_banner: 993,
};

/**
 * The metric mappings name one command per protocol; the port decides whether it starts with
 * TLS (as the Prometheus renderer picks `smtps_banner` / `imap_banner` modules by port).
 */
const PORT_VARIANT: Record<string, Record<number, string>> = {
  lab_check_smtp: { 465: "lab_check_ssmtp" },
  lab_check_imaps: { 143: "lab_check_imap" },
};

/** Soft-state retries stand for the alert's `for:`; past this many, retries get spaced out. */
const MAX_RETRIES = 10;

export interface NaemonHost {
  name: string;
  address: string;
  alias: string;
  labels: string[];
  provider: string;
  environment: string | null;
}

export interface NaemonHostgroup {
  name: string;
  alias: string;
  members: string[];
}

export interface NaemonService {
  host: string;
  /** The alert name: unique per host because placement gives each (alert, server) one file. */
  description: string;
  /** The placement's file stem; the service lands in `services/<file>.cfg`. */
  file: string;
  command: string;
  args: string[];
  severity: string;
  /** Hard after this many failed checks, `retryInterval` minutes apart: the alert's `for:`. */
  maxCheckAttempts: number;
  retryInterval: number;
  notes: string;
}

/** A naemon placement that cannot become a service on one server, and why. */
export interface NaemonSkipped {
  alert: string;
  server: string;
  file: string;
  reason: string;
}

export interface NaemonPlan {
  hosts: NaemonHost[];
  hostgroups: NaemonHostgroup[];
  services: NaemonService[];
  skipped: NaemonSkipped[];
  /** Environments whose `lab-env-*` hostgroup was not rendered because a Lab group has that name. */
  shadowedEnvironments: string[];
}

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The objects Lab renders for Naemon, as data (sorted), before they become text. */
export function planNaemon(fleet: Fleet): NaemonPlan {
  const resolutions = [...fleet.resolveAll()].sort((a, b) => byString(a.name, b.name));

  const hosts = resolutions.map((r): NaemonHost => {
    const spec = fleet.model.server.get(r.name)?.spec;
    const where = [r.provider, r.environment ?? "no environment", r.region].filter(Boolean).join(", ");
    return {
      name: r.name,
      address: spec?.host ?? r.name,
      alias: `${r.name} (${where})`,
      labels: [...r.labels].sort(byString),
      provider: r.provider,
      environment: r.environment,
    };
  });

  const hostgroups: NaemonHostgroup[] = [];
  for (const [name, { spec }] of fleet.model.group) {
    hostgroups.push({
      name,
      alias: clean(spec.description ?? `Lab group ${name}`),
      members: resolutions.filter((r) => r.groups.some((g) => g.name === name)).map((r) => r.name),
    });
  }
  const environments = [...new Set(resolutions.flatMap((r) => (r.environment ? [r.environment] : [])))];
  const shadowedEnvironments: string[] = [];
  for (const env of environments) {
    const name = `${ENV_HOSTGROUP_PREFIX}${env}`;
    if (fleet.model.group.has(name)) {
      shadowedEnvironments.push(env);
      continue;
    }
    hostgroups.push({
      name,
      alias: `Lab environment ${env}`,
      members: resolutions.filter((r) => r.environment === env).map((r) => r.name),
    });
  }
  hostgroups.sort((a, b) => byString(a.name, b.name));

  const services: NaemonService[] = [];
  const skipped: NaemonSkipped[] = [];
  for (const p of placeAlerts(fleet).placements) {
    if (p.backend !== "naemon") continue;
    for (const r of p.servers) {
      const made = serviceFor(p, r);
      if ("reason" in made) skipped.push(made);
      else services.push(made);
    }
  }
  services.sort(
    (a, b) => byString(a.file, b.file) || byString(a.host, b.host) || byString(a.description, b.description),
  );
  skipped.sort(
    (a, b) => byString(a.file, b.file) || byString(a.alert, b.alert) || byString(a.server, b.server),
  );
  return { hosts, hostgroups, services, skipped, shadowedEnvironments: shadowedEnvironments.sort(byString) };
}

function serviceFor(p: Placement, r: Resolution): NaemonService | NaemonSkipped {
  const def = p.definition;
  const skip = (reason: string): NaemonSkipped => ({ alert: p.alert, server: r.name, file: p.file, reason });
  const condition = def.condition;
  if (!condition) return skip(`its condition does not parse: ${def.conditionText}`);
  const check = METRICS[condition.metric]?.naemon;
  if (!check) {
    return skip(`metric ${condition.metric} has no Naemon check: use backend: prometheus for this alert`);
  }
  let args = check.args(condition);
  let command = check.command;
  if (args.some((a) => a.includes("$PORT"))) {
    const port = portOf(def, r);
    if (port === undefined) {
      return skip(
        `${condition.metric} needs a port and neither the alert nor a label that attaches it declares one`,
      );
    }
    args = args.map((a) => a.replaceAll("$PORT", String(port)));
    command = PORT_VARIANT[command]?.[port] ?? command;
  }
  const attached = r.alerts.find((a) => a.name === p.alert);
  const { attempts, retry } = retriesFor(def.for);
  const what = def.description ?? def.conditionText ?? formatCondition(condition);
  const notes = [
    `${def.severity}: ${what} (${formatCondition(condition)}${def.for ? ` for ${def.for}` : ""})`,
    `from ${(attached?.from ?? []).map(describeSource).join(", ") || "unknown"}`,
    `Lab placement ${p.file}`,
  ].join(". ");
  return {
    host: r.name,
    description: p.alert,
    file: p.file,
    command,
    args,
    severity: def.severity,
    maxCheckAttempts: attempts,
    retryInterval: retry,
    notes: clean(notes),
  };
}

/**
 * The port a check probes: the port alert's own; else, for a named alert such as
 * `smtp_connect`, a port declared by the label that attached it whose port check uses the
 * same metric (the metric's usual port if declared, else the lowest); else the metric's
 * usual port (80, 443, 25, 993); else none.
 */
function portOf(def: AlertDefinition, r: Resolution): number | undefined {
  if (def.port !== undefined) return def.port;
  const metric = def.condition?.metric ?? "";
  const attachers = new Set(
    (r.alerts.find((a) => a.name === def.name)?.from ?? [])
      .filter((s) => s.kind === "label")
      .map((s) => s.name),
  );
  const candidates = r.ports
    .filter((p) => p.from.some((s) => s.kind === "label" && attachers.has(s.name)))
    .map((p) => p.port)
    .filter((port) => portCheck(port).metric === metric)
    .sort((a, b) => a - b);
  const usual = DEFAULT_PORT[metric];
  if (usual !== undefined && candidates.includes(usual)) return usual;
  return candidates[0] ?? usual;
}

/**
 * `for: 2m` → hard after 3 checks a minute apart (the first failure plus two retries), so a
 * Naemon notification waits as long as the Prometheus alert would. No `for:` → hard at once.
 */
export function retriesFor(forText: string | null): { attempts: number; retry: number } {
  const minutes = Math.ceil(durationSeconds(forText ?? "") / 60);
  if (minutes <= 0) return { attempts: 1, retry: 1 };
  const retry = Math.max(1, Math.ceil(minutes / MAX_RETRIES));
  return { attempts: 1 + Math.ceil(minutes / retry), retry };
}

const UNIT_SECONDS: Record<string, number> = {
  ms: 0.001,
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
  w: 604800,
  y: 31536000,
};

function durationSeconds(text: string): number {
  let total = 0;
  for (const m of text.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)) {
    total += Number(m[1]) * (UNIT_SECONDS[m[2] as string] ?? 0);
  }
  return total;
}

function describeSource(s: Source): string {
  return s.reason ? `${s.kind} ${s.name} (${s.reason})` : `${s.kind} ${s.name}`;
}

/**
 * Object files end a value at `;` (a comment) and at the line end; `$` starts a macro.
 * Free text (descriptions, notes) is flattened so it cannot break the file.
 */
function clean(text: string): string {
  return text
    .replace(/[\r\n\t]+/g, " ")
    .replace(/;/g, ",")
    .replace(/\$/g, "")
    .replace(/ {2,}/g, " ")
    .trim();
}

/** `!` separates command arguments; Naemon reads `\!` as a literal one. */
function escapeArg(arg: string): string {
  return arg.replace(/!/g, "\\!");
}

const HEADER = [
  "# Generated by Lab from the model: do not edit, change the model and render again.",
  "# Nagios/Naemon object format; check with `naemon -v` or `nagios4 -v` on the main config.",
];

function define(type: string, directives: [string, string | number | undefined][]): string {
  const present = directives.filter((d): d is [string, string | number] => d[1] !== undefined);
  const width = Math.max(...present.map(([k]) => k.length)) + 2;
  const lines = present.map(([k, v]) => {
    const value = String(v);
    return value === "" ? `  ${k}` : `  ${k.padEnd(width)}${value}`;
  });
  return [`define ${type} {`, ...lines, "}"].join("\n");
}

function file(path: string, comment: string[], blocks: string[]): RenderedFile {
  const head = [...HEADER, ...comment.map((c) => `# ${c}`)].join("\n");
  return { path, content: `${[head, ...blocks].join("\n\n")}\n` };
}

function templatesFile(): RenderedFile {
  const days = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];
  return file(
    "templates.cfg",
    ["Lab's timeperiod, contact and templates: everything the hosts and services below refer to."],
    [
      define("timeperiod", [
        ["timeperiod_name", TIMEPERIOD],
        ["alias", "Always (Lab)"],
        ...days.map((d): [string, string] => [d, "00:00-24:00"]),
      ]),
      define("contact", [
        ["contact_name", CONTACT],
        ["alias", "Lab administrators (lab_notify_none: replace with your notification command)"],
        ["host_notifications_enabled", 1],
        ["service_notifications_enabled", 1],
        ["host_notification_period", TIMEPERIOD],
        ["service_notification_period", TIMEPERIOD],
        ["host_notification_options", "d,u,r"],
        ["service_notification_options", "w,u,c,r"],
        ["host_notification_commands", "lab_notify_none"],
        ["service_notification_commands", "lab_notify_none"],
      ]),
      define("contactgroup", [
        ["contactgroup_name", CONTACT],
        ["alias", "Lab administrators"],
        ["members", CONTACT],
      ]),
      define("host", [
        ["name", HOST_TEMPLATE],
        ["register", 0],
        ["check_command", "lab_check_host_alive"],
        ["check_period", TIMEPERIOD],
        ["check_interval", 5],
        ["retry_interval", 1],
        ["max_check_attempts", 3],
        ["active_checks_enabled", 1],
        ["passive_checks_enabled", 1],
        ["notifications_enabled", 1],
        ["notification_period", TIMEPERIOD],
        ["notification_interval", 60],
        ["notification_options", "d,u,r"],
        ["contact_groups", CONTACT],
        ["event_handler_enabled", 0],
        ["flap_detection_enabled", 1],
        ["process_perf_data", 1],
        ["retain_status_information", 1],
        ["retain_nonstatus_information", 1],
      ]),
      define("service", [
        ["name", SERVICE_TEMPLATE],
        ["register", 0],
        ["check_period", TIMEPERIOD],
        ["check_interval", 1],
        ["retry_interval", 1],
        ["max_check_attempts", 3],
        ["active_checks_enabled", 1],
        ["passive_checks_enabled", 1],
        ["notifications_enabled", 1],
        ["notification_period", TIMEPERIOD],
        ["notification_interval", 60],
        ["notification_options", "w,u,c,r"],
        ["contact_groups", CONTACT],
        ["event_handler_enabled", 0],
        ["flap_detection_enabled", 1],
        ["process_perf_data", 1],
        ["retain_status_information", 1],
        ["retain_nonstatus_information", 1],
      ]),
    ],
  );
}

function commandsFile(): RenderedFile {
  const names = Object.keys(NAEMON_COMMANDS).sort(byString);
  return file(
    "commands.cfg",
    ["$USER1$ is the plugin directory (resource.cfg), e.g. /usr/lib/nagios/plugins."],
    names.map((name) =>
      define("command", [
        ["command_name", name],
        ["command_line", NAEMON_COMMANDS[name]],
      ]),
    ),
  );
}

function hostsFile(plan: NaemonPlan): RenderedFile {
  return file(
    "hosts.cfg",
    ["One host per Lab server; host_name is the server's name."],
    plan.hosts.map((h) =>
      define("host", [
        ["use", HOST_TEMPLATE],
        ["host_name", h.name],
        ["alias", clean(h.alias)],
        ["address", clean(h.address)],
        ["_LAB_LABELS", h.labels.join(",")],
        ["_LAB_PROVIDER", h.provider],
        ["_LAB_ENVIRONMENT", h.environment ?? ""],
      ]),
    ),
  );
}

function hostgroupsFile(plan: NaemonPlan): RenderedFile {
  const comment = ["One hostgroup per Lab group (members as Lab resolves them, exclusions applied)"];
  comment.push(
    `and one ${ENV_HOSTGROUP_PREFIX}<environment> per environment. Empty groups have no members line.`,
  );
  for (const env of plan.shadowedEnvironments) {
    comment.push(`${ENV_HOSTGROUP_PREFIX}${env} is the Lab group of that name, not environment ${env}.`);
  }
  return file(
    "hostgroups.cfg",
    comment,
    plan.hostgroups.map((g) =>
      define("hostgroup", [
        ["hostgroup_name", g.name],
        ["alias", g.alias],
        ["members", g.members.length ? g.members.join(",") : undefined],
      ]),
    ),
  );
}

function servicesFiles(plan: NaemonPlan): RenderedFile[] {
  const files = new Map<string, { services: NaemonService[]; skipped: NaemonSkipped[] }>();
  const entry = (f: string) => {
    let e = files.get(f);
    if (!e) {
      e = { services: [], skipped: [] };
      files.set(f, e);
    }
    return e;
  };
  for (const s of plan.services) entry(s.file).services.push(s);
  for (const s of plan.skipped) entry(s.file).skipped.push(s);
  return [...files.keys()].sort(byString).map((stem) => {
    const { services, skipped } = entry(stem);
    const comment = [`Checks Lab placed in ${stem}.`];
    for (const s of skipped) comment.push(`not rendered: ${s.alert} on ${s.server}: ${s.reason}`);
    return file(
      `services/${stem}.cfg`,
      comment,
      services.map((s) =>
        define("service", [
          ["use", SERVICE_TEMPLATE],
          ["host_name", s.host],
          ["service_description", s.description],
          ["check_command", [s.command, ...s.args.map(escapeArg)].join("!")],
          ["max_check_attempts", s.maxCheckAttempts],
          ["retry_interval", s.retryInterval],
          ["notes", s.notes],
          ["_LAB_ALERT", s.description],
          ["_LAB_SEVERITY", s.severity],
          ["_LAB_PLACEMENT", s.file],
        ]),
      ),
    );
  });
}

/**
 * The fleet as Naemon objects: templates, commands, hosts, hostgroups and one services file
 * per placement file. Sorted throughout; no timestamps, so the same model gives the same bytes.
 */
export function renderNaemon(fleet: Fleet): RenderedFile[] {
  const plan = planNaemon(fleet);
  return [
    templatesFile(),
    commandsFile(),
    hostsFile(plan),
    hostgroupsFile(plan),
    ...servicesFiles(plan),
  ].sort((a, b) => byString(a.path, b.path));
}

export interface MainConfigOptions {
  /** Folders holding the rendered objects (cfg_dir). */
  objectDirs: string[];
  /** Where the daemon keeps its log, status.dat, lock, spool and sockets. */
  stateDir: string;
  /** $USER1$ (default /usr/lib/nagios/plugins, Debian's). */
  pluginDir?: string;
  /** The user and group the daemon runs as (nagios_user, nagios_group). */
  user?: string;
  group?: string;
  /** Further main-config settings, appended in order (later ones win). */
  extra?: Record<string, string | number>;
}

/**
 * A minimal Nagios 4 main config (`nagios.cfg`, plus its `resource.cfg`) around rendered
 * objects: everything inside `stateDir`, no external command pipe, no state retention.
 * For validating the objects (`nagios4 -v nagios.cfg`) and for running a throwaway daemon;
 * a real installation keeps its own main config and points a cfg_dir at Lab's folder.
 */
export function nagiosMainConfig(options: MainConfigOptions): RenderedFile[] {
  const s = options.stateDir;
  const settings: [string, string | number][] = [
    ...options.objectDirs.map((d): [string, string] => ["cfg_dir", d]),
    ["resource_file", `${s}/resource.cfg`],
    ["log_file", `${s}/nagios.log`],
    ["status_file", `${s}/status.dat`],
    ["object_cache_file", `${s}/objects.cache`],
    ["precached_object_file", `${s}/objects.precache`],
    ["temp_file", `${s}/nagios.tmp`],
    ["temp_path", s],
    ["lock_file", `${s}/nagios.lock`],
    ["check_result_path", `${s}/checkresults`],
    ["command_file", `${s}/nagios.cmd`],
    ["query_socket", `${s}/nagios.qh`],
    ["state_retention_file", `${s}/retention.dat`],
    ["retain_state_information", 0],
    ["check_external_commands", 0],
    ["use_syslog", 0],
    ["enable_notifications", 1],
    ["illegal_object_name_chars", "`~!$%^&*|'\"<>?,()="],
    ["illegal_macro_output_chars", "`~$&|'\"<>"],
  ];
  if (options.user) settings.push(["nagios_user", options.user]);
  if (options.group) settings.push(["nagios_group", options.group]);
  for (const [k, v] of Object.entries(options.extra ?? {})) settings.push([k, v]);
  return [
    { path: "nagios.cfg", content: `${settings.map(([k, v]) => `${k}=${v}`).join("\n")}\n` },
    { path: "resource.cfg", content: `$USER1$=${options.pluginDir ?? "/usr/lib/nagios/plugins"}\n` },
  ];
}
