/**
 * The API's one schema source: request shapes are validated with these zod schemas, and the
 * OpenAPI document is generated from the same schemas. Response schemas are checked against
 * the engine's TypeScript types at compile time (see the `Same<…>` assertions).
 */
import {
  type ApiToken,
  type ApplyResult,
  type AuditEvent,
  type Diagnostic,
  type LabelRow,
  type Resolution,
  SCOPES,
  type Scope,
  type ServerRow,
  type Source,
} from "@lab/core";
import { z } from "zod";

// ---------- requests ----------

export const sourceFileSchema = z.strictObject({
  path: z.string().min(1).max(4096),
  text: z.string(),
});

export const applyRequestSchema = z.strictObject({
  files: z.array(sourceFileSchema).min(1),
  dryRun: z.boolean().optional(),
  prune: z.boolean().optional(),
});

const csv = z
  .string()
  .transform((s) =>
    s
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .optional();

/** `?label=a,b&group=g&environment=prod&region=eu&exclude=s1`: the CLI's filters. */
export const filterQuerySchema = z.strictObject({
  label: csv,
  group: csv,
  environment: csv,
  region: csv,
  exclude: csv,
  wide: z.enum(["true", "false"]).optional(),
});

export const eventQuerySchema = z.strictObject({
  after: z.coerce.number().int().nonnegative().optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
  kind: csv,
});

/** Event streams: the filters plus where to resume. */
export const streamQuerySchema = filterQuerySchema.omit({ wide: true }).extend({
  after: z.coerce.number().int().nonnegative().optional(),
  kind: csv,
  server: csv,
});

export const tokenCreateSchema = z.strictObject({
  name: z.string().min(1).max(100),
  scopes: z.array(z.enum(SCOPES as [Scope, ...Scope[]])).min(1),
  ttlDays: z.number().int().positive().max(3650).optional(),
});

export const backendParamSchema = z.strictObject({ backend: z.enum(["prometheus", "naemon"]) });

export const renderQuerySchema = z.strictObject({ baseDir: z.string().min(1).max(4096).optional() });

export const renderNoteSchema = z.strictObject({
  backend: z.enum(["prometheus", "naemon"]),
  out: z.string().min(1).max(4096),
  changed: z.number().int().nonnegative(),
  unchanged: z.number().int().nonnegative(),
  removed: z.number().int().nonnegative(),
});

// ---------- responses ----------

export const sourceSchema = z.object({
  kind: z.enum(["label", "group", "server", "environment", "region", "auto"]),
  name: z.string(),
  reason: z.string().optional(),
});
const sourced = { from: z.array(sourceSchema) };

export const resolutionSchema = z.object({
  name: z.string(),
  provider: z.string(),
  environment: z.string().nullable(),
  region: z.string().nullable(),
  labels: z.array(z.string()),
  groups: z.array(z.object({ name: z.string(), ...sourced })),
  size: z.object({ name: z.string(), ...sourced }).nullable(),
  classes: z.array(z.object({ name: z.string(), ...sourced })),
  ports: z.array(z.object({ port: z.number(), ...sourced })),
  alerts: z.array(z.object({ name: z.string(), severity: z.string(), ...sourced })),
  secrets: z.array(z.object({ name: z.string(), access: z.enum(["read", "dynamic"]), ...sourced })),
  excludedFrom: z.array(
    z.object({ kind: z.enum(["alert", "group", "secret"]), name: z.string(), by: sourceSchema }),
  ),
  conflicts: z.array(z.object({ kind: z.literal("size"), message: z.string(), ...sourced })),
});

const pillar = z.object({
  state: z.enum(["ok", "warning", "failed", "pending", "unknown", "none"]),
  text: z.string(),
  reason: z.string().optional(),
});

export const serverRowSchema = z.object({
  name: z.string(),
  provider: z.string(),
  labels: z.array(z.string()),
  environment: z.string().nullable(),
  region: z.string().nullable(),
  size: z.string().nullable(),
  host: z.string().nullable(),
  mac: z.string().nullable(),
  groups: z.array(z.string()),
  status: z.object({ sync: pillar, puppet: pillar, health: pillar, identity: pillar }),
});

export const labelRowSchema = z.object({
  name: z.string(),
  classes: z.array(z.string()),
  ports: z.array(z.number()),
  size: z.string().nullable(),
  alerts: z.array(z.string()),
  secrets: z.array(z.string()),
  servers: z.number(),
});

const changeSchema = z.object({
  op: z.enum(["create", "update", "delete"]),
  kind: z.enum(["size", "label", "secret", "server", "group", "alert"]),
  name: z.string(),
  fields: z.array(z.string()).optional(),
});

export const eventSchema = z.object({
  id: z.number(),
  time: z.string(),
  actor: z.string(),
  action: z.string(),
  result: z.enum(["ok", "error"]),
  summary: z.string(),
  changes: z.array(changeSchema),
  subjects: z.array(z.string()),
});

const locationSchema = z.object({ file: z.string(), line: z.number(), column: z.number() });
export const diagnosticSchema = z.object({
  code: z.string(),
  severity: z.enum(["error", "warning"]),
  message: z.string(),
  location: locationSchema.optional(),
  related: z.array(locationSchema).optional(),
});

export const applyResultSchema = z.object({
  dryRun: z.boolean(),
  changes: z.array(changeSchema),
  unchanged: z.number(),
  warnings: z.array(diagnosticSchema),
  eventId: z.number().nullable(),
});

export const tokenSchema = z.object({
  id: z.string(),
  name: z.string(),
  scopes: z.array(z.enum(SCOPES as [Scope, ...Scope[]])),
  createdAt: z.string(),
  createdBy: z.string(),
  expiresAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
});

export const errorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    hint: z.string(),
    path: z.string().optional(),
    diagnostics: z.array(diagnosticSchema).optional(),
  }),
});

