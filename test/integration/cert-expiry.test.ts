/**
 * `cert_expiry` for real: a real `lab server` exports every enrolled machine's certificate on
 * /metrics, `lab render` (through that server) writes the job that scrapes it, and a real
 * Prometheus evaluates the generated rule. One agent keeps running and renews at 2/3 of its
 * certificate's life; the other is stopped right after enrolment, so its certificate runs
 * down — only that one is alerted on. (The rule's hour-long `for:` is covered by promtool's
 * rule unit test in packages/monitor; here the alert is seen pending.)
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { killTracked, spawnTracked, type TrackedChild } from "../support/child.js";
import { labAsyncIn, ROOT } from "../support/cli.js";
import { type Proc, startPrometheus, stopAllExporters, waitFor } from "../support/prometheus-process.js";
import { killAllServers, type ServerProcess, startLabServer } from "../support/server-process.js";

const LIFETIME_S = 40;

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

describe("cert_expiry from lab server's /metrics, in a real Prometheus", { timeout: 180_000 }, () => {
  let dir: string;
  let server: ServerProcess;
  let prometheus: Proc;
  let client: ReturnType<typeof labAsyncIn>;
  const agents: Record<string, TrackedChild> = {};

  const query = async (promql: string): Promise<Sample[]> => {
    const res = await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    return ((await res.json()) as { data: { result: Sample[] } }).data.result;
  };

  const startAgent = async (name: string) => {
    const token = await client(["join-token", "create", name]);
    expect(token.code, token.stderr).toBe(0);
    const state = join(dir, `agent-${name}`);
    mkdirSync(state);
    writeFileSync(join(state, "ca.crt"), server.caPem as string);
    agents[name] = spawnTracked(process.execPath, [
      join(ROOT, "bin/lab.js"),
      "agent",
      "--server",
      server.url,
      "--join-token",
      token.stdout.trim(),
      "--ca-file",
      join(state, "ca.crt"),
      "--state-dir",
      state,
      "--name",
      name,
      // Renewal is checked at each heartbeat: 1 s keeps it close to 2/3 of the 40 s life.
      "--heartbeat",
      "1s",
      "--host-key-dir",
      state,
    ]);
    await waitFor(`${name} to enrol`, async () => {
      const r = await server.request<{ name: string }[]>("GET", "/api/v1/agents");
      return r.body.some?.((a) => a.name === name) ? true : undefined;
    });
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "lab-cert-expiry-"));
    server = await startLabServer({
      home: join(dir, "server"),
      tls: true,
      args: ["--agent-cert-lifetime", `${LIFETIME_S}s`],
    });
    writeFileSync(join(dir, "ca.crt"), server.caPem as string);
    client = labAsyncIn(join(dir, "cli"), {
      LAB_SERVER: server.url,
      LAB_TOKEN: server.token as string,
      LAB_CA_FILE: join(dir, "ca.crt"),
    });
    writeFileSync(
      join(dir, "inventory.yaml"),
      "labels:\n  web: {}\nservers:\n  stuck: {provider: ssh, labels: [web]}\n  renewing: {provider: ssh, labels: [web]}\n",
    );
    expect((await client(["apply", "-f", join(dir, "inventory.yaml")])).code).toBe(0);
    await startAgent("renewing");
    await startAgent("stuck");
    await agents.stuck?.stop();

    const render = await client(["render", "alerts", "--backend", "prometheus", "--out", join(dir, "prom")]);
    expect(render.code, render.stderr).toBe(0);
    const snippet = parse(readFileSync(join(dir, "prom", "prometheus-scrape.yaml"), "utf8")) as {
      scrape_configs: { job_name: string }[];
    };
    writeFileSync(
      join(dir, "prometheus.yml"),
      JSON.stringify({ global: { scrape_interval: "1s", evaluation_interval: "1s" }, ...snippet }),
    );
    prometheus = await startPrometheus(join(dir, "prometheus.yml"), join(dir, "tsdb"));
  });

  afterAll(async () => {
    await killTracked();
    await killAllServers();
    await stopAllExporters();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("the rendered snippet scrapes lab server over HTTPS with Lab's CA", () => {
    const snippet = parse(readFileSync(join(dir, "prom", "prometheus-scrape.yaml"), "utf8")) as {
      scrape_configs: { job_name: string; scheme?: string; tls_config?: { ca_file: string } }[];
    };
    const job = snippet.scrape_configs.find((j) => j.job_name === "lab-server");
    expect(job).toMatchObject({
      scheme: "https",
      tls_config: { ca_file: join(dir, "server", "server", "ca.crt") },
      static_configs: [{ targets: [`127.0.0.1:${server.port}`] }],
    });
  });

  it("Prometheus reads each machine's certificate expiry from /metrics", async () => {
    const expiry = await waitFor("lab-server's identity series", async () => {
      const r = await query("lab_identity_cert_expiry_timestamp_seconds");
      return r.length === 2 ? r : undefined;
    });
    const agentsNow = (
      await server.request<{ name: string; certNotAfter: string }[]>("GET", "/api/v1/agents")
    ).body;
    const stuck = agentsNow.find((a) => a.name === "stuck");
    const sample = expiry.find((s) => s.metric.lab_server === "stuck");
    expect(Number(sample?.value[1])).toBe(Date.parse(stuck?.certNotAfter ?? "") / 1000);
    expect(sample?.metric.job).toBe("lab-server");
  });

  it("alerts on the machine that stopped renewing, and only on it", async () => {
    const alerts = await waitFor(
      "cert_expiry for stuck",
      async () => {
        const r = await query('ALERTS{alertname="cert_expiry"}');
        return r.some((s) => s.metric.lab_server === "stuck") ? r : undefined;
      },
      (LIFETIME_S + 30) * 1000,
    );
    expect(
      alerts.map((a) => [a.metric.lab_server, a.metric.alertstate]),
      `renewing agent:\n${agents.renewing?.output().slice(-3000)}`,
    ).toEqual([["stuck", "pending"]]);
    // The running agent renewed at 2/3 of its life: its certificate is fresher than it was.
    const left = await query(
      '100 * (lab_identity_cert_expiry_timestamp_seconds{lab_server="renewing"} - time()) / (lab_identity_cert_expiry_timestamp_seconds{lab_server="renewing"} - lab_identity_cert_renewed_timestamp_seconds{lab_server="renewing"})',
    );
    expect(Number(left[0]?.value[1])).toBeGreaterThan(25);
    const renewed = await query('lab_identity_cert_renewed_timestamp_seconds{lab_server="renewing"}');
    const enrolled = await query('lab_identity_cert_renewed_timestamp_seconds{lab_server="stuck"}');
    expect(Number(renewed[0]?.value[1])).toBeGreaterThan(Number(enrolled[0]?.value[1]));
  });
});
