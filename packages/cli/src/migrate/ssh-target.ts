/**
 * `lab server migrate --target ssh`: the plan for moving this machine's Lab (LAB_HOME) to a
 * host reached over SSH, and the steps that carry it out — deploy the bundle, copy the state,
 * start `lab server` there, check it answers with the same objects and events, point the CLI
 * at it, stop the local daemon. Every step that changes something has an undo, so a failure
 * leaves this machine's Lab running and the CLI configuration as it was.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Transform } from "node:stream";
import { type Engine, LabError } from "@lab/core";
import { type SshSession, shellQuote } from "@lab/onboard";
import { type CliConfig, configPath, readConfig, writeConfig } from "../config.js";
import { actor, displayPath, statePath } from "../context.js";
import { HttpClient } from "../http-engine.js";
import { type Bundle, buildBundle } from "./bundle.js";
import { type DaemonRecord, restartDaemon, runningDaemon, stopDaemon } from "./local-daemon.js";
import type { Plan, Step } from "./plan.js";
import { checkPlatform, type HostFacts, hostNodeUsable, probeHost } from "./remote-host.js";
import {
  type Snapshot,
  type StateSummary,
  sha256File,
  snapshotHome,
  stateFiles,
  summarise,
} from "./state-snapshot.js";

export interface SshMigrateOptions {
  home: string;
  env: NodeJS.ProcessEnv;
  ssh: SshSession;
  host: string;
  prefix: string;
  remoteHome: string;
  /** Where the remote server listens (HOST:PORT); the CLI reaches it at `host`:PORT. */
  listen: string;
  /** How long the remote server may take to answer /readyz (a hang guard). */
  readyTimeoutMs?: number;
}

export interface SshPlan extends Plan {
  url: string;
  /** Nothing to do: the CLI already uses a healthy server on this host. */
  alreadyDone: boolean;
  cleanup(): void;
}

const MiB = 1024 * 1024;
const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

function sha256(text: string | Buffer): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Whether a config's server URL is the local daemon's (same scheme and port, loopback). */
function isLocalDaemonUrl(url: string | undefined, daemon: DaemonRecord | null): boolean {
  if (!url || !daemon) return false;
  try {
    const a = new URL(url);
    const b = new URL(daemon.url);
    const loopback = (h: string) => ["127.0.0.1", "localhost", "[::1]", "0.0.0.0", "::1"].includes(h);
    return a.protocol === b.protocol && a.port === b.port && loopback(a.hostname);
  } catch {
    return false;
  }
}

function countsLine(s: StateSummary): string {
  const order = ["server", "label", "group", "alert", "secret", "size"];
  const kinds = [
    ...order.filter((k) => s.objects[k]),
    ...Object.keys(s.objects)
      .filter((k) => !order.includes(k))
      .sort(),
  ];
  const parts = kinds.map((k) => `${k}s ${s.objects[k]?.length ?? 0}`);
  return `${parts.join(", ") || "no objects"}; events to #${s.lastEventId}`;
}

async function remote(ssh: SshSession, cmd: string, what: string, timeoutMs = 120_000): Promise<string> {
  const r = await ssh.exec(cmd, { timeoutMs, maxOutputBytes: 1024 * 1024 });
  if (r.code !== 0) {
    throw new LabError(
      "LAB_E_SSH_COMMAND",
      `${what} on ${ssh.where} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().slice(-800)}`,
    );
  }
  return r.stdout;
}

