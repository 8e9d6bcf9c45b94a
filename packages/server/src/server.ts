/**
 * `lab server`: the composition root. It opens the store, starts every listener together
 * (HTTPS API, WebSocket and SSE events, metrics) and stops them together: on close, in-flight
 * requests finish, streams are told to go, and the store closes last.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { hostname, networkInterfaces } from "node:os";
import { dirname, join } from "node:path";
import websocket from "@fastify/websocket";
import { agentDistDir } from "@lab/agent";
import {
  type Engine,
  Fleet,
  LabError,
  type LabServerTarget,
  LabService,
  type LabServiceOptions,
  modelFromResources,
  type NewAuditEvent,
  redact,
} from "@lab/core";
import {
  createJoinToken,
  type DnsRegistrar,
  ensureServerCert,
  fingerprint,
  IdentityService,
  issueServerCert,
  loadOrCreateCa,
  loadOrCreateSshCa,
  type SshCa,
} from "@lab/identity";
import { Callbacks, endpointsFromFleet, type HealthSource, PortProbes } from "@lab/monitor";
import { PowerPoller, powerControl } from "@lab/power";
import { InstallLogBuffer, loadPxeSecret, Provisioner, Timeline } from "@lab/pxe";
import { SecretsHost, vaultPaths } from "@lab/secrets";
import { identityRepo, type KyselyStore, memoryParseCache, openLogRepo, openStore } from "@lab/store";
import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";
import { AgentChannel } from "./agent-channel.js";
import { registerAgentRoutes } from "./agent-routes.js";
import { createToken } from "./auth.js";
import { BastionHub } from "./bastion/hub.js";
import { BASTION_PATH } from "./bastion/protocol.js";
import { type BootServices, type PxeOptions, startBootServices } from "./boot-services.js";
import { EventBus } from "./bus.js";
import {
  auditSource,
  type Heartbeat,
  heartbeatSource,
  syslogToEvent,
  timelineSources,
} from "./events/adapters.js";
import { CallbackEvents, CallbackTokens, registerCallbackRoutes } from "./events/callbacks.js";
import { LokiTail } from "./events/loki.js";
import type { LabEvent } from "./events/model.js";
import { EventPipeline, type RetentionLimits } from "./events/pipeline.js";
import { PortWatcher } from "./events/ports.js";
import { registerPipelineRoutes, type StreamRoutes } from "./events/routes.js";
import { EventFeed } from "./feed.js";
import { HealthCollector } from "./health.js";
import { registerKubeRoutes } from "./kube-routes.js";
import { loadReports } from "./load-samples.js";
import { Metrics } from "./metrics.js";
import { openApiDocument, swaggerPage } from "./openapi.js";
import { registerPowerRoutes } from "./power-routes.js";
import { registerProviderRoutes } from "./provider-routes.js";
import { registerProvisionRoutes, siteMachines } from "./provision-routes.js";
import { registerPuppetRoutes } from "./puppet-routes.js";
import { RevisionCache } from "./response-cache.js";
import { errorBody, errorHandler, registerRoutes } from "./routes.js";
import { registerRunRoutes } from "./run-routes.js";
import { registerSecretRoutes } from "./secret-routes.js";
import { Snapshots } from "./snapshots.js";
import { TargetIndex } from "./streams.js";
import { registerDashboard } from "./web.js";

export interface ServerOptions {
  /** LAB_HOME: state.db, server/ (CA, certificate, admin token), backups/. */
  home: string;
  /** `postgres://…`, or a SQLite path (default: home/state.db). */
  db?: string;
  host: string;
  port: number;
  /** false: plain HTTP (loopback development only). */
  tls: boolean;
  /** Extra names and addresses for the server certificate. */
  san?: string[];
  /** How often to look for events written by other processes when the store cannot notify. */
  pollMs?: number;
  /** Automatic SQLite snapshots: every `intervalMs`, keeping the newest `keep`. */
  snapshots?: { intervalMs: number; keep: number };
  bodyLimit?: number;
  /** Messages queued per stream subscriber before it starts missing events. */
  maxQueue?: number;
  /** Monitoring systems to read verdicts from, every `healthIntervalMs`. */
  healthSources?: HealthSource[];
  /** Probe every server's declared ports continuously (the port watcher). */
  probePorts?: boolean;
  healthIntervalMs?: number;
  /** Alert renderers (the monitor package's), for `lab render` through the API. */
  renderers?: LabServiceOptions["renderers"];
  log?: (line: string) => void;
  /** The embedded PXE services (boot HTTP, DHCP, TFTP, syslog); none when unset. */
  pxe?: PxeOptions;
  /** The agent channel (mTLS WebSocket); default 0.0.0.0:7444, `false` to not listen. */
  agent?: { host?: string; port?: number } | false;
  /** DNS registration of enrolled machines (RFC 2136). */
  dns?: DnsRegistrar;
  /** OpenTelemetry collector file-exporter outputs to tail into the log pipeline. */
  otelFiles?: string[];
  /** The log pipeline's store retention (age and count) and in-memory ring size. */
  logRetention?: Partial<RetentionLimits>;
  logRingSize?: number;
  /** Event sources (names or kinds) that start switched off. */
  disabledSources?: string[];
  /** Loki tail WebSocket URLs (`ws://host:3100/loki/api/v1/tail?query=…`) to follow. */
  loki?: string[];
  /** Agent client certificate lifetime (default 24 h; renewed at 2/3 of it). */
  agentCertLifetimeMs?: number;
  /** The secret store this server hosts (vault under home, served on the agent port). */
  secrets?: { modulePath: string[]; env?: NodeJS.ProcessEnv; gitUrl?: string; rotateCheckMs?: number };
  /** How often every declared power controller is asked for its state (ms; 0: never; default 10 s). */
  powerPollMs?: number;
}

