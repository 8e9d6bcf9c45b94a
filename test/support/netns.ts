/**
 * An isolated boot network for end-to-end PXE tests: a network namespace holding a bridge
 * (`<prefix>br0`, 10.X.Y.1/24 plus an IPv6 ULA /64 announced by router advertisements), taps
 * for QEMU, an optional "home router" namespace with its own DHCP server (proxy-mode tests),
 * and a veth from the host namespace into the bridge (10.X.Y.254/24) so that a server running
 * in the test process is on the same segment as the VMs.
 *
 *   const net = await createBootNetwork({ prefix: "lab" });
 *   const tap = await net.addTap();
 *   // a server in this process listens on net.hostIp; or net.spawn(...) one inside
 *   await net.destroy(); // in afterAll; idempotent
 *
 * The router advertisements matter: without one iPXE waits ~10 s for IPv6 autoconfiguration.
 * They are "ra-only" (no SLAAC, no DHCPv6), sent by a dnsmasq with DNS and DHCPv4 off, so
 * DHCPv4 on the bridge is left to the server under test.
 *
 * Cleanup never depends on the test passing: `destroy()` kills every process started here and
 * deletes the namespaces; a process "exit" hook does the same synchronously; children are
 * started through `setpriv --pdeathsig KILL`, so they die with the test worker; and a network
 * whose owner process is gone is reclaimed by the next `createBootNetwork` with its prefix.
 *
 * Needs root, iproute2, util-linux (setpriv) and dnsmasq-base.
 */
import { type ChildProcess, spawn as spawnChild, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const OWNER_DIR = "/run/lab-test-netns";
/** How much of a child's output is kept (the tail). */
const OUTPUT_LIMIT = 256 * 1024;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Resolve with the result instead of rejecting when the command exits non-zero. */
  allowFailure?: boolean;
  /** Written to the command's stdin. */
  input?: string;
  timeoutMs?: number;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** A label for error messages and logs (default: the command name). */
  name?: string;
}

/** A long-running process inside a namespace. */
export interface NsProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves once the process has exited (never rejects). */
  readonly exited: Promise<Exit>;
  readonly running: boolean;
  /** stdout and stderr interleaved, the last 256 KiB. */
  output(): string;
  /** Resolves with the match once the output matches; rejects on timeout or exit. */
  waitForOutput(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** SIGTERM, then SIGKILL after `graceMs` (default 3000). */
  stop(graceMs?: number): Promise<Exit>;
}

export interface BootNetworkOptions {
  /** Names every namespace, bridge, tap and veth ("ldf" → ns "ldf-boot3", bridge "ldfbr0"); ≤ 8 chars. */
  prefix: string;
  /** Send IPv6 router advertisements on the bridge (default true). */
  ra?: boolean;
  /** Join the host namespace to the bridge through a veth with address 10.X.Y.254 (default true). */
  hostLink?: boolean;
}

export interface RouterDhcpOptions {
  /** First and last host number of the pool (default 100 and 200: 10.X.Y.100-200). */
  first?: number;
  last?: number;
  /** Lease time in seconds (default 3600). */
  leaseSeconds?: number;
}

export interface Lease {
  mac: string;
  ip: string;
  expires: number;
  hostname: string | null;
}

/** A separate namespace acting as the site's ordinary DHCP server (no PXE options). */
export interface RouterDhcp {
  readonly ns: string;
  /** The router's address on the segment (10.X.Y.2); also the default gateway it hands out. */
  readonly ip: string;
  readonly range: { first: string; last: string };
  readonly process: NsProcess;
  /** The leases it has handed out so far (from its lease file). */
  leases(): Promise<Lease[]>;
}

