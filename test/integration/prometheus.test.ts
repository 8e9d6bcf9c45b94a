/**
 * The Prometheus renderer and health source against the real Prometheus and node_exporter
 * (Debian's packages): the rendered rules load and evaluate, the scrape snippet's file_sd and
 * blackbox relabelling produce the targets Lab meant, an alert that fires reaches
 * `PrometheusHealth` as a warning for its server, a model change that stops it clears it after
 * a reload, a dead node_exporter shows as down, and a stopped or frozen Prometheus turns into
 * "unknown" with the reason instead of a hang or an exception.
 *
 * Nothing here passes or fails on timing: every wait is for a state, polled with a deadline
 * that only turns a hang into a failure.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Fleet } from "@lab/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { modelOf } from "../../packages/core/src/testing.js";
import {
  PrometheusHealth,
  type PrometheusHealthReport,
} from "../../packages/monitor/src/health-prometheus.js";
import { renderPrometheus } from "../../packages/monitor/src/prometheus.js";
import {
  freePort,
  type Proc,
  runningPids,
  startNodeExporter,
  startPrometheus,
  stopAllExporters,
  waitFor,
} from "../support/prometheus-process.js";

/** One server on this machine (its node_exporter), one without a host; one alert fires, one never. */
const model = (threshold: number) =>
  modelOf(`
labels:
  mail: {ports: [25, 993]}
servers:
  local: {provider: ssh, labels: [mail], environment: test, host: 127.0.0.1}
  ghost: {provider: ssh}
alerts:
  - name: memory_in_use
    target: {servers: [local, ghost]}
    condition: memory_usage_percent > ${threshold}
    severity: warning
  - name: load_absurd
    target: {servers: [local]}
    condition: load1 > 1000000
`);

interface RulesApi {
  data: {
    groups: { name: string; rules: { name: string; query: string; health: string; state: string }[] }[];
  };
}

interface TargetsApi {
  data: { activeTargets: { labels: Record<string, string>; scrapeUrl: string; health: string }[] };
}

