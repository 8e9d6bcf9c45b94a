#!/usr/bin/env node
/**
 * The API benchmark. `npm run bench:api` (which builds dist/ first) runs, in one go:
 *
 *   1. fleet      a deterministic 1,000-server inventory (generate.mjs) applied with
 *                 `lab apply -f` into a throwaway LAB_HOME (bench/api/out/home)
 *   2. HTTP       `lab server --insecure-http` and a bare node:http server (bare.mjs) that
 *                 answers with the very bytes and headers Lab sent, both pinned to core 0;
 *                 the load generator (wrk, else autocannon) pinned to core 1, same
 *                 connections and duration for both; rounds interleave Lab and bare so
 *                 machine drift hits both alike. Routes: GET /api/v1/servers/NAME (one
 *                 resolution with provenance) and GET /api/v1/servers (the list).
 *   3. WebSocket  32 clients on /api/v1/events/ws (ws-clients.mjs, core 1), counting every
 *                 message and checking ids against what was produced:
 *                 a) events made by small applies through POST /api/v1/apply (the real path,
 *                    production-bound: its rate is reported on its own);
 *                 b) a burst of events committed to the store by another process (the path a
 *                    CLI writing next to the server takes; the server's feed picks them up),
 *                    which measures the fan-out itself: delivered messages / (last − first
 *                    delivery).
 *   4. profile    when Lab misses a target (or API_BENCH_PROFILE=1): the Lab server again
 *                 under `node --cpu-prof`, same load, and where its time goes (profile.mjs)
 *   5. report     out/results.{json,md}, and the "## API (bench/api)" section of
 *                 bench/RESULTS.md
 *
 * Nothing passes or fails on time: the exit code only reflects a broken setup.
 * `node bench/api/run.mjs --report-only` renders out/results.json again (e.g. after editing
 * ANALYSIS.md, which the report includes) without measuring. Environment:
 *   API_BENCH_DURATION=10      seconds per load run          API_BENCH_CONNECTIONS=64
 *   API_BENCH_ROUNDS=2         interleaved rounds per route   API_BENCH_WARMUP=2 (seconds)
 *   API_BENCH_SERVERS=1000     fleet size                     API_BENCH_TOOL=wrk|autocannon
 *   API_BENCH_WS_CLIENTS=32    API_BENCH_WS_BURST=10000 (events)  API_BENCH_WS_BURSTS=3 (median)
 *   API_BENCH_WS_APPLY_SECONDS=5   API_BENCH_WS_APPLY_CONCURRENCY=4
 *   API_BENCH_PROFILE=auto|1|0     API_BENCH_NO_RESULTS=1 (do not touch bench/RESULTS.md)
 *   API_BENCH_FASTIFY=0        skip the plain-Fastify reference (fastify-bare.mjs)
 *   API_BENCH_CLI=DIR          measure the lab.js in DIR (a dist/ copy) instead of dist/
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createRequire } from "node:module";
import { cpus, loadavg } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { generateFleet, writeFleet } from "./generate.mjs";
import { formatSummary, summarize } from "./profile.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../..");
const OUT = join(HERE, "out");
const FLEET = join(OUT, "fleet");
const HOME = join(OUT, "home");
const BODIES = join(OUT, "bodies");
const PROFILES = join(OUT, "profiles");
/**
 * A copy of dist/ taken at start, so a rebuild while the bench runs cannot change what is
 * measured; API_BENCH_CLI=DIR measures another build's dist/ instead (a what-if experiment).
 */
const CLI = process.env.API_BENCH_CLI ? resolve(process.env.API_BENCH_CLI) : join(OUT, "cli");
const LAB = join(CLI, "lab.js");
const requireHere = createRequire(import.meta.url);

const env = process.env;
const num = (k, d) => (env[k] !== undefined && env[k] !== "" ? Number(env[k]) : d);
const CFG = {
  duration: num("API_BENCH_DURATION", 10),
  connections: num("API_BENCH_CONNECTIONS", 64),
  rounds: Math.max(1, num("API_BENCH_ROUNDS", 2)),
  warmup: num("API_BENCH_WARMUP", 2),
  servers: num("API_BENCH_SERVERS", 1000),
  wsClients: num("API_BENCH_WS_CLIENTS", 32),
  wsBurst: num("API_BENCH_WS_BURST", 10_000),
  wsBursts: Math.max(1, num("API_BENCH_WS_BURSTS", 3)),
  wsApplySeconds: num("API_BENCH_WS_APPLY_SECONDS", 5),
  wsApplyConcurrency: num("API_BENCH_WS_APPLY_CONCURRENCY", 4),
  profile: env.API_BENCH_PROFILE ?? "auto",
  tool: env.API_BENCH_TOOL ?? (hasCommand("wrk") ? "wrk" : "autocannon"),
  fastify: env.API_BENCH_FASTIFY !== "0",
};
const TARGET_HTTP_RATIO = 0.7;
const TARGET_WS_MSGS = 100_000;

const log = (s) => process.stderr.write(`${s}\n`);
const rel = (p) => relative(ROOT, p) || ".";
const clock = () => performance.timeOrigin + performance.now();
const fmt = (n, d = 0) =>
  n === null || n === undefined || Number.isNaN(n)
    ? "—"
    : n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });

function hasCommand(cmd) {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}

const PIN =
  hasCommand("taskset") && cpus().length >= 2 && spawnSync("taskset", ["-c", "1", "true"]).status === 0;
/** argv pinned to one core when the machine has two and taskset exists. */
const pinned = (core, argv) => (PIN ? ["taskset", "-c", String(core), ...argv] : argv);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return null;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

// ---------------------------------------------------------------------------------------------
// Processes.

const children = new Set();
process.on("exit", () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
});
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
    process.exit(130);
  });
}

/** Starts argv; resolves when a stdout/stderr line matches `ready` (its match is returned). */
function startProcess(argv, { env: extra = {}, ready, timeoutMs = 30_000, name }) {
  const child = spawn(argv[0], argv.slice(1), {
    cwd: ROOT,
    env: { ...process.env, ...extra },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  child.on("exit", () => children.delete(child));
  let output = "";
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} did not start in ${timeoutMs} ms:\n${output}`)),
      timeoutMs,
    );
    const onData = (d) => {
      output += d.toString();
      const m = ready.exec(output);
      if (m) {
        clearTimeout(timer);
        child.stdout.off("data", onData);
        child.stderr.off("data", onData);
        child.stdout.resume();
        child.stderr.on("data", (x) => {
          child.lateStderr = (child.lateStderr ?? "") + x.toString();
        });
        resolveReady({ child, match: m });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before it was ready:\n${output}`));
    });
  });
}

