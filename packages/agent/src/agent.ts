/**
 * The agent: enrols once with a join token, then keeps an mTLS WebSocket to the server's
 * agent channel — hello, heartbeats, facts, commands — reconnecting with backoff and jitter
 * whenever it drops. Its certificate is renewed online before expiry; after a long power-off
 * (expired certificate) it renews with proof of possession of its key. A revoked agent, or
 * one offline past the renewal window, stops with exit code 78 (systemd does not restart it).
 */

import { isIPv4 } from "node:net";
import { hostname, networkInterfaces } from "node:os";
import { isLabError, LabError } from "@lab/core";
import {
  AGENT_CHANNEL_PATH,
  type AgentMessage,
  type CertificateResponse,
  type ServerMessage,
  serverMessageSchema,
} from "@lab/identity";
import {
  cacheFile,
  SecretCache,
  SecretSync,
  StoreClient,
  StoreReplica,
  storeUrlFromChannel,
} from "@lab/secrets/machine";
import WebSocket from "ws";
import { AgentApi } from "./api.js";
import { Backoff, BoundedQueue } from "./backoff.js";
import { CommandRunner } from "./exec.js";
import { createCsr, generatePrivateKey, signRenewalProof } from "./keys.js";
import {
  type AgentState,
  forgetEnrolment,
  loadState,
  prepareStateDir,
  saveCertificate,
  saveHostCertificates,
  saveKey,
} from "./state.js";
import { facts, heartbeat, hostKeyLines } from "./system.js";

export const AGENT_VERSION = "0.1.0";

/** Exit codes: 78 (EX_CONFIG) means "an operator must act" — systemd is told not to restart. */
export const AGENT_EXIT = { stopped: 0, error: 1, needsOperator: 78 } as const;

export interface AgentOptions {
  /** The Lab API, https://lab.example:7443. */
  server: string;
  stateDir: string;
  /** The machine's name (the join token's); default: the short host name. */
  name?: string;
  /** Used only when not enrolled (or when told to re-enrol). Never logged. */
  joinToken?: string;
  /** Lab's CA (PEM) to trust the server before enrolment; afterwards the state dir has it. */
  caPem?: string;
  /** Overrides the channel URL the server gave at enrolment. */
  channelUrl?: string;
  heartbeatMs?: number;
  backoff?: { baseMs: number; maxMs: number };
  /** No message or ping from the server for this long: the connection is dead. */
  livenessMs?: number;
  /** Where the SSH host keys are (default /etc/ssh). */
  hostKeyDir?: string;
  /** The IPv4 to report instead of the channel socket's local address (NAT, tests). */
  reportIpv4?: string;
  /**
   * Secrets: refreshed from the store every `refreshMs` into the encrypted cache (and the
   * env file / files dir when set); `false` turns it off.
   */
  secrets?: { refreshMs?: number; envFile?: string; filesDir?: string; stores?: string[] } | false;
  /**
   * Run a secret-store replica here (a machine with the `secret-store` label): it follows the
   * server's store and serves fetches on `listen`, also while the server is down.
   */
  secretStore?: { listen: { host: string; port: number }; keyFile: string; syncMs?: number };
  /** Called once the join token was spent (e.g. to delete the file it came from). */
  onEnrolled?: () => void;
  log?: (line: string) => void;
  now?: () => Date;
}

export interface AgentExit {
  code: number;
  reason: string;
}

/** Errors after which retrying cannot help: an operator must give a new token or fix config. */
const NEEDS_OPERATOR = new Set<string>([
  "LAB_E_JOIN_TOKEN_INVALID",
  "LAB_E_JOIN_TOKEN_USED",
  "LAB_E_JOIN_TOKEN_EXPIRED",
  "LAB_E_CSR_NAME_MISMATCH",
  "LAB_E_CSR_INVALID",
  "LAB_E_AGENT_REVOKED",
  "LAB_E_AGENT_REENROL",
  "LAB_E_AGENT_PROOF_INVALID",
  "LAB_E_TLS_UNTRUSTED",
]);
/** Channel errors that mean the server closed right after TLS: our certificate was refused. */
const REFUSED = /ECONNRESET|EPIPE|socket hang up|ERR_SSL|alert/i;
const CONGESTED_BYTES = 4 * 1024 * 1024;
const RENEW_TIMEOUT_MS = 60_000;

