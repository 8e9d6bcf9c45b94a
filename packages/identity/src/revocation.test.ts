import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CertificateAuthority, loadOrCreateCa } from "./ca.js";
import type { RevokedCert } from "./enrol.js";
import { buildCrl, CrlCache, normalizeSerial } from "./revocation.js";

const run = promisify(execFile);
let dir: string;
let ca: CertificateAuthority;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "lab-crl-"));
  ca = await loadOrCreateCa(dir);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `openssl crl` on the PEM: verifies the CA's signature and prints the entries. */
async function opensslCrl(pem: string): Promise<string> {
  const file = join(dir, `crl-${Math.random().toString(36).slice(2)}.pem`);
  writeFileSync(file, pem);
  try {
    const r = await run("openssl", ["crl", "-in", file, "-noout", "-text", "-CAfile", join(dir, "ca.crt")]);
    return `${r.stdout}${r.stderr}`;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT")
      throw new Error("openssl is missing: apt-get install -y openssl");
    throw e;
  }
}

describe("normalizeSerial", () => {
  it.each([
    { given: "4a0b", expected: "4A0B" },
    { given: "00:4A:0B", expected: "4A0B" },
    { given: "0", expected: "0" },
  ])("$given → $expected", ({ given, expected }) => {
    expect(normalizeSerial(given)).toBe(expected);
  });
});

describe("the CRL", () => {
  it("is signed by the CA and lists the revoked serials with their reasons (checked by OpenSSL)", async () => {
    const entries: RevokedCert[] = [
      { serial: "4A0B0C0D", revokedAt: "2026-03-01T10:00:00.000Z", reason: "revoked" },
      { serial: "5B000001", revokedAt: "2026-03-01T11:00:00.000Z", reason: "superseded" },
    ];
    const text = await opensslCrl(await buildCrl(ca, entries, new Date()));
    expect(text).toContain("verify OK");
    expect(text).toContain("Serial Number: 4A0B0C0D");
    expect(text).toContain("Serial Number: 5B000001");
    expect(text).toContain("Cessation Of Operation");
    expect(text).toContain("Superseded");
  });

  it("an empty CRL is valid too (OpenSSL needs one to check anything)", async () => {
    const text = await opensslCrl(await buildCrl(ca, [], new Date()));
    expect(text).toContain("verify OK");
    expect(text).toContain("No Revoked Certificates");
  });

  it("the cache re-signs only when the revoked set changes or the CRL gets old", async () => {
    let entries: RevokedCert[] = [];
    let clock = new Date("2026-03-01T10:00:00.000Z");
    const cache = new CrlCache(ca, { revokedCerts: async () => entries }, () => clock);
    expect(await cache.refresh()).toBe(true);
    expect(await cache.refresh()).toBe(false);
    entries = [{ serial: "4a0b", revokedAt: clock.toISOString(), reason: "revoked" }];
    expect(await cache.refresh()).toBe(true);
    expect(cache.isRevoked("4A0B")).toBe(true);
    expect(cache.isRevoked("00:4a:0b")).toBe(true);
    expect(cache.isRevoked("4A0C")).toBe(false);
    clock = new Date(clock.getTime() + 25 * 3_600_000);
    expect(await cache.refresh()).toBe(true);
    expect(cache.crlPem).toContain("BEGIN X509 CRL");
  });
});
