/**
 * The agent's key pair and requests. The ECDSA P-256 key is made here, on the machine, and
 * its private half never leaves the state dir: the server only ever sees CSRs and signatures.
 */
import "reflect-metadata";
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, webcrypto } from "node:crypto";
import { renewalProofPayload } from "@lab/identity";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** A new P-256 private key, PKCS#8 PEM. */
export function generatePrivateKey(): string {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return privateKey.export({ type: "pkcs8", format: "pem" }).toString();
}

/** A PKCS#10 request with CN = `name`, signed by the key (the server checks both). */
export async function createCsr(name: string, privateKeyPem: string): Promise<string> {
  const pkcs8 = createPrivateKey(privateKeyPem).export({ type: "pkcs8", format: "der" });
  const spki = createPublicKey(privateKeyPem).export({ type: "spki", format: "der" });
  const keys = {
    privateKey: await webcrypto.subtle.importKey("pkcs8", pkcs8, ALG, false, ["sign"]),
    publicKey: await webcrypto.subtle.importKey("spki", spki, ALG, true, ["verify"]),
  } as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: new x509.Name([{ CN: [name] }]),
    keys,
    signingAlgorithm: ALG,
  });
  return csr.toString("pem");
}

/** base64 DER signature proving possession of the key for a renewal after expiry. */
export function signRenewalProof(
  privateKeyPem: string,
  name: string,
  challenge: string,
  csrPem: string,
): string {
  return sign("sha256", renewalProofPayload(name, challenge, csrPem), privateKeyPem).toString("base64");
}