interface Connection {
  ws: WebSocket;
  welcomed: boolean;
  localIpv4: string | null;
}

export class Agent {
  private readonly log: (line: string) => void;
  private readonly now: () => Date;
  private readonly backoff: Backoff;
  private readonly runner = new CommandRunner();
  private readonly outbox = new BoundedQueue<AgentMessage>(64);
  private state: AgentState | undefined;
  private joinToken: string | undefined;
  private conn: Connection | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private livenessTimer: NodeJS.Timeout | undefined;
  private lastIpv4: string | null | undefined;
  private renewing: { id: string; at: number } | undefined;
  private reconnectWhenIdle = false;
  private finish!: (exit: AgentExit) => void;
  /** Resolves when the agent has stopped (by `stop()` or because an operator must act). */
  readonly done: Promise<AgentExit>;

  constructor(private readonly opts: AgentOptions) {
    this.log = opts.log ?? (() => undefined);
    this.now = opts.now ?? (() => new Date());
    this.backoff = new Backoff(opts.backoff ?? { baseMs: 1000, maxMs: 60_000 });
    this.joinToken = opts.joinToken;
    this.done = new Promise((resolve) => {
      this.finish = resolve;
    });
  }

  get name(): string {
    return this.state?.info.name ?? (this.opts.name ?? hostname().split(".")[0] ?? "").toLowerCase();
  }

  /** Starts the agent's loop in the background; see `done`. */
  start(): this {
    void this.run().then(
      (exit) => this.finish(exit),
      (e) => this.finish(this.failure(e)),
    );
    return this;
  }

  /** Closes the channel, kills running commands and stops. */
  async stop(): Promise<AgentExit> {
    this.stopping = true;
    this.wake?.();
    this.runner.cancelAll();
    this.conn?.ws.close(1001, "agent stopping");
    return this.done;
  }

  private async run(): Promise<AgentExit> {
    prepareStateDir(this.opts.stateDir);
    this.state = loadState(this.opts.stateDir);
    if (this.state && this.joinToken) {
      this.log(`already enrolled as ${this.state.info.name}: the join token is kept for a re-enrolment only`);
    }
    if (!this.state) {
      const enrolled = await this.retrying("enrol", () => this.enrol());
      if (!enrolled.ok) return enrolled.exit;
    }
    this.startHeartbeats();
    this.startSecretRefresh();
    this.startSecretStore();
    let refusals = 0;
    while (!this.stopping) {
      if (this.expired()) {
        const renewed = await this.retrying("renew", () => this.renewWithProof());
        if (!renewed.ok) return renewed.exit;
      }
      const outcome = await this.connectOnce();
      if (this.stopping) break;
      if (outcome.welcomed) {
        this.backoff.reset();
        refusals = 0;
      } else if (outcome.refused) {
        refusals++;
        this.log(`the channel refused the connection (${outcome.reason})`);
        if (refusals >= 2) {
          // Revoked, expired by the server's clock, or a re-issued CA: the API says which.
          refusals = 0;
          const renewed = await this.retrying("renew", () => this.renewWithProof());
          if (!renewed.ok) return renewed.exit;
        }
      }
      await this.sleep(this.backoff.next());
    }
    return { code: AGENT_EXIT.stopped, reason: "stopped" };
  }

