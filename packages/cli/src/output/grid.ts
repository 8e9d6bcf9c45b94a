/**
 * A framed grid (the design's `lab render --all-providers` table, the onboarding boxes) that
 * fits the terminal: the widest columns give up width first and their cells wrap at spaces
 * rather than lose words.
 */
import { type Style, visibleWidth } from "./style.js";
import { truncate } from "./table.js";

/** Narrowest a wrapped column gets before the grid stops shrinking (and may overflow). */
const MIN_WIDTH = 8;

/** `header` null: rows only (the two-column boxes of the onboarding plans). */
export function grid(header: string[] | null, rows: string[][], style: Style): string {
  const all = header ? [header, ...rows] : rows;
  const n = Math.max(0, ...all.map((r) => r.length));
  const widths = Array.from({ length: n }, (_, i) =>
    Math.max(1, ...all.map((r) => visibleWidth(r[i] ?? ""))),
  );
  // Frame: "│ " before each cell, " " after, and the closing "│".
  const total = () => widths.reduce((a, b) => a + b, 0) + 3 * n + 1;
  while (total() > style.width) {
    let widest = -1;
    // The first column holds the row names: it keeps its width.
    for (let i = 1; i < n; i++) {
      if ((widths[i] ?? 0) > MIN_WIDTH && (widest < 0 || (widths[i] ?? 0) > (widths[widest] ?? 0)))
        widest = i;
    }
    if (widest < 0) break;
    widths[widest] = (widths[widest] ?? 0) - 1;
  }
  const rule = (l: string, m: string, r: string) => `${l}${widths.map((w) => "─".repeat(w + 2)).join(m)}${r}`;
  const line = (cells: string[], bold: boolean) => {
    const wrapped = cells.map((c, i) => wrap(c, widths[i] ?? 1));
    const height = Math.max(...wrapped.map((w) => w.length));
    return Array.from(
      { length: height },
      (_, k) =>
        `│${wrapped
          .map((w, i) => {
            const text = w[k] ?? "";
            const pad = " ".repeat(Math.max(0, (widths[i] ?? 0) - visibleWidth(text)));
            return ` ${bold || i === 0 ? style.bold(text) : text}${pad} `;
          })
          .join("│")}│`,
    ).join("\n");
  };
  return [
    rule("┌", "┬", "┐"),
    ...(header ? [line(header, true), rule("├", "┼", "┤")] : []),
    ...rows.map((r) => line(r, false)),
    rule("└", "┴", "┘"),
  ].join("\n");
}

/** Lines of at most `width` columns, broken at spaces; a word longer than a line is cut with "…". */
export function wrap(text: string, width: number): string[] {
  if (visibleWidth(text) <= width) return [text];
  const out: string[] = [];
  let cur = "";
  for (const word of text.split(" ")) {
    const next = cur ? `${cur} ${word}` : word;
    if (visibleWidth(next) <= width) {
      cur = next;
      continue;
    }
    if (cur) out.push(cur);
    cur = visibleWidth(word) <= width ? word : truncate(word, width);
  }
  if (cur) out.push(cur);
  return out;
}
