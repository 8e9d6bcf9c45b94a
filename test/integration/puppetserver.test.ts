/**
 * Debian's real puppetserver (7.9) wired to Lab the way docs/puppet.md says: `autosign =` Lab's
 * autosign executable (`lab puppet autosign` through a real `lab server`, autosign-scoped
 * token), `node_terminus = exec` with deploy/puppet/lab-enc, and `reports = http` posting to
 * lab server. Real `puppet agent -t` runs ask it for certificates: the one whose
 * csr_attributes.yaml carries a Lab join token for its certname is signed and gets the catalog
 * Lab classified; one without a token, one with another machine's token and a replay of a spent
 * token are refused, and each refusal is what puppetserver logged and Lab audited.
 */
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labAsyncIn, ROOT, tempHome } from "../support/cli.js";
import { assertPuppetInstalled, PUPPET } from "../support/puppet.js";
import { type PuppetServer, startPuppetServer } from "../support/puppetserver.js";
import { killAllServers, type ServerProcess, startLabServer } from "../support/server-process.js";

const MODEL = `
labels:
  web:
    puppet_classes: [lab_test::motd]
servers:
  node-1: { provider: baremetal, labels: [web], environment: production }
  node-2: { provider: baremetal, labels: [web], environment: production }
  node-3: { provider: baremetal, labels: [web], environment: production }
  node-4: { provider: baremetal, labels: [web], environment: production }
`;

const MOTD = `class lab_test::motd { notify { "lab motd for \${::lab_server} (role \${::lab_role})": } }`;

const work = mkdtempSync(join(tmpdir(), "lab-puppetserver-test-"));

interface AgentRun {
  code: number;
  output: string;
}

/**
 * One `puppet agent -t` as a fresh machine: its own confdir, ssldir and vardir, its facts from a
 * file (Facter would probe this machine and its cloud metadata address), `waitforcert 0` so an
 * unsigned request ends the run at once instead of polling.
 */