async function stopProcess(child, graceMs = 15_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(t);
}

async function startLab({ profileDir } = {}) {
  const nodeArgs = profileDir ? [`--cpu-prof`, `--cpu-prof-dir=${profileDir}`] : [];
  const { child, match } = await startProcess(
    pinned(0, [
      process.execPath,
      ...nodeArgs,
      LAB,
      "server",
      "--listen",
      "127.0.0.1:0",
      "--insecure-http",
      // The default interval (1h) never fires during the bench. (Do not pass 30d: above
      // 24.8 days setInterval overflows to 1 ms and the server snapshots continuously.)
    ]),
    { env: { LAB_HOME: HOME }, ready: /listening on http:\/\/127\.0\.0\.1:(\d+)/, name: "lab server" },
  );
  child.on("exit", (code, signal) => {
    if (!child.expectedExit)
      log(`!! lab server exited unexpectedly (${code ?? signal}) ${child.lateStderr ?? ""}`);
  });
  const port = Number(match[1]);
  const token = readFileSync(join(HOME, "server", "admin.token"), "utf8").trim();
  return { child, port, token, url: `http://127.0.0.1:${port}` };
}

async function stopLab(lab) {
  lab.child.expectedExit = true;
  await stopProcess(lab.child);
}

/** One GET with raw headers: {status, rawHeaders, headerBytes, body}. */
function get(port, path, headers = {}) {
  return new Promise((resolveGet, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const raw = res.rawHeaders;
        // Status line + "Name: value\r\n" per header + the blank line.
        let bytes = `HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\n`.length + 2;
        for (let i = 0; i < raw.length; i += 2) bytes += raw[i].length + 2 + raw[i + 1].length + 2;
        resolveGet({
          status: res.statusCode,
          rawHeaders: raw,
          headerBytes: bytes,
          body: Buffer.concat(chunks),
        });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

function postJson(port, path, token, body) {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolvePost, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          "content-length": payload.length,
        },
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          if (res.statusCode !== 200) reject(new Error(`POST ${path}: ${res.statusCode} ${text}`));
          else resolvePost(JSON.parse(text));
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

// ---------------------------------------------------------------------------------------------
// Load generation.

function parseWrkDuration(s) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(s);
  if (!m) return null;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2]];
}

