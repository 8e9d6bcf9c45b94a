/**
 * The whole loop, as a user runs it: `lab render alerts` writes rules for a real Prometheus,
 * `lab server --prometheus URL` reads its verdicts back, and `lab get servers` / `lab show
 * alert` show them — firing, cleared after a model change, unknown when Prometheus is gone.
 * Every wait is for a state (with a deadline that only turns a hang into a failure).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { labAsyncIn } from "../support/cli.js";
import {
  type Proc,
  startNodeExporter,
  startPrometheus,
  stopAllExporters,
  waitFor,
} from "../support/prometheus-process.js";
import { killAllServers, type ServerProcess, startLabServer } from "../support/server-process.js";

interface Row {
  name: string;
  status: { health: { state: string; text: string } };
}

describe("health from a real Prometheus, through lab server and the CLI", { timeout: 120_000 }, () => {
  let dir: string;
  let node: Proc;
  let prometheus: Proc;
  let server: ServerProcess;
  let local: ReturnType<typeof labAsyncIn>;
  let client: ReturnType<typeof labAsyncIn>;
  const inventory = (threshold: number) => `
labels:
  web: {}
servers:
  box: {provider: ssh, labels: [web], environment: test, host: 127.0.0.1, attributes: {node_exporter_port: ${node.port}}}
alerts:
  - name: memory_in_use
    target: {servers: [box]}
    condition: memory_usage_percent > ${threshold}
    severity: warning
`;
  const applyAndRender = async (threshold: number) => {
    writeFileSync(join(dir, "inventory.yaml"), inventory(threshold));
    expect((await local(["apply", "-f", join(dir, "inventory.yaml")])).code).toBe(0);
    const render = await local(["render", "alerts", "--backend", "prometheus", "--out", join(dir, "prom")]);
    expect(render.code, render.stderr).toBe(0);
    return render;
  };
  const health = async () => {
    const rows = JSON.parse((await client(["get", "servers", "-o", "json"])).stdout) as Row[];
    return rows.find((r) => r.name === "box")?.status.health;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "lab-health-e2e-"));
    local = labAsyncIn(dir);
    node = await startNodeExporter(["meminfo", "loadavg"]);
    const render = await applyAndRender(0);
    expect(render.stdout).toContain("rules/servers.yaml");
    const snippet = parse(
      (await import("node:fs")).readFileSync(join(dir, "prom", "prometheus-scrape.yaml"), "utf8"),
    ) as Record<string, unknown>;
    const config = { global: { scrape_interval: "1s", evaluation_interval: "1s" }, ...snippet };
    writeFileSync(join(dir, "prometheus.yml"), JSON.stringify(config));
    prometheus = await startPrometheus(join(dir, "prometheus.yml"), join(dir, "tsdb"));
    server = await startLabServer({
      home: dir,
      args: ["--prometheus", prometheus.url, "--health-interval", "1s"],
    });
    client = labAsyncIn(dir, { LAB_SERVER: server.url, LAB_TOKEN: server.token as string });
  });

  afterAll(async () => {
    await killAllServers();
    await stopAllExporters();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("shows a firing alert as ⚠ in HEALTH, and its current value in lab show alert", async () => {
    const h = await waitFor("box's health turns to warning", async () => {
      const now = await health();
      return now?.state === "warning" ? now : undefined;
    });
    expect(h).toEqual({ state: "warning", text: "1 alrt" });
    const table = await client(["get", "servers"]);
    expect(table.stdout).toMatch(/^box\s+ssh\s+web\s+-\s+—\s+—\s+1 alrt\s+—$/m);
    // describe reads the same verdicts: never "no health source" beside a warning in the table.
    const d = await client(["describe", "server", "box"]);
    expect(d.stdout).toContain("  Health: 1 alrt\n");
    expect(d.stdout).toMatch(/^ {4}prometheus: .+ \(as of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\)$/m);
    expect(d.stdout).not.toContain("no health source");
    const alert = await client(["show", "alert", "memory_in_use"]);
    expect(alert.stdout).toMatch(/box \(ssh, test\) ← server: box {2}currently: \d+(\.\d+)? firing/);
    expect(alert.stdout).toContain(
      'Prometheus: rule "memory_in_use" in rules/servers.yaml (1 server) — last rendered to',
    );
  });

  it("clears when the alert stops firing after a model change", async () => {
    await applyAndRender(100);
    prometheus.signal("SIGHUP");
    const h = await waitFor("box's health back to ok", async () => {
      const now = await health();
      return now?.state === "ok" ? now : undefined;
    });
    expect(h).toEqual({ state: "ok", text: "ok" });
    const events = JSON.parse((await client(["get", "events", "-o", "json"])).stdout) as {
      action: string;
      summary: string;
    }[];
    expect(events.filter((e) => e.action === "health").map((e) => e.summary)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^box: warning \(1 alrt\) → ok \(ok\)$/)]),
    );
  });

  it("turns to unknown, never a fake ✓, when Prometheus is gone — and the server keeps serving", async () => {
    prometheus.signal("SIGKILL");
    const h = await waitFor("box's health turns unknown", async () => {
      const now = await health();
      return now?.state === "unknown" ? now : undefined;
    });
    expect(h).toEqual({ state: "unknown", text: "unknown" });
    expect((await client(["get", "labels"])).code).toBe(0);
  });
});
