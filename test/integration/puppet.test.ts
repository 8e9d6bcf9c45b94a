/**
 * Lab and real Puppet: Debian's `puppet apply` classifies nodes through Lab's ENC (the CLI's
 * `lab enc`, and the HTTP endpoint through deploy/puppet/lab-enc), and posts its run reports to
 * a real `lab server` with the http report processor. One run succeeds and one fails: the
 * PUPPET pillar, `describe server`'s Puppet block and the event stream follow what Puppet did.
 */
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { labAsyncIn, ROOT, tempHome } from "../support/cli.js";
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
});
