/**
 * Agent enrolment and certificate renewal, and the wire contract the agent and the server
 * share (request bodies and channel messages, checked with zod on both sides).
 *
 * - Enrolment: a one-time join token plus a CSR whose CN is the token's machine name. The
 *   agent made its P-256 key locally; only the public half ever travels.
 * - Renewal online: over the mTLS channel, before expiry.
 * - Renewal after expiry (a machine that was powered off): proof of possession of the SAME
 *   enrolled key — a fresh CSR with that key plus a signature over a server-issued challenge —
 *   accepted within a maximum offline window and never for a revoked agent.
 */
import "reflect-metadata";
import {
  createHash,
  createHmac,
  createPublicKey,
  randomBytes,
  timingSafeEqual,
  verify,
  webcrypto,
} from "node:crypto";
import { isIPv4 } from "node:net";
import { type DnsState, LabError, notFound } from "@lab/core";
import * as x509 from "@peculiar/x509";
import { z } from "zod";
import { type CertificateAuthority, issueClientCert } from "./ca.js";
import type { DnsRegistrar } from "./dns-update.js";
import {
  assertMachineName,
  checkJoinToken,
  hashJoinToken,
  type JoinTokenRecord,
  type JoinTokenRefusal,
  type JoinTokenStore,
  joinTokenError,
} from "./join-tokens.js";
import { revokeAgent } from "./revocation.js";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export const DEFAULT_CERT_LIFETIME_MS = DAY;
export const DEFAULT_MAX_OFFLINE_MS = 90 * DAY;
export const DEFAULT_CHALLENGE_TTL_MS = 5 * 60_000;
/** Certificates are renewed online once this much of their life has passed. */
export const RENEW_AT_FRACTION = 2 / 3;
/** Backdating absorbs small clock differences between the server and the agent. */
const BACKDATE_MS = 5 * 60_000;

export const AGENT_PROTOCOL_VERSION = 1;
/** The channel's WebSocket path (on its own TLS port, 7444 by default). */
export const AGENT_CHANNEL_PATH = "/agent/v1";
export const DEFAULT_AGENT_CHANNEL_PORT = 7444;

// ── wire contract ──

const pemCsr = z
  .string()
  .max(16_384)
  .regex(/-----BEGIN CERTIFICATE REQUEST-----/, "not a PEM certificate request");
const machineName = z.string().min(1).max(253);
/** An OpenSSH public key line, as in /etc/ssh/ssh_host_*_key.pub. */
export const HOST_KEY_LINE =
  /^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$/;
const facts = z
  .record(z.string().max(128), z.unknown())
  .refine((f) => JSON.stringify(f).length <= 65_536, "facts larger than 64 KiB");

export const enrolRequestSchema = z.object({
  token: z.string().max(200),
  csr: pemCsr,
  hostKeys: z
    .array(z.string().max(8192).regex(HOST_KEY_LINE, "not an OpenSSH public key line"))
    .max(16)
    .optional(),
  facts: facts.optional(),
  /** The address the agent wants in DNS; the request's source address otherwise. */
  ipv4: z.string().max(15).refine(isIPv4, "not an IPv4 address").optional(),
  version: z.string().max(64).optional(),
});
export type EnrolRequest = z.infer<typeof enrolRequestSchema>;

export const renewalInfoSchema = z.object({
  /** When the agent should renew online (2/3 of the certificate's life). */
  renewAfter: z.string(),
  notAfter: z.string(),
  /** After expiry, renewal with the same key is accepted for this long (then: re-enrol). */
  maxOfflineDays: z.number(),
  challengePath: z.string(),
  renewPath: z.string(),
});
export type RenewalInfo = z.infer<typeof renewalInfoSchema>;

export const certificateResponseSchema = z.object({
  name: z.string(),
  certificate: z.string(),
  caCertificate: z.string(),
  serial: z.string(),
  renewal: renewalInfoSchema,
});
export type CertificateResponse = z.infer<typeof certificateResponseSchema>;

