/**
 * `lab bastion`: the boot services of one remote site (DHCP/proxyDHCP, TFTP, boot HTTP,
 * syslog) with a state of its own, joined to a control plane over one outbound WebSocket.
 *
 * The bastion is an enrolled machine (an embedded agent enrols it with a one-time join token
 * and renews its certificate); its link to the control plane uses that certificate. Its own
 * SQLite state holds the model the control plane last pushed, its machines and every boot
 * step, so it keeps dispatching, installing and recording while the control plane is away,
 * and the control plane catches up from the first step it has not stored.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Agent, agentDistDir, loadState, runAgent } from "@lab/agent";
import { type Change, canonicalJson, LabError, type Resource } from "@lab/core";
import { loadPxeSecret, type Machine, Provisioner, Timeline } from "@lab/pxe";
import { openSqliteStore } from "@lab/store";
import { WebSocket } from "ws";
import { type BootServices, type PxeOptions, startBootServices } from "../boot-services.js";
import { remoteError } from "./hub.js";
import {
  BASTION_PATH,
  BASTION_PROTOCOL_VERSION,
  type BastionMessage,
  type HubMessage,
  hubMessageSchema,
  STEPS_PER_FRAME,
  type WireStep,
} from "./protocol.js";

export interface BastionOptions {
  /** The control plane's API (https://lab.example:7443): enrolment and renewals. */
  server: string;
  /** Lab's CA, to trust the server before enrolment (afterwards the state dir has it). */
  caPem?: string;
  joinToken?: string;
  name?: string;
  stateDir: string;
  /** The control plane's agent channel (wss://host:7444); default: what enrolment said. */
  channelUrl?: string;
  pxe: PxeOptions;
  version?: string;
  log?: (line: string) => void;
  /** Reconnect backoff bounds. */
  backoff?: { baseMs: number; maxMs: number };
  onEnrolled?: () => void;
}

export interface RunningBastion {
  name: string;
  boot: BootServices;
  provisioner: Provisioner;
  /** Whether the link to the control plane is up now. */
  connected(): boolean;
  close(): Promise<void>;
}

const VERSION = "0.1.0";

export async function startBastion(o: BastionOptions): Promise<RunningBastion> {
  const log = o.log ?? (() => undefined);
  mkdirSync(o.stateDir, { recursive: true, mode: 0o700 });
  const agentDir = join(o.stateDir, "identity");
  const agent = runAgent({
    server: o.server,
    stateDir: agentDir,
    ...(o.name ? { name: o.name } : {}),
    ...(o.joinToken ? { joinToken: o.joinToken } : {}),
    ...(o.caPem ? { caPem: o.caPem } : {}),
    ...(o.channelUrl ? { channelUrl: o.channelUrl } : {}),
    secrets: false,
    hostKeyDir: join(o.stateDir, "no-ssh-host-keys"),
    ...(o.onEnrolled ? { onEnrolled: o.onEnrolled } : {}),
    log: (line) => log(`identity: ${line}`),
  });
  const identity = await enrolled(agent, agentDir);
  const name = identity.info.name;

  const store = await openSqliteStore(join(o.stateDir, "state.db"));
  const timeline = new Timeline(store.db, log);
  const provisioner = new Provisioner({
    db: store.db,
    store,
    timeline,
    secret: loadPxeSecret(o.stateDir),
    discover: o.pxe.discover,
    actor: `bastion:${name}`,
  });
  const link = new HubLink({
    url: bastionUrl(o.channelUrl ?? identity.info.channelUrl),
    identityDir: agentDir,
    stateDir: o.stateDir,
    store,
    provisioner,
    version: o.version ?? VERSION,
    backoff: o.backoff ?? { baseMs: 500, maxMs: 15_000 },
    log,
  });
  const distDir = agentDistDir();
  let boot: BootServices;
  try {
    boot = await startBootServices({
      ...o.pxe,
      home: o.stateDir,
      provisioner,
      log,
      joinToken: (machine) => link.joinToken(machine),
      ...(distDir ? { agent: { dir: distDir, apiUrl: () => o.server, caPem: identity.caPem } } : {}),
    });
  } catch (e) {
    await agent.stop();
    await store.close();
    throw e;
  }
  link.bootUrl = boot.bootUrl;
  link.start();
  return {
    name,
    boot,
    provisioner,
    connected: () => link.connected,
    close: async () => {
      await link.close();
      await boot.close();
      await timeline.close();
      await agent.stop();
      await store.close();
    },
  };
}

