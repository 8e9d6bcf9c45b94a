/**
 * A second machine for SSH onboarding tests: a Debian bookworm tree (built once by
 * scripts/build-test-host.sh, extracted per host) running the real sshd chrooted inside its own
 * network namespace, reachable from the test process over a veth pair at 10.x.y.2.
 *
 * /proc, /sys and /dev are mounted into the tree inside sshd's private mount namespace (the one
 * `ip netns exec` creates), so they vanish with it and a crash never leaves the host's /dev
 * bound under a directory that `rm -rf` might walk; a fresh sysfs there also shows the
 * namespace's own interfaces. Several hosts may run at once (random names under the prefix).
 * Hosts left behind by a killed test run are swept at the next start.
 *
 * Needs root, iproute2, nsenter (util-linux), ssh-keygen (openssh-client) and, for the first
 * build, debootstrap. A missing tool fails the test with the apt-get command to run.
 */

import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Run, runToEnd } from "./child.js";

const ROOT = join(import.meta.dirname, "../..");
const BUILD_SCRIPT = join(ROOT, "scripts/build-test-host.sh");
const STATE_DIR = "/run/lab-test-hosts";

/**
 * Where trees are extracted: tmpfs when there is one, since unpacking ~10,000 files onto this
 * machine's ext4 can take 8 s of kernel time while tmpfs takes a quarter of a second (a tree
 * is ~160 MB of RAM). LAB_TEST_HOST_DIR overrides.
 */
function hostsDir(): string {
  if (process.env.LAB_TEST_HOST_DIR) return process.env.LAB_TEST_HOST_DIR;
  const shm = spawnSync("sh", [
    "-c",
    "[ -d /dev/shm ] && [ -w /dev/shm ] && df -k --output=avail /dev/shm | tail -n 1",
  ]);
  return shm.status === 0 && Number(String(shm.stdout).trim()) > 1024 * 1024 ? "/dev/shm" : tmpdir();
}
const HOSTS_DIR = hostsDir();
const BASE_PREFIX = join(HOSTS_DIR, "lab-testhost-");

export type { Run };

export interface TestHost {
  /** Network namespace name (also the stem of the veth names). */
  name: string;
  /** The host's address (namespace side of the veth); changes with `changeIp`. */
  ip: string;
  /** The test process's side of the veth. */
  gatewayIp: string;
  port: number;
  user: "root";
  /** Client private key (ed25519, OpenSSH format) in root's authorized_keys. */
  identityFile: string;
  /** sshd's ed25519 host key fingerprint (SHA256:…). */
  hostKeyFingerprint: string;
  /** The host's root directory as seen from the test process. */
  tree: string;
  /** Runs `sh -c cmd` on the host filesystem inside the network namespace. */
  execInNs(cmd: string): Promise<Run>;
  /** Runs `sh -c cmd` as the host sees it: chrooted, in sshd's mounts and namespace. */
  execInChroot(cmd: string): Promise<Run>;
  /** Moves the host to another address (10.a.b.c; a different /24 gets a route too). */
  changeIp(newIp: string): Promise<void>;
  /** sshd's output so far (stderr, -e), for diagnosing failed tests. */
  log(): string;
  /** Kills everything in the namespace, deletes it and the tree. Safe to call twice. */
  stop(): Promise<void>;
}

export interface TestHostOptions {
  /** Up to 6 lower-case letters/digits naming this caller's namespaces and veths. */
  prefix: string;
  /** Offer the SFTP subsystem (default true); false tests the upload fallback. */
  sftp?: boolean;
  /** Where the tree tar is cached (default: the build script's default). */
  cacheDir?: string;
}

/** Runs a program without blocking the event loop; one that cannot start exits 127. */
export function run(cmd: string, args: string[], input?: string): Promise<Run> {
  // Building the tree can take minutes on a cold cache: no short timeout here.
  return runToEnd(cmd, args, { input, env: process.env, timeoutMs: 30 * 60_000 }).catch((e: Error) => ({
    code: 127,
    stdout: "",
    stderr: e.message,
  }));
}

async function must(cmd: string, args: string[], what: string): Promise<Run> {
  const r = await run(cmd, args);
  if (r.code !== 0)
    throw new Error(`test host: ${what} failed (exit ${r.code}): ${r.stderr.trim().slice(-800)}`);
  return r;
}

