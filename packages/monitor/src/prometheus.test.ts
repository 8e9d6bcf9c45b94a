/**
 * The Prometheus renderer and health source, without a running Prometheus: rendering is
 * deterministic and follows placement (one file per source, exclusions, auto-* files), the
 * expressions are the metric's PromQL with the servers' matcher and the comparison, and the
 * real `promtool` accepts every rule file and a prometheus.yml built from the snippet. The
 * health source is driven by a fake Prometheus (mapping, down, slow, garbage, cancelled).
 */
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Fleet, METRICS, type Model, parseSources } from "@lab/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { fleetFiles, generateFleet } from "../../../bench/engine/generate.js";
import { modelOf } from "../../core/src/testing.js";
import { PrometheusHealth } from "./health-prometheus.js";
import { renderPrometheus, renderPrometheusReport, serverMatcher } from "./prometheus.js";
import type { RenderedFile } from "./types.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../../..");
const HOMELAB = join(ROOT, "examples/homelab");

function homelab(edit: (file: string, text: string) => string = (_f, t) => t): Model {
  const files = readdirSync(HOMELAB)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => ({ path: f, text: edit(f, readFileSync(join(HOMELAB, f), "utf8")) }));
  const { model, diagnostics } = parseSources(files);
  const errors = diagnostics.filter((d) => d.severity === "error");
  if (errors.length) throw new Error(errors.map((d) => d.message).join("\n"));
  return model;
}

const render = (model: Model) => renderPrometheus(new Fleet(model));
const byPath = (files: RenderedFile[]) => new Map(files.map((f) => [f.path, f.content]));

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** Every rule in the rendered files, with the file it is in. */
function rules(files: RenderedFile[]): (Rule & { file: string })[] {
  return files
    .filter((f) => f.path.startsWith("rules/"))
    .flatMap((f) =>
      (parse(f.content) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) =>
        g.rules.map((r) => ({ ...r, file: f.path })),
      ),
    );
}

function rule(files: RenderedFile[], alert: string): Rule & { file: string } {
  const found = rules(files).filter((r) => r.alert === alert);
  expect(found, `exactly one rule for ${alert}`).toHaveLength(1);
  return found[0] as Rule & { file: string };
}

const SMALL = `
labels:
  web: {ports: [80, 443, 8080]}
  mail: {ports: [25, 465, 587, 993, 143], alerts: [smtp_connect], alert_backend: prometheus}
  db: {ports: [5432]}
servers:
  m-1: {provider: aws, labels: [mail], environment: prod, region: eu, host: 10.0.0.1}
  m2: {provider: aws, labels: [mail], host: "2001:db8::2"}
  w1: {provider: hetzner, labels: [web], environment: dev, host: w1.example.org}
  nohost: {provider: ssh, labels: [web, db]}
alerts:
  - name: disk_full
    target: {labels: [web]}
    condition: disk_usage_percent > 85
  - name: loaded
    target: {environment: prod}
    condition: load1 >= 2.5
    for: 5m
    severity: critical
    description: too much to do
  - name: no_ping
    target: {servers: [w1]}
    condition: network_latency_ms > 100
  - name: braces
    target: {servers: [w1]}
    condition: load1 > 50
    description: "literal {{ braces }} here"
`;

