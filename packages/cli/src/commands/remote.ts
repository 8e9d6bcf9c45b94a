/** `lab server`, `lab login`, `lab logout` and `lab token …`. */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { type ApiToken, LabError, SCOPES, type Scope } from "@lab/core";
import { type Command, Option } from "commander";
import { configPath, readConfig, writeConfig } from "../config.js";
import { actor, displayPath, labHome, type Session } from "../context.js";
import { HttpClient } from "../http-engine.js";
import { renderTable } from "../output/table.js";
import type { Format } from "../program.js";
import type { CommandContext } from "./command-context.js";

type Ctx = CommandContext;

/** HOST:PORT (IPv6 in brackets). */
export function hostPort(text: string, flag: string): { host: string; port: number } {
  const at = text.lastIndexOf(":");
  const host = text.slice(0, at).replace(/^\[|\]$/g, "") || "0.0.0.0";
  const port = Number(text.slice(at + 1));
  if (at < 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new LabError("LAB_E_USAGE", `${flag} wants HOST:PORT, got "${text}"`);
  }
  return { host, port };
}

/** The boot services' flags (`lab server --pxe`, `lab bastion`). */
export function addPxeFlags(cmd: Command): Command {
  return cmd
    .option("--pxe-interface <if>", "the interface on the machines' network (DHCP binds its subnet)")
    .option("--advertise <ip>", "the address machines reach Lab on (default: the interface's)")
    .option("--boot-port <port>", "plain-HTTP port for iPXE scripts and install files", "7480")
    .addOption(
      new Option("--dhcp <mode>", "proxy: beside your router's DHCP; scoped: only known MACs; off")
        .choices(["proxy", "scoped", "off"])
        .default("proxy"),
    )
    .option("--dhcp-pool <range>", "scoped mode: addresses for known machines, e.g. 10.0.0.100-10.0.0.200")
    .option("--dhcp-router <ip>", "scoped mode: the default gateway handed out")
    .option("--dhcp-dns <ips>", "scoped mode: DNS servers handed out (comma-separated)")
    .option("--discover", "boot unknown machines into the discovery image (inventory, then power off)")
    .option("--tftp-port <port>", "TFTP port for the iPXE binaries", "69")
    .option("--no-tftp", "do not serve TFTP (machines that already run iPXE, or UEFI HTTP boot)")
    .option("--syslog-port <port>", "install log listener (UDP and TCP)", "5514")
    .option("--ipxe-dir <dir>", "where the iPXE binaries are", "/usr/lib/ipxe")
    .option("--ssh-keys <file>", "authorized_keys put into every installed system")
    .option(
      "--talos-port <port>",
      "the port Talos nodes' maintenance API answers on (push installs)",
      "50000",
    );
}

/** `lab server`'s boot-service flags, as commander parses them. */
export interface PxeFlags {
  pxeInterface?: string;
  advertise?: string;
  bootPort: string;
  dhcp: "proxy" | "scoped" | "off";
  dhcpPool?: string;
  dhcpRouter?: string;
  dhcpDns?: string;
  discover?: boolean;
  tftpPort: string;
  tftp: boolean;
  syslogPort: string;
  ipxeDir: string;
  sshKeys?: string;
  talosPort: string;
}

export function pxeOptions(o: PxeFlags) {
  const [start, end] = (o.dhcpPool ?? "").split("-");
  if (o.dhcpPool && (!start || !end)) {
    throw new LabError("LAB_E_USAGE", `--dhcp-pool wants FIRST-LAST, got "${o.dhcpPool}"`);
  }
  const keys = o.sshKeys
    ? readFileSync(resolve(o.sshKeys), "utf8")
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith("#"))
    : [];
  return {
    interface: o.pxeInterface,
    advertise: o.advertise,
    bootPort: Number(o.bootPort),
    dhcp: {
      mode: o.dhcp,
      ...(start && end ? { pool: { start, end } } : {}),
      ...(o.dhcpRouter ? { router: o.dhcpRouter } : {}),
      ...(o.dhcpDns ? { dns: o.dhcpDns.split(",") } : {}),
    },
    discover: Boolean(o.discover),
    tftp: { enabled: o.tftp, port: Number(o.tftpPort) },
    syslog: { enabled: true, port: Number(o.syslogPort) },
    ipxeDir: o.ipxeDir,
    sshAuthorizedKeys: keys,
    talosPort: Number(o.talosPort),
  };
}

