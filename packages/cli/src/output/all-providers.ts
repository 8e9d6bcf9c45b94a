/** The human form of `lab render --label L --all-providers`: the grid, then where it came from. */
import type { Source } from "@lab/core";
import { type AllProvidersView, costWords, PROVIDER_TITLES } from "@lab/providers";
import { grid } from "./grid.js";
import { priceNote } from "./prices.js";
import type { Style } from "./style.js";

export function allProvidersTable(v: AllProvidersView, style: Style): string {
  const cols = v.columns;
  const classes = v.classes.map((c) => c.name).join(", ") || "—";
  const ports = v.ports.map((p) => String(p.port)).join(", ") || "—";
  const rows = [
    ["Compute", ...cols.map((c) => c.compute)],
    ["Image", ...cols.map((c) => c.images.join(", ") || "—")],
    ["Puppet", ...cols.map(() => classes)],
    ["Ports", ...cols.map(() => ports)],
    ["Est. Cost", ...cols.map((c) => costWords(c.cost))],
  ];
  const header = ["", ...cols.map((c) => PROVIDER_TITLES[c.provider] ?? c.provider)];
  const notes: string[] = [];
  notes.push(
    v.size
      ? `size ${v.size.name} from ${fromWords(v.size.from)}`
      : `no size: label ${v.label} gives none (Compute shows what each provider does without one)`,
  );
  if (v.classes.length) notes.push(`Puppet classes from ${fromWords(v.classes.flatMap((c) => c.from))}`);
  const priced = new Set(cols.filter((c) => c.cost).map((c) => c.provider));
  for (const t of v.prices.filter((p) => priced.has(p.provider))) {
    notes.push(`${priceNote(t)}: edit with \`prices:\``);
  }
  const why = new Map<string, string[]>();
  for (const c of cols)
    if (!c.cost) why.set(c.noCost ?? "no price", [...(why.get(c.noCost ?? "no price") ?? []), c.provider]);
  for (const [reason, providers] of why) notes.push(`— no estimate for ${providers.join(", ")}: ${reason}`);
  if (priced.size)
    notes.push(`Est. Cost = price per hour × ${v.hoursPerMonth} h, compute only (no storage, traffic)`);
  if (v.unregistered.length) {
    notes.push(
      `size ${v.size?.name} also maps ${v.unregistered.join(", ")}: not a provider Lab drives, so not compared`,
    );
  }
  // Footnotes stay one line each (the terminal wraps them): a path in one is copied whole.
  return `${grid(header, rows, style)}\n${style.dim(notes.join("\n"))}\n`;
}

/** "label mailserver", "server db-1 (explicit)": unique, in order. */
function fromWords(from: Source[]): string {
  const words = from.map((f) => `${f.kind} ${f.name}${f.reason ? ` (${f.reason})` : ""}`);
  return [...new Set(words)].join(", ");
}
