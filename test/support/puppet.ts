/**
 * Debian's real Puppet (`puppet apply`) in a throwaway tree: its own confdir, vardir and
 * codedir with directory environments, so a test never touches /etc/puppet. Facts come from
 * a YAML file per certname (`--facts_terminus yaml`): Facter would otherwise probe the machine
 * for a minute and reach for cloud metadata addresses this workplace must not be sent to.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const PUPPET = "/usr/bin/puppet";

export function assertPuppetInstalled(): void {
  if (!existsSync(PUPPET)) {
    throw new Error("Debian's puppet is not installed: apt-get install puppet (scripts/ensure-peers.sh)");
  }
}

export interface PuppetTree {
  dir: string;
  /** Writes modules/<module>/manifests/<file>.pp in every environment named. */
  manifest(environments: string[], module: string, file: string, text: string): void;
  /** The node's facts, as Puppet would have gathered them. */
  facts(certname: string, values: Record<string, unknown>): void;
  apply(opts: ApplyOptions): Promise<{ code: number; output: string }>;
}

export interface ApplyOptions {
  certname: string;
  /** The exec ENC Puppet runs with the certname as its argument. */
  enc: string;
  /** Where Puppet's http report processor posts the run report. */
  reportUrl?: string;
  env?: Record<string, string>;
}

export function puppetTree(): PuppetTree {
  const dir = mkdtempSync(join(tmpdir(), "lab-puppet-"));
  const code = join(dir, "code");
  const vardir = join(dir, "var");
  mkdirSync(join(vardir, "yaml", "facts"), { recursive: true });
  return {
    dir,
    manifest(environments, module, file, text) {
      for (const env of environments) {
        const at = join(code, "environments", env, "modules", module, "manifests");
        mkdirSync(at, { recursive: true });
        writeFileSync(join(at, `${file}.pp`), text);
        mkdirSync(join(code, "environments", env, "manifests"), { recursive: true });
      }
    },
    facts(certname, values) {
      const yaml = [
        "--- !ruby/object:Puppet::Node::Facts",
        `name: ${certname}`,
        "values:",
        ...Object.entries(values).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`),
        "",
      ].join("\n");
      writeFileSync(join(vardir, "yaml", "facts", `${certname}.yaml`), yaml);
    },
    apply(opts) {
      const args = [
        "apply",
        "--confdir",
        join(dir, "conf"),
        "--vardir",
        vardir,
        "--codedir",
        code,
        "--logdir",
        join(dir, "log"),
        "--rundir",
        join(dir, "run"),
        "--node_terminus",
        "exec",
        "--external_nodes",
        opts.enc,
        "--facts_terminus",
        "yaml",
        "--certname",
        opts.certname,
        "--color",
        "false",
        ...(opts.reportUrl ? ["--reports", "http", "--reporturl", opts.reportUrl] : ["--no-report"]),
        "-e",
        "",
      ];
      return new Promise((resolve, reject) => {
        const child = spawn(PUPPET, args, {
          env: { PATH: process.env.PATH, HOME: dir, LANG: "C.UTF-8", ...opts.env },
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
    },
  };
}