// The polls wait up to 60 s for a state; the tests get longer so a poll, not vitest, reports a hang.
describe("Prometheus, for real", { timeout: 90_000 }, () => {
  let dir: string;
  let out: string;
  let node: Proc;
  let prometheus: Proc;
  let blackboxPort: number;
  const health = () => new PrometheusHealth({ url: prometheus.url });

  const renderInto = (threshold: number) => {
    const files = renderPrometheus(new Fleet(model(threshold)), {
      nodeExporterPort: node.port,
      blackboxAddress: `127.0.0.1:${blackboxPort}`, // nothing listens: the probes fail, the targets show
      baseDir: out,
    });
    for (const f of files) {
      mkdirSync(dirname(join(out, f.path)), { recursive: true });
      writeFileSync(join(out, f.path), f.content);
    }
    return files;
  };

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${prometheus.url}${path}`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    return (await res.json()) as T;
  };

  const rulesNow = async () =>
    (await api<RulesApi>("/api/v1/rules")).data.groups.flatMap((g) =>
      g.rules.map((r) => ({ group: g.name, ...r })),
    );

  /** Polls the health source until `ok(report of local)` holds; returns all reports. */
  const healthUntil = (what: string, ok: (local: PrometheusHealthReport) => boolean) =>
    waitFor(what, async () => {
      const reports = await health().check(["local", "ghost"], new AbortController().signal);
      const local = reports.find((r) => r.server === "local");
      return local && ok(local) ? reports : undefined;
    });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "lab-prometheus-it-"));
    out = join(dir, "rendered");
    node = await startNodeExporter(["meminfo", "loadavg"]);
    blackboxPort = await freePort();
    const files = renderInto(0);
    const snippet = parse(files.find((f) => f.path === "prometheus-scrape.yaml")?.content ?? "");
    const config = { global: { scrape_interval: "1s", evaluation_interval: "1s" }, ...snippet };
    writeFileSync(join(dir, "prometheus.yml"), JSON.stringify(config, null, 2));
    prometheus = await startPrometheus(join(dir, "prometheus.yml"), join(dir, "data"));
  });

  afterAll(async () => {
    await stopAllExporters();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("loads the rendered rules, and they evaluate without errors", async () => {
    const rules = await waitFor("every rule loaded and evaluated", async () => {
      const r = await rulesNow();
      return r.length === 3 && r.every((x) => x.health === "ok") ? r : undefined;
    });
    expect(rules.map((r) => [r.group, r.name]).sort()).toEqual([
      ["lab-auto-identity", "cert_expiry"], // every server with an identity gets it
      ["lab-servers", "load_absurd"],
      ["lab-servers", "memory_in_use"],
    ]);
    expect(rules.find((r) => r.name === "memory_in_use")?.query).toContain('lab_server=~"^(ghost|local)$"');
  });

  it("scrapes node_exporter and sends probes through the blackbox address with the right module", async () => {
    const targets = await waitFor("node target up, probe targets listed", async () => {
      const t = (await api<TargetsApi>("/api/v1/targets")).data.activeTargets;
      const nodeUp = t.some((x) => x.labels.job === "lab-node" && x.health === "up");
      return nodeUp && t.length >= 3 ? t : undefined;
    });
    const node0 = targets.find((t) => t.labels.job === "lab-node");
    expect(node0?.labels).toMatchObject({
      lab_server: "local",
      lab_provider: "ssh",
      lab_environment: "test",
    });
    expect(node0?.labels.instance).toBe(`127.0.0.1:${node.port}`);
    const probe = (job: string) => targets.find((t) => t.labels.job === job);
    const imap = new URL(probe("lab-blackbox-imap")?.scrapeUrl ?? "http://x/");
    expect(imap.host).toBe(`127.0.0.1:${blackboxPort}`);
    expect(imap.pathname).toBe("/probe");
    expect(imap.searchParams.get("module")).toBe("imaps_banner"); // 993 speaks TLS first
    expect(imap.searchParams.get("target")).toBe("127.0.0.1:993");
    expect(probe("lab-blackbox-imap")?.labels).toMatchObject({ instance: "127.0.0.1:993", lab_port: "993" });
    const smtp = new URL(probe("lab-blackbox-smtp")?.scrapeUrl ?? "http://x/");
    expect(smtp.searchParams.get("module")).toBe("smtp_banner");
    expect(smtp.searchParams.get("target")).toBe("127.0.0.1:25");
  });

  it("shows the firing alert as a warning for its server, with the value; no data is unknown", async () => {
    const reports = await healthUntil("memory_in_use firing on local", (r) => r.state === "warning");
    const [local, ghost] = reports;
    expect(local).toMatchObject({ server: "local", state: "warning", summary: "1 alrt" });
    expect(local?.findings).toHaveLength(1);
    const finding = local?.findings[0];
    expect(finding).toMatchObject({ alert: "memory_in_use", state: "firing" });
    expect(finding?.value).toBeGreaterThan(0);
    expect(finding?.value).toBeLessThanOrEqual(100);
    expect(finding?.detail).toContain("memory_in_use on local");
    expect(ghost).toMatchObject({ server: "ghost", state: "unknown", summary: "unknown" });
    expect(ghost?.reason).toContain("no host");
    expect(ghost?.findings).toEqual([{ alert: "prometheus", state: "pending", detail: ghost?.reason }]);
  });

  it("clears the alert after the model changes and Prometheus reloads", async () => {
    renderInto(100); // memory in use is never above 100%
    prometheus.signal("SIGHUP");
    await waitFor("the new rule loaded", async () => {
      const r = await rulesNow();
      return r.some((x) => x.name === "memory_in_use" && x.query.endsWith("> 100")) ? r : undefined;
    });
    const [local] = await healthUntil("local ok again", (r) => r.state === "ok");
    expect(local).toMatchObject({ server: "local", state: "ok", summary: "ok", findings: [] });
  });

  it("shows a server whose node_exporter stopped as down", async () => {
    await node.stop();
    const [local] = await healthUntil("local down", (r) => r.state === "failed");
    expect(local).toMatchObject({ server: "local", state: "failed", summary: "down" });
    expect(local?.findings[0]).toMatchObject({ alert: "up", state: "firing", value: 0 });
    expect(local?.findings[0]?.detail).toContain(`127.0.0.1:${node.port}`);
  });

  it("reports unknown with the reason when Prometheus is frozen or stopped, without hanging", async () => {
    await prometheus.freeze(); // accepts connections (kernel backlog), never answers
    try {
      const t0 = performance.now();
      const frozen = await new PrometheusHealth({ url: prometheus.url, timeoutMs: 1000 }).check(
        ["local", "ghost"],
        new AbortController().signal,
      );
      console.log(
        `frozen Prometheus: unknown after ${(performance.now() - t0).toFixed(0)} ms (timeout 1000 ms)`,
      );
      expect(frozen.map((r) => r.state)).toEqual(["unknown", "unknown"]);
      expect(frozen[0]?.reason).toBe(`Prometheus at ${prometheus.url} did not answer within 1000 ms`);
    } finally {
      prometheus.signal("SIGCONT");
    }

    await prometheus.stop();
    const t0 = performance.now();
    const stopped = await health().check(["local", "ghost"], new AbortController().signal);
    console.log(`stopped Prometheus: unknown after ${(performance.now() - t0).toFixed(0)} ms`);
    expect(stopped.map((r) => [r.server, r.state, r.summary])).toEqual([
      ["local", "unknown", "unknown"],
      ["ghost", "unknown", "unknown"],
    ]);
    expect(stopped[0]?.reason).toBe(`Prometheus at ${prometheus.url} is unreachable (ECONNREFUSED)`);
  });

  it("leaves no process behind", async () => {
    await stopAllExporters();
    expect(runningPids()).toEqual([]);
  });
});
