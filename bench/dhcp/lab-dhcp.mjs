// Runs Lab's DHCP server (scoped mode, durable FileLeaseStore) for bench/dhcp/run.mjs.
// Usage: node lab-dhcp.mjs BUNDLE CONFIG_JSON
//   BUNDLE: an esbuild bundle of packages/pxe/src/dhcp/index.ts (run.mjs builds it)
//   CONFIG_JSON: {"interface","journal","pool":{start,end},"router","dns":[…],"macBase","macCount","journalOptions"?}
// Prints {"ready":…} when serving, and {"stats":…} (server and lease-journal counters) on SIGTERM.
const [bundle, configText] = process.argv.slice(2);
const { DhcpServer, FileLeaseStore, MemoryLeaseStore } = await import(bundle);
const cfg = JSON.parse(configText);

// The MACs perfdhcp generates: base + 0 … count-1 (it randomises within -R clients from -b mac=…).
const known = new Map();
const base = cfg.macBase.split(":").map((h) => Number.parseInt(h, 16));
const baseNum = base.reduce((n, b) => n * 256 + b, 0);
for (let i = 0; i < cfg.macCount; i++) {
  let n = baseNum + i;
  const bytes = [];
  for (let k = 0; k < 6; k++) {
    bytes.unshift((n % 256).toString(16).padStart(2, "0"));
    n = Math.floor(n / 256);
  }
  known.set(bytes.join(":"), {});
}
const empty = undefined;

// "journal": null runs with leases in memory only (to tell the journal's share from the rest).
const leases = cfg.journal
  ? await FileLeaseStore.open(cfg.journal, cfg.journalOptions ?? {})
  : new MemoryLeaseStore();
const server = new DhcpServer({
  mode: "scoped",
  interface: cfg.interface,
  router: cfg.router,
  dns: cfg.dns,
  leaseTime: 3600,
  pool: cfg.pool,
  boot: { httpBase: `http://${cfg.router}:8080` },
  leases,
  lookup: (mac) => known.get(mac) ?? empty,
  log: (line) => process.stderr.write(`${line}\n`),
});
await server.start();
process.stdout.write(`${JSON.stringify({ ready: true, known: known.size })}\n`);

process.on("SIGTERM", async () => {
  const cpu = process.cpuUsage();
  const stats = {
    server: server.stats(),
    journal: leases.stats?.(),
    leases: leases.size,
    cpuMs: { user: cpu.user / 1000, system: cpu.system / 1000 },
  };
  await server.close();
  await leases.close();
  process.stdout.write(`${JSON.stringify({ stats })}\n`);
  process.exit(0);
});