function requireTools(): void {
  const tools: [string, string][] = [
    ["ip", "iproute2"],
    ["nsenter", "util-linux"],
    ["ssh-keygen", "openssh-client"],
    ["tar", "tar"],
    ["chroot", "coreutils"],
  ];
  for (const [tool, pkg] of tools) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) {
      throw new Error(`test host: ${tool} is missing: apt-get install -y ${pkg}`);
    }
  }
  if (process.getuid?.() !== 0) throw new Error("test host: needs root (network namespaces, chroot)");
}

/** The cached tree tar, building it (about a minute, once) when missing. */
async function cachedTree(cacheDir?: string): Promise<string> {
  if (spawnSync("sh", ["-c", "command -v debootstrap"]).status !== 0) {
    // Needed only to build, but a missing build tool must fail loudly, not skip.
    const r = spawnSync("sh", ["-c", `ls ${cacheDir ?? "/var/cache/lab-test"}/*.tar 2>/dev/null`]);
    if (r.status !== 0) throw new Error("test host: debootstrap is missing: apt-get install -y debootstrap");
  }
  const r = await run("bash", [BUILD_SCRIPT, ...(cacheDir ? [cacheDir] : [])]);
  const tar = r.stdout.trim().split("\n").pop() ?? "";
  if (r.code !== 0 || !tar.endsWith(".tar")) {
    throw new Error(
      `test host: scripts/build-test-host.sh failed (exit ${r.code}): ${r.stderr.trim().slice(-1500)}`,
    );
  }
  return tar;
}

interface StateRecord {
  ns: string;
  vethHost: string;
  base: string;
  ownerPid: number;
  /** The 10.a.b.0/24 this host claimed (a file in STATE_DIR), released at teardown. */
  subnet?: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Tears down one host's namespace, link and tree (async). */
async function teardown(rec: StateRecord): Promise<void> {
  const pids = await run("ip", ["netns", "pids", rec.ns]);
  for (const p of pids.stdout.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(p), "SIGKILL");
    } catch {
      // already gone
    }
  }
  await run("ip", ["netns", "del", rec.ns]);
  await run("ip", ["link", "del", rec.vethHost]);
  await removeTree(rec.base);
  if (rec.subnet) await rm(subnetClaim(rec.subnet), { force: true });
  await rm(join(STATE_DIR, `${rec.ns}.json`), { force: true });
}

const subnetClaim = (net: string) => join(STATE_DIR, `subnet-${net}`);