  /** Runs `fn`, retrying network trouble with backoff; errors an operator must fix end the agent. */
  private async retrying(
    what: string,
    fn: () => Promise<void>,
  ): Promise<{ ok: true } | { ok: false; exit: AgentExit }> {
    for (;;) {
      if (this.stopping) return { ok: false, exit: { code: AGENT_EXIT.stopped, reason: "stopped" } };
      try {
        await fn();
        this.backoff.reset();
        return { ok: true };
      } catch (e) {
        if (isLabError(e) && NEEDS_OPERATOR.has(e.code)) {
          // Told to re-enrol, and holding a (new) join token: do it with a new key.
          if ((e.code === "LAB_E_AGENT_REENROL" || e.code === "LAB_E_AGENT_REVOKED") && this.joinToken) {
            this.log(`${what}: ${e.code}: enrolling again with the join token`);
            this.secretSync()?.wipe();
            forgetEnrolment(this.opts.stateDir);
            this.state = undefined;
            fn = () => this.enrol();
            continue;
          }
          return { ok: false, exit: this.failure(e) };
        }
        if (isLabError(e) && e.code === "LAB_E_AGENT_STATE") return { ok: false, exit: this.failure(e) };
        const delay = this.backoff.next();
        this.log(
          `${what} failed (${isLabError(e) ? e.code : "error"}: ${(e as Error).message}); retrying in ${delay} ms`,
        );
        await this.sleep(delay);
      }
    }
  }

  private failure(e: unknown): AgentExit {
    if (isLabError(e) && e.code === "LAB_E_AGENT_REVOKED") {
      // A revoked machine keeps no secrets: the cache and everything delivered from it go.
      try {
        this.secretSync()?.wipe();
        this.log("revoked: the secret cache and delivered secrets were wiped");
      } catch (w) {
        this.log(`revoked, but wiping the secret cache failed: ${(w as Error).message}`);
      }
    }
    if (isLabError(e)) {
      const code = NEEDS_OPERATOR.has(e.code) ? AGENT_EXIT.needsOperator : AGENT_EXIT.error;
      const reason = `${e.code}: ${e.message} (${e.hint})`;
      this.log(`stopping: ${reason}`);
      return { code, reason };
    }
    const reason = (e as Error).stack ?? String(e);
    this.log(`stopping: ${reason}`);
    return { code: AGENT_EXIT.error, reason };
  }

  // ── enrolment and renewal ──

  private async enrol(): Promise<void> {
    const token = this.joinToken;
    if (!token) {
      throw new LabError(
        "LAB_E_JOIN_TOKEN_INVALID",
        `not enrolled yet (${this.opts.stateDir} has no certificate) and no join token was given: ` +
          "pass --join-token-file (or LAB_JOIN_TOKEN)",
      );
    }
    const name = this.name;
    // A join token means a new identity: always a new key, never one that may have been revoked.
    const keyPem = generatePrivateKey();
    saveKey(this.opts.stateDir, keyPem);
    const api = new AgentApi(this.opts.server, this.opts.caPem);
    const r = await api.enrol({
      token,
      csr: await createCsr(name, keyPem),
      hostKeys: hostKeyLines(this.opts.hostKeyDir),
      facts: facts(AGENT_VERSION),
      version: AGENT_VERSION,
      ...(this.opts.reportIpv4 ? { ipv4: this.opts.reportIpv4 } : {}),
    });
    this.joinToken = undefined;
    const at = this.now().toISOString();
    this.save(r, keyPem, { channelUrl: r.channelUrl, enrolledAt: at, renewedAt: null });
    if (r.hostCertificates.length) {
      const files = saveHostCertificates(this.opts.stateDir, r.hostCertificates);
      this.log(`SSH host certificates written: ${files.join(", ")}`);
    }
    this.log(`enrolled as ${name}; certificate valid until ${r.renewal.notAfter}`);
    this.opts.onEnrolled?.();
  }

  /** Renewal with proof of possession of the enrolled key (works after expiry). */
  private async renewWithProof(): Promise<void> {
    const state = this.mustState();
    const api = new AgentApi(this.opts.server, state.caPem);
    const { challenge } = await api.challenge(state.info.name);
    const csr = await createCsr(state.info.name, state.keyPem);
    const r = await api.renew({
      name: state.info.name,
      csr,
      challenge,
      signature: signRenewalProof(state.keyPem, state.info.name, challenge, csr),
    });
    this.save(r, state.keyPem, {});
    this.log(`certificate renewed with proof of possession; valid until ${r.renewal.notAfter}`);
  }

