/**
 * Debian's real puppetserver (7.9) wired to Lab the way docs/puppet.md says: `autosign =` Lab's
 * autosign executable (`lab puppet autosign` through a real `lab server`, autosign-scoped
 * token), `node_terminus = exec` with deploy/puppet/lab-enc, and `reports = http` posting to
 * lab server. Real `puppet agent -t` runs ask it for certificates: the one whose
 * csr_attributes.yaml carries a Lab join token for its certname is signed and gets the catalog
 * Lab classified; one without a token and one with another machine's token are refused, and
 * each refusal is what puppetserver logged and Lab audited.
 *
 * Every wait is bounded and says what it waited for with the tail of puppetserver's log: the
 * start (test/support/puppetserver.ts), each agent run, each `lab` command, and the autosign
 * executable itself — puppetserver blocks a request thread on it with no time-out of its own.
 * Runs alone or beside other files: puppetserver gets its own port below the ephemeral range.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runToEnd } from "../support/child.js";
import { ROOT, tempHome } from "../support/cli.js";
import { assertPuppetInstalled, PUPPET } from "../support/puppet.js";
import { type PuppetServer, START_GUARD_MS, startPuppetServer } from "../support/puppetserver.js";
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

/** One agent run: its HTTP waits are 60/240 s, so the whole run is bounded well before this. */
const AGENT_BOUND_MS = 6 * 60_000;
/** A `lab` command talking to lab server. */
const LAB_BOUND_MS = 2 * 60_000;

interface AgentRun {
  code: number;
  output: string;
  ms: number;
}

/** The last part of puppetserver's log, for a failure message. */
const psTail = (ps: PuppetServer) => `--- puppetserver log (tail) ---\n${ps.output().slice(-6000)}`;
/** What a failed expectation about an agent run shows: its output and puppetserver's side. */
const why = (run: AgentRun, ps: PuppetServer) => `${run.output}\n${psTail(ps)}`;

/** `lab ARGS` against lab server, killed (and failing, saying so) after LAB_BOUND_MS. */
function labClient(home: string, env: Record<string, string>) {
  return async (args: string[]) => {
    const started = Date.now();
    const r = await runToEnd(process.execPath, [join(ROOT, "bin/lab.js"), ...args], {
      env: { PATH: process.env.PATH ?? "", HOME: home, LAB_HOME: home, LAB_ACTOR: "tester", ...env },
      timeoutMs: LAB_BOUND_MS,
    });
    if (Date.now() - started >= LAB_BOUND_MS) {
      throw new Error(
        `lab ${args.join(" ")} did not finish in ${LAB_BOUND_MS / 1000} s (killed):\n${r.stderr}`,
      );
    }
    return r;
  };
}

/**
 * One `puppet agent -t` as a fresh machine: its own confdir, ssldir, vardir and publicdir (each
 * given: Debian's defaults for ssldir and publicdir do not follow confdir), its facts from a
 * file (Facter would probe this machine and its cloud metadata address), `waitforcert 0` so an
 * unsigned request ends the run at once instead of polling.
 */
async function agent(ps: PuppetServer, certname: string, csrAttributes?: string): Promise<AgentRun> {
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
    // Debian's puppet puts these under /var/lib/puppet and /var/cache/puppet whatever the confdir:
    // a shared ssldir made the second run meet the first run's CA ("certificate verify failed").
    "--ssldir",
    join(dir, "ssl"),
    "--publicdir",
    join(dir, "public"),
    "--facts_terminus",
    "yaml",
    "--waitforcert",
    "0",
    // Puppet's own defaults are 2 min to connect and 10 min per read; fail sooner and clearly.
    "--http_connect_timeout",
    "60",
    "--http_read_timeout",
    "240",
    "--color",
    "false",
  ];
  const started = Date.now();
  const r = await runToEnd(PUPPET, args, {
    env: { PATH: process.env.PATH ?? "", HOME: dir, LANG: "C.UTF-8" },
    timeoutMs: AGENT_BOUND_MS,
  });
  const ms = Date.now() - started;
  const output = r.stdout + r.stderr;
  console.log(`puppet agent -t ${certname}: exit ${r.code} after ${ms} ms`);
  if (ms >= AGENT_BOUND_MS) {
    throw new Error(
      `puppet agent -t for ${certname} did not finish in ${AGENT_BOUND_MS / 60_000} min (killed):\n${output}\n${psTail(ps)}`,
    );
  }
  return { code: r.code, output, ms };
}

/** csr_attributes.yaml with the token where docs/puppet.md puts it. */
const withToken = (token: string, as: "challengePassword" | "pp_preshared_key" = "challengePassword") =>
  as === "challengePassword"
    ? `custom_attributes:\n  challengePassword: "${token}"\n`
    : `extension_requests:\n  pp_preshared_key: "${token}"\n`;

// Vitest's own limits sit above the bounds inside, so a failure shows the inner message.
describe("a real puppetserver signs through Lab's join tokens and classifies through Lab", {
  timeout: AGENT_BOUND_MS + 4 * LAB_BOUND_MS,
}, () => {
  let server: ServerProcess;
  let admin: ReturnType<typeof labClient>;
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

  beforeAll(
    async () => {
      assertPuppetInstalled();
      server = await startLabServer({ home: join(work, "lab"), readyTimeoutMs: LAB_BOUND_MS });
      admin = labClient(tempHome(), { LAB_SERVER: server.url, LAB_TOKEN: server.token as string });
      writeFileSync(join(work, "model.yaml"), MODEL);
      const applied = await admin(["apply", "-f", join(work, "model.yaml")]);
      expect(applied.code, applied.stderr).toBe(0);

      // What an operator installs on the puppetserver (docs/puppet.md): two small wrappers
      // carrying the settings, since puppetserver runs both with its own environment. The
      // autosign one is under `timeout`: puppetserver waits for it with no bound of its own.
      const autosign = join(work, "lab-autosign");
      writeFileSync(
        autosign,
        `#!/bin/sh\nLAB_SERVER=${server.url} LAB_TOKEN=${await scoped("autosign")} LAB_HOME=${join(work, "autosign-home")} exec timeout -k 5 60 ${process.execPath} ${join(ROOT, "bin/lab.js")} puppet autosign "$1"\n`,
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
      console.log(`puppetserver answered "running" on 127.0.0.1:${ps.port} after ${ps.startMs} ms`);
    },
    2 * START_GUARD_MS + 6 * LAB_BOUND_MS,
  );

  afterAll(async () => {
    await ps?.stop();
    await killAllServers();
    rmSync(work, { recursive: true, force: true });
  });

  it("signs the agent whose csr_attributes.yaml carries its join token; the run is classified by Lab and reported to it", async () => {
    const run = await agent(ps, "node-1.lab.internal", withToken(await joinToken("node-1")));
    // --test implies --detailed-exitcodes: 2 is "changes applied" (the notify), not a failure.
    expect(run.code, why(run, ps)).toBe(2);
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
    expect(run.code, why(run, ps)).toBe(2);
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
      expect(run.code, why(run, ps)).toBe(1);
      expect(run.output).not.toContain(`Downloaded certificate for ${certname}`);
      expect(run.output).toMatch(/Couldn't fetch certificate from CA server|waitforcert/);
      // puppetserver logs the executable's stderr and the refusal at WARN (policy executable API).
      expect(ps.output(), psTail(ps)).toContain(reason);
      expect(ps.output()).toContain(
        `rejected certificate '${certname}' because the exit code was 1, not zero`,
      );
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
