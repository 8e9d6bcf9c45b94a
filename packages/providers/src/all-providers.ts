/**
 * `lab render --label L --all-providers`: what a server with label L would be at each provider
 * Lab can drive, side by side — the provider's words for the label's size, its image, its
 * Puppet classes and ports, and a cost estimate from a dated price table. Pure over the model:
 * no provider is contacted, so the view is the same in local and client mode and offline.
 */
import {
  type Estimate,
  estimate,
  Fleet,
  formatMonthly,
  HOURS_PER_MONTH,
  type Location,
  modelFromResources,
  notFound,
  type PriceSource,
  type PriceTable,
  priceTables,
  type Resolution,
  type Resource,
  type ServerSpec,
  type Source,
} from "@lab/core";
import { LIBVIRT_DEFAULTS } from "./libvirt.js";
import { imageRefFor, sizingFor } from "./resolve.js";
import type { Sizing } from "./types.js";
import { formatMiB } from "./units.js";

/**
 * The providers Lab registers (registry.ts), cloud first as the design's table has them.
 * Kept here rather than imported from the registry so rendering never loads a cloud SDK.
 */
export const COMPARED_PROVIDERS = ["aws", "libvirt", "baremetal", "ssh"] as const;

export const PROVIDER_TITLES: Record<string, string> = {
  aws: "AWS",
  libvirt: "libvirt",
  baremetal: "Bare Metal",
  ssh: "SSH",
};

export interface ProviderColumn {
  provider: string;
  /** The provider's words for the size: "t3.large", "4c/8GB", "PXE + ipmi", "existing machine ≥ 4c/8GB". */
  compute: string;
  sizing: Sizing;
  /** Images the label's servers at this provider declare; empty when none does. */
  images: string[];
  /** The price found in the provider's table (`estimate`). */
  cost: Estimate | null;
  /** Why there is no estimate (no table for the provider, or the table lacks the type). */
  noCost: string | null;
}

export interface PriceTableRef {
  provider: string;
  as_of: string;
  region: string | null;
  currency: string;
  source: PriceSource;
  origin: Location | null;
  description: string | null;
  /** Where the figures come from, as the table says. */
  from: string | null;
}

export interface AllProvidersView {
  label: string;
  size: { name: string; from: Source[] } | null;
  classes: { name: string; from: Source[] }[];
  ports: { port: number; from: Source[] }[];
  columns: ProviderColumn[];
  /** The price tables in force (each provider's one), for the footnote. */
  prices: PriceTableRef[];
  /** Providers the size maps that Lab cannot drive (xcpng): named so the omission is visible. */
  unregistered: string[];
  hoursPerMonth: number;
}

export interface AllProvidersOptions {
  /** Tables from a `--prices FILE` (core's parsePriceFile), over the model's and the default. */
  priceFile?: Resource<"price">[];
}

/** The comparison for one label, from the model's objects (throws LAB_E_NOT_FOUND for an unknown label). */
export function allProviders(
  resources: Resource[],
  label: string,
  o: AllProvidersOptions = {},
): AllProvidersView {
  const model = modelFromResources(resources);
  if (!model.label.has(label)) throw notFound("label", label, model.label.keys());
  const resolution = resolveLabel(resources, label);
  const sizeName = resolution.size?.name ?? null;
  const size = sizeName ? (model.size.get(sizeName)?.spec ?? null) : null;
  const tables = priceTables(model, o.priceFile ?? []);
  // The label's own servers say which images and power drivers it is used with today.
  const servers = [...model.server.values()].filter((s) => s.spec.labels?.includes(label));
  const columns = COMPARED_PROVIDERS.map((provider): ProviderColumn => {
    const sizing = sizingFor(size, provider);
    const here = servers.filter((s) => s.spec.provider === provider).map((s) => s.spec);
    const cost = estimate(tables, provider, [sizing.instanceType, sizeName]);
    return {
      provider,
      compute: computeWords(provider, sizing, sizeName !== null, here),
      sizing,
      images: unique(here.map((s) => s.image)).map((name) => {
        const ref = imageRefFor(model.image.get(name)?.spec, provider);
        return ref ? `${name} (${ref})` : name;
      }),
      cost,
      noCost: cost ? null : whyNoCost(tables, provider, sizing, sizeName),
    };
  });
  const registered = new Set<string>(COMPARED_PROVIDERS);
  return {
    label,
    size: resolution.size ? { name: resolution.size.name, from: resolution.size.from } : null,
    classes: resolution.classes.map(({ name, from }) => ({ name, from })),
    ports: resolution.ports.map(({ port, from }) => ({ port, from })),
    columns,
    prices: tables.map(tableRef),
    unregistered: Object.keys(size?.providers ?? {}).filter((p) => !registered.has(p)),
    hoursPerMonth: HOURS_PER_MONTH,
  };
}

