/** Terminal styling: colour and symbols only when writing to a terminal (and NO_COLOR unset). */
export interface Style {
  tty: boolean;
  width: number;
  bold(s: string): string;
  dim(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  red(s: string): string;
  cyan(s: string): string;
}

const MAX_WIDTH = 100;

export function makeStyle(stream: { isTTY?: boolean; columns?: number }, env = process.env): Style {
  const tty = Boolean(stream.isTTY);
  const colour = tty && env.NO_COLOR === undefined && env.TERM !== "dumb";
  const wrap = (open: number, close: number) => (s: string) =>
    colour ? `\x1b[${open}m${s}\x1b[${close}m` : s;
  return {
    tty,
    width: tty && stream.columns ? Math.min(stream.columns, MAX_WIDTH) : MAX_WIDTH,
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
    red: wrap(31, 39),
    cyan: wrap(36, 39),
  };
}

/** Printable width, ignoring ANSI escapes; the symbols used here are one column each. */
export function visibleWidth(s: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are control characters
  return [...s.replace(/\x1b\[[0-9;]*m/g, "")].length;
}