export const enrolResponseSchema = certificateResponseSchema.extend({
  channelUrl: z.string(),
  hostCertificates: z.array(z.string()),
});
export type EnrolResponse = z.infer<typeof enrolResponseSchema>;

export const challengeRequestSchema = z.object({ name: machineName });
export const challengeResponseSchema = z.object({ challenge: z.string(), expiresAt: z.string() });
export type ChallengeResponse = z.infer<typeof challengeResponseSchema>;

export const renewRequestSchema = z.object({
  name: machineName,
  csr: pemCsr,
  challenge: z.string().max(1024),
  /** base64 DER ECDSA signature over `renewalProofPayload(name, challenge, csr)`. */
  signature: z.string().max(256),
});
export type RenewRequest = z.infer<typeof renewRequestSchema>;

const id = z.string().min(1).max(64);
const base64 = z
  .string()
  .max(1_500_000)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, "not base64");

/** Messages the agent sends on the channel. */
export const agentMessageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("hello"), name: machineName, version: z.string().max(64) }),
  z.object({
    type: z.literal("heartbeat"),
    uptime: z.number().nonnegative(),
    load: z.array(z.number()).max(3),
    memory: z.object({ total: z.number().nonnegative(), free: z.number().nonnegative() }),
    disk: z.array(z.object({ mount: z.string().max(512), total: z.number(), free: z.number() })).max(64),
    addresses: z
      .array(z.object({ iface: z.string().max(64), address: z.string().max(64), family: z.string().max(8) }))
      .max(256),
    /** The IPv4 address the agent reaches the server from (what DNS should say). */
    ipv4: z.string().max(15).nullable(),
    /** Reports the agent dropped from its queue while offline. */
    dropped: z.number().int().nonnegative().optional(),
  }),
  z.object({ type: z.literal("facts"), facts }),
  z.object({ type: z.literal("exec.output"), id, stream: z.enum(["stdout", "stderr"]), data: base64 }),
  z.object({
    type: z.literal("exec.exit"),
    id,
    code: z.number().int().nullable(),
    signal: z.string().max(32).nullable(),
    timedOut: z.boolean(),
    error: z.string().max(4096).optional(),
  }),
  z.object({ type: z.literal("renew"), id, csr: pemCsr }),
]);
export type AgentMessage = z.infer<typeof agentMessageSchema>;
export type Heartbeat = Extract<AgentMessage, { type: "heartbeat" }>;

/** Messages the server sends on the channel. */
export const serverMessageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("welcome"), name: machineName, serverTime: z.string(), protocol: z.number() }),
  z.object({
    type: z.literal("exec"),
    id,
    command: z.string().min(1).max(65_536),
    timeoutMs: z.number().int().positive(),
  }),
  z.object({ type: z.literal("exec.cancel"), id }),
  z.object({ type: z.literal("renew-now") }),
  z.object({
    type: z.literal("certificate"),
    id,
    certificate: z.string(),
    caCertificate: z.string(),
    serial: z.string(),
    renewal: renewalInfoSchema,
  }),
  z.object({
    type: z.literal("error"),
    id: id.optional(),
    code: z.string().max(64),
    message: z.string().max(4096),
  }),
]);
export type ServerMessage = z.infer<typeof serverMessageSchema>;

/** The bytes an agent signs to prove it holds its enrolled key (renewal after expiry). */
export function renewalProofPayload(name: string, challenge: string, csrPem: string): Buffer {
  const csrDigest = createHash("sha256").update(pemToDer(csrPem)).digest("hex");
  return Buffer.from(`lab-agent-renew-v1\n${name}\n${challenge}\n${csrDigest}`, "utf8");
}

// ── storage contract ──