/**
 * The label's resolution as a server carrying only that label would get it: the one function
 * every view uses (size and classes with where they came from), not a re-derivation.
 */
function resolveLabel(resources: Resource[], label: string): Resolution {
  const taken = new Set(resources.filter((r) => r.kind === "server").map((r) => r.name));
  let name = "lab-render-preview";
  for (let i = 2; taken.has(name); i++) name = `lab-render-preview-${i}`;
  const probe: Resource<"server"> = { kind: "server", name, spec: { provider: "ssh", labels: [label] } };
  const fleet = new Fleet(modelFromResources([...resources, probe as Resource]));
  return fleet.resolve(name) as Resolution;
}

/** The provider's own words for the size, as the design's Compute row has them. */
export function computeWords(
  provider: string,
  s: Sizing,
  sized: boolean,
  servers: ServerSpec[] = [],
): string {
  const cm = (cores: number | null, mib: number | null) =>
    cores === null && mib === null ? null : `${cores ?? "?"}c/${mib === null ? "?" : formatMiB(mib)}`;
  switch (provider) {
    case "aws":
      if (s.instanceType) return s.instanceType;
      return sized ? "— (size has no instance_type)" : "— (no size)";
    case "libvirt": {
      const own = cm(s.cores, s.memoryMiB);
      if (own && s.cores !== null && s.memoryMiB !== null) return own;
      // libvirt fills what the size leaves out with its defaults: say so rather than guess.
      return `${cm(s.cores ?? LIBVIRT_DEFAULTS.cores, s.memoryMiB ?? LIBVIRT_DEFAULTS.memoryMiB)} (libvirt default)`;
    }
    case "baremetal": {
      const drivers = unique(
        servers.map((x) => (x.power?.driver && x.power.driver !== "manual" ? x.power.driver : null)),
      );
      const power = drivers.length ? drivers.join("/") : "power by hand";
      const min = cm(s.cores, s.memoryMiB);
      return `PXE + ${power}${min ? `, ≥ ${min}` : ""}`;
    }
    case "ssh": {
      const min = cm(s.cores, s.memoryMiB);
      return min ? `existing machine ≥ ${min}` : "existing machine";
    }
    default:
      return cm(s.cores, s.memoryMiB) ?? "—";
  }
}

/** Why a provider has no estimate, in words that do not name it (the footnote groups by them). */
function whyNoCost(tables: PriceTable[], provider: string, s: Sizing, size: string | null): string {
  const t = tables.find((x) => x.provider === provider);
  if (!t) return "no price table: add one under prices:";
  const keys = [s.instanceType, size].filter((k): k is string => k !== null);
  if (keys.length === 0) return "no size to price";
  return `its price table lists no ${keys.join(" or ")}`;
}

function tableRef(t: PriceTable): PriceTableRef {
  return {
    provider: t.provider,
    as_of: t.spec.as_of,
    region: t.spec.region ?? null,
    currency: t.spec.currency ?? "USD",
    source: t.source,
    origin: t.origin,
    description: t.spec.description ?? null,
    from: t.spec.source ?? null,
  };
}

/** "~$61/mo", or "—" when there is no estimate. */
export function costWords(c: Estimate | null): string {
  return c ? formatMonthly(c) : "—";
}

function unique(xs: (string | null | undefined)[]): string[] {
  return [...new Set(xs.filter((x): x is string => typeof x === "string" && x.length > 0))];
}
