/**
 * The machine side of distribution: keep the encrypted cache in step with what the store says
 * this machine may read, and deliver it the design's ways — an env file
 * (`LAB_SECRET_MAIL_TLS_CERT=…`, systemd EnvironmentFile quoting) and one file per secret
 * under a tmpfs path (`/run/secrets/mail/tls-cert`). A secret the store no longer lists is
 * dropped from the cache and from disk at once (remove the class → access revoked).
 *
 * Used by the agent's background refresh and by `lab secret get|cache` on the machine.
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { LabError } from "@lab/core";
import { type CacheContents, type CachedSecret, isFresh, type SecretCache } from "./cache.js";
import type { StoreClient } from "./client.js";

export interface Delivery {
  /** systemd/Docker-style env file; unset: none written. */
  envFile?: string;
  /** One file per secret below this directory (a tmpfs such as /run/secrets). */
  filesDir?: string;
}

export interface SyncResult {
  store: string | null;
  /** Why no store answered (the cache was kept as it was). */
  error: string | null;
  fetched: string[];
  dropped: string[];
  entitled: number;
  cached: number;
}

export class SecretSync {
  /** Set by wipe(): a refresh still in flight then writes and delivers nothing. */
  private wiped = false;

  constructor(
    readonly machine: string,
    private readonly cache: SecretCache,
    private readonly client: StoreClient,
    private readonly delivery: Delivery = {},
    private readonly now: () => number = Date.now,
  ) {}

  /** Asks the store what this machine may read; fetches what is new or stale. */
  async refresh(): Promise<SyncResult> {
    const contents = this.cache.read(this.machine);
    let answer: Awaited<ReturnType<StoreClient["entitled"]>>;
    try {
      answer = await this.client.entitled();
    } catch (e) {
      if (e instanceof LabError && e.code === "LAB_E_SECRET_STORE_UNREACHABLE") {
        // Stale beats nothing: keep serving (and delivering) the cached copies — unless the
        // machine was revoked meanwhile (a revoked machine's store refuses it at TLS, too).
        this.deliver(contents);
        return { ...this.counts(contents), store: null, error: e.message, fetched: [], dropped: [] };
      }
      throw e;
    }
    const listed = answer.body.secrets;
    const names = new Set(listed.map((s) => s.name));
    const byName = new Map(contents.entries.map((e) => [e.name, e]));
    const dropped = contents.entries.filter((e) => !names.has(e.name)).map((e) => e.name);
    const fetched: string[] = [];
    const entries: CachedSecret[] = [];
    for (const s of listed) {
      const had = byName.get(s.name);
      if (s.version === null) continue; // entitled, but never set: nothing to have
      if (had && had.version === s.version && isFresh(had, this.now())) {
        entries.push(had);
        continue;
      }
      const v = await this.client.value(s.name);
      entries.push({
        name: s.name,
        version: v.body.version,
        value: v.body.value,
        setAt: v.body.setAt,
        fetchedAt: new Date(this.now()).toISOString(),
        ttlSeconds: v.body.ttlSeconds,
      });
      fetched.push(s.name);
    }
    const next: CacheContents = {
      machine: this.machine,
      syncedAt: new Date(this.now()).toISOString(),
      entitled: [...names],
      entries,
    };
    if (!this.wiped) this.cache.write(next);
    this.deliver(next);
    return { ...this.counts(next), store: answer.store, error: null, fetched, dropped };
  }

  /**
   * One value: a fresh cached copy without a network call; else the store (and the cache is
   * updated); else a stale copy (`stale: true`); else LAB_E_SECRET_NOT_CACHED.
   */
  async get(name: string): Promise<{ value: Buffer; source: "cache" | "store"; stale: boolean }> {
    const contents = this.cache.read(this.machine);
    const had = contents.entries.find((e) => e.name === name);
    if (had && isFresh(had, this.now()))
      return { value: Buffer.from(had.value, "base64"), source: "cache", stale: false };
    try {
      const v = await this.client.value(name);
      const entry: CachedSecret = {
        name,
        version: v.body.version,
        value: v.body.value,
        setAt: v.body.setAt,
        fetchedAt: new Date(this.now()).toISOString(),
        ttlSeconds: v.body.ttlSeconds,
      };
      if (!this.wiped)
        this.cache.write({
          ...contents,
          entries: [...contents.entries.filter((e) => e.name !== name), entry],
        });
      return { value: Buffer.from(v.body.value, "base64"), source: "store", stale: false };
    } catch (e) {
      if (!(e instanceof LabError)) throw e;
      if (e.code === "LAB_E_SECRET_DENIED") {
        // The store says no: a copy from when it said yes must not outlive that.
        if (had) this.cache.write({ ...contents, entries: contents.entries.filter((x) => x.name !== name) });
        throw e;
      }
      if (e.code !== "LAB_E_SECRET_STORE_UNREACHABLE") throw e;
      if (had) return { value: Buffer.from(had.value, "base64"), source: "cache", stale: true };
      throw new LabError(
        "LAB_E_SECRET_NOT_CACHED",
        `"${name}": ${e.message}, and no cached copy on ${this.machine}`,
      );
    }
  }

  /** Removes the cache and everything delivered from it (revoke, decommission). */
  wipe(): void {
    this.cache.wipe();
    this.deliver({ machine: this.machine, syncedAt: null, entitled: [], entries: [] });
    this.wiped = true;
  }

  private counts(c: CacheContents) {
    return { entitled: c.entitled.length, cached: c.entries.length };
  }

  private deliver(c: CacheContents): void {
    if (this.wiped) return;
    const { envFile, filesDir } = this.delivery;
    if (envFile) {
      const lines = c.entries.map(
        (e) => `${envName(e.name)}=${envQuote(Buffer.from(e.value, "base64").toString("utf8"))}`,
      );
      writePrivate(envFile, lines.length ? `${lines.join("\n")}\n` : "");
    }
    if (filesDir) {
      const root = resolve(filesDir);
      const keep = new Set<string>();
      for (const e of c.entries) {
        const path = resolve(root, e.name);
        if (!path.startsWith(`${root}${sep}`)) continue; // paths are checked by the schema; belt and braces
        keep.add(path);
        writePrivate(path, Buffer.from(e.value, "base64"));
      }
      if (existsSync(root)) prune(root, keep);
    }
  }
}

/** `mail/tls-cert` → `LAB_SECRET_MAIL_TLS_CERT`. */
export function envName(path: string): string {
  return `LAB_SECRET_${path.toUpperCase().replace(/[^A-Z0-9]+/g, "_")}`;
}

/** systemd EnvironmentFile double quotes: backslash, quote, dollar and newlines escaped. */
function envQuote(value: string): string {
  return `"${value.replace(/[\\"$`]/g, (c) => `\\${c}`).replace(/\n/g, "\\n")}"`;
}

function writePrivate(path: string, content: string | Buffer): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Deletes files under `root` that are not in `keep`, and directories left empty. */
function prune(root: string, keep: Set<string>): void {
  for (const e of readdirSync(root)) {
    const p = join(root, e);
    if (statSync(p).isDirectory()) {
      prune(p, keep);
      if (readdirSync(p).length === 0) rmdirSync(p);
    } else if (!keep.has(p) && relative(root, p)) rmSync(p, { force: true });
  }
}