/** Streams `tar -c` of local files into `tar -x` on the host, with progress lines by the quarter. */
async function streamTar(
  ssh: SshSession,
  local: { cwd: string; names: string[] },
  remoteDir: string,
  totalBytes: number,
  progress: (line: string) => void,
): Promise<void> {
  const tar = spawn("tar", ["-C", local.cwd, "--null", "-T", "-", "-cf", "-"], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let tarErr = "";
  tar.stderr.on("data", (c) => {
    tarErr += String(c);
  });
  const tarExit = new Promise<number>((r) => tar.on("close", (code) => r(code ?? -1)));
  tar.stdin.end(`${local.names.join("\0")}\0`);
  let sent = 0;
  let nextMark = 0.25;
  const started = Date.now();
  // Counting inside a Transform keeps the stream paused until SSH reads it: a "data" listener
  // would start it flowing before the channel is open, and those bytes would be lost.
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      sent += chunk.length;
      while (totalBytes > 0 && sent / totalBytes >= nextMark && nextMark < 1) {
        progress(`${Math.round(nextMark * 100)}% (${mib(sent)} of ${mib(totalBytes)})`);
        nextMark += 0.25;
      }
      done(null, chunk);
    },
  });
  tar.stdout.pipe(counter);
  const dir = shellQuote(remoteDir);
  const r = await ssh.exec(`mkdir -p ${dir} && tar --no-same-owner -xf - -C ${dir}`, {
    stdin: counter,
    maxOutputBytes: 64 * 1024,
  });
  const code = await tarExit;
  if (code !== 0)
    throw new LabError("LAB_E_MIGRATE_FAILED", `local tar failed (exit ${code}): ${tarErr.trim()}`);
  if (r.code !== 0) {
    throw new LabError(
      "LAB_E_SSH_UPLOAD",
      `unpacking into ${ssh.where}:${remoteDir} failed (exit ${r.code}): ${r.stderr.trim().slice(-800)}`,
    );
  }
  const secs = (Date.now() - started) / 1000;
  progress(
    `sent ${mib(sent)} in ${secs.toFixed(1)} s (${(sent / MiB / Math.max(secs, 0.001)).toFixed(0)} MiB/s)`,
  );
}

