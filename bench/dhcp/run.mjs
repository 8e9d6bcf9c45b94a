// DHCP benchmark: perfdhcp (DORA, relayed) against Lab's scoped DHCP server (durable FileLeaseStore),
// dnsmasq (lease file on disk, and --leasefile-ro) and Kea (memfile, persisted), each in its own run
// on the same veth between two network namespaces, fresh state per run, the rate stepped up until
// perfdhcp sees more than 1 % drops. Server pinned to core 0, perfdhcp to core 1 (taskset).
//
// perfdhcp acts as a relay (giaddr = its address, source port 67) and unicasts to the server, as a
// real relay does; Kea's UDP sockets bind the interface address and would not see a broadcast.
//
// Usage: node bench/dhcp/run.mjs        (root; needs perfdhcp, dnsmasq, kea-dhcp4, esbuild)
// Knobs (environment):
//   DHCP_BENCH_CLIENTS   perfdhcp -R, distinct client MACs (default 1000)
//   DHCP_BENCH_PERIOD    perfdhcp -p, seconds per step (default 10)
//   DHCP_BENCH_START     first rate in DORA/s (default 500): ÷2 until a rate passes, ×1.5 until one
//                        fails (twice in a row), then two bisection steps; the servers take
//                        their steps in turn
//   DHCP_BENCH_MAX       highest rate tried (default 40000)
//   DHCP_BENCH_SERVERS   comma list of lab,dnsmasq,dnsmasq-ro,kea (default all)
// Prints a table per server and the verdict; raw numbers go to bench/dhcp/out/results.json.
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "../..");
const out = join(here, "out");
const state = join(out, "state");

const CLIENTS = Number(process.env.DHCP_BENCH_CLIENTS ?? 1000);
const PERIOD = Number(process.env.DHCP_BENCH_PERIOD ?? 10);
const START = Number(process.env.DHCP_BENCH_START ?? 500);
const MAX = Number(process.env.DHCP_BENCH_MAX ?? 40000);
const SERVERS = (process.env.DHCP_BENCH_SERVERS ?? "lab,dnsmasq,dnsmasq-ro,kea").split(",");
const DROP_LIMIT = 1; // percent

const NS_S = "lda-bs";
const NS_C = "lda-bc";
const IF_S = "lda-bs0";
const IF_C = "lda-bc0";
const SERVER_IP = "10.78.0.1";
const CLIENT_IP = "10.78.0.2";
const POOL = { start: "10.78.1.0", end: "10.78.255.254" };
const MAC_BASE = "00:0c:01:00:00:00";

async function sh(cmd, args, opts = {}) {
  return run(cmd, args, { maxBuffer: 64 * 1024 * 1024, ...opts });
}

async function quiet(cmd, args) {
  try {
    await sh(cmd, args);
  } catch {}
}

function need(bin, pkg) {
  for (const d of ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]) if (existsSync(join(d, bin))) return;
  throw new Error(`${bin} is missing: apt-get install -y ${pkg}`);
}

async function setupNet() {
  await teardownNet();
  await sh("ip", ["netns", "add", NS_S]);
  await sh("ip", ["netns", "add", NS_C]);
  await sh("ip", ["link", "add", IF_S, "netns", NS_S, "type", "veth", "peer", "name", IF_C, "netns", NS_C]);
  await sh("ip", ["-n", NS_S, "addr", "add", `${SERVER_IP}/16`, "dev", IF_S]);
  await sh("ip", ["-n", NS_C, "addr", "add", `${CLIENT_IP}/16`, "dev", IF_C]);
  for (const [ns, dev] of [
    [NS_S, IF_S],
    [NS_C, IF_C],
    [NS_S, "lo"],
    [NS_C, "lo"],
  ])
    await sh("ip", ["-n", ns, "link", "set", dev, "up"]);
}

async function teardownNet() {
  await quiet("ip", ["netns", "del", NS_S]);
  await quiet("ip", ["netns", "del", NS_C]);
}

/** utime+stime of a process in clock ticks (100 Hz on Linux). */
function cpuTicks(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return Number.NaN;
  }
}

/** UDP RcvbufErrors of a namespace: datagrams its sockets dropped because nobody read them in time. */
async function rcvbufErrors(ns) {
  const { stdout } = await sh("ip", ["netns", "exec", ns, "cat", "/proc/net/snmp"]);
  const [head, values] = stdout.split("\n").filter((l) => l.startsWith("Udp:"));
  const i = head.split(" ").indexOf("RcvbufErrors");
  return Number(values.split(" ")[i]);
}