/** One load run: {rps, requests, non2xx, errors, p50, p99, mbps}. */
function load(url, token, seconds) {
  if (CFG.tool === "wrk") {
    const r = spawnSync(
      pinned(1, ["wrk"])[0],
      [
        ...pinned(1, ["wrk"]).slice(1),
        "-t1",
        `-c${CFG.connections}`,
        `-d${seconds}s`,
        "--latency",
        "-H",
        `Authorization: Bearer ${token}`,
        url,
      ],
      { encoding: "utf8" },
    );
    if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}${r.stdout}`);
    const out = r.stdout;
    const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? Number.NaN);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN);
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
    const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    const errors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
    const p50 = parseWrkDuration(/\s50%\s+(\S+)/.exec(out)?.[1] ?? "");
    const p99 = parseWrkDuration(/\s99%\s+(\S+)/.exec(out)?.[1] ?? "");
    const transfer = /Transfer\/sec:\s+([\d.]+)(B|KB|MB|GB)/.exec(out);
    const mbps = transfer
      ? Number(transfer[1]) * { B: 1e-6, KB: 1.024e-3, MB: 1.048576, GB: 1073.741824 }[transfer[2]]
      : null;
    return { rps, requests, non2xx, errors, p50, p99, mbps };
  }
  const bin = join(dirname(requireHere.resolve("autocannon/package.json")), "autocannon.js");
  const r = spawnSync(
    pinned(1, [process.execPath])[0],
    [
      ...pinned(1, [process.execPath]).slice(1),
      bin,
      "--json",
      "-c",
      String(CFG.connections),
      "-d",
      String(seconds),
      "-H",
      `authorization=Bearer ${token}`,
      url,
    ],
    { encoding: "utf8", maxBuffer: 64 << 20 },
  );
  if (r.status !== 0) throw new Error(`autocannon failed: ${r.stderr}`);
  const j = JSON.parse(r.stdout);
  const requests = j.requests.total;
  return {
    rps: requests / (j.duration || seconds),
    requests,
    non2xx: j.non2xx,
    errors: j.errors + j.timeouts,
    p50: j.latency.p50,
    p99: j.latency.p99,
    mbps: j.throughput.total / (j.duration || seconds) / 1e6,
  };
}

// ---------------------------------------------------------------------------------------------
// The phases.

function machine() {
  const cpu = cpus()[0]?.model ?? "?";
  let commit = "?";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
    const dirty = execFileSync(
      "git",
      ["status", "--porcelain", "--", "packages", "scripts", "package.json"],
      {
        cwd: ROOT,
        encoding: "utf8",
      },
    );
    if (dirty.trim()) commit += " + uncommitted changes in packages/";
  } catch {}
  return {
    date: new Date().toISOString(),
    nproc: cpus().length,
    cpu,
    node: process.version,
    loadavg: loadavg().map((x) => Number(x.toFixed(2))),
    cpuPressure: cpuPressure(),
    pinned: PIN,
    tool:
      CFG.tool === "wrk"
        ? `wrk ${/(\d+\.\d+\.\d+)/.exec(spawnSync("wrk", ["-v"], { encoding: "utf8" }).stdout)?.[1] ?? ""}`.trim()
        : `autocannon ${JSON.parse(readFileSync(requireHere.resolve("autocannon/package.json"), "utf8")).version}`,
    commit,
  };
}

/** Linux PSI: % of the last 60 s in which some runnable task waited for a CPU (other load). */
function cpuPressure() {
  try {
    return Number(
      /some avg10=[\d.]+ avg60=([\d.]+)/.exec(readFileSync("/proc/pressure/cpu", "utf8"))?.[1] ?? Number.NaN,
    );
  } catch {
    return null;
  }
}

function snapshotCli() {
  if (env.API_BENCH_CLI) {
    if (!existsSync(LAB)) throw new Error(`API_BENCH_CLI: no lab.js in ${CLI}`);
    return;
  }
  const dist = join(ROOT, "dist");
  if (!existsSync(join(dist, "lab.js"))) throw new Error("no dist/lab.js: run `npm run build` first");
  rmSync(CLI, { recursive: true, force: true });
  cpSync(dist, CLI, { recursive: true });
}

function prepareFleet() {
  const fleet = generateFleet(CFG.servers);
  writeFleet(FLEET, fleet);
  rmSync(HOME, { recursive: true, force: true });
  mkdirSync(HOME, { recursive: true });
  const t0 = clock();
  const r = spawnSync(process.execPath, [LAB, "apply", "-f", FLEET], {
    cwd: ROOT,
    env: { ...process.env, LAB_HOME: HOME },
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`lab apply failed (${r.status}):\n${r.stderr}${r.stdout.slice(-2000)}`);
  const summary = r.stdout.trim().split("\n").at(-1);
  return {
    fleet,
    counts: {
      servers: fleet.names.length,
      labels: Object.keys(fleet.labels).length,
      groups: Object.keys(fleet.groups).length,
      alerts: fleet.alerts.length,
      sizes: Object.keys(fleet.sizes).length,
      secrets: Object.keys(fleet.secrets).length,
    },
    applySeconds: (clock() - t0) / 1000,
    applySummary: summary,
  };
}

/** Fetches the routes from Lab and writes the bare server's config with the same bytes. */
async function captureRoutes(lab, paths) {
  mkdirSync(BODIES, { recursive: true });
  const routes = {};
  const captured = {};
  for (const [key, path] of Object.entries(paths)) {
    const r = await get(lab.port, path, { authorization: `Bearer ${lab.token}` });
    if (r.status !== 200)
      throw new Error(`GET ${path} answered ${r.status}: ${r.body.toString().slice(0, 500)}`);
    const headers = {};
    for (let i = 0; i < r.rawHeaders.length; i += 2) {
      const name = r.rawHeaders[i].toLowerCase();
      // node:http adds these three itself, as it does under Fastify.
      if (["date", "connection", "keep-alive"].includes(name)) continue;
      headers[r.rawHeaders[i]] = r.rawHeaders[i + 1];
    }
    const bodyFile = join(BODIES, `${key}.json`);
    writeFileSync(bodyFile, r.body);
    routes[path] = { headers, bodyFile };
    captured[key] = { path, bytes: r.body.length, labHeaderBytes: r.headerBytes, headers: r.rawHeaders };
  }
  const config = join(OUT, "bare-routes.json");
  writeFileSync(config, JSON.stringify({ routes, keepAliveTimeout: 72_000 }, null, 2));
  return { config, captured };
}

/** A reference server (bare.mjs, fastify-bare.mjs) on core 0. */
async function startReference(script, config) {
  const { child, match } = await startProcess(pinned(0, [process.execPath, join(HERE, script), config]), {
    ready: /listening (\d+)/,
    name: script,
  });
  return { child, port: Number(match[1]) };
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return null;
  }
}

/** Lab's own /metrics: per store operation {count, sumMs}, and requests per route. */
async function scrapeMetrics(lab) {
  const r = await get(lab.port, "/metrics");
  const ops = {};
  const requests = {};
  for (const line of r.body.toString().split("\n")) {
    let m = /^lab_db_operation_duration_seconds_(sum|count)\{operation="([^"]+)"\} ([\d.e+-]+)/.exec(line);
    if (m) {
      ops[m[2]] ??= { count: 0, sumMs: 0 };
      if (m[1] === "count") ops[m[2]].count = Number(m[3]);
      else ops[m[2]].sumMs = Number(m[3]) * 1000;
      continue;
    }
    m = /^lab_http_requests_total\{method="GET",route="([^"]+)",status="(\d+)"\} (\d+)/.exec(line);
    if (m) requests[`${m[1]} ${m[2]}`] = Number(m[3]);
  }
  return { ops, requests };
}

async function httpPhase(lab, refs, captured) {
  // Same bytes both ways?
  for (const [key, c] of Object.entries(captured)) {
    const body = readFileSync(join(BODIES, `${key}.json`));
    c.refHeaderBytes = {};
    for (const [name, ref] of Object.entries(refs)) {
      const b = await get(ref.port, c.path, { authorization: `Bearer ${lab.token}` });
      if (b.status !== 200 || !b.body.equals(body))
        throw new Error(`${name} server's body differs for ${c.path}`);
      c.refHeaderBytes[name] = b.headerBytes;
    }
  }
  const targets = [];
  for (const [key, c] of Object.entries(captured)) {
    targets.push({ route: key, server: "lab", url: `${lab.url}${c.path}`, pid: lab.child.pid });
    for (const [name, ref] of Object.entries(refs)) {
      targets.push({
        route: key,
        server: name,
        url: `http://127.0.0.1:${ref.port}${c.path}`,
        pid: ref.child.pid,
      });
    }
  }
  if (CFG.warmup > 0) {
    log(`warm-up: ${CFG.warmup} s per target`);
    for (const t of targets) load(t.url, lab.token, CFG.warmup);
  }
  const runs = [];
  for (let round = 1; round <= CFG.rounds; round++) {
    for (const t of targets) {
      const cpu0 = cpuSeconds(t.pid);
      const r = load(t.url, lab.token, CFG.duration);
      const cpu1 = cpuSeconds(t.pid);
      // The server's own CPU time per request (from /proc): unlike req/s, it does not count
      // the time the server waited for its core while other load on the machine ran.
      const cpuUsPerRequest = cpu0 === null || cpu1 === null ? null : ((cpu1 - cpu0) * 1e6) / r.requests;
      runs.push({ round, route: t.route, server: t.server, ...r, cpuUsPerRequest });
      log(
        `  round ${round} ${t.route.padEnd(5)} ${t.server.padEnd(7)} ${fmt(r.rps).padStart(8)} req/s  p50 ${fmt(r.p50, 2)} ms  p99 ${fmt(r.p99, 2)} ms  CPU ${fmt(cpuUsPerRequest, 0)} µs/req` +
          (r.non2xx || r.errors ? `  (non-2xx ${r.non2xx}, socket errors ${r.errors})` : ""),
      );
    }
  }
  const routes = {};
  for (const key of Object.keys(captured)) {
    const of = (server) => runs.filter((r) => r.route === key && r.server === server);
    const labRuns = of("lab");
    const bareRuns = of("bare");
    const labRps = median(labRuns.map((r) => r.rps));
    const bareRps = median(bareRuns.map((r) => r.rps));
    const perRound = labRuns.map((r, i) => r.rps / bareRuns[i].rps);
    const fastifyRuns = of("fastify");
    const summary = (rs) =>
      rs.length
        ? {
            rps: median(rs.map((r) => r.rps)),
            p50: median(rs.map((r) => r.p50)),
            p99: median(rs.map((r) => r.p99)),
            cpuUsPerRequest: median(rs.map((r) => r.cpuUsPerRequest)),
          }
        : null;
    routes[key] = {
      path: captured[key].path,
      bodyBytes: captured[key].bytes,
      headerBytes: { lab: captured[key].labHeaderBytes, ...captured[key].refHeaderBytes },
      lab: summary(labRuns),
      bare: summary(bareRuns),
      fastify: summary(fastifyRuns),
      ratio: labRps / bareRps,
      fastifyRatio: fastifyRuns.length ? median(fastifyRuns.map((r) => r.rps)) / bareRps : null,
      /** bare's CPU per request ÷ Lab's: the req/s ratio both would reach, each on a whole core. */
      cpuRatio:
        median(bareRuns.map((r) => r.cpuUsPerRequest)) / median(labRuns.map((r) => r.cpuUsPerRequest)),
      perRoundRatios: perRound,
      non2xx: {
        lab: labRuns.reduce((a, r) => a + r.non2xx, 0),
        bare: bareRuns.reduce((a, r) => a + r.non2xx, 0),
      },
      socketErrors: {
        lab: labRuns.reduce((a, r) => a + r.errors, 0),
        bare: bareRuns.reduce((a, r) => a + r.errors, 0),
      },
    };
  }
  return { runs, routes };
}

