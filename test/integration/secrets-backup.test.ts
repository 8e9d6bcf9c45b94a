/**
 * Dynamic secrets, rotation and the encrypted git backup, through a real server, real
 * machine certificates, a local bare git repository and the real `age` CLI; then total loss:
 * only the backup and the key survive, and a new store and server serve the same values.
 */
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type MachineCredentials, StoreClient } from "@lab/secrets";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labIn, tempHome } from "../support/cli.js";
import { startTestServer, type TestServer } from "../support/secrets.js";

const FLEET = `
labels:
  app: { secrets: [db/generated, app/from-command, tls/node-cert, mail/relay] }
secrets:
  db/generated: { type: dynamic, generator: password, length: 24, charset: hex, rotate_every: 1h }
  app/from-command: { type: dynamic, generator: command, command: [sh, -c, "printf cmd-value-%s 42"] }
  tls/node-cert: { type: dynamic, generator: ca, per_machine: true }
  mail/relay: { type: static }
servers:
  app-1: { provider: manual, labels: [app] }
  app-2: { provider: manual, labels: [app] }
`;

let root: string;
let home: string;
let bare: string;
let t: TestServer;
const machines: Record<string, MachineCredentials> = {};
const value = async (m: string, name: string) =>
  Buffer.from(
    (await new StoreClient([t.storeUrl], machines[m] as MachineCredentials).value(name)).body.value,
    "base64",
  ).toString();

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    if (e === ".git") return [];
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "lab-secrets-backup-"));
  bare = join(root, "backup.git");
  execFileSync("git", ["init", "--quiet", "--bare", bare]);
  home = join(root, "home");
  t = await startTestServer(home, { gitUrl: bare });
  await t.apply(FLEET);
  await t.setSecret("mail/relay", "relay-PLAINTEXT-7d1");
  for (const m of ["app-1", "app-2"]) machines[m] = await t.enrol(m);
});

afterAll(async () => {
  await t?.server.close();
  rmSync(root, { recursive: true, force: true });
});

describe("dynamic secrets", () => {
  it("generates passwords and command output, and a certificate per machine from Lab's CA", async () => {
    expect(await value("app-1", "db/generated")).toMatch(/^[0-9a-f]{24}$/);
    expect(await value("app-1", "app/from-command")).toBe("cmd-value-42");
    const one = await value("app-1", "tls/node-cert");
    const two = await value("app-2", "tls/node-cert");
    expect(one).not.toBe(two);
    const cert = new X509Certificate(one.slice(one.indexOf("-----BEGIN CERTIFICATE")));
    expect(cert.subject).toContain("CN=app-1");
    expect(cert.checkIssued(new X509Certificate(t.server.caPem as string))).toBe(true);
    expect(one).toContain("PRIVATE KEY");
  });

  it("rotates: machines get the new value, the old one stays readable for the grace period", async () => {
    const before = await value("app-1", "db/generated");
    const r = await t.api<{ path: string; version: number }[]>(
      "POST",
      "/api/v1/secret-store/rotate?name=db%2Fgenerated",
      {},
    );
    expect(r.body).toEqual([expect.objectContaining({ path: "db/generated", version: 2 })]);
    const after = await value("app-1", "db/generated");
    expect(after).not.toBe(before);
    // The replaced value, by version, while its grace period lasts.
    const old = await new StoreClient([t.storeUrl], machines["app-1"] as MachineCredentials).value(
      "db/generated",
      1,
    );
    expect(old.body.version).toBe(1);
    expect(Buffer.from(old.body.value, "base64").toString()).toBe(before);
    const refused = await t.api<{ error: { code: string } }>(
      "POST",
      "/api/v1/secret-store/rotate?name=mail%2Frelay",
      {},
    );
    expect(refused.body.error.code).toBe("LAB_E_USAGE");
  });
});

describe("the encrypted git backup", () => {
  it("pushes a commit per change: values open with age and the key, paths and policy in clear", () => {
    const log = execFileSync("git", ["--git-dir", bare, "log", "--oneline"], { encoding: "utf8" });
    expect(log.trim().split("\n").length).toBeGreaterThanOrEqual(3);
    const clone = join(root, "clone");
    execFileSync("git", ["clone", "--quiet", bare, clone]);
    const key = join(home, "keys", "secrets.age");
    const relay = execFileSync("age", ["-d", "-i", key, join(clone, "secrets", "mail", "relay", "v1.age")]);
    expect(relay.toString()).toBe("relay-PLAINTEXT-7d1");
    const policy = readFileSync(join(clone, "policy.yaml"), "utf8");
    expect(policy).toContain('mail/relay:\n      - Label "app"\n');
    for (const f of files(clone)) expect(readFileSync(f).includes(Buffer.from("PLAINTEXT")), f).toBe(false);
    // The repository alone opens nothing: another key cannot read it.
    const stranger = join(root, "stranger.age");
    execFileSync("age-keygen", ["-o", stranger], { stdio: "ignore" });
    expect(() =>
      execFileSync("age", ["-d", "-i", stranger, join(clone, "secrets", "mail", "relay", "v1.age")], {
        stdio: "pipe",
      }),
    ).toThrow();
  });

  it("total loss: a new store recovers from the backup and a new server serves the same values", async () => {
    const before = await value("app-1", "db/generated");
    await t.server.close();
    // Everything is gone except the backup repository and the key, kept elsewhere.
    const keyCopy = join(root, "kept-key.age");
    copyFileSync(join(home, "keys", "secrets.age"), keyCopy);
    rmSync(home, { recursive: true, force: true });
    const newHome = tempHome("lab-secrets-recovered-");
    const lab = labIn(newHome);
    const r = lab(["secret", "recover", "--from", "git", bare, "--key", keyCopy]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(
      /^→ Fetching encrypted backup from .*\n→ Decrypting with master key\.\.\.\n→ Restored 5 secrets \(\d+ versions new to this store; backup [0-9a-f]{12}\)\n$/,
    );
    home = newHome;
    t = await startTestServer(home, { gitUrl: bare });
    await t.apply(FLEET);
    for (const m of ["app-1", "app-2"]) machines[m] = await t.enrol(m);
    expect(await value("app-1", "mail/relay")).toBe("relay-PLAINTEXT-7d1");
    expect(await value("app-1", "db/generated")).toBe(before);
    // Without the key, recovery refuses rather than making a new, empty store.
    const noKey = labIn(tempHome("lab-secrets-nokey-"))(["secret", "recover", "--from", "git", bare]);
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toContain("LAB_E_SECRET_KEY");
  });
});
