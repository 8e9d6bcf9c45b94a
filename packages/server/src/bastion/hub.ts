/**
 * The control plane's side of remote bastions: each bastion holds one WebSocket open to
 * `/bastion/v1` (admitted by the agent channel with its enrolled certificate). The hub
 * mirrors the bastion's machines into this server's machine table (so `lab provision list`,
 * the dashboard and the timelines show every site), stores its boot steps exactly once,
 * pushes it the model, and routes lifecycle commands for its machines to it.
 */
import { randomUUID } from "node:crypto";
import type http from "node:http";
import type tls from "node:tls";
import { CATALOGUE, type LabCode, LabError, type StateStore } from "@lab/core";
import type { InstallLogBuffer, Machine, Provisioner } from "@lab/pxe";
import type { Database } from "@lab/store";
import type { Kysely } from "kysely";
import { type WebSocket, WebSocketServer } from "ws";
import {
  BASTION_PROTOCOL_VERSION,
  type BastionCommand,
  type BastionMessage,
  bastionMessageSchema,
  type HubMessage,
  type WireMachine,
  type WireStep,
} from "./protocol.js";

export interface BastionHubOptions {
  db: Kysely<Database>;
  store: StateStore;
  provisioner: Provisioner;
  logs: InstallLogBuffer;
  /** Mints a one-time agent join token (for machines a bastion installs). */
  joinToken: (name: string) => Promise<string>;
  log?: (line: string) => void;
  /** How long a routed command waits for the bastion's answer (default 30 s). */
  commandTimeoutMs?: number;
  now?: () => Date;
}

/** A bastion as `lab get bastions` shows it: from its own reports, nothing assumed. */
export interface BastionInfo {
  name: string;
  connected: boolean;
  /** Since when the current connection is up (null: not connected). */
  connectedAt: string | null;
  lastSeenAt: string;
  firstSeenAt: string;
  address: string | null;
  version: string | null;
  bootUrl: string | null;
  machines: number;
  /** The last of its boot steps stored here. */
  ackedSeq: number;
}

interface Pending {
  bastion: string;
  resolve: (m: Machine) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

class Link {
  /** Messages are handled one at a time, in order: steps must be stored in sequence. */
  queue: Promise<void> = Promise.resolve();
  hello = false;
  revision = -1;
  readonly connectedAt: string;

  constructor(
    readonly ws: WebSocket,
    readonly name: string,
    readonly address: string,
    now: Date,
  ) {
    this.connectedAt = now.toISOString();
  }

  send(m: HubMessage): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(m));
  }
}

