#!/usr/bin/env node
/**
 * The TUI benchmark: keystroke-to-frame on the 10,000-server bench fleet (bench/engine's
 * generator). `npm run bench:tui` (builds dist/ first) runs:
 *
 *   1. in-process  the real App through Ink's real renderer on an 80×24 stream, the real local
 *                  engine over SQLite: each key timed from stdin to the frame it causes
 *                  (cursor moves, pages, jumps to the ends, live filter typing over 10k rows,
 *                  drilling into a server and back). Target: < 50 ms.
 *   2. terminal    the same fleet in a real terminal (tmux 80×24): `lab tui` against `less`
 *                  paging the `lab get servers` table of the same 10k servers — the peer — each
 *                  key timed from send-keys until capture-pane shows a changed screen. Both
 *                  sides pay the same tmux polling, so the ratio is the comparison.
 *
 * Nothing passes or fails on time; results go to out/results.json and stdout.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../..");
const OUT = join(HERE, "out");
const FLEET = join(OUT, "fleet");
const HOME = join(OUT, "home");
const LAB = join(ROOT, "bin/lab.js");
const KEYS = Number(process.argv.find((a) => a.startsWith("--keys="))?.slice(7) ?? 30);

mkdirSync(OUT, { recursive: true });
await build({
  entryPoints: [join(HERE, "main.tsx")],
  outdir: OUT,
  entryNames: "bench",
  outExtension: { ".js": ".mjs" },
  // As in the CLI's build: Ink's devtools (react-devtools-core, not installed) stays behind a
  // dynamic import in its own chunk, never loaded.
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  jsx: "automatic",
  external: ["better-sqlite3", "pg", "pg-native", "ssh2", "react-devtools-core"],
  banner: {
    js: "import { createRequire as __labRequire } from 'node:module'; const require = __labRequire(import.meta.url);",
  },
  logLevel: "warning",
});
if (!existsSync(FLEET))
  execFileSync(process.execPath, [join(OUT, "bench.mjs"), "generate", FLEET], { stdio: "inherit" });
rmSync(HOME, { recursive: true, force: true });

console.log(
  `# lab tui keystroke-to-frame, 10k servers — ${cpus().length} cores, load ${loadavg()[0].toFixed(1)}`,
);
const inproc = JSON.parse(
  execFileSync(process.execPath, [join(OUT, "bench.mjs"), "measure", FLEET, HOME], {
    // A terminal has colour: without it the cursor (inverse video) is invisible and a move draws nothing.
    env: { ...process.env, FORCE_COLOR: "1" },
    encoding: "utf8",
    maxBuffer: 1 << 26,
  }),
);
console.log(
  `\n## in-process (Ink renderer, 80×24, ${inproc.servers} servers; apply took ${(inproc.applyMs / 1000).toFixed(1)} s)`,
);
console.log("key            n   median    p95     max   (target < 50 ms)");
for (const [k, s] of Object.entries(inproc.keys)) {
  console.log(
    `${k.padEnd(12)} ${String(s.n).padStart(3)} ${s.median.toFixed(1).padStart(7)} ${s.p95.toFixed(1).padStart(7)} ${s.max.toFixed(1).padStart(7)}`,
  );
}

// ---- the same fleet in a real terminal, beside less ----
const table = spawnSync(process.execPath, [LAB, "get", "servers"], {
  env: { ...process.env, LAB_HOME: HOME },
  encoding: "utf8",
  maxBuffer: 1 << 28,
}).stdout;
writeFileSync(join(OUT, "servers.txt"), table);

function terminal(cmd) {
  const socket = `lab-bench-tui-${process.pid}`;
  const tmux = (...a) => execFileSync("tmux", ["-L", socket, "-f", "/dev/null", ...a], { encoding: "utf8" });
  tmux("new-session", "-d", "-s", "b", "-x", "80", "-y", "24", cmd);
  return {
    send: (k) => tmux("send-keys", "-t", "b", k),
    // With escapes: the TUI's cursor is inverse video, invisible in a plain capture.
    screen: (ansi = true) => tmux("capture-pane", "-p", ...(ansi ? ["-e"] : []), "-t", "b"),
    kill: () => spawnSync("tmux", ["-L", socket, "kill-server"]),
  };
}

async function keystrokes(name, cmd, ready) {
  const t = terminal(cmd);
  try {
    const deadline = Date.now() + 120_000;
    while (!ready(t.screen(false))) {
      if (Date.now() > deadline) throw new Error(`${name} never became ready:\n${t.screen()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const times = [];
    for (let i = 0; i < KEYS; i++) {
      await new Promise((r) => setTimeout(r, 60));
      const before = t.screen();
      const start = performance.now();
      t.send(i % 20 < 10 ? "j" : "k");
      while (t.screen() === before) {
        if (performance.now() - start > 5000) throw new Error(`${name}: a key changed nothing`);
      }
      times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    return {
      n: times.length,
      median: times[Math.floor(times.length / 2)],
      p95: times[Math.floor(times.length * 0.95)],
    };
  } finally {
    t.kill();
  }
}

const env = `env LAB_HOME=${HOME} TERM=xterm-256color`;
// less moves its view by a line per j; -S keeps long lines unwrapped, like the TUI.
const peer = await keystrokes("less", `${env} less -S ${join(OUT, "servers.txt")}`, (s) =>
  s.includes("NAME"),
);
const ours = await keystrokes("lab tui", `${env} ${process.execPath} ${LAB} tui`, (s) =>
  s.includes(`Servers [${inproc.servers}]`),
);
console.log("\n## in a terminal (tmux 80×24, send-keys → changed capture-pane, tmux polling included)");
console.log(`less (peer)   median ${peer.median.toFixed(1)} ms  p95 ${peer.p95.toFixed(1)} ms`);
console.log(`lab tui       median ${ours.median.toFixed(1)} ms  p95 ${ours.p95.toFixed(1)} ms`);
console.log(
  `ratio lab tui / less: median ${(ours.median / peer.median).toFixed(2)}×  p95 ${(ours.p95 / peer.p95).toFixed(2)}×`,
);
writeFileSync(
  join(OUT, "results.json"),
  JSON.stringify({ inprocess: inproc, terminal: { less: peer, labTui: ours } }, null, 2),
);
