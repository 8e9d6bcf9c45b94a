#!/usr/bin/env node
/**
 * The engine at fleet scale, as a table of how cost grows: for 1,000, 10,000 and 100,000
 * servers (same labels, groups and alerts; `--sizes=1000,10000`), whole `lab` processes over a
 * local LAB_HOME, each beside the `node -e 0` floor measured in the same round:
 *
 *   --version, --help, get servers -o json, get servers -o wide, show alert|label|group,
 *   apply -f: fresh, nothing changed, one server changed; resolveAll() in-process.
 *
 * Medians of --runs rounds (default 5; applies: 3), round-robin so load from other work
 * spreads over every command. Reports only: nothing passes or fails on time. Writes
 * out/scale.{json,md}. Run after `npm run build`: `node bench/engine/scale.mjs`.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../..");
const OUT = join(HERE, "out", "scale");
const CLI = join(OUT, "cli");
const argv = process.argv.slice(2);
const opt = (name, dflt) => argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt;
const SIZES = opt("sizes", "1000,10000,100000").split(",").map(Number);
const RUNS = Number(opt("runs", "5"));
const APPLY_RUNS = Number(opt("apply-runs", "3"));
const log = (s) => process.stderr.write(`${s}\n`);

/** One process: wall and CPU seconds (bash `time`), peak RSS MB (GNU time). */
function timed(cmd, env = {}) {
  const script =
    'TIMEFORMAT="%3R %3U %3S"; { time /usr/bin/time -f %M -o "$RSS" "$@" >/dev/null 2>"$ERR"; } 2>"$TIMES"; echo $? > "$RC"';
  const f = (x) => join(OUT, `last.${x}`);
  spawnSync("bash", ["-c", script, "bash", ...cmd], {
    cwd: ROOT,
    env: { ...process.env, ...env, RSS: f("rss"), ERR: f("err"), TIMES: f("times"), RC: f("rc") },
  });
  const rc = Number(readFileSync(f("rc"), "utf8"));
  if (rc !== 0)
    throw new Error(`${cmd.join(" ")} exited ${rc}:\n${readFileSync(f("err"), "utf8").slice(-2000)}`);
  const [wall, user, sys] = readFileSync(f("times"), "utf8")
    .trim()
    .split("\n")
    .at(-1)
    .split(/\s+/)
    .map(Number);
  const rss = Number(readFileSync(f("rss"), "utf8").trim().split("\n").at(-1)) / 1024;
  return { wall, cpu: user + sys, rss };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function bundleBench() {
  const r = spawnSync(process.execPath, [join(HERE, "run.mjs"), "--bundle-only"], {
    cwd: ROOT,
    stdio: "inherit",
  });
  if (r.status !== 0) throw new Error("bundling the bench failed");
}

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
// The CLI under test: a copy of dist/, so a rebuild while this runs changes nothing.
cpSync(join(ROOT, "dist"), join(CLI, "dist"), { recursive: true });
cpSync(join(ROOT, "bin"), join(CLI, "bin"), { recursive: true });
cpSync(join(ROOT, "package.json"), join(CLI, "package.json"));
bundleBench();
const LAB = join(CLI, "bin", "lab.js");
const node = process.execPath;
const results = { machine: { cpus: cpus().length, node: process.version, loadStart: loadavg() }, sizes: {} };

for (const size of SIZES) {
  const fleet = join(OUT, `fleet-${size}`);
  const home = join(OUT, `home-${size}`);
  log(`— ${size} servers: generate`);
  spawnSync(node, [join(HERE, "out", "bench.mjs"), "generate", fleet, String(size)], { cwd: ROOT });
  const env = { LAB_HOME: home, HOME: home };
  const lab = (...args) => [node, LAB, ...args];
  const samples = {};
  const add = (k, v) => {
    samples[k] ??= [];
    samples[k].push(v);
  };

  // Applies: fresh (empty home, empty cache), then nothing changed, then one server changed.
  const serverFile = join(fleet, "servers", "servers-00.yaml");
  const original = readFileSync(serverFile, "utf8");
  for (let i = 0; i < APPLY_RUNS; i++) {
    log(`  apply round ${i + 1}/${APPLY_RUNS}`);
    rmSync(home, { recursive: true, force: true });
    add("floor", timed([node, "-e", "0"]));
    add("apply fresh", timed(lab("apply", "-f", fleet), env));
    add("apply nothing changed", timed(lab("apply", "-f", fleet), env));
    // One line: the first server's environment.
    writeFileSync(
      serverFile,
      original.replace(/environment: (\S+)/, (_, e) => `environment: ${e === "qa" ? "dev" : "qa"}`),
    );
    add("apply one server changed", timed(lab("apply", "-f", fleet), env));
    writeFileSync(serverFile, original);
    timed(lab("apply", "-f", fleet), env);
  }

  const first = (kind) =>
    JSON.parse(
      spawnSync(node, [LAB, "get", kind, "-o", "json"], {
        env: { ...process.env, ...env },
        maxBuffer: 1 << 30,
        encoding: "utf8",
      }).stdout,
    );
  const alert = first("alerts").find((a) => a.kind === "user" && a.servers > 0)?.name;
  const group = [...first("groups")].sort((a, b) => b.servers - a.servers)[0]?.name;
  const label = [...first("labels")].sort((a, b) => b.servers - a.servers)[0]?.name;
  const commands = {
    floor: [node, "-e", "0"],
    "lab --version": lab("--version"),
    "lab --help": lab("--help"),
    "get servers -o json": lab("get", "servers", "-o", "json"),
    "get servers -o wide": lab("get", "servers", "-o", "wide"),
    [`show alert (${alert})`]: lab("show", "alert", alert),
    "show alert cert_expiry (every server)": lab("show", "alert", "cert_expiry"),
    [`show label (${label})`]: lab("show", "label", label),
    [`show group (${group})`]: lab("show", "group", group),
  };
  for (let i = 0; i < RUNS; i++) {
    log(`  command round ${i + 1}/${RUNS}`);
    for (const [k, cmd] of Object.entries(commands)) add(k, timed(cmd, env));
  }
  const inproc = spawnSync(node, [join(HERE, "out", "bench.mjs"), "resolve-all", home, "3"], {
    cwd: ROOT,
    encoding: "utf8",
  });
  const resolveAll = JSON.parse(inproc.stdout);
  results.sizes[size] = {
    alert,
    group,
    label,
    resolveAllMs: resolveAll.median,
    rows: Object.fromEntries(
      Object.entries(samples).map(([k, v]) => [
        k,
        {
          wall: median(v.map((x) => x.wall)),
          cpu: median(v.map((x) => x.cpu)),
          rss: Math.max(...v.map((x) => x.rss)),
          n: v.length,
        },
      ]),
    ),
  };
}
results.machine.loadEnd = loadavg();
writeFileSync(join(OUT, "..", "scale.json"), JSON.stringify(results, null, 2));

// The table: one row per measurement, one column group per size.
const names = [
  ...new Set(
    Object.values(results.sizes).flatMap((s) =>
      Object.keys(s.rows).map((k) => k.replace(/ \(.*\)$/, (m) => (m.includes("every") ? m : ""))),
    ),
  ),
];
const cell = (s, name) => {
  const key = Object.keys(s.rows).find((k) => k === name || k.replace(/ \([^)]*\)$/, "") === name);
  const r = key && s.rows[key];
  return r ? `${r.wall.toFixed(2)} s (CPU ${r.cpu.toFixed(2)}, ${Math.round(r.rss)} MB)` : "—";
};
const header = `| measurement | ${SIZES.map((n) => `${n.toLocaleString("en")} servers`).join(" | ")} |`;
const lines = [header, `|---|${SIZES.map(() => "---:").join("|")}|`];
for (const name of names)
  lines.push(`| ${name} | ${SIZES.map((n) => cell(results.sizes[n], name)).join(" | ")} |`);
lines.push(
  `| resolveAll() in-process (median of 3) | ${SIZES.map((n) => `${Math.round(results.sizes[n].resolveAllMs)} ms`).join(" | ")} |`,
);
const md = `${lines.join("\n")}\n\nload average ${results.machine.loadStart.map((x) => x.toFixed(1)).join(" ")} → ${results.machine.loadEnd.map((x) => x.toFixed(1)).join(" ")}, ${results.machine.cpus} vCPU, Node ${results.machine.node}\n`;
writeFileSync(join(OUT, "..", "scale.md"), md);
process.stdout.write(md);
