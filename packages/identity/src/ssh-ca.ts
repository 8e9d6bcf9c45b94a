/**
 * Lab's SSH certificate authority. It signs the host keys of machines Lab installs, so clients
 * that trust the CA (one `@cert-authority` line in known_hosts) connect without a first-use
 * prompt and without a known_hosts entry per host. The CA key is Ed25519, kept in the state
 * dir in OpenSSH's own private key format (so `ssh-keygen -s` can use it in an emergency),
 * and never leaves it. Certificates are built from PROTOCOL.certkeys, not by running ssh-keygen.
 */

import type { KeyObject } from "node:crypto";
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  verify,
} from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type LabCode, LabError } from "@lab/core";

/** Private key of the CA (OpenSSH format, 0600). */
export const SSH_CA_KEY_FILE = "ssh_ca";
/** Public key of the CA, one OpenSSH line. */
export const SSH_CA_PUB_FILE = "ssh_ca.pub";
const CA_COMMENT = "lab-ssh-ca";

const CERT_TYPE_USER = 1;
const CERT_TYPE_HOST = 2;
/** OpenSSH refuses certificates with more principals than this (SSHKEY_CERT_MAX_PRINCIPALS). */
const MAX_PRINCIPALS = 256;
const MIN_RSA_BITS = 2048;
/** A public key line longer than this is not a key (16384-bit RSA is about 2.8 KB). */
const MAX_LINE = 16_384;

/** Host key types the CA signs, with the certificate type each becomes. */
const CERT_TYPES = {
  "ssh-ed25519": "ssh-ed25519-cert-v01@openssh.com",
  "ecdsa-sha2-nistp256": "ecdsa-sha2-nistp256-cert-v01@openssh.com",
  "ecdsa-sha2-nistp384": "ecdsa-sha2-nistp384-cert-v01@openssh.com",
  "ecdsa-sha2-nistp521": "ecdsa-sha2-nistp521-cert-v01@openssh.com",
  "ssh-rsa": "ssh-rsa-cert-v01@openssh.com",
} as const;

export type SshKeyType = keyof typeof CERT_TYPES;

/** ECDSA curve per key type: the identifier inside the blob, JWK name and point size. */
const CURVES: Record<string, { id: string; jwk: string; bytes: number }> = {
  "ecdsa-sha2-nistp256": { id: "nistp256", jwk: "P-256", bytes: 32 },
  "ecdsa-sha2-nistp384": { id: "nistp384", jwk: "P-384", bytes: 48 },
  "ecdsa-sha2-nistp521": { id: "nistp521", jwk: "P-521", bytes: 66 },
};

export interface SshPublicKey {
  type: string;
  /** The key in SSH wire format (what the base64 field decodes to). */
  blob: Buffer;
  comment?: string;
}

export interface HostCertOptions {
  /** Free text shown in sshd/ssh logs, e.g. the machine's name. */
  keyId: string;
  /** Names clients may connect to; at least one (an empty list would be valid for any host). */
  principals: string[];
  validAfter: Date;
  validBefore: Date;
  /** Defaults to a random non-zero 63-bit number, so a KRL can revoke a single certificate. */
  serial?: bigint;
}

export interface SshCertificate {
  certType: string;
  /** The certified key as a plain public key. */
  key: SshPublicKey;
  serial: bigint;
  kind: "user" | "host";
  keyId: string;
  principals: string[];
  validAfter: Date;
  validBefore: Date;
  /** The signing CA's public key blob. */
  signatureKey: Buffer;
}

export interface SshCa {
  /** `ssh-ed25519 AAAA… lab-ssh-ca` */
  readonly publicKeyLine: string;
  readonly publicKeyBlob: Buffer;
  /** `SHA256:…`, as `ssh-keygen -l` prints it. */
  readonly fingerprint: string;
  /** Signs a host public key line; returns the certificate line (`…-cert-v01@openssh.com AAAA…`). */
  signHostKey(hostPublicKeyLine: string, opts: HostCertOptions): string;
}

