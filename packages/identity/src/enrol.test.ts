/**
 * Enrolment and renewal against the real SQL repository (SQLite) and a real CA, with an
 * injectable clock: tokens expire, certificates expire, machines stay off for a week.
 */
import "reflect-metadata";
import { sign, webcrypto } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isLabError } from "@lab/core";
import { identityRepo, type KyselyStore, openSqliteStore } from "@lab/store";
import * as x509 from "@peculiar/x509";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type CertificateAuthority, loadOrCreateCa } from "./ca.js";
import type { DnsRegistrar } from "./dns-update.js";
import {
  enrolRequestSchema,
  type HostKeySigner,
  IdentityService,
  type IdentityStore,
  renewalProofPayload,
} from "./enrol.js";
import { createJoinToken } from "./join-tokens.js";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 86_400_000;
const T0 = new Date("2026-03-01T10:00:00.000Z");

interface AgentKey {
  keys: CryptoKeyPair;
  pem: string;
}

async function agentKey(curve: "P-256" | "P-384" = "P-256"): Promise<AgentKey> {
  const alg = { name: "ECDSA", namedCurve: curve, hash: "SHA-256" };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { keys, pem: `-----BEGIN PRIVATE KEY-----\n${der.toString("base64")}\n-----END PRIVATE KEY-----\n` };
}