export interface RunningServer {
  url: string;
  port: number;
  caPem: string | null;
  caPath: string | null;
  adminTokenPath: string | null;
  store: KyselyStore;
  provisioner: Provisioner;
  boot: BootServices | null;
  agentPort: number | null;
  sshCa: SshCa;
  /** Every registered route as `METHOD /path/:param` (HEAD left out), in registration order. */
  routes: string[];
  close(): Promise<void>;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  // Every line the server logs (its own, the boot services', the agent channel's) is redacted.
  const sink = opts.log;
  const log = sink ? (line: string) => sink(redact(line)) : () => undefined;
  if (!opts.tls && !LOOPBACK.has(opts.host)) {
    throw new LabError(
      "LAB_E_USAGE",
      `--insecure-http is for loopback development only; listen on 127.0.0.1 or drop the flag (got ${opts.host})`,
    );
  }
  const serverDir = join(opts.home, "server");
  mkdirSync(serverDir, { recursive: true, mode: 0o700 });
  const dbLocation = opts.db ?? join(opts.home, "state.db");

  const bus = new EventBus();
  const metrics = new Metrics(bus);
  const store = metrics.timed(await openStore(dbLocation));
  // What has started so far, stopped in reverse when a later listener fails to start: a server
  // that cannot serve its API must not keep its boot port (or anything else) open.
  const started: (() => unknown)[] = [() => store.close()];
  const failedToStart =
    (what: string) =>
    async (e: unknown): Promise<never> => {
      for (const stop of started.reverse())
        await Promise.resolve()
          .then(stop)
          .catch(() => undefined);
      return listenError(what)(e);
    };
  const adminTokenPath = await bootstrapAdmin(store, serverDir, log);

  // Known once the API listens: rendered scrape configs point Prometheus at this server's /metrics.
  let self: LabServerTarget | undefined;
  const engineAs = (actor: string): Engine =>
    new LabService(store, actor, {
      renderers: opts.renderers,
      labServer: () => self,
      parseCache: memoryParseCache(),
    });
  const engine = engineAs("server");
  const targets = new TargetIndex(engine);
  // Stream filters that select by label or group must see the model as of each event.
  const revisions = new RevisionCache(store);

