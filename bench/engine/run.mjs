#!/usr/bin/env node
/**
 * The engine benchmark. `npm run bench:engine` (which builds dist/lab.js first) runs:
 *
 *   1. generate   a deterministic 10,000-server fleet as YAML (bench/engine/out/fleet)
 *   2. apply      `lab apply -f` into a fresh LAB_HOME; must report 0 errors
 *   3. in-process resolve one server (fresh Fleet / warm Fleet), resolveAll(), the
 *                 show/targets views, and the steps `get servers` and `apply` are made of
 *   4. processes  whole-process wall and CPU time of `lab get servers -o json`, `lab show
 *                 server`, `lab targets server` (median of --runs, round-robin), plus apply
 *   5. report     a table with the targets next to the numbers; out/results.{json,md}
 *
 * Nothing passes or fails on time: the exit code only reflects a broken setup (the fleet does
 * not apply, a command fails). Options:
 *   --runs=N      whole-process repetitions per command (default 7, at least 5)
 *   --profile     also write --cpu-prof profiles of the CLI commands and of resolveAll() under
 *                 out/profiles/ and print where their time goes (see profile.mjs)
 *   --bundle-only only bundle the TypeScript side into out/bench.mjs (for running it by hand)
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { formatSummary, summarize } from "./profile.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../..");
const OUT = join(HERE, "out");
const FLEET = join(OUT, "fleet");
const HOME = join(OUT, "home");
/**
 * The CLI under test: a copy of dist/ taken at start (bin/lab.js only imports ../dist/lab.js),
 * so a rebuild of dist/ while the bench runs cannot change what is measured.
 */
const CLI = join(OUT, "cli");
const LAB = join(CLI, "lab.js");

const argv = process.argv.slice(2);
const RUNS = Math.max(5, Number(argv.find((a) => a.startsWith("--runs="))?.slice(7) ?? 7));
const PROFILE = argv.includes("--profile");
const BUNDLE_ONLY = argv.includes("--bundle-only");
const APPLY_RUNS = 3;

const TARGET_RESOLVE_MS = 5;
const TARGET_GET_SERVERS_S = 0.5;

const log = (s) => process.stderr.write(`${s}\n`);
const rel = (p) => relative(ROOT, p) || ".";

// ---------------------------------------------------------------------------------------------
// Helpers.

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const rank = (q) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
  const median = s.length % 2 ? rank(0.5) : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { n: s.length, min: s[0], median, p90: rank(0.9), p99: rank(0.99), max: s[s.length - 1] };
}

/** Bundles the TypeScript side (generator, in-process measurements) like scripts/build.mjs. */
async function bundle() {
  mkdirSync(OUT, { recursive: true });
  const outfile = join(OUT, "bench.mjs");
  await build({
    entryPoints: [join(HERE, "main.ts")],
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    sourcemap: "linked",
    external: ["better-sqlite3", "pg", "pg-native"],
    // CommonJS dependencies bundled into ESM still call require().
    banner: {
      js: "import { createRequire as __labRequire } from 'node:module'; const require = __labRequire(import.meta.url);",
    },
    logLevel: "warning",
  });
  return outfile;
}