describe("renderPrometheus", () => {
  it("is deterministic: the same model renders byte-identical files, whatever the definition order", () => {
    const a = render(homelab());
    const b = render(homelab());
    expect(b).toEqual(a);
    expect(a.map((f) => f.path)).toEqual([...a.map((f) => f.path)].sort());

    // Servers and alerts defined in another order: still the same bytes.
    const reversed = modelOf(
      SMALL.replace(
        /servers:\n((?: {2}.*\n)+)/,
        (_m, body: string) => `servers:\n${body.trimEnd().split("\n").reverse().join("\n")}\n`,
      ),
    );
    expect([...reversed.server.keys()][0]).toBe("nohost");
    expect(render(reversed)).toEqual(render(modelOf(SMALL)));

    // Rules in a file are in code-point order, not the locale's (placement sorts with localeCompare).
    const mixed = render(
      modelOf(
        "servers: {s: {provider: p, labels: [x]}}\nlabels: {x: {}}\nalerts:\n" +
          "  - {name: alpha, target: {labels: [x]}, condition: load1 > 1}\n" +
          "  - {name: Zeta, target: {labels: [x]}, condition: load1 > 2}\n",
      ),
    );
    expect(rules(mixed).map((r) => `${r.file} ${r.alert}`)).toEqual([
      "rules/auto-identity.yaml cert_expiry",
      "rules/label-x.yaml Zeta",
      "rules/label-x.yaml alpha",
    ]);
  });

  it("a change to one label touches only that label's rule file", () => {
    const before = byPath(render(homelab()));
    const after = byPath(
      render(
        homelab((f, t) =>
          f === "labels.yaml"
            ? t.replace(
                "alerts: [postgres_replication_lag, postgres_connections]",
                "alerts: [postgres_replication_lag]",
              )
            : t,
        ),
      ),
    );
    const changed = [...new Set([...before.keys(), ...after.keys()])].filter(
      (p) => before.get(p) !== after.get(p),
    );
    expect(changed).toEqual(["rules/label-postgres.yaml"]);

    // An alert targeted at a label: changing it rewrites that label's file only.
    const retuned = byPath(
      render(
        homelab((f, t) =>
          f === "alerts.yaml" ? t.replace("mail_queue_length > 1000", "mail_queue_length > 500") : t,
        ),
      ),
    );
    const changed2 = [...before.keys()].filter((p) => before.get(p) !== retuned.get(p));
    expect(changed2).toEqual(["rules/label-mailserver.yaml"]);
    expect(retuned.get("rules/label-mailserver.yaml")).toContain("> 500");
  });

  it("renders only Prometheus placements, in the files placement chose, with exclusions applied", () => {
    const files = render(homelab());
    const where = Object.fromEntries(rules(files).map((r) => [r.alert, r.file]));
    expect(where).toMatchObject({
      cpu_threshold: "rules/auto-size.yaml",
      memory_threshold: "rules/auto-size.yaml",
      cert_expiry: "rules/auto-identity.yaml",
      postgres_process: "rules/auto-class.yaml",
      nginx_process: "rules/auto-class.yaml",
      mail_queue_critical: "rules/label-mailserver.yaml",
      memory_pressure: "rules/label-k8s-worker.yaml",
      disk_space_low: "rules/group-production.yaml",
      high_cpu: "rules/environment-prod.yaml",
      gpu_temperature: "rules/servers.yaml",
    });
    // Reachability checks go to Naemon by default: no smtp/imap/port rules here.
    for (const naemon of [
      "smtp_connect",
      "imap_connect",
      "apiserver_healthy",
      "tcp_5432",
      "http_80",
      "smtp_25",
    ]) {
      expect(where[naemon]).toBeUndefined();
    }
    // memory_pressure targets k8s-worker but excludes batch-worker-1.
    const mp = rule(files, "memory_pressure");
    expect(mp.expr).toContain("worker-5");
    expect(mp.expr).not.toContain("batch-worker-1");
    expect(rule(files, "kubelet_healthy").expr).toContain("batch-worker-1");

    const group = parse(byPath(files).get("rules/label-k8s-worker.yaml") as string).groups;
    expect(group.map((g: { name: string }) => g.name)).toEqual(["lab-label-k8s-worker"]);
    expect(mp.labels).toEqual({ severity: "warning", lab_alert: "memory_pressure" });
    expect(mp.annotations.description).toContain("from label k8s-worker");
    expect(mp.annotations.description).toContain("`lab show alert memory_pressure`");
    expect(rule(files, "cpu_threshold").annotations.description).toContain(
      "auto-generated from the server's size",
    );
  });

  it("writes the metric's PromQL with a sorted, escaped server matcher and the comparison", () => {
    const files = render(modelOf(SMALL));
    expect(rule(files, "disk_full").expr).toBe(
      '(max by (lab_server) (100 * (1 - node_filesystem_avail_bytes{fstype!~"tmpfs|overlay|squashfs",lab_server=~"^(nohost|w1)$"} / node_filesystem_size_bytes{fstype!~"tmpfs|overlay|squashfs",lab_server=~"^(nohost|w1)$"}))) > 85',
    );
    const loaded = rule(files, "loaded");
    expect(loaded.expr).toBe('(node_load1{lab_server=~"^(m-1)$"}) >= 2.5');
    expect(loaded.for).toBe("5m");
    expect(loaded.labels.severity).toBe("critical");
    expect(loaded.annotations.summary).toContain("too much to do");
    expect(loaded.annotations.description).toContain("from environment prod");
    expect(rule(files, "disk_full").for).toBeUndefined();
    // Annotations are Go templates: user text cannot open an action (promtool checks it below).
    expect(rule(files, "braces").annotations.summary).toBe(
      'braces on {{ $labels.lab_server }}: literal {{ "{{" }} braces }} here',
    );
    // A label's alert_backend sends its SMTP check to Prometheus (blackbox).
    const smtp = rule(files, "smtp_connect");
    expect(smtp.file).toBe("rules/label-mail.yaml");
    expect(smtp.expr).toBe('(probe_success{job="lab-blackbox-smtp",lab_server=~"^(m-1|m2)$"}) == 0');
    expect(smtp.for).toBe("2m");
    expect(serverMatcher(["b", "a.b", "a", "a"])).toBe('lab_server=~"^(a|a\\\\.b|b)$"');
  });

  it("lists node_exporter and blackbox targets for servers with a host, and reports the others", () => {
    const { files, skipped } = renderPrometheusReport(new Fleet(modelOf(SMALL)), { nodeExporterPort: 9999 });
    const f = byPath(files);
    const json = (p: string) => JSON.parse(f.get(p) as string);
    expect(json("targets/node.json")).toEqual([
      {
        targets: ["10.0.0.1:9999"],
        labels: { lab_server: "m-1", lab_provider: "aws", lab_environment: "prod", lab_region: "eu" },
      },
      { targets: ["[2001:db8::2]:9999"], labels: { lab_server: "m2", lab_provider: "aws" } },
      {
        targets: ["w1.example.org:9999"],
        labels: { lab_server: "w1", lab_provider: "hetzner", lab_environment: "dev" },
      },
    ]);
    expect(skipped).toEqual([{ server: "nohost", reason: expect.stringContaining("no host") }]);
    const targets = (p: string) =>
      json(p).map((e: { targets: string[]; labels: Record<string, string> }) =>
        [e.targets[0], e.labels.lab_port, e.labels.__lab_module].filter(Boolean).join(" "),
      );
    expect(targets("targets/blackbox-http.json")).toEqual([
      "http://w1.example.org:80 80",
      "http://w1.example.org:8080 8080",
    ]);
    expect(targets("targets/blackbox-https.json")).toEqual(["https://w1.example.org:443 443"]);
    expect(targets("targets/blackbox-smtp.json")).toEqual([
      "10.0.0.1:25 25",
      "10.0.0.1:465 465 smtps_banner",
      "10.0.0.1:587 587",
      "[2001:db8::2]:25 25",
      "[2001:db8::2]:465 465 smtps_banner",
      "[2001:db8::2]:587 587",
    ]);
    expect(targets("targets/blackbox-imap.json")).toEqual([
      "10.0.0.1:143 143",
      "10.0.0.1:993 993 imaps_banner",
      "[2001:db8::2]:143 143",
      "[2001:db8::2]:993 993 imaps_banner",
    ]);
    expect(targets("targets/blackbox-tcp.json")).toEqual([]); // only nohost declares 5432
    expect(targets("targets/blackbox-icmp.json")).toEqual(["w1.example.org"]); // no_ping measures latency
  });

  it("has a scrape job for every job= matcher the metric vocabulary uses", () => {
    const snippet = parse(byPath(render(homelab())).get("prometheus-scrape.yaml") as string);
    expect(snippet.rule_files).toEqual(["rules/*.yaml"]);
    const jobs = snippet.scrape_configs.map((j: { job_name: string }) => j.job_name);
    const wanted = new Set(
      Object.values(METRICS).flatMap((m) => [...m.promql.matchAll(/job="(lab-[a-z-]+)"/g)].map((x) => x[1])),
    );
    expect(wanted.size).toBeGreaterThanOrEqual(6);
    for (const job of wanted) expect(jobs).toContain(job);
    const tcp = snippet.scrape_configs.find((j: { job_name: string }) => j.job_name === "lab-blackbox-tcp");
    expect(tcp.params).toEqual({ module: ["tcp_connect"] });
    expect(tcp.relabel_configs.at(-1)).toEqual({
      target_label: "__address__",
      replacement: "127.0.0.1:9115",
    });
  });
});

