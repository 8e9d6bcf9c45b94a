/**
 * The declarative model's one schema source. YAML files, HTTP bodies and the stored state are
 * all checked against these shapes; the TypeScript types are inferred from them.
 */
import { z } from "zod";
import { LabError } from "./errors.js";
import { type LayoutSpec, layoutSchema } from "./layout.js";

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const SECRET_PATH = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;
/** Prometheus-style durations: 30s, 5m, 1h30m, 90d. */
const DURATION = /^(\d+(ms|s|m|h|d|w|y))+$/;

export const nameSchema = z
  .string({ error: "expected a name (text)" })
  .regex(NAME, { error: "names start with a letter or digit and use only letters, digits, . _ -" });

/**
 * A server's name is its host name (install configs, join tokens, certificates, DNS), so it is
 * one RFC 1123 label: lower-case letters, digits and inner hyphens, at most 63 characters.
 */
export const SERVER_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const SERVER_NAME_RULE =
  "server names are host names: 1-63 lower-case letters, digits and '-', not starting or ending with '-'";

export const serverNameSchema = z
  .string({ error: "expected a server name (text)" })
  .regex(SERVER_NAME, { error: SERVER_NAME_RULE });

/** The one check for a server name wherever one enters Lab (YAML, CLI, API, enrolment). */
export function checkServerName(name: string): string {
  if (!SERVER_NAME.test(name)) {
    throw new LabError(
      "LAB_E_SERVER_NAME",
      `"${name.slice(0, 80)}" is not a server name: ${SERVER_NAME_RULE}`,
    );
  }
  return name;
}

const secretPath = z
  .string({ error: "expected a secret path (text)" })
  .regex(SECRET_PATH, { error: "secret paths use letters, digits, . _ - and /" });

const duration = z
  .string({ error: "expected a duration such as 5m" })
  .regex(DURATION, { error: "expected a duration such as 30s, 5m, 1h or 90d" });

/** `prod` and `[prod, dev]` both mean "any of these". */
const oneOrMany = <T extends z.ZodType<string>>(item: T) =>
  z
    .union([item, z.array(item)], { error: "expected a name or a list of names" })
    .transform((v): string[] => (Array.isArray(v) ? v : [v]));

const nameList = z.array(nameSchema, { error: "expected a list of names" });

/**
 * A targeting selector: a list inside one key is any-of, different keys are all-of.
 * Used by group `match:`, alert `target:` and every `exclude:`.
 */
export const selectorSchema = z.strictObject(
  {
    labels: oneOrMany(nameSchema).optional(),
    groups: oneOrMany(nameSchema).optional(),
    servers: oneOrMany(nameSchema).optional(),
    environment: oneOrMany(nameSchema).optional(),
    region: oneOrMany(nameSchema).optional(),
  },
  { error: "expected a selector (labels, groups, servers, environment, region)" },
);

export const labelSchema = z.strictObject(
  {
    description: z.string().optional(),
    puppet_classes: z.array(z.string({ error: "expected a class name" })).optional(),
    ports: z
      .array(
        z
          .number({ error: "expected a port number" })
          .int()
          .min(1, { error: "ports are 1–65535" })
          .max(65535, { error: "ports are 1–65535" }),
        { error: "expected a list of port numbers" },
      )
      .optional(),
    size: nameSchema.optional(),
    alerts: nameList.optional(),
    /** Which monitoring backend renders the alerts this label attaches. */
    alert_backend: z
      .enum(["prometheus", "naemon"], { error: "alert_backend is prometheus or naemon" })
      .optional(),
    secrets: z.array(secretPath, { error: "expected a list of secret paths" }).optional(),
  },
  { error: "expected a label definition (a map; `{}` for a plain tag)" },
);

export const groupSchema = z.strictObject(
  {
    description: z.string().optional(),
    match: selectorSchema.optional(),
    groups: nameList.optional(),
    servers: nameList.optional(),
    exclude: selectorSchema.optional(),
  },
  { error: "expected a group definition (match, groups, servers, exclude)" },
);

const quantity = z.union([z.number(), z.string()], { error: "expected a number or 8GB-style text" });

