/**
 * The provisioning service: machines by MAC, their lifecycle, what each one boots next
 * (dispatch), and what they report back (inventory, progress). Every transition is audited
 * (and so reaches the event bus); every step lands in the MAC's boot timeline.
 *
 * The CLI's local mode and the daemon both drive this class; the daemon adds the sockets.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  checkServerName,
  DISCOVERY_IMAGE,
  type Hardware,
  HardwareSchema,
  type ImageSpec,
  imageCatalogue,
  LabError,
  type MachineAction,
  type MachineState,
  type Model,
  modelFromResources,
  normaliseMac,
  type StateStore,
  transition,
} from "@lab/core";
import type { Database } from "@lab/store";
import type { Kysely } from "kysely";
import { z } from "zod";
import { stripV4Mapped, type Timeline } from "./timeline.js";

export interface Machine {
  mac: string;
  name: string | null;
  /** The remote bastion that serves it (null: this server's own boot services). */
  bastion: string | null;
  state: MachineState;
  reason: string | null;
  image: string | null;
  stage: string | null;
  ip: string | null;
  /** The next boot gets the rescue script, once. */
  debug: boolean;
  /** Mount points kept when it is reinstalled. */
  preserve: string[];
  hardware: Hardware | null;
  createdAt: string;
  updatedAt: string;
}

/** What dispatch decided for one boot, and the inputs its script needs. */
export type BootDecision =
  | { action: "discover"; mac: string; token: string; image: ImageSpec & { name: string } }
  | {
      action: "install";
      machine: Machine;
      image: ImageSpec & { name: string };
      token: string;
      reprovision: boolean;
    }
  | { action: "local"; machine: Machine }
  | { action: "debug"; machine: Machine; token: string; image: ImageSpec & { name: string } }
  | { action: "refuse"; mac: string; message: string };

export interface ProvisionerOptions {
  db: Kysely<Database>;
  store: StateStore;
  timeline: Timeline;
  /** Tells the event feed something was recorded (the daemon's; a no-op in local mode). */
  recorded?: () => void;
  /** Key for discovery tokens (stateless: HMAC of the MAC). Kept in the server's state dir. */
  secret: Buffer;
  /** Offer the discovery image to machines Lab does not know. */
  discover?: boolean;
  actor?: string;
  now?: () => Date;
}

export const ProgressSchema = z.strictObject({
  mac: z.string().max(64),
  stage: z
    .string()
    .regex(/^[a-z][a-z0-9_-]{0,39}$/, "a stage name such as partitioning (lower case, digits, - and _)"),
  status: z.enum(["running", "ok", "failed"]).default("running"),
  message: z.string().max(2000).optional(),
  percent: z.number().min(0).max(100).optional(),
});
export type Progress = z.infer<typeof ProgressSchema>;

export const InventorySchema = HardwareSchema.extend({ mac: z.string().max(64) });