async function csrFor(name: string, key: AgentKey): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${name}`,
    keys: key.keys,
    signingAlgorithm: ALG,
  });
  return csr.toString("pem");
}

class FakeDns implements DnsRegistrar {
  calls: string[] = [];
  fail = false;
  ptr: string | null = null;
  async upsertHost(name: string, ipv4: string) {
    this.calls.push(`upsert ${name} ${ipv4}`);
    if (this.fail) throw new Error("dns server unreachable");
    return { fqdn: `${name}.lab.internal`, ptr: this.ptr };
  }
  async removeHost(name: string) {
    this.calls.push(`remove ${name}`);
    if (this.fail) throw new Error("dns server unreachable");
  }
}

const signer: HostKeySigner = {
  sign: async (name, line) => `${line.split(" ")[0]}-cert-v01@openssh.com CERT-FOR-${name}`,
};

let dir: string;
let store: KyselyStore;
let repo: IdentityStore;
let ca: CertificateAuthority;
let clock: Date;
let dns: FakeDns;
let service: IdentityService;
let logs: string[];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "lab-enrol-"));
  store = await openSqliteStore(join(dir, "state.db"));
  repo = identityRepo(store);
  ca = await loadOrCreateCa(join(dir, "ca"));
  clock = T0;
  dns = new FakeDns();
  logs = [];
  service = new IdentityService({
    repo,
    ca,
    now: () => clock,
    dns,
    hostKeySigner: signer,
    log: (l) => logs.push(l),
  });
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return isLabError(e) ? e.code : `not a LabError: ${(e as Error).stack}`;
  }
}

async function enrolled(name = "web-1") {
  const key = await agentKey();
  const token = await createJoinToken(repo, { name, createdBy: "tester", now: clock });
  const result = await service.enrol(
    { token, csr: await csrFor(name, key) },
    { sourceIp: "::ffff:10.0.0.7" },
  );
  return { key, token, result };
}

async function renewRequest(name: string, key: AgentKey, csrName = name) {
  const { challenge } = await service.challenge(name);
  const csr = await csrFor(csrName, key);
  const signature = sign("sha256", renewalProofPayload(name, challenge, csr), key.pem).toString("base64");
  return { name, csr, challenge, signature };
}

describe("enrolment", () => {
  it("issues a 24-hour client certificate for the token's machine and records the agent", async () => {
    const key = await agentKey();
    const token = await createJoinToken(repo, { name: "web-1", createdBy: "tester", now: clock });
    const result = await service.enrol(
      {
        token,
        csr: await csrFor("web-1", key),
        hostKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK root@web-1"],
        facts: { os: "debian" },
        ipv4: "192.0.2.10",
      },
      { sourceIp: "10.9.9.9" },
    );
    const cert = new x509.X509Certificate(result.certificate);
    expect(cert.subject).toBe("CN=web-1");
    expect(cert.issuer).toBe(ca.cert.subject);
    expect(await cert.verify({ publicKey: ca.cert.publicKey, date: clock })).toBe(true);
    expect(cert.notAfter.getTime()).toBe(Math.floor((T0.getTime() + DAY) / 1000) * 1000);
    const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
    expect(eku?.usages).toEqual([x509.ExtendedKeyUsage.clientAuth]);
    expect(Buffer.from(cert.publicKey.rawData)).toEqual(
      Buffer.from(await webcrypto.subtle.exportKey("spki", key.keys.publicKey)),
    );
    expect(result.caCertificate).toBe(ca.certPem);
    expect(result.renewal.renewAfter).toBe(new Date(T0.getTime() + (DAY * 2) / 3).toISOString());
    expect(result.hostCertificates).toEqual(["ssh-ed25519-cert-v01@openssh.com CERT-FOR-web-1"]);
    expect(dns.calls).toEqual(["upsert web-1 192.0.2.10"]);
    const agent = await repo.getAgent("web-1");
    expect(agent).toMatchObject({
      certSerial: result.serial,
      enrolledAt: T0.toISOString(),
      ipv4: "192.0.2.10",
      dnsIpv4: "192.0.2.10",
      facts: { os: "debian" },
    });
    expect(agent?.spkiSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("registers the request's source address when the agent reports none", async () => {
    await enrolled();
    expect(dns.calls).toEqual(["upsert web-1 10.0.0.7"]);
  });

  it("a DNS failure is recorded and logged but does not fail the enrolment", async () => {
    dns.fail = true;
    const { result } = await enrolled();
    expect(result.dnsError).toBe("dns server unreachable");
    expect(await repo.getAgent("web-1")).toMatchObject({
      dnsState: "failed",
      dnsError: "dns server unreachable",
    });
    expect(logs.join("\n")).toContain("dns server unreachable");
  });

  it("records only the host keys the SSH CA really signed", async () => {
    const picky: HostKeySigner = {
      sign: async (name, line) => {
        if (line.startsWith("ssh-rsa")) throw new Error("the CA refuses RSA");
        return `${line.split(" ")[0]}-cert-v01@openssh.com CERT-FOR-${name}`;
      },
    };
    service = new IdentityService({
      repo,
      ca,
      now: () => clock,
      hostKeySigner: picky,
      log: (l) => logs.push(l),
    });
    const key = await agentKey();
    const token = await createJoinToken(repo, { name: "web-1", createdBy: "tester", now: clock });
    const ed = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK root@web-1";
    const rsa = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ root@web-1";
    const result = await service.enrol({ token, csr: await csrFor("web-1", key), hostKeys: [ed, rsa] });
    expect(result.hostCertificates).toHaveLength(1);
    expect((await repo.getAgent("web-1"))?.hostKeys).toEqual([ed]);
    expect(logs.join("\n")).toContain("the CA refuses RSA");
  });

  it("without a DNS server it records 'not configured', never an address it did not register", async () => {
    service = new IdentityService({ repo, ca, now: () => clock, hostKeySigner: signer });
    const { result } = await enrolled();
    expect(result.dns).toBe("not configured");
    expect(await repo.getAgent("web-1")).toMatchObject({
      dnsState: "not configured",
      dnsIpv4: null,
      dnsPtr: null,
    });
    // A heartbeat from a new address does not pretend to move DNS either.
    await service.checkIn("web-1", { ipv4: "10.0.0.8" });
    expect((await repo.getAgent("web-1"))?.dnsIpv4).toBeNull();
    expect((await service.revoke("web-1", "tester")).dns).toBe("not configured");
  });

  it("records what the DNS server accepted: the A address and the PTR name", async () => {
    dns.ptr = "7.0.0.10.in-addr.arpa";
    const { result } = await enrolled();
    expect(result.dns).toBe("registered");
    expect(await repo.getAgent("web-1")).toMatchObject({
      dnsState: "registered",
      dnsIpv4: "10.0.0.7",
      dnsPtr: "7.0.0.10.in-addr.arpa",
      dnsError: null,
    });
    expect((await service.revoke("web-1", "tester")).dns).toBe("removed");
    expect(await repo.getAgent("web-1")).toMatchObject({ dnsState: "removed", dnsIpv4: null, dnsPtr: null });
  });

  it("a replayed token is refused", async () => {
    const { token } = await enrolled();
    const again = service.enrol({ token, csr: await csrFor("web-1", await agentKey()) });
    expect(await codeOf(again)).toBe("LAB_E_JOIN_TOKEN_USED");
  });

  it("an expired token is refused", async () => {
    const token = await createJoinToken(repo, {
      name: "web-1",
      createdBy: "tester",
      now: clock,
      ttlMinutes: 10,
    });
    clock = new Date(T0.getTime() + 11 * 60_000);
    expect(await codeOf(service.enrol({ token, csr: await csrFor("web-1", await agentKey()) }))).toBe(
      "LAB_E_JOIN_TOKEN_EXPIRED",
    );
  });

  it("a CSR for another machine's name is refused and the token stays usable", async () => {
    const key = await agentKey();
    const token = await createJoinToken(repo, { name: "web-1", createdBy: "tester", now: clock });
    expect(await codeOf(service.enrol({ token, csr: await csrFor("db-1", key) }))).toBe(
      "LAB_E_CSR_NAME_MISMATCH",
    );
    expect(await repo.getAgent("db-1")).toBeUndefined();
    await service.enrol({ token, csr: await csrFor("web-1", key) });
    expect(await repo.getAgent("web-1")).toBeDefined();
  });

  it.each([
    { what: "not PEM at all", csr: async () => "hello" },
    {
      what: "a tampered CSR (signature broken)",
      csr: async () => {
        const pem = await csrFor("web-1", await agentKey());
        const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");
        der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0xff;
        return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`;
      },
    },
    { what: "a P-384 key", csr: async () => csrFor("web-1", await agentKey("P-384")) },
  ])("$what is refused with LAB_E_CSR_INVALID", async ({ csr }) => {
    const token = await createJoinToken(repo, { name: "web-1", createdBy: "tester", now: clock });
    expect(await codeOf(service.enrol({ token, csr: await csr() }))).toBe("LAB_E_CSR_INVALID");
  });

  it("a revoked key can never enrol again, a new key can with a new token", async () => {
    const { key } = await enrolled();
    await service.revoke("web-1", "tester");
    const token = await createJoinToken(repo, { name: "web-1", createdBy: "tester", now: clock });
    expect(await codeOf(service.enrol({ token, csr: await csrFor("web-1", key) }))).toBe(
      "LAB_E_AGENT_REVOKED",
    );
    const fresh = await service.enrol({ token, csr: await csrFor("web-1", await agentKey()) });
    expect((await repo.getAgent("web-1"))?.revokedAt).toBeNull();
    expect((await repo.getAgent("web-1"))?.certSerial).toBe(fresh.serial);
  });

  it("the request schema refuses host keys that are not OpenSSH public key lines", () => {
    const r = enrolRequestSchema.safeParse({
      token: "x",
      csr: "-----BEGIN CERTIFICATE REQUEST-----",
      hostKeys: ["rm -rf /"],
    });
    expect(r.success).toBe(false);
  });
});

