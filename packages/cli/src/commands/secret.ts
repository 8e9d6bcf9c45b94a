/**
 * `lab secret set|get|status|audit`, and the secret views of `lab get secrets` / `lab show
 * secret`. Admin commands work on the local vault (local mode) or through the server's API;
 * `lab secret get` is the machine's: it authenticates with the agent's enrolled certificate
 * and reads only what the store's policy lets that machine read.
 *
 * Values never come from argv (they would sit in shell history and `ps`): a no-echo prompt,
 * --from-file or --stdin. Nothing here prints a value except `get`, to stdout, as is.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { LabError } from "@lab/core";
import type {
  AuditReport,
  BackupResult,
  ReplicaState,
  SecretListRow,
  SecretMeta,
  SecretReport,
  SecretsHost,
  SetResult,
} from "@lab/secrets";
import { type Command, Option } from "commander";
import { actor, labHome, type Session } from "../context.js";
import type { Style } from "../output/style.js";
import { renderTable } from "../output/table.js";
import { ago } from "../output/time.js";
import { treeLines } from "../output/tree.js";
import type { Format, IO } from "../program.js";

export interface SecretCommandsContext {
  io: IO;
  print: (s: string) => void;
  emit: (format: Format, data: unknown, human: () => string) => void;
  out: Style;
  open: () => Promise<Session>;
}

const DEFAULT_STATE_DIR = "/var/lib/lab-agent";

/** Admin-side access: the local vault, or the server's API. */
/** What the store says about itself: its backup and, from lab server, the replicas following it. */
interface StoreSide {
  backup: { url: string; at: string; secrets: number } | null;
  /** null in local mode: no store serves machines from here. */
  replicas: ReplicaState[] | null;
  /** The lab server that answered, null in local mode. */
  server: string | null;
}

export interface SecretsApi {
  list(): Promise<SecretListRow[]>;
  report(name: string): Promise<SecretReport>;
  audit(): Promise<AuditReport>;
  /** `unlessSame`: store nothing when the value is the current one (SetResult.unchanged). */
  set(name: string, value: Uint8Array, o?: { unlessSame?: boolean }): Promise<SetResult>;
  rotate(name: string): Promise<SecretMeta[]>;
  backup(url?: string): Promise<BackupResult>;
  status(): Promise<StoreSide>;
  close(): void;
}

export async function secretsApi(ctx: SecretCommandsContext): Promise<SecretsApi> {
  const session = await ctx.open();
  if (session.remote) {
    const c = session.remote;
    const q = (name: string) => `?name=${encodeURIComponent(name)}`;
    return {
      list: () => c.request("GET", "/api/v1/secret-store/secrets"),
      report: (name) => c.request("GET", `/api/v1/secret-store/report${q(name)}`),
      audit: () => c.request("GET", "/api/v1/secret-store/audit"),
      set: (name, value, o) =>
        c.request("PUT", `/api/v1/secret-store/value${q(name)}`, {
          value: Buffer.from(value).toString("base64"),
          ...(o?.unlessSame ? { unlessSame: true } : {}),
        }),
      rotate: (name) => c.request("POST", `/api/v1/secret-store/rotate${q(name)}`, {}),
      backup: (url) => c.request("POST", "/api/v1/secret-store/backup", url ? { url } : {}),
      status: async () => ({
        ...(await c.request<Omit<StoreSide, "server">>("GET", "/api/v1/secret-store/status")),
        server: c.base.origin,
      }),
      close: () => undefined,
    };
  }
  const host = await localHost(ctx, session);
  return {
    list: () => host.list(),
    report: async (name) => {
      const r = await host.report(name);
      if (!r)
        throw new LabError("LAB_E_NOT_FOUND", `secret "${name}" is not defined, listed or called anywhere`);
      return r;
    },
    audit: () => host.audit(),
    set: (name, value, o) => host.set(name, value, actor(ctx.io.env), o),
    rotate: (name) => host.rotate(name, actor(ctx.io.env)),
    backup: (url) => host.backup(url),
    status: async () => ({ backup: host.lastBackup(), replicas: null, server: null }),
    close: () => host.close(),
  };
}