export const sizeSchema = z.strictObject(
  {
    description: z.string().optional(),
    abstract: z
      .strictObject({
        cores: z.number({ error: "expected a number of cores" }).int().positive().optional(),
        memory: quantity.optional(),
        disk: quantity.optional(),
        gpus: z.number().int().nonnegative().optional(),
      })
      .optional(),
    providers: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
  },
  { error: "expected a size definition (abstract, providers)" },
);

export const SEVERITIES = ["info", "warning", "critical"] as const;

export const alertSchema = z.strictObject(
  {
    name: nameSchema,
    description: z.string().optional(),
    /** Without a target, the alert applies only where labels or classes attach it by name. */
    target: selectorSchema.optional(),
    exclude: selectorSchema.optional(),
    condition: z.string({ error: "expected a condition such as disk_usage_percent > 85" }),
    for: duration.optional(),
    severity: z.enum(SEVERITIES, { error: "severity is one of info, warning, critical" }).optional(),
    backend: z.enum(["prometheus", "naemon"], { error: "backend is prometheus or naemon" }).optional(),
  },
  { error: "expected an alert (name, target, condition, severity)" },
);

export const secretSchema = z.strictObject(
  {
    description: z.string().optional(),
    type: z.enum(["static", "dynamic"], { error: "type is static or dynamic" }),
    generator: z.string().optional(),
    rotate_every: duration.optional(),
    set_by: z.string().optional(),
    per_machine: z.boolean({ error: "expected true or false" }).optional(),
    exclude: selectorSchema.optional(),
    /** generator: password — how long, from which characters. */
    length: z.number({ error: "expected a length" }).int().min(8).max(4096).optional(),
    charset: z
      .enum(["alnum", "hex", "base64url", "printable"], {
        error: "charset is alnum, hex, base64url or printable",
      })
      .optional(),
    /** generator: command — argv run on the store; its standard output is the value. */
    command: z.array(z.string(), { error: "expected the command as a list of words" }).min(1).optional(),
  },
  { error: "expected a secret definition (type, generator, rotate_every, …)" },
);

/**
 * How Lab switches a machine on and off (docs/power.md). Passwords are never inline: they
 * name a secret (`password_secret`, a path in Lab's secret store) or an environment variable
 * of the process that runs the driver (`password_env`).
 */
const credentials = {
  user: z.string({ error: "expected the user name" }).min(1),
  password_secret: secretPath.optional(),
  password_env: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "expected an environment variable name" })
    .optional(),
};
const port = z
  .number({ error: "expected a port number" })
  .int()
  .min(1, { error: "ports are 1–65535" })
  .max(65535, { error: "ports are 1–65535" });

export const POWER_DRIVERS = ["ipmi", "redfish", "qmp", "libvirt", "relay", "manual"] as const;

