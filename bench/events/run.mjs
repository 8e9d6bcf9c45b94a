/**
 * The event pipeline, end to end: OpenTelemetry collector file-exporter lines appended to a
 * file → a real `lab server --otel-file` (its tail, ring, store retention in SQLite, fan-out)
 * → 32 WebSocket clients in another process. Beside it, in the same run and over the same
 * file, the runtime's limit: a bare readline loop that JSON.parses each line.
 *
 *   node bench/events/run.mjs [events=1000000] [clients=32] [steady rate=100000]
 *
 * Phase "throughput": `events` lines appended as fast as the writer can (1 MB writes);
 * events/s = events / (first write → the LAST client has the last event).
 * Phase "steady": `rate` events/s (default 100,000) for 10 s in 10 ms ticks: p50/p99
 * file-to-client latency (at a rate above what the pipeline sustains, that is queueing delay).
 * Every client accounts for every seq: delivered + announced in gaps = written, and any
 * hole not announced is counted as silent loss (the target is zero).
 */
import { fork, spawn, spawnSync } from "node:child_process";
import { createReadStream, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const EVENTS = Number(process.argv[2] ?? 1_000_000);
const CLIENTS = Number(process.argv[3] ?? 32);
const STEADY_RATE = Number(process.argv[4] ?? 100_000);
const STEADY_SECONDS = 10;

const home = mkdtempSync(join(tmpdir(), "lab-bench-events-"));
const file = join(home, "otel.json");
const env = { ...process.env, LAB_HOME: home, HOME: home };
const PIN = cpus().length >= 2 && spawnSync("taskset", ["-c", "0", "true"]).status === 0;
const pinned = (core, argv) => (PIN ? ["taskset", "-c", String(core), ...argv] : argv);

/** One exporter line: one resource, one log record stamped with its write time. */
// Built by concatenation around fixed parts: the writer must not be what limits the run.
const HEAD = '{"resourceLogs":[{"resource":{"attributes":[{"key":"host.name","value":{"stringValue":"node-';
const MID =
  '"}},{"key":"service.name","value":{"stringValue":"app"}}]},"scopeLogs":[{"scope":{"name":"bench"},"logRecords":[{"timeUnixNano":"';
function line(i, ms) {
  const error = i % 10 === 0;
  return `${HEAD}${i % 50}${MID}${ms}000000","severityNumber":${error ? 17 : 9},"severityText":"${error ? "ERROR" : "INFO"}","body":{"stringValue":"request ${i} served in ${i % 97} ms"},"attributes":[{"key":"http.route","value":{"stringValue":"/api/v1/items"}},{"key":"trace.id","value":{"stringValue":"${(i * 2654435761).toString(16)}"}}]}]}]}]}`;
}
JSON.parse(line(1, 1)); // the template is valid JSON

writeSync(openSync(file, "w"), "");
const [cmd, ...args] = pinned(0, [
  process.execPath,
  "bin/lab.js",
  "server",
  "--listen",
  "127.0.0.1:0",
  "--insecure-http",
  "--otel-file",
  file,
  "--log-ring",
  "200000",
  "--log-retention-events",
  String(Math.max(2 * EVENTS, 1_000_000)),
]);
// PROF=dir: a CPU profile of the server (written when it exits).
if (process.env.PROF)
  args.splice(args.indexOf("bin/lab.js"), 0, "--cpu-prof", `--cpu-prof-dir=${process.env.PROF}`);
const server = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "inherit"] });
let out = "";
const url = await new Promise((resolve, reject) => {
  server.on("exit", (c) => reject(new Error(`lab server exited (${c})`)));
  server.stdout.on("data", (c) => {
    out += c;
    const m = /lab login (http:\/\/[\d.:]+)/.exec(out);
    if (m && out.includes("Ready.")) resolve(m[1]);
  });
});
const token = readFileSync(join(home, "server/admin.token"), "utf8").trim();

// fork() through taskset: the IPC channel's fd survives the exec.
const clients = fork("bench/events/clients.mjs", [url, token, String(CLIENTS)], {
  execPath: PIN ? "taskset" : process.execPath,
  execArgv: PIN ? ["-c", "1", process.execPath] : [],
});
await new Promise((resolve) => clients.once("message", resolve));
const report = () =>
  new Promise((resolve) => {
    clients.once("message", (m) => resolve(m));
    clients.send({ cmd: "report" });
  });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitAll(total, idleMs = 5000) {
  let lastProgress = Date.now();
  let prev = -1;
  for (;;) {
    const r = await report();
    const least = Math.min(...r.report.map((c) => c.count + c.missed));
    if (least >= total) return { r, at: Date.now() };
    if (least !== prev) {
      prev = least;
      lastProgress = Date.now();
    } else if (Date.now() - lastProgress > idleMs) return { r, at: Date.now(), stalled: true };
    await sleep(20);
  }
}

