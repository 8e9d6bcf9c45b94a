import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { Fleet } from "./engine.js";
import { isLabError } from "./errors.js";
import { encNode, encYaml, parsePuppetReport, puppetPillar, serverForCertname } from "./puppet.js";
import { modelOf } from "./testing.js";

/** Reports recorded from Debian's puppet 7.23 `puppet apply --reports http` (one run each). */
const recorded = (name: string) =>
  readFileSync(join(import.meta.dirname, "../testdata", `puppet-7.23-report-${name}.yaml`), "utf8");

const fleet = new Fleet(
  modelOf(`
labels:
  tag: {}
  db: { puppet_classes: [postgresql::server, backup::pgbackrest] }
  prod: { puppet_classes: [base::hardening, postgresql::server] }
servers:
  db-1: { provider: baremetal, labels: [tag, db, prod], environment: production, region: eu }
  bare: { provider: baremetal }
  odd: { provider: baremetal, environment: Prod-EU }
  fixed: { provider: baremetal, environment: Prod-EU, attributes: { puppet_environment: prod_eu } }
`),
);

const fails = (f: () => unknown, code: string) => {
  try {
    f();
  } catch (e) {
    expect(isLabError(e) && e.code).toBe(code);
    return (e as Error).message;
  }
  throw new Error(`expected ${code}`);
};

describe("ENC", () => {
  it.each([
    ["db-1", "db-1"],
    ["DB-1.lab.internal", "db-1"],
    ["db-1.example.com", "db-1"],
    ["db-2.lab.internal", undefined],
  ])("certname %s is server %s", (certname, server) => {
    expect(serverForCertname(fleet, certname)).toBe(server);
  });

  it("classes come from the resolution, once each, with the labels they came from; the role is the first classed label", () => {
    const node = encNode(fleet, "db-1.lab.internal");
    expect(node.classes.map((c) => c.name)).toEqual([
      "postgresql::server",
      "backup::pgbackrest",
      "base::hardening",
    ]);
    expect(node.classes[0]?.from.map((f) => f.name)).toEqual(["db", "prod"]);
    expect(node.role).toBe("db");
    expect(node.environment).toBe("production");
    const yaml = encYaml(node);
    expect(yaml).toContain("- postgresql::server # from label db, label prod\n");
    expect(parseYaml(yaml).parameters).toMatchObject({
      lab_server: "db-1",
      lab_role: "db",
      lab_region: "eu",
    });
  });

  it("a server without environment or classes gets Puppet's default environment and no classes", () => {
    expect(parseYaml(encYaml(encNode(fleet, "bare")))).toMatchObject({
      classes: [],
      environment: "production",
    });
  });

  it("an environment Puppet cannot name is refused with a way out; attributes.puppet_environment overrides it", () => {
    expect(fails(() => encNode(fleet, "odd"), "LAB_E_PUPPET_ENVIRONMENT")).toContain('"Prod-EU"');
    expect(encNode(fleet, "fixed").environment).toBe("prod_eu");
  });

  it("an unknown node is LAB_E_NOT_FOUND (Puppet sees a failed lookup, not an empty catalog)", () => {
    fails(() => encNode(fleet, "nobody.lab.internal"), "LAB_E_NOT_FOUND");
  });
});

describe("Puppet run reports", () => {
  it("reads a recorded successful run: status, environment, timing, counts", () => {
    const run = parsePuppetReport(recorded("changed"), "db-1");
    expect(run).toMatchObject({
      server: "db-1",
      certname: "db-1.example.com",
      status: "changed",
      environment: "production",
      puppetVersion: "7.23.0",
      noop: false,
      failures: [],
      catalogErrors: [],
      resources: { total: 8, failed: 0 },
    });
    expect(run.timing.total).toBeGreaterThan(0);
    expect(run.timing.configRetrieval).toBeGreaterThan(0);
    expect(puppetPillar(run)).toEqual({ state: "ok", text: "ok" });
  });

  it("reads a recorded failed run: the failed resource and its message", () => {
    const run = parsePuppetReport(recorded("failed"), "db-1");
    expect(run.status).toBe("failed");
    expect(run.failures).toEqual([
      {
        resource: "File[/nonexistent/dir/x]",
        message: expect.stringContaining("change from 'absent' to 'file' failed"),
      },
    ]);
    expect(run.catalogErrors).toEqual([]);
    expect(puppetPillar(run)).toEqual({ state: "failed", text: "failed (1 failed)" });
  });

  it("a failed run with no failed resource is a catalog error (as an agent reports a compile failure)", () => {
    const run = parsePuppetReport(
      JSON.stringify({
        host: "db-1",
        time: "2026-03-15T14:22:03Z",
        status: "failed",
        logs: [
          {
            level: "err",
            source: "Puppet",
            message:
              "Could not retrieve catalog from remote server: Error 500 on SERVER: Evaluation Error: Unknown variable",
          },
          { level: "notice", source: "Puppet", message: "Applied catalog in 0.01 seconds" },
        ],
      }),
      "db-1",
    );
    expect(run.catalogErrors).toEqual([expect.stringContaining("Could not retrieve catalog")]);
    expect(puppetPillar(run)).toEqual({ state: "failed", text: "failed (catalog)" });
  });

  it.each([
    ["not YAML", "{ a: [", "not YAML or JSON"],
    ["no host", "time: now\nstatus: changed\n", "host"],
    [
      "an unknown status",
      "host: a\ntime: '2026-01-01'\nstatus: exploded\n",
      "status is changed, unchanged or failed",
    ],
    ["a list", "- 1\n- 2\n", "not a Puppet run report"],
  ])("%s is LAB_E_PUPPET_REPORT and says what is wrong", (_name, text, says) => {
    expect(fails(() => parsePuppetReport(text, "x"), "LAB_E_PUPPET_REPORT")).toContain(says);
  });

  it("no report yet is not a status", () => {
    expect(puppetPillar(undefined)).toMatchObject({ state: "none", text: "—" });
  });
});
