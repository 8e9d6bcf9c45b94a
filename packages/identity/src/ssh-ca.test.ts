import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isLabError, type LabCode } from "@lab/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKey, sshConnect, sshKeygen, startSshd, stopAllSshd } from "../../../test/support/sshd.js";
import {
  knownHostsLine,
  loadOrCreateSshCa,
  parsePublicKeyLine,
  parseSshCertificate,
  SSH_CA_KEY_FILE,
  SSH_CA_PUB_FILE,
  type SshCa,
  sshFingerprint,
} from "./ssh-ca.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The host key types the CA must certify, as ssh-keygen generates them. */
const KEY_TYPES = [
  { name: "ssh-ed25519", keygen: "ed25519", bits: undefined },
  { name: "ecdsa-sha2-nistp256", keygen: "ecdsa", bits: 256 },
  { name: "ecdsa-sha2-nistp384", keygen: "ecdsa", bits: 384 },
  { name: "ecdsa-sha2-nistp521", keygen: "ecdsa", bits: 521 },
  { name: "ssh-rsa", keygen: "rsa", bits: 3072 },
] as const;

let work: string;
let ca: SshCa;
/** Host key per type: private key path and public line. */
const hostKeys = new Map<string, { path: string; line: string }>();

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "lab-ssh-ca-test-"));
  ca = loadOrCreateSshCa(join(work, "ca"));
  for (const t of KEY_TYPES) {
    const path = join(work, `host_${t.keygen}${t.bits ?? ""}`);
    hostKeys.set(t.name, { path, line: await generateKey(path, t.keygen, t.bits, `root@${t.keygen}`) });
  }
});

afterAll(async () => {
  await stopAllSshd();
  rmSync(work, { recursive: true, force: true });
});

function codeOf(fn: () => unknown): LabCode | string {
  try {
    fn();
  } catch (e) {
    return isLabError(e) ? e.code : `not a LabError: ${String(e)}`;
  }
  return "no error";
}

function hostKey(type: string): { path: string; line: string } {
  const k = hostKeys.get(type);
  if (!k) throw new Error(`no host key of type ${type}`);
  return k;
}