/** Starts the WebSocket clients' process and waits until all are connected. */
async function startWsClients(lab) {
  const child = spawn(
    pinned(1, [process.execPath])[0],
    [
      ...pinned(1, [process.execPath]).slice(1),
      join(HERE, "ws-clients.mjs"),
      `ws://127.0.0.1:${lab.port}/api/v1/events/ws`,
      lab.token,
      String(CFG.wsClients),
    ],
    { cwd: ROOT, stdio: ["ignore", "inherit", "inherit", "ipc"] },
  );
  children.add(child);
  child.on("exit", () => children.delete(child));
  const waiting = [];
  child.on("message", (m) => waiting.shift()?.(m));
  const ask = (msg) =>
    new Promise((r) => {
      waiting.push(r);
      if (msg) child.send(msg);
    });
  const ready = await ask(null);
  if (!ready.ready) throw new Error("ws clients did not start");
  return { child, ask };
}

/** a) events from applies through the API, `concurrency` at a time for `seconds`. */
async function wsApplies(lab, clients) {
  await clients.ask({ cmd: "reset" });
  const ids = [];
  let n = 0;
  const t0 = clock();
  const end = t0 + CFG.wsApplySeconds * 1000;
  const worker = async (w) => {
    while (clock() < end) {
      const i = n++;
      const text = `labels:\n  bench-ws-${w}:\n    description: "tick ${i}"\n`;
      const r = await postJson(lab.port, "/api/v1/apply", lab.token, {
        files: [{ path: `bench-${w}.yaml`, text }],
      });
      if (r.eventId) ids.push(r.eventId);
    }
  };
  await Promise.all(Array.from({ length: CFG.wsApplyConcurrency }, (_, w) => worker(w)));
  const t1 = clock();
  const { report } = await clients.ask({ cmd: "wait", expected: { list: ids }, idleMs: 5000 });
  const deliverySpan = (report.lastDelivery - report.firstDelivery) / 1000;
  return {
    events: ids.length,
    productionSeconds: (t1 - t0) / 1000,
    eventsPerSecond: ids.length / ((t1 - t0) / 1000),
    applyMs: ((t1 - t0) / Math.max(1, ids.length)) * CFG.wsApplyConcurrency,
    ...report,
    deliverySeconds: deliverySpan,
    deliveredPerSecond: report.messages / deliverySpan,
    endToEndPerSecond: report.messages / ((report.lastDelivery - t0) / 1000),
  };
}

/** b) a burst of events committed by another process; the server's feed fans them out. */
async function wsBurst(lab, clients, events) {
  await clients.ask({ cmd: "reset" });
  const Database = requireHere("better-sqlite3");
  const db = new Database(join(HOME, "state.db"), { timeout: 10_000 });
  const now = new Date().toISOString();
  // The shape an apply of one label records (cf. GET /api/v1/events).
  const insert = db.prepare(
    "insert into events (time, actor, action, result, summary, changes, subjects) values (?, ?, ?, ?, ?, ?, ?)",
  );
  let lo = 0;
  let hi = 0;
  const serverCpu0 = cpuSeconds(lab.child.pid);
  const t0 = clock();
  db.transaction(() => {
    for (let i = 0; i < events; i++) {
      const name = `bench-burst-${i % 100}`;
      const r = insert.run(
        now,
        "cli:bench",
        "apply",
        "ok",
        "0 created, 1 updated, 0 deleted, 0 unchanged",
        JSON.stringify([{ op: "update", kind: "label", name, fields: ["description"] }]),
        JSON.stringify([`label/${name}`]),
      );
      const id = Number(r.lastInsertRowid);
      if (i === 0) lo = id;
      hi = id;
    }
  })();
  const committed = clock();
  db.close();
  const { report, timedOut } = await clients.ask({ cmd: "wait", expected: { lo, hi }, idleMs: 5000 });
  const serverCpu1 = cpuSeconds(lab.child.pid);
  const deliverySpan = (report.lastDelivery - report.firstDelivery) / 1000;
  return {
    serverCpuSeconds: serverCpu0 === null || serverCpu1 === null ? null : serverCpu1 - serverCpu0,
    events,
    insertSeconds: (committed - t0) / 1000,
    pickupMs: report.firstDelivery - committed,
    ...report,
    timedOut,
    deliverySeconds: deliverySpan,
    deliveredPerSecond: report.messages / deliverySpan,
    commitToLastSeconds: (report.lastDelivery - committed) / 1000,
  };
}

