import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Fleet, isLabError, parseSources } from "@lab/core";
import { afterAll, describe, expect, it } from "vitest";
import { modelOf } from "../../core/src/testing.js";
import { Callbacks, validateCallbackReport } from "./health-callbacks.js";
import { NaemonHealth, parseStatus } from "./health-naemon.js";
import { endpointsFromFleet, PortProbes, probeTcp } from "./health-probes.js";
import { nagiosMainConfig, renderNaemon } from "./naemon.js";
import { NAGIOS, PLUGINS, requireNagios } from "./nagios-testing.js";
import type { HealthReport, HealthSource } from "./types.js";

const temps: string[] = [];
const servers: Server[] = [];
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGTERM");
  for (const s of servers) s.close();
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "lab-health-"));
  temps.push(dir);
  return dir;
}

/** A loopback port that accepts connections, and one where nothing listens. */
async function ports(): Promise<{ open: number; closed: number; server: Server }> {
  const listen = () =>
    new Promise<Server>((resolve) => {
      const s = createServer((sock) => sock.end());
      s.listen(0, "127.0.0.1", () => resolve(s));
    });
  const server = await listen();
  servers.push(server);
  const spare = await listen();
  const closed = (spare.address() as { port: number }).port;
  await new Promise((r) => spare.close(r));
  return { open: (server.address() as { port: number }).port, closed, server };
}

const signal = () => new AbortController().signal;
const statesOf = (reports: HealthReport[]) =>
  Object.fromEntries(reports.map((r) => [r.server, `${r.state} ${r.summary}`]));

/** What every HealthSource promises: one report per server asked, in order, and no exception. */
async function contract(source: HealthSource, names: string[], sig = signal()): Promise<HealthReport[]> {
  const reports = await source.check(names, sig);
  expect(reports.map((r) => r.server)).toEqual(names);
  for (const r of reports) {
    expect(["ok", "warning", "failed", "unknown"]).toContain(r.state);
    expect(r.summary.length).toBeGreaterThan(0);
    expect(r.summary.length).toBeLessThanOrEqual(10);
    if (r.state === "unknown") {
      // Why, both as `reason` (like PrometheusHealth) and in a finding (stored verdicts keep findings).
      const reason = (r as HealthReport & { reason?: string }).reason;
      expect(reason, JSON.stringify(r)).toBeTruthy();
      expect(r.findings.some((f) => f.detail === reason || f.state === "pending")).toBe(true);
    }
  }
  return reports;
}