async function dnsRegistrar(o: {
  dnsUpdate?: string;
  dnsZone: string;
  dnsNetwork?: string;
  dnsTsigFile?: string;
}) {
  const { Rfc2136Registrar } = await import("@lab/identity");
  const { host, port } = hostPort(o.dnsUpdate ?? "", "--dns-update");
  if (!o.dnsTsigFile)
    throw new LabError("LAB_E_USAGE", "--dns-update needs --dns-tsig-file (name:base64secret)");
  const line = readFileSync(resolve(o.dnsTsigFile), "utf8").trim();
  const colon = line.indexOf(":");
  if (colon < 1) throw new LabError("LAB_E_USAGE", `${o.dnsTsigFile} must hold one line name:base64secret`);
  return new Rfc2136Registrar({
    server: host,
    port,
    zone: o.dnsZone,
    ...(o.dnsNetwork ? { network: o.dnsNetwork } : {}),
    key: { name: line.slice(0, colon), algorithm: "hmac-sha256", secret: line.slice(colon + 1) },
  });
}

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0)
    throw new LabError("LAB_E_USAGE", `${flag}: expected a whole number above 0, got "${text}"`);
  return n;
}

/** A retention age: no timer waits this long, so it may exceed 24 days. */
function retentionAge(text: string): number {
  const m = DURATION.exec(text);
  if (!m || Number(m[1]) <= 0)
    throw new LabError("LAB_E_USAGE", `--log-retention: "${text}" is not a duration such as 2h, 7d or 90d`);
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "s" | "m" | "h" | "d"];
}

const DURATION = /^(\d+)(s|m|h|d)$/;
function parseDuration(text: string): number {
  const m = DURATION.exec(text);
  if (!m) throw new LabError("LAB_E_USAGE", `"${text}" is not a duration such as 30s, 15m, 1h or 1d`);
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "s" | "m" | "h" | "d"];
  const ms = Number(m[1]) * unit;
  // Node's timers overflow past 2^31-1 ms (~24.8 days) and would then fire every millisecond.
  if (ms > 2_147_483_647)
    throw new LabError("LAB_E_USAGE", `"${text}" is longer than timers allow (at most 24d)`);
  if (ms <= 0) throw new LabError("LAB_E_USAGE", `"${text}" must be longer than zero`);
  return ms;
}

