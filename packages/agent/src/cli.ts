/**
 * Command-line glue shared by `lab agent` and the standalone `lab-agent` executable: where
 * the join token and the CA come from, and running until SIGTERM/SIGINT.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { LabError } from "@lab/core";
import { AGENT_EXIT, AGENT_VERSION, type AgentOptions, runAgent } from "./agent.js";

export interface AgentFlags {
  server?: string;
  joinToken?: string;
  joinTokenFile?: string;
  stateDir?: string;
  caFile?: string;
  name?: string;
  channelUrl?: string;
  heartbeat?: string;
  hostKeyDir?: string;
  reportIpv4?: string;
  backoffMax?: string;
  /** Secrets: where to deliver them and how often to refresh from the store. */
  secretsEnvFile?: string;
  secretsDir?: string;
  secretsRefresh?: string;
  secretStore?: string[];
  /** Run a secret-store replica (machines with the secret-store label). */
  secretStoreListen?: string;
  secretStoreKey?: string;
  secretStoreSync?: string;
}

export const AGENT_USAGE = `Usage: lab-agent --server URL --state-dir DIR [options]

  --server URL            the Lab API, e.g. https://lab.example:7443 (or LAB_AGENT_SERVER)
  --state-dir DIR         key, certificate and state (default /var/lib/lab-agent)
  --join-token-file FILE  a one-time join token (deleted once spent); or LAB_JOIN_TOKEN
  --join-token TOKEN      the same on the command line (visible in ps: prefer the file)
  --ca-file FILE          Lab's CA certificate, to trust the server before enrolment
  --name NAME             this machine's name (default: the short host name)
  --channel-url URL       override the agent channel (default: what the server says)
  --heartbeat DURATION    heartbeat interval, e.g. 30s (default 30s)
  --host-key-dir DIR      where ssh_host_*_key.pub are (default /etc/ssh)
  --report-ipv4 ADDR      the address to put in DNS (default: the one used to reach Lab)
  --backoff-max DURATION  longest wait between reconnection attempts (default 60s)
  --secrets-env-file FILE write entitled secrets as LAB_SECRET_…=… (0600)
  --secrets-dir DIR       one file per entitled secret under DIR (a tmpfs, e.g. /run/secrets)
  --secrets-refresh DUR   how often to refresh secrets from the store (default 60s)
  --secret-store URL      a secret store to fetch from (repeatable; default: the agent channel's host)
  --secret-store-listen HOST:PORT  run a secret-store replica here (the machine has the secret-store label)
  --secret-store-key FILE the store's age key, for the replica
  --secret-store-sync DUR how often the replica follows the server's store (default 10s)

Exit codes: 0 stopped, 1 error, 78 an operator must act (revoked, new join token needed).
`;

const DURATION = /^(\d+)(ms|s|m|h)$/;

/** "30s" → 30000. */
export function parseDuration(text: string): number {
  const m = DURATION.exec(text);
  if (!m) throw new LabError("LAB_E_USAGE", `"${text}" is not a duration such as 500ms, 30s, 5m or 1h`);
  const ms = Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
  if (ms <= 0 || ms > 2_147_483_647) throw new LabError("LAB_E_USAGE", `"${text}" is out of range`);
  return ms;
}

/** Agent options from flags and the environment; reads the token and CA files. */
export function resolveAgentOptions(
  flags: AgentFlags,
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
): AgentOptions {
  const server = flags.server ?? env.LAB_AGENT_SERVER;
  if (!server) throw new LabError("LAB_E_USAGE", "--server URL is required (the Lab API, https://HOST:7443)");
  try {
    new URL(server);
  } catch {
    throw new LabError("LAB_E_USAGE", `--server "${server}" is not a URL`);
  }
  const stateDir = resolve(flags.stateDir ?? env.LAB_AGENT_STATE_DIR ?? "/var/lib/lab-agent");
  let joinToken = flags.joinToken ?? env.LAB_JOIN_TOKEN;
  let tokenFile: string | undefined;
  if (flags.joinTokenFile) {
    tokenFile = resolve(flags.joinTokenFile);
    if (existsSync(tokenFile)) joinToken = readFileSync(tokenFile, "utf8").trim();
    else if (!joinToken) tokenFile = undefined; // already spent and deleted: fine once enrolled
  }
  // Commands the agent runs must not inherit the secret.
  delete env.LAB_JOIN_TOKEN;
  let caPem: string | undefined;
  if (flags.caFile) {
    const file = resolve(flags.caFile);
    // Needed only before enrolment (the state dir keeps the CA after): a missing file is
    // reported by the enrolment itself, as an untrusted server.
    if (existsSync(file)) caPem = readFileSync(file, "utf8");
    else log(`no CA file at ${file}: the server is trusted through the state dir's ca.pem, if any`);
  }
  return {
    server,
    stateDir,
    ...(joinToken ? { joinToken } : {}),
    ...(caPem ? { caPem } : {}),
    ...(flags.name ? { name: flags.name } : {}),
    ...(flags.channelUrl ? { channelUrl: flags.channelUrl } : {}),
    ...(flags.heartbeat ? { heartbeatMs: parseDuration(flags.heartbeat) } : {}),
    ...(flags.hostKeyDir ? { hostKeyDir: flags.hostKeyDir } : {}),
    ...(flags.reportIpv4 ? { reportIpv4: flags.reportIpv4 } : {}),
    ...(flags.backoffMax
      ? {
          backoff: {
            baseMs: Math.min(1000, parseDuration(flags.backoffMax)),
            maxMs: parseDuration(flags.backoffMax),
          },
        }
      : {}),
    secrets: {
      refreshMs: flags.secretsRefresh ? parseDuration(flags.secretsRefresh) : 60_000,
      ...(flags.secretsEnvFile ? { envFile: resolve(flags.secretsEnvFile) } : {}),
      ...(flags.secretsDir ? { filesDir: resolve(flags.secretsDir) } : {}),
      ...(flags.secretStore?.length ? { stores: flags.secretStore } : {}),
    },
    ...(flags.secretStoreListen
      ? {
          secretStore: {
            listen: hostPortOf(flags.secretStoreListen),
            keyFile: resolve(
              flags.secretStoreKey ??
                (() => {
                  throw new LabError("LAB_E_USAGE", "--secret-store-listen needs --secret-store-key FILE");
                })(),
            ),
            ...(flags.secretStoreSync ? { syncMs: parseDuration(flags.secretStoreSync) } : {}),
          },
        }
      : {}),
    onEnrolled: () => {
      // The token is spent: leave no copy of it lying around.
      if (tokenFile) rmSync(tokenFile, { force: true });
    },
    log,
  };
}