function percentile(hist, p) {
  const total = hist.reduce((a, b) => a + b, 0);
  let acc = 0;
  for (let i = 0; i < hist.length; i++) {
    acc += hist[i];
    if (acc >= total * p) return i;
  }
  return hist.length - 1;
}

const fd = openSync(file, "a");
let written = 0;
function append(n, ms = Date.now()) {
  const lines = [];
  for (let i = 0; i < n; i++) lines.push(line(written + i, ms));
  writeSync(fd, `${lines.join("\n")}\n`);
  written += n;
}

// ---- throughput: as fast as the writer can append ----
const t0 = Date.now();
while (written < EVENTS) append(Math.min(4000, EVENTS - written));
const writeMs = Date.now() - t0;
const tp = await waitAll(EVENTS);
const tpMs = tp.at - t0 - 20; // the last poll's interval
const before = tp.r.report;
const beforeHist = tp.r.hist;

// ---- steady: a fixed rate, for latency ----
const steadyTotal = STEADY_RATE * STEADY_SECONDS;
const perTick = Math.max(1, Math.round(STEADY_RATE / 100));
const s0 = Date.now();
for (let tick = 0; tick < STEADY_SECONDS * 100; tick++) {
  append(perTick);
  const due = s0 + (tick + 1) * 10;
  const wait = due - Date.now();
  if (wait > 0) await sleep(wait);
}
const steadyWriteMs = Date.now() - s0;
const st = await waitAll(EVENTS + steadyTotal);
const hist = st.r.hist.map((v, i) => v - beforeHist[i]);
const stats = await (
  await fetch(`${url}/api/v1/logs/stats`, { headers: { authorization: `Bearer ${token}` } })
).json();

clients.send({ cmd: "close" });
server.kill("SIGTERM");
await new Promise((r) => server.once("exit", r));

// ---- the bare loop over the same file ----
const b0 = performance.now();
let parsed = 0;
const rl = createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
for await (const l of rl) {
  if (!l) continue;
  JSON.parse(l);
  parsed++;
}
const bareMs = performance.now() - b0;

const sum = (rows, k) => rows.reduce((a, c) => a + c[k], 0);
const final = st.r.report;
const pipelineRate = EVENTS / (tpMs / 1000);
const bareRate = parsed / (bareMs / 1000);
const result = {
  machine: `${cpus().length}× ${cpus()[0]?.model ?? "?"}, node ${process.version}, ${PIN ? "server on core 0, clients on core 1" : "unpinned"}`,
  clients: CLIENTS,
  throughput: {
    events: EVENTS,
    writeSeconds: writeMs / 1000,
    seconds: tpMs / 1000,
    eventsPerSecond: Math.round(pipelineRate),
    deliveredToAllClients: sum(before, "count"),
    announcedInGaps: sum(before, "missed"),
    gaps: sum(before, "gaps"),
    silentLoss: sum(before, "silent"),
    p99ms: percentile(beforeHist, 0.99),
    stalled: Boolean(tp.stalled),
  },
  steady: {
    rate: STEADY_RATE,
    writeSeconds: steadyWriteMs / 1000,
    p50ms: percentile(hist, 0.5),
    p99ms: percentile(hist, 0.99),
    maxMs: hist.findLastIndex((v) => v > 0),
    announcedInGaps: sum(final, "missed") - sum(before, "missed"),
    silentLoss: sum(final, "silent") - sum(before, "silent"),
    stalled: Boolean(st.stalled),
  },
  bare: { lines: parsed, seconds: bareMs / 1000, eventsPerSecond: Math.round(bareRate) },
  ratio: +(pipelineRate / bareRate).toFixed(2),
  checkedFrames: sum(final, "checked"),
  badFrames: sum(final, "bad"),
  store: stats.store,
};
console.log(JSON.stringify(result, null, 2));
console.log(
  `\npipeline ${result.throughput.eventsPerSecond.toLocaleString()} ev/s to each of ${CLIENTS} clients` +
    ` vs bare JSON.parse loop ${result.bare.eventsPerSecond.toLocaleString()} lines/s → ${result.ratio}×;` +
    ` steady ${STEADY_RATE.toLocaleString()}/s p50 ${result.steady.p50ms} ms p99 ${result.steady.p99ms} ms;` +
    ` silent loss ${result.throughput.silentLoss + result.steady.silentLoss}, announced ${result.throughput.announcedInGaps + result.steady.announcedInGaps}`,
);
rmSync(home, { recursive: true, force: true });
