/**
 * The agent channel: a TLS listener of its own (default port 7444) that demands a client
 * certificate from Lab's CA, with WebSocket on top. Admission happens at the TLS layer, on
 * `secureConnection`, before a single application byte is read:
 *
 * - OpenSSL verifies the chain, the validity dates and the CRL (loaded into the secure
 *   context and swapped with `setSecureContext` whenever the revoked set changes);
 * - the certificate must be for client authentication, and its serial and name must not be
 *   revoked (checked again from memory, so a revoke takes effect at once);
 * - a refused socket is destroyed there: it never reaches HTTP, let alone WebSocket.
 *
 * Before the WebSocket upgrade completes, the certificate is matched against the store
 * (a certificate Lab issued to that agent). Messages are JSON, checked with zod; control
 * messages (heartbeats, facts, renewals) are rate limited per connection, excess dropped
 * and counted, and a connection that keeps flooding is closed.
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import { isIPv4 } from "node:net";
import tls from "node:tls";
import { type LabCode, LabError, type NewAuditEvent } from "@lab/core";
import {
  AGENT_CHANNEL_PATH,
  AGENT_PROTOCOL_VERSION,
  type AgentMessage,
  agentMessageSchema,
  CrlCache,
  type Heartbeat,
  type IdentityService,
  isMachineName,
  normalizeSerial,
  type ServerMessage,
} from "@lab/identity";
import { type WebSocket, WebSocketServer } from "ws";

const CLIENT_AUTH_OID = "1.3.6.1.5.5.7.3.2";

export interface AgentChannelOptions {
  identity: IdentityService;
  /** Every heartbeat an agent sends (the log pipeline's heartbeat source). */
  onHeartbeat?: (name: string, heartbeat: Omit<Heartbeat, "type">) => void;
  /** The listener's certificate (PEM chain) and key: the server's own certificate. */
  tls: { certPem: string; keyPem: string };
  host?: string;
  /** Default 7444; 0 picks a free port. */
  port?: number;
  /** Records an audit event (and tells the event feed), e.g. store.record + recorded(). */
  record?: (event: NewAuditEvent) => Promise<void>;
  log?: (line: string) => void;
  /** Control messages per connection: a bucket of `burst`, refilled at `perSecond`. */
  rateLimit?: { burst: number; perSecond: number; maxDropsPerMinute: number };
  pingMs?: number;
  /** How often revocations, renewal requests and DNS clean-ups done elsewhere are picked up. */
  refreshMs?: number;
  /** Check-ins are written at most this often per agent (unless the address changed). */
  checkInWriteMs?: number;
  maxExecsPerAgent?: number;
  handshakeTimeoutMs?: number;
  /**
   * Plain HTTP requests on the channel's port from an admitted machine (the secret store's
   * fetches); resolves false for a request it does not serve.
   */
  requests?: (req: http.IncomingMessage, res: http.ServerResponse, peer: ChannelPeer) => Promise<boolean>;
  /**
   * Other WebSocket endpoints on this port, by path (a bastion's link): the same admission
   * as an agent's (certificate, store record, revocation), then the socket is theirs.
   */
  upgrades?: Record<
    string,
    (req: http.IncomingMessage, socket: tls.TLSSocket, head: Buffer, peer: ChannelPeer) => void
  >;
}

/** Who an admitted connection belongs to (its certificate's CN and serial). */
export interface ChannelPeer {
  name: string;
  serial: string;
}

export interface ExecHandlers {
  output(stream: "stdout" | "stderr", data: Buffer): void;
  exit(result: { code: number | null; signal: string | null; timedOut: boolean; error?: string }): void;
  error(error: LabError): void;
}

export interface ExecHandle {
  id: string;
  cancel(): void;
}

export interface SessionInfo {
  name: string;
  serial: string;
  remoteAddress: string;
  connectedAt: string;
  version: string | null;
  lastHeartbeat: Omit<Heartbeat, "type"> | null;
  dropped: number;
}