export interface AgentRecord {
  name: string;
  /** sha256 (hex) of the enrolled public key's SubjectPublicKeyInfo. */
  spkiSha256: string;
  certSerial: string;
  certNotBefore: string;
  certNotAfter: string;
  enrolledAt: string;
  renewedAt: string | null;
  renewRequestedAt: string | null;
  revokedAt: string | null;
  revokedBy: string | null;
  lastSeenAt: string | null;
  version: string | null;
  /** The IPv4 address last reported (or seen at enrolment). */
  ipv4: string | null;
  addresses: string[];
  /** What DNS was last set to for this name (null: nothing registered). */
  dnsIpv4: string | null;
  /** The PTR name the DNS server accepted (null: none, or outside the reverse zone). */
  dnsPtr: string | null;
  /** What the last DNS step did: no server configured, accepted, refused (see dnsError), removed. */
  dnsState: DnsState | null;
  dnsError: string | null;
  dnsUpdatedAt: string | null;
  hostKeys: string[];
  facts: Record<string, unknown>;
  /** The latest heartbeat figures (uptime, load, memory, disk). */
  status: Record<string, unknown> | null;
}

export interface AgentCertRecord {
  serial: string;
  name: string;
  spkiSha256: string;
  notBefore: string;
  notAfter: string;
  issuedAt: string;
  revokedAt: string | null;
  reason: string | null;
}

export interface RevokedCert {
  serial: string;
  revokedAt: string;
  reason: string | null;
}

export type EnrolOutcome = { ok: true } | { ok: false; refusal: JoinTokenRefusal; token?: JoinTokenRecord };

/** Agents and their certificates (the store package implements it). */
export interface AgentStore {
  getAgent(name: string): Promise<AgentRecord | undefined>;
  listAgents(): Promise<AgentRecord[]>;
  getCert(serial: string): Promise<AgentCertRecord | undefined>;
  /**
   * In ONE transaction: spends the join token (only if unspent and unexpired at `now`),
   * revokes earlier certificates of that name as superseded, writes the agent and its cert.
   */
  completeEnrolment(input: {
    tokenHash: string;
    now: string;
    agent: AgentRecord;
    cert: AgentCertRecord;
  }): Promise<EnrolOutcome>;
  /** Records a renewed certificate unless the agent was revoked or its key changed meanwhile. */
  recordRenewal(input: {
    name: string;
    spkiSha256: string;
    cert: AgentCertRecord;
    now: string;
  }): Promise<boolean>;
  /** Marks the agent and all its certificates revoked. */
  revokeAgent(
    name: string,
    input: { now: string; by: string; reason: string },
  ): Promise<{ found: boolean; alreadyRevoked: boolean; serials: string[] }>;
  requestRenewal(name: string, now: string): Promise<boolean>;
  /** Whether any certificate with this key was ever revoked (a revoked key never returns). */
  isKeyRevoked(spkiSha256: string): Promise<boolean>;
  /** Revoked certificates still within their validity at `now` (the CRL's entries). */
  revokedCerts(now: string): Promise<RevokedCert[]>;
  checkIn(
    name: string,
    input: {
      now: string;
      version?: string;
      ipv4?: string | null;
      addresses?: string[];
      status?: Record<string, unknown>;
    },
  ): Promise<void>;
  recordFacts(name: string, facts: Record<string, unknown>): Promise<void>;
  setDns(name: string, input: DnsUpdate): Promise<void>;
  /** Deletes unrevoked certificates that expired before `before` (not an agent's current one). */
  pruneCerts(before: string): Promise<number>;
}

export type IdentityStore = JoinTokenStore & AgentStore;

export interface DnsUpdate {
  state: DnsState;
  ipv4: string | null;
  ptr: string | null;
  error: string | null;
  at: string;
}

// ── collaborators the lead wires (SSH CA, DNS) ──

/** Signs SSH host keys with Lab's SSH CA. */
export interface HostKeySigner {
  /** An OpenSSH host certificate line for `hostKeyLine` (principals: the machine's names). */
  sign(name: string, hostKeyLine: string): Promise<string>;
}