describe("NaemonHealth against a real nagios4 daemon", () => {
  it("reads the status.dat the daemon writes: open port ok, closed port a hard CRITICAL, a down host, a host Naemon lacks", async () => {
    requireNagios();
    const { open: up, closed } = await ports();
    const fleet = new Fleet(
      modelOf(`
labels:
  probe: { ports: [${up}, ${closed}] }
servers:
  local: { provider: ssh, labels: [probe], environment: test, host: 127.0.0.1 }
  quiet: { provider: ssh, environment: test, host: 127.0.0.1 }
`),
    );
    const dir = tempDir();
    const objects = join(dir, "objects");
    const files = [
      ...renderNaemon(fleet),
      // Test-only: a host whose host check (a TCP connect to the closed port) fails, so it goes DOWN.
      {
        path: "test-gone.cfg",
        content: `define host {\n  use lab-host\n  host_name gone\n  alias gone\n  address 127.0.0.1\n  check_command lab_check_tcp!${closed}\n  max_check_attempts 2\n}\n`,
      },
    ];
    for (const f of files) {
      mkdirSync(dirname(join(objects, f.path)), { recursive: true });
      writeFileSync(join(objects, f.path), f.content);
    }
    mkdirSync(join(dir, "checkresults"));
    const main = nagiosMainConfig({
      objectDirs: [objects],
      stateDir: dir,
      pluginDir: PLUGINS,
      user: userInfo().username,
      group: execFileSync("id", ["-gn"], { encoding: "utf8" }).trim(),
      // Seconds instead of minutes, every check at once, status.dat every second, and no
      // 15 s reuse of a host check result (which made the DOWN host take 17 s to go hard).
      extra: {
        interval_length: 1,
        service_inter_check_delay_method: "n",
        host_inter_check_delay_method: "n",
        status_update_interval: 1,
        check_result_reaper_frequency: 1,
        check_workers: 1,
        cached_host_check_horizon: 0,
        enable_notifications: 0,
      },
    });
    for (const f of main) writeFileSync(join(dir, f.path), f.content);

    // Under coreutils `timeout`, so the daemon cannot outlive a test run that dies half-way;
    // it passes our SIGTERM on to nagios4.
    const daemon = spawn("timeout", ["90", NAGIOS, join(dir, "nagios.cfg")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(daemon);
    let output = "";
    daemon.stdout?.on("data", (d) => (output += d));
    daemon.stderr?.on("data", (d) => (output += d));

    const source = new NaemonHealth({ statusFile: join(dir, "status.dat"), maxAgeSeconds: 60 });
    const names = ["local", "quiet", "gone", "absent"];
    const want = {
      local: "warning 1 chk",
      quiet: "ok ok",
      gone: "failed down",
      absent: "unknown unknown",
    };
    let reports: HealthReport[] = [];
    let statusText = "";
    const started = Date.now();
    while (Date.now() - started < 45_000) {
      if (daemon.exitCode !== null) throw new Error(`nagios4 exited ${daemon.exitCode}:\n${output}`);
      reports = await contract(source, names);
      if (JSON.stringify(statesOf(reports)) === JSON.stringify(want)) {
        statusText = readFileSync(join(dir, "status.dat"), "utf8");
        break;
      }
      await sleep(250);
    }
    daemon.kill("SIGTERM");
    await new Promise((r) => (daemon.exitCode !== null ? r(null) : daemon.once("exit", r)));

    expect(statesOf(reports), `last reports ${JSON.stringify(reports, null, 2)}\n${output}`).toEqual(want);
    const local = reports.find((r) => r.server === "local");
    expect(local?.findings).toEqual([
      {
        alert: `tcp_${closed}`,
        state: "firing",
        detail: expect.stringMatching(
          new RegExp(`^CRITICAL: connect to address 127.0.0.1 and port ${closed}: Connection refused`),
        ),
      },
    ]);
    expect(reports.find((r) => r.server === "gone")?.findings[0]).toMatchObject({
      alert: "host",
      state: "firing",
    });
    expect(reports.find((r) => r.server === "absent")?.findings[0]?.detail).toContain(
      "Naemon has no host absent",
    );
    // The real file has the blocks the parser relies on.
    const snap = await parseStatus(statusText.split("\n"));
    expect([...snap.hosts.keys()].sort()).toEqual(["gone", "local", "quiet"]);
    expect(
      snap.services
        .get("local")
        ?.map((s) => `${s.service_description} ${s.current_state}`)
        .sort(),
    ).toEqual([`tcp_${closed} 2`, `tcp_${up} 0`].sort());
    expect(snap.version).toBe("4.4.6");
  });
});

describe("NaemonHealth on status.dat contents", () => {
  const NOW = 1_800_000_000;
  const block = (kind: string, fields: Record<string, string | number>) =>
    `${kind} {\n${Object.entries(fields)
      .map(([k, v]) => `\t${k}=${v}\n`)
      .join("")}\t}\n`;
  const host = (name: string, f: Record<string, string | number> = {}) =>
    block("hoststatus", {
      host_name: name,
      has_been_checked: 1,
      current_state: 0,
      state_type: 1,
      plugin_output: "PING OK",
      ...f,
    });
  const service = (h: string, d: string, f: Record<string, string | number> = {}) =>
    block("servicestatus", {
      host_name: h,
      service_description: d,
      has_been_checked: 1,
      current_state: 0,
      state_type: 1,
      current_attempt: 1,
      max_attempts: 3,
      plugin_output: "TCP OK",
      ...f,
    });
  const status = (...blocks: string[]) =>
    `########################################\n#          NAGIOS STATUS FILE\n########################################\n\n${block("info", { created: NOW - 5, version: "4.4.6" })}\n${blocks.join("\n")}`;

  function sourceFor(text: string, options: { maxAgeSeconds?: number } = {}) {
    const dir = tempDir();
    writeFileSync(join(dir, "status.dat"), text);
    return new NaemonHealth({ statusFile: join(dir, "status.dat"), now: () => NOW * 1000, ...options });
  }

  const cases: { name: string; text: string; want: Record<string, string> }[] = [
    {
      name: "hard problems count, soft ones wait, like Prometheus's for:",
      text: status(
        host("a"),
        service("a", "tcp_22", { current_state: 2, plugin_output: "refused" }),
        service("a", "http_80", { current_state: 1, state_type: 0, current_attempt: 1 }),
        service("a", "https_443", { current_state: 3 }),
        host("b"),
        service("b", "tcp_22", { current_state: 2, state_type: 0 }),
      ),
      want: { a: "warning 2 chk", b: "ok ok" },
    },
    {
      name: "a hard DOWN host fails, UNREACHABLE too, a soft DOWN one does not yet",
      text: status(
        host("a", { current_state: 1 }),
        service("a", "tcp_22", { current_state: 2 }),
        host("b", { current_state: 2 }),
        host("c", { current_state: 1, state_type: 0 }),
      ),
      want: { a: "failed down", b: "failed unreach", c: "ok ok" },
    },
    {
      name: "nothing checked yet is pending",
      text: status(
        host("a", { has_been_checked: 0 }),
        service("a", "tcp_22", { has_been_checked: 0, current_state: 0 }),
      ),
      want: { a: "unknown pending" },
    },
    {
      name: "a server Naemon does not know is unknown",
      text: status(host("a")),
      want: { a: "ok ok", zz: "unknown unknown" },
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const reports = await contract(sourceFor(c.text), Object.keys(c.want));
      expect(statesOf(reports)).toEqual(c.want);
    });
  }

  it("details each problem: state, output, soft attempt, acknowledgement", async () => {
    const text = status(
      host("a"),
      service("a", "tcp_22", {
        current_state: 2,
        plugin_output: "Connection refused",
        problem_has_been_acknowledged: 1,
      }),
      service("a", "http_80", { current_state: 1, state_type: 0, current_attempt: 2, plugin_output: "slow" }),
    );
    const [report] = await sourceFor(text).check(["a"], signal());
    expect(report?.findings).toEqual([
      { alert: "tcp_22", state: "firing", detail: "CRITICAL: Connection refused (acknowledged)" },
      { alert: "http_80", state: "pending", detail: "WARNING: slow (soft, attempt 2/3)" },
    ]);
  });

  const broken: { name: string; write: (dir: string) => string; reason: RegExp; options?: object }[] = [
    { name: "missing", write: (d) => join(d, "nope.dat"), reason: /does not exist: is Naemon running/ },
    { name: "empty", write: (d) => file(d, ""), reason: /the file is empty/ },
    {
      name: "garbage",
      write: (d) => file(d, "<html>oops</html>\n"),
      reason: /line 1 is not status.dat syntax/,
    },
    {
      name: "truncated",
      write: (d) => file(d, `${status(host("a"))}servicestatus {\n\thost_name=a\n`),
      reason: /ends inside a servicestatus block \(truncated\?\)/,
    },
    { name: "not a status.dat", write: (d) => file(d, block("foo", { a: 1 })), reason: /no info block/ },
    {
      name: "stale",
      write: (d) => file(d, status(host("a")).replace(`created=${NOW - 5}`, `created=${NOW - 900}`)),
      reason: /written 900s ago \(more than 300s\): is Naemon running\?/,
    },
    { name: "a directory", write: (d) => d, reason: /cannot read .*EISDIR/ },
  ];
  function file(dir: string, text: string): string {
    writeFileSync(join(dir, "status.dat"), text);
    return join(dir, "status.dat");
  }
  for (const b of broken) {
    it(`makes every server unknown with the reason when status.dat is ${b.name}`, async () => {
      const path = b.write(tempDir());
      const source = new NaemonHealth({ statusFile: path, now: () => NOW * 1000 });
      const reports = await contract(source, ["a", "b"]);
      for (const r of reports) {
        expect(r.state).toBe("unknown");
        expect(r.findings[0]?.detail).toMatch(b.reason);
      }
    });
  }

  it("gives up after its timeout when the read hangs (a FIFO nobody writes)", async () => {
    const dir = tempDir();
    const fifo = join(dir, "status.dat");
    execFileSync("mkfifo", [fifo]);
    const source = new NaemonHealth({ statusFile: fifo, timeoutMs: 200 });
    const t0 = Date.now();
    const reports = await contract(source, ["a"]);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(reports[0]?.findings[0]?.detail).toMatch(/took longer than 200 ms/);
    // Release the open() still blocked in the thread pool.
    const writer = await open(fifo, "w");
    await writer.close();
  });

  it("honours the caller's AbortSignal", async () => {
    const ac = new AbortController();
    ac.abort();
    const reports = await contract(sourceFor(status(host("a"))), ["a"], ac.signal);
    expect(reports[0]?.findings[0]?.detail).toBe("the health check was cancelled");
  });
});

describe("PortProbes against real loopback listeners", () => {
  it("reports an open port ok and a refused one failed, probing on demand without start()", async () => {
    const { open: up, closed } = await ports();
    const probes = new PortProbes({
      endpoints: [
        { server: "a", host: "127.0.0.1", port: up },
        { server: "a", host: "127.0.0.1", port: closed },
        { server: "b", host: "127.0.0.1", port: up },
      ],
      timeoutMs: 1000,
    });
    const reports = await contract(probes, ["a", "b", "c"]);
    expect(statesOf(reports)).toEqual({ a: "failed 1 port", b: "ok ok", c: "unknown unknown" });
    expect(reports[0]?.findings).toEqual([
      { alert: `tcp_${Math.min(up, closed)}`, ...(up < closed ? okFinding(up) : refused(closed)) },
      { alert: `tcp_${Math.max(up, closed)}`, ...(up < closed ? refused(closed) : okFinding(up)) },
    ]);
    expect(reports[2]?.findings[0]?.detail).toBe("no ports to probe on this server");
  });
  const okFinding = (port: number) => ({
    state: "ok",
    value: expect.any(Number),
    detail: `127.0.0.1:${port} accepts connections`,
  });
  const refused = (port: number) => ({ state: "firing", detail: `127.0.0.1:${port} ECONNREFUSED` });

  it("keeps probing after start(): a listener that goes away turns the server failed", async () => {
    const { open: up, server } = await ports();
    const probes = new PortProbes({
      endpoints: [{ server: "b", host: "127.0.0.1", port: up }],
      intervalMs: 50,
    });
    probes.start();
    try {
      await waitFor(async () => statesOf(await probes.check(["b"], signal())).b === "ok ok");
      await new Promise((r) => server.close(r));
      await waitFor(async () => statesOf(await probes.check(["b"], signal())).b === "failed 1 port");
      expect(probes.results()).toHaveLength(1);
    } finally {
      probes.stop();
    }
  });

  it("calls a result older than staleAfterMs unknown: the loop stopped", async () => {
    const { open: up } = await ports();
    let now = 1_000_000;
    const probes = new PortProbes({
      endpoints: [{ server: "a", host: "127.0.0.1", port: up }],
      staleAfterMs: 10_000,
      now: () => now,
    });
    await probes.probeAll();
    expect(statesOf(await probes.check(["a"], signal()))).toEqual({ a: "ok ok" });
    now += 10_001;
    const [r] = await contract(probes, ["a"]);
    expect(r?.state).toBe("unknown");
    expect(r?.findings[0]?.detail).toMatch(/last probed 10s ago: the prober stopped or stalled/);
  });

  it("gives up a probe on abort and never throws", async () => {
    const ac = new AbortController();
    ac.abort();
    expect(await probeTcp("127.0.0.1", 9, 1000, ac.signal)).toEqual({ ok: false, ms: 0, error: "aborted" });
    const probes = new PortProbes({ endpoints: [{ server: "a", host: "127.0.0.1", port: 9 }] });
    const [r] = await contract(probes, ["a"], ac.signal);
    expect(r?.findings[0]?.detail).toBe("127.0.0.1:9 not probed yet (the check was cancelled)");
  });

  it("derives endpoints from the fleet's declared ports", () => {
    const dir = join(import.meta.dirname, "../../../examples/homelab");
    const files = readdirSync(dir)
      .sort()
      .map((f) => ({ path: f, text: readFileSync(join(dir, f), "utf8") }));
    const endpoints = endpointsFromFleet(new Fleet(parseSources(files).model));
    expect(endpoints.filter((e) => e.server === "mail-1")).toEqual([
      { server: "mail-1", host: "10.0.2.21", port: 25 },
      { server: "mail-1", host: "10.0.2.21", port: 587 },
      { server: "mail-1", host: "10.0.2.21", port: 993 },
    ]);
    expect(endpoints.find((e) => e.server === "gateway-1" && e.port === 6443)?.host).toBe("gateway-1");
  });
});

async function waitFor(cond: () => Promise<boolean>, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error("condition not met in time");
    await sleep(20);
  }
}

