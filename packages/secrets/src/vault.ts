/**
 * The encrypted store: a SQLite file of age ciphertexts, one row per (path, version), and an
 * age identity in a key file kept elsewhere (default LAB_HOME/keys/, not next to the data, and
 * never in the state database or its backups). A stolen vault file is ciphertext, paths and
 * who set what when; it opens only with the key.
 *
 * Each row also carries a MAC (keyed from the identity) over path, version and ciphertext, so
 * a ciphertext moved to another row is refused like a damaged one.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { LabError } from "@lab/core";
import { writeSecret } from "@lab/identity";
import BetterSqlite3 from "better-sqlite3";
import { isIdentity, macKey, newIdentity, recipientOf, rowMac, seal, unsealRow } from "./age.js";

/** The largest value Lab stores (certificates and key bundles fit many times over). */
export const MAX_VALUE_BYTES = 1024 * 1024;
/** How long a replaced value stays readable by version (machines that have not caught up). */
export const DEFAULT_GRACE_MS = 24 * 3_600_000;

export type ValueSource = "set" | "generated" | "recovered" | "synced";

/** What the store says about a secret without opening it. */
export interface SecretMeta {
  path: string;
  version: number;
  setAt: string;
  setBy: string;
  source: ValueSource;
  /** Older versions still readable (within the grace period). */
  previous: number[];
}

export interface SecretValue {
  path: string;
  version: number;
  value: Uint8Array;
  setAt: string;
  setBy: string;
}

/** One row as it is stored and as replicas and backups carry it: ciphertext, never plaintext. */
export interface SealedRow {
  path: string;
  version: number;
  ciphertext: string;
  mac: string;
  setAt: string;
  setBy: string;
  source: ValueSource;
  retiredAt: string | null;
}

export interface Fetch {
  machine: string;
  path: string;
  version: number;
  at: string;
}

export interface VaultOptions {
  dataFile: string;
  keyFile: string;
  /** Extra recipients every value is also encrypted to (e.g. an offline recovery key). */
  recipients?: string[];
  graceMs?: number;
  now?: () => Date;
}

interface Row {
  path: string;
  version: number;
  ciphertext: string;
  mac: string;
  set_at: string;
  set_by: string;
  source: string;
  retired_at: string | null;
}

/** What the store service reads: the vault, or a replica's copy of its rows. */
export interface VaultReader {
  list(): SecretMeta[];
  get(path: string, version?: number): Promise<SecretValue>;
  recordFetch(machine: string, path: string, version: number): void;
}

export class SecretVault implements VaultReader {
  private readonly mac: Buffer;
  private readonly graceMs: number;
  private readonly now: () => Date;

  private constructor(
    private readonly db: BetterSqlite3.Database,
    private readonly identity: string,
    readonly recipient: string,
    private readonly extra: string[],
    opts: VaultOptions,
  ) {
    this.mac = macKey(identity);
    this.graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
    this.now = opts.now ?? (() => new Date());
  }

