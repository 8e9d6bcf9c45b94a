/**
 * The age format, through the `age-encryption` package. Only X25519 identities: what Lab
 * writes must open with the stock `age` CLI (Debian's 1.1 has no post-quantum recipients).
 */
import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto";
import { LabError } from "@lab/core";
import { armor, Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from "age-encryption";

export const IDENTITY_PREFIX = "AGE-SECRET-KEY-1";
export const RECIPIENT_PREFIX = "age1";

export async function newIdentity(): Promise<string> {
  return generateX25519Identity();
}

export async function recipientOf(identity: string): Promise<string> {
  return identityToRecipient(identity);
}

/** Armored age ciphertext of `value` for every recipient. */
export async function seal(value: Uint8Array, recipients: string[]): Promise<string> {
  const e = new Encrypter();
  for (const r of recipients) e.addRecipient(r);
  return armor.encode(await e.encrypt(value));
}

/**
 * The plaintext of armored age ciphertext. age authenticates every chunk, so a flipped bit
 * anywhere is an error here, never a wrong value.
 */
export async function open(armored: string, identities: string[], what: string): Promise<Uint8Array> {
  const d = new Decrypter();
  for (const i of identities) d.addIdentity(i);
  try {
    return await d.decrypt(armor.decode(armored));
  } catch {
    // The library's message says nothing about the value, but keep ours fixed anyway.
    throw new LabError(
      "LAB_E_SECRET_TAMPERED",
      `${what}: the ciphertext does not decrypt with the store's key`,
    );
  }
}

/**
 * A MAC key derived from the identity. age proves a ciphertext is intact, not which secret it
 * belongs to: the MAC binds path and version to it, so swapped rows are caught too.
 */
export function macKey(identity: string): Buffer {
  return Buffer.from(hkdfSync("sha256", identity, "lab-secrets", "row-binding v1", 32));
}

export function rowMac(key: Buffer, path: string, version: number, ciphertext: string): string {
  return createHmac("sha256", key).update(`${path}\0${version}\0${ciphertext}`).digest("base64url");
}

export function isIdentity(text: string): boolean {
  return text.startsWith(IDENTITY_PREFIX) && !/\s/.test(text);
}

/** A stored row's value, after its MAC and age's own check; either failing is LAB_E_SECRET_TAMPERED. */
export async function unsealRow(
  row: { path: string; version: number; ciphertext: string; mac: string },
  identity: string,
  key: Buffer,
): Promise<Uint8Array> {
  const expected = Buffer.from(rowMac(key, row.path, row.version, row.ciphertext));
  const actual = Buffer.from(row.mac);
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    throw new LabError(
      "LAB_E_SECRET_TAMPERED",
      `secret "${row.path}" version ${row.version}: the stored row fails its integrity check`,
    );
  }
  return open(row.ciphertext, [identity], `secret "${row.path}" version ${row.version}`);
}