/** Loads the SSH CA from `dir` (ssh_ca, ssh_ca.pub), creating it on first use. */
export function loadOrCreateSshCa(dir: string): SshCa {
  const keyPath = join(dir, SSH_CA_KEY_FILE);
  const pubPath = join(dir, SSH_CA_PUB_FILE);
  if (existsSync(keyPath)) {
    const { privateKey, publicRaw } = readOpensshEd25519(readFileSync(keyPath, "utf8"), keyPath);
    chmodSync(keyPath, 0o600);
    const ca = new Ed25519Ca(privateKey, publicRaw);
    if (existsSync(pubPath)) {
      const onDisk = parsePublicKeyLine(readFileSync(pubPath, "utf8"), "LAB_E_SSH_CA_CORRUPT");
      if (!onDisk.blob.equals(ca.publicKeyBlob)) {
        throw new LabError(
          "LAB_E_SSH_CA_CORRUPT",
          `${pubPath} does not belong to the private key in ${keyPath} (one of them was replaced)`,
        );
      }
    } else {
      writeAtomic(pubPath, `${ca.publicKeyLine}\n`);
    }
    return ca;
  }
  if (existsSync(pubPath)) {
    // Creating a new key here would silently invalidate every certificate and known_hosts line.
    throw new LabError(
      "LAB_E_SSH_CA_CORRUPT",
      `${pubPath} exists but its private key ${keyPath} is missing; refusing to create a new CA`,
    );
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const publicRaw = rawEd25519Public(publicKey);
  writeSecret(keyPath, writeOpensshEd25519(privateKey, publicRaw, CA_COMMENT));
  const ca = new Ed25519Ca(privateKey, publicRaw);
  writeAtomic(pubPath, `${ca.publicKeyLine}\n`);
  return ca;
}

class Ed25519Ca implements SshCa {
  readonly publicKeyBlob: Buffer;
  readonly publicKeyLine: string;
  readonly fingerprint: string;

  constructor(
    private readonly privateKey: KeyObject,
    publicRaw: Buffer,
  ) {
    this.publicKeyBlob = ed25519Blob(publicRaw);
    this.publicKeyLine = `ssh-ed25519 ${this.publicKeyBlob.toString("base64")} ${CA_COMMENT}`;
    this.fingerprint = sshFingerprint(this.publicKeyBlob);
  }

  signHostKey(hostPublicKeyLine: string, opts: HostCertOptions): string {
    const key = parsePublicKeyLine(hostPublicKeyLine);
    const certType = CERT_TYPES[key.type as SshKeyType];
    if (!certType) {
      throw new LabError("LAB_E_SSH_KEY_UNSUPPORTED", `cannot certify a ${key.type} key`);
    }
    const { after, before, serial, principals } = checkCertOptions(opts);
    // The certificate repeats the key's own fields (everything after its type string).
    const r = new SshReader(key.blob, "LAB_E_SSH_KEY_INVALID", "host key");
    r.string("key type");
    const keyFields = r.rest();
    const packed = new SshWriter();
    for (const p of principals) packed.string(p);
    const tbs = new SshWriter()
      .string(certType)
      .string(randomBytes(32))
      .raw(keyFields)
      .uint64(serial)
      .uint32(CERT_TYPE_HOST)
      .string(opts.keyId)
      .string(packed.toBuffer())
      .uint64(after)
      .uint64(before)
      .string(Buffer.alloc(0)) // critical options: none are defined for host certificates
      .string(Buffer.alloc(0)) // extensions: none are defined for host certificates
      .string(Buffer.alloc(0)) // reserved
      .string(this.publicKeyBlob)
      .toBuffer();
    const signature = new SshWriter()
      .string("ssh-ed25519")
      .string(sign(null, tbs, this.privateKey))
      .toBuffer();
    const cert = Buffer.concat([tbs, new SshWriter().string(signature).toBuffer()]);
    return `${certType} ${cert.toString("base64")}${key.comment ? ` ${key.comment}` : ""}`;
  }
}

function checkCertOptions(opts: HostCertOptions): {
  after: bigint;
  before: bigint;
  serial: bigint;
  principals: string[];
} {
  const bad = (msg: string): never => {
    throw new LabError("LAB_E_SSH_CERT_INVALID", msg);
  };
  if (typeof opts.keyId !== "string" || opts.keyId.length === 0 || opts.keyId.length > 1024) {
    bad("the key id must be 1 to 1024 characters");
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(opts.keyId)) bad("the key id holds control characters");
  const principals = opts.principals ?? [];
  if (!Array.isArray(principals) || principals.length === 0) {
    bad("a host certificate needs at least one principal (none would make it valid for every host)");
  }
  if (principals.length > MAX_PRINCIPALS) bad(`at most ${MAX_PRINCIPALS} principals fit in a certificate`);
  for (const p of principals) {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
    if (typeof p !== "string" || p.length === 0 || p.length > 255 || /[\s,\u0000-\u001f\u007f]/.test(p)) {
      bad(`principal ${JSON.stringify(p)} must be 1 to 255 characters without spaces or commas`);
    }
  }
  if (new Set(principals).size !== principals.length) bad("the principals list names one twice");
  const a = opts.validAfter?.getTime?.();
  const b = opts.validBefore?.getTime?.();
  if (a === undefined || b === undefined || Number.isNaN(a) || Number.isNaN(b)) {
    bad("validAfter and validBefore must be valid dates");
  }
  const after = BigInt(Math.floor(Math.max(0, a as number) / 1000));
  const before = BigInt(Math.floor((b as number) / 1000));
  if (before <= after) bad("validBefore must be at least a second after validAfter");
  let serial = opts.serial;
  if (serial === undefined) {
    serial = randomBytes(8).readBigUInt64BE(0) & 0x7fff_ffff_ffff_ffffn;
    if (serial === 0n) serial = 1n;
  }
  if (serial < 0n || serial > 0xffff_ffff_ffff_ffffn) bad("the serial must fit in 64 bits, unsigned");
  return { after, before, serial, principals };
}

/**
 * Parses one OpenSSH public key line (`TYPE BASE64 [comment]`) and checks the key inside:
 * its type matches the line's, and its fields are well formed for that type.
 */
export function parsePublicKeyLine(line: string, code: LabCode = "LAB_E_SSH_KEY_INVALID"): SshPublicKey {
  const bad = (msg: string): never => {
    throw new LabError(code, `not an SSH public key: ${msg}`);
  };
  if (typeof line !== "string") bad("expected a text line");
  const text = line.trim();
  if (text.length === 0) bad("the line is empty");
  if (text.length > MAX_LINE) bad(`the line is longer than ${MAX_LINE} characters`);
  if (/[\r\n]/.test(text)) bad("expected one line, got several");
  const m = /^(\S+)\s+(\S+)(?:\s+(.*))?$/.exec(text);
  if (!m) bad("expected `TYPE BASE64 [comment]`");
  const [, type = "", b64 = "", comment] = m as RegExpExecArray;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) bad("the key field is not base64");
  const blob = Buffer.from(b64, "base64");
  const r = new SshReader(blob, code, `${type} key`);
  const inner = r.string("key type").toString("latin1");
  if (inner !== type)
    bad(`the line says ${type} but the key inside is ${JSON.stringify(inner.slice(0, 64))}`);
  if (!(type in CERT_TYPES)) {
    throw new LabError(
      "LAB_E_SSH_KEY_UNSUPPORTED",
      `${type.slice(0, 64)} keys are not supported (certificates cannot be certified again)`,
    );
  }
  readKeyFields(type as SshKeyType, r, code);
  r.end();
  return comment ? { type, blob, comment } : { type, blob };
}