// DnsRegistrar (upsertHost/removeHost) is defined next to its RFC 2136 implementation in
// dns-update.ts; enrolment calls it at enrolment, on an address change and on revoke.

// ── CSR checks ──

export interface CheckedCsr {
  publicKey: CryptoKey;
  spkiSha256: string;
  spkiDer: Buffer;
  commonName: string;
}

/** Parses a PEM CSR, checks its signature and key type; the CN is returned, not yet judged. */
export async function checkCsr(csrPem: string): Promise<CheckedCsr> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch {
    throw new LabError("LAB_E_CSR_INVALID", "the CSR is not a PEM PKCS#10 certificate request");
  }
  const algorithm = csr.publicKey.algorithm as EcKeyAlgorithm;
  if (algorithm.name !== "ECDSA" || algorithm.namedCurve !== "P-256") {
    throw new LabError(
      "LAB_E_CSR_INVALID",
      `the CSR's key is ${algorithm.name}${algorithm.namedCurve ? ` ${algorithm.namedCurve}` : ""}, not ECDSA P-256`,
    );
  }
  let valid = false;
  try {
    valid = await csr.verify();
  } catch {
    valid = false;
  }
  if (!valid) throw new LabError("LAB_E_CSR_INVALID", "the CSR's signature does not verify with its own key");
  const cns = csr.subjectName.getField("CN");
  if (cns.length !== 1 || !cns[0]) {
    throw new LabError("LAB_E_CSR_INVALID", "the CSR must carry exactly one common name (CN)");
  }
  const spkiDer = Buffer.from(csr.publicKey.rawData);
  return {
    publicKey: await csr.publicKey.export(ALG, ["verify"]),
    spkiSha256: createHash("sha256").update(spkiDer).digest("hex"),
    spkiDer,
    commonName: cns[0],
  };
}

/** sha256 (hex) of a certificate's SubjectPublicKeyInfo. */
export function certSpkiSha256(certPem: string): string {
  const cert = new x509.X509Certificate(certPem);
  return createHash("sha256").update(Buffer.from(cert.publicKey.rawData)).digest("hex");
}

function pemToDer(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
}

// ── the service ──

export interface IdentityServiceOptions {
  repo: IdentityStore;
  ca: CertificateAuthority;
  /** Client certificate lifetime (default 24 h). */
  certLifetimeMs?: number;
  /** How long after expiry a same-key renewal is still accepted (default 90 days). */
  maxOfflineMs?: number;
  challengeTtlMs?: number;
  hostKeySigner?: HostKeySigner;
  dns?: DnsRegistrar;
  now?: () => Date;
  log?: (line: string) => void;
}

export interface IssuedAgentCert {
  name: string;
  certificate: string;
  caCertificate: string;
  serial: string;
  renewal: RenewalInfo;
}

export interface EnrolResult extends IssuedAgentCert {
  hostCertificates: string[];
  ipv4: string | null;
  /** What the DNS step did (null: no IPv4 address to register). */
  dns: DnsState | null;
  dnsError: string | null;
}

/** Enrolment, renewal, revocation and check-ins: the server side of agent identity. */
export class IdentityService {
  readonly repo: IdentityStore;
  readonly ca: CertificateAuthority;
  readonly certLifetimeMs: number;
  readonly maxOfflineMs: number;
  private readonly challengeTtlMs: number;
  private readonly now: () => Date;
  private readonly log: (line: string) => void;
  private challengeKey: Promise<Buffer> | undefined;

  constructor(private readonly opts: IdentityServiceOptions) {
    this.repo = opts.repo;
    this.ca = opts.ca;
    this.certLifetimeMs = opts.certLifetimeMs ?? DEFAULT_CERT_LIFETIME_MS;
    this.maxOfflineMs = opts.maxOfflineMs ?? DEFAULT_MAX_OFFLINE_MS;
    this.challengeTtlMs = opts.challengeTtlMs ?? DEFAULT_CHALLENGE_TTL_MS;
    this.now = opts.now ?? (() => new Date());
    this.log = opts.log ?? (() => undefined);
  }