export interface BootNetwork {
  /** Small integer that makes this network's names and subnet unique (Y in 10.X.Y.0/24). */
  readonly id: number;
  readonly prefix: string;
  /** The namespace with the bridge, where taps and servers live. */
  readonly ns: string;
  readonly bridge: string;
  /** "10.X.Y.0/24" */
  readonly subnet: string;
  readonly netmask: "255.255.255.0";
  /** The bridge's address inside the namespace (10.X.Y.1). */
  readonly serverIp: string;
  /** The host-namespace end of the host link (10.X.Y.254), or null without one. */
  readonly hostIp: string | null;
  /** The host-namespace interface of the host link (bind a DHCP server to it), or null. */
  readonly hostInterface: string | null;
  /** "fdxx:xxxx:xx:yy::/64", announced by router advertisements. */
  readonly ipv6Prefix: string;
  /** The bridge's IPv6 address (…::1). */
  readonly serverIp6: string;
  /** Scratch directory (pid files, leases, logs) removed by destroy(); world-readable. */
  readonly dir: string;
  /** 10.X.Y.<host>. */
  address(host: number): string;
  /** Creates a tap attached to the bridge (default name `<prefix>tap<n>`) and returns its name. */
  addTap(name?: string): Promise<string>;
  /** Runs a command inside the namespace and collects its output. */
  exec(cmd: string, args: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Starts a long-running command inside the namespace; destroy() stops it. */
  spawn(cmd: string, args: string[], opts?: SpawnOptions): NsProcess;
  /** Adds the router namespace with its DHCP server (10.X.Y.100-200 by default). Once per network. */
  addRouterDhcp(opts?: RouterDhcpOptions): Promise<RouterDhcp>;
  /** Kills everything this network started and deletes its namespaces; safe to call twice. */
  destroy(): Promise<void>;
}

export interface PxeDnsmasqOptions {
  /** The URL iPXE is sent to (DHCP filename for clients with user class "iPXE"). */
  ipxeScriptUrl: string;
  /** TFTP root; must hold ipxe.efi (UEFI) and undionly.kpxe (BIOS PXE ROMs that are not iPXE). */
  tftpRoot: string;
  /** Pool host numbers (default 50-99). */
  first?: number;
  last?: number;
  /** Send iPXE's option 175.176 (no-pxedhcp) so it does not wait ~3 s for ProxyDHCP (default true). */
  noPxeDhcp?: boolean;
}

// ── helpers ───────────────────────────────────────────────────────────────────────────────

const live = new Set<BootNetworkImpl>();
let exitHookInstalled = false;

function requireProgram(name: string, path: string, pkg: string): void {
  if (!existsSync(path)) throw new Error(`${name} is not installed (${path}): apt-get install -y ${pkg}`);
}

function checkPrerequisites(): void {
  if (process.getuid?.() !== 0) throw new Error("boot networks need root (network namespaces, taps)");
  requireProgram("ip", "/usr/bin/ip", "iproute2");
  requireProgram("setpriv", "/usr/bin/setpriv", "util-linux");
  requireProgram("dnsmasq", "/usr/sbin/dnsmasq", "dnsmasq-base");
}

/** Runs a command in the host namespace. */
function run(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawnChild(cmd, args, {
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    // A command that exits without reading its input must not crash the test with EPIPE.
    child.stdin?.on("error", () => {});
    let stdout = "";
    let stderr = "";
    const cap = (s: string, chunk: Buffer) => (s.length < 1024 * 1024 ? s + chunk.toString() : s);
    child.stdout?.on("data", (c: Buffer) => {
      stdout = cap(stdout, c);
    });
    child.stderr?.on("data", (c: Buffer) => {
      stderr = cap(stderr, c);
    });
    const timer = opts.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs) : undefined;
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} could not start: ${e.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const result = { code: code ?? (signal ? 128 : -1), stdout, stderr };
      if (result.code !== 0 && !opts.allowFailure) {
        reject(
          new Error(
            `${cmd} ${args.join(" ")} exited ${code ?? signal}: ${(stderr || stdout).trim().slice(-2000)}`,
          ),
        );
      } else resolve(result);
    });
    child.stdin?.end(opts.input);
  });
}

