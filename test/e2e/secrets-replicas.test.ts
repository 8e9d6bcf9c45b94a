/**
 * The secret-store role as a label: two machines labelled `secret-store` run replicas inside
 * their `lab-agent` (real processes), following the store in `lab server`; a mailserver
 * machine talks only to the two replicas. Scenario 2 (store down, server up): caches serve,
 * the server reports the replicas overdue, a new value waits for a store. Scenario 1 (server
 * down, store up): machines still fetch. A replica down: the other answers. Both replicas follow changes and revocations.
 * Waits poll for a state with a hang guard; nothing asserts on timing.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killTracked, spawnTracked, type TrackedChild } from "../support/child.js";
import { labIn, ROOT, tempHome } from "../support/cli.js";
import { killAllServers, type ServerProcess, startLabServer } from "../support/server-process.js";
import { until as untilWithin } from "../support/wait.js";

/** Replicas start slower than one agent: a longer guard than the shared default. */
const until = <T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>) =>
  untilWithin(what, probe, 40_000);

const API = "127.0.0.1:17230";
const CHANNEL = "127.0.0.1:17231";
const STORES = { "store-1": "127.0.0.1:17232", "store-2": "127.0.0.1:17233" } as const;
const AGENT = join(ROOT, "dist/agent/lab-agent.cjs");
const FLEET = `
labels:
  secret-store: {}
  mailserver: { secrets: [mail/relay-credentials] }
secrets:
  mail/relay-credentials: { type: static }
  db/password: { type: static }
servers:
  store-1: { provider: manual, labels: [secret-store] }
  store-2: { provider: manual, labels: [secret-store] }
  mail-1: { provider: manual, labels: [mailserver] }
`;

let home: string;
let machines: string;
let server: ServerProcess;
const agents = new Map<string, TrackedChild>();
const state = (name: string) => join(machines, name);
const storeUrl = (s: keyof typeof STORES) => `https://${STORES[s]}`;
/** mail-1 drops its cache, then asks both replicas (in order) for its relay credentials. */
const fetchWithEmptyCache = () => {
  expect(onMail(["secret", "cache", "--wipe"]).code).toBe(0);
  return onMail([
    "secret",
    "get",
    "mail/relay-credentials",
    "--store",
    storeUrl("store-1"),
    "--store",
    storeUrl("store-2"),
  ]);
};
const onMail = (args: string[]) =>
  labIn(tempHome("lab-workload-"))([...args, "--state-dir", state("mail-1")]);

function startAgent(name: string, token: string, extra: string[]): TrackedChild {
  const a = spawnTracked(process.execPath, [
    AGENT,
    "--server",
    `https://${API}`,
    "--ca-file",
    join(home, "server", "ca.crt"),
    "--join-token",
    token,
    "--state-dir",
    state(name),
    "--name",
    name,
    "--host-key-dir",
    join(machines, "no-ssh"),
    "--backoff-max",
    "1s",
    ...extra,
  ]);
  agents.set(name, a);
  return a;
}

const token = async (name: string) =>
  (await server.request<{ token: string }>("POST", "/api/v1/join-tokens", { name })).body.token;

beforeAll(async () => {
  if (!existsSync(AGENT)) throw new Error(`${AGENT} is missing: run npm run build`);
  home = tempHome("lab-replicas-");
  machines = tempHome("lab-replicas-machines-");
  const lab = labIn(home);
  expect(lab(["apply", "-f", "-"], FLEET).code).toBe(0);
  expect(lab(["secret", "set", "mail/relay-credentials", "--stdin"], "relay-v1").code).toBe(0);
  expect(lab(["secret", "set", "db/password", "--stdin"], "db-v1").code).toBe(0);
  server = await startLabServer({ home, tls: true, args: ["--listen", API, "--agent-listen", CHANNEL] });
  // The store key reaches store nodes out of band (here: the same file).
  const key = join(home, "keys", "secrets.age");
  for (const s of ["store-1", "store-2"] as const) {
    startAgent(s, await token(s), [
      "--secret-store-listen",
      STORES[s],
      "--secret-store-key",
      key,
      "--secret-store-sync",
      "300ms",
    ]);
  }
  for (const s of ["store-1", "store-2"]) {
    await until(`${s} serving`, () => agents.get(s)?.output().includes("secret store: serving"));
  }
  startAgent("mail-1", await token("mail-1"), [
    "--secret-store",
    storeUrl("store-1"),
    "--secret-store",
    storeUrl("store-2"),
    "--secrets-refresh",
    "300ms",
    "--secrets-dir",
    join(machines, "mail-1-run"),
  ]);
}, 120_000);

afterAll(async () => {
  for (const a of agents.values()) await a.stop();
  await killTracked();
  await killAllServers();
  rmSync(home, { recursive: true, force: true });
  rmSync(machines, { recursive: true, force: true });
});