  /** Spends a join token on a CSR for the token's machine; returns the agent's certificate. */
  async enrol(req: EnrolRequest, ctx: { sourceIp?: string } = {}): Promise<EnrolResult> {
    const now = this.now();
    const token = await checkJoinToken(this.repo, req.token, now);
    const csr = await checkCsr(req.csr);
    if (csr.commonName !== token.name) {
      throw new LabError(
        "LAB_E_CSR_NAME_MISMATCH",
        `the join token is for "${token.name}" but the CSR asks for "${csr.commonName.slice(0, 253)}"`,
      );
    }
    if (await this.repo.isKeyRevoked(csr.spkiSha256)) {
      throw new LabError(
        "LAB_E_AGENT_REVOKED",
        `this key was revoked before: "${token.name}" must enrol with a new key`,
      );
    }
    // Host keys are signed first, so the record lists only keys the CA really signed.
    const hostCertificates: string[] = [];
    const signedKeys: string[] = [];
    for (const line of req.hostKeys ?? []) {
      if (!this.opts.hostKeySigner) break;
      try {
        hostCertificates.push(await this.opts.hostKeySigner.sign(token.name, line));
        signedKeys.push(line);
      } catch (e) {
        // The machine's identity does not depend on the SSH CA being up: it can be signed later.
        this.log(`enrol ${token.name}: signing a host key failed: ${(e as Error).message}`);
      }
    }
    const issued = await this.issue(token.name, csr.publicKey, now);
    const ipv4 = req.ipv4 ?? ipv4Of(ctx.sourceIp);
    const at = now.toISOString();
    const outcome = await this.repo.completeEnrolment({
      tokenHash: hashJoinToken(req.token),
      now: at,
      agent: {
        name: token.name,
        spkiSha256: csr.spkiSha256,
        certSerial: issued.serial,
        certNotBefore: issued.notBefore.toISOString(),
        certNotAfter: issued.notAfter.toISOString(),
        enrolledAt: at,
        renewedAt: null,
        renewRequestedAt: null,
        revokedAt: null,
        revokedBy: null,
        lastSeenAt: at,
        version: req.version ?? null,
        ipv4,
        addresses: ipv4 ? [ipv4] : [],
        dnsIpv4: null,
        dnsPtr: null,
        dnsState: null,
        dnsError: null,
        dnsUpdatedAt: null,
        hostKeys: signedKeys,
        facts: req.facts ?? {},
        status: null,
      },
      cert: this.certRecord(token.name, csr.spkiSha256, issued, at),
    });
    if (!outcome.ok) throw joinTokenError(outcome.refusal, outcome.token);

    const dns = ipv4 ? await this.registerDns(token.name, ipv4) : { state: null, error: null };
    return {
      ...this.response(token.name, issued, now),
      hostCertificates,
      ipv4,
      dns: dns.state,
      dnsError: dns.error,
    };
  }

  /** A challenge for a same-key renewal: stateless (HMAC), so any replica can check it. */
  async challenge(name: string): Promise<ChallengeResponse> {
    assertMachineName(name);
    const issuedAt = this.now().getTime();
    const body = Buffer.from(
      JSON.stringify({ v: 1, n: name, t: issuedAt, r: randomBytes(16).toString("base64url") }),
    ).toString("base64url");
    const mac = createHmac("sha256", await this.key())
      .update(body)
      .digest("base64url");
    return { challenge: `${body}.${mac}`, expiresAt: new Date(issuedAt + this.challengeTtlMs).toISOString() };
  }