  /** Asks for a new certificate over the live channel. */
  private async renewOnline(): Promise<void> {
    const state = this.mustState();
    if (this.renewing && Date.now() - this.renewing.at < RENEW_TIMEOUT_MS) return;
    const id = `renew-${Date.now().toString(36)}`;
    this.renewing = { id, at: Date.now() };
    try {
      this.send({ type: "renew", id, csr: await createCsr(state.info.name, state.keyPem) });
    } catch (e) {
      this.renewing = undefined;
      this.log(`renewal request failed: ${(e as Error).message}`);
    }
  }

  private save(
    r: CertificateResponse,
    keyPem: string,
    extra: { channelUrl?: string; enrolledAt?: string; renewedAt?: string | null },
  ): void {
    const previous = this.state?.info;
    const channelUrl =
      this.opts.channelUrl ?? extra.channelUrl ?? previous?.channelUrl ?? defaultChannelUrl(this.opts.server);
    const info = {
      name: r.name,
      server: this.opts.server,
      channelUrl,
      serial: r.serial,
      notAfter: r.renewal.notAfter,
      renewAfter: r.renewal.renewAfter,
      maxOfflineDays: r.renewal.maxOfflineDays,
      enrolledAt: extra.enrolledAt ?? previous?.enrolledAt ?? this.now().toISOString(),
      renewedAt: extra.renewedAt === null ? null : this.now().toISOString(),
    };
    saveCertificate(this.opts.stateDir, { info, certPem: r.certificate, caPem: r.caCertificate });
    this.state = { info, keyPem, certPem: r.certificate, caPem: r.caCertificate };
  }

  private mustState(): AgentState {
    if (!this.state) throw new LabError("LAB_E_AGENT_STATE", "not enrolled");
    return this.state;
  }

  private expired(): boolean {
    return Date.parse(this.mustState().info.notAfter) <= this.now().getTime();
  }

  // ── the channel ──

  private connectOnce(): Promise<{ welcomed: boolean; refused: boolean; reason: string }> {
    const state = this.mustState();
    const url = this.opts.channelUrl ?? state.info.channelUrl;
    return new Promise((resolve) => {
      let opened = false;
      let reason = "";
      const ws = new WebSocket(url, {
        ca: state.caPem,
        cert: state.certPem,
        key: state.keyPem,
        handshakeTimeout: 15_000,
        maxPayload: 4 * 1024 * 1024,
        perMessageDeflate: false,
      });
      const conn: Connection = { ws, welcomed: false, localIpv4: null };
      this.conn = conn;
      ws.on("upgrade", (res) => {
        const local = res.socket.localAddress?.replace(/^::ffff:/, "") ?? null;
        conn.localIpv4 = local && isIPv4(local) ? local : null;
      });
      ws.on("open", () => {
        opened = true;
        this.alive();
        this.send({ type: "hello", name: state.info.name, version: AGENT_VERSION });
        for (const m of this.outbox.drain()) this.send(m);
        this.send({ type: "facts", facts: facts(AGENT_VERSION) });
        this.tick();
      });
      ws.on("ping", () => this.alive());
      ws.on("message", (data) => {
        this.alive();
        this.onMessage(conn, data.toString());
      });
      ws.on("error", (e) => {
        reason = (e as NodeJS.ErrnoException).code ?? e.message;
        if (!opened) reason = `${reason} ${e.message}`;
      });
      ws.on("close", (code, why) => {
        if (this.conn === conn) this.conn = undefined;
        if (this.livenessTimer) clearTimeout(this.livenessTimer);
        this.runner.cancelAll();
        this.renewing = undefined;
        const refused = !opened && REFUSED.test(reason);
        if (opened) this.log(`channel closed (${code}${why.length ? ` ${why.toString()}` : ""})`);
        else if (!refused) this.log(`cannot connect to ${url}: ${reason.trim() || code}`);
        resolve({ welcomed: conn.welcomed, refused, reason: reason.trim() || String(code) });
      });
    });
  }