  // Health sources: the configured ones, pushed callbacks, and optionally port probes.
  const callbacks = new Callbacks();
  const probes = opts.probePorts ? new PortProbes({ endpoints: await endpointsNow(store) }) : undefined;
  const sources: HealthSource[] = [...(opts.healthSources ?? []), callbacks, ...(probes ? [probes] : [])];
  probes?.start();
  if (probes) started.push(() => probes.stop());

  // When the model changes, stream filters (by label or group) and probed ports follow it.
  const feed = new EventFeed(
    store,
    bus,
    (e) => log(`event feed: ${(e as Error).message}`),
    async () => {
      revisions.invalidate();
      await targets.refresh();
      probes?.setEndpoints(await endpointsNow(store));
      // Machines enlisted by another process (the CLI in local mode) are answered by DHCP too.
      await provisioner.refreshKnown();
    },
  );
  const recorded = () => {
    revisions.invalidate();
    void feed.poke();
  };

  // The CA always exists: agents enrol against it even when the API runs plain HTTP (dev).
  const ca = await loadOrCreateCa(serverDir);
  const names = certificateNames(opts.host, opts.san ?? []);
  const cert = await ensureServerCert(ca, serverDir, names);
  if (cert.issued) log(`issued a server certificate for ${names.join(", ")}`);
  let tlsOptions: { key: string; cert: string } | undefined;
  let caPem: string | null = null;
  let caPath: string | null = null;
  if (opts.tls) {
    tlsOptions = { key: cert.keyPem, cert: `${cert.certPem}${ca.certPem}` };
    caPem = ca.certPem;
    caPath = join(serverDir, "ca.crt");
  }
  const sshCa = loadOrCreateSshCa(serverDir);

