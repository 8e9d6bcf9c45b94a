/** `lab get prices` and the price footnotes: every figure printed with its date and place. */
import { formatLocation, formatMonthly, type PriceRow, type PriceSource } from "@lab/core";
import type { Style } from "./style.js";
import { renderTable } from "./table.js";

/** Where a table came from, in words: "shipped default", "model, prices.yaml:3:3", "--prices p.yaml". */
export function sourceWords(source: PriceSource, origin: PriceRow["origin"]): string {
  if (source === "default") return "shipped default";
  const at = formatLocation(origin ?? undefined);
  return source === "file" ? `--prices ${at || "file"}` : `model${at ? `, ${at}` : ""}`;
}

/** "prices as of 2026-12-08, aws us-east-1 (USD, shipped default)". */
export function priceNote(t: {
  provider: string;
  as_of: string;
  region: string | null;
  currency: string;
  source: PriceSource;
  origin: PriceRow["origin"];
}): string {
  return `prices as of ${t.as_of}, ${t.provider}${t.region ? ` ${t.region}` : ""} (${t.currency}, ${sourceWords(t.source, t.origin)})`;
}

export function priceTable(rows: PriceRow[], style: Style): string {
  const table = renderTable(
    rows,
    [
      { header: "PROVIDER", value: (r) => r.provider },
      { header: "TYPE", value: (r) => r.key },
      { header: "PER HOUR", value: (r) => `${r.hourly} ${r.currency}` },
      { header: "PER MONTH", value: (r) => formatMonthly(r) },
      { header: "SOURCE", value: (r) => sourceWords(r.source, r.origin), shrink: true, min: 12 },
    ],
    style,
  );
  // One footnote per provider's table: the date and region are what make a figure checkable.
  const seen = new Set<string>();
  const notes: string[] = [];
  for (const r of rows) {
    if (seen.has(r.provider)) continue;
    seen.add(r.provider);
    notes.push(priceNote(r));
  }
  return `${table}\n${style.dim(`${notes.join("\n")}\nper month = per hour × 730; edit with \`prices:\` (docs/providers.md)`)}\n`;
}