  /**
   * Renewal with proof of possession of the enrolled key: works after the certificate
   * expired (a machine powered off for a week), within the offline window, never once revoked.
   */
  async renewWithProof(req: RenewRequest): Promise<IssuedAgentCert> {
    const now = this.now();
    await this.checkChallenge(req.name, req.challenge, now);
    const agent = await this.repo.getAgent(req.name);
    if (!agent) {
      throw new LabError("LAB_E_AGENT_REENROL", `no agent "${req.name}" is enrolled on this server`);
    }
    if (agent.revokedAt) {
      throw new LabError("LAB_E_AGENT_REVOKED", `agent "${req.name}" was revoked at ${agent.revokedAt}`);
    }
    const csr = await checkCsr(req.csr);
    if (csr.commonName !== req.name || csr.spkiSha256 !== agent.spkiSha256) {
      throw new LabError("LAB_E_AGENT_PROOF_INVALID", `the CSR is not for the key enrolled as "${req.name}"`);
    }
    const publicKey = createPublicKey({ key: csr.spkiDer, format: "der", type: "spki" });
    let signed = false;
    try {
      signed = verify(
        "sha256",
        renewalProofPayload(req.name, req.challenge, req.csr),
        publicKey,
        Buffer.from(req.signature, "base64"),
      );
    } catch {
      signed = false;
    }
    if (!signed) {
      throw new LabError(
        "LAB_E_AGENT_PROOF_INVALID",
        `the proof signature does not verify with "${req.name}"'s key`,
      );
    }
    const offlineMs = now.getTime() - Date.parse(agent.certNotAfter);
    if (offlineMs > this.maxOfflineMs) {
      throw new LabError(
        "LAB_E_AGENT_REENROL",
        `the certificate of "${req.name}" expired ${Math.floor(offlineMs / DAY)} days ago, more than the ` +
          `${Math.floor(this.maxOfflineMs / DAY)}-day renewal window: re-enrol with a new join token`,
      );
    }
    return this.renewFor(agent, csr, now);
  }

  /** Renewal over the live channel (the caller authenticated the agent by its certificate). */
  async renewOnline(name: string, csrPem: string): Promise<IssuedAgentCert> {
    const now = this.now();
    const agent = await this.repo.getAgent(name);
    if (!agent) throw new LabError("LAB_E_AGENT_REENROL", `no agent "${name}" is enrolled on this server`);
    if (agent.revokedAt)
      throw new LabError("LAB_E_AGENT_REVOKED", `agent "${name}" was revoked at ${agent.revokedAt}`);
    const csr = await checkCsr(csrPem);
    if (csr.commonName !== name || csr.spkiSha256 !== agent.spkiSha256) {
      throw new LabError("LAB_E_AGENT_PROOF_INVALID", `the CSR is not for the key enrolled as "${name}"`);
    }
    return this.renewFor(agent, csr, now);
  }

  /**
   * Revokes the agent for good: it and its certificates are marked revoked (renewal refused
   * forever) and its name leaves DNS. The caller refreshes the CRL and cuts the channel.
   */
  async revoke(
    name: string,
    by: string,
  ): Promise<{ serials: string[]; alreadyRevoked: boolean; dns: DnsState }> {
    const result = await revokeAgent(this.repo, name, { by, now: this.now() });
    const dns = await this.removeDns(name);
    return { ...result, dns };
  }

  /** Asks for a new certificate at the agent's next contact. */
  async requestRenewal(name: string): Promise<void> {
    const agent = await this.mustGet(name);
    if (agent.revokedAt)
      throw new LabError("LAB_E_AGENT_REVOKED", `agent "${name}" was revoked at ${agent.revokedAt}`);
    await this.repo.requestRenewal(name, this.now().toISOString());
  }

  /** The agent's record, or LAB_E_NOT_FOUND. */
  async mustGet(name: string): Promise<AgentRecord> {
    const agent = await this.repo.getAgent(name);
    if (!agent) {
      const known = (await this.repo.listAgents()).map((a) => a.name);
      throw notFound("agent", name, known);
    }
    return agent;
  }