export function registerRemoteCommands(program: Command, ctx: Ctx): void {
  const { io, print } = ctx;

  const server = program
    .command("server")
    .description("run the Lab daemon: REST + WebSocket API on 7443 (TLS), events, metrics")
    .option("--listen <host:port>", "address to listen on", "0.0.0.0:7443")
    .option("--db <location>", "postgres://… or a SQLite file (default: LAB_HOME/state.db)")
    .option("--insecure-http", "plain HTTP, for loopback development only")
    .option("--san <names...>", "extra names or addresses for the server certificate")
    .option("--snapshot-interval <duration>", "automatic SQLite snapshots every …", "1h")
    .option("--snapshot-keep <n>", "snapshots to keep", "24")
    .option("--prometheus <url>", "read alert verdicts from this Prometheus (e.g. http://127.0.0.1:9090)")
    .option("--naemon-status <file>", "read check results from this Naemon/Nagios status.dat")
    .option("--probe-ports", "probe every server's declared ports continuously")
    .option("--health-interval <duration>", "how often to collect health", "30s")
    .option("--pxe", "serve network boots: boot HTTP, DHCP, TFTP and syslog (see docs/pxe.md)");
  addPxeFlags(server)
    .option("--agent-listen <host:port>", "the agent channel (mTLS; default: the API's host, port 7444)")
    .option("--agent-cert-lifetime <duration>", "lifetime of agent certificates; agents renew at 2/3", "24h")
    .option("--dns-update <host:port>", "register enrolled machines in this DNS server (RFC 2136)")
    .option("--dns-zone <zone>", "the forward zone for --dns-update", "lab.internal")
    .option("--dns-network <cidr>", "the network whose reverse zone gets PTR records")
    .option("--dns-tsig-file <file>", "TSIG key for --dns-update: one line name:base64secret (hmac-sha256)")
    .option("--otel-file <files...>", "tail these OpenTelemetry collector file-exporter outputs (logs)")
    .option("--log-retention <duration>", "keep log events in the store this long (e.g. 2h, 7d)", "7d")
    .option("--log-retention-events <n>", "keep at most this many log events in the store", "1000000")
    .option("--log-ring <n>", "log events held in memory for live search and resume", "100000")
    .option("--disable-source <names...>", "event sources (names or kinds) that start switched off")
    .option("--loki <url>", "follow a Loki tail (ws://host:3100/loki/api/v1/tail?query=…) into the pipeline")
    .option("--power-poll <duration>", "how often declared power controllers are asked (0: never)", "10s")
    .option(
      "--puppet-modulepath <dirs>",
      "Puppet modules scanned for lab::secret() (default LAB_PUPPET_MODULEPATH)",
    )
    .action(
      async (
        opts: PxeFlags & {
          listen: string;
          db?: string;
          insecureHttp?: boolean;
          san?: string[];
          snapshotInterval: string;
          snapshotKeep: string;
          prometheus?: string;
          naemonStatus?: string;
          probePorts?: boolean;
          healthInterval: string;
          pxe?: boolean;
          agentListen?: string;
          agentCertLifetime: string;
          dnsUpdate?: string;
          dnsZone: string;
          dnsNetwork?: string;
          dnsTsigFile?: string;
          puppetModulepath?: string;
          secretsGit?: string;
          otelFile?: string[];
          logRetention: string;
          logRetentionEvents: string;
          logRing: string;
          disableSource?: string[];
          loki?: string;
          powerPoll: string;
        },
      ) => {
        const { host, port } = hostPort(opts.listen, "--listen");
        const home = labHome(io.env);
        // The daemon's code loads only for this command: every other command starts faster.
        const { startServer } = await import("@lab/server");
        const { NaemonHealth, PrometheusHealth, RENDERERS } = await import("@lab/monitor");
        const server = await startServer({
          home,
          db: opts.db,
          host,
          port,
          tls: !opts.insecureHttp,
          san: opts.san,
          snapshots: { intervalMs: parseDuration(opts.snapshotInterval), keep: Number(opts.snapshotKeep) },
          renderers: RENDERERS,
          healthSources: [
            ...(opts.prometheus ? [new PrometheusHealth({ url: opts.prometheus })] : []),
            ...(opts.naemonStatus ? [new NaemonHealth({ statusFile: opts.naemonStatus })] : []),
          ],
          probePorts: opts.probePorts,
          healthIntervalMs: parseDuration(opts.healthInterval),
          pxe: opts.pxe ? pxeOptions(opts) : undefined,
          // Beside the API: 7444, or a free port when the API takes one (tests, replicas).
          agent: opts.agentListen
            ? hostPort(opts.agentListen, "--agent-listen")
            : { host, port: port === 0 ? 0 : 7444 },
          agentCertLifetimeMs: parseDuration(opts.agentCertLifetime),
          dns: opts.dnsUpdate ? await dnsRegistrar(opts) : undefined,
          secrets: {
            modulePath: (opts.puppetModulepath ?? io.env.LAB_PUPPET_MODULEPATH ?? "")
              .split(":")
              .filter(Boolean),
            env: io.env,
            gitUrl: opts.secretsGit,
          },
          otelFiles: opts.otelFile,
          logRetention: {
            maxAgeMs: retentionAge(opts.logRetention),
            maxRows: positiveInt(opts.logRetentionEvents, "--log-retention-events"),
          },
          logRingSize: positiveInt(opts.logRing, "--log-ring"),
          disabledSources: opts.disableSource,
          loki: opts.loki ? [opts.loki] : undefined,
          powerPollMs: opts.powerPoll === "0" ? 0 : parseDuration(opts.powerPoll),
          log: (line) => print(`${line}\n`),
        });
        if (server.caPem) {
          print(`\nClients trust this CA (also at ${server.caPath}):\n${server.caPem}`);
        }
        const token = server.adminTokenPath ? `$(cat ${server.adminTokenPath})` : "<token>";
        const ca = server.caPath ? ` --ca-file ${server.caPath}` : "";
        print(
          `\nPoint the CLI at it:  lab login ${server.url.replace("0.0.0.0", "127.0.0.1")} --token ${token}${ca}\n`,
        );
        // So that `lab server migrate` finds (and stops, or restarts) the daemon serving this home.
        const { writePidFile, removePidFile } = await import("../migrate/local-daemon.js");
        writePidFile(home, { pid: process.pid, url: server.url, argv: process.argv, cwd: process.cwd() });
        print("Ready.\n");
        await new Promise<void>((done) => {
          const stop = (signal: string) => {
            print(`${signal}: stopping (in-flight requests finish first)\n`);
            void server
              .close()
              .then(() => removePidFile(home))
              .then(done);
          };
          process.once("SIGTERM", () => stop("SIGTERM"));
          process.once("SIGINT", () => stop("SIGINT"));
        });
        print("Stopped.\n");
      },
    );

  program
    .command("login")
    .description("point this CLI at a Lab server (checks the token and the certificate first)")
    .argument("<url>", "https://host:7443")
    .requiredOption("--token <token>", "an API token (from `lab token create`, or the server's admin.token)")
    .option("--ca-file <file>", "the server's CA certificate (LAB_HOME/server/ca.crt on the server)")
    .action(async (url: string, opts: { token: string; caFile?: string }) => {
      const ca = opts.caFile ? resolve(opts.caFile) : undefined;
      if (ca && !existsSync(ca)) throw new LabError("LAB_E_FILE_NOT_FOUND", `no CA file at ${ca}`);
      const client = new HttpClient({
        url,
        token: opts.token,
        caPem: ca ? readFileSync(ca, "utf8") : undefined,
      });
      try {
        const who = await client.request<{ name: string; scopes: string[] }>("GET", "/api/v1/whoami");
        const path = writeConfig(
          { mode: "remote", server: url, token: opts.token, ...(ca ? { ca } : {}) },
          io.env,
        );
        print(
          `Logged in to ${url} as token "${who.name}" (${who.scopes.join(",")}); saved in ${displayPath(path)}\n`,
        );
      } finally {
        client.close();
      }
    });

  program
    .command("logout")
    .description("forget the server: commands run locally again")
    .action(() => {
      const config = readConfig(io.env);
      if (!config.server) {
        print("Not logged in: commands already run locally\n");
        return;
      }
      writeConfig({ mode: "local" }, io.env);
      print(`Logged out of ${config.server}; commands run locally (${displayPath(configPath(io.env))})\n`);
    });

  const token = program.command("token").description("API tokens: create, list, revoke");
  token
    .command("create")
    .description("create a token; its secret is printed once")
    .requiredOption("--name <name>", "who or what it is for")
    .addOption(
      new Option(
        "--scope <scopes...>",
        "read, write, admin, puppet (ENC and run reports only) or autosign (Puppet CSR signing only)",
      )
        .choices(SCOPES)
        .default(["read"]),
    )
    .option("--ttl-days <days>", "expire after this many days", (v) => Number.parseInt(v, 10))
    .action(async (opts: { name: string; scope: Scope[]; ttlDays?: number }) => {
      const session = await ctx.open();
      const created = session.remote
        ? await session.remote.request<{ token: string; record: ApiToken }>("POST", "/api/v1/tokens", {
            name: opts.name,
            scopes: opts.scope,
            ...(opts.ttlDays ? { ttlDays: opts.ttlDays } : {}),
          })
        : await createLocally(session, { ...opts, createdBy: actor(io.env) });
      print(`${created.token}\n`);
      io.stderr.write(
        `token ${created.record.id} "${opts.name}" (${opts.scope.join(",")}): store it now, it is not shown again\n`,
      );
    });
  token
    .command("list")
    .description("list tokens (never their secrets)")
    .addOption(
      new Option("-o, --output <format>").choices(["table", "wide", "json", "yaml"]).default("table"),
    )
    .action(async (opts: { output: Format }) => {
      const session = await ctx.open();
      const tokens = session.remote
        ? await session.remote.request<ApiToken[]>("GET", "/api/v1/tokens")
        : await (session.store as NonNullable<Session["store"]>).listTokens();
      ctx.emit(opts.output, tokens, () =>
        renderTable(
          tokens,
          [
            { header: "ID", value: (t) => t.id },
            { header: "NAME", value: (t) => t.name, shrink: true },
            { header: "SCOPES", value: (t) => t.scopes.join(",") },
            { header: "CREATED", value: (t) => t.createdAt.slice(0, 19).replace("T", " ") },
            { header: "LAST USED", value: (t) => t.lastUsedAt?.slice(0, 19).replace("T", " ") ?? "never" },
            {
              header: "STATE",
              value: (t) =>
                t.revokedAt
                  ? "revoked"
                  : t.expiresAt && Date.parse(t.expiresAt) < Date.now()
                    ? "expired"
                    : "active",
            },
          ],
          ctx.out,
        ),
      );
    });
  token
    .command("revoke")
    .description("revoke a token: it is refused from then on")
    .argument("<id>")
    .action(async (id: string) => {
      const session = await ctx.open();
      if (session.remote) await session.remote.request("DELETE", `/api/v1/tokens/${encodeURIComponent(id)}`);
      else {
        const store = session.store as NonNullable<Session["store"]>;
        if (!(await store.revokeToken(id, new Date().toISOString()))) {
          throw new LabError("LAB_E_NOT_FOUND", `token "${id}" not found`);
        }
        await store.record({
          actor: actor(io.env),
          action: "token.revoke",
          result: "ok",
          summary: `revoked token ${id}`,
          changes: [],
          subjects: [`token/${id}`],
        });
      }
      print(`token ${id} revoked\n`);
    });
}

async function createLocally(
  session: Session,
  opts: { name: string; scope: Scope[]; ttlDays?: number; createdBy: string },
): Promise<{ token: string; record: ApiToken }> {
  const store = session.store as NonNullable<Session["store"]>;
  const { createToken } = await import("@lab/server");
  const created = await createToken(store, {
    name: opts.name,
    scopes: opts.scope,
    createdBy: opts.createdBy,
    ttlDays: opts.ttlDays,
  });
  await store.record({
    actor: opts.createdBy,
    action: "token.create",
    result: "ok",
    summary: `created token ${created.record.id} "${opts.name}" (${opts.scope.join(",")})`,
    changes: [],
    subjects: [`token/${created.record.id}`],
  });
  return created;
}
