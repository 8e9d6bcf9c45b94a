/**
 * In-process half of the TUI benchmark (bundled by run.mjs into out/bench.mjs):
 *   bench.mjs generate FLEET_DIR            the engine bench's 10k fleet as YAML
 *   bench.mjs measure FLEET_DIR LAB_HOME    → JSON on stdout
 * Applies the 10k bench fleet into LAB_HOME (local mode, the real engine over SQLite), renders
 * the real App through Ink's real (throttled, non-debug) renderer into an 80×24 terminal-like
 * stream, and times each keystroke from the moment it is written to stdin until Ink writes the
 * frame it caused.
 */
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import { render } from "ink";
import { createElement } from "react";
import { tuiSource } from "../../packages/cli/src/commands/tui.js";
import { openLocal, readSources } from "../../packages/cli/src/context.js";
import { App } from "../../packages/tui/src/app.js";
import { themeFrom } from "../../packages/tui/src/theme.js";
import { DEFAULT_SHAPE, generateFleet, writeFleet } from "../engine/generate.js";

const plainText = (s: string) =>
  s.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[a-zA-Z]`, "g"), "");

class Screen extends EventEmitter {
  isTTY = true;
  columns = 80;
  rows = 24;
  last = "";
  private waiter: { test: (s: string) => boolean; resolve: () => void } | undefined;
  write = (s: string) => {
    // Synchronized-update markers and cursor toggles arrive as writes of their own.
    if (plainText(s).trim() === "") return true;
    this.last = s;
    if (this.waiter?.test(s)) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve();
    }
    return true;
  };
  next(test: (frame: string) => boolean = () => true): Promise<void> {
    return new Promise((resolve) => {
      this.waiter = { test, resolve };
    });
  }
}

class Keyboard extends EventEmitter {
  isTTY = true;
  private data: string | null = null;
  press(s: string) {
    // Ink reads either way depending on version: offer both, as ink-testing-library does.
    this.data = s;
    this.emit("readable");
    this.emit("data", s);
  }
  read = () => {
    const d = this.data;
    this.data = null;
    return d;
  };
  setEncoding() {}
  setRawMode() {}
  resume() {}
  pause() {}
  ref() {}
  unref() {}
}

const [command, fleetDir, labHome] = process.argv.slice(2);
if (command === "generate" && fleetDir) {
  writeFleet(fleetDir, generateFleet(DEFAULT_SHAPE));
  process.exit(0);
}
if (command !== "measure" || !fleetDir || !labHome) {
  throw new Error("usage: bench.mjs generate FLEET_DIR | measure FLEET_DIR LAB_HOME");
}
const env = { LAB_HOME: labHome, LAB_ACTOR: "bench", NO_COLOR: "" };

const session = await openLocal(env);
const t0 = performance.now();
const applied = await session.engine.apply({ files: readSources([fleetDir], () => readFileSync(0, "utf8")) });
const applyMs = performance.now() - t0;
const servers = (await session.engine.list("server")).length;
const { source, close } = await tuiSource(session, env);

const screen = new Screen();
const keyboard = new Keyboard();
const app = render(createElement(App, { source, theme: themeFrom({}) }), {
  stdout: screen as never,
  stdin: keyboard as never,
  stderr: screen as never,
  exitOnCtrlC: false,
  patchConsole: false,
  incrementalRendering: false,
  maxFps: 60,
});
const plain = (s: string) => s.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[a-zA-Z]`, "g"), "");
const idle = () => new Promise((r) => setTimeout(r, 40)); // past Ink's 16 ms frame throttle
process.stderr.write(`applied ${servers} servers in ${(applyMs / 1000).toFixed(1)} s\n`);
// The first frame may already be on the stream: look at the last one before waiting.
if (!plain(screen.last).includes(`Servers [${servers}]`)) {
  await screen.next((f) => plain(f).includes(`Servers [${servers}]`));
}

/** Times one key: from the write to stdin until the frame it causes (that satisfies `until`). */
async function key(k: string, until?: (frame: string) => boolean): Promise<number> {
  await idle();
  const frame = screen.next(until ? (f) => until(plain(f)) : undefined);
  const start = performance.now();
  keyboard.press(k);
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`key ${JSON.stringify(k)} produced no frame in 10 s:\n${plain(screen.last)}`)),
      10_000,
    );
  });
  await Promise.race([frame, hang]).finally(() => clearTimeout(timer));
  return performance.now() - start;
}

const samples: Record<string, number[]> = {
  move: [],
  page: [],
  jump: [],
  filterChar: [],
  drill: [],
  back: [],
};
for (let i = 0; i < 200; i++) samples.move?.push(await key(i % 50 < 25 ? "j" : "k"));
for (let i = 0; i < 40; i++) samples.page?.push(await key(i % 2 ? "\u001b[5~" : "\u001b[6~"));
for (let i = 0; i < 40; i++) samples.jump?.push(await key(i % 2 ? "g" : "G"));
// Free text narrows the 10k rows on every keystroke (the filter runs before the frame).
for (let round = 0; round < 10; round++) {
  await key("/");
  for (const ch of "worker") samples.filterChar?.push(await key(ch));
  await key("\u001b", (f) => f.includes(`Servers [${servers}]`));
}
for (let i = 0; i < 10; i++) {
  samples.drill?.push(await key("\r", (f) => f.includes("Labels (")));
  samples.back?.push(await key("\u001b", (f) => f.includes(`Servers [${servers}]`)));
}

app.unmount();
await close();
await session.close();

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
  return { n: s.length, median: q(0.5), p95: q(0.95), max: s[s.length - 1] ?? Number.NaN };
};
process.stdout.write(
  `${JSON.stringify({
    servers,
    applyMs,
    changes: applied.changes.length,
    keys: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, stats(v)])),
  })}\n`,
);
process.exit(0);
