/**
 * `lab apply cluster NAME --servers a,b,c [--agents d,e] [--join]`: the k3s module over SSH, a
 * progress line per operation as it finishes (ok / changed / failed / skipped), then each node's
 * health as k3s reports it. The servers are Lab servers; each is reached at its `host:`.
 * Exit 1 when any operation failed or any node is not ready.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { LabError } from "@lab/core";
import {
  type ApplyClusterResult,
  applyK3sCluster,
  type ClusterRecord,
  type HealthResult,
  type K3sBinary,
  type OpResult,
  sshExecutor,
} from "@lab/modules";
import { SshSession } from "@lab/onboard";
import { labHome } from "../context.js";
import type { Style } from "../output/style.js";
import type { Format } from "../program.js";
import type { CommandContext } from "./command-context.js";

export interface ClusterOptions {
  servers?: string[];
  agents?: string[];
  join?: boolean;
  k3sBinary?: string;
  user: string;
  identityFile?: string;
  sshPort: number;
  output: Format;
}

/**
 * Where applied clusters are recorded until the `clusters:` model kind carries them: one JSON
 * file per cluster under LAB_HOME/clusters (join server and URL, never the token).
 */
export function clusterRecords(env: NodeJS.ProcessEnv) {
  const dir = join(labHome(env), "clusters");
  const path = (name: string) => join(dir, `${name}.json`);
  return {
    get(name: string): ClusterRecord | undefined {
      return existsSync(path(name))
        ? (JSON.parse(readFileSync(path(name), "utf8")) as ClusterRecord)
        : undefined;
    },
    put(rec: ClusterRecord): void {
      mkdirSync(dir, { recursive: true });
      writeFileSync(path(rec.name), `${JSON.stringify(rec, null, 2)}\n`);
    },
  };
}

function binary(opt: string | undefined): K3sBinary {
  if (!opt) throw new LabError("LAB_E_K3S_BINARY", "no k3s binary given (Lab downloads nothing)");
  if (opt === "standin") return { kind: "standin" };
  try {
    return { kind: "file", path: opt, data: readFileSync(opt) };
  } catch (e) {
    throw new LabError(
      "LAB_E_K3S_BINARY",
      `cannot read ${opt} (${(e as NodeJS.ErrnoException).code ?? "error"})`,
    );
  }
}

function defaultIdentity(): string | undefined {
  for (const f of ["id_ed25519", "id_ecdsa", "id_rsa"]) {
    const p = join(homedir(), ".ssh", f);
    if (existsSync(p)) return p;
  }
  return undefined;
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export async function applyCluster(
  ctx: CommandContext & { setExitCode(c: number): void },
  name: string | undefined,
  o: ClusterOptions,
) {
  if (!name || !NAME.test(name))
    throw new LabError("LAB_E_USAGE", "lab apply cluster NAME: a name of lower-case letters, digits and '-'");
  const records = clusterRecords(ctx.io.env);
  const recorded = records.get(name);
  const servers = o.servers ?? recorded?.servers ?? [];
  if (servers.length === 0) throw new LabError("LAB_E_USAGE", "name the cluster's servers: --servers a,b,c");
  const agents = o.agents ?? [];
  const bin = binary(o.k3sBinary);
  const engine = (await ctx.open()).engine;
  const identityFile = o.identityFile ?? defaultIdentity();
  const human = o.output === "table" || o.output === "wide";
  const out = ctx.out;
  if (human && bin.kind === "standin")
    ctx.io.stderr.write(`${out.yellow("⚠")} k3s-standin: no Kubernetes runs; see docs/modules.md\n`);
  let n = 0;
  const result: ApplyClusterResult = await applyK3sCluster({
    name,
    servers,
    agents,
    join: !!o.join,
    binary: bin,
    ...(recorded ? { recorded } : {}),
    async connect(node) {
      const d = await engine.describe(node);
      const host = d.spec.host;
      if (!host)
        throw new LabError(
          "LAB_E_USAGE",
          `server ${node} has no host: in the model; Lab cannot reach it over SSH`,
        );
      const ssh = await SshSession.connect({
        host,
        port: o.sshPort,
        user: o.user,
        ...(identityFile ? { identityFile } : {}),
        ...(process.env.SSH_AUTH_SOCK ? { agent: true } : {}),
      });
      if (human)
        ctx.print(out.dim(`  ${node}: SSH ${o.user}@${host} (host key ${ssh.hostKeyFingerprint})\n`));
      return sshExecutor(ssh, node, host);
    },
    onPlan(p) {
      if (human)
        ctx.print(
          `${out.bold(`cluster ${name}`)}: ${p.mode === "create" ? "create" : "existing"} — ${p.reason} (${p.url})\n`,
        );
    },
    onResult(r) {
      n++;
      if (human) ctx.print(progressLine(n, r, out));
    },
    onHealth(h) {
      if (human) ctx.print(healthLine(h, out));
    },
  });
  records.put(result.record);
  if (!result.ok) ctx.setExitCode(1);
  if (human) ctx.print(summary(result, out));
  else ctx.emit(o.output, result, () => "");
}

const STATUS_WIDTH = 8;

export function progressLine(i: number, r: OpResult, out: Style): string {
  const colour = { ok: out.green, changed: out.yellow, failed: out.red, skipped: out.dim }[r.status];
  const status = colour(r.status.padEnd(STATUS_WIDTH));
  return `[${String(i).padStart(2)}] ${r.node.padEnd(12)} ${r.group.padEnd(10)} ${r.name.padEnd(17)} ${status} ${r.detail}\n`;
}

function healthLine(h: HealthResult, out: Style): string {
  const mark = h.ok ? out.green("✓") : out.red("✗");
  return `health ${h.node.padEnd(12)} ${h.check.padEnd(10)} ${mark} ${h.detail}\n`;
}

function summary(r: ApplyClusterResult, out: Style): string {
  const count = (s: OpResult["status"]) => r.results.filter((x) => x.status === s).length;
  const line = `${count("changed")} changed, ${count("ok")} ok, ${count("failed")} failed, ${count("skipped")} skipped; ${r.health.filter((h) => h.ok).length}/${r.health.length} health checks pass`;
  return `${r.ok ? out.green("✓") : out.red("✗")} cluster ${r.cluster}: ${line}\n`;
}
