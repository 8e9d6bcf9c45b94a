/** `lab tui`: the k9s-style terminal UI over a TuiSource (local engine or the server's API). */
import { render } from "ink";
import { createElement } from "react";
import { App } from "./app.js";
import type { Location } from "./nav.js";
import type { TuiSource } from "./source.js";
import { themeFrom } from "./theme.js";

export { App } from "./app.js";
export { pollFeed, sseFeed } from "./live.js";
export * from "./nav.js";
export type * from "./source.js";
export { themeFrom } from "./theme.js";

export interface TuiOptions {
  env: NodeJS.ProcessEnv;
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  start?: Location;
}

const ALT_SCREEN_ON = "\u001b[?1049h\u001b[H";
const ALT_SCREEN_OFF = "\u001b[?1049l";

/** Runs until the user quits; the terminal is given back as it was (alternate screen). */
export async function runTui(source: TuiSource, o: TuiOptions): Promise<void> {
  o.stdout.write(ALT_SCREEN_ON);
  const restore = () => o.stdout.write(ALT_SCREEN_OFF);
  process.once("exit", restore);
  try {
    const app = render(createElement(App, { source, theme: themeFrom(o.env), start: o.start }), {
      stdin: o.stdin,
      stdout: o.stdout,
      stderr: o.stderr,
      exitOnCtrlC: true,
      patchConsole: true,
      // Each frame is written whole inside a synchronized update (DEC 2026) where the terminal
      // has one, so it never shows half a frame. Ink 6.8's incremental mode is off: with a
      // frame one row shorter than the terminal it rewrote lines one row too high.
      incrementalRendering: false,
      maxFps: 60,
    });
    await app.waitUntilExit();
  } finally {
    process.off("exit", restore);
    restore();
  }
}