export class BastionHub {
  private readonly links = new Map<string, Link>();
  private readonly pending = new Map<string, Pending>();
  private readonly log: (line: string) => void;
  private readonly now: () => Date;
  /** Bastion frames carry a site's backlog and the whole model: larger than agents'. */
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: 256 * 1024 * 1024,
    perMessageDeflate: false,
  });
  private modelTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: BastionHubOptions) {
    this.log = o.log ?? (() => undefined);
    this.now = o.now ?? (() => new Date());
  }

  /** Where the agent channel hands over `/bastion/v1` upgrades, already admitted. */
  upgrade(req: http.IncomingMessage, socket: tls.TLSSocket, head: Buffer, peer: { name: string }): void {
    this.wss.handleUpgrade(req, socket, head, (ws) =>
      this.accept(ws, peer.name, (socket.remoteAddress ?? "?").replace(/^::ffff:/, "")),
    );
  }

  /** Follows the model's revision (also changes other replicas made) and pushes it on. */
  start(everyMs = 1000): void {
    this.modelTimer = setInterval(
      () =>
        void this.modelChanged().catch((e) =>
          this.log(`bastions: model push failed: ${(e as Error).message}`),
        ),
      everyMs,
    );
    this.modelTimer.unref();
  }

  /** A bastion's WebSocket, already admitted by its certificate. */
  accept(ws: WebSocket, name: string, address: string): void {
    const previous = this.links.get(name);
    if (previous) previous.ws.close(4000, "replaced by a newer connection");
    const link = new Link(ws, name, address, this.now());
    this.links.set(name, link);
    const helloTimer = setTimeout(() => {
      if (!link.hello) ws.close(4002, "no hello");
    }, 10_000);
    ws.on("message", (data, binary) => {
      if (binary) return ws.close(4003, "binary message");
      let msg: BastionMessage;
      try {
        msg = bastionMessageSchema.parse(JSON.parse(data.toString()));
      } catch (e) {
        this.log(`bastion ${name}: malformed message dropped (${(e as Error).message.slice(0, 200)})`);
        return;
      }
      link.queue = link.queue
        .then(() => this.handle(link, msg))
        .catch((e) => this.log(`bastion ${name}: ${(e as Error).message}`));
    });
    ws.on("error", () => undefined);
    ws.on("close", () => {
      clearTimeout(helloTimer);
      if (this.links.get(name) === link) {
        this.links.delete(name);
        this.log(`bastion ${name}: disconnected`);
      }
      for (const [id, p] of this.pending) {
        if (p.bastion !== name) continue;
        this.pending.delete(id);
        clearTimeout(p.timer);
        p.reject(
          new LabError("LAB_E_BASTION_UNREACHABLE", `bastion ${name} disconnected before it answered`),
        );
      }
    });
  }

  private async handle(link: Link, msg: BastionMessage): Promise<void> {
    const at = this.now().toISOString();
    switch (msg.type) {
      case "hello": {
        if (msg.protocol !== BASTION_PROTOCOL_VERSION) {
          link.ws.close(
            4004,
            `protocol ${msg.protocol} unsupported (this server speaks ${BASTION_PROTOCOL_VERSION})`,
          );
          return;
        }
        link.hello = true;
        const row = await this.o.db
          .selectFrom("bastions")
          .select("acked_seq")
          .where("name", "=", link.name)
          .executeTakeFirst();
        const values = {
          boot_url: msg.bootUrl,
          version: msg.version,
          address: link.address,
          last_seen_at: at,
        };
        if (row) await this.o.db.updateTable("bastions").set(values).where("name", "=", link.name).execute();
        else
          await this.o.db
            .insertInto("bastions")
            .values({ name: link.name, acked_seq: 0, first_seen_at: at, ...values })
            .execute();
        this.log(`bastion ${link.name}: connected from ${link.address} (boot ${msg.bootUrl ?? "off"})`);
        link.send({ type: "welcome", name: link.name, ackedSeq: Number(row?.acked_seq ?? 0) });
        link.revision = msg.revision;
        await this.pushModel(link);
        return;
      }
      case "machines":
        return this.o.provisioner.mirror(link.name, msg.machines.map(toMachine), msg.complete);
      case "steps":
        return this.storeSteps(link, msg.steps);
      case "result": {
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        clearTimeout(p.timer);
        if (msg.machine) {
          const m = toMachine(msg.machine);
          await this.o.provisioner.mirror(link.name, [m], false);
          p.resolve({ ...m, bastion: link.name });
        } else {
          p.reject(remoteError(msg.error, `bastion ${link.name}`));
        }
        return;
      }
      case "join-token": {
        try {
          link.send({ type: "join-token", id: msg.id, token: await this.o.joinToken(msg.name) });
        } catch (e) {
          const err = e instanceof LabError ? e : new LabError("LAB_E_INTERNAL", (e as Error).message);
          link.send({ type: "join-token", id: msg.id, error: { code: err.code, message: err.message } });
        }
        return;
      }
    }
  }

  /** Stores the steps it has not stored yet and the new acked id together, then acks. */
  private async storeSteps(link: Link, steps: WireStep[]): Promise<void> {
    const fresh = await this.o.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom("bastions")
        .select("acked_seq")
        .where("name", "=", link.name)
        .executeTakeFirstOrThrow();
      const acked = Number(row.acked_seq);
      const todo = steps.filter((s) => s.id > acked).sort((a, b) => a.id - b.id);
      if (todo.length) {
        await trx
          .insertInto("boot_events")
          .values(
            todo.map((s) => ({
              mac: s.mac,
              time: s.time,
              kind: s.kind,
              type: s.type,
              detail: JSON.stringify({ ...s.detail, bastion: link.name }),
            })),
          )
          .execute();
      }
      const last = Math.max(acked, ...todo.map((s) => s.id));
      await trx
        .updateTable("bastions")
        .set({ acked_seq: last, last_seen_at: this.now().toISOString() })
        .where("name", "=", link.name)
        .execute();
      return { todo, last };
    });
    for (const s of fresh.todo) {
      const { id: _id, ...entry } = s;
      this.o.provisioner.timeline.announce({ ...entry, detail: { ...entry.detail, bastion: link.name } });
      if (s.kind === "syslog" && typeof s.detail.message === "string")
        this.o.logs.append(s.mac, s.detail.message);
    }
    link.send({ type: "ack", seq: fresh.last });
  }

  private async pushModel(link: Link): Promise<void> {
    const revision = await this.o.store.revision();
    if (revision === link.revision) return;
    link.revision = revision;
    const resources = (await this.o.store.load()).map(({ kind, name, spec }) => ({ kind, name, spec }));
    link.send({ type: "model", revision, resources });
  }

  /** The model changed: every connected bastion gets the new one. */
  async modelChanged(): Promise<void> {
    for (const link of this.links.values()) if (link.hello) await this.pushModel(link);
  }

  /** Runs a lifecycle command at the bastion that serves `mac`; resolves with the machine. */
  async command(
    bastion: string,
    action: BastionCommand,
    mac: string,
    args: Record<string, unknown>,
  ): Promise<Machine> {
    const link = this.links.get(bastion);
    if (!link?.hello) {
      const row = await this.o.db
        .selectFrom("bastions")
        .select("last_seen_at")
        .where("name", "=", bastion)
        .executeTakeFirst();
      throw new LabError(
        "LAB_E_BASTION_UNREACHABLE",
        `${mac} is served by bastion ${bastion}, which is not connected${row ? ` (last seen ${row.last_seen_at})` : ""}`,
      );
    }
    const id = randomUUID();
    // An install's config carries a join token: minted here, while the control plane is
    // reachable, so the bastion can serve it even if the link drops mid-install.
    const name = typeof args.name === "string" ? args.name : await this.nameOf(mac);
    const withToken =
      (action === "install" || action === "reprovision" || action === "enlist") && name
        ? { ...args, joinToken: await this.o.joinToken(name) }
        : args;
    return new Promise<Machine>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new LabError(
            "LAB_E_BASTION_UNREACHABLE",
            `bastion ${bastion} did not answer ${action} ${mac} in time`,
          ),
        );
      }, this.o.commandTimeoutMs ?? 30_000);
      this.pending.set(id, { bastion, resolve, reject, timer });
      link.send({ type: "command", id, action, mac, args: withToken });
    });
  }

  private async nameOf(mac: string): Promise<string | null> {
    const r = await this.o.db.selectFrom("machines").select("name").where("mac", "=", mac).executeTakeFirst();
    return r?.name ?? null;
  }

  async list(): Promise<BastionInfo[]> {
    const rows = await this.o.db.selectFrom("bastions").selectAll().orderBy("name").execute();
    const counts = new Map<string, number>();
    for (const m of await this.o.db
      .selectFrom("machines")
      .select("bastion")
      .where("bastion", "is not", null)
      .execute()) {
      counts.set(m.bastion as string, (counts.get(m.bastion as string) ?? 0) + 1);
    }
    return rows.map((r) => {
      const link = this.links.get(r.name);
      return {
        name: r.name,
        connected: Boolean(link?.hello),
        connectedAt: link?.hello ? link.connectedAt : null,
        lastSeenAt: r.last_seen_at,
        firstSeenAt: r.first_seen_at,
        address: r.address,
        version: r.version,
        bootUrl: r.boot_url,
        machines: counts.get(r.name) ?? 0,
        ackedSeq: Number(r.acked_seq),
      };
    });
  }

  close(): void {
    clearInterval(this.modelTimer);
    for (const l of this.links.values()) l.ws.close(1001, "server shutting down");
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
  }
}

/** An error the other side reported, with its code when this side knows the code. */
export function remoteError(e: { code: string; message: string } | undefined, who: string): LabError {
  const code = e && e.code in CATALOGUE ? (e.code as LabCode) : "LAB_E_INTERNAL";
  return new LabError(code, `${who}: ${e?.message ?? "failed without saying why"}`);
}

function toMachine(m: WireMachine): Machine {
  return { ...m, hardware: m.hardware as Machine["hardware"] };
}