export const powerSchema = z.discriminatedUnion(
  "driver",
  [
    z.strictObject({
      driver: z.literal("ipmi"),
      host: z.string({ error: "expected the BMC's host name or address" }).min(1),
      port: port.optional(),
      cipher: z.number().int().min(0).max(17).optional(),
      ...credentials,
    }),
    z.strictObject({
      driver: z.literal("redfish"),
      url: z.url({ error: "expected the BMC's https:// URL" }),
      system: z.string().startsWith("/redfish/v1/").optional(),
      /** The BMC's CA certificate (PEM), to verify its https:// certificate. */
      ca_file: z.string().optional(),
      /** Or pin the BMC certificate's SHA-256 fingerprint (64 hex digits, colons optional). */
      fingerprint: z
        .string()
        .regex(/^([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$/, {
          error: "expected a SHA-256 fingerprint (64 hex digits)",
        })
        .optional(),
      /** Skip verification: anyone on the path can read the BMC password. Named so on purpose. */
      insecure_skip_verify: z.boolean().optional(),
      ...credentials,
    }),
    z.strictObject({
      driver: z.literal("qmp"),
      socket: z.string({ error: "expected the QMP socket's path (or tcp:HOST:PORT)" }).min(1),
      pxe_device: z.string().optional(),
      disk_device: z.string().optional(),
    }),
    z.strictObject({
      driver: z.literal("libvirt"),
      uri: z.string().optional(),
      domain: z.string({ error: "expected the libvirt domain's name" }).min(1),
    }),
    z.strictObject({
      driver: z.literal("relay"),
      device: z.string({ error: "expected the serial device, e.g. /dev/ttyUSB0" }).min(1),
      channel: z.number({ error: "expected the relay port number" }).int().min(1).max(64),
    }),
    z.strictObject({
      driver: z.literal("manual"),
      instructions: z.string().max(500).optional(),
    }),
  ],
  { error: `power.driver is one of ${POWER_DRIVERS.join(", ")}` },
);

export type PowerSpec = z.infer<typeof powerSchema>;

export const serverSchema = z.strictObject(
  {
    description: z.string().optional(),
    provider: nameSchema,
    labels: nameList.optional(),
    environment: nameSchema.optional(),
    region: nameSchema.optional(),
    size: nameSchema.optional(),
    /** The image a bare-metal server is installed with. */
    image: nameSchema.optional(),
    host: z.string({ error: "expected a host name or address" }).optional(),
    mac: z
      .string()
      .regex(/^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$/, { error: "expected a MAC such as aa:bb:cc:dd:ee:ff" })
      .optional(),
    attributes: z.record(z.string(), z.unknown()).optional(),
    power: powerSchema.optional(),
    /** Mount points it should have besides the system's; providers that see inside compare them. */
    mounts: z
      .array(z.string().regex(/^\/\S*$/, { error: "expected an absolute mount point such as /srv/data" }))
      .max(256)
      .optional(),
  },
  { error: "expected a server definition (provider, labels, environment, …)" },
);

/**
 * An installable image: kernel + initrd booted by iPXE, and the unattended-install format
 * Lab renders per machine. Files are URLs or paths under LAB_HOME/images/<name>/.
 */
export const imageSchema = z.strictObject(
  {
    description: z.string().optional(),
    format: z.enum(["autoinstall", "kickstart", "preseed", "talos", "none"], {
      error: "expected autoinstall, kickstart, preseed, talos or none",
    }),
    arch: z.enum(["x86_64", "aarch64"], { error: "expected x86_64 or aarch64" }).optional(),
    kernel: z.string({ error: "expected the kernel's URL or file name" }).min(1),
    initrd: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)], {
        error: "expected the initrd's URL or file name (or a list of them)",
      })
      .transform((v): string[] => (Array.isArray(v) ? v : [v])),
    cmdline: z.string().optional(),
    /** The installer's package mirror or ISO (kickstart inst.repo, preseed mirror, autoinstall ISO). */
    repo: z.string().optional(),
    talos: z
      .strictObject({
        mode: z.enum(["pull", "push"]),
        version: z.string().optional(),
        /** The secret holding the cluster's machine config (`talosctl gen config` output). */
        machine_config: z.string().min(1).optional(),
      })
      .optional(),
    /**
     * The same image as each provider names it, so one `image: ubuntu-24.04` serves a bare-metal
     * install (kernel + initrd above), an EC2 instance (its AMI) and a libvirt VM (a volume in
     * the pool it is cloned from).
     */
    providers: z
      .strictObject(
        {
          aws: z
            .strictObject({
              ami: z.string().regex(/^ami-[0-9a-f]+$/, { error: "expected an AMI id such as ami-0abc123…" }),
            })
            .optional(),
          libvirt: z.strictObject({ volume: z.string().min(1) }).optional(),
        },
        {
          error: "expected a map of provider to its name for the image: aws: {ami: …}, libvirt: {volume: …}",
        },
      )
      .optional(),
  },
  { error: "expected an image definition (format, kernel, initrd, cmdline, providers, …)" },
);

const positive = (what: string) =>
  z.number({ error: `expected a number (${what})` }).positive({ error: `${what} must be above 0` });

