import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { dirname, join } from "node:path";
import { Fleet, FleetViews, METRICS, parseSources, placeAlerts } from "@lab/core";
import { afterAll, describe, expect, it } from "vitest";
import { modelOf } from "../../core/src/testing.js";
import { NAEMON_COMMANDS, nagiosMainConfig, planNaemon, renderNaemon, retriesFor } from "./naemon.js";
import { INSTALL, NAGIOS, PLUGINS, requireNagios } from "./nagios-testing.js";
import type { RenderedFile } from "./types.js";

const HOMELAB = join(import.meta.dirname, "../../../examples/homelab");

function homelabFiles() {
  return readdirSync(HOMELAB)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => ({ path: f, text: readFileSync(join(HOMELAB, f), "utf8") }));
}

function homelab(reverse = false): Fleet {
  const files = homelabFiles();
  const parsed = parseSources(reverse ? files.reverse() : files);
  expect(parsed.diagnostics).toEqual([]);
  return new Fleet(parsed.model);
}

const byPath = (files: RenderedFile[], path: string) => {
  const f = files.find((x) => x.path === path);
  if (!f) throw new Error(`no ${path} in ${files.map((x) => x.path).join(", ")}`);
  return f.content;
};

/** The `define TYPE { … }` blocks of some object text, as key → value maps. */
function objects(text: string, type: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const m of text.matchAll(new RegExp(`define ${type} \\{\\n([^}]*)\\}`, "g"))) {
    const o: Record<string, string> = {};
    for (const line of (m[1] as string).split("\n")) {
      const t = line.trim();
      if (!t) continue;
      const sp = t.search(/\s/);
      if (sp < 0) o[t] = "";
      else o[t.slice(0, sp)] = t.slice(sp).trim();
    }
    out.push(o);
  }
  return out;
}

/** Every registered object of a type (templates, `register 0`, left out). */
const allOf = (files: RenderedFile[], type: string) =>
  files.flatMap((f) => objects(f.content, type)).filter((o) => o.register !== "0");

const temps: string[] = [];
afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

/** Writes rendered objects plus a minimal main config into a temp dir; returns nagios.cfg's path. */
function installForNagios(files: RenderedFile[]): string {
  requireNagios();
  const dir = mkdtempSync(join(tmpdir(), "lab-naemon-"));
  temps.push(dir);
  const objectsDir = join(dir, "objects");
  for (const f of files) {
    mkdirSync(dirname(join(objectsDir, f.path)), { recursive: true });
    writeFileSync(join(objectsDir, f.path), f.content);
  }
  mkdirSync(join(dir, "checkresults"));
  const main = nagiosMainConfig({
    objectDirs: [objectsDir],
    stateDir: dir,
    pluginDir: PLUGINS,
    user: userInfo().username,
    group: execFileSync("id", ["-gn"], { encoding: "utf8" }).trim(),
  });
  for (const f of main) writeFileSync(join(dir, f.path), f.content);
  return join(dir, "nagios.cfg");
}

function verify(files: RenderedFile[]): { status: number | null; output: string; errors: number | null } {
  const cfg = installForNagios(files);
  const run = spawnSync(NAGIOS, ["-v", cfg], { encoding: "utf8", timeout: 30_000 });
  if (run.error) throw new Error(`could not run ${NAGIOS}: ${run.error.message} (${INSTALL})`);
  const output = `${run.stdout}${run.stderr}`;
  const m = /Total Errors:\s+(\d+)/.exec(output);
  return { status: run.status, output, errors: m ? Number(m[1]) : null };
}