export async function planSshMigration(o: SshMigrateOptions): Promise<SshPlan> {
  const { home, ssh, host } = o;
  const port = Number(o.listen.slice(o.listen.lastIndexOf(":") + 1));
  const url = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  const config = readConfig(o.env);
  const daemon = runningDaemon(home);
  const caFile = join(home, "server", "ca.crt");

  // Already done: the CLI talks to a healthy server at this address — nothing to move again
  // (the local state is stale from the moment the migration switched over).
  if (config.server === url) {
    const client = new HttpClient({
      url,
      token: config.token,
      caPem: config.ca && existsSync(config.ca) ? readFileSync(config.ca, "utf8") : undefined,
    });
    try {
      await client.request("GET", "/api/v1/whoami");
      return {
        url,
        alreadyDone: true,
        headline: `= lab-server already runs at ${url} and this CLI uses it: nothing to do`,
        steps: [],
        notes: [],
        cleanup: () => undefined,
      };
    } catch {
      // Configured but not answering: plan the migration again.
    } finally {
      client.close();
    }
  }

  if (config.server && config.mode !== "local" && !isLocalDaemonUrl(config.server, daemon)) {
    throw new LabError(
      "LAB_E_MIGRATE_SOURCE",
      `this CLI talks to ${config.server}, not to a Lab on this machine: run lab server migrate on the machine that holds that server's LAB_HOME`,
    );
  }
  if (!existsSync(statePath(o.env))) {
    throw new LabError(
      "LAB_E_MIGRATE_SOURCE",
      `no Lab state at ${displayPath(statePath(o.env))}: nothing to migrate`,
    );
  }
  if (!existsSync(caFile)) {
    throw new LabError(
      "LAB_E_MIGRATE_SOURCE",
      `${displayPath(caFile)} is missing: start lab server once here (it creates the CA the CLI will trust), then migrate`,
    );
  }
  const caPem = readFileSync(caFile, "utf8");

  const facts0 = await probeHost(ssh, o.prefix, o.remoteHome, "-");
  checkPlatform(facts0, ssh.where);
  if (facts0.uid !== 0) {
    throw new LabError(
      "LAB_E_MIGRATE_PERMISSION",
      `${ssh.where} logs in as uid ${facts0.uid}: the migration writes ${o.prefix} and ${o.remoteHome} and starts a server; log in as root (--user root)`,
    );
  }
  const withNode = !hostNodeUsable(facts0);
  const bundle = buildBundle({ withNode });
  const facts: HostFacts = await probeHost(ssh, o.prefix, o.remoteHome, bundle.id);
  const sameLab = facts.caSha256 === sha256(caPem);
  if ((facts.statePresent || facts.runningPid) && !sameLab) {
    throw new LabError(
      "LAB_E_MIGRATE_TARGET_IN_USE",
      `${ssh.where} already holds ${facts.runningPid ? `a running Lab (pid ${facts.runningPid})` : "a Lab state"} in ${o.remoteHome} from another Lab (its CA differs)`,
    );
  }
  if (!facts.releasePresent && facts.freeKiB !== undefined && facts.freeKiB * 1024 < bundle.bytes * 1.2) {
    throw new LabError(
      "LAB_E_SSH_UPLOAD",
      `${ssh.where} has ${mib(facts.freeKiB * 1024)} free under ${o.prefix}; the bundle needs ${mib(bundle.bytes)}`,
    );
  }

  const live = summarise(statePath(o.env));
  const files = stateFiles(home);
  const useToken = isLocalDaemonUrl(config.server, daemon) && config.token ? config.token : undefined;
  const release = `${o.prefix}/releases/${bundle.id}`;
  const node = withNode ? `${o.prefix}/current/node` : (facts.node?.path ?? "node");
  const where = `${host}`;
  const work = mkdtempSync(join(tmpdir(), "lab-migrate-"));
  let snapshot: Snapshot | undefined;
  let token = useToken;
  let mintedId: string | undefined;
  let remotePid: number | undefined;
  const previousConfig: CliConfig | null = existsSync(configPath(o.env)) ? config : null;
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const H = shellQuote(o.remoteHome);
  const moved = `${o.remoteHome}.before-migrate-${stamp}`;

  const steps: Step[] = [];

  // 1. The bundle.
  if (facts.releasePresent) {
    steps.push({
      op: "=",
      plan: `Lab ${bundle.id} already deployed on ${where} (${release})`,
      title: `Use Lab ${bundle.id} on ${where}`,
      run: async () => {
        await remote(
          ssh,
          `ln -sfn ${shellQuote(`releases/${bundle.id}`)} ${shellQuote(`${o.prefix}/current`)}`,
          "linking the release",
        );
        return `current → ${release}`;
      },
      undo: async () => restoreCurrent(ssh, o.prefix, facts.current),
    });
  } else {
    steps.push({
      op: "+",
      plan: `deploy Lab ${bundle.version} on ${where}: ${release} (${bundle.files.length} files, ${mib(bundle.bytes)}; ${
        withNode
          ? `with this machine's node ${process.version}: ${facts.node ? `the host's node ${facts.node.version} (ABI ${facts.node.modules}) cannot load its native modules` : "the host has no node"}`
          : `the host's node ${facts.node?.version} at ${facts.node?.path}`
      })`,
      title: `Deploy Lab on ${where}`,
      run: (progress) => deployBundle(ssh, bundle, o.prefix, node, progress),
      undo: async () => restoreCurrent(ssh, o.prefix, facts.current),
    });
  }

  // 2. A server an earlier, failed run of this same migration left running.
  if (facts.runningPid) {
    steps.push({
      op: "~",
      plan: `stop the lab server an earlier migration started on ${where} (pid ${facts.runningPid}, same Lab)`,
      title: `Stop the earlier lab server on ${where}`,
      run: async () => {
        await stopRemote(ssh, facts.runningPid as number);
        return `pid ${facts.runningPid} stopped`;
      },
    });
  }

  // 3. The state.
  const sqliteNames = files.filter((f) => f.sqlite).map((f) => f.path);
  steps.push({
    op: "+",
    plan: `copy state to ${where}:${o.remoteHome} (${sqliteNames.join(", ")} by SQLite online backup; ${files.length - sqliteNames.length} key and certificate files; ${countsLine(live)})${
      facts.statePresent ? `; the host's earlier copy is kept as ${moved}` : ""
    }`,
    title: "Copy state to remote",
    run: async (progress) => {
      if (!token) {
        const minted = await mintToken(o.env, `lab-cli (migrated to ${host})`);
        token = minted.token;
        mintedId = minted.id;
        progress(`minted admin token ${minted.id} for this CLI (in the copied state)`);
      }
      snapshot = await snapshotHome(home, join(work, "state"));
      progress(
        `snapshot: ${snapshot.files.length} files, ${mib(snapshot.bytes)}; ${countsLine(snapshot.summary)}`,
      );
      const incoming = `${o.remoteHome}.incoming`;
      await remote(ssh, `rm -rf ${shellQuote(incoming)}`, "clearing an earlier upload");
      await streamTar(
        ssh,
        { cwd: snapshot.dir, names: snapshot.files.map((f) => f.path) },
        incoming,
        snapshot.bytes,
        progress,
      );
      // SSH checks every packet already; this proves the databases arrived whole and unchanged.
      const sums = await remote(
        ssh,
        `cd ${shellQuote(incoming)} && sha256sum ${sqliteNames.map(shellQuote).join(" ")}`,
        "checksumming the copied databases",
      );
      for (const name of sqliteNames) {
        const mine = await sha256File(join(snapshot.dir, name));
        if (!sums.includes(`${mine}  ${name}`)) {
          throw new LabError("LAB_E_MIGRATE_VERIFY", `${name} arrived on ${where} with a different checksum`);
        }
      }
      progress(`checksums match: ${sqliteNames.join(", ")}`);
      await remote(
        ssh,
        `set -e; chmod 700 ${shellQuote(incoming)}; if [ -e ${H} ]; then mv ${H} ${shellQuote(moved)}; fi; mv ${shellQuote(incoming)} ${H}`,
        "putting the state in place",
      );
      return `${snapshot.files.length} files in ${o.remoteHome}`;
    },
    undo: async () => {
      await remote(
        ssh,
        `rm -rf ${H}; if [ -e ${shellQuote(moved)} ]; then mv ${shellQuote(moved)} ${H}; fi`,
        "removing the copied state",
      );
      if (mintedId) await revokeToken(o.env, mintedId);
      return `removed the copied state from ${where}:${o.remoteHome}${mintedId ? `; revoked token ${mintedId}` : ""}`;
    },
  });

  // 4. Start it.
  const lab = `${o.prefix}/bin/lab`;
  steps.push({
    op: "+",
    plan: `start lab server on ${where} (LAB_HOME=${o.remoteHome} ${lab} server --listen ${o.listen} --san ${host}; ${
      facts.systemd
        ? "detached now — install deploy/lab-server.service for restarts at boot"
        : "detached: the host runs no systemd"
    })`,
    title: `Start lab server on ${where}`,
    run: async (progress) => {
      const out = await remote(
        ssh,
        // Only the server goes to the background, every descriptor redirected: SSH ends the
        // command once nothing holds its output open (a backgrounded `a && b` list would).
        `cd /; LAB_HOME=${H} setsid ${shellQuote(lab)} server --listen ${shellQuote(o.listen)} --san ${shellQuote(host)} </dev/null >>${H}/server/lab-server.log 2>&1 & echo $!`,
        "starting lab server",
      );
      remotePid = Number(out.trim());
      progress(`pid ${remotePid}, log ${o.remoteHome}/server/lab-server.log; waiting for ${url}/readyz`);
      await waitReady(ssh, url, caPem, remotePid, o.remoteHome, o.readyTimeoutMs ?? 180_000, progress);
      return `${url} ready`;
    },
    undo: async () => {
      // The pid file names it when the start command itself did not answer.
      const pid = remotePid ?? (await remotePidFromFile(ssh, o.remoteHome));
      if (!pid) return `no lab server to stop on ${where}`;
      await stopRemote(ssh, pid);
      return `stopped lab server on ${where} (pid ${pid})`;
    },
  });

  // 5. Check it.
  steps.push({
    op: "+",
    plan: `verify ${url} is healthy and answers with the same state (${countsLine(live)})`,
    title: "Verify remote is healthy",
    run: async () => verifyRemote(url, caPem, token as string, snapshot as Snapshot),
  });

  // 6. Switch the CLI.
  steps.push({
    op: "~",
    plan: `update CLI config (${displayPath(configPath(o.env))}) to ${url} (now: ${config.server && config.mode !== "local" ? config.server : "local mode"})`,
    title: "Switch CLI config",
    run: async () => {
      writeConfig({ mode: "remote", server: url, token, ca: caFile }, o.env);
      return `this CLI now talks to ${url}`;
    },
    undo: async () => {
      if (previousConfig) writeConfig(previousConfig, o.env);
      else rmSync(configPath(o.env), { force: true });
      return "CLI config restored";
    },
  });

  // 7. Stop the local engine.
  const pxe = daemon?.argv.includes("--pxe") ? " and its PXE/DHCP services" : "";
  steps.push({
    op: daemon ? "-" : "=",
    plan: daemon
      ? `stop the local engine: lab server pid ${daemon.pid} (${daemon.url})${pxe}`
      : `no local lab server runs: the CLI stops using ${displayPath(statePath(o.env))} (kept as it is)`,
    title: daemon ? "Stop local engine" : "Check the local state did not change",
    run: async () => {
      if (daemon) await stopDaemon(daemon);
      // Writes that reached the local engine after the snapshot would be lost: refuse instead.
      const now = summarise(statePath(o.env));
      if (now.fingerprint !== snapshot?.summary.fingerprint) {
        const restarted = daemon ? restartDaemon(home, daemon) : undefined;
        throw new LabError(
          "LAB_E_MIGRATE_CHANGED",
          `the local state changed after it was copied (events to #${now.lastEventId}, copied to #${snapshot?.summary.lastEventId})${
            restarted
              ? `; the local lab server was started again (pid ${restarted.pid}, log ${restarted.log})`
              : ""
          }`,
        );
      }
      return daemon
        ? `pid ${daemon.pid} stopped; state unchanged since the copy`
        : "state unchanged since the copy";
    },
  });

  const notes = [
    `PXE/DHCP needs L2 access to the machines' network: the server on ${where} starts without --pxe; restart it there with --pxe --pxe-interface IF once it is on that segment.`,
    "Agents enrolled against this machine's address keep that address: re-point them (or keep the name in DNS) after the move.",
  ];
  return {
    url,
    alreadyDone: false,
    headline: `~ migrate lab-server from local (${displayPath(home)}) to ssh://${ssh.where}`,
    steps,
    notes,
    cleanup: () => rmSync(work, { recursive: true, force: true }),
  };
}

