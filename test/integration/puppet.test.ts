/**
 * Lab and real Puppet: Debian's `puppet apply` classifies nodes through Lab's ENC (the CLI's
 * `lab enc`, and the HTTP endpoint through deploy/puppet/lab-enc), and posts its run reports to
 * a real `lab server` with the http report processor. One run succeeds and one fails: the
 * PUPPET pillar, `describe server`'s Puppet block and the event stream follow what Puppet did.
 * The failed run is then on lab server's /metrics, and the generated `puppet_run_failed` rule
 * passes `promtool check rules`, fires in `promtool test rules` on the scraped samples and
 * fires in a real Prometheus scraping lab server.
 */
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { labAsyncIn, ROOT, tempHome } from "../support/cli.js";
import {
  type Proc,
  promtool,
  startPrometheus,
  stopAllExporters,
  waitFor,
} from "../support/prometheus-process.js";
import { assertPuppetInstalled, type PuppetTree, puppetTree } from "../support/puppet.js";
import { killAllServers, type ServerProcess, startLabServer } from "../support/server-process.js";

const MODEL = (out: string) => `
labels:
  web:
    puppet_classes: [lab_test::web, lab_test::motd]
  broken:
    puppet_classes: [lab_test::broken]
  production:
    puppet_classes: [lab_test::motd]
servers:
  web-1:
    provider: baremetal
    labels: [web, production]
    environment: production
    attributes: { out_dir: ${JSON.stringify(out)} }
  broken-1:
    provider: baremetal
    labels: [broken]
    environment: staging
`;

/** Classes that show, in a file Puppet writes, what the ENC told it. */
const WEB = `class lab_test::web {
  file { "\${::lab_attributes['out_dir']}/web.txt":
    content => "role=\${::lab_role} server=\${::lab_server} env=\${environment} labels=\${::lab_labels}\\n",
  }
}`;
const MOTD = `class lab_test::motd { notify { "motd for \${::lab_server}": } }`;
/** A resource that cannot be applied: its parent directory does not exist. */
const BROKEN = `class lab_test::broken { file { "/nonexistent-lab-test/dir/x": content => "x" } }`;

/** Reads an SSE stream until an event matches, or the stream ends (the test's timeout bounds it). */
function waitForStreamEvent(
  url: string,
  token: string,
  match: (e: { action: string; result: string; subjects: string[] }) => boolean,
): { ready: Promise<void>; event: Promise<{ action: string; result: string; summary: string }> } {
  let ready!: () => void;
  const readyP = new Promise<void>((r) => {
    ready = r;
  });
  const event = new Promise<{ action: string; result: string; summary: string }>((resolve, reject) => {
    const req = http.get(
      `${url}/api/v1/events/stream`,
      { headers: { authorization: `Bearer ${token}` } },
      (res) => {
        let buffer = "";
        res.on("data", (c) => {
          buffer += String(c);
          if (buffer.includes(": lab event stream")) ready();
          for (const block of buffer.split("\n\n")) {
            const data = block.split("\n").find((l) => l.startsWith("data: "));
            if (!data) continue;
            const e = JSON.parse(data.slice(6));
            if (e.action && match(e)) {
              resolve(e);
              req.destroy();
            }
          }
        });
        res.on("end", () => reject(new Error("the event stream ended")));
      },
    );
    req.on("error", (e) => {
      if (!(e as NodeJS.ErrnoException).code?.includes("ECONNRESET")) reject(e);
    });
  });
  return { ready: readyP, event };
}

