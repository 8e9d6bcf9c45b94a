/**
 * `lab agent` (the machine-side daemon), `lab exec NAME -- CMD…`, `lab identity
 * list|renew|revoke` and `lab join-token create`. Identity commands work locally (on the
 * state database) or through the server; `exec` needs the server, which holds the channel.
 */
import http from "node:http";
import https from "node:https";
import { constants } from "node:os";
import { join } from "node:path";
import { CATALOGUE, DNS_AFTER_REVOKE, type DnsState, type LabCode, LabError } from "@lab/core";
import { type Command, Option } from "commander";
import { actor, labHome, type Session } from "../context.js";
import type { Style } from "../output/style.js";
import { renderTable } from "../output/table.js";
import type { Format, IO } from "../program.js";

export interface AgentCommandsContext {
  io: IO;
  print: (s: string) => void;
  emit: (format: Format, data: unknown, human: () => string) => void;
  out: Style;
  open: () => Promise<Session>;
  /** Sets the process exit code when the command succeeded (exec: the remote command's code). */
  setExitCode: (code: number) => void;
}

/** How the agents list looks (the API's `GET /api/v1/agents` rows). */
interface AgentRow {
  name: string;
  state: string;
  ipv4: string | null;
  version: string | null;
  certNotAfter: string;
  lastSeenAt: string | null;
  enrolledAt: string;
  revokedAt: string | null;
}

const DURATION = /^(\d+)(s|m|h)$/;
function seconds(text: string): number {
  const m = DURATION.exec(text);
  if (!m) throw new LabError("LAB_E_USAGE", `"${text}" is not a duration such as 30s, 10m or 1h`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as "s" | "m" | "h"];
}

/** One shell word: arguments are quoted so that `lab exec web -- ls "a b"` means what it says. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_/.:=,+@%-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The command line the agent's shell runs: one argument as written, several quoted. */
export function commandLine(words: string[]): string {
  return words.length === 1 ? (words[0] as string) : words.map(shellQuote).join(" ");
}