/** Facts a machine must show to earn a label at onboarding; every condition must hold. */
export const labelRuleConditionSchema = z
  .strictObject({
    /** Any GPU from this vendor. */
    gpuVendor: z.enum(["nvidia", "amd", "intel", "other"]).optional(),
    /** Memory as sold (a 128 GB machine reports ~120 GiB). */
    minMemoryGB: positive("minMemoryGB").optional(),
    /** `uname -m`; arm64/amd64 are accepted for aarch64/x86_64. */
    arch: z.string().min(1).max(32).optional(),
    /** Any disk of this type; with minDiskTB, their total capacity. */
    diskType: z.enum(["nvme", "ssd", "hdd", "virtual", "usb", "unknown"]).optional(),
    /** Total capacity in decimal TB of `diskType` disks, or of all fixed disks. */
    minDiskTB: positive("minDiskTB").optional(),
    /** Physical cores over all sockets. */
    minCores: z.number().int({ error: "minCores must be a whole number" }).positive().optional(),
    /** Any NIC whose link speed is at least this. */
    nicMinSpeedGbps: positive("nicMinSpeedGbps").optional(),
  })
  .refine((w) => Object.values(w).some((v) => v !== undefined), {
    error: "a rule needs at least one condition under `when:`",
  });

/** `label_rules:`, keyed by the label a machine earns: `cuda: {when: {gpuVendor: nvidia}}`. */
export const labelRuleSchema = z.strictObject(
  {
    when: labelRuleConditionSchema,
    /** Why the label follows from the facts; shown after them. */
    reason: z.string().max(256).optional(),
  },
  { error: "expected a label rule (when, reason)" },
);

/** A Puppet class's monitoring: the alerts it brings wherever it is applied. */
export const classSchema = z.strictObject(
  {
    description: z.string().optional(),
    alerts: nameList.optional(),
  },
  { error: "expected a class definition (alerts, description)" },
);

const CLASS_NAME = /^[a-z][a-z0-9_]*(::[a-z0-9_]+)*$/;
const className = z.string().regex(CLASS_NAME, { error: "class names look like postgresql::server" });

/**
 * A lab: machines and the ordered steps that bring them up (docs/labs.md). Each step runs on
 * every machine it names (default: all, in the order listed) and fails after its `timeout`.
 */
const stepBase = {
  /** What the step is called in progress lines, reports and the dashboard's slides. */
  name: z.string().min(1).max(120).optional(),
  /** Machines this step runs on (default: the lab's machines, in order). */
  machines: z.array(serverNameSchema).optional(),
  timeout: duration.optional(),
  /** Words for the dashboard's slide: what should be happening now. */
  explain: z.string().max(1000).optional(),
};
const argv = z.array(z.string(), { error: "expected the command as a list of words" }).min(1);

export const LAB_ACTIONS = [
  "wipe-disks",
  "set-next-boot",
  "power-on",
  "power-off",
  "power-cycle",
  "wait-boot-stage",
  "wait-port",
  "wait-callback",
  "wait-install-state",
  "wait-enrolled",
  "forget",
  "install",
  "push-config",
  "agent-command",
  "host-command",
  "sleep",
  "chaos-power-off",
  "chaos-cut-network",
  "chaos-restart-service",
] as const;