function startProcess(name: string, argv: string[], opts: SpawnOptions = {}): NsProcess {
  const [cmd, ...args] = argv as [string, ...string[]];
  const child = spawnChild(cmd, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", ...opts.env },
    cwd: opts.cwd,
  });
  let out = "";
  let running = true;
  const waiters = new Set<() => void>();
  const append = (chunk: Buffer) => {
    out += chunk.toString();
    if (out.length > OUTPUT_LIMIT) out = out.slice(-OUTPUT_LIMIT);
    for (const w of waiters) w();
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  const exited = new Promise<Exit>((resolve) => {
    child.on("error", (e) => {
      out += `\n[${name} could not start: ${e.message}]\n`;
      running = false;
      resolve({ code: null, signal: null });
      for (const w of waiters) w();
    });
    child.on("exit", (code, signal) => {
      running = false;
      resolve({ code, signal });
      for (const w of waiters) w();
    });
  });
  const proc: NsProcess = {
    name,
    pid: child.pid ?? -1,
    child,
    exited,
    get running() {
      return running;
    },
    output: () => out,
    waitForOutput(re, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.match(re);
          if (m) return done(() => resolve(m));
          if (!running) {
            done(() => reject(new Error(`${name} exited before printing ${re}:\n${out.slice(-4000)}`)));
          }
        };
        const timer = setTimeout(
          () =>
            done(() =>
              reject(new Error(`${name} did not print ${re} within ${timeoutMs} ms:\n${out.slice(-4000)}`)),
            ),
          timeoutMs,
        );
        const done = (f: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          f();
        };
        waiters.add(check);
        check();
      });
    },
    async stop(graceMs = 3000) {
      if (running) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
        await exited;
        clearTimeout(timer);
      }
      return exited;
    },
  };
  return proc;
}

function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (const c of s) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Synchronous teardown for the process "exit" hook and for reclaiming stale networks. */
function teardownSync(namespaces: string[], hostVeth: string | null): void {
  for (const ns of namespaces) {
    const pids = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" }).stdout ?? "";
    for (const pid of pids.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {}
    }
    spawnSync("ip", ["netns", "del", ns], { stdio: "ignore" });
  }
  if (hostVeth) spawnSync("ip", ["link", "del", hostVeth], { stdio: "ignore" });
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const net of live) net.destroySync();
  });
}

// ── the network ───────────────────────────────────────────────────────────────────────────

class BootNetworkImpl implements BootNetwork {
  readonly netmask = "255.255.255.0" as const;
  readonly bridge: string;
  readonly subnet: string;
  readonly serverIp: string;
  readonly hostIp: string | null;
  readonly hostInterface: string | null;
  readonly ipv6Prefix: string;
  readonly serverIp6: string;
  private readonly net3: string;
  private readonly procs = new Set<NsProcess>();
  private readonly namespaces: string[];
  private tapCount = 0;
  private router: RouterDhcp | null = null;
  private destroyed = false;

  constructor(
    readonly prefix: string,
    readonly id: number,
    readonly ns: string,
    x: number,
    readonly dir: string,
    hostLink: boolean,
  ) {
    this.net3 = `10.${x}.${id}`;
    this.bridge = `${prefix}br0`;
    this.subnet = `${this.net3}.0/24`;
    this.serverIp = `${this.net3}.1`;
    this.hostIp = hostLink ? `${this.net3}.254` : null;
    this.hostInterface = hostLink ? `${prefix}h${id}` : null;
    const p6 = `fd6c:6162:${x.toString(16)}:${id.toString(16)}`;
    this.ipv6Prefix = `${p6}::/64`;
    this.serverIp6 = `${p6}::1`;
    this.namespaces = [ns];
  }

  address(host: number): string {
    if (!Number.isInteger(host) || host < 1 || host > 254)
      throw new Error(`host number ${host} is not 1-254`);
    return `${this.net3}.${host}`;
  }