export interface ChannelStats {
  connected: number;
  /** Connections refused at the TLS layer, by reason (CERT_REVOKED, UNABLE_TO_VERIFY_LEAF_SIGNATURE, …). */
  refused: Record<string, number>;
  /** Control messages dropped by the rate limit (or malformed), all agents. */
  dropped: number;
  /** Connections closed for flooding. */
  closedForFlood: number;
}

interface Peer {
  name: string;
  serial: string;
  notAfter: number;
}

class TokenBucket {
  private tokens: number;
  private at = Date.now();

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
  ) {
    this.tokens = burst;
  }

  take(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

class Session {
  readonly bucket: TokenBucket;
  /**
   * Renewals have their own small budget: a chatty agent whose heartbeats use up the
   * control budget must still be able to renew before its certificate runs out.
   */
  readonly renewals = new TokenBucket(3, 1 / 60);
  readonly execs = new Map<string, ExecHandlers>();
  readonly connectedAt = new Date().toISOString();
  version: string | null = null;
  lastHeartbeat: Omit<Heartbeat, "type"> | null = null;
  lastWrite = 0;
  lastIpv4: string | null = null;
  dropped = 0;
  /** Drop times within the last minute (bounded by the close threshold). */
  recentDrops: number[] = [];
  alive = true;
  renewAskedFor: string | null = null;
  closedReason: string | undefined;

  constructor(
    readonly ws: WebSocket,
    readonly peer: Peer,
    readonly remoteAddress: string,
    limit: { burst: number; perSecond: number },
  ) {
    this.bucket = new TokenBucket(limit.burst, limit.perSecond);
  }

  send(msg: ServerMessage): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(msg));
  }
}

export class AgentChannel {
  private readonly identity: IdentityService;
  private readonly log: (line: string) => void;
  private readonly record: (event: NewAuditEvent) => Promise<void>;
  private readonly limit: { burst: number; perSecond: number; maxDropsPerMinute: number };
  private readonly crl: CrlCache;
  private readonly sessions = new Map<string, Session>();
  private readonly peers = new WeakMap<object, Peer>();
  private revokedNames = new Set<string>();
  private server: tls.Server | undefined;
  private readonly http: http.Server;
  private readonly wss: WebSocketServer;
  private timers: NodeJS.Timeout[] = [];
  private refreshing: Promise<void> | undefined;
  private lastPrune = 0;
  private boundPort = 0;
  readonly counters: ChannelStats = { connected: 0, refused: {}, dropped: 0, closedForFlood: 0 };