  private onMessage(conn: Connection, text: string): void {
    let msg: ServerMessage;
    try {
      msg = serverMessageSchema.parse(JSON.parse(text));
    } catch {
      this.log("ignored a malformed message from the server");
      return;
    }
    switch (msg.type) {
      case "welcome":
        conn.welcomed = true;
        this.backoff.reset();
        this.log(`connected to the channel as ${msg.name}`);
        break;
      case "exec":
        this.runner.start(msg.id, msg.command, msg.timeoutMs, {
          output: (stream, data) =>
            this.send({ type: "exec.output", id: msg.id, stream, data: data.toString("base64") }),
          exit: (result) => this.send({ type: "exec.exit", id: msg.id, ...result }),
          congested: () => conn.ws.bufferedAmount > CONGESTED_BYTES,
        });
        break;
      case "exec.cancel":
        this.runner.cancel(msg.id);
        break;
      case "renew-now":
        void this.renewOnline();
        break;
      case "certificate": {
        if (this.renewing?.id !== msg.id) break;
        this.renewing = undefined;
        const state = this.mustState();
        this.save({ ...msg, name: state.info.name }, state.keyPem, {});
        this.log(`certificate renewed; valid until ${msg.renewal.notAfter}`);
        // The next connection uses the new certificate; wait for running commands first.
        this.reconnectWhenIdle = true;
        this.maybeReconnect();
        break;
      }
      case "error":
        this.log(`server: ${msg.code}: ${msg.message}`);
        if (msg.id && this.renewing?.id === msg.id) this.renewing = undefined;
        if (msg.code === "LAB_E_AGENT_REVOKED") conn.ws.close(1000, "revoked");
        break;
    }
  }

  private maybeReconnect(): void {
    if (!this.reconnectWhenIdle || this.runner.size > 0 || !this.conn) return;
    this.reconnectWhenIdle = false;
    this.conn.ws.close(1000, "reconnecting with a renewed certificate");
  }

