/**
 * The secrets subsystem as one object for whoever hosts it (the CLI in local mode, `lab
 * server`): the vault, the compiled policy kept current with the model's revision and the
 * Puppet code, the reports, and the store service machines fetch from.
 */
import {
  Fleet,
  LabError,
  type Model,
  modelFromResources,
  type NewAuditEvent,
  type Resource,
} from "@lab/core";
import { type BackupResult, pushBackup, readBackup } from "./backup.js";
import { type GeneratorContext, generate } from "./generators.js";
import { type CompiledPolicy, compilePolicy, NO_CODE } from "./policy.js";
import { type CodeIndex, scanModulePath } from "./puppet.js";
import {
  type AuditReport,
  auditReport,
  type ReportInputs,
  type SecretListRow,
  type SecretReport,
  secretList,
  secretNames,
  secretReport,
} from "./report.js";
import { type FetchPeer, type ReplicaBundle, SecretStoreService } from "./store-service.js";
import { type SecretMeta, SecretVault, type VaultOptions } from "./vault.js";

export interface ModelSource {
  revision(): Promise<number>;
  load(): Promise<Resource[]>;
}

export interface SecretsHostOptions {
  vault: VaultOptions;
  model: ModelSource;
  /** Puppet module path entries (none: only labels grant). */
  modulePath: string[];
  /** The code is scanned again at most this often (default 30 s). */
  rescanMs?: number;
  now?: () => Date;
  /** What dynamic generators need from the host (Lab's CA for generator: ca). */
  generators?: GeneratorContext;
  /** Push an encrypted backup here after every change (a git URL). */
  gitUrl?: string;
  log?: (line: string) => void;
  /** What `secret-store` replicas are given: Lab's CA, a server certificate each, revocations. */
  replication?: {
    caPem: string;
    issueCert: (machine: string) => Promise<{ certPem: string; keyPem: string }>;
    revoked: () => Promise<{ names: string[]; serials: string[] }>;
  };
}

/** The label that makes a machine a secret store (design: a role is a label). */
export const STORE_LABEL = "secret-store";

/** A `secret-store` machine as this primary sees it: from its pulls, nothing assumed. */
export interface ReplicaState {
  name: string;
  /** `in sync`: pulled within its own interval (×3); `overdue`: stopped pulling; `never synced`. */
  state: "in sync" | "overdue" | "never synced";
  lastSyncAt: string | null;
  everyMs: number | null;
  /** Values set here since its last pull: not yet on that replica. */
  behind: number;
}

/** A replica that does not say its interval is expected at the agent's default (10 s). */
const DEFAULT_REPLICA_EVERY_MS = 10_000;
/** Missing a few pulls in a row is "overdue", not one slow answer. */
const OVERDUE_AFTER_PULLS = 3;
const OVERDUE_MIN_MS = 5_000;

export class SecretsHost {
  private compiled?: {
    revision: number;
    scannedAt: number;
    fleet: Fleet;
    policy: CompiledPolicy;
    code: CodeIndex;
  };

  private constructor(
    readonly vault: SecretVault,
    private readonly opts: SecretsHostOptions,
  ) {}

  static async open(opts: SecretsHostOptions): Promise<SecretsHost> {
    return new SecretsHost(await SecretVault.open({ ...opts.vault, now: opts.now }), opts);
  }

  close(): void {
    this.vault.close();
  }

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  /** The compiled policy, rebuilt when the model moved or the code is due a rescan. */
  async current(): Promise<{ fleet: Fleet; policy: CompiledPolicy; code: CodeIndex }> {
    const revision = await this.opts.model.revision();
    const now = Date.now();
    const c = this.compiled;
    const rescan = !c || now - c.scannedAt >= (this.opts.rescanMs ?? 30_000);
    if (c && c.revision === revision && !rescan) return c;
    const code = rescan
      ? this.opts.modulePath.length
        ? scanModulePath(this.opts.modulePath)
        : NO_CODE
      : (c as NonNullable<typeof c>).code;
    const model: Model = modelFromResources(await this.opts.model.load());
    const fleet = new Fleet(model);
    this.compiled = {
      revision,
      scannedAt: rescan ? now : (c as NonNullable<typeof c>).scannedAt,
      fleet,
      policy: compilePolicy(fleet, code),
      code,
    };
    return this.compiled;
  }

  private async inputs(): Promise<ReportInputs> {
    const c = await this.current();
    return { ...c, values: this.vault.list(), fetches: this.vault.fetches() };
  }

  async list(): Promise<SecretListRow[]> {
    return secretList(await this.inputs());
  }

  async report(name: string): Promise<SecretReport | undefined> {
    return secretReport(await this.inputs(), name);
  }

  async audit(): Promise<AuditReport> {
    return auditReport(await this.inputs());
  }

  async names(): Promise<string[]> {
    return secretNames(await this.current());
  }