export function registerAgentCommands(program: Command, ctx: AgentCommandsContext): void {
  const { io, print } = ctx;

  program
    .command("agent")
    .description("run the Lab agent on this machine: enrol once, then stay connected (mTLS channel)")
    .option("--server <url>", "the Lab API, e.g. https://lab.example:7443")
    .option("--join-token <token>", "one-time join token (visible in ps: prefer --join-token-file)")
    .option("--join-token-file <file>", "file holding the join token; deleted once spent (or LAB_JOIN_TOKEN)")
    .option("--state-dir <dir>", "key, certificate and state", "/var/lib/lab-agent")
    .option("--ca-file <file>", "Lab's CA certificate (trusts the server before enrolment)")
    .option("--name <name>", "this machine's name (default: the short host name)")
    .option("--channel-url <url>", "override the agent channel URL the server gives")
    .option("--heartbeat <duration>", "heartbeat interval, e.g. 30s")
    .option("--host-key-dir <dir>", "where ssh_host_*_key.pub are", "/etc/ssh")
    .option("--report-ipv4 <address>", "the address DNS should have (default: the one that reaches Lab)")
    .option("--backoff-max <duration>", "longest wait between reconnection attempts, e.g. 60s")
    .option("--secrets-env-file <file>", "write entitled secrets as LAB_SECRET_…=… (0600)")
    .option("--secrets-dir <dir>", "one file per entitled secret under DIR (a tmpfs, e.g. /run/secrets)")
    .option("--secrets-refresh <duration>", "how often to refresh secrets from the store", "60s")
    .option("--secret-store <urls...>", "secret stores to fetch from (default: the agent channel's host)")
    .option(
      "--secret-store-listen <host:port>",
      "run a secret-store replica here (machines with the secret-store label)",
    )
    .option("--secret-store-key <file>", "the store's age key, for the replica")
    .option("--secret-store-sync <duration>", "how often the replica follows the server's store", "10s")
    .action(async (_opts: unknown, cmd: Command) => {
      // --server is also the global option: read both.
      const o = cmd.optsWithGlobals() as {
        server?: string;
        joinToken?: string;
        joinTokenFile?: string;
        stateDir: string;
        caFile?: string;
        name?: string;
        channelUrl?: string;
        heartbeat?: string;
        hostKeyDir?: string;
        reportIpv4?: string;
        backoffMax?: string;
        secretsEnvFile?: string;
        secretsDir?: string;
        secretsRefresh?: string;
        secretStore?: string[];
        secretStoreListen?: string;
        secretStoreKey?: string;
        secretStoreSync?: string;
      };
      // The agent's code loads only for this command.
      const { resolveAgentOptions, runAgentUntilSignal } = await import("@lab/agent");
      const options = resolveAgentOptions(o, io.env, (line) => io.stderr.write(`lab agent: ${line}\n`));
      ctx.setExitCode(await runAgentUntilSignal(options));
    });

  program
    .command("exec")
    .description("run a shell command on a machine through its agent; exits with the command's code")
    .argument("<name>", "the machine")
    .argument("<command...>", "the command (put it after --)")
    .option("--timeout <duration>", "kill the command after this long", "10m")
    .action(async (name: string, words: string[], opts: { timeout: string }) => {
      const session = await ctx.open();
      if (!session.remote) {
        throw new LabError(
          "LAB_E_USAGE",
          "lab exec reaches agents through the server: `lab login URL --token …` (or --server URL) first",
        );
      }
      const code = await streamExec(
        session.remote.target,
        name,
        commandLine(words),
        seconds(opts.timeout),
        io,
      );
      ctx.setExitCode(code);
    });

  const identity = program.command("identity").description("machine identities: list, renew, revoke");
  identity
    .command("list")
    .description("enrolled agents and their state")
    .addOption(
      new Option("-o, --output <format>").choices(["table", "wide", "json", "yaml"]).default("table"),
    )
    .action(async (opts: { output: Format }) => {
      const session = await ctx.open();
      const rows: AgentRow[] = session.remote
        ? await session.remote.request<AgentRow[]>("GET", "/api/v1/agents")
        : (await (await local(session)).repo.listAgents()).map((a) => ({
            ...a,
            state: a.revokedAt ? "revoked" : Date.parse(a.certNotAfter) < Date.now() ? "expired" : "enrolled",
          }));
      if (rows.length === 0 && (opts.output === "table" || opts.output === "wide")) {
        io.stderr.write("No agents enrolled.\n");
        return;
      }
      ctx.emit(opts.output, rows, () =>
        renderTable(
          rows,
          [
            { header: "NAME", value: (a) => a.name },
            { header: "STATE", value: (a) => a.state },
            { header: "IPV4", value: (a) => a.ipv4 ?? "-" },
            { header: "CERT EXPIRES", value: (a) => a.certNotAfter.slice(0, 16).replace("T", " ") },
            { header: "LAST SEEN", value: (a) => a.lastSeenAt?.slice(0, 19).replace("T", " ") ?? "never" },
            { header: "VERSION", value: (a) => a.version ?? "-" },
          ],
          ctx.out,
        ),
      );
    });
  identity
    .command("renew")
    .description("issue a new certificate at the agent's next contact (at once if connected)")
    .argument("<name>")
    .action(async (name: string) => {
      const session = await ctx.open();
      if (session.remote) {
        const r = await session.remote.request<{ immediate: boolean }>(
          "POST",
          `/api/v1/agents/${encodeURIComponent(name)}/renew`,
        );
        print(
          `${name}: renewal ${r.immediate ? "requested over the live channel" : "requested for its next contact"}\n`,
        );
        return;
      }
      const { repo, store } = await local(session);
      const agent = await repo.getAgent(name);
      if (!agent) throw new LabError("LAB_E_NOT_FOUND", `no agent "${name}" is enrolled`);
      if (agent.revokedAt)
        throw new LabError("LAB_E_AGENT_REVOKED", `agent "${name}" was revoked at ${agent.revokedAt}`);
      await repo.requestRenewal(name, new Date().toISOString());
      await store.record(
        event(io.env, "agent.renew-request", name, `renewal of ${name}'s certificate requested`),
      );
      print(`${name}: renewal requested (a running server passes it on within its refresh interval)\n`);
    });
  identity
    .command("revoke")
    .description("revoke a machine's identity for good: certificate on the CRL, channel cut, DNS removed")
    .argument("<name>")
    .action(async (name: string) => {
      const session = await ctx.open();
      if (session.remote) {
        const r = await session.remote.request<{
          serials: string[];
          disconnected: boolean;
          dns: DnsState;
        }>("POST", `/api/v1/agents/${encodeURIComponent(name)}/revoke`);
        print(
          `${name} revoked: ${r.serials.length} certificate(s) on the CRL` +
            `${r.disconnected ? ", live connection cut" : ""}${DNS_AFTER_REVOKE[r.dns] ?? ""}\n`,
        );
        return;
      }
      const { repo, store, revokeAgent } = await local(session);
      const r = await revokeAgent(repo, name, { by: actor(io.env) });
      await store.record(
        event(io.env, "agent.revoke", name, `revoked agent ${name} (${r.serials.length} certificates)`),
      );
      print(
        `${name} revoked: ${r.serials.length} certificate(s). A running server puts them on its CRL, ` +
          "cuts the connection and removes DNS within its refresh interval.\n",
      );
    });

  program
    .command("ssh-known-hosts")
    .description("the known_hosts line that makes ssh trust every enrolled machine's host certificate")
    .option("--domain <domain>", "the DNS domain machines are registered in", "lab.internal")
    .option("--pattern <patterns...>", "host patterns the CA vouches for (default: *.DOMAIN)")
    .action(async (opts: { domain: string; pattern?: string[] }) => {
      const session = await ctx.open();
      let publicKey: string;
      if (session.remote) {
        publicKey = (await session.remote.request<{ publicKey: string }>("GET", "/api/v1/identity/ssh-ca"))
          .publicKey;
      } else {
        const { loadOrCreateSshCa } = await import("@lab/identity");
        publicKey = loadOrCreateSshCa(join(labHome(io.env), "server")).publicKeyLine;
      }
      const patterns = opts.pattern ?? [`*.${opts.domain}`];
      print(`@cert-authority ${patterns.join(",")} ${publicKey}\n`);
      io.stderr.write("append it to ~/.ssh/known_hosts (or /etc/ssh/ssh_known_hosts for every user)\n");
    });

  const joinToken = program.command("join-token").description("one-time tokens that let a machine enrol");
  joinToken
    .command("create")
    .description("create a single-use join token for a machine; it is printed once")
    .argument("<name>", "the machine's name (its agent's certificate will carry it)")
    .option("--ttl-minutes <minutes>", "expire after this many minutes", (v) => Number.parseInt(v, 10), 60)
    .action(async (name: string, opts: { ttlMinutes: number }) => {
      const session = await ctx.open();
      let created: { token: string; expiresAt: string };
      if (session.remote) {
        created = await session.remote.request("POST", "/api/v1/join-tokens", {
          name,
          ttlMinutes: opts.ttlMinutes,
        });
      } else {
        const { repo, store, createJoinToken } = await local(session);
        const now = new Date();
        const token = await createJoinToken(repo, {
          name,
          ttlMinutes: opts.ttlMinutes,
          createdBy: actor(io.env),
          now,
        });
        const expiresAt = new Date(now.getTime() + opts.ttlMinutes * 60_000).toISOString();
        await store.record(
          event(io.env, "join-token.create", name, `created a join token for ${name} (expires ${expiresAt})`),
        );
        created = { token, expiresAt };
      }
      print(`${created.token}\n`);
      io.stderr.write(
        `join token for "${name}", single use, expires ${created.expiresAt}: store it now, it is not shown again\n`,
      );
    });
}