  async setUp(ra: boolean): Promise<void> {
    const ipv6 = this.ipv6Prefix.replace("::/64", "");
    await run("ip", ["-n", this.ns, "-batch", "-"], {
      input: [
        "link set lo up",
        `link add ${this.bridge} type bridge stp_state 0 forward_delay 0 mcast_snooping 0`,
        `addr add ${this.serverIp}/24 dev ${this.bridge}`,
        `addr add ${ipv6}::1/64 dev ${this.bridge} nodad`,
        `link set ${this.bridge} up`,
      ].join("\n"),
    });
    if (this.hostInterface && this.hostIp) {
      const inside = `${this.prefix}hb`;
      await run("ip", [
        "link",
        "add",
        this.hostInterface,
        "type",
        "veth",
        "peer",
        "name",
        inside,
        "netns",
        this.ns,
      ]);
      // No IPv6 on the host end: the bridge's router advertisements must not give the host a
      // default route into this network.
      await run("sysctl", ["-qw", `net.ipv6.conf.${this.hostInterface}.disable_ipv6=1`]);
      await run("ip", ["addr", "add", `${this.hostIp}/24`, "dev", this.hostInterface]);
      await run("ip", ["link", "set", this.hostInterface, "up"]);
      await run("ip", ["-n", this.ns, "link", "set", inside, "master", this.bridge, "up"]);
    }
    if (ra) {
      const dnsmasq = this.spawn(
        "dnsmasq",
        [
          "--keep-in-foreground",
          "--conf-file=/dev/null",
          "--port=0",
          `--interface=${this.bridge}`,
          "--bind-interfaces",
          "--enable-ra",
          `--dhcp-range=${ipv6}::,ra-only,64`,
          `--pid-file=${join(this.dir, "ra.pid")}`,
          "--leasefile-ro",
          "--log-facility=-",
        ],
        { name: "dnsmasq (router advertisements)" },
      );
      await dnsmasq.waitForOutput(/router advertisement enabled/, 10_000);
    }
  }

  async addTap(name?: string): Promise<string> {
    const tap = name ?? `${this.prefix}tap${this.tapCount++}`;
    if (tap.length > 15) throw new Error(`interface name ${tap} is longer than 15 characters`);
    await run("ip", ["-n", this.ns, "tuntap", "add", "dev", tap, "mode", "tap"]);
    await run("ip", ["-n", this.ns, "link", "set", tap, "master", this.bridge, "up"]);
    return tap;
  }

  exec(cmd: string, args: string[], opts?: ExecOptions): Promise<ExecResult> {
    return run("ip", ["netns", "exec", this.ns, cmd, ...args], opts);
  }

  spawn(cmd: string, args: string[], opts: SpawnOptions = {}): NsProcess {
    return this.spawnIn(this.ns, cmd, args, opts);
  }

  private spawnIn(ns: string, cmd: string, args: string[], opts: SpawnOptions): NsProcess {
    if (this.destroyed) throw new Error(`boot network ${this.ns} is destroyed`);
    const proc = startProcess(
      opts.name ?? cmd,
      ["setpriv", "--pdeathsig", "KILL", "--", "ip", "netns", "exec", ns, cmd, ...args],
      opts,
    );
    this.procs.add(proc);
    return proc;
  }

  async addRouterDhcp(opts: RouterDhcpOptions = {}): Promise<RouterDhcp> {
    if (this.router) throw new Error("this boot network already has a router DHCP server");
    const rns = `${this.ns}-rtr`;
    const first = opts.first ?? 100;
    const last = opts.last ?? 200;
    const ip = this.address(2);
    const outside = `${this.prefix}rb`;
    const inside = `${this.prefix}r0`;
    await run("ip", ["netns", "add", rns]);
    this.namespaces.push(rns);
    await run("ip", [
      "-n",
      this.ns,
      "link",
      "add",
      outside,
      "type",
      "veth",
      "peer",
      "name",
      inside,
      "netns",
      rns,
    ]);
    await run("ip", ["-n", this.ns, "link", "set", outside, "master", this.bridge, "up"]);
    await run("ip", ["-n", rns, "-batch", "-"], {
      input: ["link set lo up", `addr add ${ip}/24 dev ${inside}`, `link set ${inside} up`].join("\n"),
    });
    const leaseFile = join(this.dir, "router.leases");
    const proc = this.spawnIn(
      rns,
      "dnsmasq",
      [
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--port=0",
        `--interface=${inside}`,
        "--bind-interfaces",
        `--dhcp-range=${this.address(first)},${this.address(last)},255.255.255.0,${opts.leaseSeconds ?? 3600}`,
        `--dhcp-option=option:router,${ip}`,
        // No DNS server: the router runs none (--port=0).
        "--dhcp-option=option:dns-server",
        "--dhcp-authoritative",
        "--no-ping",
        `--dhcp-leasefile=${leaseFile}`,
        `--pid-file=${join(this.dir, "router.pid")}`,
        "--log-dhcp",
        "--log-facility=-",
      ],
      { name: "dnsmasq (router DHCP)" },
    );
    await proc.waitForOutput(/DHCP, IP range/, 10_000);
    this.router = {
      ns: rns,
      ip,
      range: { first: this.address(first), last: this.address(last) },
      process: proc,
      async leases() {
        const text = await readFile(leaseFile, "utf8").catch(() => "");
        return parseDnsmasqLeases(text);
      },
    };
    return this.router;
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all([...this.procs].map((p) => p.stop(2000)));
    this.procs.clear();
    teardownSync(this.namespaces, this.hostInterface);
    await rm(this.dir, { recursive: true, force: true });
    await rm(join(OWNER_DIR, `${this.ns}.owner`), { force: true });
    live.delete(this);
  }

