/**
 * The machine's local copy of its entitled secrets: one file, AES-256-GCM under a key derived
 * (HKDF-SHA256) from the agent's private key, so the cache opens only on the machine that
 * holds that key — a copied cache file without key.pem is noise, and a re-enrolled machine
 * (new key) starts empty rather than trusting an old copy. Mode 0600 in a 0700 dir, written
 * atomically. A TPM would keep the key in hardware (sealed to the boot state), so a disk
 * pulled from the machine would not open either; here the key file is the boundary.
 *
 * Stale beats nothing: entries past their TTL are still served when no store answers.
 */
import { createCipheriv, createDecipheriv, createPrivateKey, hkdfSync, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { LabError } from "@lab/core";

export interface CachedSecret {
  name: string;
  version: number;
  /** base64 */
  value: string;
  fetchedAt: string;
  setAt: string;
  /** Seconds after fetchedAt the copy counts as fresh; null: no expiry. */
  ttlSeconds: number | null;
}

export interface CacheContents {
  machine: string;
  /** When a store last answered the entitled list. */
  syncedAt: string | null;
  /** The names the store last said this machine may read. */
  entitled: string[];
  entries: CachedSecret[];
}

const MAGIC = Buffer.from("LABSC1");

/** The cache file inside an agent state dir. */
export function cacheFile(stateDir: string): string {
  return join(stateDir, "secrets", "cache.bin");
}

export class SecretCache {
  private readonly key: Buffer;

  constructor(
    readonly file: string,
    privateKeyPem: string,
  ) {
    const der = createPrivateKey(privateKeyPem).export({ type: "pkcs8", format: "der" });
    this.key = Buffer.from(hkdfSync("sha256", der, "lab-secret-cache", "v1", 32));
  }

  exists(): boolean {
    return existsSync(this.file);
  }

  read(machine: string): CacheContents {
    if (!existsSync(this.file)) return { machine, syncedAt: null, entitled: [], entries: [] };
    const blob = readFileSync(this.file);
    try {
      if (!blob.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error("not a cache file");
      const iv = blob.subarray(MAGIC.length, MAGIC.length + 12);
      const tag = blob.subarray(MAGIC.length + 12, MAGIC.length + 28);
      const d = createDecipheriv("aes-256-gcm", this.key, iv);
      d.setAAD(MAGIC);
      d.setAuthTag(tag);
      const plain = Buffer.concat([d.update(blob.subarray(MAGIC.length + 28)), d.final()]);
      const contents = JSON.parse(plain.toString("utf8")) as CacheContents;
      if (contents.machine !== machine) throw new Error(`made for ${contents.machine}`);
      return contents;
    } catch (e) {
      throw new LabError(
        "LAB_E_SECRET_CACHE",
        `${this.file} does not open with this machine's key (${(e as Error).message.slice(0, 60)})`,
      );
    }
  }

  write(contents: CacheContents): void {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    chmodSync(dirname(this.file), 0o700);
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", this.key, iv);
    c.setAAD(MAGIC);
    const body = Buffer.concat([c.update(JSON.stringify(contents), "utf8"), c.final()]);
    const tmp = `${this.file}.tmp-${process.pid}`;
    writeFileSync(tmp, Buffer.concat([MAGIC, iv, c.getAuthTag(), body]), { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  wipe(): void {
    rmSync(this.file, { force: true });
  }
}

export function isFresh(e: CachedSecret, now = Date.now()): boolean {
  return e.ttlSeconds === null || Date.parse(e.fetchedAt) + e.ttlSeconds * 1000 > now;
}

/** Seconds of freshness left (null: no expiry; 0: stale). */
export function ttlLeft(e: CachedSecret, now = Date.now()): number | null {
  if (e.ttlSeconds === null) return null;
  return Math.max(0, Math.round((Date.parse(e.fetchedAt) + e.ttlSeconds * 1000 - now) / 1000));
}