async function local(session: Session) {
  const store = session.store;
  if (!store) throw new LabError("LAB_E_INTERNAL", "no local store");
  const [{ identityRepo }, identity] = await Promise.all([import("@lab/store"), import("@lab/identity")]);
  return { store, repo: identityRepo(store), ...identity };
}

function event(env: NodeJS.ProcessEnv, action: string, name: string, summary: string) {
  return {
    actor: actor(env),
    action,
    result: "ok" as const,
    summary,
    changes: [],
    subjects: [`server/${name}`],
  };
}

/**
 * POSTs the command and copies the NDJSON stream to stdout/stderr as it arrives. Resolves to
 * the exit code: the command's own, 128+N for a signal, 124 for a timeout.
 */
export function streamExec(
  target: { url: string; token?: string; caPem?: string },
  name: string,
  command: string,
  timeoutSeconds: number,
  io: IO,
): Promise<number> {
  const url = new URL(`/api/v1/agents/${encodeURIComponent(name)}/exec`, target.url);
  const payload = JSON.stringify({ command, timeoutSeconds });
  const transport = url.protocol === "https:" ? https : http;
  const writeBytes = (stream: IO["stdout"], data: Buffer) =>
    (stream.write as unknown as (b: Uint8Array) => unknown).call(stream, data);
  return new Promise<number>((resolve, reject) => {
    const req = transport.request(
      url,
      {
        method: "POST",
        ...(target.caPem ? { ca: target.caPem } : {}),
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(payload),
          accept: "application/x-ndjson, application/json",
          ...(target.token ? { authorization: `Bearer ${target.token}` } : {}),
        },
      },
      (res) => {
        let buffered = "";
        let outcome: number | LabError | undefined;
        const onLine = (line: string) => {
          if (!line.trim()) return;
          const m = JSON.parse(line) as {
            type: string;
            data?: string;
            code?: number | null;
            signal?: string | null;
            timedOut?: boolean;
            error?: { code?: string; message?: string };
          };
          if (m.type === "stdout" || m.type === "stderr") {
            writeBytes(m.type === "stdout" ? io.stdout : io.stderr, Buffer.from(m.data ?? "", "base64"));
          } else if (m.type === "exit") {
            outcome = m.timedOut ? 124 : typeof m.code === "number" ? m.code : signalCode(m.signal);
            if (m.timedOut)
              io.stderr.write(`lab exec: the command timed out after ${timeoutSeconds}s and was killed\n`);
          } else if (m.type === "error") {
            outcome = labError(m.error, res.statusCode ?? 0);
          }
        };
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          buffered += chunk;
          if ((res.statusCode ?? 0) >= 400) return;
          let nl = buffered.indexOf("\n");
          while (nl >= 0) {
            try {
              onLine(buffered.slice(0, nl));
            } catch (e) {
              req.destroy(e as Error);
              return;
            }
            buffered = buffered.slice(nl + 1);
            nl = buffered.indexOf("\n");
          }
        });
        res.on("end", () => {
          if ((res.statusCode ?? 0) >= 400) {
            let body: { error?: { code?: string; message?: string } } | undefined;
            try {
              body = JSON.parse(buffered);
            } catch {
              body = undefined;
            }
            return reject(labError(body?.error, res.statusCode ?? 0));
          }
          if (outcome === undefined) {
            return reject(
              new LabError("LAB_E_AGENT_DISCONNECTED", `the stream from ${name} ended without an exit code`),
            );
          }
          if (outcome instanceof LabError) reject(outcome);
          else resolve(outcome);
        });
        res.on("error", reject);
      },
    );
    req.on("error", (e) =>
      reject(
        new LabError(
          "LAB_E_UNREACHABLE",
          `cannot reach ${target.url} (${(e as NodeJS.ErrnoException).code ?? e.message})`,
        ),
      ),
    );
    req.end(payload);
  });
}

function signalCode(signal: string | null | undefined): number {
  const n = signal ? (constants.signals as Record<string, number>)[signal] : undefined;
  return n ? 128 + n : 1;
}

function labError(err: { code?: string; message?: string } | undefined, status: number): LabError {
  if (err?.code && err.code in CATALOGUE) return new LabError(err.code as LabCode, err.message ?? "");
  return new LabError(
    status === 401 ? "LAB_E_UNAUTHENTICATED" : "LAB_E_INTERNAL",
    `the server answered ${status}`,
  );
}
