#!/usr/bin/env node
/**
 * Boot-file serving, side by side in one run:
 *
 *  HTTP  a 100 MB file from Lab's serveFile (node:http; with its memory cache of hot files, as
 *        deployed, and with the cache off, streaming from disk), from nginx (sendfile on, 2
 *        workers, its own config and prefix in a temp dir) and from bare Node createReadStream
 *        with its defaults (the naive baseline), all on 127.0.0.1: 9 single curls and 5 rounds
 *        of 8 parallel curls each, interleaved. Target: Lab ≥ 0.9× nginx.
 *  TFTP  ipxe.efi and a 32 MiB file from Lab's TftpServer and from dnsmasq over a veth between
 *        two network namespaces (ldbs = servers, ldbc = clients), with atftp (blksize 1468, and
 *        blksize 1468 + windowsize 8) and curl (default blksize 512, and 1468). Every download
 *        is compared byte for byte. Target: Lab ≥ 1.0× dnsmasq (no slower).
 *
 * Server CPU time (user + system, from /proc) is recorded next to the wall-clock numbers: the
 * machine is shared, and CPU per transfer does not count time spent waiting for a core.
 *
 * Run as root (namespaces, port 69): node bench/boot-files/run.mjs
 * Knobs: BOOT_BENCH_HTTP_RUNS (9), BOOT_BENCH_HTTP_ROUNDS (5), BOOT_BENCH_PARALLEL (8),
 *        BOOT_BENCH_TFTP_RUNS (7), BOOT_BENCH_ONLY=http|tftp.
 * Output: a table on stdout, bench/boot-files/out/results.json and results.md.
 */
import { execFile, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const exec = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../..");
const outDir = join(here, "out");
const env = (k, d) => Number(process.env[k] ?? d);
const HTTP_RUNS = env("BOOT_BENCH_HTTP_RUNS", 9);
const HTTP_ROUNDS = env("BOOT_BENCH_HTTP_ROUNDS", 5);
const PARALLEL = env("BOOT_BENCH_PARALLEL", 8);
const TFTP_RUNS = env("BOOT_BENCH_TFTP_RUNS", 7);
const ONLY = process.env.BOOT_BENCH_ONLY ?? "";
const HTTP_SIZE = 100 * 1000 * 1000;
const TFTP_BIG = 32 * 1024 * 1024;
const IPXE = "/usr/lib/ipxe/ipxe.efi";
const NS_SRV = "ldbs";
const NS_CLI = "ldbc";
const IP_DNSMASQ = "10.213.0.1";
const IP_CLIENT = "10.213.0.2";
const IP_LAB = "10.213.0.3";
const CLK_TCK = 100;

const children = [];
let tmp;
let netnsUp = false;

// ── helpers ──

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (n, d = 0) => n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function need(cmd, pkg) {
  try {
    await exec("sh", ["-c", `command -v ${cmd}`]);
  } catch {
    throw new Error(`${cmd} is missing: apt-get install -y ${pkg}`);
  }
}

async function sha256(path) {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk);
  return h.digest("hex");
}

async function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** Starts a long-running process; resolves once `ready` matches its output (or after `settle` ms). */
function start(name, cmd, args, { ready, settle } = {}) {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  return new Promise((res, rej) => {
    const timer = setTimeout(() => {
      if (ready) rej(new Error(`${name} did not start: ${output}`));
      else res({ child, output: () => output });
    }, settle ?? 10_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      rej(new Error(`${name} exited with ${code}: ${output}`));
    });
    if (ready) {
      const check = () => {
        const m = ready.exec(output);
        if (m) {
          clearTimeout(timer);
          child.stdout.off("data", check);
          child.stderr.off("data", check);
          res({ child, match: m, output: () => output });
        }
      };
      child.stdout.on("data", check);
      child.stderr.on("data", check);
    }
  });
}

function stop(child) {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
}

