/**
 * `lab server migrate --target ssh` against a real second host: a debootstrapped Debian with
 * sshd in its own network namespace (no Node, no Lab on it). A local `lab server` with the
 * homelab example applied, the CLI logged in to it, is moved there: the bundle (with this
 * machine's node, since the host has none) is deployed, the state copied, the server started
 * detached and checked, the CLI switched, the local daemon stopped. `lab get servers -o json`
 * is byte-identical before and after, and a change applied afterwards is served by the host.
 * A failing start first proves the rollback: local daemon running, CLI config unchanged,
 * nothing left in the host's LAB_HOME.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labAsyncIn, ROOT, type Run, SLOW_MACHINE, tempHome } from "../support/cli.js";
import { killAllServers, pidExists, type ServerProcess, startLabServer } from "../support/server-process.js";
import { startTestHost, type TestHost } from "../support/ssh-host.js";

const NEW_SERVER = `servers:
  migrated-1:
    provider: baremetal
    labels: [postgres]
    environment: prod
    host: 10.9.9.9
`;

const migrateTo = (host: TestHost) => [
  "server",
  "migrate",
  "--target",
  "ssh",
  "--host",
  host.ip,
  "--identity",
  host.identityFile,
  "--host-key",
  host.hostKeyFingerprint,
  "--yes",
];

/** A local lab server over LAB_HOME with the homelab example applied, the CLI logged in to it. */
async function homelabServer(home: string): Promise<ServerProcess> {
  const lab = labAsyncIn(home, SLOW_MACHINE);
  const applied = await lab(["apply", "-f", join(ROOT, "examples/homelab")]);
  expect(applied.stderr).toBe("");
  expect(applied.code).toBe(0);
  const server = await startLabServer({ home, tls: true, readyTimeoutMs: 120_000 });
  const login = await lab([
    "login",
    server.url,
    "--token",
    server.token ?? "",
    "--ca-file",
    join(home, "server/ca.crt"),
  ]);
  expect(login.stderr).toBe("");
  expect(login.code).toBe(0);
  return server;
}

