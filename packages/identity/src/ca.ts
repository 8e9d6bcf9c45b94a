/**
 * Lab's internal certificate authority (X.509, ECDSA P-256). The server's TLS certificate is
 * issued by it now; agent client certificates will be too. Keys never leave the state dir.
 */
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import { createHash, webcrypto } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { writeAtomic, writeSecret } from "./files.js";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 86_400_000;
const CA_DAYS = 3650;
const SERVER_DAYS = 397;
/** Server certificates are reissued when this close to expiry. */
const RENEW_BEFORE_DAYS = 30;

export interface CertificateAuthority {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
  certPem: string;
}

export interface IssuedCert {
  certPem: string;
  keyPem: string;
  notAfter: Date;
}

/** Loads the CA from `dir` (ca.crt, ca.key), creating it on first use. */
export async function loadOrCreateCa(dir: string, commonName = "Lab CA"): Promise<CertificateAuthority> {
  const certPath = join(dir, "ca.crt");
  const keyPath = join(dir, "ca.key");
  if (existsSync(certPath) && existsSync(keyPath)) {
    const certPem = readFileSync(certPath, "utf8");
    const cert = new x509.X509Certificate(certPem);
    const privateKey = await importKey(readFileSync(keyPath, "utf8"));
    const publicKey = await cert.publicKey.export(ALG, ["verify"]);
    return { cert, keys: { privateKey, publicKey }, certPem };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + CA_DAYS * DAY),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const certPem = pem(cert);
  writeSecret(keyPath, await exportKey(keys.privateKey));
  writeAtomic(certPath, certPem);
  return { cert, keys, certPem };
}

/** A TLS server certificate for these names and addresses, signed by the CA. */
export async function issueServerCert(ca: CertificateAuthority, names: string[]): Promise<IssuedCert> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
  const now = Date.now();
  const notAfter = new Date(now + SERVER_DAYS * DAY);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${names[0] ?? "lab-server"}`,
    issuer: ca.cert.subject,
    notBefore: new Date(now - 60_000),
    notAfter,
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        names.map((n) => (isIP(n) ? { type: "ip" as const, value: n } : { type: "dns" as const, value: n })),
      ),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  return { certPem: pem(cert), keyPem: await exportKey(keys.privateKey), notAfter };
}

export interface IssuedClientCert {
  certPem: string;
  /** Hex, as the CRL and the TLS peer certificate show it (upper case). */
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

/**
 * A TLS client certificate (CN = `name`, clientAuth only) for a key the caller holds only the
 * public half of: agents make their key pair locally and send a CSR. The validity is
 * explicit so that callers decide lifetimes (and tests can issue already-expired ones).
 */
export async function issueClientCert(
  ca: CertificateAuthority,
  opts: { name: string; publicKey: CryptoKey; notBefore: Date; notAfter: Date },
): Promise<IssuedClientCert> {
  // First byte 0x40–0x7f: positive and never zero, so the DER integer is minimal and every
  // tool (OpenSSL, Node, the CRL) spells the serial the same way.
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40;
  const serialNumber = Buffer.from(bytes).toString("hex");
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber,
    subject: new x509.Name([{ CN: [opts.name] }]),
    issuer: ca.cert.subject,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    signingAlgorithm: ALG,
    publicKey: opts.publicKey,
    signingKey: ca.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: "dns", value: opts.name }]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  return {
    certPem: pem(cert),
    serial: serialNumber.toUpperCase(),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  };
}

/**
 * The server's certificate in `dir` (server.crt, server.key): reused while it covers `names`
 * and is not close to expiry, reissued otherwise.
 */
export async function ensureServerCert(
  ca: CertificateAuthority,
  dir: string,
  names: string[],
): Promise<IssuedCert & { issued: boolean }> {
  const certPath = join(dir, "server.crt");
  const keyPath = join(dir, "server.key");
  if (existsSync(certPath) && existsSync(keyPath)) {
    const certPem = readFileSync(certPath, "utf8");
    const cert = new x509.X509Certificate(certPem);
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    const covered = new Set(san?.names.items.map((n) => n.value) ?? []);
    const fresh = cert.notAfter.getTime() - Date.now() > RENEW_BEFORE_DAYS * DAY;
    const sameCa = cert.issuer === ca.cert.subject && (await cert.verify({ publicKey: ca.cert.publicKey }));
    if (fresh && sameCa && names.every((n) => covered.has(n))) {
      return { certPem, keyPem: readFileSync(keyPath, "utf8"), notAfter: cert.notAfter, issued: false };
    }
  }
  const issued = await issueServerCert(ca, names);
  writeSecret(keyPath, issued.keyPem);
  writeAtomic(certPath, issued.certPem);
  return { ...issued, issued: true };
}

/** SHA-256 fingerprint of a PEM certificate, as `AB:CD:…`. */
export function fingerprint(pem: string): string {
  const der = new x509.X509Certificate(pem).rawData;
  return createHash("sha256")
    .update(Buffer.from(der))
    .digest("hex")
    .toUpperCase()
    .replace(/(..)(?!$)/g, "$1:");
}

/** PEM text, always newline-terminated so certificates concatenate into a chain. */
function pem(cert: x509.X509Certificate): string {
  return `${cert.toString("pem").trimEnd()}\n`;
}

function serial(): string {
  // Positive, 16 random bytes: unique without a counter.
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return Buffer.from(bytes).toString("hex");
}

async function exportKey(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", key));
  const body = der.toString("base64").replace(/(.{64})/g, "$1\n");
  return `-----BEGIN PRIVATE KEY-----\n${body.trimEnd()}\n-----END PRIVATE KEY-----\n`;
}

async function importKey(pem: string): Promise<CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
  return webcrypto.subtle.importKey("pkcs8", der, ALG, true, ["sign"]) as Promise<CryptoKey>;
}

export { writeAtomic, writeSecret };