export const labStepSchema = z.discriminatedUnion(
  "action",
  [
    z.strictObject({
      action: z.literal("wipe-disks"),
      paths: z.array(z.string()).optional(),
      devices: z.array(z.string()).optional(),
      ...stepBase,
    }),
    z.strictObject({ action: z.literal("set-next-boot"), device: z.enum(["pxe", "disk"]), ...stepBase }),
    z.strictObject({ action: z.literal("power-on"), interval: duration.optional(), ...stepBase }),
    z.strictObject({ action: z.literal("power-off"), ...stepBase }),
    z.strictObject({ action: z.literal("power-cycle"), ...stepBase }),
    z.strictObject({
      action: z.literal("wait-boot-stage"),
      /** A boot timeline step type, matched as a substring: `dispatch`, `ack`, `INSTALLED`. */
      stage: z.string().min(1),
      ...stepBase,
    }),
    z.strictObject({ action: z.literal("wait-port"), port, host: z.string().optional(), ...stepBase }),
    z.strictObject({
      action: z.literal("wait-callback"),
      key: z.string().min(1),
      status: z.enum(["ok", "warning", "failed"]).optional(),
      /** Count reports since the run began (default) or only since this step began. */
      since: z.enum(["run", "step"]).optional(),
      ...stepBase,
    }),
    z.strictObject({ action: z.literal("wait-install-state"), state: z.string().min(1), ...stepBase }),
    /** The machine's agent enrolled (with its join token) and sent a heartbeat since the run began. */
    z.strictObject({ action: z.literal("wait-enrolled"), ...stepBase }),
    /** Lab forgets the machine (its next network boot is a discovery); nothing if it is unknown. */
    z.strictObject({ action: z.literal("forget"), ...stepBase }),
    /** Queue an install of `image` (a discovered or failed machine; an installed one is reprovisioned). */
    z.strictObject({ action: z.literal("install"), image: z.string().min(1), ...stepBase }),
    z.strictObject({
      action: z.literal("push-config"),
      port,
      /** Path on the machine's HTTP endpoint; the file's content is PUT there once the port answers. */
      path: z.string().startsWith("/").default("/"),
      file: z.string().min(1),
      method: z.enum(["PUT", "POST"]).optional(),
      ...stepBase,
    }),
    z.strictObject({ action: z.literal("agent-command"), command: argv, ...stepBase }),
    /** On the host running the lab, with LAB_MACHINE set (QEMU, a netns, a test rig). */
    z.strictObject({ action: z.literal("host-command"), command: argv, ...stepBase }),
    z.strictObject({ action: z.literal("sleep"), for: duration, ...stepBase }),
    z.strictObject({
      action: z.literal("chaos-power-off"),
      count: z.number().int().positive().optional(),
      ...stepBase,
    }),
    z.strictObject({ action: z.literal("chaos-cut-network"), command: argv, ...stepBase }),
    z.strictObject({
      action: z.literal("chaos-restart-service"),
      service: z.string().min(1),
      /** How this machine restarts it, through its agent (default: systemctl restart SERVICE). */
      command: argv.optional(),
      ...stepBase,
    }),
  ],
  { error: `a step's action is one of ${LAB_ACTIONS.join(", ")}` },
);

export const labSchema = z.strictObject(
  {
    description: z.string().optional(),
    machines: z.array(serverNameSchema, { error: "expected a list of server names" }).min(1),
    steps: z.array(labStepSchema, { error: "expected a list of steps" }).min(1),
    /** A step without its own timeout gets this (default 5m). */
    default_timeout: duration.optional(),
  },
  { error: "expected a lab definition (machines, steps)" },
);

export type LabStepSpec = z.infer<typeof labStepSchema>;
export type LabSpec = z.infer<typeof labSchema>;

/** A Kubernetes namespace or object name: an RFC 1123 label, as the API server requires. */
export const K8S_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export const CLUSTER_TYPES = ["k8s", "k3s"] as const;

/**
 * The k3s module's record of a cluster: the server new nodes join through, and whether Lab
 * created the cluster there or found it on the machines (made outside Lab, or Lab's state lost)
 * and joined it. Never the token: that stays on the servers.
 */
export const k3sRecordSchema = z.strictObject(
  {
    join_server: serverNameSchema,
    /** created: Lab's first apply created it; joined: it existed and Lab joined nodes to it. */
    origin: z.enum(["created", "joined"], { error: "origin is created or joined" }).optional(),
  },
  { error: "expected k3s: { join_server: SERVER, origin: created|joined }" },
);

/**
 * A Kubernetes cluster Lab deploys to (docs/kubernetes.md). Its nodes are Lab servers: the
 * control plane by name (`servers:`, the first one initialises a k3s cluster) and the rest by a
 * selector (`members:`). The kubeconfig is never inline: it names a secret in Lab's store.
 */
