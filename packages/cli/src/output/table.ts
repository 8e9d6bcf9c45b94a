/** Plain, aligned tables (kubectl style) that fit the width: wide columns shrink with "…". */
import { type Style, visibleWidth } from "./style.js";

export interface Column<T> {
  header: string;
  value: (row: T) => string;
  /** Shrinkable columns give up width first, down to `min`. */
  shrink?: boolean;
  min?: number;
}

const GAP = "  ";

export function renderTable<T>(rows: T[], columns: Column<T>[], style: Style): string {
  const cells = rows.map((r) => columns.map((c) => c.value(r)));
  const widths = columns.map((c, i) =>
    Math.max(c.header.length, ...cells.map((row) => visibleWidth(row[i] ?? ""))),
  );
  fit(widths, columns, style.width);
  const line = (values: string[], header = false) =>
    values
      .map((v, i) => {
        const w = widths[i] ?? 0;
        const cell = truncate(v, w);
        const padded =
          i === values.length - 1 ? cell : cell + " ".repeat(Math.max(0, w - visibleWidth(cell)));
        return header ? style.bold(padded) : padded;
      })
      .join(GAP)
      .trimEnd();
  const out = [
    line(
      columns.map((c) => c.header),
      true,
    ),
    ...cells.map((row) => line(row)),
  ];
  return `${out.join("\n")}\n`;
}

/** Shrinks shrinkable columns, widest first, until the table fits `width`. */
function fit<T>(widths: number[], columns: Column<T>[], width: number): void {
  const total = () => widths.reduce((a, b) => a + b, 0) + GAP.length * (widths.length - 1);
  while (total() > width) {
    let widest = -1;
    for (let i = 0; i < columns.length; i++) {
      const c = columns[i];
      const min = Math.max(c?.min ?? 8, c?.header.length ?? 0);
      if (c?.shrink && (widths[i] ?? 0) > min && (widest < 0 || (widths[i] ?? 0) > (widths[widest] ?? 0))) {
        widest = i;
      }
    }
    if (widest < 0) return;
    widths[widest] = (widths[widest] ?? 0) - 1;
  }
}

export function truncate(s: string, width: number): string {
  if (visibleWidth(s) <= width) return s;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are control characters
  const plain = [...s.replace(/\x1b\[[0-9;]*m/g, "")];
  return `${plain.slice(0, Math.max(0, width - 1)).join("")}…`;
}
