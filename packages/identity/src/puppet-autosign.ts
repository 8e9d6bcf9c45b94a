/**
 * Puppet (OpenVox) certificate signing by Lab's join tokens. puppetserver's policy-based
 * autosigning runs an executable for every CSR (certname as argv[1], the PEM on stdin) and
 * signs when it exits 0; `lab puppet autosign` is that executable, and this is its decision.
 * A CSR is signed only when it carries a one-time join token Lab issued for that certname —
 * the agent puts it in csr_attributes.yaml as `custom_attributes: {challengePassword: TOKEN}`
 * (or `extension_requests: {pp_preshared_key: TOKEN}`). The token is spent in one conditional
 * UPDATE, so a replayed CSR, or two agents racing with one token, gets at most one signature.
 */
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import { LabError, type NewAuditEvent } from "@lab/core";
import * as x509 from "@peculiar/x509";
import {
  hashJoinToken,
  type JoinTokenRecord,
  type JoinTokenStore,
  joinTokenError,
  joinTokenRefusal,
  looksLikeJoinToken,
} from "./join-tokens.js";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

/** PKCS#9 challengePassword: what csr_attributes.yaml's `custom_attributes` carries. */
export const CHALLENGE_PASSWORD_OID = "1.2.840.113549.1.9.7";
/** Puppet's registered extension pp_preshared_key (ppRegCertExt 1.3.6.1.4.1.34380.1.1, arc 4). */
export const PP_PRESHARED_KEY_OID = "1.3.6.1.4.1.34380.1.1.4";

/** What a Puppet CSR claims: its subject CN and the join token it carries, if any. */
export interface PuppetCsrClaims {
  commonName: string | null;
  token: string | null;
  tokenFrom: "challengePassword" | "pp_preshared_key" | null;
}

export interface AutosignRequest {
  /** The certname puppetserver asks about (argv[1] of the autosign executable). */
  certname: string;
  csr: string;
}

export interface AutosignDecision {
  certname: string;
  /** The machine the spent token was issued for. */
  name: string;
  tokenFrom: "challengePassword" | "pp_preshared_key";
}

function refused(reason: string): LabError {
  return new LabError("LAB_E_AUTOSIGN_REFUSED", `not signing: ${reason}`);
}

/** Reads a PEM CSR; a request that does not parse or whose signature does not verify is refused. */
export async function readPuppetCsr(pem: string): Promise<PuppetCsrClaims> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch {
    throw refused("the request is not a PEM PKCS#10 certificate request");
  }
  // A CSR is self-signed by the key the certificate will certify: a bad signature means it was altered.
  if (!(await csr.verify().catch(() => false))) throw refused("the CSR's signature does not verify");
  const commonName = csr.subjectName.getField("CN")[0] ?? null;
  const challenge = csr.getAttribute(CHALLENGE_PASSWORD_OID)?.values[0];
  if (challenge) return { commonName, token: derString(challenge), tokenFrom: "challengePassword" };
  const psk = csr.getExtension(PP_PRESHARED_KEY_OID);
  if (psk) return { commonName, token: derString(psk.value), tokenFrom: "pp_preshared_key" };
  return { commonName, token: null, tokenFrom: null };
}

/**
 * The text of a DER string value (UTF8String, PrintableString, IA5String…, as OpenSSL and
 * Puppet encode attribute and extension values); bytes that are not one are read as UTF-8.
 */
function derString(value: ArrayBuffer): string {
  const b = Buffer.from(value);
  const STRING_TAGS = new Set([0x0c, 0x13, 0x14, 0x16, 0x1e]);
  if (b.length >= 2 && STRING_TAGS.has(b[0] as number)) {
    let len = b[1] as number;
    let at = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + (b[at + i] as number);
      at += n;
    }
    const body = b.subarray(at, at + len);
    return b[0] === 0x1e ? body.swap16().toString("utf16le") : body.toString("utf8");
  }
  return b.toString("utf8");
}

/** Whether a certname names machine `name`: the name itself or an FQDN whose first label it is. */
export function certnameIsFor(certname: string, name: string): boolean {
  const c = certname.toLowerCase();
  return c === name || c.startsWith(`${name}.`);
}

/**
 * Decides one CSR and spends its token when it is signed. Throws LAB_E_AUTOSIGN_REFUSED with
 * the reason otherwise. Nothing is spent on a refusal.
 */
export async function decideAutosign(
  repo: JoinTokenStore,
  req: AutosignRequest,
  now: Date,
): Promise<AutosignDecision> {
  const claims = await readPuppetCsr(req.csr);
  if (claims.commonName?.toLowerCase() !== req.certname.toLowerCase()) {
    throw refused(`the CSR is for "${claims.commonName ?? "(no CN)"}", not the certname "${req.certname}"`);
  }
  if (!claims.token || !claims.tokenFrom) {
    throw refused(
      "the CSR carries no join token (csr_attributes.yaml: custom_attributes: {challengePassword: labj_…})",
    );
  }
  if (!looksLikeJoinToken(claims.token)) throw refused(`its ${claims.tokenFrom} is not a Lab join token`);
  const hash = hashJoinToken(claims.token);
  const record = await repo.findJoinToken(hash);
  const refusal = joinTokenRefusal(record, now);
  if (refusal) throw refused(joinTokenError(refusal, record).message);
  const token = record as JoinTokenRecord;
  if (!certnameIsFor(req.certname, token.name)) {
    throw refused(`the join token is for "${token.name}", not "${req.certname}"`);
  }
  const spent = await repo.spendJoinToken({ hash, name: token.name, now: now.toISOString() });
  if (spent !== true) throw refused(joinTokenError(spent, token).message);
  return { certname: req.certname, name: token.name, tokenFrom: claims.tokenFrom };
}

/**
 * The whole autosign step local mode and the server share: decide, and audit the outcome
 * either way (a refusal is an event too: someone presented a CSR Lab did not vouch for).
 */
export async function autosign(
  deps: { repo: JoinTokenStore; record: (e: NewAuditEvent) => Promise<unknown>; actor: string },
  req: AutosignRequest,
  now = new Date(),
): Promise<AutosignDecision> {
  try {
    const decision = await decideAutosign(deps.repo, req, now);
    await deps.record({
      actor: deps.actor,
      action: "puppet.autosign",
      result: "ok",
      summary: `signed the Puppet CSR of ${req.certname} (join token for ${decision.name}, from ${decision.tokenFrom})`,
      changes: [],
      subjects: [`server/${decision.name}`],
    });
    return decision;
  } catch (e) {
    if (e instanceof LabError && e.code === "LAB_E_AUTOSIGN_REFUSED") {
      await deps.record({
        actor: deps.actor,
        action: "puppet.autosign",
        result: "error",
        summary: `refused the Puppet CSR of ${req.certname.slice(0, 253)}: ${e.message.slice(0, 300)}`,
        changes: [],
        subjects: [],
      });
    }
    throw e;
  }
}