export const clusterSchema = z.strictObject(
  {
    description: z.string().optional(),
    type: z.enum(CLUSTER_TYPES, { error: "a cluster's type is k8s or k3s" }),
    /** The API server's URL; a kubeconfig's own server wins when they differ (describe says so). */
    api_server: z.url({ protocol: /^https$/, error: "expected the API server's https:// URL" }).optional(),
    /** Control-plane servers, by name; for k3s the first one creates the cluster. */
    servers: z.array(serverNameSchema, { error: "expected a list of server names" }).optional(),
    /** Worker nodes, by selector (labels, groups, servers, environment, region). */
    members: selectorSchema.optional(),
    /** Worker nodes by name (`lab apply cluster --agents` records them here). */
    agents: z.array(serverNameSchema, { error: "expected a list of server names" }).optional(),
    /** What the k3s module recorded when it created or joined the cluster (`lab apply cluster`). */
    k3s: k3sRecordSchema.optional(),
    /** The secret holding the cluster's kubeconfig (set it with `lab secret set PATH --from-file`). */
    kubeconfig_secret: secretPath.optional(),
    /** Where `lab deploy` puts workloads (default "default"). */
    namespace: z
      .string()
      .regex(K8S_NAME, { error: "a namespace is lower-case letters, digits and -, at most 63" })
      .optional(),
  },
  {
    error: "expected a cluster definition (type, api_server, servers, members, agents, kubeconfig_secret)",
  },
);

export type ClusterSpec = z.infer<typeof clusterSchema>;

function isCalendarDate(d: string): boolean {
  const t = Date.parse(`${d}T00:00:00Z`);
  return !Number.isNaN(t) && new Date(t).toISOString().startsWith(d);
}

/** A calendar date as YAML writes it unquoted (2026-12-08); a Date (YAML 1.1 readers) becomes one too. */
const isoDate = z.preprocess(
  (v) => (v instanceof Date ? v.toISOString().slice(0, 10) : v),
  z
    .string({ error: "expected a date such as 2026-12-08" })
    .regex(/^\d{4}-\d{2}-\d{2}$/, { error: "expected a date such as 2026-12-08" })
    .refine(isCalendarDate, { error: "expected a real calendar date such as 2026-12-08" }),
);

/**
 * One provider's price table (`prices: {aws: …}`), keyed by the provider's name: price per
 * hour by instance type (aws) or by size name (any provider), for `lab render --all-providers`.
 * It replaces the shipped default for that provider as a whole, so every figure shown comes
 * from one dated table (docs/providers.md).
 */
export const priceSchema = z.strictObject(
  {
    description: z.string().optional(),
    /** When these figures were read off their source: shown with every estimate. */
    as_of: isoDate,
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, { error: "a currency is a 3-letter ISO code such as USD" })
      .optional(),
    region: z.string().min(1).optional(),
    /** Where the figures come from (a pricing page, a quote), for whoever checks them. */
    source: z.string().optional(),
    hourly: z
      .record(
        z.string().min(1),
        z
          .number({ error: "expected a price per hour (a number)" })
          .nonnegative({ error: "a price per hour is 0 or more" }),
        { error: "expected a map of instance type or size name → price per hour" },
      )
      .refine((m) => Object.keys(m).length > 0, { error: "hourly: lists at least one price" }),
  },
  { error: "expected a price table (as_of, currency, region, source, hourly)" },
);

export type PriceSpec = z.infer<typeof priceSchema>;

/** One YAML document. Every top-level key is optional; several documents and files merge. */
export const documentSchema = z.strictObject(
  {
    // `arm:` with no value is a plain tag, the same as `arm: {}`.
    labels: z
      .record(
        nameSchema,
        z.preprocess((v) => v ?? {}, labelSchema),
      )
      .optional(),
    groups: z.record(nameSchema, groupSchema).optional(),
    sizes: z.record(nameSchema, sizeSchema).optional(),
    alerts: z.array(alertSchema, { error: "expected a list of alerts" }).optional(),
    secrets: z.record(secretPath, secretSchema).optional(),
    servers: z.record(serverNameSchema, serverSchema).optional(),
    classes: z.record(className, classSchema).optional(),
    images: z.record(nameSchema, imageSchema).optional(),
    label_rules: z.record(nameSchema, labelRuleSchema).optional(),
    layout: z.record(nameSchema, layoutSchema).optional(),
    labs: z.record(nameSchema, labSchema).optional(),
    clusters: z.record(nameSchema, clusterSchema).optional(),
    prices: z.record(nameSchema, priceSchema).optional(),
  },
  {
    error:
      "expected a map with labels, groups, sizes, alerts, secrets, servers, classes, images, label_rules, layout, labs, clusters or prices",
  },
);