describe("renewal", () => {
  it("online renewal with the enrolled key issues a new certificate and clears a renewal request", async () => {
    const { key, result } = await enrolled();
    await service.requestRenewal("web-1");
    clock = new Date(T0.getTime() + 17 * 3_600_000);
    const renewed = await service.renewOnline("web-1", await csrFor("web-1", key));
    expect(renewed.serial).not.toBe(result.serial);
    expect(await repo.getAgent("web-1")).toMatchObject({
      certSerial: renewed.serial,
      renewRequestedAt: null,
    });
  });

  it("online renewal with another key is refused", async () => {
    await enrolled();
    expect(await codeOf(service.renewOnline("web-1", await csrFor("web-1", await agentKey())))).toBe(
      "LAB_E_AGENT_PROOF_INVALID",
    );
  });

  it("a machine whose certificate expired 7 days ago renews with proof of possession", async () => {
    const { key } = await enrolled();
    clock = new Date(T0.getTime() + DAY + 7 * DAY);
    const renewed = await service.renewWithProof(await renewRequest("web-1", key));
    const cert = new x509.X509Certificate(renewed.certificate);
    expect(cert.notAfter.getTime()).toBeGreaterThan(clock.getTime());
    expect((await repo.getAgent("web-1"))?.certSerial).toBe(renewed.serial);
  });

  it("past the offline window the answer says re-enrol", async () => {
    const { key } = await enrolled();
    clock = new Date(T0.getTime() + DAY + 91 * DAY);
    expect(await codeOf(service.renewWithProof(await renewRequest("web-1", key)))).toBe(
      "LAB_E_AGENT_REENROL",
    );
  });

  it("a revoked agent is refused even with its key", async () => {
    const { key } = await enrolled();
    await service.revoke("web-1", "tester");
    expect(await codeOf(service.renewWithProof(await renewRequest("web-1", key)))).toBe(
      "LAB_E_AGENT_REVOKED",
    );
    expect(await codeOf(service.renewOnline("web-1", await csrFor("web-1", key)))).toBe(
      "LAB_E_AGENT_REVOKED",
    );
  });

  it.each([
    {
      what: "another key",
      tamper: async (r: Awaited<ReturnType<typeof renewRequest>>) => {
        const other = await agentKey();
        const csr = await csrFor("web-1", other);
        const signature = sign("sha256", renewalProofPayload("web-1", r.challenge, csr), other.pem);
        return { ...r, csr, signature: signature.toString("base64") };
      },
    },
    {
      what: "a signature over something else",
      tamper: async (r: Awaited<ReturnType<typeof renewRequest>>) => ({
        ...r,
        signature: Buffer.from(r.signature, "base64").reverse().toString("base64"),
      }),
    },
    {
      what: "a forged challenge",
      tamper: async (r: Awaited<ReturnType<typeof renewRequest>>) => ({
        ...r,
        challenge: `${r.challenge.split(".")[0]}.AAAA`,
      }),
    },
  ])("proof with $what is refused", async ({ tamper }) => {
    const { key } = await enrolled();
    clock = new Date(T0.getTime() + 2 * DAY);
    const request = await tamper(await renewRequest("web-1", key));
    expect(await codeOf(service.renewWithProof(request))).toBe("LAB_E_AGENT_PROOF_INVALID");
  });

  it("a challenge for another name or an old challenge is refused", async () => {
    const { key } = await enrolled();
    await enrolled("db-1");
    const forDb = await service.challenge("db-1");
    const request = await renewRequest("web-1", key);
    expect(await codeOf(service.renewWithProof({ ...request, challenge: forDb.challenge }))).toBe(
      "LAB_E_AGENT_PROOF_INVALID",
    );
    clock = new Date(clock.getTime() + 6 * 60_000);
    expect(await codeOf(service.renewWithProof(request))).toBe("LAB_E_AGENT_PROOF_INVALID");
  });

  it("an unknown name is told to re-enrol", async () => {
    const key = await agentKey();
    expect(await codeOf(service.renewWithProof(await renewRequest("ghost", key)))).toBe(
      "LAB_E_AGENT_REENROL",
    );
  });
});