describe("secret-store replicas inside lab agent", () => {
  it("a machine gets its secrets from the replicas, and only its own", async () => {
    const file = join(machines, "mail-1-run", "mail", "relay-credentials");
    await until(
      "delivery through a replica",
      () => existsSync(file) && readFileSync(file, "utf8") === "relay-v1",
    );
    for (const s of ["store-1", "store-2"] as const) {
      expect(onMail(["secret", "get", "mail/relay-credentials", "--store", storeUrl(s)]).stdout).toBe(
        "relay-v1",
      );
      const denied = onMail(["secret", "get", "db/password", "--store", storeUrl(s)]);
      expect(denied.stderr).toContain("LAB_E_SECRET_DENIED");
    }
    // The replica reports what it served.
    const r = onMail(["secret", "status", "--store", storeUrl("store-1")]);
    expect(r.stdout).toMatch(/Secret store: ✓ connected \(https:\/\/127\.0\.0\.1:17232\); 1 entitled, 1 set/);
  });

  it("both replicas follow a new value", async () => {
    expect(labIn(home)(["secret", "set", "mail/relay-credentials", "--stdin"], "relay-v2").code).toBe(0);
    for (const s of ["store-1", "store-2"] as const) {
      await until(
        `${s} has relay-v2`,
        () =>
          onMail(["secret", "get", "mail/relay-credentials", "--store", storeUrl(s)]).stdout === "relay-v2",
      );
    }
  });

  it("2: store down, server up — caches serve, the server says ⚠ secret-store unreachable, a new value waits for a store", async () => {
    const admin = labIn(home, {
      LAB_SERVER: `https://${API}`,
      LAB_TOKEN: server.token as string,
      LAB_CA_FILE: join(home, "server", "ca.crt"),
    });
    const status = () => admin(["secret", "status"]).stdout;
    expect(status()).toMatch(/Secret store: ✓ connected \(2 replicas: store-1, store-2\)/);
    expect(status()).toMatch(/Lab-server: {3}✓ connected \(https:\/\/127\.0\.0\.1:17230\)/);
    for (const s of ["store-1", "store-2"]) await agents.get(s)?.stop();
    await until("the server to see both replicas stop following", () =>
      /Secret store: ⚠ secret-store unreachable: store-1 last sync .*; store-2 last sync/.test(status()),
    );
    // Lifecycle still goes through the server.
    expect(admin(["apply", "-f", "-"], `${FLEET}  web-1: { provider: manual }\n`).code).toBe(0);
    expect(admin(["secret", "set", "mail/relay-credentials", "--stdin"], "relay-v3").code).toBe(0);
    expect(status()).toMatch(
      /store-1 last sync \S+ ago, 1 change not on it; store-2 last sync \S+ ago, 1 change not on it/,
    );
    // The machine talks only to stores: it keeps its cached value and cannot reach a store.
    expect(onMail(["secret", "get", "mail/relay-credentials"]).stdout).toBe("relay-v2");
    expect(readFileSync(join(machines, "mail-1-run", "mail", "relay-credentials"), "utf8")).toBe("relay-v2");
    const offline = onMail([
      "secret",
      "status",
      "--store",
      storeUrl("store-1"),
      "--store",
      storeUrl("store-2"),
    ]);
    expect(offline.stdout).toMatch(/Secret store: ⚠ unreachable \(LAB_E_SECRET_STORE_UNREACHABLE/);
    // The stores come back, catch up, and the machine follows.
    const key = join(home, "keys", "secrets.age");
    for (const s of ["store-1", "store-2"] as const) {
      startAgent(s, "unused-once-enrolled", [
        "--secret-store-listen",
        STORES[s],
        "--secret-store-key",
        key,
        "--secret-store-sync",
        "300ms",
      ]);
    }
    await until("mail-1 to get relay-v3 through a store", () =>
      readFileSync(join(machines, "mail-1-run", "mail", "relay-credentials"), "utf8") === "relay-v3"
        ? true
        : undefined,
    );
    await until("the server to see both replicas again", () =>
      /Secret store: ✓ connected \(2 replicas: store-1, store-2\)/.test(status()),
    );
  });

  it("1: lab server down, store up — a machine with an empty cache still fetches", async () => {
    server.kill("SIGKILL");
    await server.exited;
    expect(fetchWithEmptyCache().stdout).toBe("relay-v3");
  });

  it("one replica down: the other answers", async () => {
    await agents.get("store-1")?.stop();
    expect(fetchWithEmptyCache().stdout).toBe("relay-v3");
  });

  it("a revocation reaches the replica with its next sync", async () => {
    server = await startLabServer({ home, tls: true, args: ["--listen", API, "--agent-listen", CHANNEL] });
    expect((await server.request("POST", "/api/v1/agents/mail-1/revoke", {})).status).toBe(200);
    await until("store-2 refuses mail-1", () => {
      const r = onMail(["secret", "get", "mail/relay-credentials", "--store", storeUrl("store-2")]);
      return r.code !== 0 && !r.stdout;
    });
  });
});
