/** The model's `sizes:` as one provider offers them (`lab render --all-providers`, `sizes()`). */
import type { SizeSpec } from "@lab/core";
import { sizingFor } from "./resolve.js";
import type { ProviderSize, Sizing } from "./types.js";

export type SizeCatalogue = Record<string, SizeSpec>;

export function catalogueSizes(
  sizes: SizeCatalogue,
  provider: string,
  label: (s: Sizing) => string,
): ProviderSize[] {
  return Object.entries(sizes).map(([name, spec]) => {
    const sizing = sizingFor(spec, provider);
    return { name, sizing, label: label(sizing) };
  });
}