describe("SSH CA key storage", () => {
  it("creates an Ed25519 CA with a 0600 private key and an OpenSSH public line", () => {
    const dir = join(work, "ca");
    expect(statSync(join(dir, SSH_CA_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(ca.publicKeyLine).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43} lab-ssh-ca$/);
    expect(readFileSync(join(dir, SSH_CA_PUB_FILE), "utf8")).toBe(`${ca.publicKeyLine}\n`);
  });

  it("loads the same CA again", () => {
    const again = loadOrCreateSshCa(join(work, "ca"));
    expect(again.publicKeyLine).toBe(ca.publicKeyLine);
  });

  it("stores the key so ssh-keygen reads it (ssh-keygen -y derives the same public key)", async () => {
    const out = await sshKeygen(["-y", "-f", join(work, "ca", SSH_CA_KEY_FILE)]);
    expect(out.trim()).toBe(ca.publicKeyLine);
  });

  it("has the fingerprint ssh-keygen -l prints", async () => {
    const out = await sshKeygen(["-l", "-f", join(work, "ca", SSH_CA_PUB_FILE)]);
    expect(out.split(" ")[1]).toBe(ca.fingerprint);
  });

  it("tightens a private key left readable by others", () => {
    const dir = join(work, "ca-loose");
    loadOrCreateSshCa(dir);
    chmodSync(join(dir, SSH_CA_KEY_FILE), 0o644);
    loadOrCreateSshCa(dir);
    expect(statSync(join(dir, SSH_CA_KEY_FILE)).mode & 0o777).toBe(0o600);
  });

  const corruptions: { name: string; setup: (dir: string) => void }[] = [
    {
      name: "public key without its private key",
      setup: (dir) => {
        loadOrCreateSshCa(dir);
        rmSync(join(dir, SSH_CA_KEY_FILE));
      },
    },
    {
      name: "private key file holding garbage",
      setup: (dir) => {
        loadOrCreateSshCa(dir);
        writeFileSync(join(dir, SSH_CA_KEY_FILE), "not a key\n");
      },
    },
    {
      name: "private key with a flipped byte",
      setup: (dir) => {
        loadOrCreateSshCa(dir);
        const text = readFileSync(join(dir, SSH_CA_KEY_FILE), "utf8");
        const lines = text.split("\n");
        const body = Buffer.from(lines.slice(1, -2).join(""), "base64");
        body[body.length - 40] = (body[body.length - 40] ?? 0) ^ 0xff;
        writeFileSync(
          join(dir, SSH_CA_KEY_FILE),
          `${lines[0]}\n${body.toString("base64")}\n${lines.at(-2)}\n`,
        );
      },
    },
    {
      name: "public key of another CA",
      setup: (dir) => {
        loadOrCreateSshCa(dir);
        writeFileSync(join(dir, SSH_CA_PUB_FILE), readFileSync(join(work, "ca", SSH_CA_PUB_FILE)));
      },
    },
  ];
  for (const c of corruptions) {
    it(`refuses a CA dir with a ${c.name}`, () => {
      const dir = join(work, `corrupt-${c.name.replace(/\W+/g, "-")}`);
      c.setup(dir);
      expect(codeOf(() => loadOrCreateSshCa(dir))).toBe("LAB_E_SSH_CA_CORRUPT");
    });
  }
});

describe("parsePublicKeyLine", () => {
  for (const t of KEY_TYPES) {
    it(`reads a ${t.name} key from ssh-keygen and fingerprints it as ssh-keygen -l does`, async () => {
      const { path, line } = hostKey(t.name);
      const key = parsePublicKeyLine(line);
      expect(key.type).toBe(t.name);
      expect(key.comment).toBe(`root@${t.keygen}`);
      const out = await sshKeygen(["-l", "-f", `${path}.pub`]);
      expect(sshFingerprint(key.blob)).toBe(out.split(" ")[1]);
    });
  }

  const ed = () => hostKey("ssh-ed25519").line;
  const edBlob = () => parsePublicKeyLine(ed()).blob;
  const withBlob = (type: string, blob: Buffer) => `${type} ${blob.toString("base64")}`;
  const garbage: { name: string; line: () => string; code: LabCode }[] = [
    { name: "empty line", line: () => "   ", code: "LAB_E_SSH_KEY_INVALID" },
    { name: "type only", line: () => "ssh-ed25519", code: "LAB_E_SSH_KEY_INVALID" },
    { name: "two lines", line: () => `${ed()}\n${ed()}`, code: "LAB_E_SSH_KEY_INVALID" },
    { name: "key field not base64", line: () => "ssh-ed25519 AAAA$$$$", code: "LAB_E_SSH_KEY_INVALID" },
    {
      name: "base64 of the wrong length",
      line: () => "ssh-ed25519 AAAAC3NzaC1",
      code: "LAB_E_SSH_KEY_INVALID",
    },
    {
      name: "a private key pasted",
      line: () => "-----BEGIN OPENSSH PRIVATE KEY-----",
      code: "LAB_E_SSH_KEY_INVALID",
    },
    {
      name: "type differing from the key inside",
      line: () => withBlob("ecdsa-sha2-nistp256", edBlob()),
      code: "LAB_E_SSH_KEY_INVALID",
    },
    {
      name: "truncated key",
      line: () => withBlob("ssh-ed25519", edBlob().subarray(0, 40)),
      code: "LAB_E_SSH_KEY_INVALID",
    },
    {
      name: "trailing bytes after the key",
      line: () => withBlob("ssh-ed25519", Buffer.concat([edBlob(), Buffer.from([0, 0, 0, 0])])),
      code: "LAB_E_SSH_KEY_INVALID",
    },
    {
      name: "huge length field",
      line: () => withBlob("ssh-ed25519", Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3])),
      code: "LAB_E_SSH_KEY_INVALID",
    },
    {
      name: "ECDSA point not on the curve",
      line: () => {
        const b = Buffer.from(parsePublicKeyLine(hostKey("ecdsa-sha2-nistp256").line).blob);
        b[b.length - 1] = (b[b.length - 1] ?? 0) ^ 0x01;
        return withBlob("ecdsa-sha2-nistp256", b);
      },
      code: "LAB_E_SSH_KEY_INVALID",
    },
    {
      name: "DSA key",
      line: () => withBlob("ssh-dss", Buffer.from([0, 0, 0, 7, ...Buffer.from("ssh-dss")])),
      code: "LAB_E_SSH_KEY_UNSUPPORTED",
    },
    {
      name: "certificate instead of a key",
      line: () =>
        withBlob(
          "ssh-ed25519-cert-v01@openssh.com",
          Buffer.from([0, 0, 0, 32, ...Buffer.from("ssh-ed25519-cert-v01@openssh.com")]),
        ),
      code: "LAB_E_SSH_KEY_UNSUPPORTED",
    },
  ];
  for (const g of garbage) {
    it(`rejects ${g.name} with ${g.code}`, () => {
      expect(codeOf(() => parsePublicKeyLine(g.line()))).toBe(g.code);
    });
  }

  it("rejects RSA keys below 2048 bits", async () => {
    const line = await generateKey(join(work, "rsa1024"), "rsa", 1024);
    expect(codeOf(() => parsePublicKeyLine(line))).toBe("LAB_E_SSH_KEY_UNSUPPORTED");
  });

  it("throws nothing but LabError for 5,000 mutated keys", () => {
    const seeds = KEY_TYPES.map((t) => parsePublicKeyLine(hostKey(t.name).line));
    let accepted = 0;
    for (let i = 0; i < 5000; i++) {
      const seed = seeds[i % seeds.length] as { type: string; blob: Buffer };
      const b = Buffer.from(seed.blob);
      const flips = 1 + (i % 4);
      for (let f = 0; f < flips; f++) b[randomBytes(2).readUInt16BE(0) % b.length] = randomBytes(1)[0] ?? 0;
      const cut = i % 7 === 0 ? b.subarray(0, randomBytes(2).readUInt16BE(0) % b.length) : b;
      try {
        parsePublicKeyLine(`${seed.type} ${cut.toString("base64")}`);
        accepted++;
      } catch (e) {
        if (!isLabError(e)) throw e;
      }
    }
    // Flips inside RSA moduli or Ed25519 keys still make well-formed keys; most others fail.
    expect(accepted).toBeLessThan(5000);
  });
});