  /**
   * A heartbeat or hello: records the check-in; when the IPv4 address changed, DNS follows.
   * Returns the previous address when it changed.
   */
  async checkIn(
    name: string,
    input: { version?: string; ipv4?: string | null; addresses?: string[]; status?: Record<string, unknown> },
    known?: AgentRecord,
  ): Promise<{ changedFrom?: string | null }> {
    const agent = known ?? (await this.repo.getAgent(name));
    const at = this.now().toISOString();
    await this.repo.checkIn(name, { ...input, now: at });
    const ipv4 = input.ipv4 && isIPv4(input.ipv4) ? input.ipv4 : undefined;
    if (!agent || agent.revokedAt || !ipv4 || ipv4 === agent.dnsIpv4) return {};
    // Without a DNS server there is nothing to follow: enrolment recorded "not configured".
    if (this.opts.dns) await this.registerDns(name, ipv4);
    return { changedFrom: agent.ipv4 };
  }

  /** Removes DNS for revoked agents that still have a record (revokes done elsewhere too). */
  async cleanUpRevokedDns(agents?: AgentRecord[]): Promise<string[]> {
    const cleaned: string[] = [];
    for (const a of agents ?? (await this.repo.listAgents())) {
      if (!a.revokedAt || !a.dnsIpv4) continue;
      if ((await this.removeDns(a.name)) === "removed") cleaned.push(a.name);
    }
    return cleaned;
  }

  /** Removes the name from DNS (logged, recorded; never throws); says what happened. */
  async removeDns(name: string): Promise<DnsState> {
    const at = this.now().toISOString();
    if (!this.opts.dns) {
      await this.repo.setDns(name, { state: "not configured", ipv4: null, ptr: null, error: null, at });
      return "not configured";
    }
    try {
      await this.opts.dns.removeHost(name);
      await this.repo.setDns(name, { state: "removed", ipv4: null, ptr: null, error: null, at });
      return "removed";
    } catch (e) {
      await this.dnsFailed(name, `removing ${name}`, e, at);
      return "failed";
    }
  }

  /**
   * Sets the A (and PTR) record and records what the DNS server accepted; failures are logged
   * and recorded with the server's answer, never thrown. Returns the error.
   */
  private async registerDns(name: string, ipv4: string): Promise<{ state: DnsState; error: string | null }> {
    const at = this.now().toISOString();
    if (!this.opts.dns) {
      await this.repo.setDns(name, { state: "not configured", ipv4: null, ptr: null, error: null, at });
      return { state: "not configured", error: null };
    }
    try {
      const accepted = await this.opts.dns.upsertHost(name, ipv4);
      await this.repo.setDns(name, { state: "registered", ipv4, ptr: accepted.ptr, error: null, at });
      return { state: "registered", error: null };
    } catch (e) {
      return { state: "failed", error: await this.dnsFailed(name, `registering ${name} → ${ipv4}`, e, at) };
    }
  }

  /** Records a refused or failed DNS step; what DNS held before stays recorded. */
  private async dnsFailed(name: string, what: string, e: unknown, at: string): Promise<string> {
    const error = (e as Error).message || String(e);
    this.log(`dns: ${what} failed: ${error}`);
    const agent = await this.repo.getAgent(name);
    await this.repo.setDns(name, {
      state: "failed",
      ipv4: agent?.dnsIpv4 ?? null,
      ptr: agent?.dnsPtr ?? null,
      error,
      at,
    });
    return error;
  }

  private async renewFor(agent: AgentRecord, csr: CheckedCsr, now: Date): Promise<IssuedAgentCert> {
    const issued = await this.issue(agent.name, csr.publicKey, now);
    const at = now.toISOString();
    const recorded = await this.repo.recordRenewal({
      name: agent.name,
      spkiSha256: csr.spkiSha256,
      cert: this.certRecord(agent.name, csr.spkiSha256, issued, at),
      now: at,
    });
    if (!recorded) {
      // Revoked (or re-enrolled with another key) while this renewal was being made.
      throw new LabError("LAB_E_AGENT_REVOKED", `agent "${agent.name}" was revoked or re-enrolled meanwhile`);
    }
    // Keep the certificate table bounded: expired, unrevoked, superseded rows go.
    await this.repo.pruneCerts(new Date(now.getTime() - this.maxOfflineMs).toISOString());
    return this.response(agent.name, issued, now);
  }