// Compile-time proof that the response schemas describe what the engine returns.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const assertSame = <T extends true>(_: T) => undefined;
assertSame<Same<z.infer<typeof sourceSchema>, Source>>(true);
assertSame<Same<z.infer<typeof resolutionSchema>, Resolution>>(true);
assertSame<Same<z.infer<typeof serverRowSchema>, ServerRow>>(true);
assertSame<Same<z.infer<typeof labelRowSchema>, LabelRow>>(true);
assertSame<Same<z.infer<typeof eventSchema>["id"], AuditEvent["id"]>>(true);
assertSame<Same<z.infer<typeof tokenSchema>, ApiToken>>(true);
assertSame<Same<z.infer<typeof applyResultSchema>["eventId"], ApplyResult["eventId"]>>(true);
assertSame<Same<z.infer<typeof diagnosticSchema>["message"], Diagnostic["message"]>>(true);

const text = z.string().min(1).max(1024);
/** The flags of `lab plan|apply server` (ServerDraft); empty means "as the model has it". */
export const serverDraftSchema = z
  .object({
    provider: text.optional(),
    labels: z.array(text).max(256).optional(),
    size: text.optional(),
    image: text.optional(),
    host: text.optional(),
    mac: text.optional(),
    environment: text.optional(),
    /** Provider options (ssh_user, ssh_port; bastion for bare metal), as `attributes:` in the model. */
    attributes: z.record(z.string(), z.unknown()).optional(),
    /** How Lab switches it (`power:` in the model): `lab onboard --ipmi`. */
    power: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
/** `?wait=false`: queue and return (bare metal: `lab onboard --no-wait`). */
export const applyQuerySchema = z.object({ wait: z.enum(["true", "false"]).optional() });
export const destroyBodySchema = z.object({ dryRun: z.boolean().optional() }).strict();

/** `lab render --label L --all-providers --prices FILE`: the file as the CLI read it (path for errors). */
export const allProvidersBodySchema = z
  .object({
    prices: z
      .object({ path: z.string().min(1).max(4096), text: z.string().max(1_000_000) })
      .strict()
      .optional(),
  })
  .strict();
