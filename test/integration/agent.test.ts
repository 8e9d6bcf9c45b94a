/**
 * The agent end to end: the agent and identity routes on an HTTPS Fastify app and the mTLS
 * agent channel, in this process over a temporary SQLite store, with a REAL agent process
 * (the bundled `lab-agent`, built here with esbuild) enrolling, connecting, running commands,
 * surviving a server restart and a week powered off, and being revoked for good.
 *
 * TLS refusals are proven with Node's tls client and with `openssl s_client`.
 * Waits poll for a state and have hang guards; nothing asserts on timing.
 */
import "reflect-metadata";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createPublicKey, webcrypto } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { type AuditEvent, LabError } from "@lab/core";
import {
  type CertificateAuthority,
  ensureServerCert,
  IdentityService,
  issueClientCert,
  loadOrCreateCa,
  renewalProofPayload,
} from "@lab/identity";
import { identityRepo, type KyselyIdentityRepo, type KyselyStore, openSqliteStore } from "@lab/store";
import * as x509 from "@peculiar/x509";
import { Command } from "commander";
import { build } from "esbuild";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createCsr, generatePrivateKey, signRenewalProof } from "../../packages/agent/src/exports.js";
import { registerAgentCommands } from "../../packages/cli/src/commands/agent.js";
import { openRemote } from "../../packages/cli/src/context.js";
import { makeStyle } from "../../packages/cli/src/output/style.js";
import { AgentChannel } from "../../packages/server/src/agent-channel.js";
import { registerAgentRoutes } from "../../packages/server/src/agent-routes.js";
import { createToken } from "../../packages/server/src/auth.js";
import { errorHandler } from "../../packages/server/src/routes.js";
import { ROOT } from "../support/cli.js";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const DAY = 86_400_000;

// ── the server side, in this process ──

class FakeDns {
  calls: string[] = [];
  async upsertHost(name: string, ipv4: string) {
    this.calls.push(`upsert ${name} ${ipv4}`);
    return { fqdn: `${name}.lab.internal`, ptr: null };
  }
  async removeHost(name: string) {
    this.calls.push(`remove ${name}`);
  }
}

let home: string;
let store: KyselyStore;
let repo: KyselyIdentityRepo;
let ca: CertificateAuthority;
let serverTls: { certPem: string; keyPem: string };
let identity: IdentityService;
let channel: AgentChannel;
let channelPort = 0;
let app: FastifyInstance;
let apiUrl: string;
let adminToken: string;
const dns = new FakeDns();
const serverLog: string[] = [];
const secrets: string[] = [];