describe("signHostKey", () => {
  const now = Date.now();
  const validAfter = new Date(Math.floor((now - HOUR) / 1000) * 1000);
  const validBefore = new Date(Math.floor((now + 30 * DAY) / 1000) * 1000);

  for (const t of KEY_TYPES) {
    it(`makes a ${t.name} host certificate that ssh-keygen -L reads back as set`, async () => {
      const cert = ca.signHostKey(hostKey(t.name).line, {
        keyId: `node7 ${t.name}`,
        principals: ["node7.lab.internal", "node7", "10.77.0.7"],
        validAfter,
        validBefore,
        serial: 4242n,
      });
      const certType =
        t.name === "ssh-rsa" ? "ssh-rsa-cert-v01@openssh.com" : `${t.name}-cert-v01@openssh.com`;
      expect(cert.startsWith(`${certType} AAAA`)).toBe(true);
      const file = join(work, `cert-${t.keygen}${t.bits ?? ""}-cert.pub`);
      writeFileSync(file, `${cert}\n`);
      const out = await sshKeygen(["-L", "-f", file]);
      const field = (name: string) => new RegExp(`^\\s*${name}: (.*)$`, "m").exec(out)?.[1]?.trim();
      expect(field("Type")).toBe(`${certType} host certificate`);
      expect(field("Signing CA")).toBe(`ED25519 ${ca.fingerprint} (using ssh-ed25519)`);
      expect(field("Key ID")).toBe(`"node7 ${t.name}"`);
      expect(field("Serial")).toBe("4242");
      expect(field("Valid")).toBe(
        `from ${validAfter.toISOString().slice(0, 19)} to ${validBefore.toISOString().slice(0, 19)}`,
      );
      const principals = /Principals: \n((?:\s{16}.*\n)+)/.exec(out)?.[1]?.trim().split(/\s+/);
      expect(principals).toEqual(["node7.lab.internal", "node7", "10.77.0.7"]);
      expect(field("Critical Options")).toBe("(none)");
      expect(field("Extensions")).toBe("(none)");

      const parsed = parseSshCertificate(cert);
      expect(parsed.kind).toBe("host");
      expect(parsed.key.blob.equals(parsePublicKeyLine(hostKey(t.name).line).blob)).toBe(true);
      expect(parsed.signatureKey.equals(ca.publicKeyBlob)).toBe(true);
      expect(parsed.validBefore.getTime()).toBe(validBefore.getTime());
    });
  }

  it("keeps the host key's comment on the certificate line", () => {
    const cert = ca.signHostKey(hostKey("ssh-ed25519").line, {
      keyId: "x",
      principals: ["x"],
      validAfter,
      validBefore,
    });
    expect(cert.endsWith(" root@ed25519")).toBe(true);
  });

  it("gives each certificate a fresh nonce and a non-zero serial by default", () => {
    const opts = { keyId: "x", principals: ["x"], validAfter, validBefore };
    const a = parseSshCertificate(ca.signHostKey(hostKey("ssh-ed25519").line, opts));
    const b = ca.signHostKey(hostKey("ssh-ed25519").line, opts);
    expect(a.serial).not.toBe(0n);
    expect(b).not.toBe(ca.signHostKey(hostKey("ssh-ed25519").line, opts));
  });

  it("detects a tampered certificate", () => {
    const cert = ca.signHostKey(hostKey("ssh-ed25519").line, {
      keyId: "x",
      principals: ["x"],
      validAfter,
      validBefore,
    });
    const [type, b64] = cert.split(" ");
    const blob = Buffer.from(b64 ?? "", "base64");
    // Flip a byte of the key id region (after the 4-byte length of "x").
    const at = blob.indexOf(Buffer.from([0, 0, 0, 1, 0x78]));
    blob[at + 4] = 0x79;
    expect(codeOf(() => parseSshCertificate(`${type} ${blob.toString("base64")}`))).toBe(
      "LAB_E_SSH_KEY_INVALID",
    );
  });

  const bad: { name: string; opts: Record<string, unknown> }[] = [
    { name: "no principals", opts: { principals: [] } },
    { name: "an empty principal", opts: { principals: [""] } },
    { name: "a principal with a comma", opts: { principals: ["a,b"] } },
    { name: "a principal with a space", opts: { principals: ["a b"] } },
    { name: "a duplicate principal", opts: { principals: ["a", "a"] } },
    { name: "an empty key id", opts: { keyId: "" } },
    { name: "a key id with a newline", opts: { keyId: "a\nb" } },
    {
      name: "validBefore before validAfter",
      opts: { validAfter: new Date(now), validBefore: new Date(now - 1000) },
    },
    { name: "an invalid date", opts: { validBefore: new Date("nope") } },
    { name: "a negative serial", opts: { serial: -1n } },
    { name: "a serial over 64 bits", opts: { serial: 1n << 64n } },
  ];
  for (const b of bad) {
    it(`refuses ${b.name}`, () => {
      const opts = { keyId: "k", principals: ["h"], validAfter, validBefore, ...b.opts };
      expect(codeOf(() => ca.signHostKey(hostKey("ssh-ed25519").line, opts as never))).toBe(
        "LAB_E_SSH_CERT_INVALID",
      );
    });
  }

  it("refuses garbage instead of a host key", () => {
    expect(
      codeOf(() => ca.signHostKey("hello", { keyId: "k", principals: ["h"], validAfter, validBefore })),
    ).toBe("LAB_E_SSH_KEY_INVALID");
  });
});