/** Starts a server process pinned to core 0 inside the server namespace; resolves once it serves. */
function startProcess(argv, env, ready) {
  const child = spawn("taskset", ["-c", "0", "ip", "netns", "exec", NS_S, ...argv], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let text = "";
  const onData = (d) => {
    text += d.toString();
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  return new Promise((resolve, reject) => {
    const t = setInterval(async () => {
      if (child.exitCode !== null) {
        clearInterval(t);
        reject(new Error(`${argv[0]} exited: ${text.slice(-2000)}`));
      } else if (await ready(text)) {
        clearInterval(t);
        resolve({ child, output: () => text });
      }
    }, 100);
  });
}

async function stopProcess(p) {
  if (p.child.exitCode !== null) return;
  const exited = new Promise((r) => p.child.once("exit", r));
  p.child.kill("SIGTERM");
  const timer = setTimeout(() => p.child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Port 67 bound in the server namespace (for servers that print nothing when ready). */
async function listening67() {
  try {
    const { stdout } = await sh("ip", ["netns", "exec", NS_S, "ss", "-lun"]);
    return /:67\s/.test(stdout);
  } catch {
    return false;
  }
}

const servers = {
  lab: {
    name: "Lab (scoped, FileLeaseStore, fsync per batch)",
    async start() {
      const cfg = {
        interface: IF_S,
        journal: join(state, "lab-leases.jsonl"),
        pool: POOL,
        router: "10.78.0.254",
        dns: ["10.78.0.53"],
        macBase: MAC_BASE,
        macCount: CLIENTS,
      };
      return startProcess(
        [process.execPath, join(here, "lab-dhcp.mjs"), join(out, "dhcp.mjs"), JSON.stringify(cfg)],
        {},
        (t) => t.includes('"ready":true'),
      );
    },
  },
  dnsmasq: {
    name: "dnsmasq (lease file on disk)",
    start: () => startDnsmasq([`--dhcp-leasefile=${join(state, "dnsmasq.leases")}`]),
  },
  "dnsmasq-ro": {
    name: "dnsmasq (--leasefile-ro, no lease writes)",
    start: () => startDnsmasq(["--leasefile-ro"]),
  },
  kea: {
    name: "Kea kea-dhcp4 (memfile, persisted)",
    async start() {
      const conf = {
        Dhcp4: {
          "interfaces-config": { interfaces: [IF_S], "dhcp-socket-type": "udp" },
          "lease-database": {
            type: "memfile",
            persist: true,
            name: join(state, "kea-leases4.csv"),
            "lfc-interval": 0,
          },
          "valid-lifetime": 3600,
          "renew-timer": 1800,
          "rebind-timer": 3150,
          subnet4: [
            {
              id: 1,
              subnet: "10.78.0.0/16",
              pools: [{ pool: `${POOL.start} - ${POOL.end}` }],
              "option-data": [
                { name: "routers", data: "10.78.0.254" },
                { name: "domain-name-servers", data: "10.78.0.53" },
              ],
            },
          ],
          loggers: [{ name: "kea-dhcp4", output_options: [{ output: "stdout" }], severity: "WARN" }],
        },
      };
      const file = join(state, "kea-dhcp4.json");
      writeFileSync(file, JSON.stringify(conf, null, 2));
      return startProcess(
        ["kea-dhcp4", "-c", file],
        { KEA_PIDFILE_DIR: state, KEA_LOCKFILE_DIR: state },
        listening67,
      );
    },
  },
};

function startDnsmasq(extra) {
  return startProcess(
    [
      "dnsmasq",
      "-d",
      "-C",
      "/dev/null",
      "-p",
      "0",
      `--pid-file=${join(state, "dnsmasq.pid")}`,
      `--dhcp-range=${POOL.start},${POOL.end},255.255.0.0,1h`,
      "--dhcp-option=3,10.78.0.254",
      "--dhcp-option=6,10.78.0.53",
      "--no-ping",
      "--dhcp-lease-max=100000",
      "--quiet-dhcp",
      ...extra,
    ],
    {},
    listening67,
  );
}

/** Parses perfdhcp's report: per exchange sent/received/drops and the DORA rate. */
function parsePerfdhcp(text) {
  const rate = Number(/Rate:\s*([\d.]+)\s+4-way exchanges\/second/.exec(text)?.[1] ?? Number.NaN);
  const exchanges = {};
  for (const part of text.split("***Statistics for: ").slice(1)) {
    const name = part.slice(0, part.indexOf("***"));
    const num = (re) => Number(re.exec(part)?.[1] ?? Number.NaN);
    exchanges[name] = {
      sent: num(/sent packets:\s*(\d+)/),
      received: num(/received packets:\s*(\d+)/),
      drops: num(/drops:\s*(\d+)/),
      avgDelayMs: num(/avg delay:\s*([\d.]+) ms/),
    };
  }
  return { rate, exchanges };
}

/** Runs one perfdhcp test; samples its CPU share and the server's while it runs. */
function runPerfdhcp(args, serverPid) {
  const child = spawn("taskset", ["-c", "1", "ip", "netns", "exec", NS_C, "perfdhcp", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let text = "";
  child.stdout.on("data", (d) => {
    text += d.toString();
  });
  child.stderr.on("data", (d) => {
    text += d.toString();
  });
  // taskset and ip exec in place, so the child's pid is perfdhcp's.
  const samples = [];
  const sample = () => {
    const t = performance.now();
    const p = cpuTicks(child.pid);
    if (Number.isFinite(p)) samples.push({ t, p, s: cpuTicks(serverPid) });
  };
  const timer = setInterval(sample, 500);
  const killer = setTimeout(() => child.kill("SIGKILL"), (PERIOD + 60) * 1000);
  return new Promise((resolve) => {
    child.on("exit", () => {
      clearInterval(timer);
      clearTimeout(killer);
      const first = samples[1] ?? samples[0];
      const last = samples.at(-1);
      const share = (k) =>
        first && last && last.t > first.t
          ? (100 * (last[k] - first[k]) * 10) / (last.t - first.t)
          : Number.NaN;
      // perfdhcp exits 3 when packets were dropped; its report is on stdout either way.
      resolve({ text, perfdhcpCpuPct: share("p"), serverCpuPct: share("s") });
    });
  });
}

async function perfdhcpStep(rate, pid) {
  const bufBefore = [await rcvbufErrors(NS_S), await rcvbufErrors(NS_C)];
  const before = cpuTicks(pid);
  const args = [
    "-4",
    "-l",
    IF_C,
    "-r",
    String(rate),
    "-R",
    String(CLIENTS),
    "-b",
    `mac=${MAC_BASE}`,
    "-p",
    String(PERIOD),
    SERVER_IP,
  ];
  const { text, perfdhcpCpuPct, serverCpuPct } = await runPerfdhcp(args, pid);
  const ticks = cpuTicks(pid) - before;
  const overflow = {
    server: (await rcvbufErrors(NS_S)) - bufBefore[0],
    perfdhcp: (await rcvbufErrors(NS_C)) - bufBefore[1],
  };
  const parsed = parsePerfdhcp(text);
  const dora = parsed.exchanges["DISCOVER-OFFER"] ?? {};
  const ra = parsed.exchanges["REQUEST-ACK"] ?? {};
  const pct = (x) => (x.sent > 0 ? (100 * (x.sent - x.received)) / x.sent : Number.NaN);
  const acks = ra.received ?? 0;
  return {
    requested: rate,
    leasesPerSec: acks / PERIOD,
    perfdhcpRate: parsed.rate,
    dropsDiscoverPct: pct(dora),
    dropsRequestPct: pct(ra),
    avgDelayMs: [dora.avgDelayMs, ra.avgDelayMs],
    serverCpuUsPerLease: acks > 0 ? (ticks * 10_000) / acks : Number.NaN,
    rcvbufOverflows: overflow,
    cpuPct: { server: serverCpuPct, perfdhcp: perfdhcpCpuPct },
    raw: parsed.exchanges,
  };
}

/** Runs one step: a fresh server with empty state, one perfdhcp test against it. */
async function runStep(key, rate, steps) {
  const s = servers[key];
  rmSync(state, { recursive: true, force: true });
  mkdirSync(state, { recursive: true });
  const proc = await s.start();
  try {
    const step = await perfdhcpStep(rate, proc.child.pid);
    step.pass = step.dropsDiscoverPct <= DROP_LIMIT && step.dropsRequestPct <= DROP_LIMIT;
    steps.push(step);
    console.log(
      `  ${key.padEnd(10)} rate ${String(rate).padStart(6)}/s → ${step.leasesPerSec.toFixed(0).padStart(6)} leases/s, drops ${fmt(step.dropsDiscoverPct)} % / ${fmt(step.dropsRequestPct)} %, server CPU ${fmt(step.serverCpuUsPerLease)} µs/lease, CPU server ${fmt(step.cpuPct.server, 0)} % / perfdhcp ${fmt(step.cpuPct.perfdhcp, 0)} %, receive-buffer overflows server ${step.rcvbufOverflows.server} / perfdhcp ${step.rcvbufOverflows.perfdhcp}${step.pass ? "" : " (over 1 % drops)"}`,
    );
    return step;
  } finally {
    await stopProcess(proc);
    if (key === "lab") {
      const stats = proc.output().match(/\{"stats":.*\}/)?.[0];
      if (stats) steps.at(-1).labStats = JSON.parse(stats).stats;
    }
  }
}

/**
 * The rate search of one server: step down (÷2, to 25/s) until a rate passes, then up ×1.5 until
 * one fails (or perfdhcp cannot send the rate), then bisect twice between the two.
 */
class RateSearch {
  constructor(key) {
    this.key = key;
    this.steps = [];
    this.rate = START;
    this.phase = "down";
    this.lastPass = undefined;
    this.firstFail = undefined;
    this.bisections = 0;
  }

  /** The next rate to try, or undefined when done. */
  next() {
    return this.phase === "done" ? undefined : Math.round(this.rate);
  }

  record(step) {
    if (step.pass && (!this.lastPass || step.leasesPerSec > this.lastPass.leasesPerSec)) this.lastPass = step;
    if (!step.pass && (!this.firstFail || step.requested < this.firstFail.requested)) this.firstFail = step;
    if (this.phase === "down") {
      if (step.pass) this.phase = "up";
      else if (this.rate / 2 >= 25) this.rate /= 2;
      else this.phase = "done";
    }
    if (this.phase === "up") {
      // perfdhcp itself cannot send faster: more requested rate measures nothing new.
      const generatorBound = step.leasesPerSec < 0.8 * step.requested;
      if (
        step.pass &&
        !generatorBound &&
        this.rate * 1.5 <= MAX &&
        !(this.firstFail?.requested <= this.rate * 1.5)
      ) {
        this.rate *= 1.5;
        return;
      }
      this.phase = "bisect";
    }
    if (this.phase === "bisect") {
      const lo = this.lastPass?.requested;
      const hi = this.firstFail?.requested;
      if (lo === undefined || hi === undefined || hi <= lo * 1.05 || this.bisections >= 2) {
        this.phase = "done";
        return;
      }
      this.bisections++;
      this.rate = (lo + hi) / 2;
    }
  }
}

/** Runs every server's rate search interleaved (one step each in turn), so load that comes and goes on a shared machine hits them alike. */
async function benchAll(keys) {
  const searches = keys.map((k) => new RateSearch(k));
  for (;;) {
    const active = searches.filter((x) => x.next() !== undefined);
    if (active.length === 0) break;
    for (const x of active) {
      const rate = x.next();
      let step = await runStep(x.key, rate, x.steps);
      // One retry: a single stall of a shared machine should not end a server's climb.
      if (!step.pass) step = await runStep(x.key, rate, x.steps);
      x.record(step);
    }
  }
  return searches.map((x) => {
    const best = x.steps.filter((st) => st.pass).sort((a, b) => b.leasesPerSec - a.leasesPerSec)[0];
    return { key: x.key, name: servers[x.key].name, steps: x.steps, best };
  });
}

/** What gave out at the first failing step above the best one: the server's socket or perfdhcp. */
function limitOf(r) {
  const fail = r.steps
    .filter((x) => !x.pass && x.requested > (r.best?.requested ?? 0))
    .sort((a, b) => a.requested - b.requested)[0];
  if (!fail) return "— (no failing step)";
  const o = fail.rcvbufOverflows;
  const who =
    o.server > o.perfdhcp
      ? "the server (its socket overflowed)"
      : fail.cpuPct.perfdhcp >= 90
        ? "perfdhcp (CPU-bound on its core)"
        : "perfdhcp's socket (overflowed)";
  return `${who} at ${fail.requested}/s: overflows server ${o.server} / perfdhcp ${o.perfdhcp}, CPU server ${fmt(fail.cpuPct.server, 0)} % / perfdhcp ${fmt(fail.cpuPct.perfdhcp, 0)} %`;
}

function fmt(x, d = 1) {
  return Number.isFinite(x) ? x.toFixed(d) : "—";
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error("run as root (network namespaces)");
  need("perfdhcp", "kea-admin");
  need("taskset", "util-linux");
  if (SERVERS.includes("dnsmasq") || SERVERS.includes("dnsmasq-ro")) need("dnsmasq", "dnsmasq-base");
  if (SERVERS.includes("kea")) need("kea-dhcp4", "kea-dhcp4-server");
  mkdirSync(out, { recursive: true });
  const { build } = await import("esbuild");
  await build({
    entryPoints: [join(root, "packages/pxe/src/dhcp/index.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    outfile: join(out, "dhcp.mjs"),
    logLevel: "error",
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
  });
  const startedAt = new Date();
  const loadStart = loadavg();
  console.log(
    `DHCP bench: perfdhcp -4 -l ${IF_C} -r RATE -R ${CLIENTS} -p ${PERIOD} ${SERVER_IP} (DORA as a relay, unicast to the server), server on core 0, perfdhcp on core 1; ` +
      `${cpus().length} CPUs, load ${loadStart.map((x) => x.toFixed(2)).join(" ")}`,
  );
  await setupNet();
  const results = [];
  try {
    console.log(`Servers: ${SERVERS.map((k) => `${k} = ${servers[k].name}`).join("; ")}. Steps interleaved:`);
    results.push(...(await benchAll(SERVERS)));
  } finally {
    await teardownNet();
  }
  const by = Object.fromEntries(results.map((r) => [r.key, r]));
  const lps = (k) => by[k]?.best?.leasesPerSec ?? Number.NaN;
  const perCore = (k) => 1e6 / (by[k]?.best?.serverCpuUsPerLease ?? Number.NaN);
  console.log(
    "\n| server | best leases/s (≤ 1 % drops) | at requested rate | server CPU µs/lease | → leases/s on a whole core | next step failed by |",
  );
  console.log("|---|--:|--:|--:|--:|---|");
  for (const r of results) {
    console.log(
      `| ${r.name} | ${fmt(r.best?.leasesPerSec, 0)} | ${r.best?.requested ?? "—"} | ${fmt(r.best?.serverCpuUsPerLease)} | ${fmt(perCore(r.key), 0)} | ${limitOf(r)} |`,
    );
  }
  const ratio = (a, b) => fmt(lps(a) / lps(b), 2);
  console.log("\nVerdict (printed, not enforced):");
  console.log(
    `- Lab: ${fmt(lps("lab"), 0)} leases/s (target ≥ 10,000): ${lps("lab") >= 10_000 ? "met" : "MISSED"}`,
  );
  if (by.dnsmasq)
    console.log(
      `- Lab / dnsmasq (lease file): ${ratio("lab", "dnsmasq")}× (target ≥ 1.0×): ${lps("lab") >= lps("dnsmasq") ? "met" : "MISSED"}`,
    );
  if (by["dnsmasq-ro"]) console.log(`- Lab / dnsmasq (--leasefile-ro): ${ratio("lab", "dnsmasq-ro")}×`);
  if (by.kea) console.log(`- Lab / Kea: ${ratio("lab", "kea")}× (Kea reference ~5,900/s)`);
  const labStats = by.lab?.best?.labStats;
  if (labStats) {
    const j = labStats.journal;
    console.log(
      `- Lab's journal at its best step: ${j.records} lease writes in ${j.batches} fsync batches (${fmt(j.records / j.batches)} per fsync, largest ${j.largestBatch}), ${j.compactions} compactions`,
    );
  }
  const loadEnd = loadavg();
  console.log(
    `Load average at start ${loadStart.map((x) => x.toFixed(2)).join(" ")}, at the end ${loadEnd.map((x) => x.toFixed(2)).join(" ")}.`,
  );
  writeFileSync(
    join(out, "results.json"),
    JSON.stringify({ startedAt, clients: CLIENTS, period: PERIOD, loadStart, loadEnd, results }, null, 2),
  );
}

process.on("SIGINT", async () => {
  await teardownNet();
  process.exit(130);
});

main().catch(async (e) => {
  console.error(e.message);
  await teardownNet();
  process.exit(1);
});