/** Runs node with `args`; returns parsed JSON from its stdout. */
function nodeJson(args, env = {}) {
  const r = spawnSync(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`node ${args.join(" ")} failed (${r.status}):\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

const HAS_GNU_TIME =
  existsSync("/usr/bin/time") &&
  spawnSync("/usr/bin/time", ["-f", "%M", "-o", "/dev/null", "true"]).status === 0;

/**
 * Runs one command as its own process and measures it from outside: wall, user and sys time
 * of the child (bash `time`, which reads the child's rusage, millisecond resolution) and its
 * peak RSS (GNU time's %M, when present). stdout and stderr go to files.
 */
function timeProcess(cmd, { env = {}, tag = "run" } = {}) {
  const dir = join(OUT, "proc");
  mkdirSync(dir, { recursive: true });
  const files = {
    out: join(dir, `${tag}.stdout`),
    err: join(dir, `${tag}.stderr`),
    times: join(dir, `${tag}.times`),
    rss: join(dir, `${tag}.rss`),
  };
  const wrapped = HAS_GNU_TIME ? ["/usr/bin/time", "-f", "%M", "-o", files.rss, ...cmd] : cmd;
  const script =
    'TIMEFORMAT="%3R %3U %3S"; { time "$@" >"$BENCH_OUT" 2>"$BENCH_ERR"; } 2>"$BENCH_TIMES"; exit 0';
  const r = spawnSync("bash", ["-c", script, "bash", ...wrapped], {
    cwd: ROOT,
    env: { ...process.env, ...env, BENCH_OUT: files.out, BENCH_ERR: files.err, BENCH_TIMES: files.times },
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`bash failed: ${r.stderr}`);
  const timesText = readFileSync(files.times, "utf8").trim();
  const last = timesText.split("\n").at(-1) ?? "";
  const [wall, user, sys] = last.split(/\s+/).map(Number);
  const stderr = readFileSync(files.err, "utf8");
  // GNU time writes "Command exited with non-zero status N" before %M on failure.
  const rssText = HAS_GNU_TIME && existsSync(files.rss) ? readFileSync(files.rss, "utf8").trim() : "";
  const failed = /non-zero status/.test(rssText);
  const rssKb = Number(rssText.split("\n").at(-1));
  return {
    wall,
    user,
    sys,
    cpu: user + sys,
    rssMb: Number.isFinite(rssKb) && rssKb > 0 ? rssKb / 1024 : null,
    failed: failed || !Number.isFinite(wall),
    stdoutFile: files.out,
    stderr,
  };
}

/**
 * Measures several commands round-robin: one unmeasured warm-up round (page cache; the JIT
 * starts cold in every process anyway), then `runs` rounds, each running every command once.
 * Interleaving spreads load spikes from other work over all commands instead of one.
 */
function measureRoundRobin(cases, { runs = RUNS, env = {} } = {}) {
  const samples = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let round = -1; round < runs; round++) {
    for (const [key, c] of Object.entries(cases)) {
      const s = timeProcess(c.cmd(round), { env, tag: round < 0 ? `${key}-warmup` : key });
      if (s.failed) throw new Error(`${c.label} failed:\n${s.stderr}`);
      if (round >= 0) samples[key].push(s);
    }
  }
  const out = {};
  for (const [key, c] of Object.entries(cases)) {
    out[key] = summarise(c.label, c.cmd(0), samples[key]);
    log(
      `  ${c.label}: wall ${fmtS(out[key].wall.median)}, cpu ${fmtS(out[key].cpu.median)} (median of ${runs})`,
    );
  }
  return out;
}

/** `runs` runs of one command, one after the other. */
function repeat(label, makeCmd, { runs = RUNS, env = {}, tag } = {}) {
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const s = timeProcess(makeCmd(i), { env, tag });
    if (s.failed) throw new Error(`${label} failed:\n${s.stderr}`);
    samples.push(s);
  }
  const r = summarise(label, makeCmd(0), samples);
  log(`  ${label}: wall ${fmtS(r.wall.median)}, cpu ${fmtS(r.cpu.median)} (median of ${runs})`);
  return r;
}

function summarise(label, cmd, samples) {
  const pick = (k) => stats(samples.map((s) => s[k]));
  const rss = samples.map((s) => s.rssMb).filter((v) => v !== null);
  return {
    label,
    command: cmd
      .map((a) =>
        a === process.execPath ? "node" : a === LAB ? "bin/lab.js" : a.startsWith(ROOT) ? rel(a) : a,
      )
      .join(" "),
    runs: samples.length,
    wall: pick("wall"),
    user: pick("user"),
    sys: pick("sys"),
    cpu: pick("cpu"),
    rssMb: rss.length ? stats(rss) : null,
    samples: samples.map(({ wall, user, sys }) => ({ wall, user, sys })),
    lastStdout: samples.at(-1)?.stdoutFile,
    lastStderr: samples.at(-1)?.stderr,
  };
}

const fmtMs = (ms) =>
  ms === undefined || Number.isNaN(ms)
    ? "-"
    : ms < 0.1
      ? `${(ms * 1000).toFixed(0)} µs`
      : ms < 10
        ? `${ms.toFixed(2)} ms`
        : ms < 1000
          ? `${ms.toFixed(0)} ms`
          : `${(ms / 1000).toFixed(2)} s`;
const fmtS = (s) => (s === undefined ? "-" : `${s.toFixed(3)} s`);

function versus(value, target) {
  const ratio = value / target;
  return ratio <= 1
    ? `within (${(ratio * 100).toFixed(0)}% of target)`
    : `over by ${((ratio - 1) * 100).toFixed(0)}%`;
}

// ---------------------------------------------------------------------------------------------

async function main() {
  if (BUNDLE_ONLY) {
    log(`bundled ${rel(await bundle())}`);
    return;
  }
  if (!existsSync(join(ROOT, "dist/lab.js"))) {
    throw new Error("dist/lab.js is missing: run `npm run build` (npm run bench:engine does)");
  }
  rmSync(CLI, { recursive: true, force: true });
  cpSync(join(ROOT, "dist"), CLI, { recursive: true });
  const started = new Date();
  const machine = {
    date: started.toISOString(),
    node: process.version,
    nproc: spawnSync("nproc", { encoding: "utf8" }).stdout?.trim() || String(cpus().length),
    cpu: cpus()[0]?.model ?? "unknown",
    platform: `${process.platform} ${process.arch}`,
    commit: commitOf(),
    loadAtStart: loadavg().map((l) => Number(l.toFixed(2))),
    timing: HAS_GNU_TIME ? "bash time (wall/user/sys) + GNU time %M (RSS)" : "bash time (wall/user/sys)",
  };
  log(`engine bench: node ${machine.node}, ${machine.nproc} CPUs (${machine.cpu})`);

  log("1. bundling bench/engine/*.ts and generating the fleet");
  const benchJs = await bundle();
  const gen = nodeJson([benchJs, "generate", FLEET]);
  log(
    `  ${gen.counts.servers} servers, ${gen.counts.labels} labels, ${gen.counts.groups} groups, ` +
      `${gen.counts.alerts} alerts, ${gen.counts.sizes} sizes, ${gen.counts.secrets} secrets, ${gen.counts.classes} classes → ${gen.files} files, ` +
      `${(gen.bytes / 1e6).toFixed(1)} MB in ${rel(FLEET)}`,
  );

  log(`2. lab apply -f ${rel(FLEET)} (fresh LAB_HOME each run, ${APPLY_RUNS} runs)`);
  const applySamples = [];
  let applyDiag = null;
  for (let i = 0; i < APPLY_RUNS; i++) {
    const home = i === 0 ? HOME : join(OUT, "home-apply");
    rmSync(home, { recursive: true, force: true });
    const s = timeProcess([process.execPath, LAB, "apply", "-f", FLEET], {
      env: { LAB_HOME: home },
      tag: "apply",
    });
    const errors = [...s.stderr.matchAll(/ error (LAB_E_\w+)/g)].map((m) => m[1]);
    const warnings = [...s.stderr.matchAll(/ warning (LAB_W_\w+)/g)].map((m) => m[1]);
    if (s.failed || errors.length) {
      throw new Error(`the generated fleet does not apply cleanly:\n${s.stderr.slice(0, 4000)}`);
    }
    const summary = readFileSync(s.stdoutFile, "utf8").trim().split("\n").at(-1);
    applyDiag ??= { errors: 0, warnings: countBy(warnings), summary };
    applySamples.push(s);
    log(`  run ${i + 1}: wall ${fmtS(s.wall)}, cpu ${fmtS(s.cpu)} — ${summary}`);
  }
  rmSync(join(OUT, "home-apply"), { recursive: true, force: true });
  const apply = {
    label: "lab apply -f fleet (fresh state)",
    command: `LAB_HOME=${rel(HOME)} node bin/lab.js apply -f ${rel(FLEET)}`,
    runs: APPLY_RUNS,
    wall: stats(applySamples.map((s) => s.wall)),
    cpu: stats(applySamples.map((s) => s.cpu)),
    user: stats(applySamples.map((s) => s.user)),
    sys: stats(applySamples.map((s) => s.sys)),
    rssMb: applySamples[0]?.rssMb === null ? null : stats(applySamples.map((s) => s.rssMb)),
  };
  const reapply = repeat("lab apply (nothing changed)", () => [process.execPath, LAB, "apply", "-f", FLEET], {
    runs: APPLY_RUNS,
    env: { LAB_HOME: HOME },
    tag: "reapply",
  });

  log("3. in-process measurements");
  const inproc = nodeJson([benchJs, "inprocess", FLEET, HOME]);
  log(
    `  resolve one: warm ${fmtMs(inproc.resolveWarm.median)} (p99 ${fmtMs(inproc.resolveWarm.p99)}), ` +
      `fresh Fleet ${fmtMs(inproc.resolveFresh.median)} (p99 ${fmtMs(inproc.resolveFresh.p99)}); ` +
      `resolveAll ${fmtMs(inproc.resolveAll.median)}`,
  );
  if (inproc.diagnostics.errors > 0) {
    throw new Error(`in-process validation found errors: ${inproc.diagnostics.firstErrors.join("\n")}`);
  }

  // Server names to ask about: spread over the fleet, the same every run.
  const names = JSON.parse(
    readFileSync(
      timeProcess([process.execPath, LAB, "get", "servers", "-o", "json"], {
        env: { LAB_HOME: HOME },
        tag: "names",
      }).stdoutFile,
      "utf8",
    ),
  ).map((r) => r.name);
  if (names.length !== gen.counts.servers) {
    throw new Error(`lab get servers returned ${names.length} servers, expected ${gen.counts.servers}`);
  }
  const pickName = (i) => names[((((i + 1) * 7919) % names.length) + names.length) % names.length];

  const firsts = [];
  for (let i = 0; i < 5; i++) firsts.push(nodeJson([benchJs, "first", HOME, pickName(i + 100)]));
  const first = Object.fromEntries(Object.keys(firsts[0]).map((k) => [k, stats(firsts.map((f) => f[k]))]));
  log(`  first resolve in a new process: ${fmtMs(first.resolveMs.median)} (median of 5 processes)`);

  log(`4. whole-process times (${RUNS} rounds, round-robin, after one warm-up round)`);
  const lab = (...args) => [process.execPath, LAB, ...args];
  const procs = measureRoundRobin(
    {
      nodeFloor: { label: "node -e 0 (node start-up floor)", cmd: () => [process.execPath, "-e", "0"] },
      version: { label: "lab --version (bundle load floor)", cmd: () => lab("--version") },
      getServersJson: { label: "lab get servers -o json", cmd: () => lab("get", "servers", "-o", "json") },
      getServers: { label: "lab get servers (table)", cmd: () => lab("get", "servers") },
      showServer: { label: "lab show server NAME", cmd: (i) => lab("show", "server", pickName(i)) },
      targetsServer: { label: "lab targets server NAME", cmd: (i) => lab("targets", "server", pickName(i)) },
    },
    { env: { LAB_HOME: HOME } },
  );
  // The slow one on its own, fewer runs.
  procs.getServersWide = repeat(
    "lab get servers -o wide (resolves all)",
    () => lab("get", "servers", "-o", "wide"),
    {
      runs: 5,
      env: { LAB_HOME: HOME },
      tag: "get-wide",
    },
  );
  const jsonOut = readFileSync(procs.getServersJson.lastStdout, "utf8");
  const rows = JSON.parse(jsonOut);
  if (rows.length !== gen.counts.servers) throw new Error(`get servers -o json: ${rows.length} rows`);
  procs.getServersJson.outputBytes = Buffer.byteLength(jsonOut);

  machine.loadAtEnd = loadavg().map((l) => Number(l.toFixed(2)));

  let profiles = null;
  if (PROFILE) profiles = runProfiles(pickName(3), benchJs);

  const results = {
    machine,
    fleet: gen,
    applyDiagnostics: applyDiag,
    apply,
    reapply,
    inproc,
    first,
    procs,
    profiles,
  };
  writeFileSync(join(OUT, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  const md = markdown(results);
  writeFileSync(join(OUT, "results.md"), md);
  process.stdout.write(`\n${md}\n`);
  log(`wrote ${rel(join(OUT, "results.json"))} and ${rel(join(OUT, "results.md"))}`);
}

/** The commit measured: git's HEAD (marked "+ local changes" when dirty), else $LAB_BENCH_COMMIT. */
function commitOf() {
  const git = (...args) => spawnSync("git", args, { cwd: ROOT, encoding: "utf8" });
  const head = git("rev-parse", "--short", "HEAD");
  if (head.status !== 0) return process.env.LAB_BENCH_COMMIT ?? "unknown (not a git checkout)";
  const dirty = git("status", "--porcelain", "--untracked-files=no").stdout.trim() !== "";
  return `${head.stdout.trim()}${dirty ? " + local changes" : ""}`;
}

function countBy(items) {
  const out = {};
  for (const i of items) out[i] = (out[i] ?? 0) + 1;
  return out;
}

/** CPU profiles of the CLI commands and of resolveAll() (one process each, sampled every 100 µs). */
function runProfiles(name, benchJs) {
  log("5. profiling (node --cpu-prof --cpu-prof-interval 100)");
  const dir = join(OUT, "profiles");
  rmSync(dir, { recursive: true, force: true });
  const cases = {
    "get-servers-json": { argv: [LAB, "get", "servers", "-o", "json"], home: HOME },
    "show-server": { argv: [LAB, "show", "server", name], home: HOME },
    "targets-server": { argv: [LAB, "targets", "server", name], home: HOME },
    "get-servers-wide": { argv: [LAB, "get", "servers", "-o", "wide"], home: HOME },
    "resolve-all": { argv: [benchJs, "resolve-all", HOME, "3"], home: HOME },
    apply: { argv: [LAB, "apply", "-f", FLEET], home: join(OUT, "home-profile") },
  };
  const out = {};
  for (const [tag, c] of Object.entries(cases)) {
    const d = join(dir, tag);
    if (tag === "apply") rmSync(c.home, { recursive: true, force: true });
    const r = spawnSync(
      process.execPath,
      ["--cpu-prof", "--cpu-prof-interval", "100", "--cpu-prof-dir", d, ...c.argv],
      { cwd: ROOT, env: { ...process.env, LAB_HOME: c.home }, stdio: ["ignore", "ignore", "pipe"] },
    );
    if (r.status !== 0) throw new Error(`profiling ${tag} failed: ${r.stderr}`);
    const file = readdirSync(d).find((f) => f.endsWith(".cpuprofile"));
    const summary = summarize(JSON.parse(readFileSync(join(d, file), "utf8")), { top: 20 });
    const title = c.argv[0] === LAB ? `lab ${c.argv.slice(1).join(" ")}` : `resolveAll() x3 (${tag})`;
    process.stdout.write(formatSummary(title, summary));
    out[tag] = { file: rel(join(d, file)), summary };
  }
  rmSync(join(OUT, "home-profile"), { recursive: true, force: true });
  return out;
}

// ---------------------------------------------------------------------------------------------

function markdown(r) {
  const { inproc: p, procs, apply, reapply, first, fleet, machine } = r;
  const proc = (x) =>
    `wall ${fmtS(x.wall.median)}, CPU ${fmtS(x.cpu.median)} (min ${fmtS(x.wall.min)} / ${fmtS(x.cpu.min)})`;
  const rows = [
    [
      "resolve one server — warm Fleet (median / p99)",
      `${fmtMs(p.resolveWarm.median)} / ${fmtMs(p.resolveWarm.p99)}`,
      `< ${TARGET_RESOLVE_MS} ms: ${versus(p.resolveWarm.p99, TARGET_RESOLVE_MS)} at p99`,
    ],
    [
      "resolve one server — fresh Fleet each time (median / p99)",
      `${fmtMs(p.resolveFresh.median)} / ${fmtMs(p.resolveFresh.p99)}`,
      `< ${TARGET_RESOLVE_MS} ms: ${versus(p.resolveFresh.p99, TARGET_RESOLVE_MS)} at p99`,
    ],
    [
      "  … including `new Fleet(model)` (median / p99)",
      `${fmtMs(p.resolveFreshWithBuild.median)} / ${fmtMs(p.resolveFreshWithBuild.p99)}`,
      `< ${TARGET_RESOLVE_MS} ms: ${versus(p.resolveFreshWithBuild.p99, TARGET_RESOLVE_MS)} at p99`,
    ],
    [
      "resolve one server — first call in a new process, JIT-cold (median of 5)",
      fmtMs(first.resolveMs.median),
      `< ${TARGET_RESOLVE_MS} ms: ${versus(first.resolveMs.median, TARGET_RESOLVE_MS)}`,
    ],
    [
      `resolveAll() — ${fleet.counts.servers} servers (median of ${p.resolveAll.n}, warm JIT)`,
      `${fmtMs(p.resolveAll.median)} (${fmtMs(p.resolveAll.median / fleet.counts.servers)}/server)`,
      "anchor, not run here: Go selector engine ~26 ms for 10^4 objects",
    ],
    ["resolveAll() — first call in a new process (median of 5)", fmtMs(first.resolveAllMs.median), ""],
    [
      "show/targets in-process: FleetViews.server — warm / fresh Fleet (median)",
      `${fmtMs(p.viewsServerWarm.median)} / ${fmtMs(p.viewsServerFresh.median)}`,
      `p99 ${fmtMs(p.viewsServerWarm.p99)} / ${fmtMs(p.viewsServerFresh.p99)}`,
    ],
    [
      "show/targets in-process: LabService over SQLite — cached / first call (median)",
      `${fmtMs(p.store.targetsWarm.median)} / ${fmtMs(p.store.targetsFirstCall.median)}`,
      "first call = load state + build Fleet + resolve",
    ],
    [
      `**lab get servers -o json** (whole process, ${fleet.counts.servers} servers)`,
      `**${proc(procs.getServersJson)}**`,
      `< ${TARGET_GET_SERVERS_S} s process time: ${versus(procs.getServersJson.cpu.median, TARGET_GET_SERVERS_S)} (CPU), ${versus(procs.getServersJson.wall.median, TARGET_GET_SERVERS_S)} (wall)`,
    ],
    ["lab get servers (table)", proc(procs.getServers), ""],
    ["lab get servers -o wide (resolves every server for its groups)", proc(procs.getServersWide), ""],
    [
      "**lab show server NAME** (whole process)",
      `**${proc(procs.showServer)}**`,
      "anchor, not run here: MAAS API 40 s for 100 nodes",
    ],
    ["**lab targets server NAME** (whole process)", `**${proc(procs.targetsServer)}**`, ""],
    [
      `**lab apply -f** (${fleet.counts.servers} servers, fresh state, median of ${apply.runs})`,
      `**wall ${fmtS(apply.wall.median)}, CPU ${fmtS(apply.cpu.median)}**`,
      `in-process: parse ${fmtMs(p.apply.parseMs)}, validate ${fmtMs(p.apply.validateMs)} (JIT-cold)`,
    ],
    ["lab apply -f, nothing changed", proc(reapply), ""],
    ["floor: node -e 0", proc(procs.nodeFloor), ""],
    ["floor: lab --version (loads the bundle)", proc(procs.version), ""],
  ];
  const table = [
    "| measurement | result | target / anchor |",
    "| --- | --- | --- |",
    ...rows.map((row) => `| ${row.join(" | ")} |`),
  ].join("\n");
  const c = fleet.counts;
  const w = r.applyDiagnostics.warnings;
  const breakdown = [
    `store.load() ${fmtMs(p.store.load.median)}`,
    `modelFromResources ${fmtMs(p.store.modelFromResources.median)}`,
    `new Fleet ${fmtMs(p.fleetBuild.median)}`,
    `serverRows ${fmtMs(p.serverRows.median)}`,
    `JSON.stringify ${fmtMs(p.serverRowsJson.median)} (${(p.serverRowsJson.bytes / 1e6).toFixed(1)} MB)`,
  ].join(", ");
  return `## Engine (bench/engine)

Reproduce: \`npm run bench:engine\` (add \`-- --profile\` for CPU profiles; raw numbers in
\`bench/engine/out/results.json\`).

Commit ${machine.commit}. Machine: ${machine.nproc} vCPU (\`nproc\`), ${machine.cpu}, ${machine.platform},
Node ${machine.node}; measured ${machine.date.slice(0, 10)}; load average (1/5/15 min) ${machine.loadAtStart.join("/")} at
start, ${machine.loadAtEnd.join("/")} at the end (a shared machine: other work competes for the CPUs). Timing: ${machine.timing}; whole-process cells are
medians of ${procs.getServersJson.runs} rounds run round-robin after one warm-up round, "(min …)" the fastest run.

Fleet (seeded, \`bench/engine/generate.ts\`): ${c.servers} servers, ${c.labels} labels, ${c.groups} groups
(levels 1–4: ${[1, 2, 3, 4].map((l) => c.groupLevels[`level${l}`]).join("/")}, ${c.groupsWithExclude} with exclude),
${c.alerts} alerts (${c.alertsWithExclude} with exclude), ${c.sizes} sizes, ${c.secrets} secrets, ${c.classes} classes; ${fleet.files} YAML files,
${(fleet.bytes / 1e6).toFixed(1)} MB. \`lab apply\`: 0 errors, warnings ${
    Object.entries(w)
      .map(([k, v]) => `${v} ${k}`)
      .join(", ") || "none"
  }. A resolution averages ${p.fleet.perServer.groups} groups, ${p.fleet.perServer.alerts} alerts,
${p.fleet.perServer.classes} classes, ${p.fleet.perServer.secrets} secrets, ${p.fleet.perServer.excluded} exclusions.

${table}

- *warm Fleet*: one \`Fleet\` reused, JIT warmed on other servers, then \`resolve()\` over
  ${p.samples.warm} different servers. \`resolve()\` caches nothing per server, so each call is a full computation.
- *fresh Fleet*: \`new Fleet(model)\` before each of ${p.samples.cold} servers (indexes not yet touched; JIT warm);
  the row below adds the constructor (${fmtMs(p.fleetBuild.median)} median).
- *first call in a new process*: what one \`lab show server\` pays — JIT-cold code.
- \`get servers\` in-process breakdown (medians): ${breakdown}.
`;
}

main().catch((e) => {
  log(`engine bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
});