  /** Stores a value and says who can read it (for `lab secret set`'s answer). */
  /**
   * Stores a new version. With `unlessSame`, a value equal to the current one stores nothing
   * (`unchanged: true`, the current version's meta): a re-apply that read the same file again.
   */
  async set(
    name: string,
    value: Uint8Array,
    by: string,
    o: { unlessSame?: boolean } = {},
  ): Promise<SetResult> {
    let meta: SecretMeta | undefined;
    if (o.unlessSame) {
      const current = await this.vault.get(name).catch((e: unknown) => {
        if (e instanceof LabError && e.code === "LAB_E_SECRET_NOT_SET") return undefined;
        throw e;
      });
      if (current && Buffer.from(current.value).equals(Buffer.from(value))) meta = this.vault.meta(name);
    }
    const unchanged = meta !== undefined;
    if (!meta) meta = await this.vault.set(name, value, by);
    const row = (await this.list()).find((r) => r.name === name);
    if (!unchanged) await this.changed();
    return {
      meta,
      usedBy: row?.usedBy ?? [],
      servers: row?.servers ?? 0,
      known: row !== undefined,
      ...(unchanged ? { unchanged } : {}),
    };
  }

  /**
   * A new value for a dynamic secret now (per-machine ones: for every machine that has one).
   * Machines pick it up on their next refresh; the old value stays readable for the grace period.
   */
  async rotate(name: string, by: string): Promise<SecretMeta[]> {
    const { fleet } = await this.current();
    const spec = fleet.model.secret.get(name)?.spec;
    if (!spec) throw new LabError("LAB_E_NOT_FOUND", `secret "${name}" is not defined under secrets:`);
    if (spec.type !== "dynamic") {
      throw new LabError(
        "LAB_E_USAGE",
        `"${name}" is static: rotate it by setting a new value (lab secret set ${name})`,
      );
    }
    const ctx = this.opts.generators ?? {};
    const out: SecretMeta[] = [];
    if (spec.per_machine) {
      for (const m of this.vault.list().filter((v) => v.path.startsWith(`${name}@`))) {
        const machine = m.path.slice(name.length + 1);
        out.push(await this.vault.set(m.path, await generate(name, spec, ctx, machine), by, "generated"));
      }
    } else out.push(await this.vault.set(name, await generate(name, spec, ctx), by, "generated"));
    await this.changed();
    return out;
  }

  /** Rotates every dynamic secret that has no value yet or whose rotate_every has passed. */
  async rotateDue(): Promise<string[]> {
    const { fleet } = await this.current();
    const now = this.now().getTime();
    const values = new Map(this.vault.list().map((v) => [v.path, v]));
    const done: string[] = [];
    for (const [name, { spec }] of fleet.model.secret) {
      if (spec.type !== "dynamic" || spec.per_machine) continue;
      if (spec.generator && !["password", "command"].includes(spec.generator)) continue;
      const v = values.get(name);
      const due = !v || (spec.rotate_every && Date.parse(v.setAt) + durationMs(spec.rotate_every) <= now);
      if (!due) continue;
      try {
        await this.rotate(name, "rotation");
        done.push(name);
      } catch (e) {
        this.opts.log?.(`secret rotation: ${name}: ${(e as Error).message}`);
      }
    }
    return done;
  }

  /**
   * Where a machine's value of `name` lives: the name itself, or `name@machine` for a
   * per-machine dynamic secret (made on first fetch, and again when its rotation is due).
   */
  async valuePath(machine: string, name: string): Promise<string> {
    const spec = this.compiled?.fleet.model.secret.get(name)?.spec;
    if (spec?.type === "dynamic" && !spec.per_machine && !this.vault.meta(name)) {
      // Its first value, made when first needed (the rotation loop may not have run yet).
      await this.rotate(name, "rotation").catch((e) =>
        this.opts.log?.(`secret ${name}: ${(e as Error).message}`),
      );
    }
    if (!spec?.per_machine || spec.type !== "dynamic") return name;
    const path = `${name}@${machine}`;
    const v = this.vault.meta(path);
    const now = this.now().getTime();
    if (!v || (spec.rotate_every && Date.parse(v.setAt) + durationMs(spec.rotate_every) <= now)) {
      await this.vault.set(
        path,
        await generate(name, spec, this.opts.generators ?? {}, machine),
        "lab",
        "generated",
      );
      await this.changed();
    }
    return path;
  }

  /** Pushes the encrypted backup to `url` (default: the configured one). */
  async backup(url = this.opts.gitUrl): Promise<BackupResult> {
    if (!url)
      throw new LabError(
        "LAB_E_USAGE",
        "no backup repository: pass --to URL (or start the server with --secrets-git URL)",
      );
    const result = pushBackup(url, this.vault, (await this.current()).policy);
    this.vault.note("backup.url", url);
    this.vault.note("backup.at", this.now().toISOString());
    this.vault.note("backup.secrets", String(result.secrets));
    return result;
  }

  /** Restores every version in the backup at `url` (they must open with this store's key). */
  async recover(url: string): Promise<{ restored: number; secrets: number; commit: string }> {
    const { rows, commit } = readBackup(url);
    const restored = await this.vault.importRows(rows, "recovered");
    return { restored, secrets: new Set(rows.map((r) => r.path)).size, commit };
  }