async function wsPhase(lab, { applies = true, burstCount = CFG.wsBursts } = {}) {
  const clients = await startWsClients(lab);
  try {
    const a = applies ? await wsApplies(lab, clients) : null;
    if (a) {
      log(
        `  applies: ${a.events} events in ${fmt(a.productionSeconds, 1)} s (${fmt(a.eventsPerSecond, 1)} events/s), ` +
          `${fmt(a.messages)} messages delivered (${fmt(a.deliveredPerSecond)} msg/s), not delivered ${a.notDelivered}, missed ${a.missed}`,
      );
    }
    const bursts = [];
    for (let i = 0; i < burstCount; i++) {
      const b = await wsBurst(lab, clients, CFG.wsBurst);
      // Share of the delivery window each side spent on CPU: near 100 % = that side is the limit.
      b.serverBusy = b.serverCpuSeconds === null ? null : b.serverCpuSeconds / b.deliverySeconds;
      b.clientsBusy = b.cpuSeconds / b.deliverySeconds;
      // Robust to other load on the machine: server CPU per delivered message, and the rate
      // that would give with a whole core.
      b.serverUsPerMessage = b.serverCpuSeconds === null ? null : (b.serverCpuSeconds * 1e6) / b.messages;
      b.serverBoundPerSecond = b.serverUsPerMessage ? 1e6 / b.serverUsPerMessage : null;
      bursts.push(b);
      log(
        `  burst ${i + 1}: ${fmt(b.events)} events → ${fmt(b.messages)} messages in ${fmt(b.deliverySeconds, 2)} s = ${fmt(b.deliveredPerSecond)} msg/s; ` +
          `not delivered ${b.notDelivered} (announced by ${b.missedNotices} missed notices: ${b.missed}), pickup ${fmt(b.pickupMs)} ms, ` +
          `CPU s server ${fmt(b.serverCpuSeconds, 2)} · clients ${fmt(b.cpuSeconds, 2)}`,
      );
    }
    // The median burst by delivered msg/s stands for the run; losses are summed over all.
    const sorted = [...bursts].sort((x, y) => x.deliveredPerSecond - y.deliveredPerSecond);
    const median = sorted[Math.floor((sorted.length - 1) / 2)];
    const burst = {
      ...median,
      index: bursts.indexOf(median),
      notDeliveredAll: bursts.reduce((n, b) => n + b.notDelivered, 0),
      lostAll: bursts.reduce((n, b) => n + b.lost, 0),
      missedAll: bursts.reduce((n, b) => n + b.missed, 0),
    };
    return { applies: a, burst, bursts };
  } finally {
    clients.child.send({ cmd: "close" });
    await new Promise((r) => (clients.child.exitCode !== null ? r() : clients.child.once("exit", r)));
  }
}

/** Runs `work` against a Lab server under --cpu-prof; returns the profile's summary. */
async function profiled(name, work) {
  const dir = join(PROFILES, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const lab = await startLab({ profileDir: dir });
  try {
    await work(lab);
  } finally {
    await stopLab(lab);
  }
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) return null;
  return summarize(join(dir, file));
}

// ---------------------------------------------------------------------------------------------
// Report.

