/**
 * SshSession's failure paths that need no SSH server: loopback peers that refuse, stay silent
 * or speak something else, and keys that cannot be used. The real-server paths are in
 * test/integration/onboard-detect.test.ts.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isLabError, type LabCode } from "@lab/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fingerprintOf, type SshConnectOptions, SshSession, shellQuote } from "./ssh.js";

const dir = mkdtempSync(join(tmpdir(), "lab-ssh-test-"));
const servers: Server[] = [];

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    c.stdout.on("data", (d) => {
      stdout += String(d);
    });
    c.on("error", () => resolve({ code: 127, stdout }));
    c.on("close", (code) => resolve({ code: code ?? -1, stdout }));
  });
}

/** A loopback TCP server that does `onConn` with each connection; returns its port. */
async function listen(onConn: (s: import("node:net").Socket) => void): Promise<number> {
  const srv = createServer(onConn);
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const addr = srv.address();
  if (!addr || typeof addr === "string") throw new Error("no port");
  return addr.port;
}

let key: string;
let encrypted: string;

beforeAll(async () => {
  key = join(dir, "id");
  encrypted = join(dir, "id_enc");
  const a = await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
  const b = await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "secret words", "-f", encrypted]);
  if (a.code !== 0 || b.code !== 0)
    throw new Error("ssh-keygen is missing: apt-get install -y openssh-client");
});

afterAll(() => {
  for (const s of servers) s.close();
});

async function code(opts: Partial<SshConnectOptions>): Promise<{ code: LabCode; message: string }> {
  try {
    const s = await SshSession.connect({
      host: "127.0.0.1",
      port: 1,
      user: "root",
      identityFile: key,
      ...opts,
    });
    await s.close();
  } catch (e) {
    if (isLabError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error("connected");
}

describe("SshSession.connect failures", () => {
  it("a closed port: LAB_E_SSH_UNREACHABLE, connection refused", async () => {
    const port = await listen(() => undefined);
    await new Promise((r) => servers.pop()?.close(r));
    const r = await code({ port });
    expect(r.code).toBe("LAB_E_SSH_UNREACHABLE");
    expect(r.message).toMatch(/connection refused/);
  });

  it("a peer that never speaks: LAB_E_SSH_UNREACHABLE after the timeout", async () => {
    const port = await listen(() => undefined);
    const r = await code({ port, timeoutMs: 300 });
    expect(r.code).toBe("LAB_E_SSH_UNREACHABLE");
    expect(r.message).toMatch(/no SSH answer from root@127\.0\.0\.1:\d+ within 300 ms/);
  });

  it("a peer that speaks HTTP: LAB_E_SSH_UNREACHABLE", async () => {
    const port = await listen((s) => s.end("HTTP/1.1 400 Bad Request\r\n\r\n"));
    expect((await code({ port, timeoutMs: 5000 })).code).toBe("LAB_E_SSH_UNREACHABLE");
  });

  const keyCases: [string, Partial<SshConnectOptions>, RegExp][] = [
    ["no key, no agent", { identityFile: undefined }, /no private key and no ssh-agent/],
    [
      "a missing key file",
      { identityFile: "/nonexistent/id" },
      /cannot read identity file \/nonexistent\/id \(ENOENT\)/,
    ],
    ["garbage", { identityFile: undefined, privateKey: "not a key" }, /not a usable private key/],
    ["a public key", { identityFile: undefined, privateKey: "PUB" }, /public key, not a private key/],
    ["an encrypted key without passphrase", { identityFile: "ENC" }, /not a usable private key/],
  ];
  for (const [name, opts, msg] of keyCases) {
    it(`${name}: LAB_E_SSH_KEY`, async () => {
      const o = { ...opts };
      if (o.privateKey === "PUB") o.privateKey = readFileSync(`${key}.pub`);
      if (o.identityFile === "ENC") o.identityFile = encrypted;
      const r = await code(o);
      expect(r.code).toBe("LAB_E_SSH_KEY");
      expect(r.message).toMatch(msg);
      expect(r.message).not.toMatch(/PRIVATE KEY|b3BlbnNzaC1rZXktdjE/);
    });
  }

  it("an encrypted key with its passphrase gets as far as the network", async () => {
    const port = await listen(() => undefined);
    const r = await code({ port, identityFile: encrypted, passphrase: "secret words", timeoutMs: 200 });
    expect(r.code).toBe("LAB_E_SSH_UNREACHABLE");
  });

  it("a malformed pinned fingerprint: LAB_E_USAGE", async () => {
    expect((await code({ knownHostKeyFingerprint: "MD5:aa:bb" })).code).toBe("LAB_E_USAGE");
  });
});

describe("helpers", () => {
  it("fingerprintOf matches ssh-keygen -l", async () => {
    const pub = readFileSync(`${key}.pub`, "utf8").split(" ")[1] ?? "";
    const keygen = await run("ssh-keygen", ["-lf", `${key}.pub`]);
    expect(fingerprintOf(Buffer.from(pub, "base64"))).toBe(keygen.stdout.split(" ")[1]);
  });

  it("shellQuote survives quotes and metacharacters", async () => {
    const nasty = `it's $(rm -rf /) "quoted" \`x\` \\ ;|&`;
    const r = await run("sh", ["-c", `printf %s ${shellQuote(nasty)}`]);
    expect(r.stdout).toBe(nasty);
  });
});