/** Removes a host's directory, never through a mount point. */
async function removeTree(base: string): Promise<void> {
  if (!base.startsWith(BASE_PREFIX)) return;
  const mounts = await readFile("/proc/self/mountinfo", "utf8").catch(() => "");
  const under = mounts
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m.startsWith(`${base}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of under) await run("umount", ["-l", m]);
  await run("rm", ["-rf", "--one-file-system", base]);
}

/** Sweeps hosts whose test process died without stopping them (only this prefix's). */
async function sweep(prefix: string): Promise<void> {
  const files = await readdir(STATE_DIR).catch(() => [] as string[]);
  for (const f of files) {
    if (!f.startsWith(prefix) || !f.endsWith(".json")) continue;
    try {
      const rec = JSON.parse(await readFile(join(STATE_DIR, f), "utf8")) as StateRecord;
      if (!alive(rec.ownerPid)) await teardown(rec);
    } catch {
      await rm(join(STATE_DIR, f), { force: true });
    }
  }
}

/**
 * A 10.a.b.0/24 that no interface of this machine uses yet, claimed for this host. Test files
 * run in parallel processes, and two prefixes can hash to the same `a`: the claim (a file
 * created exclusively) keeps two hosts from picking the same subnet before either adds it.
 */
async function freeSubnet(prefix: string, rec: StateRecord): Promise<string> {
  const used = (await run("ip", ["-4", "-o", "addr"])).stdout + (await run("ip", ["-4", "route"])).stdout;
  const a = 100 + ((createHash("sha256").update(prefix).digest()[0] ?? 0) % 100);
  for (let i = 0; i < 64; i++) {
    const b = randomBytes(1)[0] ?? 0;
    const net = `10.${a}.${b}`;
    if (used.includes(`${net}.`)) continue;
    try {
      await writeFile(subnetClaim(net), `${rec.ns}\n`, { flag: "wx" });
    } catch {
      continue; // another host holds it
    }
    rec.subnet = net;
    await writeFile(join(STATE_DIR, `${rec.ns}.json`), JSON.stringify(rec));
    return net;
  }
  throw new Error("test host: no free 10.x.y.0/24 subnet found");
}

const live = new Set<StateRecord>();
let exitHookInstalled = false;

/** Last-chance cleanup when the test process exits without calling stop(). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const rec of live) {
      spawnSync("sh", [
        "-c",
        `for p in $(ip netns pids ${rec.ns}); do kill -9 $p; done; ip netns del ${rec.ns}`,
      ]);
      spawnSync("ip", ["link", "del", rec.vethHost]);
      if (rec.base.startsWith(BASE_PREFIX)) {
        spawnSync("rm", ["-rf", "--one-file-system", rec.base]);
      }
      spawnSync("rm", ["-f", join(STATE_DIR, `${rec.ns}.json`)]);
    }
  });
}

function sshdConfig(sftp: boolean): string {
  return [
    // As Debian's own sshd_config: drop-ins first (Lab's HostCertificate goes there).
    "Include /etc/ssh/sshd_config.d/*.conf",
    "Port 22",
    "HostKey /etc/ssh/ssh_host_ed25519_key",
    "PermitRootLogin prohibit-password",
    "PubkeyAuthentication yes",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "UsePAM no",
    "UseDNS no",
    "AuthorizedKeysFile .ssh/authorized_keys",
    "PidFile none",
    "MaxStartups 64",
    "LogLevel INFO",
    ...(sftp ? ["Subsystem sftp /usr/lib/openssh/sftp-server"] : []),
    "",
  ].join("\n");
}

function waitForPort(
  ip: string,
  port: number,
  child: { exited: boolean },
  deadlineMs: number,
): Promise<void> {
  const until = Date.now() + deadlineMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exited) return reject(new Error("sshd exited before it listened"));
      const sock = connect({ host: ip, port });
      sock.once("connect", () => {
        sock.destroy();
        resolve();
      });
      sock.once("error", () => {
        sock.destroy();
        if (Date.now() > until)
          reject(new Error(`sshd did not listen on ${ip}:${port} within ${deadlineMs} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

/** Starts a test host; call `stop()` in afterAll (it also runs when start fails half-way). */
export async function startTestHost(opts: TestHostOptions): Promise<TestHost> {
  if (!/^[a-z][a-z0-9]{0,5}$/.test(opts.prefix)) throw new Error("test host: prefix must be 1-6 of [a-z0-9]");
  requireTools();
  await mkdir(STATE_DIR, { recursive: true });
  await sweep(opts.prefix);
  const tar = await cachedTree(opts.cacheDir);

  const id = randomBytes(3).toString("hex");
  const ns = `${opts.prefix}${id}`;
  const rec: StateRecord = {
    ns,
    vethHost: `${ns}h`,
    base: await mkdtemp(BASE_PREFIX),
    ownerPid: process.pid,
  };
  const vethNs = `${ns}n`;
  await writeFile(join(STATE_DIR, `${ns}.json`), JSON.stringify(rec));
  live.add(rec);
  installExitHook();

  let sshd: ReturnType<typeof spawn> | undefined;
  const state = { exited: false };
  let sshdLog = "";
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (sshd && !state.exited) {
      const exited = new Promise<void>((r) => sshd?.once("close", () => r()));
      sshd.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    }
    await teardown(rec);
    live.delete(rec);
  };

  try {
    const tree = join(rec.base, "tree");
    await mkdir(tree);
    await must("tar", ["-C", tree, "--numeric-owner", "-xf", tar], "extracting the tree");

    const net = await freeSubnet(opts.prefix, rec);
    const gatewayIp = `${net}.1`;
    const ip = `${net}.2`;
    await must("ip", ["netns", "add", ns], "ip netns add");
    await must(
      "ip",
      ["link", "add", rec.vethHost, "type", "veth", "peer", "name", vethNs, "netns", ns],
      "veth",
    );
    await must("ip", ["addr", "add", `${gatewayIp}/24`, "dev", rec.vethHost], "host address");
    await must("ip", ["link", "set", rec.vethHost, "up"], "host link up");
    await must("ip", ["-n", ns, "addr", "add", `${ip}/24`, "dev", vethNs], "namespace address");
    await must("ip", ["-n", ns, "link", "set", vethNs, "up"], "namespace link up");
    await must("ip", ["-n", ns, "link", "set", "lo", "up"], "namespace lo up");

    const identityFile = join(rec.base, "id_ed25519");
    await must(
      "ssh-keygen",
      ["-q", "-t", "ed25519", "-N", "", "-C", `lab-test@${ns}`, "-f", identityFile],
      "client key",
    );
    await mkdir(join(tree, "root/.ssh"), { recursive: true, mode: 0o700 });
    await writeFile(join(tree, "root/.ssh/authorized_keys"), await readFile(`${identityFile}.pub`), {
      mode: 0o600,
    });
    await chmod(join(tree, "root/.ssh"), 0o700);
    await mkdir(join(tree, "run/sshd"), { recursive: true, mode: 0o755 });
    await writeFile(join(tree, "etc/ssh/sshd_config.lab"), sshdConfig(opts.sftp ?? true));
    await writeFile(join(tree, "etc/hostname"), `${ns}\n`);

    // One process from here on: `ip netns exec` execs sh, which execs chroot, which execs sshd,
    // so the child's pid is sshd's and its mount namespace holds the tree's /proc, /sys, /dev.
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const script = [
      "set -e",
      `T=${q(tree)}`,
      'mount -t proc proc "$T/proc"',
      'mount -t sysfs sysfs "$T/sys"',
      'mount --rbind /dev "$T/dev"',
      "chroot \"$T\" ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key",
      'exec chroot "$T" /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config.lab -o ListenAddress=0.0.0.0',
    ].join("\n");
    sshd = spawn("ip", ["netns", "exec", ns, "sh", "-c", script], { stdio: ["ignore", "pipe", "pipe"] });
    const onLog = (c: Buffer) => {
      sshdLog = (sshdLog + String(c)).slice(-64 * 1024);
    };
    sshd.stdout?.on("data", onLog);
    sshd.stderr?.on("data", onLog);
    sshd.on("close", () => {
      state.exited = true;
    });
    try {
      await waitForPort(ip, 22, state, 30_000);
    } catch (e) {
      throw new Error(`test host: ${(e as Error).message}; sshd said: ${sshdLog.trim().slice(-1500)}`);
    }
    const pub =
      (await readFile(join(tree, "etc/ssh/ssh_host_ed25519_key.pub"), "utf8")).split(/\s+/)[1] ?? "";
    const hostKeyFingerprint = `SHA256:${createHash("sha256").update(Buffer.from(pub, "base64")).digest("base64").replace(/=+$/, "")}`;
    const sshdPid = String(sshd.pid);

    const host: TestHost = {
      name: ns,
      ip,
      gatewayIp,
      port: 22,
      user: "root",
      identityFile,
      hostKeyFingerprint,
      tree,
      execInNs: (cmd) => run("ip", ["netns", "exec", ns, "sh", "-c", cmd]),
      execInChroot: (cmd) => run("nsenter", ["-t", sshdPid, "-m", "-n", "-r", "-w", "sh", "-c", cmd]),
      changeIp: async (newIp) => {
        const m = /^10\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(newIp);
        if (!m || [m[1], m[2], m[3]].some((o) => Number(o) > 254) || m[3] === "0" || m[3] === "1") {
          throw new Error(`test host: ${newIp} is not a usable 10.a.b.c address (c from 2 to 254)`);
        }
        const newNet = `10.${m[1]}.${m[2]}`;
        if (`${newNet}.1` !== host.gatewayIp) {
          await must(
            "ip",
            ["addr", "add", `${newNet}.1/24`, "dev", rec.vethHost],
            "host address for the new subnet",
          );
          host.gatewayIp = `${newNet}.1`;
        }
        await must("ip", ["-n", ns, "addr", "flush", "dev", vethNs, "scope", "global"], "address flush");
        await must("ip", ["-n", ns, "addr", "add", `${newIp}/24`, "dev", vethNs], "new address");
        host.ip = newIp;
      },
      log: () => sshdLog,
      stop,
    };
    return host;
  } catch (e) {
    await stop();
    throw e;
  }
}

/** True when a string looks like private key material (for asserting logs carry none). */
export function containsPrivateKey(text: string): boolean {
  return /-----BEGIN [A-Z ]*PRIVATE KEY-----|b3BlbnNzaC1rZXktdjE/.test(text);
}

/** Whether the tree cache exists already (the first start builds it). */
export function treeCached(cacheDir = "/var/cache/lab-test"): boolean {
  return existsSync(cacheDir) && spawnSync("sh", ["-c", `ls ${cacheDir}/*.tar`]).status === 0;
}