/** Reads and checks the fields of a `type` key after its type string. */
function readKeyFields(type: SshKeyType, r: SshReader, code: LabCode): void {
  if (type === "ssh-ed25519") {
    if (r.string("public key").length !== 32) r.fail("an Ed25519 public key is 32 bytes");
    return;
  }
  if (type === "ssh-rsa") {
    const e = r.mpint("exponent");
    const n = r.mpint("modulus");
    if (e.length === 0 || ((e[e.length - 1] ?? 0) & 1) === 0) r.fail("the RSA exponent must be odd");
    const bits = n.length === 0 ? 0 : (n.length - 1) * 8 + (32 - Math.clz32(n[0] ?? 0));
    if (bits < MIN_RSA_BITS) {
      throw new LabError(
        "LAB_E_SSH_KEY_UNSUPPORTED",
        `RSA keys need at least ${MIN_RSA_BITS} bits, this one has ${bits}`,
      );
    }
    checkKeyObject(() => ({ kty: "RSA", n: b64url(n), e: b64url(e) }), code, "RSA key");
    return;
  }
  const curve = CURVES[type];
  if (!curve) r.fail(`unknown key type ${type}`);
  const { id, jwk, bytes } = curve as { id: string; jwk: string; bytes: number };
  const name = r.string("curve").toString("latin1");
  if (name !== id) r.fail(`the curve is ${JSON.stringify(name.slice(0, 32))}, expected ${id}`);
  const q = r.string("point");
  if (q.length !== 1 + 2 * bytes || q[0] !== 0x04)
    r.fail(`the point must be uncompressed, ${1 + 2 * bytes} bytes`);
  checkKeyObject(
    () => ({ kty: "EC", crv: jwk, x: b64url(q.subarray(1, 1 + bytes)), y: b64url(q.subarray(1 + bytes)) }),
    code,
    "ECDSA point (not on the curve)",
  );
}