describe("check-ins and revocation", () => {
  it("an IPv4 change updates DNS once; the same address again does not", async () => {
    await enrolled();
    dns.calls = [];
    expect(await service.checkIn("web-1", { ipv4: "10.0.0.8" })).toEqual({ changedFrom: "10.0.0.7" });
    expect(await service.checkIn("web-1", { ipv4: "10.0.0.8" })).toEqual({});
    expect(dns.calls).toEqual(["upsert web-1 10.0.0.8"]);
  });

  it("revocation removes DNS and refuses renewal requests", async () => {
    await enrolled();
    dns.calls = [];
    const r = await service.revoke("web-1", "tester");
    expect(r.serials).toHaveLength(1);
    expect(dns.calls).toEqual(["remove web-1"]);
    expect((await repo.getAgent("web-1"))?.dnsIpv4).toBeNull();
    expect(await codeOf(service.requestRenewal("web-1"))).toBe("LAB_E_AGENT_REVOKED");
    expect(await codeOf(service.revoke("nobody", "tester"))).toBe("LAB_E_NOT_FOUND");
  });

  it("a revoke whose DNS removal failed is retried by the clean-up", async () => {
    await enrolled();
    dns.fail = true;
    const r = await service.revoke("web-1", "tester");
    expect(r.dns).toBe("failed");
    dns.fail = false;
    expect(await service.cleanUpRevokedDns()).toEqual(["web-1"]);
    expect(await service.cleanUpRevokedDns()).toEqual([]);
  });
});
