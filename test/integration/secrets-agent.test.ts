/**
 * The agent's side, with the real `lab-agent` bundle enrolling against an in-process server:
 * the encrypted cache (0600, opens only with the agent's key), delivery as an env file and as
 * files, a new value reaching the machine, a lost entitlement removing the file, stale cache
 * served when no store answers, and everything wiped when the machine is revoked.
 * Waits poll for a state with a hang guard; nothing asserts on timing.
 */
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { generatePrivateKey } from "@lab/agent";
import { isLabError } from "@lab/core";
import { cacheFile, SecretCache } from "@lab/secrets";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killTracked, spawnTracked, type TrackedChild } from "../support/child.js";
import { labAsyncIn, ROOT, tempHome } from "../support/cli.js";
import { startTestServer, type TestServer } from "../support/secrets.js";
import { until } from "../support/wait.js";

const FLEET = (labels: string) => `
labels:
  mailserver: { secrets: [mail/relay-credentials, mail/dkim-key] }
  web: {}
secrets:
  mail/relay-credentials: { type: static }
  mail/dkim-key: { type: static }
servers:
  mail-1: { provider: manual, labels: [${labels}] }
`;

const AGENT = join(ROOT, "dist/agent/lab-agent.cjs");

let home: string;
let t: TestServer;
let agent: TrackedChild;
const state = () => join(home, "agent");
const envFile = () => join(home, "run", "secrets.env");
const filesDir = () => join(home, "run", "secrets");

beforeAll(async () => {
  if (!existsSync(AGENT)) throw new Error(`${AGENT} is missing: run npm run build`);
  home = tempHome("lab-secrets-agent-");
  t = await startTestServer(home);
  await t.apply(FLEET("mailserver"));
  await t.setSecret("mail/relay-credentials", "relay-v1");
  await t.setSecret("mail/dkim-key", 'dkim-$HOME-"q"\nline2');
  const jt = await t.api<{ token: string }>("POST", "/api/v1/join-tokens", { name: "mail-1" });
  agent = spawnTracked(process.execPath, [
    AGENT,
    "--server",
    t.server.url,
    "--ca-file",
    t.server.caPath as string,
    "--join-token",
    jt.body.token,
    "--state-dir",
    state(),
    "--name",
    "mail-1",
    "--host-key-dir",
    join(home, "no-ssh"),
    "--secrets-refresh",
    "200ms",
    "--secrets-env-file",
    envFile(),
    "--secrets-dir",
    filesDir(),
  ]);
});

afterAll(async () => {
  await agent?.stop();
  await killTracked();
  await t?.server.close();
  rmSync(home, { recursive: true, force: true });
});

describe("the agent's secret cache and delivery", () => {
  it("caches what the machine may read, encrypted, 0600, and delivers it as env file and files", async () => {
    await until("the delivered files", () => existsSync(join(filesDir(), "mail", "dkim-key")));
    expect(readFileSync(join(filesDir(), "mail", "relay-credentials"), "utf8")).toBe("relay-v1");
    expect(readFileSync(join(filesDir(), "mail", "dkim-key"), "utf8")).toBe('dkim-$HOME-"q"\nline2');
    expect(readFileSync(envFile(), "utf8")).toBe(
      'LAB_SECRET_MAIL_RELAY_CREDENTIALS="relay-v1"\nLAB_SECRET_MAIL_DKIM_KEY="dkim-\\$HOME-\\"q\\"\\nline2"\n',
    );
    const file = cacheFile(state());
    for (const f of [file, envFile(), join(filesDir(), "mail", "relay-credentials")]) {
      expect(statSync(f).mode & 0o777, f).toBe(0o600);
    }
    const raw = readFileSync(file);
    expect(raw.includes(Buffer.from("relay-v1"))).toBe(false);
    // It opens with the agent's key, and with no other.
    const key = readFileSync(join(state(), "key.pem"), "utf8");
    expect(new SecretCache(file, key).read("mail-1").entries.map((e) => e.name)).toEqual([
      "mail/relay-credentials",
      "mail/dkim-key",
    ]);
    let code = "";
    try {
      new SecretCache(file, generatePrivateKey()).read("mail-1");
    } catch (e) {
      code = isLabError(e) ? e.code : String(e);
    }
    expect(code).toBe("LAB_E_SECRET_CACHE");
  });

  it("picks up a new value, and drops a secret the machine lost", async () => {
    await t.setSecret("mail/relay-credentials", "relay-v2");
    await until(
      "the new value",
      () => readFileSync(join(filesDir(), "mail", "relay-credentials"), "utf8") === "relay-v2",
    );
    await t.apply(FLEET("web"));
    await until("the lost secret removed", () => !existsSync(join(filesDir(), "mail", "relay-credentials")));
    expect(readFileSync(envFile(), "utf8")).toBe("");
    await t.apply(FLEET("mailserver"));
    await until("the secret back", () => existsSync(join(filesDir(), "mail", "relay-credentials")));
  });

  it("lab secret get and cache on the machine; a stale copy when no store answers", async () => {
    const lab = labAsyncIn(tempHome("lab-cli-"));
    const get = await lab(["secret", "get", "mail/relay-credentials", "--state-dir", state()]);
    expect(get.stdout).toBe("relay-v2");
    const cache = await lab(["secret", "cache", "--state-dir", state()]);
    expect(cache.stdout).toMatch(
      /^LOCAL CACHE:\nSECRET\s+CACHED\s+TTL\s+STATUS\nmail\/relay-credentials\s+✓\s+no expiry\s+fresh\n/,
    );
    // A store that does not answer (nothing listens there): the cached copy still serves.
    const offline = await lab([
      "secret",
      "status",
      "--state-dir",
      state(),
      "--store",
      "https://127.0.0.1:17299",
    ]);
    expect(offline.stdout).toMatch(/Local cache: {2}✓ 2 secrets cached, encrypted, 2 fresh/);
    expect(offline.stdout).toMatch(/Secret store: ⚠ unreachable \(LAB_E_SECRET_STORE_UNREACHABLE/);
  });

  it("wipes the cache and the delivered secrets when the machine is revoked", async () => {
    const r = await t.api("POST", "/api/v1/agents/mail-1/revoke", {});
    expect(r.status).toBe(200);
    await agent.exited;
    expect(agent.child.exitCode).toBe(78);
    expect(existsSync(cacheFile(state()))).toBe(false);
    expect(existsSync(join(filesDir(), "mail", "relay-credentials"))).toBe(false);
    expect(readFileSync(envFile(), "utf8")).toBe("");
    expect(agent.output()).toContain("revoked: the secret cache and delivered secrets were wiped");
  });
});