/** Lets OpenSSL judge the key (point on curve, sane modulus). */
function checkKeyObject(jwk: () => Record<string, string>, code: LabCode, what: string): void {
  try {
    createPublicKey({ key: jwk(), format: "jwk" });
  } catch {
    throw new LabError(code, `not an SSH public key: invalid ${what}`);
  }
}

/**
 * Parses a certificate line and verifies its signature (Ed25519 CAs, as Lab's). Throws on any
 * malformed field or a signature that does not verify.
 */
export function parseSshCertificate(line: string): SshCertificate {
  const code: LabCode = "LAB_E_SSH_KEY_INVALID";
  const m = /^(\S+)\s+([A-Za-z0-9+/]+={0,2})(?:\s.*)?$/.exec(typeof line === "string" ? line.trim() : "");
  if (!m || (m[2] ?? "").length % 4 !== 0) throw new LabError(code, "not an SSH certificate line");
  const certType = m[1] ?? "";
  const keyType = (Object.keys(CERT_TYPES) as SshKeyType[]).find((k) => CERT_TYPES[k] === certType);
  if (!keyType)
    throw new LabError(
      "LAB_E_SSH_KEY_UNSUPPORTED",
      `${certType.slice(0, 64)} is not a supported certificate type`,
    );
  const blob = Buffer.from(m[2] ?? "", "base64");
  const r = new SshReader(blob, code, "certificate");
  if (r.string("type").toString("latin1") !== certType) r.fail("the type inside does not match the line");
  r.string("nonce");
  const fieldsStart = r.offset;
  readKeyFields(keyType, r, code);
  const keyBlob = Buffer.concat([
    new SshWriter().string(keyType).toBuffer(),
    blob.subarray(fieldsStart, r.offset),
  ]);
  const serial = r.uint64("serial");
  const kindNum = r.uint32("type");
  if (kindNum !== CERT_TYPE_USER && kindNum !== CERT_TYPE_HOST) r.fail(`unknown certificate type ${kindNum}`);
  const keyId = r.text("key id");
  const pr = new SshReader(r.string("valid principals"), code, "certificate principals");
  const principals: string[] = [];
  while (pr.remaining > 0) principals.push(pr.text("principal"));
  const validAfter = secondsToDate(r.uint64("valid after"));
  const validBefore = secondsToDate(r.uint64("valid before"));
  r.string("critical options");
  r.string("extensions");
  r.string("reserved");
  const signatureKey = r.string("signature key");
  const signedLength = r.offset;
  const sig = new SshReader(r.string("signature"), code, "certificate signature");
  r.end();
  const sigType = sig.string("signature type").toString("latin1");
  const sigBytes = sig.string("signature bytes");
  sig.end();
  const caKey = new SshReader(signatureKey, code, "signature key");
  if (caKey.string("type").toString("latin1") !== "ssh-ed25519" || sigType !== "ssh-ed25519") {
    throw new LabError(
      "LAB_E_SSH_KEY_UNSUPPORTED",
      "only certificates signed by an Ed25519 CA can be verified",
    );
  }
  const caRaw = caKey.string("key");
  caKey.end();
  if (caRaw.length !== 32 || sigBytes.length !== 64) r.fail("malformed Ed25519 signature key or signature");
  const pub = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: b64url(caRaw) }, format: "jwk" });
  if (!verify(null, blob.subarray(0, signedLength), pub, sigBytes)) r.fail("the signature does not verify");
  return {
    certType,
    key: { type: keyType, blob: keyBlob },
    serial,
    kind: kindNum === CERT_TYPE_HOST ? "host" : "user",
    keyId,
    principals,
    validAfter,
    validBefore,
    signatureKey,
  };
}