async function localHost(ctx: SecretCommandsContext, session: Session): Promise<SecretsHost> {
  const { SecretsHost, vaultPaths, modulePathFrom } = await import("@lab/secrets");
  const store = session.store;
  if (!store) throw new LabError("LAB_E_INTERNAL", "local mode without a store");
  return SecretsHost.open({
    vault: vaultPaths(labHome(ctx.io.env), ctx.io.env),
    model: store,
    modulePath: modulePathFrom(ctx.io.env),
  });
}

export function registerSecretCommands(program: Command, ctx: SecretCommandsContext): void {
  const { print, out } = ctx;
  const secret = program
    .command("secret")
    .description("secrets: set, get (on a machine), status, audit — access is derived from labels and code");

  secret
    .command("set")
    .description("store a new value (prompt without echo, --from-file or --stdin; never an argument)")
    .argument("<name>", "the secret's path, e.g. mail/relay-credentials")
    .option("--from-file <file>", "the value is this file's bytes, exactly")
    .option("--stdin", "read the value from standard input (one trailing newline is dropped)")
    .action(async (name: string, opts: { fromFile?: string; stdin?: boolean }) => {
      const value = await readValue(ctx.io, opts, name);
      const api = await secretsApi(ctx);
      try {
        const r = await api.set(name, value);
        const who = r.usedBy.map((u) => u.label).join(", ");
        print(
          `${mark(out, true)} Updated ${name} (version ${r.meta.version}). Accessible by: ${
            who ? `${who} (${r.servers} server${r.servers === 1 ? "" : "s"})` : "no machine yet"
          }\n`,
        );
        if (!r.known) {
          print(
            `${mark(out, false)} nothing defines or references "${name}": no machine can read it (lab secret audit)\n`,
          );
        }
      } finally {
        api.close();
      }
    });

  secret
    .command("rotate")
    .description("a new value for a dynamic secret now (machines pick it up on their next refresh)")
    .argument("<name>")
    .action(async (name: string) => {
      const api = await secretsApi(ctx);
      try {
        const rotated = await api.rotate(name);
        for (const m of rotated)
          print(
            `${mark(out, true)} Rotated ${m.path} (version ${m.version}; previous kept for the grace period)\n`,
          );
        if (rotated.length === 0)
          print(`${mark(out, false)} no machine has a value of ${name} yet: made on first fetch\n`);
      } finally {
        api.close();
      }
    });

  secret
    .command("backup")
    .description("push the encrypted backup (values age-encrypted, paths and policy in clear) to git")
    .option("--to <url>", "the git repository (default: the server's --secrets-git)")
    .action(async (opts: { to?: string }) => {
      const api = await secretsApi(ctx);
      try {
        const r = await api.backup(opts.to);
        print(
          `${mark(out, true)} ${r.changed ? "Pushed" : "Unchanged:"} ${r.secrets} secrets (${r.versions} versions) to ${r.url}${
            r.commit ? ` at ${r.commit.slice(0, 12)}` : ""
          }\n`,
        );
      } finally {
        api.close();
      }
    });

  secret
    .command("recover")
    .description("restore a store from the encrypted git backup (needs the store's age key)")
    .requiredOption("--from <source...>", "git URL")
    .option("--key <file>", "the age key the backup was encrypted to (installed as the store's key)")
    .action(async (opts: { from: string[]; key?: string }) => {
      const [kind, url] = opts.from.length === 2 ? opts.from : ["git", opts.from[0]];
      if (kind !== "git" || !url) throw new LabError("LAB_E_USAGE", "use --from git URL");
      const session = await ctx.open();
      if (session.remote) {
        throw new LabError(
          "LAB_E_USAGE",
          "recover runs on the store's machine (local mode), where its key is",
        );
      }
      const { vaultPaths } = await import("@lab/secrets");
      const paths = vaultPaths(labHome(ctx.io.env), ctx.io.env);
      if (!opts.key && !existsSync(paths.keyFile)) {
        throw new LabError(
          "LAB_E_SECRET_KEY",
          `no store key at ${paths.keyFile}: pass --key FILE (the age key the backup was encrypted to)`,
        );
      }
      if (opts.key && !existsSync(paths.keyFile)) {
        const { mkdirSync, copyFileSync, chmodSync } = await import("node:fs");
        mkdirSync(dirname(paths.keyFile), { recursive: true, mode: 0o700 });
        copyFileSync(opts.key, paths.keyFile);
        chmodSync(paths.keyFile, 0o600);
      }
      print(`→ Fetching encrypted backup from ${url}\n`);
      const host = await localHost(ctx, session);
      try {
        print("→ Decrypting with master key...\n");
        const r = await host.recover(url);
        print(
          `→ Restored ${r.secrets} secrets (${r.restored} versions new to this store; backup ${r.commit.slice(0, 12)})\n`,
        );
      } finally {
        host.close();
      }
    });

  secret
    .command("get")
    .description("print a secret this machine is entitled to (authenticated by the agent's certificate)")
    .argument("<name>")
    .option("--state-dir <dir>", "the agent's state dir (key, certificate)", DEFAULT_STATE_DIR)
    .option("--store <url...>", "secret store(s) to ask (default: the server the agent enrolled with)")
    .action(async (name: string, opts: { stateDir: string; store?: string[] }) => {
      const { sync } = await machineSide(opts);
      const got = await sync.get(name);
      if (got.stale)
        ctx.io.stderr.write(`lab secret get: no store answered; using the cached copy of ${name}\n`);
      ctx.io.stdout.write(got.value as unknown as string);
    });

  secret
    .command("cache")
    .description("this machine's encrypted local cache: what is cached, TTL, fresh or stale")
    .option("--state-dir <dir>", "the agent's state dir", DEFAULT_STATE_DIR)
    .option("--wipe", "delete the cache (the agent fetches again)")
    .addOption(formatOption())
    .action(async (opts: { stateDir: string; wipe?: boolean; output: Format }) => {
      const { sync, cache, info } = await machineSide(opts);
      if (opts.wipe) {
        sync.wipe();
        return print(`Wiped ${cache.file}\n`);
      }
      const { isFresh, ttlLeft } = await import("@lab/secrets");
      const contents = cache.read(info.name);
      const rows = contents.entries.map((e) => ({
        name: e.name,
        version: e.version,
        fetchedAt: e.fetchedAt,
        ttlSeconds: ttlLeft(e),
        fresh: isFresh(e),
      }));
      ctx.emit(opts.output, { file: cache.file, syncedAt: contents.syncedAt, secrets: rows }, () =>
        [
          "LOCAL CACHE:",
          renderTable(
            rows,
            [
              { header: "SECRET", value: (r) => r.name },
              { header: "CACHED", value: () => mark(out, true) },
              {
                header: "TTL",
                value: (r) => (r.ttlSeconds === null ? "no expiry" : `${span(r.ttlSeconds)} left`),
              },
              { header: "STATUS", value: (r) => (r.fresh ? "fresh" : "stale") },
            ],
            out,
          ).trimEnd(),
          "",
        ].join("\n"),
      );
    });

  secret
    .command("status")
    .description("where secrets stand: this machine's view (agent state dir) or the store's")
    .option("--state-dir <dir>", "the agent's state dir", DEFAULT_STATE_DIR)
    .option("--store <url...>", "secret store(s) to ask")
    .addOption(formatOption())
    .action(async (opts: { stateDir: string; store?: string[]; output: Format }) => {
      if (existsSync(join(opts.stateDir, "cert.pem"))) {
        const status = await machineStatus(opts);
        return ctx.emit(opts.output, status, () => machineStatusText(status, out));
      }
      const api = await secretsApi(ctx);
      try {
        const rows = await api.list();
        const audit = await api.audit();
        const { backup, replicas, server } = await api.status();
        const status = {
          server,
          replicas,
          total: rows.length,
          set: rows.filter((r) => r.version !== null).length,
          empties: audit.empties.length,
          orphans: audit.orphans.length,
          codeScanned: audit.codeScanned,
          modulePath: audit.modulePath,
          backup,
        };
        ctx.emit(opts.output, status, () =>
          [
            "SECRET STORE:",
            `Secrets:      ${status.set} set, of ${status.total} known (${status.empties} empty, ${status.orphans} orphaned)`,
            `Lab-server:   ${status.server ? `${mark(out, true)} connected (${status.server})` : "— (local mode)"}`,
            `Secret store: ${replicasText(status.replicas, out)}`,
            `Puppet code:  ${status.codeScanned ? `scanned (${status.modulePath.join(":")})` : "not configured (LAB_PUPPET_MODULEPATH)"}`,
            `Git backup:   ${
              backup
                ? `${mark(out, true)} last push ${backup.at.slice(0, 19).replace("T", " ")} (${backup.secrets} total secrets) to ${backup.url}`
                : "— (never pushed: lab secret backup --to URL)"
            }`,
            "",
          ].join("\n"),
        );
      } finally {
        api.close();
      }
    });

  secret
    .command("audit")
    .description("orphans (defined, never referenced) and empties (referenced, never set)")
    .addOption(formatOption())
    .action(async (opts: { output: Format }) => {
      const api = await secretsApi(ctx);
      try {
        const a = await api.audit();
        ctx.emit(opts.output, a, () => auditText(a, out));
      } finally {
        api.close();
      }
    });
}