describe("Callbacks", () => {
  function clocked(options: ConstructorParameters<typeof Callbacks>[0] = {}) {
    const clock = { now: 1_000_000 };
    return { clock, cb: new Callbacks({ now: () => clock.now, ...options }) };
  }

  const invalid: { name: string; input: unknown; problems: string[] }[] = [
    {
      name: "not an object",
      input: "ok",
      problems: ['expected an object {server, key, status, value?, ttlSeconds?}, got "ok"'],
    },
    {
      name: "a list",
      input: [],
      problems: ["expected an object {server, key, status, value?, ttlSeconds?}, got a list"],
    },
    {
      name: "everything missing",
      input: {},
      problems: [
        "server: expected a server name (letters, digits, . _ -), got nothing",
        "key: expected up to 128 letters, digits, . _ : / - (starting with a letter or digit), got nothing",
        "status: expected ok, warning, failed, got nothing",
      ],
    },
    {
      name: "bad status and an unknown field",
      input: { server: "a", key: "k", status: "green", colour: 1 },
      problems: [
        "colour: unknown field (allowed: server, key, status, value, ttlSeconds)",
        'status: expected ok, warning, failed, got "green"',
      ],
    },
    {
      name: "bad value and ttl",
      input: { server: "a", key: "k", status: "ok", value: { x: 1 }, ttlSeconds: -5 },
      problems: [
        "value: expected a finite number or a one-line text of up to 256 characters, got an object",
        "ttlSeconds: expected a number of seconds above 0 and at most 604800, got number -5",
      ],
    },
    {
      name: "multi-line value, key with a space, server with a slash",
      input: { server: "a/b", key: "two words", status: "ok", value: "a\nb" },
      problems: [
        'server: expected a server name (letters, digits, . _ -), got "a/b"',
        'key: expected up to 128 letters, digits, . _ : / - (starting with a letter or digit), got "two words"',
        'value: expected a finite number or a one-line text of up to 256 characters, got "a\\nb"',
      ],
    },
  ];
  for (const c of invalid) {
    it(`rejects ${c.name}, listing every problem`, () => {
      expect(validateCallbackReport(c.input)).toEqual({ ok: false, problems: c.problems });
      const { cb } = clocked();
      let caught: unknown;
      try {
        cb.record(c.input);
      } catch (e) {
        caught = e;
      }
      expect(isLabError(caught) && caught.code).toBe("LAB_E_BAD_REQUEST");
      expect((caught as Error).message).toBe(`invalid callback report: ${c.problems.join("; ")}`);
      expect(cb.size).toBe(0);
    });
  }

  it("keeps the latest report per (server, key) and aggregates failed > warning > stale > ok", async () => {
    const { cb } = clocked();
    cb.record({ server: "a", key: "boot", status: "failed" });
    cb.record({ server: "a", key: "boot", status: "ok", value: "installer done" });
    cb.record({ server: "a", key: "load", status: "ok", value: 42 });
    cb.record({ server: "b", key: "backup", status: "warning", value: "slow" });
    cb.record({ server: "c", key: "x", status: "failed" });
    cb.record({ server: "c", key: "y", status: "warning" });
    expect(cb.size).toBe(5);
    const reports = await contract(cb, ["a", "b", "c", "d"]);
    expect(statesOf(reports)).toEqual({
      a: "ok ok",
      b: "warning 1 warn",
      c: "failed 1 fail",
      d: "unknown unknown",
    });
    expect(reports[0]?.findings).toEqual([
      { alert: "boot", state: "ok", detail: "ok (installer done)" },
      { alert: "load", state: "ok", value: 42, detail: "ok" },
    ]);
    expect(reports[3]?.findings[0]?.detail).toBe("no callback reports from this server");
  });

  it("expires a report to unknown after its TTL, then forgets it after the retention", async () => {
    const { clock, cb } = clocked({ retainExpiredSeconds: 60 });
    cb.record({ server: "a", key: "boot", status: "ok", ttlSeconds: 10 });
    cb.record({ server: "a", key: "heartbeat", status: "ok" }); // default TTL 300 s
    clock.now += 9_999;
    expect(statesOf(await cb.check(["a"], signal()))).toEqual({ a: "ok ok" });
    clock.now += 1;
    const [r] = await contract(cb, ["a"]);
    expect(`${r?.state} ${r?.summary}`).toBe("unknown 1 stale");
    expect(r?.findings[0]).toEqual({
      alert: "boot",
      state: "pending",
      detail: "stale: last report (ok) expired 0s ago",
    });
    clock.now += 60_000;
    await cb.check(["a"], signal());
    expect(cb.entries("a").map((e) => e.key)).toEqual(["heartbeat"]);
    clock.now += 240_000; // the heartbeat expired 10 s ago: stale, not yet forgotten
    expect(statesOf(await cb.check(["a"], signal()))).toEqual({ a: "unknown 1 stale" });
  });

  it("caps keys per server: a new key pushes out the server's least recently reported one", () => {
    const { clock, cb } = clocked({ maxKeysPerServer: 3 });
    for (const key of ["k1", "k2", "k3"]) {
      cb.record({ server: "a", key, status: "ok" });
      clock.now += 1;
    }
    cb.record({ server: "a", key: "k1", status: "ok" }); // k1 is now the most recent
    expect(cb.record({ server: "a", key: "k4", status: "ok" }).evicted).toBe("k2");
    expect(cb.entries("a").map((e) => e.key)).toEqual(["k3", "k1", "k4"]);
    expect(cb.size).toBe(3);
  });

  it("drops an expired key before evicting a live one", () => {
    const { clock, cb } = clocked({ maxKeysPerServer: 2 });
    cb.record({ server: "a", key: "old", status: "ok", ttlSeconds: 1 });
    cb.record({ server: "a", key: "live", status: "ok" });
    clock.now += 2000;
    expect(cb.record({ server: "a", key: "new", status: "ok" }).evicted).toBeUndefined();
    expect(cb.entries("a").map((e) => e.key)).toEqual(["live", "new"]);
  });

  it("caps the total: refuses a new key when full of live reports, accepts once some expired", () => {
    const { clock, cb } = clocked({ maxEntries: 3 });
    cb.record({ server: "a", key: "k", status: "ok", ttlSeconds: 5 });
    cb.record({ server: "b", key: "k", status: "ok" });
    cb.record({ server: "c", key: "k", status: "ok" });
    let caught: unknown;
    try {
      cb.record({ server: "d", key: "k", status: "ok" });
    } catch (e) {
      caught = e;
    }
    expect(isLabError(caught) && caught.code).toBe("LAB_E_TOO_LARGE");
    expect((caught as Error).message).toContain("callback reports are full (3 held, none stale)");
    cb.record({ server: "b", key: "k", status: "warning" }); // replacing is always allowed
    clock.now += 5000;
    cb.record({ server: "d", key: "k", status: "ok" });
    expect(
      cb
        .entries()
        .map((e) => e.server)
        .sort(),
    ).toEqual(["b", "c", "d"]);
    expect(cb.size).toBe(3);
  });

  it("refuses servers Lab does not know when told which it knows", () => {
    const cb = new Callbacks({ isKnownServer: (s) => s === "a" });
    cb.record({ server: "a", key: "k", status: "ok" });
    expect(() => cb.record({ server: "zz", key: "k", status: "ok" })).toThrow(
      "invalid callback report: server: no server named zz",
    );
  });

  it("answers unknown when the check is cancelled", async () => {
    const { cb } = clocked();
    cb.record({ server: "a", key: "k", status: "failed" });
    const ac = new AbortController();
    ac.abort();
    const [r] = await contract(cb, ["a"], ac.signal);
    expect(r?.findings[0]?.detail).toBe("the health check was cancelled");
  });
});