  /** For the process "exit" hook: no awaiting possible there. */
  destroySync(): void {
    for (const p of this.procs) p.child.kill("SIGKILL");
    teardownSync(this.namespaces, this.hostInterface);
    spawnSync("rm", ["-rf", this.dir, join(OWNER_DIR, `${this.ns}.owner`)]);
  }
}

/** Parses a dnsmasq lease file: "expiry mac ip hostname client-id" per line. */
export function parseDnsmasqLeases(text: string): Lease[] {
  const leases: Lease[] = [];
  for (const line of text.split("\n")) {
    const [expires, mac, ip, hostname] = line.trim().split(/\s+/);
    if (!expires || !mac || !ip) continue;
    leases.push({
      expires: Number(expires),
      mac: mac.toLowerCase(),
      ip,
      hostname: hostname && hostname !== "*" ? hostname : null,
    });
  }
  return leases;
}

/** Addresses in use in the host namespace, so a new host link does not shadow someone's subnet. */
async function hostSubnetsInUse(): Promise<Set<string>> {
  const { stdout } = await run("ip", ["-4", "-o", "addr", "show"], { allowFailure: true });
  const used = new Set<string>();
  for (const m of stdout.matchAll(/inet (\d+\.\d+\.\d+)\.\d+\//g)) used.add(m[1] as string);
  const routes = await run("ip", ["-4", "route", "show"], { allowFailure: true });
  for (const m of routes.stdout.matchAll(/^(\d+\.\d+\.\d+)\.\d+\/(\d+)/gm)) used.add(m[1] as string);
  return used;
}

interface Owner {
  pid: number;
  dir: string | null;
}

async function readOwner(ns: string): Promise<Owner | null> {
  const text = await readFile(join(OWNER_DIR, `${ns}.owner`), "utf8").catch(() => null);
  if (text === null) return null;
  try {
    const o = JSON.parse(text) as Partial<Owner>;
    return { pid: Number(o.pid), dir: typeof o.dir === "string" ? o.dir : null };
  } catch {
    return { pid: Number.NaN, dir: null };
  }
}

/**
 * Deletes this prefix's networks whose creating process is gone (a test worker killed before
 * its hooks ran). A namespace without an owner file may be mid-creation: it is left alone
 * until it is a minute old.
 */
async function reclaimStale(prefix: string): Promise<void> {
  const { stdout } = await run("ip", ["netns", "list"], { allowFailure: true });
  const re = new RegExp(`^(${prefix}-boot(\\d+))(?:\\s|$)`);
  for (const line of stdout.split("\n")) {
    const m = re.exec(line);
    if (!m) continue;
    const ns = m[1] as string;
    const id = Number(m[2]);
    const owner = await readOwner(ns);
    if (owner && Number.isInteger(owner.pid) && pidAlive(owner.pid)) continue;
    if (!owner) {
      const st = await run("stat", ["-c", "%Y", `/run/netns/${ns}`], { allowFailure: true });
      if (Date.now() / 1000 - Number(st.stdout.trim()) < 60) continue;
    }
    teardownSync([ns, `${ns}-rtr`], `${prefix}h${id}`);
    if (owner?.dir) await rm(owner.dir, { recursive: true, force: true });
    await rm(join(OWNER_DIR, `${ns}.owner`), { force: true });
  }
}

/** Creates a boot network (see the module comment). Call `destroy()` in afterAll. */
export async function createBootNetwork(opts: BootNetworkOptions): Promise<BootNetwork> {
  const { prefix } = opts;
  if (!/^[a-z][a-z0-9]{0,7}$/.test(prefix))
    throw new Error(`prefix "${prefix}" must be 1-8 lower-case letters/digits`);
  checkPrerequisites();
  installExitHook();
  await mkdir(OWNER_DIR, { recursive: true });
  await reclaimStale(prefix);
  const x = 100 + (fnv(prefix) % 100);
  const hostLink = opts.hostLink ?? true;
  const used = hostLink ? await hostSubnetsInUse() : new Set<string>();
  for (let id = 1; id <= 250; id++) {
    if (used.has(`10.${x}.${id}`)) continue;
    const ns = `${prefix}-boot${id}`;
    // `ip netns add` fails if the name exists: that makes it the claim on this id.
    const claimed = await run("ip", ["netns", "add", ns], { allowFailure: true });
    if (claimed.code !== 0) continue;
    const dir = await mkdtemp(join(tmpdir(), `${ns}-`));
    await writeFile(join(OWNER_DIR, `${ns}.owner`), JSON.stringify({ pid: process.pid, dir }));
    // dnsmasq drops to an unprivileged user: it must be able to reach files in here.
    await chmod(dir, 0o755);
    const net = new BootNetworkImpl(prefix, id, ns, x, dir, hostLink);
    live.add(net);
    try {
      await net.setUp(opts.ra ?? true);
    } catch (e) {
      await net.destroy();
      throw e;
    }
    return net;
  }
  throw new Error(`no free boot network id for prefix ${prefix} (250 in use?)`);
}

/**
 * dnsmasq as a complete PXE peer on the bridge: DHCPv4 pool 10.X.Y.50-99, TFTP from
 * `tftpRoot`, and the boot-file chain PXE ROM → undionly.kpxe / UEFI → ipxe.efi → iPXE →
 * `ipxeScriptUrl`. Resolves once it serves.
 */
export async function startPxeDnsmasq(net: BootNetwork, opts: PxeDnsmasqOptions): Promise<NsProcess> {
  const first = net.address(opts.first ?? 50);
  const last = net.address(opts.last ?? 99);
  const args = [
    "--keep-in-foreground",
    "--conf-file=/dev/null",
    "--port=0",
    `--interface=${net.bridge}`,
    "--bind-interfaces",
    `--dhcp-range=${first},${last},255.255.255.0,1h`,
    "--dhcp-authoritative",
    // dnsmasq otherwise pings each new address and waits up to 3 s before offering it.
    "--no-ping",
    "--dhcp-option=option:dns-server",
    `--dhcp-leasefile=${join(net.dir, "pxe.leases")}`,
    `--pid-file=${join(net.dir, "pxe.pid")}`,
    "--enable-tftp",
    `--tftp-root=${opts.tftpRoot}`,
    "--dhcp-userclass=set:ipxe,iPXE",
    "--dhcp-match=set:efi64,option:client-arch,7",
    "--dhcp-match=set:efi64,option:client-arch,9",
    `--dhcp-boot=tag:ipxe,${opts.ipxeScriptUrl}`,
    "--dhcp-boot=tag:!ipxe,tag:efi64,ipxe.efi",
    "--dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe",
    "--log-dhcp",
    "--log-facility=-",
  ];
  if (opts.noPxeDhcp ?? true) args.push("--dhcp-option-force=tag:ipxe,175,b0:01:01");
  const proc = net.spawn("dnsmasq", args, { name: "dnsmasq (PXE)" });
  await proc.waitForOutput(/TFTP root is/, 10_000);
  return proc;
}
