/**
 * Colours that read on dark and light terminals, or none at all (NO_COLOR, https://no-color.org).
 * Only the 16 named ANSI colours are used, so the terminal's own palette decides the shades; the
 * selection is shown by inverse video, which needs no colour.
 */
export type Tone = "ok" | "warn" | "bad" | "muted" | "accent" | "key" | "title";

export interface Theme {
  readonly name: "dark" | "light" | "none";
  /** An Ink colour name for the tone, or undefined for the terminal's default. */
  color(tone: Tone): string | undefined;
  /** Whether "dim" may be used (NO_COLOR terminals get plain text). */
  readonly dim: boolean;
}

const DARK: Record<Tone, string> = {
  ok: "green",
  warn: "yellow",
  bad: "red",
  muted: "gray",
  accent: "cyan",
  key: "magenta",
  title: "cyan",
};

// Yellow, cyan and gray wash out on white: darker, saturated choices instead.
const LIGHT: Record<Tone, string> = {
  ok: "green",
  warn: "magenta",
  bad: "red",
  muted: "blackBright",
  accent: "blue",
  key: "blue",
  title: "blue",
};

/** NO_COLOR wins; then LAB_TUI_THEME=dark|light; then COLORFGBG (set by many terminals); dark. */
export function themeFrom(env: NodeJS.ProcessEnv): Theme {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") {
    return { name: "none", color: () => undefined, dim: false };
  }
  const name = chooseBackground(env);
  const table = name === "light" ? LIGHT : DARK;
  return { name, color: (t) => table[t], dim: true };
}

function chooseBackground(env: NodeJS.ProcessEnv): "dark" | "light" {
  const asked = env.LAB_TUI_THEME?.toLowerCase();
  if (asked === "light" || asked === "dark") return asked;
  // COLORFGBG is "fg;bg" (sometimes "fg;x;bg"); backgrounds 7 and 9–15 are light.
  const bg = Number(env.COLORFGBG?.split(";").pop());
  if (Number.isInteger(bg) && (bg === 7 || (bg >= 9 && bg <= 15))) return "light";
  return "dark";
}
