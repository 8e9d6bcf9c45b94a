/**
 * Price tables for `lab render --all-providers` and `lab get prices`: the model's `prices:`,
 * a `--prices FILE`, or the dated default shipped here. An estimate is only ever printed next
 * to the date and place its figures came from; a provider with no table has no price ("—"),
 * never 0.
 */
import { LabError, type Location } from "./errors.js";
import type { Model, Resource } from "./model.js";
import { parseSources, type SourceFile } from "./parse.js";
import type { PriceSpec } from "./schema.js";

/** Hours in the month the estimates use: 365 × 24 / 12, as AWS's own calculator does. */
export const HOURS_PER_MONTH = 730;

/**
 * The shipped default: EC2 On-Demand, Linux, shared tenancy, us-east-1 (N. Virginia), for the
 * t3 and m6i types the example `sizes:` map to and their neighbours.
 *
 * Where the figures come from: AWS's EC2 On-Demand pricing page
 * (https://aws.amazon.com/ec2/pricing/on-demand/) lists these rates; they could not be fetched
 * from AWS when this table was written (2026-12-08). They were checked against a 2026 published
 * guide (t3.large in us-east-1 at $0.0832/hour, "about $60.74 per month") and against several
 * independently maintained open-source price tables that agree to the cent on every type below.
 * These rates have been unchanged since the types launched. Check them before you rely on them;
 * `prices: {aws: …}` in the model (or `--prices FILE`) replaces this table.
 */
export const DEFAULT_PRICES: Record<string, PriceSpec> = {
  aws: {
    description: "EC2 On-Demand, Linux, shared tenancy",
    as_of: "2026-12-08",
    currency: "USD",
    region: "us-east-1",
    source:
      "AWS EC2 On-Demand pricing (aws.amazon.com/ec2/pricing/on-demand), as republished in 2026; not fetched from AWS's price list API",
    hourly: {
      "t3.nano": 0.0052,
      "t3.micro": 0.0104,
      "t3.small": 0.0208,
      "t3.medium": 0.0416,
      "t3.large": 0.0832,
      "t3.xlarge": 0.1664,
      "t3.2xlarge": 0.3328,
      "m6i.large": 0.096,
      "m6i.xlarge": 0.192,
      "m6i.2xlarge": 0.384,
      "m6i.4xlarge": 0.768,
      "m6i.8xlarge": 1.536,
    },
  },
};

/** Where one provider's table came from. */
export type PriceSource = "model" | "file" | "default";

export interface PriceTable {
  provider: string;
  spec: PriceSpec;
  source: PriceSource;
  /** The file, line and column of a model's or file's table. */
  origin: Location | null;
}

/**
 * Each provider's table: a `--prices` file over the model's `prices:` over the shipped
 * default. A table replaces the one under it whole, so one estimate never mixes two dates.
 */
export function priceTables(model: Pick<Model, "price">, file: Resource<"price">[] = []): PriceTable[] {
  const out = new Map<string, PriceTable>();
  for (const [provider, spec] of Object.entries(DEFAULT_PRICES))
    out.set(provider, { provider, spec, source: "default", origin: null });
  for (const r of model.price.values())
    out.set(r.name, { provider: r.name, spec: r.spec, source: "model", origin: r.origin ?? null });
  for (const r of file)
    out.set(r.name, { provider: r.name, spec: r.spec, source: "file", origin: r.origin ?? null });
  return [...out.values()].sort((a, b) => a.provider.localeCompare(b.provider));
}

export interface Estimate {
  provider: string;
  /** The key the price was found under: an instance type or a size name. */
  key: string;
  hourly: number;
  /** hourly × HOURS_PER_MONTH, unrounded (the table rounds). */
  monthly: number;
  currency: string;
  as_of: string;
  region: string | null;
  source: PriceSource;
}

/**
 * The price of the first of `keys` the provider's table lists (instance type, then size name);
 * null when there is no table or it lists none of them — the caller says why, never "0".
 */
export function estimate(tables: PriceTable[], provider: string, keys: (string | null)[]): Estimate | null {
  const t = tables.find((x) => x.provider === provider);
  if (!t) return null;
  for (const key of keys) {
    if (key === null) continue;
    const hourly = t.spec.hourly[key];
    if (hourly !== undefined) return priced(t, key, hourly);
  }
  return null;
}

function priced(t: PriceTable, key: string, hourly: number): Estimate {
  return {
    provider: t.provider,
    key,
    hourly,
    monthly: hourly * HOURS_PER_MONTH,
    currency: t.spec.currency ?? "USD",
    as_of: t.spec.as_of,
    region: t.spec.region ?? null,
    source: t.source,
  };
}

const SYMBOL: Record<string, string> = { USD: "$", EUR: "€", GBP: "£", JPY: "¥" };

/** `~$61/mo`: whole units, marked approximate; a currency without a symbol is written out. */
export function formatMonthly(e: Pick<Estimate, "monthly" | "currency">): string {
  const n = Math.round(e.monthly);
  const sym = SYMBOL[e.currency];
  return sym ? `~${sym}${n}/mo` : `~${n} ${e.currency}/mo`;
}

/** One price as `lab get prices` lists it: an estimate for its own key, and where it is written. */
export interface PriceRow extends Estimate {
  origin: Location | null;
}

export function priceRows(tables: PriceTable[]): PriceRow[] {
  return tables.flatMap((t) =>
    Object.entries(t.spec.hourly).map(([key, hourly]) => ({ ...priced(t, key, hourly), origin: t.origin })),
  );
}

/**
 * A `--prices FILE`: YAML holding only `prices:`, checked by the model's schema. Any problem
 * is LAB_E_PRICES naming the file, line and column.
 */
export function parsePriceFile(file: SourceFile): Resource<"price">[] {
  const parsed = parseSources([file]);
  const errors = parsed.diagnostics.filter((d) => d.severity === "error");
  const others = [...Object.entries(parsed.model)].filter(([kind, m]) => kind !== "price" && m.size > 0);
  if (errors.length === 0 && others.length === 0 && parsed.model.price.size === 0) {
    throw new LabError("LAB_E_PRICES", `${file.path}: no prices: in it (docs/providers.md shows the shape)`);
  }
  if (others.length && errors.length === 0) {
    const first = [...(others[0]?.[1].values() ?? [])][0] as Resource | undefined;
    throw new LabError(
      "LAB_E_PRICES",
      `${where(first?.origin, file.path)}: a --prices file holds only prices: (found ${others.map(([k]) => k).join(", ")}); apply the rest with lab apply -f`,
    );
  }
  if (errors.length) {
    const d = errors[0];
    throw new LabError(
      "LAB_E_PRICES",
      `${where(d?.location, file.path)}: ${d?.message}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ""}`,
      errors.map((e) => ({ ...e, code: "LAB_E_PRICES" })),
    );
  }
  return [...parsed.model.price.values()];
}

function where(l: Location | undefined, path: string): string {
  return l ? `${l.file}:${l.line}:${l.column}` : path;
}