describe("renderNaemon: the homelab", () => {
  const fleet = homelab();
  const files = renderNaemon(fleet);
  const services = allOf(files, "service");

  it("is deterministic: same bytes twice, and whatever order the model files come in", () => {
    expect(renderNaemon(homelab())).toEqual(files);
    expect(renderNaemon(homelab(true))).toEqual(files);
    expect(files.map((f) => f.path)).toEqual([...files.map((f) => f.path)].sort());
  });

  it("writes the fixed files and one services file per naemon placement file", () => {
    expect(files.map((f) => f.path)).toEqual([
      "commands.cfg",
      "hostgroups.cfg",
      "hosts.cfg",
      "services/auto-port.cfg",
      "services/label-k8s-server.cfg",
      "services/label-mailserver.cfg",
      "templates.cfg",
    ]);
  });

  it("gives every server a host, at its address or its name", () => {
    const hosts = objects(byPath(files, "hosts.cfg"), "host");
    expect(hosts.map((h) => h.host_name)).toEqual(
      fleet
        .resolveAll()
        .map((r) => r.name)
        .sort(),
    );
    const mail1 = hosts.find((h) => h.host_name === "mail-1");
    expect(mail1).toMatchObject({
      use: "lab-host",
      address: "10.0.2.21",
      alias: "mail-1 (xcpng, prod, eu-west)",
      _LAB_LABELS: "mailserver,production",
    });
    expect(hosts.find((h) => h.host_name === "worker-5")?.address).toBe("worker-5");
  });

  it("checks mail-1's declared ports 25, 587 and 993 with SMTP and IMAPS checks", () => {
    const mail1 = Object.fromEntries(
      services.filter((s) => s.host_name === "mail-1").map((s) => [s.service_description, s.check_command]),
    );
    expect(mail1).toEqual({
      smtp_25: "lab_check_smtp!25",
      smtp_587: "lab_check_smtp!587",
      imap_993: "lab_check_imaps!993",
      // Label-attached built-ins take the port their label declares for that protocol.
      smtp_connect: "lab_check_smtp!25",
      imap_connect: "lab_check_imaps!993",
    });
  });

  it("checks the other declared ports: HTTP(S) on the app servers, TCP for PostgreSQL and the API server", () => {
    const checks = services.map((s) => `${s.host_name} ${s.service_description} ${s.check_command}`);
    expect(checks).toEqual(
      expect.arrayContaining([
        "api-1 http_80 lab_check_http!80",
        "api-1 https_443 lab_check_https!443",
        "db-3 tcp_5432 lab_check_tcp!5432",
        "gateway-1 tcp_6443 lab_check_tcp!6443",
        "gateway-1 apiserver_healthy lab_check_tcp!6443",
      ]),
    );
  });

  it("renders exactly the naemon placements, once per server, with unique descriptions per host", () => {
    expect(planNaemon(fleet).skipped).toEqual([]);
    const { placements } = placeAlerts(fleet);
    const expected = placements
      .filter((p) => p.backend === "naemon")
      .flatMap((p) => p.servers.map((r) => `${r.name}/${p.alert}`));
    expect(services.map((s) => `${s.host_name}/${s.service_description}`).sort()).toEqual(expected.sort());
    expect(new Set(expected).size).toBe(expected.length);
    expect(placements.some((p) => p.backend === "prometheus")).toBe(true);
    // Nothing Prometheus handles leaks in.
    expect(services.map((s) => s.service_description)).not.toContain("disk_space_low");
    expect(services.map((s) => s.service_description)).not.toContain("mail_queue_length");
  });

  it("says in notes and custom variables where each check came from", () => {
    const smtp = services.find((s) => s.host_name === "mail-1" && s.service_description === "smtp_587");
    expect(smtp?.notes).toBe(
      "critical: port 587 does not answer (smtp_banner == 0 for 2m). from auto port (from port 587). Lab placement auto-port",
    );
    expect(smtp).toMatchObject({
      _LAB_ALERT: "smtp_587",
      _LAB_SEVERITY: "critical",
      _LAB_PLACEMENT: "auto-port",
    });
    const connect = services.find(
      (s) => s.host_name === "mail-2" && s.service_description === "smtp_connect",
    );
    expect(connect?.notes).toContain("from label mailserver");
    // for: 2m → hard after the first failure and two retries a minute apart.
    expect(connect).toMatchObject({ max_check_attempts: "3", retry_interval: "1" });
  });

  it("has hostgroups with exactly `lab show group`'s members (exclusions applied) plus one per environment", () => {
    const views = new FleetViews(fleet);
    const groups = objects(byPath(files, "hostgroups.cfg"), "hostgroup");
    const members = (name: string) => {
      const g = groups.find((x) => x.hostgroup_name === name);
      if (!g) throw new Error(`no hostgroup ${name}`);
      return g.members ? g.members.split(",") : [];
    };
    for (const name of fleet.model.group.keys()) {
      expect(members(name), name).toEqual(
        views
          .group(name)
          .servers.map((s) => s.name)
          .sort(),
      );
    }
    expect(members("eu-infrastructure")).not.toContain("test-box-1"); // exclude: servers
    expect(members("eu-infrastructure")).not.toContain("worker-9"); // exclude: labels [experimental]
    expect(members("eu-west-compute")).not.toContain("legacy-node-3");
    expect(members("lab-env-staging")).toEqual(["worker-3"]);
    expect(groups.map((g) => g.hostgroup_name)).toEqual([
      "all-except-staging",
      "database-tier",
      "eu-infrastructure",
      "eu-west-compute",
      "eu-west-network",
      "eu-west-storage",
      "lab-env-dev",
      "lab-env-prod",
      "lab-env-staging",
      "production",
      "production-mail",
      "replica-set-eu",
    ]);
  });

  it("defines every command a service, a host or a METRICS naemon mapping uses", () => {
    const defined = new Set(objects(byPath(files, "commands.cfg"), "command").map((c) => c.command_name));
    expect([...defined].sort()).toEqual(Object.keys(NAEMON_COMMANDS).sort());
    for (const [metric, info] of Object.entries(METRICS)) {
      if (info.naemon) expect(defined.has(info.naemon.command), metric).toBe(true);
    }
    for (const s of services) expect(defined.has((s.check_command ?? "").split("!")[0] as string)).toBe(true);
    expect(byPath(files, "commands.cfg")).toContain("$USER1$/check_tcp -H $HOSTADDRESS$ -p $ARG1$");
    expect(byPath(files, "commands.cfg")).toContain("$USER1$/check_imap -S -H $HOSTADDRESS$ -p $ARG1$");
  });

  it("passes the real `nagios4 -v` with 0 errors", () => {
    const result = verify(files);
    expect(result.output).toContain("Checked 17 hosts.");
    expect(result.output).toContain(`Checked ${services.length} services.`);
    expect(result.errors, result.output).toBe(0);
    expect(result.status, result.output).toBe(0);
  });

  it("fails `nagios4 -v` when an object is broken (a service with an undefined command)", () => {
    const broken = [
      ...files,
      {
        path: "broken.cfg",
        content:
          "define service {\n  use lab-service\n  host_name mail-1\n  service_description broken\n  check_command lab_check_nothing!1\n}\n",
      },
    ];
    const result = verify(broken);
    expect(result.status).not.toBe(0);
    expect(result.errors).toBeGreaterThan(0);
    expect(result.output).toContain("lab_check_nothing");
  });
});