/** Waits for the embedded agent to hold a certificate (enrolled now or before). */
async function enrolled(agent: Agent, dir: string): Promise<NonNullable<ReturnType<typeof loadState>>> {
  let ended: { code: number; reason: string } | undefined;
  void agent.done.then((exit) => {
    ended = exit;
  });
  for (;;) {
    const state = existsSync(join(dir, "cert.pem")) ? loadState(dir) : undefined;
    if (state) return state;
    if (ended) {
      // The agent's reason starts with the code it stopped on (LAB_E_CSR_NAME_MISMATCH: …).
      const [code, ...rest] = ended.reason.split(": ");
      throw remoteError(
        { code: code ?? "", message: rest.join(": ") || ended.reason },
        "the bastion could not enrol",
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The agent channel's URL with the bastion path instead of the agent's. */
export function bastionUrl(channelUrl: string): string {
  const u = new URL(channelUrl);
  u.pathname = BASTION_PATH;
  u.search = "";
  return u.toString();
}

interface LinkOptions {
  url: string;
  identityDir: string;
  stateDir: string;
  store: Awaited<ReturnType<typeof openSqliteStore>>;
  provisioner: Provisioner;
  version: string;
  backoff: { baseMs: number; maxMs: number };
  log: (line: string) => void;
}

/** The bastion's one connection to the control plane, kept up with backoff. */
class HubLink {
  bootUrl: string | null = null;
  connected = false;
  private ws: WebSocket | undefined;
  private stopped = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The last step id sent and the last one the control plane stored. */
  private sent = 0;
  private acked = 0;
  private pumping = false;
  private readonly waiting = new Map<string, { resolve: (t: string) => void; reject: (e: Error) => void }>();
  /** Join tokens that came with install commands: an install's config needs one, offline too. */
  private readonly tokens = new Map<string, string>();
  private unsubscribe: (() => void)[] = [];
  private snapshotTimer: NodeJS.Timeout | undefined;
  private readonly revisionFile: string;

  constructor(private readonly o: LinkOptions) {
    this.revisionFile = join(o.stateDir, "model-revision");
  }

  start(): void {
    this.unsubscribe.push(this.o.provisioner.onChange(() => this.snapshotSoon()));
    this.unsubscribe.push(this.o.provisioner.timeline.subscribe(() => void this.pump()));
    this.connect();
  }

  private connect(): void {
    if (this.stopped) return;
    const state = loadState(this.o.identityDir);
    if (!state) {
      this.retry();
      return;
    }
    const ws = new WebSocket(this.o.url, {
      ca: state.caPem,
      cert: state.certPem,
      key: state.keyPem,
      handshakeTimeout: 15_000,
      maxPayload: 256 * 1024 * 1024,
      perMessageDeflate: false,
    });
    this.ws = ws;
    ws.on("open", () => {
      this.send({
        type: "hello",
        protocol: BASTION_PROTOCOL_VERSION,
        version: this.o.version,
        bootUrl: this.bootUrl,
        revision: this.heldRevision(),
      });
    });
    ws.on("message", (data) => {
      let msg: HubMessage;
      try {
        msg = hubMessageSchema.parse(JSON.parse(data.toString()));
      } catch (e) {
        this.o.log(`bastion link: malformed message dropped (${(e as Error).message.slice(0, 200)})`);
        return;
      }
      void this.handle(msg).catch((e) => this.o.log(`bastion link: ${(e as Error).message}`));
    });
    ws.on("error", (e) => {
      if (!this.connected) this.o.log(`bastion link: ${e.message}`);
    });
    ws.on("close", (code, reason) => {
      if (this.ws !== ws) return;
      if (this.connected)
        this.o.log(`bastion link: lost (${code} ${reason.toString()}); serving from local state`);
      this.connected = false;
      this.pumping = false;
      for (const w of this.waiting.values()) w.reject(offline("the link to the control plane dropped"));
      this.waiting.clear();
      this.retry();
    });
  }

  private retry(): void {
    if (this.stopped) return;
    const delay = Math.min(this.o.backoff.maxMs, this.o.backoff.baseMs * 2 ** Math.min(this.attempt++, 10));
    this.timer = setTimeout(() => this.connect(), delay * (0.5 + Math.random() / 2));
  }

  private send(m: BastionMessage): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(m));
  }

  private async handle(msg: HubMessage): Promise<void> {
    switch (msg.type) {
      case "welcome":
        this.connected = true;
        this.attempt = 0;
        this.o.log(
          `bastion link: connected as ${msg.name}; the control plane has steps up to ${msg.ackedSeq}`,
        );
        this.acked = msg.ackedSeq;
        this.sent = msg.ackedSeq;
        await this.snapshot();
        return this.pump();
      case "ack":
        this.acked = Math.max(this.acked, msg.seq);
        this.sent = Math.max(this.sent, this.acked);
        this.pumping = false;
        return this.pump();
      case "model":
        return this.applyModel(msg.revision, msg.resources as Resource[]);
      case "command":
        return this.run(msg);
      case "join-token": {
        const w = this.waiting.get(msg.id);
        if (!w) return;
        this.waiting.delete(msg.id);
        if (msg.token) w.resolve(msg.token);
        else w.reject(remoteError(msg.error, "the control plane"));
        return;
      }
      default:
        return;
    }
  }

  /** Sends the next frame of steps the control plane has not stored; one frame in flight. */
  private async pump(): Promise<void> {
    if (!this.connected || this.pumping) return;
    this.pumping = true;
    try {
      await this.o.provisioner.timeline.flush();
      const rows = await this.o.store.db
        .selectFrom("boot_events")
        .selectAll()
        .where("id", ">", this.sent)
        .orderBy("id")
        .limit(STEPS_PER_FRAME)
        .execute();
      if (!rows.length) {
        this.pumping = false;
        return;
      }
      const steps = rows.map(
        (r): WireStep => ({
          id: Number(r.id),
          mac: r.mac,
          time: r.time,
          kind: r.kind as WireStep["kind"],
          type: r.type,
          detail: JSON.parse(r.detail) as Record<string, unknown>,
        }),
      );
      this.sent = steps[steps.length - 1]?.id ?? this.sent;
      this.send({ type: "steps", steps });
      // `pumping` stays true until the ack: the next frame goes when this one is stored.
    } catch (e) {
      this.pumping = false;
      throw e;
    }
  }

  private snapshotSoon(): void {
    clearTimeout(this.snapshotTimer);
    this.snapshotTimer = setTimeout(() => void this.snapshot().catch(() => undefined), 50);
  }

  private async snapshot(): Promise<void> {
    if (!this.connected) return;
    const machines = await this.o.provisioner.list();
    this.send({ type: "machines", machines, complete: true });
  }

  private heldRevision(): number {
    try {
      return Number(readFileSync(this.revisionFile, "utf8").trim()) || 0;
    } catch {
      return 0;
    }
  }

  /** Replaces the local model with the control plane's (the bastion never edits it). */
  private async applyModel(revision: number, resources: Resource[]): Promise<void> {
    await this.o.store.transact((current) => {
      const key = (r: { kind: string; name: string }) => `${r.kind}/${r.name}`;
      const before = new Map(current.map((r) => [key(r), r]));
      const changes: Change[] = [];
      for (const r of resources) {
        const old = before.get(key(r));
        before.delete(key(r));
        if (!old) changes.push({ op: "create", kind: r.kind, name: r.name, resource: r });
        else if (canonicalJson(old.spec) !== canonicalJson(r.spec))
          changes.push({ op: "update", kind: r.kind, name: r.name, resource: r });
      }
      for (const r of before.values()) changes.push({ op: "delete", kind: r.kind, name: r.name });
      return { changes, event: null, value: undefined };
    });
    writeFileSync(this.revisionFile, `${revision}\n`);
    await this.o.provisioner.refreshKnown();
    this.o.log(`bastion link: model revision ${revision} (${resources.length} objects)`);
  }

  private async run(cmd: Extract<HubMessage, { type: "command" }>): Promise<void> {
    const p = this.o.provisioner;
    const a = cmd.args;
    const str = (k: string) => (typeof a[k] === "string" ? (a[k] as string) : undefined);
    const list = (k: string) => (Array.isArray(a[k]) ? (a[k] as string[]) : undefined);
    try {
      const token = str("joinToken");
      let m: Machine;
      switch (cmd.action) {
        case "enlist":
          m = await p.enlist({
            mac: cmd.mac,
            name: str("name") ?? "",
            image: str("image") ?? "",
            ...(list("preserve") ? { preserve: list("preserve") } : {}),
          });
          break;
        case "install":
          m = await p.install(cmd.mac, {
            ...(str("image") ? { image: str("image") } : {}),
            ...(str("name") ? { name: str("name") } : {}),
          });
          break;
        case "reprovision":
          m = await p.reprovision(cmd.mac, {
            ...(str("image") ? { image: str("image") } : {}),
            ...(list("preserve") ? { preserve: list("preserve") } : {}),
          });
          break;
        case "debug":
          m = await p.debug(cmd.mac);
          break;
        case "forget":
          m = await p.forget(cmd.mac);
          break;
      }
      if (token && m.name) this.tokens.set(m.name, token);
      this.send({ type: "result", id: cmd.id, machine: m });
    } catch (e) {
      const err = e instanceof LabError ? e : new LabError("LAB_E_INTERNAL", (e as Error).message);
      this.send({ type: "result", id: cmd.id, error: { code: err.code, message: err.message } });
    }
  }

  /** A join token for a machine being installed: the one its command brought, else asked for. */
  async joinToken(machine: string): Promise<string> {
    const cached = this.tokens.get(machine);
    if (cached) {
      this.tokens.delete(machine);
      return cached;
    }
    if (!this.connected)
      throw offline(`no join token for ${machine}, and the control plane is not reachable`);
    const id = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(offline("the control plane did not send a join token in time"));
      }, 10_000);
      this.waiting.set(id, {
        resolve: (t) => {
          clearTimeout(timer);
          resolve(t);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.send({ type: "join-token", id, name: machine });
    });
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.snapshotTimer);
    for (const u of this.unsubscribe) u();
    this.ws?.close(1001, "bastion stopping");
  }
}

function offline(message: string): LabError {
  return new LabError("LAB_E_BASTION_OFFLINE", message);
}
