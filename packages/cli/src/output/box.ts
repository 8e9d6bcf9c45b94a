/** A two-column framed table, as the design document renders onboarding plans. */
import { grid } from "./grid.js";
import type { Style } from "./style.js";

export function box(rows: [string, string][], out: Style): string {
  return grid(null, rows, out);
}