  /**
   * Opens (or creates) the vault. A key is generated only for a vault that has never had
   * one: an existing vault whose key is gone is an error, never silently re-keyed.
   */
  static async open(opts: VaultOptions): Promise<SecretVault> {
    mkdirSync(dirname(opts.dataFile), { recursive: true, mode: 0o700 });
    const db = new BetterSqlite3(opts.dataFile);
    try {
      chmodSync(opts.dataFile, 0o600);
      db.pragma("journal_mode = WAL");
      db.pragma("busy_timeout = 5000");
      db.exec(`
        create table if not exists secret_values (
          path text not null, version integer not null, ciphertext text not null, mac text not null,
          set_at text not null, set_by text not null, source text not null, retired_at text,
          primary key (path, version));
        create table if not exists secret_fetches (
          machine text not null, path text not null, version integer not null, at text not null,
          primary key (machine, path));
        create table if not exists vault_meta (key text primary key, value text not null);
      `);
      const known = db.prepare("select value from vault_meta where key = 'recipient'").get() as
        | { value: string }
        | undefined;
      const identity = await loadOrCreateKey(opts.keyFile, known?.value);
      const recipient = await recipientOf(identity);
      if (known && known.value !== recipient) {
        throw new LabError(
          "LAB_E_SECRET_KEY",
          `${opts.keyFile} is not the key of ${opts.dataFile} (the store was made for ${known.value})`,
        );
      }
      if (!known) db.prepare("insert into vault_meta (key, value) values ('recipient', ?)").run(recipient);
      return new SecretVault(db, identity, recipient, opts.recipients ?? [], opts);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  close(): void {
    this.db.close();
  }

  /** Everyone a value is encrypted to: the store's key, then any extra recipients. */
  get recipients(): string[] {
    return [this.recipient, ...this.extra];
  }

  /** Small facts the store keeps about itself (last backup push, …); never a value. */
  note(key: string, value?: string): string | undefined {
    if (value !== undefined) {
      this.db
        .prepare(
          "insert into vault_meta (key, value) values (?, ?) on conflict (key) do update set value = excluded.value",
        )
        .run(key, value);
      return value;
    }
    return (
      this.db.prepare("select value from vault_meta where key = ?").get(key) as { value: string } | undefined
    )?.value;
  }

  /** Stores a new current version; the previous one stays readable for the grace period. */
  async set(path: string, value: Uint8Array, by: string, source: ValueSource = "set"): Promise<SecretMeta> {
    checkValue(path, value);
    const ciphertext = await seal(value, this.recipients);
    const at = this.now().toISOString();
    const tx = this.db.transaction(() => {
      const last = this.db
        .prepare("select max(version) as v from secret_values where path = ?")
        .get(path) as { v: number | null };
      const version = (last.v ?? 0) + 1;
      this.db
        .prepare("update secret_values set retired_at = ? where path = ? and retired_at is null")
        .run(at, path);
      this.db
        .prepare(
          "insert into secret_values (path, version, ciphertext, mac, set_at, set_by, source) values (?, ?, ?, ?, ?, ?, ?)",
        )
        .run(path, version, ciphertext, rowMac(this.mac, path, version, ciphertext), at, by, source);
      this.purge();
      return version;
    });
    tx();
    return this.meta(path) as SecretMeta;
  }

  /** The current value (or one version still in its grace period), decrypted and checked. */
  async get(path: string, version?: number): Promise<SecretValue> {
    const row = (
      version === undefined
        ? this.db.prepare("select * from secret_values where path = ? and retired_at is null").get(path)
        : this.db.prepare("select * from secret_values where path = ? and version = ?").get(path, version)
    ) as Row | undefined;
    if (!row || (row.retired_at && this.expired(row.retired_at))) {
      throw new LabError(
        "LAB_E_SECRET_NOT_SET",
        version === undefined
          ? `secret "${path}" has no value in this store`
          : `secret "${path}" has no version ${version} (older versions are kept for the grace period only)`,
      );
    }
    return {
      path,
      version: row.version,
      value: await this.unseal(row),
      setAt: row.set_at,
      setBy: row.set_by,
    };
  }

  meta(path: string): SecretMeta | undefined {
    return this.list().find((m) => m.path === path);
  }

  /** Every secret with a value: current version and metadata. Nothing is decrypted. */
  list(): SecretMeta[] {
    const rows = this.db.prepare("select * from secret_values order by path, version").all() as Row[];
    const out = new Map<string, SecretMeta>();
    for (const r of rows) {
      if (r.retired_at === null) {
        out.set(r.path, {
          path: r.path,
          version: r.version,
          setAt: r.set_at,
          setBy: r.set_by,
          source: r.source as ValueSource,
          previous: out.get(r.path)?.previous ?? [],
        });
      }
    }
    for (const r of rows) {
      const m = out.get(r.path);
      if (m && r.retired_at && !this.expired(r.retired_at)) m.previous.push(r.version);
    }
    return [...out.values()];
  }

  /** Every stored row as ciphertext (for the git backup and replica sync). */
  sealedRows(): SealedRow[] {
    return (this.db.prepare("select * from secret_values order by path, version").all() as Row[]).map(sealed);
  }

  /**
   * Takes rows from a backup or another replica after checking each one opens with this
   * vault's key and carries a valid MAC; rows already present are left alone.
   */
  async importRows(rows: SealedRow[], source?: ValueSource): Promise<number> {
    let added = 0;
    for (const r of rows) {
      await this.unseal(toRow(r));
      const res = this.db
        .prepare(
          "insert or ignore into secret_values (path, version, ciphertext, mac, set_at, set_by, source, retired_at) values (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .run(r.path, r.version, r.ciphertext, r.mac, r.setAt, r.setBy, source ?? r.source, r.retiredAt);
      added += res.changes;
    }
    // The newest version of each path is current; the rest are retired.
    this.db.exec(`
      update secret_values set retired_at = coalesce(retired_at, set_at)
      where version < (select max(version) from secret_values v where v.path = secret_values.path);
      update secret_values set retired_at = null
      where version = (select max(version) from secret_values v where v.path = secret_values.path);
    `);
    return added;
  }

  recordFetch(machine: string, path: string, version: number): void {
    this.db
      .prepare(
        "insert into secret_fetches (machine, path, version, at) values (?, ?, ?, ?) on conflict (machine, path) do update set version = excluded.version, at = excluded.at",
      )
      .run(machine, path, version, this.now().toISOString());
  }

  fetches(path?: string): Fetch[] {
    const q = path
      ? this.db.prepare("select * from secret_fetches where path = ? order by machine").all(path)
      : this.db.prepare("select * from secret_fetches order by path, machine").all();
    return q as Fetch[];
  }

  private async unseal(row: Row): Promise<Uint8Array> {
    return unsealRow(row, this.identity, this.mac);
  }

  private expired(retiredAt: string): boolean {
    return Date.parse(retiredAt) + this.graceMs < this.now().getTime();
  }

  private purge(): void {
    const before = new Date(this.now().getTime() - this.graceMs).toISOString();
    this.db.prepare("delete from secret_values where retired_at is not null and retired_at < ?").run(before);
  }
}

function sealed(r: Row): SealedRow {
  return {
    path: r.path,
    version: r.version,
    ciphertext: r.ciphertext,
    mac: r.mac,
    setAt: r.set_at,
    setBy: r.set_by,
    source: r.source as ValueSource,
    retiredAt: r.retired_at,
  };
}

function toRow(r: SealedRow): Row {
  return {
    path: r.path,
    version: r.version,
    ciphertext: r.ciphertext,
    mac: r.mac,
    set_at: r.setAt,
    set_by: r.setBy,
    source: r.source,
    retired_at: r.retiredAt,
  };
}

function checkValue(path: string, value: Uint8Array): void {
  if (value.length === 0) throw new LabError("LAB_E_SECRET_VALUE", `refusing an empty value for "${path}"`);
  if (value.length > MAX_VALUE_BYTES) {
    throw new LabError(
      "LAB_E_SECRET_VALUE",
      `the value for "${path}" is ${value.length} bytes; at most ${MAX_VALUE_BYTES} are stored`,
    );
  }
}

async function loadOrCreateKey(keyFile: string, knownRecipient: string | undefined): Promise<string> {
  if (existsSync(keyFile)) {
    let text: string;
    try {
      text = readFileSync(keyFile, "utf8");
    } catch (e) {
      throw new LabError("LAB_E_SECRET_KEY", `cannot read ${keyFile}: ${(e as NodeJS.ErrnoException).code}`);
    }
    const line = text
      .split("\n")
      .map((l) => l.trim())
      .find((l) => l && !l.startsWith("#"));
    if (!line || !isIdentity(line)) {
      throw new LabError("LAB_E_SECRET_KEY", `${keyFile} holds no age identity (AGE-SECRET-KEY-1…)`);
    }
    return line;
  }
  if (knownRecipient) {
    throw new LabError(
      "LAB_E_SECRET_KEY",
      `the key file ${keyFile} is missing, and the store was made for ${knownRecipient}`,
    );
  }
  const identity = await newIdentity();
  mkdirSync(dirname(keyFile), { recursive: true, mode: 0o700 });
  const recipient = await recipientOf(identity);
  // The age-keygen layout, so `age -d -i FILE` reads it as is.
  writeSecret(keyFile, `# created: ${new Date().toISOString()}\n# public key: ${recipient}\n${identity}\n`);
  return identity;
}