function agent(ps: PuppetServer, certname: string, csrAttributes?: string): Promise<AgentRun> {
  const dir = mkdtempSync(join(work, `agent-${certname}-`));
  const conf = join(dir, "conf");
  const vardir = join(dir, "var");
  mkdirSync(conf, { recursive: true });
  if (csrAttributes !== undefined) writeFileSync(join(conf, "csr_attributes.yaml"), csrAttributes);
  const facts = [
    "--- !ruby/object:Puppet::Node::Facts",
    `name: ${certname}`,
    "values:",
    `  hostname: ${certname.split(".")[0]}`,
    `  fqdn: ${certname}`,
    "",
  ].join("\n");
  for (const yamldir of ["client_yaml", "yaml"]) {
    mkdirSync(join(vardir, yamldir, "facts"), { recursive: true });
    writeFileSync(join(vardir, yamldir, "facts", `${certname}.yaml`), facts);
  }
  const args = [
    "agent",
    "--test",
    "--server",
    ps.host,
    "--serverport",
    String(ps.port),
    "--certname",
    certname,
    "--confdir",
    conf,
    "--vardir",
    vardir,
    "--logdir",
    join(dir, "log"),
    "--rundir",
    join(dir, "run"),
    "--codedir",
    join(dir, "code"),
    "--facts_terminus",
    "yaml",
    "--waitforcert",
    "0",
    "--color",
    "false",
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(PUPPET, args, {
      env: { PATH: process.env.PATH, HOME: dir, LANG: "C.UTF-8" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (c) => {
      output += String(c);
    });
    child.stderr.on("data", (c) => {
      output += String(c);
    });
    child.on("error", reject);
    child.on("close", (c) => resolve({ code: c ?? -1, output }));
  });
}

/** csr_attributes.yaml with the token where docs/puppet.md puts it. */
const withToken = (token: string, as: "challengePassword" | "pp_preshared_key" = "challengePassword") =>
  as === "challengePassword"
    ? `custom_attributes:\n  challengePassword: "${token}"\n`
    : `extension_requests:\n  pp_preshared_key: "${token}"\n`;

describe("a real puppetserver signs through Lab's join tokens and classifies through Lab", {
  timeout: 30 * 60_000,
}, () => {
  let server: ServerProcess;
  let admin: ReturnType<typeof labAsyncIn>;
  let ps: PuppetServer;

  const scoped = async (scope: string) => {
    const r = await admin(["token", "create", "--name", `puppetserver-${scope}`, "--scope", scope]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout
      .trim()
      .split(/\s+/)
      .find((w) => w.startsWith("lab_")) as string;
  };
  const joinToken = async (name: string) => {
    const r = await admin(["join-token", "create", name]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.trim();
  };

  beforeAll(async () => {
    assertPuppetInstalled();
    server = await startLabServer({ home: join(work, "lab") });
    admin = labAsyncIn(tempHome(), { LAB_SERVER: server.url, LAB_TOKEN: server.token as string });
    writeFileSync(join(work, "model.yaml"), MODEL);
    const applied = await admin(["apply", "-f", join(work, "model.yaml")]);
    expect(applied.code, applied.stderr).toBe(0);

    // What an operator installs on the puppetserver (docs/puppet.md): two small wrappers
    // carrying the settings, since puppetserver runs both with its own environment.
    const autosign = join(work, "lab-autosign");
    writeFileSync(
      autosign,
      `#!/bin/sh\nLAB_SERVER=${server.url} LAB_TOKEN=${await scoped("autosign")} LAB_HOME=${join(work, "autosign-home")} exec ${process.execPath} ${join(ROOT, "bin/lab.js")} puppet autosign "$1"\n`,
    );
    chmodSync(autosign, 0o755);
    const puppetToken = await scoped("puppet");
    const tokenFile = join(work, "lab.token");
    writeFileSync(tokenFile, puppetToken);
    const enc = join(work, "lab-enc");
    writeFileSync(
      enc,
      `#!/bin/sh\nLAB_URL=${server.url} LAB_TOKEN_FILE=${tokenFile} exec ${join(ROOT, "deploy/puppet/lab-enc")} "$1"\n`,
    );
    chmodSync(enc, 0o755);

    ps = await startPuppetServer({
      autosign,
      enc,
      settings: {
        reports: "http",
        reporturl: `http://puppet:${puppetToken}@127.0.0.1:${server.port}/api/v1/puppet/reports`,
      },
    });
    ps.manifest("lab_test", "motd", MOTD);
    console.log(`puppetserver answered after ${ps.startMs} ms`);
  }, 20 * 60_000);

  afterAll(async () => {
    await ps?.stop();
    await killAllServers();
    rmSync(work, { recursive: true, force: true });
  });

  it("signs the agent whose csr_attributes.yaml carries its join token; the run is classified by Lab and reported to it", async () => {
    const run = await agent(ps, "node-1.lab.internal", withToken(await joinToken("node-1")));
    // --test implies --detailed-exitcodes: 2 is "changes applied" (the notify), not a failure.
    expect(run.code, run.output).toBe(2);
    expect(run.output).toContain("Info: Downloaded certificate for node-1.lab.internal");
    expect(run.output).toContain("Notice: lab motd for node-1 (role web)");
    expect(ps.output()).toMatch(/Signed certificate request for node-1\.lab\.internal/);

    const rows = JSON.parse((await admin(["get", "servers", "-o", "json"])).stdout) as {
      name: string;
      status: { puppet: { state: string; text: string } };
    }[];
    expect(rows.find((r) => r.name === "node-1")?.status.puppet).toEqual({ state: "ok", text: "ok" });
    const events = JSON.parse((await admin(["get", "events", "-o", "json"])).stdout) as {
      action: string;
      result: string;
      summary: string;
    }[];
    expect(
      events.some(
        (e) =>
          e.action === "puppet.autosign" &&
          e.result === "ok" &&
          e.summary.includes("signed the Puppet CSR of node-1.lab.internal"),
      ),
    ).toBe(true);
  });

  it("signs with the token in pp_preshared_key too", async () => {
    const run = await agent(
      ps,
      "node-2.lab.internal",
      withToken(await joinToken("node-2"), "pp_preshared_key"),
    );
    expect(run.code, run.output).toBe(2);
    expect(run.output).toContain("Notice: lab motd for node-2 (role web)");
  });

  it.each([
    {
      name: "no csr_attributes.yaml",
      certname: "node-3.lab.internal",
      reason: "the CSR carries no join token",
    },
    {
      name: "another machine's join token",
      certname: "node-4.lab.internal",
      token: "node-3",
      reason: 'the join token is for "node-3", not "node-4.lab.internal"',
    },
  ])(
    "refuses an agent with $name: no certificate, the reason in puppetserver's log and Lab's audit",
    async ({ certname, token, reason }) => {
      const run = await agent(ps, certname, token ? withToken(await joinToken(token)) : undefined);
      expect(run.code, run.output).toBe(1);
      expect(run.output).not.toContain(`Downloaded certificate for ${certname}`);
      expect(run.output).toMatch(/Couldn't fetch certificate from CA server|waitforcert/);
      expect(ps.output()).toContain(reason);
      const events = JSON.parse((await admin(["get", "events", "-o", "json"])).stdout) as {
        action: string;
        result: string;
        summary: string;
      }[];
      expect(
        events.some(
          (e) => e.action === "puppet.autosign" && e.result === "error" && e.summary.includes(certname),
        ),
      ).toBe(true);
    },
  );
});