  let shuttingDown = false;
  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimit ?? 32 * 1024 * 1024,
    ...(tlsOptions ? { https: tlsOptions } : {}),
    // On close: idle keep-alive connections are closed at once, busy ones after their reply.
    forceCloseConnections: "idle",
    return503OnClosing: true,
    routerOptions: { maxParamLength: 500 },
    // HTTPS when tlsOptions is set; both are the same FastifyInstance to the routes.
  } as FastifyServerOptions) as unknown as FastifyInstance;
  started.push(() => app.close());
  await app.register(websocket, { options: { maxPayload: 1024 * 1024 } });
  // Every route as registered, for the check that the OpenAPI document lists them all.
  const routes: string[] = [];
  app.addHook("onRoute", (r) => {
    for (const m of [r.method].flat()) if (m !== "HEAD") routes.push(`${m} ${r.url}`);
  });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req, reply) =>
    reply
      .code(404)
      .send(errorBody(new LabError("LAB_E_NOT_FOUND", `no route ${req.method} ${req.url.split("?")[0]}`))),
  );
  // Replies sent while stopping tell keep-alive clients not to reuse the connection.
  // Hooks on every request are callback-style: no promise per request on the hot path.
  app.addHook("onSend", (_req, reply, payload, done) => {
    if (shuttingDown) reply.header("connection", "close");
    done(null, payload);
  });
  app.addHook("onResponse", (req, reply, done) => {
    metrics.observeRequest(
      req.method,
      req.routeOptions.url ?? "unmatched",
      reply.statusCode,
      reply.elapsedTime,
    );
    done();
  });

  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_req, reply) => {
    if (shuttingDown) return reply.code(503).send({ status: "stopping" });
    try {
      await store.revision();
      return { status: "ready", events: feed.position };
    } catch (e) {
      return reply.code(503).send({ status: "store unavailable", error: (e as Error).message });
    }
  });
  app.get("/metrics", async (_req, reply) => {
    reply.header("content-type", metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  registerDashboard(app);
  const openapi = openApiDocument();
  app.get("/api/v1/openapi.json", async () => openapi);
  app.get("/api/v1/docs", async (_req, reply) => reply.type("text/html").send(swaggerPage()));
  app.get("/api/v1/docs/:file", async (req, reply) => {
    const file = (req.params as { file: string }).file;
    const asset = swaggerAsset(file);
    if (!asset) throw new LabError("LAB_E_NOT_FOUND", `no file ${file}`);
    return reply.type(asset.type).send(asset.body);
  });

  /** Open SSE responses, ended on shutdown (they never end on their own). */
  const sseStreams = new Set<() => void>();
  /** Agent heartbeats, for the pipeline's heartbeat source. */
  const heartbeatListeners = new Set<(h: Heartbeat) => void>();
  /** The log stream's handlers, for `/api/v1/events/*?channel=logs` (registered below). */
  const logStreams: { current?: StreamRoutes } = {};
  const routeAuth = registerRoutes(app, {
    logStreams,
    engine,
    store,
    bus,
    targets,
    recorded,
    engineAs,
    maxQueue: opts.maxQueue ?? 1024,
    sseStreams,
    callbacks,
    revisions,
    newestEventId: () => feed.position,
  });

  // Logs: every source on its own (one failing never stops the others), one bounded ring.
  const pipeline = new EventPipeline({
    otelFiles: opts.otelFiles,
    positionsDir: serverDir,
    repo: await openLogRepo(store),
    retention: opts.logRetention,
    ringSize: opts.logRingSize,
    disabled: opts.disabledSources,
    log,
  });
  logStreams.current = registerPipelineRoutes(
    app,
    pipeline,
    { read: routeAuth.auth("read"), write: routeAuth.auth("write") },
    { maxQueue: Math.max(opts.maxQueue ?? 1024, 10_000), sseStreams },
  );
  // What the server already knows, as sources: audit log (with agent and health events),
  // callbacks, agent heartbeats, declared ports; the boot timeline's are added below.
  pipeline.add(auditSource(bus));
  const callbackEvents = new CallbackEvents();
  pipeline.add(callbackEvents);
  registerCallbackRoutes(app, {
    callbacks,
    tokens: new CallbackTokens(join(serverDir, "callback.key")),
    events: callbackEvents,
    guards: { read: routeAuth.auth("read"), write: routeAuth.auth("write"), admin: routeAuth.auth("admin") },
    actorOf: routeAuth.actorOf,
  });
  pipeline.add(
    heartbeatSource((fn) => {
      heartbeatListeners.add(fn);
      return () => heartbeatListeners.delete(fn);
    }),
  );
  const portWatcher = opts.probePorts ? new PortWatcher({ endpoints: () => endpointsNow(store) }) : undefined;
  if (portWatcher) pipeline.add(portWatcher);
  app.get("/api/v1/ports", { preHandler: routeAuth.auth("read") }, async (req) => {
    if (!portWatcher) {
      throw new LabError(
        "LAB_E_NOT_FOUND",
        "the port watcher is not running: start lab server with --probe-ports",
      );
    }
    const node = (req.query as { node?: string }).node?.split(",").filter(Boolean);
    return portWatcher.list(node);
  });
  for (const url of opts.loki ?? []) pipeline.add(new LokiTail({ url }));
  await pipeline.start();
  started.push(() => pipeline.stop());

  // Provisioning: the lifecycle API always; the boot services only with --pxe.
  /** The API as installed machines reach it (known once listening). */
  let apiUrl = "";
  const identities = identityRepo(store);
  metrics.identity(() => identities.listAgents());
  metrics.puppet(async () => (await store.puppetRuns?.()) ?? []);
  const agentDir = agentDistDir();
  const timeline = new Timeline(store.db, log);
  started.push(() => timeline.close());
  // Boot steps and install syslog lines name the machine by MAC: the names come from the
  // machines table (a MAC seen for the first time is looked up for its next steps).
  const macNames = new Map<string, string | null>();
  const lookUpMac = (mac: string) =>
    void store.db
      .selectFrom("machines")
      .select("name")
      .where("mac", "=", mac)
      .executeTakeFirst()
      .then((r) => macNames.set(mac, r?.name ?? null))
      .catch(() => undefined);
  const hostSyslog = new Set<(e: LabEvent) => void>();
  for (const src of timelineSources(
    timeline,
    (mac) => {
      const name = macNames.get(mac);
      if (name === undefined || name === null) lookUpMac(mac);
      return name ?? null;
    },
    (fn) => {
      hostSyslog.add(fn);
      return () => hostSyslog.delete(fn);
    },
  ))
    pipeline.add(src);
  const provisioner = new Provisioner({
    db: store.db,
    store,
    timeline,
    recorded,
    secret: loadPxeSecret(serverDir),
    discover: opts.pxe?.discover ?? false,
    actor: "server",
  });
  let secretsHost: SecretsHost | undefined;
  const boot = opts.pxe
    ? await startBootServices({
        ...opts.pxe,
        home: opts.home,
        provisioner,
        onHostSyslog: (msg, from) => {
          const e = syslogToEvent(msg, from);
          for (const l of hostSyslog) l(e);
        },
        log,
        // A day: an install plus its first boot, on slow hardware.
        joinToken: (name) => createJoinToken(identities, { name, ttlMinutes: 24 * 60, createdBy: "pxe" }),
        ...(agentDir ? { agent: { dir: agentDir, apiUrl: () => apiUrl, caPem: ca.certPem } } : {}),
        // Talos push mode: the cluster's machine config is a secret (the store opens below).
        talos: {
          machineConfig: async (name) => {
            if (!secretsHost) throw new LabError("LAB_E_TALOS_CONFIG", "the secret store is not open yet");
            return Buffer.from((await secretsHost.vault.get(name)).value).toString("utf8");
          },
        },
      }).catch(failedToStart("the boot services"))
    : null;
  if (boot) started.push(() => boot.close());
  const installLogs = boot?.logs ?? new InstallLogBuffer({ dir: join(opts.home, "pxe", "logs"), log });
  // Remote bastions: their machines are mirrored here and their commands routed to them.
  const bastions = new BastionHub({
    db: store.db,
    store,
    provisioner,
    logs: installLogs,
    joinToken: (name) => createJoinToken(identities, { name, ttlMinutes: 24 * 60, createdBy: "bastion" }),
    log,
  });
  bastions.start();
  started.push(async () => bastions.close());
  registerProvisionRoutes(app, { provisioner, logs: installLogs, bastions }, routeAuth);

  // Identity: enrolment over the API, the agent channel on its own mTLS port.
  const auditRecord = async (e: NewAuditEvent) => {
    await store.record(e);
    recorded();
  };
  const identity = new IdentityService({
    repo: identities,
    ca,
    ...(opts.dns ? { dns: opts.dns } : {}),
    ...(opts.agentCertLifetimeMs ? { certLifetimeMs: opts.agentCertLifetimeMs } : {}),
    hostKeySigner: {
      sign: async (name, line) => signHost(sshCa, name, line, opts.pxe?.domain ?? "lab.internal"),
    },
    log,
  });
  // The secret store: machines fetch over the agent channel's mTLS port, by certificate.
  const secrets = await SecretsHost.open({
    vault: vaultPaths(opts.home, opts.secrets?.env ?? process.env),
    model: store,
    modulePath: opts.secrets?.modulePath ?? [],
    gitUrl: opts.secrets?.gitUrl,
    log,
    // tls/node-cert-style secrets: a key and certificate per machine from Lab's CA.
    generators: { issueMachineCert: (machine) => issueServerCert(ca, [machine]) },
    // secret-store replicas: a server certificate each, and who is revoked.
    replication: {
      caPem: ca.certPem,
      issueCert: (machine) => issueServerCert(ca, [machine, "localhost", "127.0.0.1", "::1"]),
      revoked: async () => ({
        names: (await identities.listAgents()).filter((a) => a.revokedAt).map((a) => a.name),
        serials: (await identities.revokedCerts(new Date().toISOString())).map((c) => c.serial),
      }),
    },
  }).catch(failedToStart("the secret store"));
  started.push(() => secrets.close());
  secretsHost = secrets;
  // Dynamic secrets get their first value at once, then a new one whenever rotate_every passes.
  const rotate = () =>
    secrets.rotateDue().then(
      (names) => names.length && log(`secret rotation: ${names.join(", ")}`),
      (e) => log(`secret rotation: ${(e as Error).message}`),
    );
  await rotate();
  const rotation = setInterval(() => void rotate(), opts.secrets?.rotateCheckMs ?? 30_000);
  rotation.unref();
  started.push(() => clearInterval(rotation));
  const secretStore = secrets.storeService({
    record: auditRecord,
    storeName: hostname(),
    peerValid: async (peer) => {
      const [c, a] = await Promise.all([identities.getCert(peer.serial), identities.getAgent(peer.name)]);
      return Boolean(c && c.name === peer.name && !c.revokedAt && a && !a.revokedAt);
    },
  });
  registerSecretRoutes(app, secrets, routeAuth, auditRecord);

  /** A secret's value as text: power controllers' passwords, clusters' kubeconfigs. */
  const secretText = async (path: string) =>
    Buffer.from((await secrets.vault.get(path)).value).toString("utf8");
  // Power: the declared controllers, polled so that a switch made outside Lab is an event.
  const power = powerControl({
    load: () => store.load(),
    record: auditRecord,
    secret: secretText,
    timeline,
    // A manual machine's instructions reach the person as an event (dashboard, lab get events).
    tell: (name, message) =>
      void auditRecord({
        actor: "power",
        action: "power.ask",
        result: "ok",
        summary: `${name}: ${message}`,
        changes: [],
        subjects: [`server/${name}`],
      }),
  });
  registerPowerRoutes(app, power, routeAuth);
  // Providers: `lab plan|apply|diff|sync|destroy server` in client mode, run here as locally.
  const { BaremetalProvider, providerRegistry } = await import("@lab/providers");
  // Bare metal runs on this server's provisioner and power drivers (docs/providers.md).
  const baremetal = new BaremetalProvider({
    // Through the bastions: a machine onboarded at a remote site is queued there.
    machines: async () => siteMachines(provisioner, bastions),
    power: async () => ({ act: (name, action, nextBoot) => power.act(name, action, "server", nextBoot) }),
    // The installed systems' agents report their hardware on every connection (the freshest).
    agents: async () => ({ find: (name) => identities.getAgent(name) }),
    ...(process.env.LAB_BAREMETAL_WAIT_MS ? { waitMs: Number(process.env.LAB_BAREMETAL_WAIT_MS) } : {}),
  });
  await registerProviderRoutes(
    app,
    {
      load: () => store.load(),
      engineAs,
      sync: store,
      record: auditRecord,
      provider: providerRegistry({
        env: process.env,
        home: opts.home,
        extra: { baremetal: () => baremetal },
      }),
      recorded,
    },
    routeAuth,
  );
  // Kubernetes: the kubeconfigs are secrets here, so client mode's deploys run here.
  registerKubeRoutes(
    app,
    {
      deployerAs: async (actor) =>
        (await import("@lab/kube")).modelDeployer({ engine, secret: secretText, record: auditRecord, actor }),
    },
    routeAuth,
  );
  const poller =
    (opts.powerPollMs ?? 10_000) > 0 ? new PowerPoller(power, opts.powerPollMs ?? 10_000, log) : null;
  poller?.start();
  if (poller) started.push(() => poller.stop());
  // Puppet: the ENC for a puppetserver's exec terminus, and run reports (the PUPPET pillar).
  registerPuppetRoutes(
    app,
    {
      engine: new LabService(store, "puppet"),
      recorded,
      log,
      tokens: identities,
      record: async (event) => {
        await store.record(event);
        recorded();
      },
    },
    routeAuth,
  );
  const agentChannel =
    opts.agent === false
      ? undefined
      : new AgentChannel({
          requests: (req, res, peer) => secretStore.handle(req, res, peer),
          upgrades: {
            [BASTION_PATH]: (req, socket, head, peer) => bastions.upgrade(req, socket, head, peer),
          },
          identity,
          tls: { certPem: `${cert.certPem}${ca.certPem}`, keyPem: cert.keyPem },
          host: opts.agent?.host ?? opts.host,
          port: opts.agent?.port ?? 7444,
          record: auditRecord,
          onHeartbeat: (name, hb) => {
            for (const l of heartbeatListeners) l({ name, ...(hb as object) });
            // Load statistics: the heartbeat's figures as the machine's callbacks (charted).
            for (const r of loadReports(name, hb)) {
              try {
                callbackEvents.emit(callbacks.record(r).entry, `agent:${name}`);
              } catch (e) {
                log(`load sample of ${name} not kept: ${(e as Error).message}`);
              }
            }
          },
          log,
        });
  if (agentChannel)
    registerAgentRoutes(app, { identity, channel: agentChannel, tokens: store, record: auditRecord });
  // Lab runs: the server runs them (power, boot timeline, provisioner, agents all here).
  const stopRuns = registerRunRoutes(
    app,
    {
      store,
      db: store.db,
      power,
      timeline,
      agents: agentChannel,
      provisioner,
      callbacks,
      record: auditRecord,
    },
    routeAuth,
  );
  started.push(stopRuns);
  // Clients trust the SSH CA instead of each host key: the known_hosts line to install.
  app.get("/api/v1/identity/ssh-ca", { preHandler: routeAuth.auth("read") }, async () => ({
    publicKey: sshCa.publicKeyLine,
    fingerprint: sshCa.fingerprint,
  }));

  await feed.start(opts.pollMs ?? 1000);
  started.push(() => feed.stop());
  const health = new HealthCollector(sources, engine, store, recorded, {
    intervalMs: opts.healthIntervalMs ?? 30_000,
    timeoutMs: 5_000,
    log,
  });
  health.start();
  started.push(() => health.stop());
  const snapshots =
    opts.snapshots && !/^postgres/.test(dbLocation)
      ? new Snapshots(dbLocation, join(opts.home, "backups"), opts.snapshots, log)
      : undefined;
  snapshots?.start();
  if (snapshots) started.push(() => snapshots.stop());

  await app
    .listen({ host: opts.host, port: opts.port })
    .catch(failedToStart(`the API on ${opts.host}:${opts.port}`));
  const agentPort = agentChannel
    ? (await agentChannel.start().catch(failedToStart("the agent channel (--agent-listen)"))).port
    : null;
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : opts.port;
  const scheme = opts.tls ? "https" : "http";
  const shownHost = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  const url = `${scheme}://${shownHost}:${port}`;
  // Installed machines reach the API where they reached the boot port.
  apiUrl = `${scheme}://${boot ? new URL(boot.bootUrl).hostname : shownHost}:${port}`;
  // A wildcard listen is scraped by the host's name, which the server certificate carries.
  const wildcard = opts.host === "0.0.0.0" || opts.host === "::";
  self = {
    address: `${wildcard ? hostname() : shownHost}:${port}`,
    scheme,
    ...(caPath ? { caFile: caPath } : {}),
  };
  log(`Lab server listening on ${url} (state: ${dbLocation.replace(/\/\/[^@/]*@/, "//***@")})`);
  if (caPem) log(`CA certificate: ${caPath} (SHA256 ${fingerprint(caPem)})`);

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      shuttingDown = true;
      clearInterval(rotation);
      feed.stop();
      snapshots?.stop();
      await health.stop();
      await poller?.stop();
      stopRuns();
      probes?.stop();
      for (const client of app.websocketServer?.clients ?? []) client.close(1001, "server shutting down");
      for (const end of sseStreams) end();
      await pipeline.stop();
      await agentChannel?.close();
      await boot?.close();
      await timeline.close();
      await app.close();
      secrets.close();
      await store.close();
    })();
    return closing;
  };
  return {
    url,
    port,
    caPem,
    caPath,
    adminTokenPath,
    store,
    provisioner,
    boot,
    agentPort,
    sshCa,
    routes,
    close,
  };
}