export type SelectorSpec = z.infer<typeof selectorSchema>;
export type LabelSpec = z.infer<typeof labelSchema>;
export type GroupSpec = z.infer<typeof groupSchema>;
export type SizeSpec = z.infer<typeof sizeSchema>;
export type AlertSpec = z.infer<typeof alertSchema>;
export type SecretSpec = z.infer<typeof secretSchema>;
export type ServerSpec = z.infer<typeof serverSchema>;
export type ClassSpec = z.infer<typeof classSchema>;
export type ImageSpec = z.infer<typeof imageSchema>;
export type LabelRuleSpec = z.infer<typeof labelRuleSchema>;
export type DocumentSpec = z.infer<typeof documentSchema>;

/** The kinds of object the model holds, in the order they are listed and applied. */
export const KINDS = [
  "size",
  "class",
  "image",
  "label",
  "label_rule",
  "secret",
  "server",
  "group",
  "alert",
  "layout",
  "lab",
  "cluster",
  "price",
] as const;
export type Kind = (typeof KINDS)[number];

/** Spec type per kind. Alerts keep their name inside the spec, as the YAML has it. */
export interface SpecOf {
  label: LabelSpec;
  group: GroupSpec;
  size: SizeSpec;
  alert: AlertSpec;
  secret: SecretSpec;
  server: ServerSpec;
  class: ClassSpec;
  image: ImageSpec;
  label_rule: LabelRuleSpec;
  layout: LayoutSpec;
  lab: LabSpec;
  cluster: ClusterSpec;
  price: PriceSpec;
}

/** The top-level YAML key that holds each kind. */
export const SECTION: Record<Kind, keyof DocumentSpec> = {
  label: "labels",
  group: "groups",
  size: "sizes",
  alert: "alerts",
  secret: "secrets",
  server: "servers",
  class: "classes",
  image: "images",
  label_rule: "label_rules",
  // Singular, as the YAML writes it; `lab get layouts` works too (KIND_ALIASES).
  layout: "layout",
  lab: "labs",
  cluster: "clusters",
  price: "prices",
};

/** The plural of each kind is its YAML section (`classes`, `label_rules`), never `kind + "s"`. */
const KIND_ALIASES: Record<string, Kind> = {
  ...Object.fromEntries(
    KINDS.flatMap((k) => [
      [k, k],
      [SECTION[k], k],
    ]),
  ),
  layouts: "layout",
};

/** A kind from its singular or plural word (`class`, `classes`; `-` may stand for `_`). */
export function kindFromWord(word: string): Kind | undefined {
  return KIND_ALIASES[word.toLowerCase().replaceAll("-", "_")];
}

/** Per-kind schema, for checking one object at a time (HTTP bodies, stored rows). */
export const SPEC_SCHEMA: { [K in Kind]: z.ZodType<SpecOf[K]> } = {
  label: labelSchema as z.ZodType<LabelSpec>,
  group: groupSchema as z.ZodType<GroupSpec>,
  size: sizeSchema,
  alert: alertSchema as z.ZodType<AlertSpec>,
  secret: secretSchema as z.ZodType<SecretSpec>,
  server: serverSchema,
  class: classSchema,
  image: imageSchema as z.ZodType<ImageSpec>,
  label_rule: labelRuleSchema as z.ZodType<LabelRuleSpec>,
  layout: layoutSchema as unknown as z.ZodType<LayoutSpec>,
  lab: labSchema as z.ZodType<LabSpec>,
  cluster: clusterSchema as z.ZodType<ClusterSpec>,
  price: priceSchema as z.ZodType<PriceSpec>,
};

/** Known keys of each object shape, for "did you mean" on unknown keys. */
export function knownKeys(schema: z.ZodType): string[] {
  const def = (schema as unknown as { shape?: Record<string, unknown> }).shape;
  return def ? Object.keys(def) : [];
}