function newChannel(port: number): AgentChannel {
  return new AgentChannel({
    identity,
    tls: serverTls,
    host: "127.0.0.1",
    port,
    record: async (e) => {
      await store.record(e);
    },
    log: (l) => serverLog.push(l),
    rateLimit: { burst: 5, perSecond: 2, maxDropsPerMinute: 20 },
  });
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "lab-agent-it-"));
  store = await openSqliteStore(join(home, "state.db"));
  repo = identityRepo(store);
  ca = await loadOrCreateCa(join(home, "server"));
  const cert = await ensureServerCert(ca, join(home, "server"), ["localhost", "127.0.0.1"]);
  serverTls = { certPem: `${cert.certPem}${ca.certPem}`, keyPem: cert.keyPem };
  writeFileSync(join(home, "ca.crt"), ca.certPem);
  identity = new IdentityService({
    repo,
    ca,
    dns,
    hostKeySigner: { sign: async (name, line) => `${line.split(" ")[0]}-cert-v01@openssh.com AAAA ${name}` },
    log: (l) => serverLog.push(l),
  });
  channel = newChannel(0);
  channelPort = (await channel.start()).port;
  app = Fastify({
    logger: false,
    https: { key: cert.keyPem, cert: serverTls.certPem },
  }) as unknown as FastifyInstance;
  app.setErrorHandler(errorHandler);
  registerAgentRoutes(app, {
    identity,
    channel: {
      // The routes reach whichever channel is current (it is replaced by the restart test).
      get port() {
        return channel.port;
      },
      urlFor: (h: string) => channel.urlFor(h),
      session: (n: string) => channel.session(n),
      exec: (...a: Parameters<AgentChannel["exec"]>) => channel.exec(...a),
      requestRenewal: (n: string) => channel.requestRenewal(n),
      revoked: (n: string) => channel.revoked(n),
    } as unknown as AgentChannel,
    tokens: store,
    record: async (e) => {
      await store.record(e);
    },
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  apiUrl = `https://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  adminToken = (await createToken(store, { name: "admin", scopes: ["admin"], createdBy: "test" })).token;
  secrets.push(adminToken);
  agentBundle = await bundleAgent();
});

afterAll(async () => {
  for (const a of agents) a.kill();
  await channel?.close();
  await app?.close();
  await store?.close();
  rmSync(home, { recursive: true, force: true });
});

// ── the agent, as a real process ──

let agentBundle: string;

async function bundleAgent(): Promise<string> {
  const out = join(home, "lab-agent.cjs");
  await build({
    entryPoints: [join(ROOT, "packages/agent/src/main.ts")],
    outfile: out,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    external: ["bufferutil", "utf-8-validate"],
    logLevel: "warning",
  });
  return out;
}

interface AgentProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}
const agents: AgentProcess[] = [];

function startAgent(args: string[]): AgentProcess {
  const child = spawn(process.execPath, [agentBundle, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
  });
  let out = "";
  child.stdout?.on("data", (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on("data", (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const p: AgentProcess = {
    child,
    output: () => out,
    exited,
    kill: (signal = "SIGKILL") => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
  agents.push(p);
  return p;
}

/** Polls until `check` is true; the limit is a hang guard, not a measurement. */
async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  limitMs = 45_000,
): Promise<void> {
  const until = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// ── HTTP and TLS helpers ──

interface Reply<T = unknown> {
  status: number;
  body: T;
  text: string;
}

function api<T = unknown>(method: string, path: string, body?: unknown, token?: string): Promise<Reply<T>> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      new URL(path, apiUrl),
      {
        method,
        ca: ca.certPem,
        headers: {
          ...(payload ? { "content-type": "application/json" } : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => {
          text += c.toString();
        });
        res.on("end", () => {
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // NDJSON or text: the caller reads `text`
          }
          resolve({ status: res.statusCode ?? 0, body: parsed as T, text });
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

const codeOf = (r: Reply) => (r.body as { error?: { code?: string } }).error?.code;

interface Identity {
  name: string;
  keyPem: string;
  certPem: string;
}

/** Enrols a machine through the API the way the agent does (for probes and the flood test). */
async function enrolDirect(name: string): Promise<Identity> {
  const token = await mintToken(name);
  const keyPem = generatePrivateKey();
  secrets.push(keyPem);
  const r = await api<{ certificate: string }>("POST", "/api/v1/agent/enrol", {
    token,
    csr: await createCsr(name, keyPem),
  });
  expect(r.status, r.text).toBe(200);
  return { name, keyPem, certPem: r.body.certificate };
}

async function mintToken(name: string, ttlMinutes = 60): Promise<string> {
  const r = await api<{ token: string }>("POST", "/api/v1/join-tokens", { name, ttlMinutes }, adminToken);
  expect(r.status, r.text).toBe(200);
  secrets.push(r.body.token);
  return r.body.token;
}

/**
 * A TLS client presenting `who`'s certificate that asks for the WebSocket upgrade. Refused
 * connections are closed by the server without a single byte of HTTP.
 */
function tlsProbe(who: { certPem: string; keyPem: string }, maxVersion?: tls.SecureVersion) {
  return new Promise<{ handshake: boolean; received: string; error?: string }>((resolve) => {
    let received = "";
    let handshake = false;
    let error: string | undefined;
    const socket = tls.connect({
      host: "127.0.0.1",
      port: channelPort,
      ca: ca.certPem,
      cert: who.certPem,
      key: who.keyPem,
      servername: "localhost",
      ...(maxVersion ? { maxVersion } : {}),
    });
    socket.on("secureConnect", () => {
      handshake = true;
      socket.write(
        "GET /agent/v1 HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      );
    });
    socket.on("data", (c: Buffer) => {
      received += c.toString("latin1");
      if (received.includes("\r\n\r\n")) socket.destroy();
    });
    socket.on("error", (e) => {
      error = (e as NodeJS.ErrnoException).code ?? e.message;
    });
    socket.on("close", () => resolve({ handshake, received, ...(error ? { error } : {}) }));
  });
}

/** The same with `openssl s_client`: what OpenSSL sees as a client. */
async function opensslProbe(who: { certPem: string; keyPem: string }): Promise<string> {
  if (spawnSync("openssl", ["version"]).error)
    throw new Error("openssl is missing: apt-get install -y openssl");
  const dir = mkdtempSync(join(home, "probe-"));
  writeFileSync(join(dir, "c.pem"), who.certPem);
  writeFileSync(join(dir, "k.pem"), who.keyPem, { mode: 0o600 });
  const child = spawn("openssl", [
    "s_client",
    "-connect",
    `127.0.0.1:${channelPort}`,
    "-cert",
    join(dir, "c.pem"),
    "-key",
    join(dir, "k.pem"),
    "-CAfile",
    join(home, "ca.crt"),
    "-servername",
    "localhost",
    "-quiet",
  ]);
  let out = "";
  child.stdout.on("data", (c: Buffer) => {
    out += c.toString("latin1");
    if (out.includes("\r\n\r\n")) child.kill();
  });
  child.stderr.on("data", (c: Buffer) => {
    out += c.toString("latin1");
  });
  child.stdin.write(
    "GET /agent/v1 HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  const guard = setTimeout(() => child.kill(), 20_000);
  await new Promise((resolve) => child.on("exit", resolve));
  clearTimeout(guard);
  rmSync(dir, { recursive: true, force: true });
  return out;
}

function refusals(reason: string): number {
  return channel.stats().refused[reason] ?? 0;
}

async function events(action: string): Promise<AuditEvent[]> {
  return (await store.events({ limit: 1000 })).filter((e) => e.action === action);
}

/** `lab …` with the agent commands, in this process, in client mode against the test server. */
async function lab(argv: string[]) {
  let stdout = "";
  let stderr = "";
  let exitCode = 0;
  const io = {
    stdout: { write: (s: string | Uint8Array) => (stdout += s.toString()) },
    stderr: { write: (s: string | Uint8Array) => (stderr += s.toString()) },
    env: { LAB_ACTOR: "tester" } as NodeJS.ProcessEnv,
    stdin: () => "",
  };
  const program = new Command("lab").exitOverride().option("--server <url>");
  const session = openRemote({ url: apiUrl, token: adminToken, caPem: ca.certPem });
  registerAgentCommands(program, {
    io,
    print: (s) => io.stdout.write(s),
    emit: (_f, data) => io.stdout.write(JSON.stringify(data)),
    out: makeStyle({}),
    open: async () => session,
    setExitCode: (c) => {
      exitCode = c;
    },
  });
  let error: LabError | undefined;
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (e) {
    if (!(e instanceof LabError)) throw e;
    error = e;
  } finally {
    await session.close();
  }
  return { stdout, stderr, exitCode, error };
}

// ── the story ──

describe("the agent", () => {
  const state = () => join(home, "agent-web-1");
  let agent: AgentProcess;
  let webToken: string;
  const agentArgs = () => [
    "--server",
    apiUrl,
    "--state-dir",
    state(),
    "--ca-file",
    join(home, "ca.crt"),
    "--name",
    "web-1",
    "--heartbeat",
    "1s",
    "--backoff-max",
    "2s",
    "--host-key-dir",
    join(home, "ssh"),
  ];

  it("enrols with a one-time join token and connects over mutual TLS", async () => {
    const created = await lab(["join-token", "create", "web-1", "--ttl-minutes", "30"]);
    webToken = created.stdout.trim();
    secrets.push(webToken);
    expect(webToken).toMatch(/^labj_/);
    mkdirSync(join(home, "ssh"));
    writeFileSync(
      join(home, "ssh", "ssh_host_ed25519_key.pub"),
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA root@web-1\n",
    );
    const tokenFile = join(home, "join-token");
    writeFileSync(tokenFile, `${webToken}\n`, { mode: 0o600 });

    agent = startAgent([...agentArgs(), "--join-token-file", tokenFile]);
    await waitFor("web-1 to connect", () => channel.isConnected("web-1"));

    expect(existsSync(tokenFile)).toBe(false); // spent, so deleted
    expect(statSync(join(state(), "key.pem")).mode & 0o777).toBe(0o600);
    secrets.push(readFileSync(join(state(), "key.pem"), "utf8"));
    const cert = new x509.X509Certificate(readFileSync(join(state(), "cert.pem"), "utf8"));
    expect(cert.subject).toBe("CN=web-1");
    expect(await cert.verify({ publicKey: ca.cert.publicKey })).toBe(true);
    expect(readFileSync(join(state(), "ssh", "ed25519-cert.pub"), "utf8")).toContain(
      "ssh-ed25519-cert-v01@openssh.com",
    );
    const record = await repo.getAgent("web-1");
    expect(record?.spkiSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(dns.calls).toContain("upsert web-1 127.0.0.1");
    await waitFor("a heartbeat", () => channel.session("web-1")?.lastHeartbeat !== null);
    expect(channel.session("web-1")?.lastHeartbeat?.memory.total).toBeGreaterThan(0);
    expect((await events("agent.enrol")).map((e) => e.subjects)).toEqual([["server/web-1"]]);
    await waitFor("the connect event", async () => (await events("agent.connect")).length > 0);
  });

  it("refuses a replayed join token", async () => {
    const r = await api("POST", "/api/v1/agent/enrol", {
      token: webToken,
      csr: await createCsr("web-1", generatePrivateKey()),
    });
    expect([r.status, codeOf(r)]).toEqual([401, "LAB_E_JOIN_TOKEN_USED"]);
  });

  it("refuses an expired join token", async () => {
    const { createJoinToken } = await import("@lab/identity");
    const token = await createJoinToken(repo, {
      name: "late-1",
      ttlMinutes: 1,
      createdBy: "test",
      now: new Date(Date.now() - 5 * 60_000),
    });
    secrets.push(token);
    const r = await api("POST", "/api/v1/agent/enrol", {
      token,
      csr: await createCsr("late-1", generatePrivateKey()),
    });
    expect([r.status, codeOf(r)]).toEqual([401, "LAB_E_JOIN_TOKEN_EXPIRED"]);
  });

  it("refuses a CSR for another machine's name", async () => {
    const token = await mintToken("db-1");
    const r = await api("POST", "/api/v1/agent/enrol", {
      token,
      csr: await createCsr("web-1", generatePrivateKey()),
    });
    expect([r.status, codeOf(r)]).toEqual([403, "LAB_E_CSR_NAME_MISMATCH"]);
  });

  it("refuses a client certificate from another CA at the TLS layer (Node client and openssl s_client)", async () => {
    const otherCa = await loadOrCreateCa(join(home, "other-ca"), "Not Lab");
    const keyPem = generatePrivateKey();
    secrets.push(keyPem);
    const spki = createPublicKey(keyPem).export({ type: "spki", format: "der" });
    const publicKey = await webcrypto.subtle.importKey(
      "spki",
      spki,
      { name: "ECDSA", namedCurve: "P-256" },
      true,
      ["verify"],
    );
    const forged = await issueClientCert(otherCa, {
      name: "web-1",
      publicKey,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + DAY),
    });
    const before = Object.values(channel.stats().refused).reduce((a, b) => a + b, 0);
    const node = await tlsProbe({ certPem: forged.certPem, keyPem });
    expect(node.received).toBe("");
    const tls12 = await tlsProbe({ certPem: forged.certPem, keyPem }, "TLSv1.2");
    expect(tls12.received).toBe("");
    const openssl = await opensslProbe({ certPem: forged.certPem, keyPem });
    expect(openssl).not.toContain("HTTP/1.1");
    expect(refusals("UNABLE_TO_VERIFY_LEAF_SIGNATURE")).toBeGreaterThanOrEqual(3);
    expect(Object.values(channel.stats().refused).reduce((a, b) => a + b, 0)).toBe(before + 3);
    expect(channel.session("web-1")).toBeDefined(); // the real agent was not disturbed

    // The control: the same probes with a certificate Lab issued get the upgrade.
    const probe = await enrolDirect("probe-1");
    expect((await tlsProbe(probe)).received).toMatch(/^HTTP\/1\.1 101/);
    expect(await opensslProbe(probe)).toContain("HTTP/1.1 101");
  });

  it("limits a heartbeat flood and closes the connection that keeps flooding", async () => {
    const flood = await enrolDirect("flood-1");
    const ws = new WebSocket(channel.urlFor("127.0.0.1"), {
      ca: ca.certPem,
      cert: flood.certPem,
      key: flood.keyPem,
    });
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    const droppedBefore = channel.stats().dropped;
    const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
    const beat = JSON.stringify({
      type: "heartbeat",
      uptime: 1,
      load: [0, 0, 0],
      memory: { total: 1, free: 1 },
      disk: [],
      addresses: [],
      ipv4: null,
    });
    for (let i = 0; i < 200 && ws.readyState === WebSocket.OPEN; i++) ws.send(beat);
    expect(await closed).toBe(1008);
    expect(channel.stats().dropped - droppedBefore).toBeGreaterThan(20);
    expect(channel.stats().closedForFlood).toBe(1);
    expect((await events("agent.flood")).map((e) => e.subjects)).toEqual([["server/flood-1"]]);
    expect(channel.isConnected("web-1")).toBe(true);
  });

  it("answers a renewal even when heartbeats used up the control budget", async () => {
    const chatty = await enrolDirect("chatty-1");
    const ws = new WebSocket(channel.urlFor("127.0.0.1"), {
      ca: ca.certPem,
      cert: chatty.certPem,
      key: chatty.keyPem,
    });
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    const replies: { type: string; id?: string }[] = [];
    ws.on("message", (m) => replies.push(JSON.parse(String(m))));
    const droppedBefore = channel.stats().dropped;
    const beat = JSON.stringify({
      type: "heartbeat",
      uptime: 1,
      load: [0, 0, 0],
      memory: { total: 1, free: 1 },
      disk: [],
      addresses: [],
      ipv4: null,
    });
    for (let i = 0; i < 8; i++) ws.send(beat); // burst 5: the last heartbeats are dropped
    ws.send(JSON.stringify({ type: "renew", id: "r1", csr: await createCsr("chatty-1", chatty.keyPem) }));
    await waitFor("the renewed certificate", () => replies.some((r) => r.id === "r1"));
    expect(channel.stats().dropped - droppedBefore).toBeGreaterThan(0);
    expect(replies.find((r) => r.id === "r1")?.type).toBe("certificate");
    ws.close();
  });

  it("runs commands: output streams back and the exit code is the command's", async () => {
    const r = await lab(["exec", "web-1", "--", "sh", "-c", "echo out; echo err >&2; exit 7"]);
    expect(r.error).toBeUndefined();
    expect(r.stdout).toBe("out\n");
    expect(r.stderr).toBe("err\n");
    expect(r.exitCode).toBe(7);

    const quoted = await lab(["exec", "web-1", "--", "printf", "%s|", "a b", "c"]);
    expect([quoted.stdout, quoted.exitCode]).toEqual(["a b|c|", 0]);

    const timedOut = await lab(["exec", "web-1", "--timeout", "1s", "--", "sleep 30"]);
    expect(timedOut.exitCode).toBe(124);

    const ghost = await lab(["exec", "ghost-1", "--", "true"]);
    expect(ghost.error?.code).toBe("LAB_E_AGENT_NOT_CONNECTED");

    // The API itself: NDJSON lines, base64 data, an exit line.
    const raw = await api("POST", "/api/v1/agents/web-1/exec", { command: "printf hi" }, adminToken);
    const lines = raw.text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toEqual([
      { type: "stdout", data: Buffer.from("hi").toString("base64") },
      { type: "exit", code: 0, signal: null, timedOut: false },
    ]);
  });

  it("reconnects after the server restarts", async () => {
    const connects = (await events("agent.connect")).filter((e) =>
      e.subjects.includes("server/web-1"),
    ).length;
    const logged = agent.output().length;
    await channel.close();
    await waitFor("the agent to notice", () => agent.output().slice(logged).includes("channel closed"));
    channel = newChannel(channelPort);
    await channel.start();
    await waitFor("web-1 to reconnect", () => channel.isConnected("web-1"));
    await waitFor(
      "a second connect event",
      async () =>
        (await events("agent.connect")).filter((e) => e.subjects.includes("server/web-1")).length > connects,
    );
  });

  it("renews over the live channel when an operator asks (lab identity renew)", async () => {
    const serial = (await repo.getAgent("web-1"))?.certSerial;
    const r = await lab(["identity", "renew", "web-1"]);
    expect(r.stdout).toContain("requested over the live channel");
    await waitFor("a new certificate", async () => (await repo.getAgent("web-1"))?.certSerial !== serial);
    // The agent moves to the new certificate by reconnecting with it.
    const current = (await repo.getAgent("web-1"))?.certSerial;
    await waitFor("web-1 on its new certificate", () => channel.session("web-1")?.serial === current);
    expect((await repo.getAgent("web-1"))?.renewRequestedAt).toBeNull();
  });

  it("renews by itself at 2/3 of the certificate's life", async () => {
    agent.kill("SIGTERM");
    expect(await agent.exited).toBe(0);
    const serial = (await repo.getAgent("web-1"))?.certSerial;
    const info = JSON.parse(readFileSync(join(state(), "agent.json"), "utf8"));
    writeFileSync(
      join(state(), "agent.json"),
      JSON.stringify({ ...info, renewAfter: new Date(Date.now() - 60_000).toISOString() }),
    );
    agent = startAgent(agentArgs());
    await waitFor("a renewed certificate", async () => (await repo.getAgent("web-1"))?.certSerial !== serial);
    const current = (await repo.getAgent("web-1"))?.certSerial;
    await waitFor("web-1 on its new certificate", () => channel.session("web-1")?.serial === current);
    expect(agent.output()).toContain("certificate renewed; valid until");
    const saved = JSON.parse(readFileSync(join(state(), "agent.json"), "utf8"));
    expect(Date.parse(saved.renewAfter)).toBeGreaterThan(Date.now());
  });

  it("renews after a week powered off, without an operator", async () => {
    agent.kill("SIGTERM");
    expect(await agent.exited).toBe(0);

    // Make its certificate one that expired 7 days ago (same key), as a week off would.
    const keyPem = readFileSync(join(state(), "key.pem"), "utf8");
    const spki = createPublicKey(keyPem).export({ type: "spki", format: "der" });
    const publicKey = await webcrypto.subtle.importKey(
      "spki",
      spki,
      { name: "ECDSA", namedCurve: "P-256" },
      true,
      ["verify"],
    );
    const now = Date.now();
    const old = await issueClientCert(ca, {
      name: "web-1",
      publicKey,
      notBefore: new Date(now - 8 * DAY),
      notAfter: new Date(now - 7 * DAY),
    });
    const enrolled = await repo.getAgent("web-1");
    expect(
      await repo.recordRenewal({
        name: "web-1",
        spkiSha256: enrolled?.spkiSha256 ?? "",
        now: new Date(now - 8 * DAY).toISOString(),
        cert: {
          serial: old.serial,
          name: "web-1",
          spkiSha256: enrolled?.spkiSha256 ?? "",
          notBefore: old.notBefore.toISOString(),
          notAfter: old.notAfter.toISOString(),
          issuedAt: new Date(now - 8 * DAY).toISOString(),
          revokedAt: null,
          reason: null,
        },
      }),
    ).toBe(true);
    writeFileSync(join(state(), "cert.pem"), old.certPem);
    const info = JSON.parse(readFileSync(join(state(), "agent.json"), "utf8"));
    writeFileSync(
      join(state(), "agent.json"),
      JSON.stringify({
        ...info,
        serial: old.serial,
        notAfter: old.notAfter.toISOString(),
        renewAfter: old.notBefore.toISOString(),
      }),
    );

    // The channel refuses the expired certificate at the TLS layer…
    const expiredBefore = refusals("CERT_HAS_EXPIRED");
    expect((await tlsProbe({ certPem: old.certPem, keyPem })).received).toBe("");
    expect(refusals("CERT_HAS_EXPIRED")).toBe(expiredBefore + 1);

    // …so the agent proves it still holds the key, gets a fresh certificate and reconnects.
    agent = startAgent(agentArgs());
    await waitFor("web-1 to reconnect after renewal", () => channel.isConnected("web-1"));
    expect(agent.output()).toContain("renewed with proof of possession");
    const renewed = new x509.X509Certificate(readFileSync(join(state(), "cert.pem"), "utf8"));
    expect(renewed.notAfter.getTime()).toBeGreaterThan(Date.now());
    expect(renewed.serialNumber.toUpperCase()).not.toBe(old.serial);
    expect((await events("agent.renew")).length).toBeGreaterThan(0);
  });

  it("is cut at once when revoked, and can never reconnect or renew", async () => {
    const certPem = readFileSync(join(state(), "cert.pem"), "utf8");
    const keyPem = readFileSync(join(state(), "key.pem"), "utf8");
    dns.calls = [];
    const revokedBefore = refusals("CERT_REVOKED");

    const r = await lab(["identity", "revoke", "web-1"]);
    expect(r.error).toBeUndefined();
    expect(r.stdout).toContain("live connection cut");
    expect(channel.isConnected("web-1")).toBe(false);
    expect(dns.calls).toEqual(["remove web-1"]);

    // The agent keeps trying, is refused at the handshake (OpenSSL's own verdict from the CRL in
    // the TLS context: CERT_REVOKED), asks to renew, is told it is revoked: exit 78.
    expect(await agent.exited).toBe(78);
    expect(agent.output()).toContain("LAB_E_AGENT_REVOKED");
    expect(refusals("CERT_REVOKED")).toBeGreaterThan(revokedBefore);
    expect(channel.isConnected("web-1")).toBe(false);

    // Handshake-level proof with the revoked certificate, both clients.
    const before = refusals("CERT_REVOKED");
    expect((await tlsProbe({ certPem, keyPem })).received).toBe("");
    expect((await tlsProbe({ certPem, keyPem }, "TLSv1.2")).received).toBe("");
    expect(await opensslProbe({ certPem, keyPem })).not.toContain("HTTP/1.1");
    expect(refusals("CERT_REVOKED")).toBe(before + 3);

    // Renewal with the key is refused for good.
    const challenge = await api<{ challenge: string }>("POST", "/api/v1/agent/challenge", { name: "web-1" });
    const csr = await createCsr("web-1", keyPem);
    const renew = await api("POST", "/api/v1/agent/renew", {
      name: "web-1",
      csr,
      challenge: challenge.body.challenge,
      signature: signRenewalProof(keyPem, "web-1", challenge.body.challenge, csr),
    });
    expect([renew.status, codeOf(renew)]).toEqual([403, "LAB_E_AGENT_REVOKED"]);
    expect(renewalProofPayload("web-1", "c", csr).toString()).toContain("lab-agent-renew-v1");

    const list = await lab(["identity", "list", "-o", "json"]);
    expect(JSON.parse(list.stdout).find((a: { name: string }) => a.name === "web-1")?.state).toBe("revoked");
  });

  it("never writes a join token or a private key to any log", async () => {
    if (process.env.LAB_TEST_DEBUG)
      console.log(agents.map((a) => a.output()).join("\n---\n"), serverLog, channel.stats());
    const keyBody = (pem: string) =>
      pem
        .replace(/-----[^-]+-----/g, "")
        .replace(/\s+/g, "")
        .slice(0, 40);
    const logs = [
      ...agents.map((a) => a.output()),
      serverLog.join("\n"),
      JSON.stringify(await store.events({ limit: 10_000 })),
    ].join("\n");
    expect(secrets.length).toBeGreaterThan(5);
    for (const s of secrets) {
      const needle = s.includes("PRIVATE KEY") ? keyBody(s) : s;
      expect(logs.includes(needle), `a secret (${needle.slice(0, 8)}…) appears in a log`).toBe(false);
    }
  });
});

describe("the agent's systemd unit", () => {
  it("passes systemd-analyze verify (with ExecStart pointed at a real file)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lab-agent-unit-"));
    const exe = join(dir, "lab-agent");
    writeFileSync(exe, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const unit = readFileSync(join(ROOT, "deploy/lab-agent.service"), "utf8").replace(
      "/usr/local/lib/lab-agent/lab-agent",
      exe,
    );
    const path = join(dir, "lab-agent.service");
    writeFileSync(path, unit);
    const r = await new Promise<{ code: number | null; output: string; error?: Error }>((resolve) => {
      const child = spawn("systemd-analyze", ["verify", path]);
      let output = "";
      child.stdout.on("data", (c: Buffer) => {
        output += c.toString();
      });
      child.stderr.on("data", (c: Buffer) => {
        output += c.toString();
      });
      child.on("error", (error) => resolve({ code: null, output, error }));
      child.on("exit", (code) => resolve({ code, output }));
    });
    expect(r.error, "install it: apt-get install -y systemd").toBeUndefined();
    expect(r.output.split("\n").filter((l) => l.trim())).toEqual([]);
    expect(r.code).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  });
});