// ---------------------------------------------------------------------------------------------
// The real promtool.

function promtool(args: string[], cwd: string): { code: number | null; output: string } {
  const bin = [
    "/usr/bin/promtool",
    ...(process.env.PATH ?? "").split(":").map((d) => join(d, "promtool")),
  ].find((p) => existsSync(p));
  if (!bin) throw new Error("promtool is not installed: apt-get install -y prometheus");
  const r = spawnSync(bin, args, { cwd, encoding: "utf8", timeout: 120_000 });
  if (r.error) throw new Error(`promtool could not run (${r.error.message}): apt-get install -y prometheus`);
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

describe("promtool accepts the output", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "lab-prom-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const write = (into: string, files: RenderedFile[]) => {
    for (const f of files) {
      mkdirSync(dirname(join(into, f.path)), { recursive: true });
      writeFileSync(join(into, f.path), f.content);
    }
  };

  for (const [name, model] of [
    ["homelab", () => homelab()],
    ["small", () => modelOf(SMALL)],
  ] as const) {
    it(`${name}: every rule file passes promtool check rules; the snippet makes a valid prometheus.yml`, () => {
      const out = join(dir, name);
      const files = renderPrometheus(new Fleet(model()), { baseDir: out });
      write(out, files);
      const ruleFiles = files.filter((f) => f.path.startsWith("rules/")).map((f) => join(out, f.path));
      expect(ruleFiles.length).toBeGreaterThan(0);
      const rules = promtool(["check", "rules", ...ruleFiles], out);
      expect(rules.output).toContain("SUCCESS");
      expect(rules.code, rules.output).toBe(0);

      const snippet = parse(files.find((f) => f.path === "prometheus-scrape.yaml")?.content ?? "");
      const config = { global: { scrape_interval: "15s", evaluation_interval: "15s" }, ...snippet };
      writeFileSync(join(dir, `${name}-prometheus.yml`), JSON.stringify(config, null, 2));
      const checked = promtool(["check", "config", join(dir, `${name}-prometheus.yml`)], dir);
      expect(checked.code, checked.output).toBe(0);
      // promtool also checked the rule files the glob finds, one SUCCESS line each.
      expect(checked.output.match(/SUCCESS: \d+ rules found/g)).toHaveLength(ruleFiles.length);
    });
  }
});

