/**
 * The secrets subsystem as one object for whoever hosts it (the CLI in local mode, `lab
 * server`): the vault, the compiled policy kept current with the model's revision and the
 * Puppet code, the reports, and the store service machines fetch from.
 */
import { Fleet, type Model, modelFromResources, type NewAuditEvent, type Resource } from "@lab/core";
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
import { type FetchPeer, SecretStoreService } from "./store-service.js";
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
}

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
  async set(name: string, value: Uint8Array, by: string): Promise<SetResult> {
    const meta = await this.vault.set(name, value, by);
    const row = (await this.list()).find((r) => r.name === name);
    return { meta, usedBy: row?.usedBy ?? [], servers: row?.servers ?? 0, known: row !== undefined };
  }

  /** The service machines fetch from, over this host's policy. */
  storeService(opts: {
    peerValid: (peer: FetchPeer) => Promise<boolean>;
    record?: (e: NewAuditEvent) => Promise<void>;
    storeName?: string;
  }): SecretStoreService {
    return new SecretStoreService({
      vault: this.vault,
      policy: async () => (await this.current()).policy,
      peerValid: opts.peerValid,
      record: opts.record,
      storeName: opts.storeName,
      ttl: (name, setAt) => {
        const every = this.compiled?.fleet.model.secret.get(name)?.spec.rotate_every;
        if (!every) return null;
        return Math.max(0, Math.round((Date.parse(setAt) + durationMs(every) - Date.now()) / 1000));
      },
    });
  }
}

export interface SetResult {
  meta: SecretMeta;
  usedBy: { label: string; servers: number }[];
  servers: number;
  /** false: nothing defines or references this name (stored anyway; audit lists it). */
  known: boolean;
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