function markdown(R) {
  // The settings of the run being reported (which may be an earlier one: --report-only).
  const CFG = R.config;
  const m = R.machine;
  const L = [];
  const row = (cells) => L.push(`| ${cells.join(" | ")} |`);
  L.push("## API (bench/api)");
  L.push("");
  L.push(
    `Measured ${m.date.replace("T", " ").slice(0, 16)} UTC · \`nproc\` ${m.nproc} (${m.cpu}) · Node ${m.node} · ${m.tool}, ${CFG.connections} connections, ` +
      `${CFG.duration} s × ${CFG.rounds} interleaved rounds per server and route (after a ${CFG.warmup} s warm-up each) · ` +
      `servers on core 0, load generator and WebSocket clients on core 1 (taskset): ${m.pinned ? "yes" : "no, taskset unavailable"} · ` +
      `load average at start ${m.loadavg.join(" ")}, CPU pressure (PSI some, 60 s) ${fmt(m.cpuPressure, 0)} % at start and ${fmt(R.cpuPressureEnd, 0)} % at the end · commit ${m.commit}.`,
  );
  L.push("");
  L.push(
    "Reproduce: `npm run bench:api` (= `npm run build && node bench/api/run.mjs`). Knobs: `API_BENCH_DURATION`, " +
      "`API_BENCH_ROUNDS`, `API_BENCH_CONNECTIONS`, `API_BENCH_TOOL=wrk|autocannon`, `API_BENCH_WS_CLIENTS`, `API_BENCH_WS_BURST`, " +
      "`API_BENCH_PROFILE=auto|1|0` (see the head of bench/api/run.mjs). Raw numbers: bench/api/out/results.json.",
  );
  L.push("");
  const f = R.fleet.counts;
  L.push(
    `Fleet: ${fmt(f.servers)} servers, ${f.labels} labels, ${f.groups} groups, ${f.alerts} alerts, ${f.sizes} sizes, ${f.secrets} secrets ` +
      `(bench/api/generate.mjs, deterministic), applied with \`lab apply -f\` into a throwaway LAB_HOME (SQLite) in ${fmt(R.fleet.applySeconds, 1)} s.`,
  );
  L.push("");
  L.push("### HTTP: Lab vs bare node:http returning the same bytes");
  L.push("");
  L.push(
    "The bare server (bench/api/bare.mjs, its own process) answers with the body and headers fetched from Lab first " +
      "(byte-identical, same header bytes); plain Fastify (fastify-bare.mjs) does the same through the framework Lab uses, " +
      "so it shows what the framework alone costs. Medians over the rounds.",
  );
  L.push("");
  const hasF = Object.values(R.http.routes).some((r) => r.fastify);
  row([
    "route",
    "body",
    "**Lab** req/s",
    "bare node req/s",
    ...(hasF ? ["plain Fastify req/s"] : []),
    "**Lab / bare**",
    "per round",
    ...(hasF ? ["Fastify / bare"] : []),
    "p50 / p99 ms: Lab · bare",
    "server CPU µs/request: Lab · bare",
    "CPU ratio",
  ]);
  row([
    "---",
    "---:",
    "---:",
    "---:",
    ...(hasF ? ["---:"] : []),
    "---:",
    "---",
    ...(hasF ? ["---:"] : []),
    "---",
    "---",
    "---:",
  ]);
  for (const r of Object.values(R.http.routes)) {
    row([
      `\`GET ${r.path}\``,
      `${fmt(r.bodyBytes)} B`,
      fmt(r.lab.rps),
      fmt(r.bare.rps),
      ...(hasF ? [fmt(r.fastify?.rps)] : []),
      `**${fmt(r.ratio, 3)}×**`,
      r.perRoundRatios.map((x) => fmt(x, 3)).join(", "),
      ...(hasF ? [`${fmt(r.fastifyRatio, 2)}×`] : []),
      `${fmt(r.lab.p50, 1)} / ${fmt(r.lab.p99, 0)} · ${fmt(r.bare.p50, 1)} / ${fmt(r.bare.p99, 0)}`,
      `${fmt(r.lab.cpuUsPerRequest)} · ${fmt(r.bare.cpuUsPerRequest)}`,
      `${fmt(r.cpuRatio, 3)}×`,
    ]);
  }
  L.push("");
  const hb = Object.values(R.http.routes)
    .map((r) =>
      Object.entries(r.headerBytes)
        .map(([k, v]) => `${k} ${v}`)
        .join(", "),
    )
    .join("; ");
  const errs = Object.values(R.http.routes)
    .map(
      (r) =>
        `${r.path}: Lab non-2xx ${r.non2xx.lab}, socket errors/timeouts ${r.socketErrors.lab}; bare ${r.non2xx.bare} / ${r.socketErrors.bare}`,
    )
    .join("; ");
  L.push(
    `Target: Lab ≥ ${TARGET_HTTP_RATIO}× bare node. Response header bytes: ${hb}. Errors: ${errs}. ` +
      `Anchor (/work/shared/ANCHORS.md): bare node:http 32,600 req/s for 2 KB JSON at 64 connections on a quiet machine; ` +
      `absolute numbers drift with the machine's load (it is shared), the ratios are measured side by side. ` +
      `The CPU ratio (bare's CPU per request ÷ Lab's, read from /proc around each run) is what the req/s ratio would be with ` +
      `each server owning its core; it is robust to other load (it counts user and system time, not time spent waiting for the core or the disk).`,
  );
  L.push("");
  if (R.storeOps) {
    const ops = Object.entries(R.storeOps.perRequest)
      .filter(([, v]) => v.callsPerRequest >= 0.01)
      .map(([k, v]) => `\`${k}\` ×${fmt(v.callsPerRequest, 2)}`)
      .join(", ");
    L.push(
      `Store calls per Lab request (Lab's own \`lab_db_operation_duration_seconds\` counters over the ${fmt(R.storeOps.requests)} requests): ${ops}. ` +
        (R.dbops && !R.dbops.error
          ? `The same statements alone on a copy of state.db (bench/api/dbops.mjs, µs per call, prepared per call as Kysely's SQLite driver does → with a cached statement): ` +
            `revision ${R.dbops.revision_preparedPerCall} → ${R.dbops.revision_cached}; findTokenByHash ${R.dbops.findTokenByHash_preparedPerCall} → ${R.dbops.findTokenByHash_cached}; ` +
            `touchToken (UPDATE, WAL, synchronous=FULL, so an fsync) ${R.dbops.touchToken_syncFull_preparedPerCall} → ${R.dbops.touchToken_syncFull_cached}, ` +
            `with synchronous=NORMAL ${R.dbops.touchToken_syncNormal_cached}.`
          : ""),
    );
    L.push("");
  }
  L.push(`### WebSocket fan-out: ${R.ws.burst.clients} clients on /api/v1/events/ws`);
  L.push("");
  row([
    "event source",
    "events",
    "events/s produced",
    "messages received / expected",
    "**delivered msg/s**",
    "not delivered (silently lost)",
    "missed notices (events)",
    "CPU s (share of the delivery window): server · clients",
    "server CPU µs per message (→ msg/s on a whole core)",
  ]);
  row(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]);
  const a = R.ws.applies;
  if (a) {
    row([
      `POST /api/v1/apply (one label changed each), ${CFG.wsApplyConcurrency} at a time for ${CFG.wsApplySeconds} s`,
      fmt(a.events),
      fmt(a.eventsPerSecond, 1),
      `${fmt(a.messages)} / ${fmt(a.events * a.clients)}`,
      `${fmt(a.deliveredPerSecond)} (production-bound)`,
      `${fmt(a.notDelivered)} (${fmt(a.lost)})`,
      `${fmt(a.missedNotices)} (${fmt(a.missed)})`,
      `— · ${fmt(a.cpuSeconds, 2)}`,
      "—",
    ]);
  }
  const b = R.ws.burst;
  R.ws.bursts.forEach((x, i) => {
    const median = i === b.index;
    const bold = (t) => (median ? `**${t}**` : t);
    row([
      `burst ${i + 1}${median ? " (median)" : ""}: committed by another process in one transaction (${fmt(x.insertSeconds * 1000)} ms), picked up by the server's event feed`,
      fmt(x.events),
      "—",
      `${fmt(x.messages)} / ${fmt(x.events * x.clients)}`,
      `${bold(fmt(x.deliveredPerSecond))} over ${fmt(x.deliverySeconds, 2)} s`,
      `${fmt(x.notDelivered)} (${fmt(x.lost)})`,
      `${fmt(x.missedNotices)} (${fmt(x.missed)})`,
      `${fmt(x.serverCpuSeconds, 2)} (${fmt(100 * x.serverBusy)} %) · ${fmt(x.cpuSeconds, 2)} (${fmt(100 * x.clientsBusy)} %)`,
      `${fmt(x.serverUsPerMessage, 1)} (→ ${fmt(x.serverBoundPerSecond)})`,
    ]);
  });
  L.push("");
  L.push(
    `Target: ≥ ${fmt(TARGET_WS_MSGS)} messages/s delivered, none lost. Through the API, events are produced at only ${a ? fmt(a.eventsPerSecond, 1) : "?"} events/s ` +
      `(each apply re-reads the model and commits with an fsync), i.e. ${a ? fmt(a.eventsPerSecond * a.clients) : "?"} msg/s at 32 clients: production, not fan-out, is the limit there. ` +
      `The burst measures the fan-out itself: ${fmt(b.events)} apply-shaped events written to the store's events table the way a CLI next to the server writes them; ` +
      `the server's feed found them ${fmt(b.pickupMs)} ms after the commit (SQLite is polled every second) and delivered msg/s counts from the first to the last message ` +
      `received by any client; the median of ${R.ws.bursts.length} bursts counts. Every client's messages are counted and their event ids checked against the committed range ` +
      `(not delivered = ids a client never received; a client the server cannot keep up with is sent a \`missed\` notice for them, ` +
      `silently lost = not delivered and not announced either). A side whose CPU share is near 100 % is the limit; ` +
      `both well below 100 % means other load on the shared machine held the burst back, and the server's CPU time per ` +
      `message (measured from /proc, so it does not count time the server waited for the core) gives the rate it would reach on a whole core.`,
  );
  L.push("");
  L.push("### Verdict (printed, not enforced)");
  L.push("");
  for (const v of R.verdicts) L.push(`- ${v}`);
  L.push("");
  if (R.profiles?.length) {
    L.push("### Where Lab's time goes (node --cpu-prof on the server under the same load)");
    L.push("");
    L.push(
      "Self time is mapped through dist/'s source maps to the original file. Kysely's awaits cut the stacks, so store work " +
        "shows up as `executeQuery` self time (the better-sqlite3 call inside it) with no Lab caller; the store-call counts and " +
        "dbops numbers above say which statements it is. Percentages are of the server's busy (non-idle) time and include process start-up.",
    );
    L.push("");
    for (const p of R.profiles) {
      L.push(`#### ${p.title}`);
      L.push("");
      L.push(`${fmt(p.summary.busyMs)} ms busy of ${fmt(p.summary.totalMs)} ms sampled.`);
      L.push("");
      row(["% busy", "self time by area"]);
      row(["---:", "---"]);
      for (const x of p.summary.areas.slice(0, 10)) row([fmt(x.pct, 1), x.key]);
      L.push("");
      row(["% busy", "self time by function · original source"]);
      row(["---:", "---"]);
      for (const x of p.summary.self.slice(0, 12)) row([fmt(x.pct, 1), `\`${x.key.replace("  ", " · ")}\``]);
      L.push("");
      row(["% busy", "Lab function, inclusive (synchronous part)"]);
      row(["---:", "---"]);
      for (const x of p.summary.inclusive.slice(0, 10))
        row([fmt(x.pct, 1), `\`${x.key.replace("  ", " · ")}\``]);
      L.push("");
    }
  }
  if (R.notes?.length) {
    L.push("Key figures from these profiles:");
    L.push("");
    for (const x of R.notes) L.push(`- ${x}`);
    L.push("");
  }
  const analysis = join(HERE, "ANALYSIS.md");
  if (existsSync(analysis)) {
    L.push(readFileSync(analysis, "utf8").trim());
    L.push("");
  }
  return L.join("\n");
}