describe("cert_expiry, evaluated by promtool test rules", () => {
  it("fires an hour after a certificate has less than a quarter of its life left, never for one that renews", () => {
    const dir = mkdtempSync(join(tmpdir(), "lab-prom-cert-"));
    try {
      const model = modelOf(`
labels:
  web: {}
servers:
  stuck: {provider: ssh, labels: [web], host: 10.0.0.1}
  renewing: {provider: ssh, labels: [web], host: 10.0.0.2}
`);
      const files = renderPrometheus(new Fleet(model));
      const file = files.find((f) => f.path === "rules/auto-identity.yaml");
      expect(file).toBeDefined();
      writeFileSync(join(dir, "rules.yaml"), file?.content ?? "");
      // As lab server exports them: 24 h certificates; "stuck" never renews after t=0, while
      // "renewing" gets a new one every 16 h (at 2/3 of its life), as a running agent does.
      const renewing = (what: "issued" | "expiry") =>
        Array.from({ length: 1501 }, (_, minute) => {
          const issued = Math.floor(minute / 960) * 960 * 60;
          return what === "issued" ? issued : issued + 86_400;
        }).join(" ");
      const tests = {
        rule_files: ["rules.yaml"],
        evaluation_interval: "1m",
        tests: [
          {
            interval: "1m",
            input_series: [
              { series: 'lab_identity_cert_renewed_timestamp_seconds{lab_server="stuck"}', values: "0x1500" },
              {
                series: 'lab_identity_cert_expiry_timestamp_seconds{lab_server="stuck"}',
                values: "86400x1500",
              },
              {
                series: 'lab_identity_cert_renewed_timestamp_seconds{lab_server="renewing"}',
                values: renewing("issued"),
              },
              {
                series: 'lab_identity_cert_expiry_timestamp_seconds{lab_server="renewing"}',
                values: renewing("expiry"),
              },
            ],
            alert_rule_test: [
              // 17 h: 7 h of 24 left (29 %), nothing is due.
              { eval_time: "17h", alertname: "cert_expiry", exp_alerts: [] },
              // 18h30: under 25 % for half an hour: pending, not yet firing.
              { eval_time: "18h30m", alertname: "cert_expiry", exp_alerts: [] },
              // 19h30: under 25 % for more than the rule's hour: firing, for "stuck" only.
              {
                eval_time: "19h30m",
                alertname: "cert_expiry",
                exp_alerts: [
                  {
                    exp_labels: { lab_server: "stuck", severity: "warning", lab_alert: "cert_expiry" },
                    exp_annotations: {
                      summary:
                        "cert_expiry on stuck: the machine's certificate expires soon and did not renew",
                      // At 19h30, 4h30 of 24 h are left: promtool compares the text exactly.
                      description: descriptionAt(file?.content ?? "", 18.75),
                    },
                  },
                ],
              },
            ],
          },
        ],
      };
      writeFileSync(join(dir, "tests.yaml"), JSON.stringify(tests, null, 2));
      const r = promtool(["test", "rules", "tests.yaml"], dir);
      expect(r.output).toContain("SUCCESS");
      expect(r.code, r.output).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The rendered description template with `{{ $value }}` filled in as Prometheus prints it. */
function descriptionAt(rules: string, value: number): string {
  const doc = parse(rules) as { groups: { rules: { annotations: { description: string } }[] }[] };
  const template = doc.groups[0]?.rules[0]?.annotations.description ?? "";
  return template.replace("{{ $value }}", String(value));
}

describe("scale", () => {
  it("renders a 10,000-server, 2,000-alert fleet (reports the time, asserts nothing on it)", () => {
    const generated = generateFleet();
    const { model, diagnostics } = parseSources(fleetFiles(generated));
    expect(diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const fleet = new Fleet(model);
    const t0 = performance.now();
    fleet.resolveAll(); // the engine's share, computed once per Fleet and reported apart
    const t1 = performance.now();
    const { files, skipped } = renderPrometheusReport(fleet);
    const t2 = performance.now();
    const second = renderPrometheusReport(fleet).files;
    expect(second).toEqual(files);
    const ruleCount = rules(files).length;
    const bytes = files.reduce((n, f) => n + Buffer.byteLength(f.content), 0);
    console.log(
      `renderPrometheus: ${model.server.size} servers, ${model.alert.size} alerts → ${files.length} files, ` +
        `${ruleCount} rules, ${(bytes / 1e6).toFixed(1)} MB, ${skipped.length} servers skipped; resolveAll ${(t1 - t0).toFixed(0)} ms, ` +
        `then placement + render ${(t2 - t1).toFixed(0)} ms`,
    );
    expect(model.server.size).toBe(10_000);
    expect(ruleCount).toBeGreaterThan(0);
  }, 300_000);
});

// ---------------------------------------------------------------------------------------------
// PrometheusHealth against a fake Prometheus.

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

async function fakePrometheus(handler: Handler): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

const vector = (result: { metric: Record<string, string>; value: string }[]) =>
  JSON.stringify({
    status: "success",
    data: { resultType: "vector", result: result.map((r) => ({ ...r, value: [1, r.value] })) },
  });

function prometheusAnswering(
  alerts: { metric: Record<string, string>; value: string }[],
  up: { metric: Record<string, string>; value: string }[],
  active: unknown[],
): Handler {
  return (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    res.setHeader("content-type", "application/json");
    if (url.pathname === "/api/v1/alerts") {
      res.end(JSON.stringify({ status: "success", data: { alerts: active } }));
    } else if (url.pathname === "/api/v1/query" && url.searchParams.get("query") === "ALERTS") {
      res.end(vector(alerts));
    } else if (url.pathname === "/api/v1/query" && url.searchParams.get("query") === 'up{job="lab-node"}') {
      res.end(vector(up));
    } else {
      res.statusCode = 400;
      res.end(JSON.stringify({ status: "error", errorType: "bad_data", error: "unexpected query" }));
    }
  };
}

describe("PrometheusHealth", () => {
  const check = (url: string, servers: string[], timeoutMs = 3000, signal = new AbortController().signal) =>
    new PrometheusHealth({ url, timeoutMs }).check(servers, signal);

  it("maps firing alerts, pending alerts, up == 0 and missing data to servers", async () => {
    const fake = await fakePrometheus(
      prometheusAnswering(
        [
          {
            metric: { alertname: "disk_full", alertstate: "firing", lab_server: "a", severity: "warning" },
            value: "1",
          },
          { metric: { alertname: "loaded", alertstate: "firing", lab_server: "a" }, value: "1" },
          {
            metric: { alertname: "loaded", alertstate: "firing", lab_server: "a", instance: "x" },
            value: "1",
          },
          { metric: { alertname: "disk_full", alertstate: "pending", lab_server: "b" }, value: "1" },
          { metric: { alertname: "other", alertstate: "firing" }, value: "1" },
        ],
        [
          { metric: { lab_server: "a", instance: "10.0.0.1:9100" }, value: "1" },
          { metric: { lab_server: "b", instance: "10.0.0.2:9100" }, value: "1" },
          { metric: { lab_server: "c", instance: "10.0.0.3:9100" }, value: "0" },
        ],
        [
          {
            labels: { alertname: "disk_full", lab_server: "a" },
            annotations: { summary: "disk_full on a: disk nearly full" },
            state: "firing",
            value: "9.25e+01",
          },
        ],
      ),
    );
    try {
      const reports = await check(fake.url, ["a", "b", "c", "d"]);
      expect(reports.map((r) => [r.server, r.state, r.summary])).toEqual([
        ["a", "warning", "2 alrt"],
        ["b", "ok", "ok"],
        ["c", "failed", "down"],
        ["d", "unknown", "unknown"],
      ]);
      expect(reports[0]?.findings).toEqual([
        { alert: "disk_full", state: "firing", value: 92.5, detail: "disk_full on a: disk nearly full" },
        { alert: "loaded", state: "firing" },
      ]);
      expect(reports[1]?.findings).toEqual([{ alert: "disk_full", state: "pending" }]);
      expect(reports[2]?.findings).toEqual([
        { alert: "up", state: "firing", value: 0, detail: "node_exporter at 10.0.0.3:9100 does not answer" },
      ]);
      expect(reports[3]?.reason).toContain('no up{job="lab-node"} series');
      // The reason also travels as a finding: stored verdicts keep findings only.
      expect(reports[3]?.findings).toEqual([
        { alert: "prometheus", state: "pending", detail: reports[3]?.reason },
      ]);
    } finally {
      await fake.close();
    }
  });

  it("reports every server unknown, with the reason, when Prometheus is down", async () => {
    const fake = await fakePrometheus(() => {});
    const url = fake.url;
    await fake.close();
    const reports = await check(url, ["a", "b"]);
    expect(reports.map((r) => r.state)).toEqual(["unknown", "unknown"]);
    expect(reports[0]?.reason).toMatch(/unreachable \(ECONNREFUSED\)/);
  });

  it("gives up after the timeout when Prometheus does not answer, or stops mid-answer", async () => {
    const silent = await fakePrometheus(() => {}); // never answers
    const stalled = await fakePrometheus((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"status":"success","data":'); // and never finishes
    });
    try {
      for (const fake of [silent, stalled]) {
        const reports = await check(fake.url, ["a"], 300);
        expect(reports).toEqual([
          {
            server: "a",
            state: "unknown",
            summary: "unknown",
            findings: [
              {
                alert: "prometheus",
                state: "pending",
                detail: `Prometheus at ${fake.url} did not answer within 300 ms`,
              },
            ],
            reason: `Prometheus at ${fake.url} did not answer within 300 ms`,
          },
        ]);
      }
    } finally {
      await silent.close();
      await stalled.close();
    }
  }, 20_000);

  it("reports garbage, errors and cancellation as unknown, never throwing", async () => {
    const answers: Record<string, Handler> = {
      html: (_q, res) => res.end("<html>hello</html>"),
      shape: (_q, res) =>
        res.end(JSON.stringify({ status: "success", data: { resultType: "matrix", result: [] } })),
      samples: (_q, res) =>
        res.end(
          JSON.stringify({ status: "success", data: { resultType: "vector", result: [{ metric: 3 }] } }),
        ),
      error: (_q, res) => {
        res.statusCode = 503;
        res.end(JSON.stringify({ status: "error", errorType: "unavailable", error: "TSDB not ready" }));
      },
    };
    const reasons: Record<string, string | undefined> = {};
    for (const [name, handler] of Object.entries(answers)) {
      const fake = await fakePrometheus(handler);
      try {
        const [report] = await check(fake.url, ["a"]);
        expect(report?.state).toBe("unknown");
        reasons[name] = report?.reason;
        expect(report?.findings).toEqual([{ alert: "prometheus", state: "pending", detail: report?.reason }]);
      } finally {
        await fake.close();
      }
    }
    expect(reasons.html).toContain('something that is not JSON: "<html>hello</html>"');
    expect(reasons.shape).toContain("did not return an instant vector");
    expect(reasons.samples).toContain("is malformed");
    expect(reasons.error).toContain("HTTP 503");
    expect(reasons.error).toContain("TSDB not ready");

    const fake = await fakePrometheus(() => {});
    try {
      const controller = new AbortController();
      const pending = check(fake.url, ["a"], 60_000, controller.signal);
      setTimeout(() => controller.abort(), 50);
      const [report] = await pending;
      expect(report?.reason).toBe("the health check was cancelled");
      const [already] = await check(fake.url, ["a"], 60_000, AbortSignal.abort());
      expect(already?.reason).toContain("cancelled");
    } finally {
      await fake.close();
    }

    const throwing = new PrometheusHealth({
      url: "http://127.0.0.1:1",
      fetch: () => {
        throw new TypeError("boom");
      },
    });
    const [thrown] = await throwing.check(["a"], new AbortController().signal);
    expect(thrown?.state).toBe("unknown");
    expect(thrown?.reason).toContain("boom");
  }, 20_000);
});