  /** Sends now, or keeps reports (heartbeats, facts) for the next connection. */
  private send(msg: AgentMessage): void {
    const ws = this.conn?.ws;
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(msg));
      return;
    }
    if (msg.type === "heartbeat" || msg.type === "facts") this.outbox.push(msg, msg.type);
  }

  /** The secret sync over the current certificate (renewals replace it), or undefined. */
  /** One SecretSync per identity, so a wipe on revocation also stops a refresh in flight. */
  private sync: { serial: string; sync: SecretSync } | undefined;

  private secretSync(): SecretSync | undefined {
    const o = this.opts.secrets;
    const st = this.state;
    if (o === false || !st) return undefined;
    if (this.sync?.serial === st.info.serial) return this.sync.sync;
    const stores = o?.stores?.length
      ? o.stores
      : [storeUrlFromChannel(this.opts.channelUrl ?? st.info.channelUrl)];
    const client = new StoreClient(stores, { keyPem: st.keyPem, certPem: st.certPem, caPem: st.caPem });
    const sync = new SecretSync(
      st.info.name,
      new SecretCache(cacheFile(this.opts.stateDir), st.keyPem),
      client,
      {
        envFile: o?.envFile,
        filesDir: o?.filesDir,
      },
    );
    this.sync = { serial: st.info.serial, sync };
    return sync;
  }

  /** The replica: started once a first snapshot exists (from disk or the primary), retried until then. */
  private startSecretStore(): void {
    const o = this.opts.secretStore;
    const st = this.state;
    if (!o || !st) return;
    const attempt = async (): Promise<void> => {
      if (this.stopping) return;
      const replica = new StoreReplica({
        dir: `${this.opts.stateDir}/secret-store`,
        keyFile: o.keyFile,
        primary: storeUrlFromChannel(this.opts.channelUrl ?? st.info.channelUrl),
        creds: { keyPem: st.keyPem, certPem: st.certPem, caPem: st.caPem },
        name: st.info.name,
        listen: o.listen,
        syncMs: o.syncMs,
        log: this.log,
      });
      try {
        await replica.start();
        void this.done.then(() => replica.close());
      } catch (e) {
        this.log(
          `secret store: not serving yet (${isLabError(e) ? e.code : "error"}: ${(e as Error).message}); retrying`,
        );
        // Not this.sleep: that one is the main loop's (stop() wakes it).
        setTimeout(() => void attempt(), o.syncMs ?? 10_000).unref();
      }
    };
    void attempt();
  }

  /** At start (the cache is delivered at once, store or not), then every refreshMs. */
  private startSecretRefresh(): void {
    if (this.opts.secrets === false) return;
    let last = "";
    const tick = async () => {
      const sync = this.secretSync();
      if (!sync || this.stopping) return;
      const r = await sync
        .refresh()
        .catch((e: Error) => ({ error: `${isLabError(e) ? e.code : "error"}: ${e.message}` }));
      const line =
        "fetched" in r
          ? r.error
            ? `secrets: no store answered (${r.error}); serving ${r.cached} cached`
            : `secrets: ${r.cached} of ${r.entitled} entitled cached (store ${r.store})`
          : `secrets: refresh failed (${r.error})`;
      if ("fetched" in r && (r.fetched.length || r.dropped.length)) {
        this.log(
          `secrets: fetched ${r.fetched.join(", ") || "none"}; dropped ${r.dropped.join(", ") || "none"}`,
        );
      }
      // Said once per change of state, not every minute.
      if (line !== last) this.log(line);
      last = line;
    };
    void tick();
    const timer = setInterval(() => void tick(), this.opts.secrets?.refreshMs ?? 60_000);
    timer.unref();
    void this.done.then(() => clearInterval(timer));
  }

  private startHeartbeats(): void {
    this.heartbeatTimer = setInterval(() => this.tick(), this.opts.heartbeatMs ?? 30_000);
    this.heartbeatTimer.unref();
    void this.done.then(() => clearInterval(this.heartbeatTimer));
  }

  /** A heartbeat (sent, or queued while offline); renews when due; reconnects when asked. */
  private tick(): void {
    if (this.stopping || !this.state) return;
    const local = this.conn?.localIpv4;
    if (local && !this.opts.reportIpv4 && !hasAddress(local)) {
      // Renumbered (DHCP, a move): the old socket can never deliver again. Reconnecting from
      // the new address at once is what updates DNS, rather than waiting out the liveness timer.
      this.log(`address ${local} is gone: reconnecting from the new one`);
      this.conn?.ws.terminate();
      return;
    }
    const ipv4 = this.opts.reportIpv4 ?? this.conn?.localIpv4 ?? null;
    if (this.lastIpv4 !== undefined && ipv4 && ipv4 !== this.lastIpv4) this.log(`address changed to ${ipv4}`);
    if (ipv4) this.lastIpv4 = ipv4;
    this.send(heartbeat(ipv4, this.outbox.dropped));
    const connected = this.conn?.welcomed;
    if (connected && this.now().getTime() >= Date.parse(this.state.info.renewAfter)) void this.renewOnline();
    this.maybeReconnect();
  }

  private alive(): void {
    if (this.livenessTimer) clearTimeout(this.livenessTimer);
    const conn = this.conn;
    this.livenessTimer = setTimeout(() => {
      this.log("no word from the server: reconnecting");
      conn?.ws.terminate();
    }, this.opts.livenessMs ?? 100_000);
    this.livenessTimer.unref();
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

/** wss://host:7444/agent/v1 for an API URL https://host:7443. */
export function defaultChannelUrl(server: string): string {
  const u = new URL(server);
  // URL keeps IPv6 literals bracketed in `hostname`.
  return `wss://${u.hostname}:7444${AGENT_CHANNEL_PATH}`;
}

/** Starts an agent; stop it with `stop()`, wait for it with `done`. */
export function runAgent(opts: AgentOptions): Agent {
  return new Agent(opts).start();
}

/** Whether one of this machine's interfaces still holds `ipv4`. */
function hasAddress(ipv4: string): boolean {
  return Object.values(networkInterfaces()).some((list) => list?.some((a) => a.address === ipv4));
}