/** The repository formats Markdown with biome (`npm run lint` checks it): format the section the same way. */
function formatMarkdown(text) {
  const bin = join(ROOT, "node_modules", ".bin", "biome");
  if (!existsSync(bin)) return text;
  const r = spawnSync(bin, ["format", "--stdin-file-path=bench/RESULTS.md"], {
    cwd: ROOT,
    input: text,
    encoding: "utf8",
  });
  return r.status === 0 && r.stdout.trim() ? r.stdout : text;
}

/** Puts `section` into bench/RESULTS.md in place of an earlier API section, or at the end. */
function writeResultsSection(raw) {
  const section = formatMarkdown(raw);
  const file = join(ROOT, "bench", "RESULTS.md");
  let text = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmark results\n";
  const start = text.indexOf("## API (bench/api)");
  if (start >= 0) {
    const rest = text.slice(start + 1);
    const next = rest.search(/^## /m);
    const end = next >= 0 ? start + 1 + next : text.length;
    const merged = `${text.slice(0, start)}${section.trimEnd()}\n\n${text.slice(end)}`;
    text = `${merged.trimEnd()}\n`;
  } else {
    text = `${text.trimEnd()}\n\n${section.trimEnd()}\n`;
  }
  writeFileSync(file, text);
  return file;
}

// ---------------------------------------------------------------------------------------------

/** --report-only: renders out/results.json again (after editing ANALYSIS.md), no measuring. */
function reportOnly() {
  const R = JSON.parse(readFileSync(join(OUT, "results.json"), "utf8"));
  const md = markdown(R);
  writeFileSync(join(OUT, "results.md"), md);
  if (env.API_BENCH_NO_RESULTS !== "1")
    log(`wrote ${rel(writeResultsSection(md))} from the run of ${R.machine.date}`);
}

async function main() {
  if (process.argv.includes("--report-only")) return reportOnly();
  mkdirSync(OUT, { recursive: true });
  const R = { machine: machine(), config: CFG };
  log(
    `bench/api: ${R.machine.date} · ${R.machine.nproc} CPUs · node ${R.machine.node} · ${R.machine.tool} · pinned ${PIN} · load ${R.machine.loadavg.join(" ")}`,
  );
  snapshotCli();
  log(`fleet: generating ${CFG.servers} servers and applying them into ${rel(HOME)}`);
  R.fleet = prepareFleet();
  log(`  ${R.fleet.applySummary} (${fmt(R.fleet.applySeconds, 1)} s)`);
  delete R.fleet.fleet.servers;
  const name = R.fleet.fleet.names[Math.floor(R.fleet.fleet.names.length / 2)];
  delete R.fleet.fleet;

  const lab = await startLab();
  const paths = { one: `/api/v1/servers/${encodeURIComponent(name)}`, list: "/api/v1/servers" };
  const { config, captured } = await captureRoutes(lab, paths);
  const refs = { bare: await startReference("bare.mjs", config) };
  if (CFG.fastify) refs.fastify = await startReference("fastify-bare.mjs", config);
  log(
    `http: lab on :${lab.port}, ${Object.entries(refs)
      .map(([k, r]) => `${k} on :${r.port}`)
      .join(", ")}; ` + `${name} is ${fmt(captured.one.bytes)} B, the list ${fmt(captured.list.bytes)} B`,
  );
  const metrics0 = await scrapeMetrics(lab);
  try {
    R.http = await httpPhase(lab, refs, captured);
  } finally {
    for (const r of Object.values(refs)) await stopProcess(r.child);
  }
  // What each Lab request did in the store, from Lab's own metrics (counts are exact; the
  // summed durations are wall time from call to settled promise, so they include queueing
  // behind the other 63 connections' work and overlap one another).
  const metrics1 = await scrapeMetrics(lab);
  const served = Object.entries(metrics1.requests)
    .filter(([k]) => k.startsWith("/api/v1/servers"))
    .reduce((a, [k, v]) => a + v - (metrics0.requests[k] ?? 0), 0);
  R.storeOps = { requests: served, perRequest: {} };
  for (const [op, v] of Object.entries(metrics1.ops)) {
    const count = v.count - (metrics0.ops[op]?.count ?? 0);
    if (count <= 0) continue;
    R.storeOps.perRequest[op] = {
      callsPerRequest: count / served,
      meanMs: (v.sumMs - (metrics0.ops[op]?.sumMs ?? 0)) / count,
    };
  }
  log(
    `store calls per request: ${Object.entries(R.storeOps.perRequest)
      .map(([k, v]) => `${k} ${fmt(v.callsPerRequest, 2)}`)
      .join(", ")}`,
  );
  // The same statements alone, on a copy of the database (core 0, idle servers).
  const dbops = spawnSync(
    pinned(0, [process.execPath])[0],
    [...pinned(0, [process.execPath]).slice(1), join(HERE, "dbops.mjs"), join(HOME, "state.db"), "2000"],
    { cwd: ROOT, encoding: "utf8" },
  );
  R.dbops = dbops.status === 0 ? JSON.parse(dbops.stdout) : { error: dbops.stderr };
  log(`store statements alone (µs per call): ${JSON.stringify(R.dbops)}`);
  log(`websocket: ${CFG.wsClients} clients`);
  R.ws = await wsPhase(lab);
  await stopLab(lab);

  const verdicts = [];
  const misses = [];
  for (const [key, r] of Object.entries(R.http.routes)) {
    const ok = r.ratio >= TARGET_HTTP_RATIO;
    verdicts.push(
      `GET ${r.path}: Lab ${fmt(r.lab.rps)} req/s vs bare ${fmt(r.bare.rps)} req/s = ${fmt(r.ratio, 3)}× (target ≥ ${TARGET_HTTP_RATIO}×): ${ok ? "met" : "MISSED"}`,
    );
    if (!ok) misses.push(key);
  }
  const wsOk = R.ws.burst.deliveredPerSecond >= TARGET_WS_MSGS && R.ws.burst.notDeliveredAll === 0;
  verdicts.push(
    `WebSocket fan-out: ${fmt(R.ws.burst.deliveredPerSecond)} msg/s delivered to ${R.ws.burst.clients} clients (median of ${R.ws.bursts.length} bursts: ` +
      `${R.ws.bursts.map((b) => fmt(b.deliveredPerSecond)).join(", ")}), ` +
      `${fmt(R.ws.burst.notDeliveredAll)} not delivered (${fmt(R.ws.burst.missedAll)} announced by missed notices, ${fmt(R.ws.burst.lostAll)} silently lost) ` +
      `(target ≥ ${fmt(TARGET_WS_MSGS)} msg/s, none lost): ${wsOk ? "met" : "MISSED"}` +
      `; server CPU ${fmt(R.ws.burst.serverUsPerMessage, 1)} µs per message (median burst) = ${fmt(R.ws.burst.serverBoundPerSecond)} msg/s on a whole core` +
      (R.ws.applies
        ? `; the apply path produced ${fmt(R.ws.applies.eventsPerSecond, 1)} events/s (${fmt(R.ws.applies.eventsPerSecond * R.ws.applies.clients)} msg/s)`
        : ""),
  );
  if (!wsOk) misses.push("ws");
  R.verdicts = verdicts;

  const doProfile = CFG.profile === "1" || (CFG.profile === "auto" && misses.length > 0);
  R.profiles = [];
  if (doProfile) {
    const which = CFG.profile === "1" ? ["one", "list", "ws"] : misses;
    for (const key of which) {
      if (key === "ws") {
        log("profile: websocket burst");
        const summary = await profiled("ws", async (l) => {
          await wsPhase(l, { applies: false, burstCount: 1 });
        });
        if (summary)
          R.profiles.push({
            key,
            title: `WebSocket burst (${fmt(CFG.wsBurst)} events × ${CFG.wsClients} clients)`,
            summary,
          });
      } else {
        const path = captured[key].path;
        log(`profile: GET ${path}`);
        const summary = await profiled(key, async (l) => {
          load(`${l.url}${path}`, l.token, CFG.duration);
        });
        if (summary)
          R.profiles.push({
            key,
            title: `GET ${path} (${CFG.connections} connections, ${CFG.duration} s)`,
            summary,
          });
      }
    }
    for (const p of R.profiles) log(formatSummary(p.summary, p.title));
  }
  R.notes = findings(R);
  R.cpuPressureEnd = cpuPressure();

  writeFileSync(join(OUT, "results.json"), JSON.stringify(R, null, 2));
  const md = markdown(R);
  writeFileSync(join(OUT, "results.md"), md);
  if (env.API_BENCH_NO_RESULTS !== "1") log(`wrote ${rel(writeResultsSection(md))}`);
  process.stdout.write(`\n${verdicts.join("\n")}\n`);
  log(`details: ${rel(join(OUT, "results.md"))}, ${rel(join(OUT, "results.json"))}`);
}

/** Key figures from the profiles, one line each (the prose analysis is bench/api/ANALYSIS.md). */
function findings(R) {
  const out = [];
  for (const p of R.profiles ?? []) {
    const sum = (list, re) => list.filter((x) => re.test(x.key)).reduce((a, x) => a + x.pct, 0);
    const self = (re) => sum(p.summary.self, re);
    const area = (re) => sum(p.summary.areas, re);
    const parts = [];
    if (p.key === "ws") {
      parts.push(`writev (one syscall per message per client) ${fmt(self(/^writev /), 1)}%`);
      parts.push(`node streams/net ${fmt(area(/^node: http/), 1)}%`);
      parts.push(`ws framing ${fmt(area(/dep: ws/), 1)}%`);
      parts.push(`Lab's bus/feed/streams ${fmt(area(/^lab: server\/(bus|feed|streams)/), 1)}%`);
    } else {
      parts.push(
        `Kysely executeQuery + better-sqlite3 prepare (the store calls) ${fmt(self(/^executeQuery |^prepare /), 1)}%`,
      );
      parts.push(`Fastify serialize (JSON.stringify of the reply) ${fmt(self(/^serialize .*fastify/), 1)}%`);
      parts.push(`node http/net ${fmt(area(/^node: http/) + self(/^writev /), 1)}%`);
      parts.push(`Lab's own code (packages/*) ${fmt(area(/^lab: /), 1)}% self`);
      parts.push(`prom-client ${fmt(area(/prom-client/), 1)}%`);
    }
    parts.push(`GC ${fmt(area(/^GC$/), 1)}%`);
    out.push(`${p.title}: ${parts.join(", ")}.`);
  }
  return out;
}

main().catch((e) => {
  log(`bench/api failed: ${e.stack ?? e}`);
  process.exit(1);
});