/** `SHA256:…` fingerprint of a key blob, exactly as `ssh-keygen -l` prints it. */
export function sshFingerprint(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** The known_hosts line that makes clients trust hosts certified by `ca` for these name patterns. */
export function knownHostsLine(ca: Pick<SshCa, "publicKeyLine">, patterns: string[]): string {
  if (!Array.isArray(patterns) || patterns.length === 0) {
    throw new LabError("LAB_E_SSH_CERT_INVALID", "a @cert-authority line needs at least one host pattern");
  }
  for (const p of patterns) {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
    if (typeof p !== "string" || p.length === 0 || /[\s,#\u0000-\u001f\u007f]/.test(p)) {
      throw new LabError(
        "LAB_E_SSH_CERT_INVALID",
        `host pattern ${JSON.stringify(p)} must be non-empty without spaces, commas or #`,
      );
    }
  }
  return `@cert-authority ${patterns.join(",")} ${ca.publicKeyLine}`;
}

// ── OpenSSH private key format (PROTOCOL.key), unencrypted, one Ed25519 key ──

const OPENSSH_MAGIC = Buffer.from("openssh-key-v1\0", "latin1");
const PEM_BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----";
const PEM_END = "-----END OPENSSH PRIVATE KEY-----";

function writeOpensshEd25519(privateKey: KeyObject, publicRaw: Buffer, comment: string): string {
  const seed = Buffer.from(privateKey.export({ format: "jwk" }).d ?? "", "base64url");
  const check = randomBytes(4).readUInt32BE(0);
  const priv = new SshWriter()
    .uint32(check)
    .uint32(check)
    .string("ssh-ed25519")
    .string(publicRaw)
    .string(Buffer.concat([seed, publicRaw]))
    .string(comment)
    .toBuffer();
  // Padding 1, 2, 3, … up to the cipher block size ("none" counts as 8).
  const pad = Buffer.from(Array.from({ length: (8 - (priv.length % 8)) % 8 }, (_, i) => i + 1));
  const body = Buffer.concat([
    OPENSSH_MAGIC,
    new SshWriter()
      .string("none")
      .string("none")
      .string(Buffer.alloc(0))
      .uint32(1)
      .string(ed25519Blob(publicRaw))
      .string(Buffer.concat([priv, pad]))
      .toBuffer(),
  ]);
  const b64 = body.toString("base64").replace(/(.{70})/g, "$1\n");
  return `${PEM_BEGIN}\n${b64.trimEnd()}\n${PEM_END}\n`;
}

function readOpensshEd25519(text: string, path: string): { privateKey: KeyObject; publicRaw: Buffer } {
  const code: LabCode = "LAB_E_SSH_CA_CORRUPT";
  const begin = text.indexOf(PEM_BEGIN);
  const end = text.indexOf(PEM_END);
  if (begin < 0 || end < begin) throw new LabError(code, `${path} is not an OpenSSH private key`);
  const body = Buffer.from(text.slice(begin + PEM_BEGIN.length, end).replace(/\s+/g, ""), "base64");
  if (!body.subarray(0, OPENSSH_MAGIC.length).equals(OPENSSH_MAGIC)) {
    throw new LabError(code, `${path} is not an OpenSSH private key (bad magic)`);
  }
  const r = new SshReader(body.subarray(OPENSSH_MAGIC.length), code, path);
  const cipher = r.string("cipher").toString("latin1");
  const kdf = r.string("kdf").toString("latin1");
  r.string("kdf options");
  if (cipher !== "none" || kdf !== "none") r.fail("the key is encrypted; lab needs it unencrypted");
  if (r.uint32("key count") !== 1) r.fail("expected exactly one key");
  const pubBlob = r.string("public key");
  const privSection = r.string("private section");
  r.end();
  const p = new SshReader(privSection, code, path);
  const check1 = p.uint32("check");
  const check2 = p.uint32("check");
  if (check1 !== check2) p.fail("the check numbers differ (corrupt or encrypted)");
  if (p.string("key type").toString("latin1") !== "ssh-ed25519") p.fail("the CA key is not Ed25519");
  const publicRaw = Buffer.from(p.string("public key"));
  const secret = p.string("secret key");
  p.string("comment");
  const pad = p.rest();
  if (!pad.every((b, i) => b === i + 1)) p.fail("bad padding");
  if (publicRaw.length !== 32 || secret.length !== 64 || !secret.subarray(32).equals(publicRaw)) {
    p.fail("malformed Ed25519 key");
  }
  if (!pubBlob.equals(ed25519Blob(publicRaw))) p.fail("the public and private halves differ");
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({
      key: { kty: "OKP", crv: "Ed25519", d: b64url(secret.subarray(0, 32)), x: b64url(publicRaw) },
      format: "jwk",
    });
  } catch {
    return p.fail("OpenSSL rejected the Ed25519 key");
  }
  if (!rawEd25519Public(createPublicKey(privateKey)).equals(publicRaw)) {
    p.fail("the private key does not derive the stored public key");
  }
  return { privateKey, publicRaw };
}

function rawEd25519Public(key: KeyObject): Buffer {
  return Buffer.from(key.export({ format: "jwk" }).x ?? "", "base64url");
}

function ed25519Blob(publicRaw: Buffer): Buffer {
  return new SshWriter().string("ssh-ed25519").string(publicRaw).toBuffer();
}

function b64url(b: Buffer): string {
  return b.toString("base64url");
}

function secondsToDate(s: bigint): Date {
  // OpenSSH writes "forever" as 2^64-1; Date stops at 8.64e15 ms.
  const ms = s > 8_640_000_000_000n ? 8.64e15 : Number(s) * 1000;
  return new Date(ms);
}

function writeAtomic(path: string, content: string, mode = 0o644): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode });
  renameSync(tmp, path);
}

