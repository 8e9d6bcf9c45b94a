/** A two-column framed table, as the design document renders onboarding plans. */
import type { Style } from "./style.js";

export function box(rows: [string, string][], out: Style): string {
  const a = Math.max(...rows.map(([k]) => k.length));
  const b = Math.max(...rows.map(([, v]) => v.length));
  const line = (l: string, m: string, r: string) => `${l}${"─".repeat(a + 2)}${m}${"─".repeat(b + 2)}${r}`;
  return [
    line("┌", "┬", "┐"),
    ...rows.map(([k, v]) => `│ ${out.bold(k.padEnd(a))} │ ${v.padEnd(b)} │`),
    line("└", "┴", "┘"),
  ].join("\n");
}