  /** The last backup push, as noted by this store. */
  lastBackup(): { url: string; at: string; secrets: number } | null {
    const url = this.vault.note("backup.url");
    const at = this.vault.note("backup.at");
    return url && at ? { url, at, secrets: Number(this.vault.note("backup.secrets") ?? 0) } : null;
  }

  private readonly replicaCerts = new Map<string, { certPem: string; keyPem: string }>();
  private readonly replicaPulls = new Map<string, { at: Date; everyMs: number | null }>();

  /** Every machine labelled `secret-store`, and whether it keeps up (scenario 2's "⚠"). */
  async replicas(): Promise<ReplicaState[]> {
    const { fleet } = await this.current();
    const now = this.now().getTime();
    const changes = this.vault.list().map((m) => Date.parse(m.setAt));
    return fleet
      .labelServers(STORE_LABEL)
      .ids()
      .map((id) => {
        const name = fleet.servers[id] as string;
        const pull = this.replicaPulls.get(name);
        if (!pull)
          return { name, state: "never synced", lastSyncAt: null, everyMs: null, behind: changes.length };
        const every = pull.everyMs ?? DEFAULT_REPLICA_EVERY_MS;
        const overdue = now - pull.at.getTime() > Math.max(OVERDUE_AFTER_PULLS * every, OVERDUE_MIN_MS);
        return {
          name,
          state: overdue ? "overdue" : "in sync",
          lastSyncAt: pull.at.toISOString(),
          everyMs: pull.everyMs,
          behind: changes.filter((t) => t > pull.at.getTime()).length,
        };
      });
  }

  /** Everything a `secret-store` machine needs to serve on its own (still encrypted). */
  async replicaBundle(machine: string, everyMs: number | null = null): Promise<ReplicaBundle> {
    const r = this.opts.replication;
    const { fleet, policy } = await this.current();
    if (!r || !fleet.resolve(machine)?.labels.includes(STORE_LABEL)) {
      throw new LabError("LAB_E_SECRET_DENIED", `${machine} is not a secret store (label "${STORE_LABEL}")`);
    }
    const machines: ReplicaBundle["machines"] = {};
    for (const m of policy.machines.values()) {
      const list: ReplicaBundle["machines"][string] = [];
      for (const g of m.grants) {
        const path = await this.valuePath(m.machine, g.secret).catch(() => g.secret);
        const meta = this.vault.meta(path);
        list.push({ name: g.secret, path, ttlSeconds: meta ? this.ttlFor(g.secret, meta.setAt) : null });
      }
      machines[m.machine] = list;
    }
    let tls = this.replicaCerts.get(machine);
    if (!tls) {
      tls = await r.issueCert(machine);
      this.replicaCerts.set(machine, tls);
    }
    const at = this.now();
    this.replicaPulls.set(machine, { at, everyMs });
    return {
      at: at.toISOString(),
      rows: this.vault.sealedRows(),
      machines,
      revoked: await r.revoked(),
      caPem: r.caPem,
      tls,
    };
  }

  private ttlFor(name: string, setAt: string): number | null {
    const every = this.compiled?.fleet.model.secret.get(name)?.spec.rotate_every;
    if (!every) return null;
    return Math.max(0, Math.round((Date.parse(setAt) + durationMs(every) - Date.now()) / 1000));
  }

  private async changed(): Promise<void> {
    if (!this.opts.gitUrl) return;
    // A failed push must not fail the change: the value is stored; the next change retries.
    await this.backup().catch((e) => this.opts.log?.(`secret backup: ${(e as Error).message}`));
  }

  /** The service machines fetch from, over this host's policy. */
  storeService(opts: {
    peerValid: (peer: FetchPeer) => Promise<boolean>;
    record?: (e: NewAuditEvent) => Promise<void>;
    storeName?: string;
  }): SecretStoreService {
    return new SecretStoreService({
      vault: this.vault,
      vaultPath: (machine, name) => this.valuePath(machine, name),
      policy: async () => (await this.current()).policy,
      peerValid: opts.peerValid,
      record: opts.record,
      storeName: opts.storeName,
      ttl: (name, setAt) => this.ttlFor(name, setAt),
      replica: (machine, everyMs) => this.replicaBundle(machine, everyMs),
    });
  }
}

export interface SetResult {
  meta: SecretMeta;
  usedBy: { label: string; servers: number }[];
  servers: number;
  /** false: nothing defines or references this name (stored anyway; audit lists it). */
  known: boolean;
  /** Asked with `unlessSame` and the value was the current one: nothing was stored. */
  unchanged?: boolean;
}

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  y: 365 * 86_400_000,
};

/** `90d`, `1h30m` → milliseconds (the schema's duration syntax). */
export function durationMs(text: string): number {
  let total = 0;
  for (const m of text.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g))
    total += Number(m[1]) * (UNIT_MS[m[2] as string] ?? 0);
  return total;
}