describe("renderNaemon: edge cases", () => {
  const EDGE = `
labels:
  web: { ports: [80, 8443], alerts: [web_up] }
  mail: { ports: [143, 465] }
  plain: {}
groups:
  nobody: { match: { environment: nowhere }, description: "none; yet $HOME" }
  webs: { match: { labels: [web] }, exclude: { servers: [web-2] } }
alerts:
  - name: web_up
    condition: http_ok == 0
    for: 90s
    severity: critical
    description: "web; down
      again"
    exclude: { servers: [web-2] }
  - name: latency
    target: { labels: [web] }
    condition: network_latency_ms > 40
    backend: naemon
  - name: disk_on_naemon
    target: { servers: [web-1] }
    condition: disk_usage_percent > 90
    backend: naemon
  - name: raw_tcp
    target: { servers: [bare] }
    condition: tcp_connect == 0
servers:
  web-1: { provider: aws, labels: [web], environment: prod, host: 192.0.2.10 }
  web-2: { provider: aws, labels: [web], environment: prod }
  bare: { provider: ssh, labels: [plain] }
  mx: { provider: ssh, labels: [mail], host: 192.0.2.20 }
`;
  const fleet = new Fleet(modelOf(EDGE));
  const files = renderNaemon(fleet);
  const services = allOf(files, "service");
  const on = (host: string) => services.filter((s) => s.host_name === host);

  it("honours an alert's exclusion: web-2 gets the port checks but not web_up", () => {
    expect(on("web-1").map((s) => s.service_description)).toContain("web_up");
    expect(on("web-2").map((s) => s.service_description)).not.toContain("web_up");
    expect(on("web-2").map((s) => s.service_description)).toContain("http_80");
  });

  it("fills the port from the attaching label and the thresholds from the condition", () => {
    expect(on("web-1").find((s) => s.service_description === "web_up")?.check_command).toBe(
      "lab_check_http!80",
    );
    expect(on("web-1").find((s) => s.service_description === "https_8443")?.check_command).toBe(
      "lab_check_https!8443",
    );
    expect(on("web-1").find((s) => s.service_description === "latency")?.check_command).toBe(
      "lab_check_ping!40,20%!80,60%",
    );
  });

  it("picks the TLS-from-the-start variant by port: SMTPS on 465, plain IMAP on 143", () => {
    expect(Object.fromEntries(on("mx").map((s) => [s.service_description, s.check_command]))).toEqual({
      imap_143: "lab_check_imap!143",
      smtp_465: "lab_check_ssmtp!465",
    });
  });

  it("maps for: to soft retries", () => {
    const cases: [string | null, { attempts: number; retry: number }][] = [
      [null, { attempts: 1, retry: 1 }],
      ["30s", { attempts: 2, retry: 1 }],
      ["90s", { attempts: 3, retry: 1 }],
      ["2m", { attempts: 3, retry: 1 }],
      ["10m", { attempts: 11, retry: 1 }],
      ["1h", { attempts: 11, retry: 6 }],
      ["1h30m", { attempts: 11, retry: 9 }],
    ];
    for (const [text, expected] of cases) expect(retriesFor(text), String(text)).toEqual(expected);
    expect(on("web-1").find((s) => s.service_description === "web_up")?.max_check_attempts).toBe("3");
  });

  it("lists what it cannot render instead of writing a broken check", () => {
    const plan = planNaemon(fleet);
    expect(plan.skipped.map((s) => `${s.server} ${s.alert}: ${s.reason}`)).toEqual([
      "bare raw_tcp: tcp_connect needs a port and neither the alert nor a label that attaches it declares one",
    ]);
    // A metric Naemon cannot check is refused earlier, by placement, for every renderer.
    expect(placeAlerts(fleet).unrenderable).toContainEqual({
      alert: "disk_on_naemon",
      reason: "Naemon has no check for disk_usage_percent: route it to prometheus",
      servers: ["web-1"],
    });
    expect(services.map((s) => s.service_description)).not.toContain("disk_on_naemon");
    expect(services.map((s) => s.service_description)).not.toContain("raw_tcp");
  });

  it("keeps free text from breaking the object syntax", () => {
    const notes = on("web-1").find((s) => s.service_description === "web_up")?.notes ?? "";
    expect(notes).toContain("critical: web, down again (http_ok == 0 for 90s)");
    const nobody = objects(byPath(files, "hostgroups.cfg"), "hostgroup").find(
      (g) => g.hostgroup_name === "nobody",
    );
    expect(nobody).toEqual({ hostgroup_name: "nobody", alias: "none, yet HOME" });
  });

  it("renders a server without labels or environment, and an empty hostgroup, that nagios4 accepts", () => {
    const bare = objects(byPath(files, "hosts.cfg"), "host").find((h) => h.host_name === "bare");
    expect(bare).toMatchObject({
      address: "bare",
      alias: "bare (ssh, no environment)",
      _LAB_LABELS: "plain",
    });
    const result = verify(files);
    expect(result.errors, result.output).toBe(0);
    expect(result.status, result.output).toBe(0);
  });

  it("does not duplicate a hostgroup when a Lab group is named like an environment's", () => {
    const f = new Fleet(
      modelOf(`
groups:
  lab-env-prod: { match: { labels: [x] } }
labels:
  x: { ports: [22] }
servers:
  a: { provider: ssh, labels: [x], environment: prod }
  b: { provider: ssh, environment: prod }
`),
    );
    const rendered = renderNaemon(f);
    const groups = objects(byPath(rendered, "hostgroups.cfg"), "hostgroup");
    expect(groups).toEqual([
      { hostgroup_name: "lab-env-prod", alias: "Lab group lab-env-prod", members: "a" },
    ]);
    expect(planNaemon(f).shadowedEnvironments).toEqual(["prod"]);
    expect(verify(rendered).errors).toBe(0);
  });
});