/** Runs the agent until SIGTERM/SIGINT (or until it must stop); resolves to the exit code. */
export async function runAgentUntilSignal(opts: AgentOptions): Promise<number> {
  const agent = runAgent(opts);
  const stop = (signal: string) => {
    opts.log?.(`${signal}: stopping`);
    void agent.stop();
  };
  const onTerm = () => stop("SIGTERM");
  const onInt = () => stop("SIGINT");
  process.once("SIGTERM", onTerm);
  process.once("SIGINT", onInt);
  try {
    const exit = await agent.done;
    return exit.code;
  } finally {
    process.off("SIGTERM", onTerm);
    process.off("SIGINT", onInt);
  }
}

/** The standalone executable's main: parses argv, runs, returns the exit code. */
export async function agentMain(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const log = (line: string) => process.stderr.write(`lab-agent: ${line}\n`);
  let flags: AgentFlags;
  try {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        server: { type: "string" },
        "join-token": { type: "string" },
        "join-token-file": { type: "string" },
        "state-dir": { type: "string" },
        "ca-file": { type: "string" },
        name: { type: "string" },
        "channel-url": { type: "string" },
        heartbeat: { type: "string" },
        "host-key-dir": { type: "string" },
        "report-ipv4": { type: "string" },
        "backoff-max": { type: "string" },
        "secrets-env-file": { type: "string" },
        "secrets-dir": { type: "string" },
        "secrets-refresh": { type: "string" },
        "secret-store": { type: "string", multiple: true },
        "secret-store-listen": { type: "string" },
        "secret-store-key": { type: "string" },
        "secret-store-sync": { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
    });
    if (values.help) {
      process.stdout.write(AGENT_USAGE);
      return AGENT_EXIT.stopped;
    }
    if (values.version) {
      process.stdout.write(`${AGENT_VERSION}\n`);
      return AGENT_EXIT.stopped;
    }
    flags = {
      server: values.server,
      joinToken: values["join-token"],
      joinTokenFile: values["join-token-file"],
      stateDir: values["state-dir"],
      caFile: values["ca-file"],
      name: values.name,
      channelUrl: values["channel-url"],
      heartbeat: values.heartbeat,
      hostKeyDir: values["host-key-dir"],
      reportIpv4: values["report-ipv4"],
      backoffMax: values["backoff-max"],
      secretsEnvFile: values["secrets-env-file"],
      secretsDir: values["secrets-dir"],
      secretsRefresh: values["secrets-refresh"],
      secretStore: values["secret-store"],
      secretStoreListen: values["secret-store-listen"],
      secretStoreKey: values["secret-store-key"],
      secretStoreSync: values["secret-store-sync"],
    };
    return await runAgentUntilSignal(resolveAgentOptions(flags, env, log));
  } catch (e) {
    if (e instanceof LabError) {
      log(`error ${e.code}: ${e.message} (${e.hint})`);
      return e.code === "LAB_E_USAGE" || e.code === "LAB_E_FILE_NOT_FOUND" ? 2 : AGENT_EXIT.error;
    }
    log(`error: ${(e as Error).message}\n${AGENT_USAGE}`);
    return 2;
  }
}

/** "127.0.0.1:7445" → host and port. */
function hostPortOf(text: string): { host: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  if (!m?.[1] || port < 1 || port > 65535) throw new LabError("LAB_E_USAGE", `"${text}" is not HOST:PORT`);
  return { host: (m[1] as string).replace(/^\[|\]$/g, ""), port };
}