/**
 * On first start (no token exists) an admin token is created and written to a 0600 file
 * next to the CA, never printed: logs are not a place for credentials.
 */
async function bootstrapAdmin(
  store: KyselyStore,
  dir: string,
  log: (l: string) => void,
): Promise<string | null> {
  const path = join(dir, "admin.token");
  if ((await store.listTokens()).length > 0) return existsSync(path) ? path : null;
  // A fixed id makes the insert itself the lock: replicas starting together on an empty
  // database race on the primary key, and only the winner writes its token file.
  const created = await createToken(store, {
    id: BOOTSTRAP_TOKEN_ID,
    name: "bootstrap-admin",
    scopes: ["admin"],
    createdBy: "lab server",
  }).catch(async (e) => {
    if ((await store.listTokens()).some((t) => t.id === BOOTSTRAP_TOKEN_ID)) return null;
    throw e;
  });
  if (!created) return null;
  writeFileSync(path, `${created.token}\n`, { mode: 0o600 });
  log(`First start: an admin token was written to ${path}`);
  return path;
}

const BOOTSTRAP_TOKEN_ID = "00000000";

/** Turns "address in use" / "permission denied" at listen into an error that says what to do. */
function listenError(what: string) {
  return (e: unknown): never => {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE" || code === "EACCES") {
      const why = code === "EADDRINUSE" ? "the address is in use" : "permission denied";
      throw new LabError("LAB_E_LISTEN", `cannot listen for ${what}: ${why} (${(e as Error).message})`);
    }
    throw e;
  };
}