/** `lab get secrets` (design shape: SECRET TYPE USED BY LAST ROTATED). */
export async function getSecrets(
  ctx: SecretCommandsContext,
  format: Format,
  labels?: string[],
): Promise<void> {
  const api = await secretsApi(ctx);
  try {
    let rows = await api.list();
    if (labels?.length) rows = rows.filter((r) => r.usedBy.some((u) => labels.includes(u.label)));
    if (rows.length === 0 && (format === "table" || format === "wide")) {
      ctx.io.stderr.write("No secrets found.\n");
      return;
    }
    ctx.emit(format, rows, () => secretListText(rows, ctx.out));
  } finally {
    api.close();
  }
}

/** `lab show secret NAME`: the derivation chains from labels and code, per machine last fetched. */
export async function showSecret(ctx: SecretCommandsContext, name: string, format: Format): Promise<void> {
  const api = await secretsApi(ctx);
  try {
    const r = await api.report(name);
    ctx.emit(format, r, () => secretReportText(r, ctx.out));
  } finally {
    api.close();
  }
}

export function secretListText(rows: SecretListRow[], style: Style): string {
  return renderTable(
    rows,
    [
      { header: "SECRET", value: (r) => r.name },
      { header: "TYPE", value: (r) => r.type },
      {
        header: "USED BY",
        value: (r) =>
          r.usedBy.length ? `${r.usedBy.map((u) => u.label).join(", ")} (${r.servers} srv)` : "-",
        shrink: true,
        min: 12,
      },
      {
        header: "LAST ROTATED",
        value: (r) =>
          r.perMachine ? "per-machine" : r.lastRotated ? r.lastRotated.slice(0, 10) : "never set",
      },
    ],
    style,
  );
}