describe("Puppet: the ENC and run reports against real puppet apply", () => {
  const home = tempHome("lab-puppet-home-");
  let server: ServerProcess;
  let tree: PuppetTree;
  let puppetToken: string;
  let admin: ReturnType<typeof labAsyncIn>;

  beforeAll(async () => {
    assertPuppetInstalled();
    tree = puppetTree();
    tree.manifest(["production", "staging"], "lab_test", "web", WEB);
    tree.manifest(["production", "staging"], "lab_test", "motd", MOTD);
    tree.manifest(["production", "staging"], "lab_test", "broken", BROKEN);
    for (const host of ["web-1", "broken-1"]) tree.facts(`${host}.lab.internal`, { hostname: host });
    writeFileSync(join(tree.dir, "model.yaml"), MODEL(tree.dir));
    server = await startLabServer({ home });
    admin = labAsyncIn(tempHome(), { LAB_SERVER: server.url, LAB_TOKEN: server.token as string });
    expect((await admin(["apply", "-f", join(tree.dir, "model.yaml")])).code).toBe(0);
    const created = await admin(["token", "create", "--name", "puppetserver", "--scope", "puppet"]);
    expect(created.code, created.stderr).toBe(0);
    puppetToken = created.stdout.trim();
  }, 120_000);

  afterAll(async () => {
    await killAllServers();
    await stopAllExporters();
  });

  it("lab enc prints the YAML Puppet's exec terminus reads, for the certname or the server name", async () => {
    const r = await admin(["enc", "web-1.lab.internal"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("- lab_test::web # from label web\n");
    expect(parseYaml(r.stdout)).toEqual({
      classes: ["lab_test::web", "lab_test::motd"],
      environment: "production",
      parameters: {
        lab_server: "web-1",
        lab_role: "web",
        lab_labels: ["web", "production"],
        lab_groups: [],
        lab_environment: "production",
        lab_region: null,
        lab_size: null,
        lab_ports: [],
        lab_attributes: { out_dir: tree.dir },
      },
    });
    const unknown = await admin(["enc", "nobody.lab.internal"]);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain("LAB_E_NOT_FOUND");
  });

  it("a puppet-scoped token reads the ENC and posts reports, and nothing else", async () => {
    const enc = await fetch(`${server.url}/api/v1/puppet/enc/web-1`, {
      headers: { authorization: `Bearer ${puppetToken}` },
    });
    expect(enc.status).toBe(200);
    expect(enc.headers.get("content-type")).toContain("application/yaml");
    const servers = await server.request("GET", "/api/v1/servers", undefined, puppetToken);
    expect(servers.status).toBe(403);
    const apply = await server.request("POST", "/api/v1/apply", { files: [] }, puppetToken);
    expect(apply.status).toBe(403);
  });

  it("bad reports are refused with a code and change nothing", async () => {
    const post = (body: string, token = puppetToken) =>
      fetch(`${server.url}/api/v1/puppet/reports`, {
        method: "POST",
        headers: { "content-type": "application/x-yaml", authorization: `Bearer ${token}` },
        body,
      });
    const garbage = await post("{ this is: [not yaml");
    expect(garbage.status).toBe(400);
    expect((await garbage.json()).error.code).toBe("LAB_E_PUPPET_REPORT");
    const noStatus = await post("host: web-1\ntime: '2026-03-15T14:22:03Z'\n");
    expect((await noStatus.json()).error.message).toContain("status");
    const stranger = await post(
      "host: stranger.lab.internal\ntime: '2026-03-15T14:22:03Z'\nstatus: changed\n",
    );
    expect(stranger.status).toBe(404);
    const readOnly = (await admin(["token", "create", "--name", "viewer", "--scope", "read"])).stdout.trim();
    expect((await post("host: web-1\n", readOnly)).status).toBe(403);
    const servers = JSON.parse((await admin(["get", "servers", "-o", "json"])).stdout);
    expect(servers.map((s: { status: { puppet: { text: string } } }) => s.status.puppet.text)).toEqual([
      "—",
      "—",
    ]);
  });

  it("a successful and a failed real run: the PUPPET pillar, describe's Puppet block, an event on the stream", async () => {
    const reportUrl = `http://puppet:${puppetToken}@127.0.0.1:${server.port}/api/v1/puppet/reports`;
    // web-1 is classified by `lab enc` in client mode; broken-1 by the curl ENC over HTTP.
    const cliEnc = join(tree.dir, "cli-enc");
    writeFileSync(
      cliEnc,
      `#!/bin/sh\nLAB_SERVER=${server.url} LAB_TOKEN=${puppetToken} LAB_HOME=${tree.dir} exec ${process.execPath} ${join(ROOT, "bin/lab.js")} enc "$1"\n`,
    );
    chmodSync(cliEnc, 0o755);
    const tokenFile = join(tree.dir, "puppet.token");
    writeFileSync(tokenFile, puppetToken);

    const good = await tree.apply({ certname: "web-1.lab.internal", enc: cliEnc, reportUrl });
    expect(good.code, good.output).toBe(0);
    expect(good.output).toContain("Compiled catalog for web-1.lab.internal in environment production");
    expect(readFileSync(join(tree.dir, "web.txt"), "utf8")).toBe(
      "role=web server=web-1 env=production labels=[web, production]\n",
    );

    const stream = waitForStreamEvent(server.url, server.token as string, (e) => e.action === "puppet");
    await stream.ready;
    const bad = await tree.apply({
      certname: "broken-1.lab.internal",
      enc: join(ROOT, "deploy/puppet/lab-enc"),
      reportUrl,
      env: { LAB_URL: server.url, LAB_TOKEN_FILE: tokenFile },
    });
    // puppet apply exits 0 even when a resource fails (without --detailed-exitcodes); the report says.
    expect(bad.output).toContain("Compiled catalog for broken-1.lab.internal in environment staging");
    expect(bad.output).toMatch(/Error: .*nonexistent-lab-test/);

    const event = await stream.event;
    expect(event).toMatchObject({ action: "puppet", result: "error" });
    expect(event.summary).toContain("broken-1: Puppet run failed (failed (1 failed))");

    const rows = JSON.parse((await admin(["get", "servers", "-o", "json"])).stdout) as {
      name: string;
      status: { puppet: { state: string; text: string } };
    }[];
    expect(Object.fromEntries(rows.map((r) => [r.name, r.status.puppet]))).toEqual({
      "web-1": { state: "ok", text: "ok" },
      "broken-1": { state: "failed", text: "failed (1 failed)" },
    });
    const table = (await admin(["get", "servers"])).stdout;
    expect(table).toMatch(/broken-1 .*failed \(1 failed\)/);

    const d = (await admin(["describe", "server", "broken-1"])).stdout;
    expect(d).toContain("  Puppet: failed (1 failed)\n");
    expect(d).toContain(
      ["Puppet:", "  Environment: staging", "  Role: broken", "  Classes: [lab_test::broken]"].join("\n"),
    );
    expect(d).toMatch(
      / {2}Last run: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(failed, [\d.]+ s; Puppet 7\.\d+\.\d+\)/,
    );
    expect(d).toContain("    File[/nonexistent-lab-test/dir/x]: change from 'absent' to 'file' failed");
    expect(d).toMatch(/ {2}Next run: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(runinterval 1800 s\)/);
    const ok = (await admin(["describe", "server", "web-1", "-o", "json"])).stdout;
    const web = JSON.parse(ok).puppet;
    expect(web).toMatchObject({ environment: "production", role: "web", lastRun: { status: "changed" } });
    expect(web.lastRun.timing.total).toBeGreaterThan(0);
  }, 240_000);

  it("puppet_run_failed: the failed run on /metrics, the rendered rule checked, tested and fired by Prometheus", async () => {
    // Runs after the real runs above: broken-1's last run failed, web-1's changed things.
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const samples = metrics.split("\n").filter((l) => l.startsWith("lab_puppet_last_run_failed{"));
    expect(samples.sort()).toEqual([
      'lab_puppet_last_run_failed{lab_server="broken-1"} 1',
      'lab_puppet_last_run_failed{lab_server="web-1"} 0',
    ]);
    expect(metrics).toMatch(/^lab_puppet_last_run_failed_resources\{lab_server="broken-1"\} 1$/m);
    const started = /^lab_puppet_last_run_timestamp_seconds\{lab_server="broken-1"\} (\S+)$/m.exec(metrics);
    const described = JSON.parse((await admin(["describe", "server", "broken-1", "-o", "json"])).stdout);
    expect(Number(started?.[1])).toBe(Date.parse(described.puppet.lastRun.time) / 1000);

    // Rendered through lab server, as an operator would: the rule and the job scraping /metrics.
    const out = join(tree.dir, "prom");
    const render = await admin(["render", "alerts", "--backend", "prometheus", "--out", out]);
    expect(render.code, render.stderr).toBe(0);
    const ruleFile = join(out, "rules", "auto-puppet.yaml");
    const rules = parseYaml(readFileSync(ruleFile, "utf8")) as {
      groups: { rules: { alert: string; expr: string; annotations: Record<string, string> }[] }[];
    };
    const rule = rules.groups[0]?.rules.find((r) => r.alert === "puppet_run_failed");
    expect(rule?.expr).toBe('(lab_puppet_last_run_failed{lab_server=~"^(broken-1|web-1)$"}) == 1');
    const check = promtool([
      "check",
      "rules",
      ...readdirSync(join(out, "rules")).map((f) => join(out, "rules", f)),
    ]);
    expect(check.code, check.output).toBe(0);
    expect(check.output).toContain("SUCCESS");

    // promtool's rule unit test, on the samples exactly as lab server exported them.
    const series = samples.map((line) => {
      const [name, value] = line.split(" ") as [string, string];
      return { series: name, values: `${value}x10` };
    });
    const annotations = (server: string) => ({
      summary: (rule?.annotations.summary ?? "").replace("{{ $labels.lab_server }}", server),
      description: (rule?.annotations.description ?? "").replace("{{ $value }}", "1"),
    });
    const unit = join(tree.dir, "puppet-rule-test.yaml");
    writeFileSync(
      unit,
      JSON.stringify({
        rule_files: [ruleFile],
        evaluation_interval: "1m",
        tests: [
          {
            interval: "1m",
            input_series: series,
            alert_rule_test: [
              {
                eval_time: "5m",
                alertname: "puppet_run_failed",
                exp_alerts: [
                  {
                    exp_labels: {
                      lab_server: "broken-1",
                      severity: "warning",
                      lab_alert: "puppet_run_failed",
                    },
                    exp_annotations: annotations("broken-1"),
                  },
                ],
              },
            ],
          },
        ],
      }),
    );
    const tested = promtool(["test", "rules", unit]);
    expect(tested.code, tested.output).toBe(0);
    expect(tested.output).toContain("SUCCESS");

    // And a real Prometheus with the rendered snippet: it scrapes lab server and fires for broken-1 only.
    const snippet = parseYaml(readFileSync(join(out, "prometheus-scrape.yaml"), "utf8")) as object;
    const config = join(tree.dir, "prometheus.yml");
    writeFileSync(
      config,
      JSON.stringify({ global: { scrape_interval: "1s", evaluation_interval: "1s" }, ...snippet }),
    );
    mkdirSync(join(tree.dir, "tsdb"));
    const prometheus: Proc = await startPrometheus(config, join(tree.dir, "tsdb"));
    const firing = await waitFor(
      "puppet_run_failed to fire",
      async () => {
        const res = await fetch(
          `${prometheus.url}/api/v1/query?query=${encodeURIComponent('ALERTS{alertname="puppet_run_failed"}')}`,
        );
        const r = ((await res.json()) as { data: { result: { metric: Record<string, string> }[] } }).data
          .result;
        return r.some((a) => a.metric.alertstate === "firing") ? r : undefined;
      },
      120_000,
    );
    expect(firing.map((a) => [a.metric.lab_server, a.metric.alertstate, a.metric.job])).toEqual([
      ["broken-1", "firing", "lab-server"],
    ]);

    // Naemon has no check for a metric on lab server's /metrics: nothing is rendered there.
    const naemon = await admin([
      "render",
      "alerts",
      "--backend",
      "naemon",
      "--out",
      join(tree.dir, "naemon"),
    ]);
    expect(naemon.code, naemon.stderr).toBe(0);
    const cfg = readdirSync(join(tree.dir, "naemon"), { recursive: true })
      .map(String)
      .filter((f) => f.endsWith(".cfg"))
      .map((f) => readFileSync(join(tree.dir, "naemon", f), "utf8"))
      .join("\n");
    expect(cfg).not.toContain("puppet_run_failed");
  }, 240_000);
});