  constructor(private readonly opts: AgentChannelOptions) {
    this.identity = opts.identity;
    this.log = opts.log ?? (() => undefined);
    this.record = opts.record ?? (async () => undefined);
    this.limit = opts.rateLimit ?? { burst: 10, perSecond: 0.5, maxDropsPerMinute: 60 };
    this.crl = new CrlCache(opts.identity.ca, opts.identity.repo);
    this.http = http.createServer({ requestTimeout: 15_000, headersTimeout: 10_000 });
    this.http.on("request", (req, res) => {
      const peer = this.peers.get(req.socket);
      const served = peer && opts.requests ? opts.requests(req, res, peer) : Promise.resolve(false);
      void served
        .catch((e) => {
          this.log(`agent channel: request failed: ${(e as Error).message}`);
          if (!res.headersSent) res.writeHead(500);
          return true;
        })
        .then((done) => {
          if (done) return;
          res.writeHead(426, { "content-type": "text/plain", connection: "close" });
          res.end(`this is Lab's agent channel: connect a WebSocket to ${AGENT_CHANNEL_PATH}\n`);
        });
    });
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 2 * 1024 * 1024, perMessageDeflate: false });
    this.http.on("upgrade", (req, socket, head) => {
      void this.upgrade(req, socket as tls.TLSSocket, head);
    });
  }

  /** Starts listening; resolves once bound. */
  async start(): Promise<{ port: number }> {
    await this.loadRevocations();
    const server = tls.createServer({
      ...this.secureOptions(),
      requestCert: true,
      // Node checks `authorized` in JS after the handshake either way; doing it ourselves
      // (below) gives the reason for the log and adds the revoked-name check.
      rejectUnauthorized: false,
      minVersion: "TLSv1.2",
      handshakeTimeout: this.opts.handshakeTimeoutMs ?? 10_000,
    });
    server.on("secureConnection", (socket) => this.admit(socket));
    server.on("tlsClientError", (e, socket) => {
      this.count(`TLS ${(e as NodeJS.ErrnoException).code ?? "error"}`);
      socket.destroy();
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.port ?? 7444, this.opts.host ?? "0.0.0.0", () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (e) => this.log(`agent channel: ${e.message}`));
    const address = server.address();
    this.boundPort = typeof address === "object" && address ? address.port : (this.opts.port ?? 7444);
    const ping = setInterval(() => this.pingAll(), this.opts.pingMs ?? 30_000);
    const refresh = setInterval(
      () => void this.refresh().catch((e) => this.log(`agent channel refresh: ${e}`)),
      this.opts.refreshMs ?? 30_000,
    );
    for (const t of [ping, refresh]) t.unref();
    this.timers = [ping, refresh];
    return { port: this.boundPort };
  }

  get port(): number {
    return this.boundPort;
  }

  /** The URL agents connect to, for a host name they already reach the server by. */
  urlFor(hostname: string): string {
    const host = hostname.includes(":") && !hostname.startsWith("[") ? `[${hostname}]` : hostname;
    return `wss://${host}:${this.boundPort}${AGENT_CHANNEL_PATH}`;
  }

  /** Stops listening and closes every agent connection (they reconnect to the next server). */
  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const s of this.sessions.values()) {
      s.closedReason = "server shutting down";
      s.ws.close(1001, "server shutting down");
    }
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sessions.values()) s.ws.terminate();
    this.http.close();
    this.wss.close();
  }

  isConnected(name: string): boolean {
    return this.sessions.has(name);
  }

  /** What is connected right now. */
  list(): SessionInfo[] {
    return [...this.sessions.values()].map((s) => this.info(s));
  }

  session(name: string): SessionInfo | undefined {
    const s = this.sessions.get(name);
    return s ? this.info(s) : undefined;
  }

  stats(): ChannelStats {
    return { ...this.counters, connected: this.sessions.size, refused: { ...this.counters.refused } };
  }

  /** Runs a shell command on a connected agent; output and the exit arrive through `handlers`. */
  exec(name: string, command: string, timeoutMs: number, handlers: ExecHandlers): ExecHandle {
    const s = this.sessions.get(name);
    if (!s)
      throw new LabError("LAB_E_AGENT_NOT_CONNECTED", `agent "${name}" is not connected to this server`);
    if (s.execs.size >= (this.opts.maxExecsPerAgent ?? 16)) {
      throw new LabError("LAB_E_AGENT_BUSY", `agent "${name}" already runs ${s.execs.size} commands`);
    }
    const id = randomBytes(8).toString("hex");
    s.execs.set(id, handlers);
    s.send({ type: "exec", id, command, timeoutMs });
    return {
      id,
      cancel: () => {
        if (s.execs.delete(id)) s.send({ type: "exec.cancel", id });
      },
    };
  }

  /** Asks a connected agent to renew now; false when it is not connected here. */
  requestRenewal(name: string): boolean {
    const s = this.sessions.get(name);
    if (!s) return false;
    s.send({ type: "renew-now" });
    return true;
  }

  /** After a revoke: re-sign the CRL, swap the TLS context and cut the agent at once. */
  async revoked(name: string): Promise<boolean> {
    this.revokedNames.add(name);
    const s = this.sessions.get(name);
    if (s) this.cut(s, "revoked");
    await this.refresh();
    return Boolean(s);
  }

  /**
   * Picks up what changed in the store (possibly through another replica or a local CLI):
   * revocations (CRL, live connections), renewal requests, DNS clean-up for revoked agents.
   */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    const agents = await this.identity.repo.listAgents();
    await this.loadRevocations(agents.filter((a) => a.revokedAt).map((a) => a.name));
    for (const s of [...this.sessions.values()]) {
      if (this.revokedNames.has(s.peer.name) || this.crl.isRevoked(s.peer.serial)) this.cut(s, "revoked");
    }
    for (const a of agents) {
      const s = this.sessions.get(a.name);
      if (s && a.renewRequestedAt && s.renewAskedFor !== a.renewRequestedAt) {
        s.renewAskedFor = a.renewRequestedAt;
        s.send({ type: "renew-now" });
      }
    }
    await this.identity.cleanUpRevokedDns(agents);
    if (Date.now() - this.lastPrune > 3_600_000) {
      this.lastPrune = Date.now();
      await this.identity.repo.pruneJoinTokens(new Date(Date.now() - 7 * 86_400_000).toISOString());
    }
  }

  private async loadRevocations(names?: string[]): Promise<void> {
    const revokedNames =
      names ?? (await this.identity.repo.listAgents()).filter((a) => a.revokedAt).map((a) => a.name);
    this.revokedNames = new Set(revokedNames);
    if ((await this.crl.refresh()) && this.server) {
      this.server.setSecureContext(this.secureOptions());
      this.log(`agent channel: CRL updated (${this.crl.serials.size} revoked certificates)`);
    }
  }

  private secureOptions(): tls.SecureContextOptions {
    return {
      key: this.opts.tls.keyPem,
      cert: this.opts.tls.certPem,
      ca: this.identity.ca.certPem,
      crl: this.crl.crlPem,
    };
  }

  // ── admission ──

  /** TLS-level admission, synchronous: a refused socket never reaches HTTP. */
  private admit(socket: tls.TLSSocket): void {
    const verdict = this.verdict(socket);
    if ("refused" in verdict) {
      this.count(verdict.refused);
      this.log(`agent channel: refused ${socket.remoteAddress ?? "?"}: ${verdict.refused}${verdict.detail}`);
      socket.destroy();
      return;
    }
    this.peers.set(socket, verdict.peer);
    socket.setTimeout(this.opts.handshakeTimeoutMs ?? 10_000, () => socket.destroy());
    this.http.emit("connection", socket);
  }

  /** Who the peer is, or why it is refused. */
  private verdict(socket: tls.TLSSocket): { peer: Peer } | { refused: string; detail: string } {
    if (!socket.authorized) {
      return { refused: String(socket.authorizationError ?? "NO_CERTIFICATE"), detail: "" };
    }
    const cert = socket.getPeerCertificate();
    const serial = normalizeSerial(cert.serialNumber ?? "");
    const name = typeof cert.subject?.CN === "string" ? cert.subject.CN : "";
    if (!cert.ext_key_usage?.includes(CLIENT_AUTH_OID))
      return { refused: "NOT_CLIENT_CERT", detail: ` (${name})` };
    // OpenSSL already said CERT_REVOKED if the CRL lists it; this catches the instant between
    // a revoke and the new TLS context (and would catch a CRL that failed to load).
    if (this.crl.isRevoked(serial))
      return { refused: "SERIAL_REVOKED", detail: ` (${name}, serial ${serial})` };
    if (!isMachineName(name)) return { refused: "BAD_NAME", detail: "" };
    if (this.revokedNames.has(name)) return { refused: "AGENT_REVOKED", detail: ` (${name})` };
    return { peer: { name, serial, notAfter: Date.parse(cert.valid_to) } };
  }

  /** Store-level admission before the WebSocket is accepted: a certificate Lab issued to that agent. */
  private async upgrade(req: http.IncomingMessage, socket: tls.TLSSocket, head: Buffer): Promise<void> {
    const peer = this.peers.get(socket);
    const deny = (status: number, reason: string) => {
      this.count(reason);
      socket.end(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`,
      );
      socket.destroy();
    };
    if (!peer) return deny(403, "NO_PEER");
    const path = (req.url ?? "").split("?")[0] ?? "";
    const other = path === AGENT_CHANNEL_PATH ? undefined : this.opts.upgrades?.[path];
    if (path !== AGENT_CHANNEL_PATH && !other) return deny(404, "BAD_PATH");
    try {
      const [cert, agent] = await Promise.all([
        this.identity.repo.getCert(peer.serial),
        this.identity.repo.getAgent(peer.name),
      ]);
      if (!cert || cert.name !== peer.name || cert.revokedAt) return deny(403, "UNKNOWN_CERT");
      if (!agent || agent.revokedAt) return deny(403, "AGENT_REVOKED");
      if (this.revokedNames.has(peer.name) || socket.destroyed) return deny(403, "AGENT_REVOKED");
    } catch (e) {
      this.log(`agent channel: store unavailable during admission: ${(e as Error).message}`);
      return deny(503, "STORE_UNAVAILABLE");
    }
    socket.setTimeout(0);
    if (other) return other(req, socket, head, { name: peer.name, serial: peer.serial });
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, peer, socket.remoteAddress ?? "?"));
  }

  private accept(ws: WebSocket, peer: Peer, remoteAddress: string): void {
    const previous = this.sessions.get(peer.name);
    if (previous) {
      previous.closedReason = "replaced by a newer connection";
      previous.ws.close(4000, "replaced by a newer connection");
    }
    const s = new Session(ws, peer, remoteAddress, this.limit);
    this.sessions.set(peer.name, s);
    ws.on("message", (data, isBinary) => {
      s.alive = true;
      if (isBinary) return this.drop(s, "binary message");
      void this.onMessage(s, data.toString()).catch((e) =>
        this.log(`agent ${peer.name}: ${(e as Error).message}`),
      );
    });
    ws.on("pong", () => {
      s.alive = true;
    });
    ws.on("error", () => undefined);
    ws.on("close", (code) => this.closed(s, code));
    s.send({
      type: "welcome",
      name: peer.name,
      serverTime: new Date().toISOString(),
      protocol: AGENT_PROTOCOL_VERSION,
    });
    this.event("agent.connect", peer.name, `agent ${peer.name} connected from ${remoteAddress}`);
    void this.identity
      .checkIn(peer.name, {})
      .catch((e) => this.log(`agent ${peer.name}: check-in: ${(e as Error).message}`));
  }

  private closed(s: Session, code: number): void {
    if (this.sessions.get(s.peer.name) === s) this.sessions.delete(s.peer.name);
    for (const [id, h] of s.execs) {
      s.execs.delete(id);
      h.error(
        new LabError(
          "LAB_E_AGENT_DISCONNECTED",
          `agent "${s.peer.name}" disconnected while the command ran (${s.closedReason ?? `close ${code}`})`,
        ),
      );
    }
    this.event(
      "agent.disconnect",
      s.peer.name,
      `agent ${s.peer.name} disconnected (${s.closedReason ?? `close ${code}`})`,
    );
  }

  /** Ends a connection at once (no closing handshake: a revoked agent gets no grace). */
  private cut(s: Session, reason: string): void {
    s.closedReason = reason;
    s.ws.terminate();
  }

  // ── messages ──

  private async onMessage(s: Session, text: string): Promise<void> {
    let msg: AgentMessage;
    try {
      msg = agentMessageSchema.parse(JSON.parse(text));
    } catch {
      return this.drop(s, "malformed message");
    }
    const name = s.peer.name;
    switch (msg.type) {
      case "exec.output": {
        const h = s.execs.get(msg.id);
        if (!h) return this.drop(s, "output for an unknown command");
        h.output(msg.stream, Buffer.from(msg.data, "base64"));
        return;
      }
      case "exec.exit": {
        const h = s.execs.get(msg.id);
        if (!h) return this.drop(s, "exit of an unknown command");
        s.execs.delete(msg.id);
        h.exit({
          code: msg.code,
          signal: msg.signal,
          timedOut: msg.timedOut,
          ...(msg.error ? { error: msg.error } : {}),
        });
        return;
      }
      default:
        break;
    }
    // Control messages: rate limited.
    const bucket = msg.type === "renew" ? s.renewals : s.bucket;
    if (!bucket.take()) return this.drop(s, `${msg.type} over the rate limit`);
    switch (msg.type) {
      case "hello":
        if (msg.name !== name) {
          s.closedReason = `hello names "${msg.name}" but the certificate is for "${name}"`;
          s.ws.close(1008, "name does not match the certificate");
          return;
        }
        s.version = msg.version;
        await this.identity.checkIn(name, { version: msg.version });
        return;
      case "heartbeat":
        return this.heartbeat(s, msg);
      case "facts":
        await this.identity.repo.recordFacts(name, msg.facts);
        return;
      case "renew":
        try {
          const issued = await this.identity.renewOnline(name, msg.csr);
          s.send({ type: "certificate", id: msg.id, ...issued });
          this.event(
            "agent.renew",
            name,
            `agent ${name} renewed its certificate online (serial ${issued.serial})`,
          );
        } catch (e) {
          const code: LabCode = e instanceof LabError ? e.code : "LAB_E_INTERNAL";
          s.send({ type: "error", id: msg.id, code, message: (e as Error).message });
        }
        return;
    }
  }

  private async heartbeat(s: Session, msg: Heartbeat): Promise<void> {
    const { type: _type, ...figures } = msg;
    s.lastHeartbeat = figures;
    this.opts.onHeartbeat?.(s.peer.name, figures);
    const ipv4 = msg.ipv4 && isIPv4(msg.ipv4) ? msg.ipv4 : null;
    const changed = ipv4 !== null && ipv4 !== s.lastIpv4;
    const due = Date.now() - s.lastWrite >= (this.opts.checkInWriteMs ?? 60_000);
    if (!changed && !due) return;
    s.lastWrite = Date.now();
    s.lastIpv4 = ipv4 ?? s.lastIpv4;
    const { changedFrom } = await this.identity.checkIn(s.peer.name, {
      ipv4,
      addresses: msg.addresses.map((a) => a.address),
      status: {
        uptime: msg.uptime,
        load: msg.load,
        memory: msg.memory,
        disk: msg.disk,
        at: new Date().toISOString(),
      },
    });
    if (changedFrom !== undefined) {
      this.event(
        "agent.ip-change",
        s.peer.name,
        `agent ${s.peer.name} moved from ${changedFrom ?? "nowhere"} to ${ipv4}`,
      );
    }
  }

  /** Counts a dropped message; a connection that keeps doing it is closed. */
  private drop(s: Session, why: string): void {
    s.dropped++;
    this.counters.dropped++;
    const now = Date.now();
    s.recentDrops.push(now);
    while (s.recentDrops.length && (s.recentDrops[0] ?? 0) < now - 60_000) s.recentDrops.shift();
    if (s.dropped === 1) this.log(`agent ${s.peer.name}: dropped a message (${why})`);
    if (s.recentDrops.length > this.limit.maxDropsPerMinute && !s.closedReason) {
      this.counters.closedForFlood++;
      s.closedReason = `flooding (${s.recentDrops.length} dropped in a minute, last: ${why})`;
      this.log(`agent ${s.peer.name}: closing the connection: ${s.closedReason}`);
      s.ws.close(1008, "message flood");
      this.event("agent.flood", s.peer.name, `agent ${s.peer.name} was disconnected for flooding`, "error");
    }
  }

  private pingAll(): void {
    for (const s of this.sessions.values()) {
      if (!s.alive) {
        this.cut(s, "no answer to pings");
        continue;
      }
      s.alive = false;
      s.ws.ping();
    }
  }

  private count(reason: string): void {
    this.counters.refused[reason] = (this.counters.refused[reason] ?? 0) + 1;
  }

  private info(s: Session): SessionInfo {
    return {
      name: s.peer.name,
      serial: s.peer.serial,
      remoteAddress: s.remoteAddress,
      connectedAt: s.connectedAt,
      version: s.version,
      lastHeartbeat: s.lastHeartbeat,
      dropped: s.dropped,
    };
  }

  private event(action: string, name: string, summary: string, result: "ok" | "error" = "ok"): void {
    void this.record({
      actor: `agent:${name}`,
      action,
      result,
      summary,
      changes: [],
      subjects: [`server/${name}`],
    }).catch((e) => this.log(`recording ${action}: ${(e as Error).message}`));
  }
}