export function secretReportText(r: SecretReport, style: Style): string {
  const out = [`${style.bold("Secret:")} ${r.name}`];
  out.push(`Type: ${r.type ?? "not defined under secrets:"}`);
  if (r.generator) out.push(`Generator: ${r.generator}`);
  if (r.rotateEvery) out.push(`Rotate every: ${r.rotateEvery}`);
  if (r.perMachine) out.push("Per machine: yes");
  out.push(
    `Last set: ${r.lastSet ? `${r.lastSet.at.slice(0, 10)} by ${r.lastSet.by} (version ${r.lastSet.version})` : "never"}`,
  );
  out.push(
    `Accessible by (derived from ${r.codeScanned ? "labels and code" : "labels; Puppet code not scanned"}):`,
  );
  if (r.chains.length === 0) out.push("  no machine");
  for (const c of r.chains) {
    const site = c.chain.find((l) => l.kind === "call");
    out.push(`  ${c.text}${site && site.kind === "call" ? ` at ${site.file}:${site.line}` : ""}`);
    out.push(
      ...treeLines(
        c.servers.map(
          (s) => `${s.name} (${s.provider}) last fetched: ${s.lastFetched ? ago(s.lastFetched) : "never"}`,
        ),
        "  ",
      ),
    );
  }
  for (const e of r.excluded) out.push(`  excluded: ${e.name} (by ${e.by.kind} "${e.by.name}")`);
  if (r.unapplied.length) {
    out.push("Referenced in code no label applies (grants nothing):");
    for (const u of r.unapplied) out.push(`  class "${u.class}" at ${u.file}:${u.line}`);
  } else if (r.codeScanned) out.push("No other references found in any applied code.");
  return `${out.join("\n")}\n`;
}

