/**
 * `lab run` in local mode over real peers: machines behind a relay board (socat pty pair), a
 * TCP port that starts answering, a config pushed over HTTP once the port answers, a host
 * command; runs and steps stored and browsable; reliability mode and its report.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { type RunningServer, startServer } from "@lab/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labAsyncIn, tempHome } from "../support/cli.js";
import { type RelayBoard, startRelayBoard } from "../support/relay-board.js";

let home: string;
let board: RelayBoard;
let http: Server;
let httpPort: number;
const pushed: { method: string; url: string; body: string }[] = [];
let lab: ReturnType<typeof labAsyncIn>;

beforeAll(async () => {
  home = tempHome("lab-run-");
  board = await startRelayBoard(home);
  http = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += String(c);
    });
    req.on("end", () => {
      pushed.push({ method: req.method ?? "", url: req.url ?? "", body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  httpPort = (http.address() as AddressInfo).port;
  writeFileSync(join(home, "machine.yaml"), "cluster: lab-run-test\n");
  writeFileSync(
    join(home, "lab.yaml"),
    `servers:
  node-1:
    provider: baremetal
    host: 127.0.0.1
    power: { driver: relay, device: ${board.device}, channel: 1 }
  node-2:
    provider: baremetal
    host: 127.0.0.1
    power: { driver: relay, device: ${board.device}, channel: 2 }
labs:
  bringup:
    description: two relay-powered nodes, configured by push
    machines: [node-1, node-2]
    steps:
      - action: power-off
      - action: power-on
        interval: 100ms
        explain: the relay board switches both nodes on, one after the other
      - action: wait-port
        port: ${httpPort}
        timeout: 10s
      - action: push-config
        port: ${httpPort}
        path: /config
        file: ${join(home, "machine.yaml")}
        machines: [node-1]
      - action: host-command
        command: [sh, -c, 'test "$LAB_MACHINE" = node-2']
        machines: [node-2]
  called-back:
    machines: [node-2]
    steps:
      - action: wait-callback
        key: ready
        status: ok
        timeout: 60s
  broken:
    machines: [node-1]
    steps:
      - action: power-on
      - action: wait-port
        host: 127.0.0.1
        port: 9
        timeout: 1s
      - action: power-off
`,
  );
  lab = labAsyncIn(home);
  const applied = await lab(["apply", "-f", join(home, "lab.yaml")]);
  expect(applied.stderr).toBe("");
});

afterAll(async () => {
  await board?.close();
  await new Promise((r) => http?.close(r));
});

describe("lab run", () => {
  it("runs the steps in order with live progress, against the peers", async () => {
    board.flip(1, "on");
    const r = await lab(["run", "bringup"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\[1\/5\] power-off — node-1, node-2/);
    expect(r.stdout).toMatch(/\[5\/5\] host-command sh -c/);
    expect(r.stdout).toMatch(/^ok: run [0-9a-f]{8} took/m);
    // The board saw off, off, then on 1 before on 2.
    const cmds = board.received.filter((l) => l !== "status");
    expect(cmds.slice(-4)).toEqual(["off 1", "off 2", "on 1", "on 2"]);
    expect(pushed.at(-1)).toEqual({ method: "PUT", url: "/config", body: "cluster: lab-run-test\n" });
  });

  it("stores runs and steps: lab get runs, lab describe run", async () => {
    const list = await lab(["get", "runs", "-o", "json"]);
    const runs = JSON.parse(list.stdout) as { id: string; lab: string; status: string }[];
    expect(runs[0]).toMatchObject({ lab: "bringup", status: "ok" });
    const d = await lab(["describe", "run", String(runs[0]?.id).slice(0, 8), "-o", "json"]);
    const run = JSON.parse(d.stdout) as {
      steps: { idx: number; machine: string; status: string; durationMs: number }[];
    };
    expect(run.steps.map((s) => `${s.idx}:${s.machine}:${s.status}`)).toEqual([
      "0:node-1:ok",
      "0:node-2:ok",
      "1:node-1:ok",
      "1:node-2:ok",
      "2:node-1:ok",
      "2:node-2:ok",
      "3:node-1:ok",
      "4:node-2:ok",
    ]);
    expect(run.steps.every((s) => s.durationMs >= 0)).toBe(true);
    const table = await lab(["describe", "run", String(runs[0]?.id).slice(0, 8)]);
    expect(table.stdout).toContain("push");
  });

  it("a step that times out ends the run, which exits 1 and says where", async () => {
    const r = await lab(["run", "broken"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/node-1: timeout/);
    expect(r.stdout).toMatch(/^timeout: run .* step 2 \(wait for port 9\) timeout on node-1/m);
    expect(board.ports.get(1)).toBe("on"); // the power-off after it never ran
  });

  it("reliability mode repeats the lab and reports the least reliable steps", async () => {
    const r = await lab(["run", "broken", "--repeat", "3"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("Lab broken: 3 runs — 0 ok, 0 failed, 3 timed out, 0 stopped");
    const rep = await lab(["run", "report", "broken", "-o", "json"]);
    const report = JSON.parse(rep.stdout) as {
      runs: number;
      steps: { name: string; attempts: number; ok: number; timeout: number }[];
    };
    expect(report.runs).toBe(4);
    expect(report.steps[0]).toMatchObject({ name: "wait for port 9", attempts: 4, ok: 0, timeout: 4 });
    expect(report.steps[1]).toMatchObject({ name: "power-on", attempts: 4, ok: 4, timeout: 0 });
  });

  it("refuses a lab that names an unknown machine, with where", async () => {
    writeFileSync(
      join(home, "bad.yaml"),
      "labs:\n  x:\n    machines: [nope]\n    steps: [{action: power-on}]\n",
    );
    const r = await lab(["apply", "-f", join(home, "bad.yaml")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.yaml:3:\d+: error LAB_E_REF_SERVER/);
  });
});

describe("lab run, client mode: the server runs it, the CLI follows", () => {
  let server: RunningServer;
  let remote: ReturnType<typeof labAsyncIn>;
  beforeAll(async () => {
    server = await startServer({ home, host: "127.0.0.1", port: 0, tls: true, powerPollMs: 0, agent: false });
    remote = labAsyncIn(home, {
      LAB_SERVER: server.url,
      LAB_TOKEN: readFileSync(server.adminTokenPath as string, "utf8").trim(),
      LAB_CA_FILE: server.caPath as string,
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it("wait-callback: the step ends when the machine reports the key", async () => {
    const token = readFileSync(server.adminTokenPath as string, "utf8").trim();
    let settled = false;
    const running = remote(["run", "called-back"]).finally(() => {
      settled = true;
    });
    // The machine's report, as its agent or a script would post it. The step counts reports made
    // since the run began, and the CLI's start is slow under load: report until the run ends.
    const post = () =>
      new Promise<number>((resolve, reject) => {
        const body = JSON.stringify({ server: "node-2", key: "ready", status: "ok" });
        const req = httpsRequest(
          `${server.url}/api/v1/callbacks`,
          {
            method: "POST",
            ca: server.caPem as string,
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          },
          (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          },
        );
        req.on("error", reject);
        req.end(body);
      });
    while (!settled) {
      await new Promise((r) => setTimeout(r, 1000));
      if (!settled) expect(await post()).toBeLessThan(300);
    }
    const r = await running;
    expect(r.stdout).toMatch(/node-2: ok/);
    expect(r.code).toBe(0);
  });

  it("runs the lab on the server with the same progress lines, stored there", async () => {
    const before = pushed.length;
    const r = await remote(["run", "bringup", "--repeat", "2"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.match(/^ok: run [0-9a-f]{8}/gm)?.length).toBe(2);
    expect(r.stdout).toMatch(/node-2: ok/);
    expect(pushed.length).toBe(before + 2);
    const runs = JSON.parse((await remote(["get", "runs", "-o", "json"])).stdout) as {
      lab: string;
      series: string | null;
    }[];
    expect(runs.slice(0, 2).every((x) => x.lab === "bringup" && x.series)).toBe(true);
    const events = await server.store.events({ limit: 1000 });
    expect(
      events.filter((e) => e.action === "run.step" && e.subjects.includes("lab/bringup")).length,
    ).toBeGreaterThanOrEqual(10);
  });
});