/** Host certificates for a year: the host key itself changes rarely; revocation drops the name. */
function signHost(ca: SshCa, name: string, line: string, domain: string): string {
  const now = Date.now();
  return ca.signHostKey(line, {
    keyId: name,
    principals: [name, `${name}.${domain}`],
    validAfter: new Date(now - 5 * 60_000),
    validBefore: new Date(now + 365 * 86_400_000),
  });
}

async function endpointsNow(store: KyselyStore) {
  return endpointsFromFleet(new Fleet(modelFromResources(await store.load())));
}

function certificateNames(host: string, extra: string[]): string[] {
  const names = new Set<string>(["localhost", "127.0.0.1", "::1", hostname()]);
  if (host !== "0.0.0.0" && host !== "::") names.add(host);
  else {
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) if (!a.internal) names.add(a.address);
    }
  }
  for (const n of extra) names.add(n);
  return [...names];
}

const SWAGGER_FILES: Record<string, string> = {
  "swagger-ui.css": "text/css",
  "swagger-ui-bundle.js": "application/javascript",
  "swagger-ui-standalone-preset.js": "application/javascript",
};

function swaggerAsset(file: string): { type: string; body: Buffer } | undefined {
  const type = SWAGGER_FILES[file];
  if (!type) return undefined;
  const dir = swaggerDir();
  return dir ? { type, body: readFileSync(join(dir, file)) } : undefined;
}

const requireHere = createRequire(import.meta.url);
let swaggerDirCache: string | null | undefined;

/** The swagger-ui-dist package's folder (static assets for the browsable API page). */
function swaggerDir(): string | null {
  if (swaggerDirCache === undefined) {
    try {
      swaggerDirCache = dirname(requireHere.resolve("swagger-ui-dist/package.json"));
    } catch {
      swaggerDirCache = null;
    }
  }
  return swaggerDirCache;
}