export function auditText(a: AuditReport, style: Style): string {
  const lines: string[] = [];
  if (!a.codeScanned)
    lines.push(`${mark(style, false)} Puppet code not scanned: set LAB_PUPPET_MODULEPATH (labels only)`);
  if (a.orphans.length === 0)
    lines.push(`${mark(style, true)} All secrets are referenced by at least one applied class/label`);
  for (const o of a.orphans)
    lines.push(`${mark(style, false)} Secret "${o}" is defined but not referenced by any code — orphaned?`);
  for (const e of a.empties) {
    lines.push(
      `${mark(style, false)} Secret "${e.name}" referenced by ${e.referencedBy.join(", ")} but never set — empty!`,
    );
  }
  for (const s of a.strays)
    lines.push(`${mark(style, false)} Secret "${s}" has a value but nothing defines or references it`);
  for (const p of a.problems)
    lines.push(`${mark(style, false)} ${p.file}:${p.line}:${p.column}: ${p.message}`);
  return `${lines.join("\n")}\n`;
}

/** The design's "Secret store:" line, from the replicas' pulls as lab server saw them. */
function replicasText(replicas: ReplicaState[] | null, style: Style): string {
  if (replicas === null) return "— (local mode: machines fetch from lab server)";
  if (!replicas.length)
    return '— no replicas (label machines "secret-store"); machines fetch from lab server';
  const behind = (r: ReplicaState) =>
    r.behind ? `, ${r.behind} change${r.behind > 1 ? "s" : ""} not on it` : "";
  const why = (r: ReplicaState) =>
    r.lastSyncAt ? `${r.name} last sync ${ago(r.lastSyncAt)}${behind(r)}` : `${r.name} never synced`;
  const late = replicas.filter((r) => r.state !== "in sync");
  const names = replicas.map((r) => r.name).join(", ");
  if (!late.length) return `${mark(style, true)} connected (${replicas.length} replicas: ${names})`;
  if (late.length === replicas.length)
    return `${mark(style, false)} secret-store unreachable: ${late.map(why).join("; ")}`;
  return `${mark(style, false)} ${late.length} of ${replicas.length} replicas not following: ${late.map(why).join("; ")}`;
}

function mark(style: Style, ok: boolean): string {
  if (style.tty) return ok ? style.green("✓") : style.yellow("⚠");
  return ok ? "✓" : "⚠";
}

/** 89d, 23h, 12m, 40s */
function span(seconds: number): string {
  if (seconds >= 172_800) return `${Math.floor(seconds / 86_400)}d`;
  if (seconds >= 7200) return `${Math.floor(seconds / 3600)}h`;
  if (seconds >= 120) return `${Math.floor(seconds / 60)}m`;
  return `${seconds}s`;
}

function formatOption(): Option {
  return new Option("-o, --output <format>", "output format")
    .choices(["table", "json", "yaml"])
    .default("table");
}

/** The value to store, from the one source the user chose. */
async function readValue(
  io: IO,
  opts: { fromFile?: string; stdin?: boolean },
  name: string,
): Promise<Uint8Array> {
  if (opts.fromFile && opts.stdin) throw new LabError("LAB_E_USAGE", "give --from-file or --stdin, not both");
  if (opts.fromFile) {
    try {
      return readFileSync(opts.fromFile);
    } catch (e) {
      throw new LabError(
        "LAB_E_FILE_NOT_FOUND",
        `cannot read ${opts.fromFile}: ${(e as NodeJS.ErrnoException).code}`,
      );
    }
  }
  if (opts.stdin) return Buffer.from(io.stdin().replace(/\r?\n$/, ""), "utf8");
  if (!process.stdin.isTTY) {
    throw new LabError(
      "LAB_E_SECRET_VALUE",
      `no terminal to prompt for "${name}": pass the value with --stdin or --from-file`,
    );
  }
  return Buffer.from(await promptHidden("Enter value: ", io), "utf8");
}

/** Reads a line from the terminal with echo off (raw mode), showing nothing as it is typed. */
function promptHidden(question: string, io: IO): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    io.stderr.write(question);
    let value = "";
    stdin.setRawMode(true);
    stdin.resume();
    const done = (err?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off("data", onData);
      io.stderr.write("\n");
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return done();
        if (ch === "\u0003") return done(new LabError("LAB_E_USAGE", "cancelled"));
        if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on("data", onData);
  });
}