function writeSecret(path: string, content: string): void {
  writeAtomic(path, content, 0o600);
  chmodSync(path, 0o600);
}

// ── SSH wire encoding (RFC 4251 §5) ──
// The reader checks every length against what is left, so a hostile blob can only ever
// produce a LabError.

/** Builds an SSH wire blob. */
class SshWriter {
  private readonly parts: Buffer[] = [];

  uint32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    this.parts.push(b);
    return this;
  }

  uint64(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt.asUintN(64, v));
    this.parts.push(b);
    return this;
  }

  string(v: Buffer | string): this {
    const data = typeof v === "string" ? Buffer.from(v, "utf8") : v;
    this.uint32(data.length);
    this.parts.push(data);
    return this;
  }

  /** Bytes as they are, without a length (for fields copied from another blob). */
  raw(v: Buffer): this {
    this.parts.push(v);
    return this;
  }

  /** A positive multiple-precision integer from its big-endian magnitude. */
  mpint(magnitude: Buffer): this {
    let start = 0;
    while (start < magnitude.length && magnitude[start] === 0) start++;
    let m = magnitude.subarray(start);
    // A set high bit would read as negative: prefix a zero byte.
    if (m.length > 0 && ((m[0] ?? 0) & 0x80) !== 0) m = Buffer.concat([Buffer.from([0]), m]);
    return this.string(m);
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Reads an SSH wire blob; every short read is a LabError with the given code. */
class SshReader {
  private pos = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly code: LabCode,
    private readonly what: string,
  ) {}

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  fail(detail: string): never {
    throw new LabError(this.code, `${this.what}: ${detail}`);
  }

  private take(n: number, field: string): Buffer {
    if (n > this.remaining)
      this.fail(`${field} runs past the end (needs ${n} bytes, ${this.remaining} left)`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  uint32(field = "uint32"): number {
    return this.take(4, field).readUInt32BE(0);
  }

  uint64(field = "uint64"): bigint {
    return this.take(8, field).readBigUInt64BE(0);
  }

  string(field = "string"): Buffer {
    const len = this.uint32(`length of ${field}`);
    return this.take(len, field);
  }

  /** A string that must be printable UTF-8 text without control characters. */
  text(field = "text"): string {
    const raw = this.string(field);
    const s = raw.toString("utf8");
    if (!Buffer.from(s, "utf8").equals(raw)) this.fail(`${field} is not valid UTF-8`);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
    if (/[\u0000-\u001f\u007f]/.test(s)) this.fail(`${field} holds control characters`);
    return s;
  }

  /** A non-negative mpint, returned as its magnitude without leading zeros. */
  mpint(field = "mpint"): Buffer {
    const raw = this.string(field);
    if (raw.length > 0 && ((raw[0] ?? 0) & 0x80) !== 0) this.fail(`${field} is negative`);
    let start = 0;
    while (start < raw.length && raw[start] === 0) start++;
    return raw.subarray(start);
  }

  /** The rest of the blob. */
  rest(): Buffer {
    return this.take(this.remaining, "rest");
  }

  /** Fails unless everything was read. */
  end(): void {
    if (this.remaining !== 0) this.fail(`${this.remaining} unexpected trailing bytes`);
  }
}