  private issue(name: string, publicKey: CryptoKey, now: Date) {
    return issueClientCert(this.ca, {
      name,
      publicKey,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(now.getTime() + this.certLifetimeMs),
    });
  }

  private certRecord(
    name: string,
    spkiSha256: string,
    issued: { serial: string; notBefore: Date; notAfter: Date },
    at: string,
  ): AgentCertRecord {
    return {
      serial: issued.serial,
      name,
      spkiSha256,
      notBefore: issued.notBefore.toISOString(),
      notAfter: issued.notAfter.toISOString(),
      issuedAt: at,
      revokedAt: null,
      reason: null,
    };
  }

  private response(
    name: string,
    issued: { certPem: string; serial: string; notAfter: Date },
    issuedAt: Date,
  ): IssuedAgentCert {
    return {
      name,
      certificate: issued.certPem,
      caCertificate: this.ca.certPem,
      serial: issued.serial,
      renewal: renewalInfo(issuedAt, issued.notAfter, this.maxOfflineMs),
    };
  }

  private async checkChallenge(name: string, challenge: string, now: Date): Promise<void> {
    const [body, mac] = challenge.split(".");
    const expected = createHmac("sha256", await this.key())
      .update(body ?? "")
      .digest();
    const given = Buffer.from(mac ?? "", "base64url");
    if (!body || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new LabError("LAB_E_AGENT_PROOF_INVALID", "the renewal challenge was not issued by this server");
    }
    let claims: { n?: string; t?: number };
    try {
      claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
    } catch {
      throw new LabError("LAB_E_AGENT_PROOF_INVALID", "the renewal challenge is malformed");
    }
    if (claims.n !== name) {
      throw new LabError("LAB_E_AGENT_PROOF_INVALID", `the renewal challenge was issued for another name`);
    }
    const age = now.getTime() - Number(claims.t);
    if (!(age >= -60_000 && age <= this.challengeTtlMs)) {
      throw new LabError("LAB_E_AGENT_PROOF_INVALID", "the renewal challenge expired: ask for a new one");
    }
  }

  /** The challenge MAC key, derived from the CA key: every replica sharing the CA agrees. */
  private key(): Promise<Buffer> {
    this.challengeKey ??= (async () => {
      const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", this.ca.keys.privateKey));
      return createHash("sha256").update("lab agent renewal challenge v1\n").update(pkcs8).digest();
    })();
    return this.challengeKey;
  }
}

/**
 * When to renew, when it expires, and how to renew after expiry. Counted from the issue time,
 * not the backdated notBefore, so that even a short lifetime leaves time before renewing.
 */
export function renewalInfo(issuedAt: Date, notAfter: Date, maxOfflineMs: number): RenewalInfo {
  const life = notAfter.getTime() - issuedAt.getTime();
  return {
    renewAfter: new Date(issuedAt.getTime() + Math.floor(life * RENEW_AT_FRACTION)).toISOString(),
    notAfter: notAfter.toISOString(),
    maxOfflineDays: Math.floor(maxOfflineMs / DAY),
    challengePath: "/api/v1/agent/challenge",
    renewPath: "/api/v1/agent/renew",
  };
}

/** The IPv4 address in a socket address (IPv4-mapped IPv6 unwrapped), or null. */
export function ipv4Of(address: string | undefined): string | null {
  if (!address) return null;
  const plain = address.startsWith("::ffff:") ? address.slice(7) : address;
  return isIPv4(plain) ? plain : null;
}