/** Kills the daemons a rollback started again, every test server, and the test host. */
async function release(host: TestHost | undefined, restartedPids: number[]): Promise<void> {
  for (const pid of restartedPids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  await killAllServers();
  await host?.stop();
}

describe("lab server migrate --target ssh to a real host", () => {
  let host: TestHost;
  let home: string;
  let server: ServerProcess;
  let lab: ReturnType<typeof labAsyncIn>;
  let before = "";
  const restartedPids: number[] = [];
  const migrateArgs = () => migrateTo(host);

  beforeAll(async () => {
    host = await startTestHost({ prefix: "h16b" });
    home = tempHome("lab-migrate-");
    lab = labAsyncIn(home, SLOW_MACHINE);
    server = await homelabServer(home);
    const got = await lab(["get", "servers", "-o", "json"]);
    expect(got.code).toBe(0);
    before = got.stdout;
    expect(JSON.parse(before).length).toBeGreaterThan(5);
  }, 300_000);

  afterAll(() => release(host, restartedPids));

  it("refuses a host that cannot be reached, with a code, and changes nothing", async () => {
    const config = readFileSync(join(home, "config.yaml"), "utf8");
    const r = await lab([
      "server",
      "migrate",
      "--target",
      "ssh",
      "--host",
      host.ip,
      "--port",
      "2",
      "--identity",
      host.identityFile,
      "--yes",
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /LAB_E_SSH_UNREACHABLE: cannot connect to root@10\.[\d.]+:2: connection refused/,
    );
    expect(readFileSync(join(home, "config.yaml"), "utf8")).toBe(config);
    expect(server.running).toBe(true);
  }, 120_000);

  it("rolls back when the server cannot start there: the local Lab keeps running, config unchanged", async () => {
    const config = readFileSync(join(home, "config.yaml"), "utf8");
    // sshd holds port 22 in the host's namespace: the migrated server cannot listen on it.
    const r = await lab([...migrateArgs(), "--remote-listen", "0.0.0.0:22"]);
    if (process.env.LAB_TEST_SHOW) console.log(r.stdout, r.stderr);
    expect(r.stderr).toMatch(/LAB_E_MIGRATE_START/);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^Step 1: Plan$/m);
    expect(r.stdout).toMatch(/^\+ deploy Lab .* with this machine's node v\d+.*the host has no node/m);
    expect(r.stdout).toMatch(/^Rolling back$/m);
    expect(r.stdout).toMatch(/removed the copied state/);
    expect(r.stdout).toMatch(/Rolled back: the local Lab keeps running/);
    // The bundle stays (the next run reuses it); the state and the current link do not.
    expect(existsSync(join(host.tree, "var/lib/lab"))).toBe(false);
    expect(existsSync(join(host.tree, "opt/lab/current"))).toBe(false);
    expect(readFileSync(join(home, "config.yaml"), "utf8")).toBe(config);
    expect(server.running).toBe(true);
    const now = await lab(["get", "servers", "-o", "json"]);
    expect(now.stdout).toBe(before);
  }, 600_000);

  it("moves the running Lab to the host with nothing lost, then the CLI drives it there", async () => {
    const r = await lab(migrateArgs());
    if (r.code !== 0) throw new Error(`migrate failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
    if (process.env.LAB_TEST_SHOW) console.log(r.stdout);
    const out = r.stdout;
    // The plan, then every step with its progress line, in the design's order.
    expect(out).toMatch(/^= Lab \S+ already deployed on /m);
    expect(out).toMatch(
      /^\+ copy state to .*secrets\/vault\.db, state\.db, state\.logs\.db by SQLite online backup/m,
    );
    const order = [
      "→ Use Lab",
      "→ Copy state to remote",
      "→ Start lab server on",
      "→ Verify remote is healthy",
      "→ Switch CLI config",
      "→ Stop local engine",
    ].map((s) => out.indexOf(s));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(out).toMatch(/checksums match: secrets\/vault\.db, state\.db, state\.logs\.db/);
    expect(out).toMatch(/servers \d+, .*events to #\d+ — all match/);

    // The local daemon is gone; the CLI talks to the host.
    const exit = await server.exited;
    expect(exit.code).toBe(0);
    expect(pidExists(server.pid)).toBe(false);
    expect(readFileSync(join(home, "config.yaml"), "utf8")).toContain(`server: https://${host.ip}:7443`);

    const after = await lab(["get", "servers", "-o", "json"]);
    expect(after.stderr).toBe("");
    expect(after.stdout).toBe(before);

    // Drive it: a change applied now lands on the host, not in the local file.
    const applied = await lab(["apply", "-f", "-"], NEW_SERVER);
    expect(applied.stderr).toBe("");
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/server\/migrated-1 created/);
    const shown = await lab(["show", "server", "migrated-1", "-o", "json"]);
    expect(shown.code).toBe(0);
    expect(JSON.stringify(JSON.parse(shown.stdout))).toContain("postgres");
    const local = new BetterSqlite3(join(home, "state.db"), { readonly: true });
    const localRow = local
      .prepare("select name from resources where kind = 'server' and name = 'migrated-1'")
      .get();
    local.close();
    expect(localRow).toBeUndefined();
    const remoteDb = new BetterSqlite3(join(host.tree, "var/lib/lab/state.db"), { readonly: true });
    const remoteRow = remoteDb
      .prepare("select name from resources where kind = 'server' and name = 'migrated-1'")
      .get();
    remoteDb.close();
    expect(remoteRow).toEqual({ name: "migrated-1" });
  }, 600_000);

  it("a second run sees the CLI already on the host and does nothing", async () => {
    const r = await lab(migrateArgs());
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/already runs at https:\/\/.* nothing to do/);
    expect(r.stdout).not.toMatch(/Step 2: Apply/);
  }, 120_000);
});

/**
 * A write that reaches the local engine after its state was copied would be lost by the
 * switch: migrate must refuse it. The migration is paused (SIGSTOP) right after the copy, a
 * server is applied through the local daemon, then it goes on: the last step sees the state
 * changed, starts the local daemon again and undoes the rest.
 */
describe("lab server migrate --target ssh when the local state changes during the move", () => {
  let host: TestHost;
  let home: string;
  const restartedPids: number[] = [];

  beforeAll(async () => {
    host = await startTestHost({ prefix: "h16m" });
    home = tempHome("lab-migrate-changed-");
    await homelabServer(home);
  }, 300_000);

  afterAll(() => release(host, restartedPids));

  it("refuses with LAB_E_MIGRATE_CHANGED, keeps the write, and the local Lab serves it again", async () => {
    const lab = labAsyncIn(home, SLOW_MACHINE);
    const config = readFileSync(join(home, "config.yaml"), "utf8");
    const migrate = spawn(process.execPath, [join(ROOT, "bin/lab.js"), ...migrateTo(host)], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: home, LAB_HOME: home, LAB_ACTOR: "tester", ...SLOW_MACHINE },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let paused: Promise<Run> | undefined;
    migrate.stderr.on("data", (c) => {
      stderr += String(c);
    });
    migrate.stdout.on("data", (c) => {
      stdout += String(c);
      // The copy is done and nothing has switched yet: the CLI still talks to the local daemon.
      if (!paused && /^→ Start lab server on/m.test(stdout)) {
        migrate.kill("SIGSTOP");
        paused = lab(["apply", "-f", "-"], NEW_SERVER).finally(() => migrate.kill("SIGCONT"));
      }
    });
    const code = await new Promise<number>((r) => migrate.on("close", (c) => r(c ?? -1)));
    if (process.env.LAB_TEST_SHOW) console.log(stdout, stderr);
    expect(paused).toBeDefined();
    const applied = await (paused as Promise<Run>);
    expect(applied.stdout).toMatch(/server\/migrated-1 created/);

    expect(code).toBe(1);
    expect(stderr).toMatch(/LAB_E_MIGRATE_CHANGED: the local state changed after it was copied/);
    const restarted = /local lab server was started again \(pid (\d+)/.exec(stderr + stdout);
    expect(restarted).not.toBeNull();
    restartedPids.push(Number(restarted?.[1]));
    expect(stdout).toMatch(/^Rolling back$/m);
    expect(stdout).toMatch(/CLI config restored/);
    expect(stdout).toMatch(/removed the copied state/);
    expect(readFileSync(join(home, "config.yaml"), "utf8")).toBe(config);
    expect(existsSync(join(host.tree, "var/lib/lab"))).toBe(false);

    // Nothing lost: the restarted local daemon serves the write made during the move.
    let shown: Run = { code: -1, stdout: "", stderr: "" };
    for (let i = 0; i < 120 && shown.code !== 0; i++) {
      shown = await lab(["show", "server", "migrated-1", "-o", "json"]);
      if (shown.code !== 0) await new Promise((r) => setTimeout(r, 1000));
    }
    expect(shown.stderr).toBe("");
    expect(JSON.stringify(JSON.parse(shown.stdout))).toContain("postgres");
  }, 600_000);
});