/** User + system CPU seconds of these processes (threads included) from /proc. */
async function cpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // the process is gone
    }
  }
  return ticks / CLK_TCK;
}

/** The pid and its direct children (nginx's workers). */
async function processTree(pid) {
  const pids = [pid];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) pids.push(Number(entry));
    } catch {
      // raced with an exit
    }
  }
  return pids;
}

async function cleanup() {
  for (const c of children) stop(c);
  await sleep(200);
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  if (netnsUp) {
    for (const ns of [NS_SRV, NS_CLI]) await exec("ip", ["netns", "del", ns]).catch(() => undefined);
    netnsUp = false;
  }
  if (tmp) await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
}

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    cleanup().finally(() => process.exit(130));
  });
}

// ── build ──

async function build() {
  const { build: esbuild } = await import(join(repo, "node_modules/esbuild/lib/main.js"));
  await esbuild({
    entryPoints: [join(here, "lab-http.ts"), join(here, "lab-tftp.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outdir: outDir,
    outExtension: { ".js": ".mjs" },
    // Lab's modules use only LabError from @lab/core; bundling errors.ts alone keeps the bundle small.
    alias: { "@lab/core": join(repo, "packages/core/src/errors.ts") },
    logLevel: "warning",
  });
}

// ── HTTP ──

async function curlSpeed(url, expectSize) {
  const { stdout } = await exec("curl", [
    "-s",
    "-o",
    "/dev/null",
    "-w",
    "%{speed_download} %{size_download} %{http_code}",
    url,
  ]);
  const [speed, size, code] = stdout.trim().split(" ").map(Number);
  if (code !== 200 || size !== expectSize) throw new Error(`${url}: HTTP ${code}, ${size} bytes`);
  return speed;
}

async function benchHttp() {
  const www = join(tmp, "www");
  await mkdir(www);
  const file = join(www, "boot100.bin");
  const chunks = [];
  for (let left = HTTP_SIZE; left > 0; left -= 1 << 24) chunks.push(randomBytes(Math.min(left, 1 << 24)));
  await writeFile(file, Buffer.concat(chunks));
  const want = await sha256(file);

  const labPort = await freePort();
  const lab = await start(
    "lab http",
    process.execPath,
    [join(outDir, "lab-http.mjs"), www, String(labPort)],
    {
      ready: /listening (\d+)/,
    },
  );
  const diskPort = await freePort();
  const disk = await start(
    "lab http nocache",
    process.execPath,
    [join(outDir, "lab-http.mjs"), www, String(diskPort), "nocache"],
    { ready: /listening (\d+)/ },
  );
  const naivePort = await freePort();
  const naive = await start(
    "naive http",
    process.execPath,
    [join(here, "naive-http.mjs"), www, String(naivePort)],
    {
      ready: /listening (\d+)/,
    },
  );
  const nginxPort = await freePort();
  const prefix = join(tmp, "nginx");
  await mkdir(join(prefix, "logs"), { recursive: true });
  await writeFile(
    join(prefix, "nginx.conf"),
    `daemon off;
master_process on;
worker_processes 2;
user root;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 5;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${nginxPort};
    root ${www};
  }
}
`,
  );
  const nginx = await start("nginx", "nginx", ["-p", `${prefix}/`, "-c", join(prefix, "nginx.conf")], {
    settle: 500,
  });
  const servers = [
    {
      name: "Lab serveFile (memory cache)",
      key: "lab",
      url: `http://127.0.0.1:${labPort}/boot100.bin`,
      pid: lab.child.pid,
    },
    {
      name: "Lab serveFile (cache off, from disk)",
      key: "labdisk",
      url: `http://127.0.0.1:${diskPort}/boot100.bin`,
      pid: disk.child.pid,
    },
    {
      name: "nginx (sendfile)",
      key: "nginx",
      url: `http://127.0.0.1:${nginxPort}/boot100.bin`,
      pid: nginx.child.pid,
    },
    {
      name: "Node createReadStream (naive)",
      key: "naive",
      url: `http://127.0.0.1:${naivePort}/boot100.bin`,
      pid: naive.child.pid,
    },
  ];
  for (const s of servers) {
    s.pids = await processTree(s.pid);
    s.single = [];
    s.parallel = [];
    s.cpu = 0;
    s.bytes = 0;
    // One checked download each (bytes compared), which also warms the page cache and the JIT.
    const dest = join(tmp, `check-${s.key}`);
    await exec("curl", ["-sS", "-o", dest, s.url]);
    if ((await sha256(dest)) !== want) throw new Error(`${s.name} sent different bytes`);
    await rm(dest);
  }
  console.log(`HTTP: ${HTTP_RUNS} single runs …`);
  for (let r = 0; r < HTTP_RUNS; r++) {
    for (let i = 0; i < servers.length; i++) {
      const s = servers[(i + r) % servers.length];
      const c0 = await cpuSeconds(s.pids);
      s.single.push(await curlSpeed(s.url, HTTP_SIZE));
      s.cpu += (await cpuSeconds(s.pids)) - c0;
      s.bytes += HTTP_SIZE;
    }
  }
  console.log(`HTTP: ${HTTP_ROUNDS} rounds of ${PARALLEL} parallel curls …`);
  for (let r = 0; r < HTTP_ROUNDS; r++) {
    for (let i = 0; i < servers.length; i++) {
      const s = servers[(i + r) % servers.length];
      const c0 = await cpuSeconds(s.pids);
      const t0 = performance.now();
      await Promise.all(Array.from({ length: PARALLEL }, () => curlSpeed(s.url, HTTP_SIZE)));
      const secs = (performance.now() - t0) / 1000;
      s.cpu += (await cpuSeconds(s.pids)) - c0;
      s.bytes += PARALLEL * HTTP_SIZE;
      s.parallel.push((PARALLEL * HTTP_SIZE) / secs);
    }
  }
  for (const c of [lab.child, disk.child, naive.child, nginx.child]) stop(c);
  const MB = 1e6;
  return servers.map((s) => ({
    server: s.name,
    key: s.key,
    singleMBps: median(s.single) / MB,
    singleRuns: s.single.map((x) => x / MB),
    parallelMBps: median(s.parallel) / MB,
    parallelRuns: s.parallel.map((x) => x / MB),
    cpuSecondsPerGB: s.cpu / (s.bytes / 1e9),
  }));
}

// ── TFTP ──

async function ip(...args) {
  await exec("ip", args);
}

async function netns() {
  for (const ns of [NS_SRV, NS_CLI]) await exec("ip", ["netns", "del", ns]).catch(() => undefined);
  await ip("netns", "add", NS_SRV);
  await ip("netns", "add", NS_CLI);
  netnsUp = true;
  await ip("link", "add", "ldbs0", "type", "veth", "peer", "name", "ldbc0");
  await ip("link", "set", "ldbs0", "netns", NS_SRV);
  await ip("link", "set", "ldbc0", "netns", NS_CLI);
  await ip("-n", NS_SRV, "addr", "add", `${IP_DNSMASQ}/24`, "dev", "ldbs0");
  await ip("-n", NS_SRV, "addr", "add", `${IP_LAB}/24`, "dev", "ldbs0");
  await ip("-n", NS_CLI, "addr", "add", `${IP_CLIENT}/24`, "dev", "ldbc0");
  for (const [ns, dev] of [
    [NS_SRV, "ldbs0"],
    [NS_CLI, "ldbc0"],
    [NS_SRV, "lo"],
    [NS_CLI, "lo"],
  ]) {
    await ip("-n", ns, "link", "set", dev, "up");
  }
}

const CLIENTS = [
  {
    name: "atftp blksize 1468",
    args: (srv, file, dest) => ["atftp", "--option", "blksize 1468", "-g", "-r", file, "-l", dest, srv],
  },
  {
    name: "atftp blksize 1468 windowsize 8",
    args: (srv, file, dest) => [
      "atftp",
      "--option",
      "blksize 1468",
      "--option",
      "windowsize 8",
      "-g",
      "-r",
      file,
      "-l",
      dest,
      srv,
    ],
  },
  {
    name: "curl (blksize 512)",
    args: (srv, file, dest) => ["curl", "-sS", "-o", dest, `tftp://${srv}/${file}`],
  },
  {
    name: "curl --tftp-blksize 1468",
    args: (srv, file, dest) => ["curl", "-sS", "--tftp-blksize", "1468", "-o", dest, `tftp://${srv}/${file}`],
  },
];

async function tftpGet(client, srv, file, dest) {
  const t0 = performance.now();
  await exec("ip", ["netns", "exec", NS_CLI, ...client.args(srv, file, dest)], { timeout: 120_000 });
  return performance.now() - t0;
}

async function benchTftp() {
  const root = join(tmp, "tftp");
  await mkdir(root);
  await copyFile(IPXE, join(root, "ipxe.efi"));
  await writeFile(join(root, "big32.bin"), randomBytes(TFTP_BIG));
  const files = [
    {
      name: "ipxe.efi",
      hash: await sha256(join(root, "ipxe.efi")),
      size: (await readFile(join(root, "ipxe.efi"))).length,
    },
    { name: "big32.bin", hash: await sha256(join(root, "big32.bin")), size: TFTP_BIG },
  ];
  await netns();
  const lab = await start(
    "lab tftp",
    "ip",
    ["netns", "exec", NS_SRV, process.execPath, join(outDir, "lab-tftp.mjs"), root, IP_LAB, "69"],
    { ready: /listening (\d+)/ },
  );
  const dnsmasq = await start(
    "dnsmasq",
    "ip",
    [
      "netns",
      "exec",
      NS_SRV,
      "dnsmasq",
      "-k",
      "--conf-file=/dev/null",
      "--port=0",
      "--enable-tftp",
      `--tftp-root=${root}`,
      `--listen-address=${IP_DNSMASQ}`,
      "--bind-interfaces",
      `--pid-file=${join(tmp, "dnsmasq.pid")}`,
      "--user=root",
      "--group=root",
      `--log-facility=${join(tmp, "dnsmasq.log")}`,
    ],
    { settle: 500 },
  );
  const servers = [
    { key: "lab", name: "Lab", ip: IP_LAB, pid: lab.child.pid },
    { key: "dnsmasq", name: "dnsmasq", ip: IP_DNSMASQ, pid: dnsmasq.child.pid },
  ];
  const dest = join(tmp, "dl");
  const rows = [];
  let checked = 0;
  // Warm-up, not counted: JIT, Lab's memory cache, the page cache, ARP, dnsmasq's first opens.
  for (let i = 0; i < 3; i++) {
    for (const client of CLIENTS) for (const s of servers) await tftpGet(client, s.ip, "ipxe.efi", dest);
  }
  for (const file of files) {
    for (const client of CLIENTS) {
      const row = { file: file.name, client: client.name, lab: [], dnsmasq: [], cpu: { lab: 0, dnsmasq: 0 } };
      console.log(`TFTP: ${file.name} with ${client.name} …`);
      for (const s of servers) await tftpGet(client, s.ip, file.name, dest); // warm-up for this cell
      for (let r = 0; r < TFTP_RUNS; r++) {
        for (const s of r % 2 ? [...servers].reverse() : servers) {
          await rm(dest, { force: true });
          const c0 = await cpuSeconds([s.pid]);
          const ms = await tftpGet(client, s.ip, file.name, dest);
          row.cpu[s.key] += (await cpuSeconds([s.pid])) - c0;
          if ((await sha256(dest)) !== file.hash)
            throw new Error(`${s.name} → ${client.name}: ${file.name} differs`);
          checked++;
          row[s.key].push(ms);
        }
      }
      rows.push({
        file: file.name,
        size: file.size,
        client: client.name,
        labMs: median(row.lab),
        dnsmasqMs: median(row.dnsmasq),
        labRuns: row.lab,
        dnsmasqRuns: row.dnsmasq,
        labCpuMs: (row.cpu.lab * 1000) / TFTP_RUNS,
        dnsmasqCpuMs: (row.cpu.dnsmasq * 1000) / TFTP_RUNS,
      });
    }
  }
  stop(lab.child);
  stop(dnsmasq.child);
  return { rows, checked };
}

// ── report ──

function table(head, rows) {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(" | ")} |`;
  return [line(head), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...rows.map(line)].join("\n");
}

async function main() {
  if (process.getuid?.() !== 0)
    throw new Error("run as root: the TFTP part needs network namespaces and port 69");
  await need("curl", "curl");
  if (ONLY !== "tftp") await need("nginx", "nginx-light");
  if (ONLY !== "http") {
    await need("dnsmasq", "dnsmasq-base");
    await need("atftp", "atftp");
    await need("ip", "iproute2");
  }
  await mkdir(outDir, { recursive: true });
  tmp = await mkdtemp(join(tmpdir(), "lab-bench-boot-"));
  await build();
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    loadStart: loadavg().map((x) => x.toFixed(2)),
  };
  const http = ONLY === "tftp" ? [] : await benchHttp();
  const tftp = ONLY === "http" ? { rows: [], checked: 0 } : await benchTftp();
  meta.loadEnd = loadavg().map((x) => x.toFixed(2));

  const parts = [];
  parts.push(
    `Boot files bench · ${meta.date} · Node ${meta.node} · ${meta.cpus} CPUs (${meta.cpuModel}) · load ${meta.loadStart.join(" ")} → ${meta.loadEnd.join(" ")}`,
  );
  if (http.length) {
    const nginx = http.find((r) => r.key === "nginx");
    parts.push(
      `\nHTTP, 100 MB file on 127.0.0.1 (MB = 10^6 bytes; single = median of ${HTTP_RUNS} curls, parallel = median aggregate of ${HTTP_ROUNDS} rounds × ${PARALLEL} curls)\n`,
    );
    parts.push(
      table(
        ["server", "single MB/s", "÷ nginx", `${PARALLEL}× parallel MB/s`, "÷ nginx", "server CPU s/GB"],
        http.map((r) => [
          r.server,
          fmt(r.singleMBps),
          `${(r.singleMBps / nginx.singleMBps).toFixed(2)}×`,
          fmt(r.parallelMBps),
          `${(r.parallelMBps / nginx.parallelMBps).toFixed(2)}×`,
          fmt(r.cpuSecondsPerGB, 2),
        ]),
      ),
    );
  }
  if (tftp.rows.length) {
    parts.push(
      `\nTFTP over a veth between namespaces (median wall ms of ${TFTP_RUNS} runs per cell, client process start included; speed ratio = dnsmasq ms ÷ Lab ms, > 1 means Lab is faster; ${tftp.checked} downloads compared byte for byte)\n`,
    );
    parts.push(
      table(
        ["file", "client", "Lab ms", "dnsmasq ms", "speed Lab/dnsmasq", "server CPU ms: Lab · dnsmasq"],
        tftp.rows.map((r) => [
          r.file,
          r.client,
          fmt(r.labMs),
          fmt(r.dnsmasqMs),
          `${(r.dnsmasqMs / r.labMs).toFixed(2)}×`,
          `${fmt(r.labCpuMs)} · ${fmt(r.dnsmasqCpuMs)}`,
        ]),
      ),
    );
  }
  const text = parts.join("\n");
  console.log(`\n${text}\n`);
  await writeFile(join(outDir, "results.json"), `${JSON.stringify({ meta, http, tftp }, null, 2)}\n`);
  await writeFile(join(outDir, "results.md"), `${text}\n`);
}

try {
  await main();
} finally {
  await cleanup();
}