describe("knownHostsLine", () => {
  it("makes an @cert-authority line for the patterns", () => {
    expect(knownHostsLine(ca, ["*.lab.internal", "10.77.*"])).toBe(
      `@cert-authority *.lab.internal,10.77.* ${ca.publicKeyLine}`,
    );
  });

  for (const patterns of [[], [""], ["a b"], ["a,b"], ["#x"]]) {
    it(`refuses patterns ${JSON.stringify(patterns)}`, () => {
      expect(codeOf(() => knownHostsLine(ca, patterns))).toBe("LAB_E_SSH_CERT_INVALID");
    });
  }
});

describe("real OpenSSH trusts hosts certified by the CA", () => {
  const NAME = "node1.lab.internal";

  /** Starts sshd for `type`'s host key with a certificate signed for `principals` and window. */
  async function serve(
    type: string,
    principals: string[],
    after: number,
    before: number,
    signer: SshCa = ca,
  ) {
    const k = hostKey(type);
    const certFile = join(work, `serve-${type}-${randomBytes(4).toString("hex")}-cert.pub`);
    const cert = signer.signHostKey(k.line, {
      keyId: NAME,
      principals,
      validAfter: new Date(after),
      validBefore: new Date(before),
    });
    writeFileSync(certFile, `${cert}\n`);
    return startSshd({ hostKey: k.path, hostCertificate: certFile });
  }

  function knownHosts(content: string): string {
    const file = join(work, `kh-${randomBytes(4).toString("hex")}`);
    writeFileSync(file, content);
    return file;
  }

  for (const t of KEY_TYPES) {
    it(`connects without a prompt to a ${t.name} host through the @cert-authority line alone`, async () => {
      const sshd = await serve(t.name, [NAME], Date.now() - HOUR, Date.now() + DAY);
      try {
        const kh = knownHosts(`${knownHostsLine(ca, ["*.lab.internal"])}\n`);
        const r = await sshConnect({
          port: sshd.port,
          clientKey: sshd.clientKey,
          knownHosts: kh,
          hostKeyAlias: NAME,
        });
        expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
        // The client must not have written a plain host key entry: the CA line did the work.
        expect(readFileSync(kh, "utf8")).toBe(`${knownHostsLine(ca, ["*.lab.internal"])}\n`);
      } finally {
        await sshd.stop();
      }
    });
  }

  describe("refusals (ed25519 host key)", () => {
    const cases: {
      name: string;
      principals: string[];
      after: number;
      before: number;
      kh: (other: SshCa) => string;
      signer?: "other";
      expect: RegExp;
    }[] = [
      {
        name: "an empty known_hosts",
        principals: [NAME],
        after: -HOUR,
        before: DAY,
        kh: () => "",
        expect: /No ED25519 host key is known for node1\.lab\.internal/,
      },
      {
        name: "a certificate for another name",
        principals: ["node2.lab.internal"],
        after: -HOUR,
        before: DAY,
        kh: () => `${knownHostsLine(ca, ["*.lab.internal"])}\n`,
        expect: /Certificate invalid: name is not a listed principal/,
      },
      {
        name: "an expired certificate",
        principals: [NAME],
        after: -2 * DAY,
        before: -DAY,
        kh: () => `${knownHostsLine(ca, ["*.lab.internal"])}\n`,
        expect: /Certificate invalid: expired/,
      },
      {
        name: "a certificate not valid yet",
        principals: [NAME],
        after: DAY,
        before: 2 * DAY,
        kh: () => `${knownHostsLine(ca, ["*.lab.internal"])}\n`,
        expect: /Certificate invalid: not yet valid/,
      },
      {
        name: "a certificate from a CA the client does not trust",
        principals: [NAME],
        after: -HOUR,
        before: DAY,
        signer: "other",
        kh: () => `${knownHostsLine(ca, ["*.lab.internal"])}\n`,
        expect: /No ED25519 host key is known/,
      },
      {
        name: "a CA line whose pattern does not cover the name",
        principals: [NAME],
        after: -HOUR,
        before: DAY,
        kh: () => `${knownHostsLine(ca, ["*.example.org"])}\n`,
        expect: /No ED25519 host key is known/,
      },
    ];
    for (const c of cases) {
      it(`fails with ${c.name}`, async () => {
        const other = loadOrCreateSshCa(join(work, "other-ca"));
        const now = Date.now();
        const sshd = await serve(
          "ssh-ed25519",
          c.principals,
          now + c.after,
          now + c.before,
          c.signer ? other : ca,
        );
        try {
          const r = await sshConnect({
            port: sshd.port,
            clientKey: sshd.clientKey,
            knownHosts: knownHosts(c.kh(other)),
            hostKeyAlias: NAME,
          });
          expect(r.code).toBe(255);
          expect(r.stderr).toMatch(c.expect);
          expect(r.stderr).toMatch(/Host key verification failed/);
        } finally {
          await sshd.stop();
        }
      });
    }
  });
});