// ── the machine's side ──

async function machineSide(opts: { stateDir: string; store?: string[] }) {
  const { StoreClient, storeUrlFromChannel, SecretCache, SecretSync, cacheFile } = await import(
    "@lab/secrets"
  );
  const file = (f: string) => join(opts.stateDir, f);
  if (!existsSync(file("cert.pem")) || !existsSync(file("agent.json"))) {
    throw new LabError(
      "LAB_E_AGENT_STATE",
      `${opts.stateDir} holds no enrolled identity: this command runs on an enrolled machine (or pass --state-dir)`,
    );
  }
  let keyPem: string;
  try {
    keyPem = readFileSync(file("key.pem"), "utf8");
  } catch (e) {
    throw new LabError(
      "LAB_E_AGENT_STATE",
      `cannot read ${file("key.pem")} (${(e as NodeJS.ErrnoException).code}): run as the agent's user`,
    );
  }
  const info = JSON.parse(readFileSync(file("agent.json"), "utf8")) as { name: string; channelUrl: string };
  const stores = opts.store?.length ? opts.store : [storeUrlFromChannel(info.channelUrl)];
  const creds = {
    keyPem,
    certPem: readFileSync(file("cert.pem"), "utf8"),
    caPem: readFileSync(file("ca.pem"), "utf8"),
  };
  const machineClient = new StoreClient(stores, creds);
  const cache = new SecretCache(cacheFile(opts.stateDir), keyPem);
  return { info, stores, creds, machineClient, cache, sync: new SecretSync(info.name, cache, machineClient) };
}

interface MachineStatus {
  machine: string;
  cache: { cached: number; fresh: number; syncedAt: string | null; error: string | null };
  stores: string[];
  store: { reachable: boolean; answeredBy: string | null; error: string | null };
  entitled: number | null;
  set: number | null;
}

async function machineStatus(opts: { stateDir: string; store?: string[] }): Promise<MachineStatus> {
  const { info, stores, machineClient, cache } = await machineSide(opts);
  const { isFresh } = await import("@lab/secrets");
  let local: MachineStatus["cache"];
  try {
    const c = cache.read(info.name);
    local = {
      cached: c.entries.length,
      fresh: c.entries.filter((e) => isFresh(e)).length,
      syncedAt: c.syncedAt,
      error: null,
    };
  } catch (e) {
    local = { cached: 0, fresh: 0, syncedAt: null, error: (e as Error).message };
  }
  try {
    const { store, body } = await machineClient.entitled();
    return {
      machine: info.name,
      cache: local,
      stores,
      store: { reachable: true, answeredBy: store, error: null },
      entitled: body.secrets.length,
      set: body.secrets.filter((s) => s.version !== null).length,
    };
  } catch (e) {
    if (!(e instanceof LabError)) throw e;
    return {
      machine: info.name,
      cache: local,
      stores,
      store: { reachable: false, answeredBy: null, error: `${e.code}: ${e.message}` },
      entitled: null,
      set: null,
    };
  }
}

function machineStatusText(s: MachineStatus, style: Style): string {
  return [
    "SECRET DISTRIBUTION STATUS:",
    `Machine:      ${s.machine}`,
    `Local cache:  ${
      s.cache.error
        ? `${mark(style, false)} unreadable (${s.cache.error})`
        : s.cache.syncedAt === null && s.cache.cached === 0
          ? "— (empty: never synced)"
          : `${mark(style, s.cache.fresh === s.cache.cached)} ${s.cache.cached} secrets cached${
              s.entitled !== null ? ` (of ${s.entitled} entitled)` : ""
            }, encrypted, ${s.cache.fresh} fresh; last sync ${s.cache.syncedAt ? ago(s.cache.syncedAt) : "never"}`
    }`,
    `Secret store: ${
      s.store.reachable
        ? `${mark(style, true)} connected (${s.store.answeredBy}); ${s.entitled} entitled, ${s.set} set`
        : `${mark(style, false)} unreachable (${s.store.error})`
    }`,
    "",
  ].join("\n");
}