/** The key of stateless discovery tokens, kept beside the CA (created on first use). */
export function loadPxeSecret(dir: string): Buffer {
  const path = join(dir, "pxe.secret");
  if (!existsSync(path)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      writeFileSync(path, randomBytes(32).toString("hex"), { mode: 0o600, flag: "wx" });
    } catch (e) {
      // Another process created it first: use theirs.
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
  return Buffer.from(readFileSync(path, "utf8").trim(), "hex");
}

const PRESERVE_DEFAULT = ["/home", "/srv", "/var/lib/longhorn", "/var/lib/rancher"];

export class Provisioner {
  private readonly db: Kysely<Database>;
  private readonly now: () => Date;
  private readonly actor: string;
  /** MACs Lab knows, for the DHCP server's synchronous lookups (scoped mode). */
  private readonly known = new Map<string, { hostname?: string; ip?: string }>();
  private listeners = new Set<() => void>();
  private cached?: { revision: number; model: Model; images: ReturnType<typeof imageCatalogue> };

  constructor(private readonly o: ProvisionerOptions) {
    this.db = o.db;
    this.now = o.now ?? (() => new Date());
    this.actor = o.actor ?? "lab";
  }

  get timeline(): Timeline {
    return this.o.timeline;
  }

  // ── reads ──────────────────────────────────────────────────────────────────────────────

  async list(): Promise<Machine[]> {
    const rows = await this.db.selectFrom("machines").selectAll().orderBy("created_at").execute();
    return rows.map(toMachine);
  }

  /** A machine by MAC, server name or IP address. */
  async find(target: string): Promise<Machine> {
    const mac = normaliseMac(target);
    let row = mac
      ? await this.db.selectFrom("machines").selectAll().where("mac", "=", mac).executeTakeFirst()
      : undefined;
    row ??= await this.db
      .selectFrom("machines")
      .selectAll()
      .where((eb) => eb.or([eb("name", "=", target), eb("ip", "=", target)]))
      .executeTakeFirst();
    if (!row) {
      throw new LabError(
        "LAB_E_NOT_FOUND",
        `no machine "${target}" (give its MAC, server name or IP; \`lab provision list\` shows them)`,
      );
    }
    return toMachine(row);
  }

  private async byMac(mac: string): Promise<Machine | undefined> {
    const row = await this.db.selectFrom("machines").selectAll().where("mac", "=", mac).executeTakeFirst();
    return row ? toMachine(row) : undefined;
  }

  /** Synchronous lookup for the DHCP server: MACs Lab knows (refresh with `refreshKnown`). */
  lookup(mac: string): { hostname?: string; ip?: string } | undefined {
    return this.known.get(mac);
  }

  async refreshKnown(): Promise<void> {
    // A bastion's machines boot at its site, not from this server's DHCP.
    const rows = await this.db
      .selectFrom("machines")
      .select(["mac", "name"])
      .where("bastion", "is", null)
      .execute();
    this.known.clear();
    for (const r of rows) this.known.set(r.mac, r.name ? { hostname: r.name } : {});
  }

  /** Called after every change to the machines (the dashboard and DHCP follow it). */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  // ── machines a remote bastion serves (control plane side) ─────────────────────────────

  /**
   * A bastion's machines as it reports them: stored here under its name (lifecycle commands
   * for them are routed to it; their install tokens stay there). `complete` is a full
   * snapshot: its machines missing from it were forgotten at the bastion.
   */
  async mirror(bastion: string, machines: Machine[], complete: boolean): Promise<void> {
    const now = new Map(
      (
        await this.db
          .selectFrom("machines")
          .select(["mac", "state", "bastion"])
          .where("bastion", "=", bastion)
          .execute()
      ).map((r) => [r.mac, r.state]),
    );
    for (const m of machines) {
      const row = {
        bastion,
        name: m.name,
        state: m.state,
        reason: m.reason,
        image: m.image,
        hardware: m.hardware ? JSON.stringify(m.hardware) : null,
        token_hash: null,
        debug: m.debug ? 1 : 0,
        preserve: JSON.stringify(m.preserve),
        ip: m.ip,
        stage: m.stage,
        created_at: m.createdAt,
        updated_at: m.updatedAt,
      };
      const updated = await this.db
        .updateTable("machines")
        .set(row)
        .where("mac", "=", m.mac)
        .executeTakeFirst();
      if (!Number(updated.numUpdatedRows))
        await this.db
          .insertInto("machines")
          .values({ mac: m.mac, ...row })
          .execute();
      if (m.ip) this.o.timeline.learn(m.ip, m.mac);
      const before = now.get(m.mac);
      now.delete(m.mac);
      if (before !== m.state) {
        await this.o.store.record({
          actor: `bastion:${bastion}`,
          action: "provision.report",
          result: m.state === "FAILED" ? "error" : "ok",
          summary: `bastion ${bastion}: ${m.name ?? m.mac} ${before ? `${before} → ` : ""}${m.state}`,
          changes: [],
          subjects: [`machine/${m.mac}`, ...(m.name ? [`server/${m.name}`] : []), `bastion/${bastion}`],
        });
      }
    }
    if (complete && now.size) {
      await this.db
        .deleteFrom("machines")
        .where("bastion", "=", bastion)
        .where("mac", "in", [...now.keys()])
        .execute();
    }
    this.o.recorded?.();
    await this.refreshKnown();
    this.notify();
  }

  // ── operator actions ───────────────────────────────────────────────────────────────────

  /** Registers a machine before it boots (`lab onboard --provider baremetal`) and queues it. */
  async enlist(o: { mac: string; name: string; image: string; preserve?: string[] }): Promise<Machine> {
    const mac = requireMac(o.mac);
    checkServerName(o.name);
    await this.requireImage(o.image);
    const existing = await this.byMac(mac);
    if (existing && existing.state !== "INSTALL_QUEUE") {
      // An already-discovered machine is simply queued under its new name.
      return this.install(mac, { image: o.image, name: o.name });
    }
    const taken = await this.db
      .selectFrom("machines")
      .select("mac")
      .where("name", "=", o.name)
      .executeTakeFirst();
    if (taken && taken.mac !== mac) {
      throw new LabError("LAB_E_CONFLICT", `server name "${o.name}" is already used by machine ${taken.mac}`);
    }
    const state = existing ? "INSTALL_QUEUE" : (transition(null, "enlist", mac) as MachineState);
    const t = this.now().toISOString();
    await this.db
      .insertInto("machines")
      .values({
        mac,
        name: o.name,
        state,
        image: o.image,
        preserve: JSON.stringify(o.preserve ?? PRESERVE_DEFAULT),
        debug: 0,
        created_at: t,
        updated_at: t,
      })
      .onConflict((c) => c.column("mac").doUpdateSet({ name: o.name, image: o.image, updated_at: t }))
      .execute();
    await this.changed(mac, "enlist", state, `${o.name} (${mac}) queued for ${o.image}`, o.name);
    return (await this.byMac(mac)) as Machine;
  }

  async install(target: string, o: { image?: string; name?: string } = {}): Promise<Machine> {
    if (o.name !== undefined) checkServerName(o.name);
    const m = await this.find(target);
    const image = o.image ?? m.image ?? (await this.serverImage(o.name ?? m.name));
    if (!image) {
      throw new LabError(
        "LAB_E_IMAGE",
        `which image should ${m.name ?? m.mac} get? pass --image (\`lab get images\` lists them) or set image: on its server`,
      );
    }
    await this.requireImage(image);
    const name = o.name ?? m.name;
    if (!name) {
      throw new LabError("LAB_E_USAGE", `machine ${m.mac} has no server name yet: pass --name`);
    }
    const state = transition(m.state, "install", name) as MachineState;
    await this.update(m.mac, { state, image, name, reason: null, stage: null });
    await this.changed(m.mac, "install", state, `${name} (${m.mac}) queued for ${image}`, name);
    return (await this.byMac(m.mac)) as Machine;
  }

  async reprovision(target: string, o: { image?: string; preserve?: string[] } = {}): Promise<Machine> {
    const m = await this.find(target);
    if (o.image) await this.requireImage(o.image);
    const state = transition(m.state, "reprovision", m.name ?? m.mac) as MachineState;
    await this.update(m.mac, {
      state,
      image: o.image ?? m.image,
      reason: null,
      stage: null,
      ...(o.preserve ? { preserve: JSON.stringify(o.preserve) } : {}),
    });
    await this.changed(
      m.mac,
      "reprovision",
      state,
      `${m.name ?? m.mac} queued for reinstall, keeping ${(o.preserve ?? m.preserve).join(", ") || "nothing"}`,
      m.name,
    );
    return (await this.byMac(m.mac)) as Machine;
  }

  async debug(target: string): Promise<Machine> {
    const m = await this.find(target);
    transition(m.state, "debug", m.name ?? m.mac);
    await this.update(m.mac, { debug: 1 });
    await this.changed(m.mac, "debug", m.state, `${m.name ?? m.mac} boots the rescue system once`, m.name);
    return (await this.byMac(m.mac)) as Machine;
  }

  async forget(target: string): Promise<Machine> {
    const m = await this.find(target);
    transition(m.state, "forget", m.name ?? m.mac);
    await this.db.deleteFrom("machines").where("mac", "=", m.mac).execute();
    await this.o.timeline.forget(m.mac);
    await this.changed(m.mac, "forget", null, `${m.name ?? m.mac} forgotten`, m.name);
    return m;
  }

  // ── what the machines ask for and tell ─────────────────────────────────────────────────

  /** Decides what `mac` boots now; clears the one-shot debug flag when it is served. */
  async dispatch(rawMac: string, source?: string): Promise<BootDecision> {
    const mac = normaliseMac(rawMac);
    if (!mac) return { action: "refuse", mac: rawMac, message: `"${rawMac}" is not a MAC address` };
    if (source) this.o.timeline.learn(source, mac);
    const m = await this.byMac(mac);
    const decision = await this.decide(mac, m);
    this.o.timeline.record(mac, "http", "dispatch", {
      decision: decision.action,
      ...(decision.action === "install" ? { image: decision.image.name } : {}),
      ...(decision.action === "refuse" ? { reason: decision.message } : {}),
    });
    return decision;
  }

  private async decide(mac: string, m: Machine | undefined): Promise<BootDecision> {
    if (!m) {
      if (!this.o.discover) {
        return {
          action: "refuse",
          mac,
          message: "Lab does not know this machine: onboard it (lab onboard --mac) or enable discovery",
        };
      }
      return { action: "discover", mac, token: this.discoveryToken(mac), image: await this.discoveryImage() };
    }
    if (m.debug) {
      const image = m.image ? await this.requireImage(m.image) : await this.discoveryImage();
      const token = await this.mintToken(mac);
      await this.update(mac, { debug: 0 });
      await this.changed(mac, "debug-served", m.state, `${m.name ?? mac} booted the rescue system`, m.name);
      return { action: "debug", machine: m, token, image };
    }
    switch (m.state) {
      case "INSTALL_QUEUE":
      case "INSTALLING": {
        const image = await this.requireImage(m.image ?? "");
        const token = await this.mintToken(mac);
        if (m.state === "INSTALLING") {
          // It booted the network again mid-install: the install restarts from the beginning.
          this.o.timeline.record(mac, "state", "install-restarted", { stage: m.stage });
        }
        return {
          action: "install",
          machine: m,
          image,
          token,
          reprovision: m.hardware !== null && m.stage !== null,
        };
      }
      case "INSTALLED":
        return { action: "local", machine: m };
      case "DISCOVERED":
        return this.o.discover
          ? { action: "discover", mac, token: this.discoveryToken(mac), image: await this.discoveryImage() }
          : { action: "local", machine: m };
      case "FAILED":
        return {
          action: "refuse",
          mac,
          message: `install failed (${m.reason ?? "no reason given"}): lab provision logs ${m.name ?? mac}`,
        };
    }
  }

  /** Checks a machine's token: its install token, or the discovery token for its MAC. */
  async authenticate(
    rawMac: string,
    token: string | undefined,
    discovery = false,
  ): Promise<Machine | undefined> {
    const mac = requireMac(rawMac);
    if (!token) throw new LabError("LAB_E_INSTALL_TOKEN", `no install token given for ${mac}`);
    const row = await this.db.selectFrom("machines").selectAll().where("mac", "=", mac).executeTakeFirst();
    const m = row ? toMachine(row) : undefined;
    if (row?.token_hash && safeEqual(row.token_hash, sha256(token))) return m;
    if (discovery && safeEqual(this.discoveryToken(mac), token)) return m;
    throw new LabError("LAB_E_INSTALL_TOKEN", `wrong install token for ${mac}`);
  }

  /** A discovery image posted the machine's hardware. */
  async inventory(body: unknown, token: string | undefined, source?: string): Promise<Machine> {
    const parsed = InventorySchema.safeParse(body);
    if (!parsed.success) throw badReport("inventory", parsed.error);
    const { mac: rawMac, ...hardware } = parsed.data;
    const mac = requireMac(rawMac);
    const m = await this.authenticate(mac, token, true);
    const state = transition(m?.state ?? null, "discover", m?.name ?? mac) as MachineState;
    const t = this.now().toISOString();
    const ip = source ? stripV4Mapped(source) : null;
    if (source) this.o.timeline.learn(source, mac);
    await this.db
      .insertInto("machines")
      .values({
        mac,
        state,
        hardware: JSON.stringify(hardware),
        ip,
        debug: 0,
        preserve: JSON.stringify(PRESERVE_DEFAULT),
        created_at: t,
        updated_at: t,
      })
      .onConflict((c) =>
        c.column("mac").doUpdateSet({ hardware: JSON.stringify(hardware), ip, updated_at: t }),
      )
      .execute();
    this.o.timeline.record(mac, "http", "inventory", {
      cpu: hardware.cpu.model,
      cores: hardware.cpu.cores,
      memoryBytes: hardware.memoryBytes,
      disks: hardware.disks.length,
      nics: hardware.nics.length,
    });
    if (!m)
      await this.changed(
        mac,
        "discover",
        state,
        `new machine ${mac} discovered (${summary(hardware)})`,
        null,
      );
    else this.notify();
    return (await this.byMac(mac)) as Machine;
  }

  /** An installer reported a stage. `complete` ends the install, `failed` fails it. */
  async progress(body: unknown, token: string | undefined, source?: string): Promise<Machine> {
    const parsed = ProgressSchema.safeParse(body);
    if (!parsed.success) throw badReport("progress", parsed.error);
    const p = parsed.data;
    const mac = requireMac(p.mac);
    const m = await this.authenticate(mac, token);
    if (!m) throw new LabError("LAB_E_INSTALL_TOKEN", `${mac} has no install in progress`);
    if (source) {
      this.o.timeline.learn(source, mac);
      await this.update(mac, { ip: stripV4Mapped(source) });
    }
    this.o.timeline.record(mac, "progress", p.stage, {
      status: p.status,
      ...(p.message ? { message: p.message } : {}),
      ...(p.percent !== undefined ? { percent: p.percent } : {}),
    });
    const action: MachineAction =
      p.status === "failed" ? "fail" : p.stage === "complete" ? "complete" : "start";
    const state = transition(m.state, action, m.name ?? mac) as MachineState;
    const reason =
      p.status === "failed" ? `${p.stage}: ${p.message ?? "the installer reported a failure"}` : null;
    await this.update(mac, {
      state,
      stage: p.stage,
      reason,
      ...(state === "INSTALLED" ? { token_hash: null } : {}),
    });
    if (state !== m.state) {
      const what =
        state === "INSTALLED"
          ? `${m.name ?? mac} installed with ${m.image}`
          : state === "FAILED"
            ? `${m.name ?? mac} install failed: ${reason}`
            : `${m.name ?? mac} installing ${m.image}`;
      await this.changed(mac, action, state, what, m.name, state === "FAILED" ? "error" : "ok");
    } else {
      this.notify();
    }
    return (await this.byMac(mac)) as Machine;
  }

  /** The image an install script boots, with its files resolved against the catalogue. */
  async requireImage(name: string): Promise<ImageSpec & { name: string }> {
    const { images } = await this.model();
    const image = images.get(name);
    if (!image) {
      const names = [...images.keys()].join(", ");
      throw new LabError("LAB_E_IMAGE", `no image "${name}" (known: ${names})`);
    }
    return { name, ...image.spec };
  }

  /** The discovery image's token for a MAC: stateless, so unknown machines need no row. */
  discoveryToken(mac: string): string {
    return createHmac("sha256", this.o.secret).update(`discover:${mac}`).digest("base64url");
  }

  /** The image discovery boots (overridable by a model image of the same name). */
  discoveryImage(): Promise<ImageSpec & { name: string }> {
    return this.requireImage(DISCOVERY_IMAGE);
  }

  // ── internals ──────────────────────────────────────────────────────────────────────────

  private async serverImage(name: string | null): Promise<string | undefined> {
    if (!name) return undefined;
    return (await this.model()).model.server.get(name)?.spec.image;
  }

  /**
   * The model and its image catalogue, read again only when the store's revision moved: every
   * boot asks for an image, and loading a whole fleet per boot request would be the hot path.
   */
  private async model(): Promise<{ model: Model; images: ReturnType<typeof imageCatalogue> }> {
    const revision = await this.o.store.revision();
    if (this.cached?.revision !== revision) {
      const model = modelFromResources(await this.o.store.load());
      this.cached = { revision, model, images: imageCatalogue(model) };
    }
    return this.cached;
  }

  /** A fresh install token; only its hash is kept, and the previous one stops working. */
  private async mintToken(mac: string): Promise<string> {
    const token = randomBytes(32).toString("base64url");
    await this.update(mac, { token_hash: sha256(token) });
    return token;
  }

  private async update(mac: string, values: Partial<Database["machines"]>): Promise<void> {
    await this.db
      .updateTable("machines")
      .set({ ...values, updated_at: this.now().toISOString() })
      .where("mac", "=", mac)
      .execute();
  }

  private async changed(
    mac: string,
    action: string,
    state: MachineState | null,
    summaryText: string,
    name: string | null,
    result: "ok" | "error" = "ok",
  ): Promise<void> {
    this.o.timeline.record(mac, "state", state ?? "FORGOTTEN", { action });
    await this.o.store.record({
      actor: this.actor,
      action: `provision.${action}`,
      result,
      summary: summaryText,
      changes: [],
      subjects: [`machine/${mac}`, ...(name ? [`server/${name}`] : [])],
    });
    this.o.recorded?.();
    await this.refreshKnown();
    this.notify();
  }

  private notify(): void {
    for (const fn of this.listeners) fn();
  }
}

type Row = Database["machines"];

function toMachine(r: Row): Machine {
  return {
    mac: r.mac,
    name: r.name,
    bastion: r.bastion ?? null,
    state: r.state as MachineState,
    reason: r.reason,
    image: r.image,
    stage: r.stage,
    ip: r.ip,
    debug: Number(r.debug) === 1,
    preserve: JSON.parse(r.preserve) as string[],
    hardware: r.hardware ? (JSON.parse(r.hardware) as Hardware) : null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function requireMac(raw: string): string {
  const mac = normaliseMac(raw);
  if (!mac) throw new LabError("LAB_E_USAGE", `"${raw}" is not a MAC address (expected aa:bb:cc:dd:ee:ff)`);
  return mac;
}

function badReport(what: string, error: z.ZodError): LabError {
  const issues = error.issues.slice(0, 5).map((i) => `${i.path.join(".") || "body"}: ${i.message}`);
  return new LabError("LAB_E_BAD_REPORT", `the ${what} report is not valid: ${issues.join("; ")}`);
}

function sha256(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function summary(h: Hardware): string {
  const gib = (h.memoryBytes / 2 ** 30).toFixed(h.memoryBytes < 2 ** 31 ? 1 : 0);
  return `${h.cpu.cores}× ${h.cpu.model}, ${gib} GiB, ${h.disks.length} disk(s), ${h.nics.length} NIC(s)`;
}