async function restoreCurrent(ssh: SshSession, prefix: string, previous?: string): Promise<string> {
  const cur = shellQuote(`${prefix}/current`);
  if (previous) {
    await remote(ssh, `ln -sfn ${shellQuote(previous)} ${cur}`, "restoring the current link");
    return `${prefix}/current points at ${previous} again (the new release stays for the next run)`;
  }
  await remote(ssh, `rm -f ${cur}`, "removing the current link");
  return `removed ${prefix}/current (the release stays in ${prefix}/releases for the next run)`;
}

async function deployBundle(
  ssh: SshSession,
  bundle: Bundle,
  prefix: string,
  node: string,
  progress: (line: string) => void,
): Promise<string> {
  const release = `${prefix}/releases/${bundle.id}`;
  const partial = `${release}.partial`;
  await remote(ssh, `rm -rf ${shellQuote(partial)}`, "clearing an earlier partial upload");
  const names = bundle.files.filter((f) => f.path !== "node").map((f) => f.path);
  const tarBytes = bundle.files.filter((f) => f.path !== "node").reduce((n, f) => n + f.bytes, 0);
  await streamTar(ssh, { cwd: bundle.root, names }, partial, tarBytes, progress);
  if (bundle.withNode) {
    const started = Date.now();
    const up = await ssh.upload(process.execPath, `${partial}/node`, 0o755);
    progress(
      `node ${process.version}: ${mib(up.bytes)} over ${up.method} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }
  const wrapper = [
    "#!/bin/sh",
    "# Written by lab server migrate: the current release, run by its node.",
    `exec ${shellQuote(node)} ${shellQuote(`${prefix}/current/bin/lab.js`)} "$@"`,
    "",
  ].join("\n");
  await remote(
    ssh,
    [
      "set -e",
      `: > ${shellQuote(`${partial}/.complete`)}`,
      `rm -rf ${shellQuote(release)}`,
      `mv ${shellQuote(partial)} ${shellQuote(release)}`,
      `ln -sfn ${shellQuote(`releases/${bundle.id}`)} ${shellQuote(`${prefix}/current`)}`,
      `mkdir -p ${shellQuote(`${prefix}/bin`)}`,
      `printf '%s' ${shellQuote(wrapper)} > ${shellQuote(`${prefix}/bin/lab`)}`,
      `chmod 755 ${shellQuote(`${prefix}/bin/lab`)}`,
      // On PATH for whoever logs in there, unless something else owns that name.
      `if [ -d /usr/local/bin ] && { [ ! -e /usr/local/bin/lab ] || [ -L /usr/local/bin/lab ]; }; then ln -sfn ${shellQuote(`${prefix}/bin/lab`)} /usr/local/bin/lab; fi`,
      `${shellQuote(`${prefix}/bin/lab`)} --version`,
    ].join("\n"),
    "installing the release",
  ).then((v) => progress(`lab --version on the host: ${v.trim()}`));
  return `${release} (${mib(bundle.bytes)})`;
}

async function remotePidFromFile(ssh: SshSession, home: string): Promise<number | undefined> {
  const out = await remote(
    ssh,
    `sed -n 's/.*"pid":\\([0-9]*\\).*/\\1/p' ${shellQuote(`${home}/server/lab-server.pid`)} 2>/dev/null || true`,
    "reading the server's pid file",
  );
  const pid = Number(out.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

async function stopRemote(ssh: SshSession, pid: number): Promise<void> {
  // The server finishes in-flight requests on SIGTERM; KILL only if it hangs past 30 s.
  await remote(
    ssh,
    `kill -TERM ${pid} 2>/dev/null || exit 0; i=0; while kill -0 ${pid} 2>/dev/null; do i=$((i+1)); [ $i -gt 300 ] && { kill -KILL ${pid}; break; }; sleep 0.1; done`,
    "stopping lab server",
    60_000,
  );
}

async function waitReady(
  ssh: SshSession,
  url: string,
  caPem: string,
  pid: number,
  home: string,
  timeoutMs: number,
  progress: (line: string) => void,
): Promise<void> {
  const client = new HttpClient({ url, caPem });
  const started = Date.now();
  let last = "";
  let said = 0;
  try {
    for (;;) {
      try {
        await client.request("GET", "/readyz");
        return;
      } catch (e) {
        last = (e as Error).message;
      }
      const alive = await ssh.exec(`kill -0 ${pid}`, { timeoutMs: 30_000 });
      if (alive.code !== 0) {
        const log = await ssh.exec(`tail -n 20 ${shellQuote(`${home}/server/lab-server.log`)}`, {
          timeoutMs: 30_000,
        });
        throw new LabError(
          "LAB_E_MIGRATE_START",
          `lab server on ${ssh.where} exited before it was ready; its log (${home}/server/lab-server.log) ends:\n${log.stdout.trim()}`,
        );
      }
      const waited = Date.now() - started;
      if (waited > timeoutMs) {
        throw new LabError(
          "LAB_E_MIGRATE_START",
          `lab server on ${ssh.where} (pid ${pid}) did not answer ${url}/readyz within ${timeoutMs / 1000} s: ${last}`,
        );
      }
      if (waited - said >= 10_000) {
        said = waited;
        progress(`still waiting for /readyz (${Math.round(waited / 1000)} s): ${last}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    client.close();
  }
}

/**
 * Lists every kind the state holds on both sides through the same Engine interface — the
 * copied database in-process here, the new server over HTTP — so derived rows (the alerts
 * generated from labels) are compared as well as declared ones; and the last event must be
 * there.
 */
async function verifyRemote(url: string, caPem: string, token: string, snapshot: Snapshot): Promise<string> {
  const want = snapshot.summary;
  const client = new HttpClient({ url, token, caPem });
  const { openSqliteStore } = await import("@lab/store");
  const { LabService } = await import("@lab/core");
  const { RENDERERS } = await import("@lab/monitor");
  const { HttpEngine } = await import("../http-engine.js");
  // A copy of the copy: opening a database may write to it (WAL), and the snapshot is evidence.
  const probe = join(snapshot.dir, "..", "verify.db");
  copyFileSync(join(snapshot.dir, "state.db"), probe);
  const store = await openSqliteStore(probe);
  try {
    const here = new LabService(store, "lab server migrate", { renderers: RENDERERS });
    const there = new HttpEngine(client);
    const mismatches: string[] = [];
    const checked: string[] = [];
    for (const kind of Object.keys(want.objects)) {
      const names = async (e: Engine) =>
        ((await e.list(kind as never, {})) as { name: string }[]).map((r) => r.name).sort();
      const [a, b] = [await names(here), await names(there)];
      if (JSON.stringify(a) !== JSON.stringify(b))
        mismatches.push(`${kind}s: ${b.length} there, ${a.length} here`);
      checked.push(`${kind}s ${b.length}`);
    }
    const events = await client.request<{ id: number }[]>(
      "GET",
      `/api/v1/events?after=${Math.max(0, want.lastEventId - 1)}&limit=50`,
    );
    if (want.lastEventId > 0 && !events.some((e) => e.id === want.lastEventId)) {
      mismatches.push(`event #${want.lastEventId} is missing there`);
    }
    if (mismatches.length > 0) {
      throw new LabError(
        "LAB_E_MIGRATE_VERIFY",
        `${url} does not hold the copied state: ${mismatches.join("; ")}`,
      );
    }
    return `${checked.join(", ")}; events to #${want.lastEventId} — all match`;
  } finally {
    client.close();
    await store.close();
  }
}

async function mintToken(env: NodeJS.ProcessEnv, name: string): Promise<{ token: string; id: string }> {
  const { openSqliteStore } = await import("@lab/store");
  const { createToken } = await import("@lab/server");
  const store = await openSqliteStore(statePath(env));
  try {
    const created = await createToken(store, { name, scopes: ["admin"], createdBy: actor(env) });
    return { token: created.token, id: created.record.id };
  } finally {
    await store.close();
  }
}

async function revokeToken(env: NodeJS.ProcessEnv, id: string): Promise<void> {
  const { openSqliteStore } = await import("@lab/store");
  const store = await openSqliteStore(statePath(env));
  try {
    await store.revokeToken(id, new Date().toISOString());
  } finally {
    await store.close();
  }
}
