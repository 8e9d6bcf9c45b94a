/**
 * Revocation: an agent's certificates go on a CRL signed by Lab's CA. The channel listener
 * loads the CRL into its TLS context (so OpenSSL's own verification says CERT_REVOKED) and
 * also refuses the listed serials itself, before any application byte is read. Only revoked
 * certificates that have not expired are listed: an expired one is refused anyway, so the
 * CRL stays small even with short-lived certificates.
 */
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import { LabError } from "@lab/core";
import * as x509 from "@peculiar/x509";
import type { CertificateAuthority } from "./ca.js";
import type { AgentStore, RevokedCert } from "./enrol.js";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: "ECDSA", hash: "SHA-256" } as const;
/** A CRL is valid this long; it is re-signed long before (see `CrlCache`). */
export const CRL_VALIDITY_MS = 7 * 86_400_000;
/** A CRL older than this is re-signed even if nothing changed. */
export const CRL_REFRESH_MS = 86_400_000;

/** A serial as OpenSSL and Node print it: upper-case hex without leading zeros. */
export function normalizeSerial(serial: string): string {
  return serial
    .replace(/[^0-9a-f]/gi, "")
    .toUpperCase()
    .replace(/^0+(?=.)/, "");
}

const REASONS: Record<string, x509.X509CrlReason> = {
  revoked: x509.X509CrlReason.cessationOfOperation,
  superseded: x509.X509CrlReason.superseded,
  keyCompromise: x509.X509CrlReason.keyCompromise,
};

/** A CRL (PEM) listing `entries`, signed by the CA, valid from a little before `now`. */
export async function buildCrl(
  ca: CertificateAuthority,
  entries: RevokedCert[],
  now: Date,
  validityMs = CRL_VALIDITY_MS,
): Promise<string> {
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.cert.subject,
    // Backdated: a verifier whose clock is a little behind must not see a CRL "not yet valid".
    thisUpdate: new Date(now.getTime() - 5 * 60_000),
    nextUpdate: new Date(now.getTime() + validityMs),
    signingAlgorithm: ALG,
    signingKey: ca.keys.privateKey,
    extensions: [await x509.AuthorityKeyIdentifierExtension.create(ca.cert)],
    entries: entries.map((e) => ({
      serialNumber: normalizeSerial(e.serial).padStart(2, "0"),
      revocationDate: new Date(e.revokedAt),
      reason: REASONS[e.reason ?? "revoked"] ?? x509.X509CrlReason.unspecified,
    })),
  });
  // OpenSSL (and so Node's TLS `crl` option) reads the RFC 7468 label "X509 CRL".
  const body = Buffer.from(crl.rawData)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .trimEnd();
  return `-----BEGIN X509 CRL-----\n${body}\n-----END X509 CRL-----\n`;
}

/**
 * The current CRL and the set of revoked serials, rebuilt from the store when the revoked
 * set changed or the CRL is getting old. `refresh()` says whether anything changed, so a
 * listener swaps its TLS context only then.
 */
export class CrlCache {
  private pem: string | undefined;
  private signedAt = 0;
  private key = "";
  serials = new Set<string>();

  constructor(
    private readonly ca: CertificateAuthority,
    private readonly repo: Pick<AgentStore, "revokedCerts">,
    private readonly now: () => Date = () => new Date(),
  ) {}

  get crlPem(): string {
    if (!this.pem) throw new Error("CrlCache.refresh() has not run yet");
    return this.pem;
  }

  /** Re-reads the revoked certificates; true when the CRL was re-signed. */
  async refresh(force = false): Promise<boolean> {
    const now = this.now();
    const entries = await this.repo.revokedCerts(now.toISOString());
    const serials = new Set(entries.map((e) => normalizeSerial(e.serial)));
    const key = [...serials].sort().join(",");
    const stale = now.getTime() - this.signedAt > CRL_REFRESH_MS;
    if (!force && this.pem && key === this.key && !stale) return false;
    this.pem = await buildCrl(this.ca, entries, now);
    this.signedAt = now.getTime();
    this.key = key;
    this.serials = serials;
    return true;
  }

  isRevoked(serial: string): boolean {
    return this.serials.has(normalizeSerial(serial));
  }
}

/**
 * Revokes an agent: the agent and every certificate it holds are marked revoked (renewal is
 * refused from then on). The caller then refreshes the CRL, cuts the channel, removes DNS.
 */
export async function revokeAgent(
  repo: Pick<AgentStore, "revokeAgent">,
  name: string,
  opts: { by: string; reason?: string; now?: Date },
): Promise<{ serials: string[]; alreadyRevoked: boolean }> {
  const result = await repo.revokeAgent(name, {
    now: (opts.now ?? new Date()).toISOString(),
    by: opts.by,
    reason: opts.reason ?? "revoked",
  });
  if (!result.found) throw new LabError("LAB_E_NOT_FOUND", `no agent "${name}" is enrolled`);
  return { serials: result.serials, alreadyRevoked: result.alreadyRevoked };
}
