/**
 * The secret store end to end, in-process: `lab server` (HTTPS API, mTLS agent port, vault),
 * machines enrolled through the real API, fetches with each machine's real certificate.
 * Policy comes from the model (labels, exclusions); default deny. Afterwards every byte Lab
 * wrote (state, vault, logs, audit events) is searched for the plaintexts.
 */
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import https from "node:https";
import { join } from "node:path";
import { isLabError } from "@lab/core";
import { ensureServerCert, loadOrCreateCa } from "@lab/identity";
import { type MachineCredentials, StoreClient } from "@lab/secrets";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempHome } from "../support/cli.js";
import { startTestServer, type TestServer } from "../support/secrets.js";

const FLEET = `
labels:
  mailserver:
    puppet_classes: [postfix]
    secrets: [mail/relay-credentials, mail/dkim-key]
  postgres:
    secrets: [db/password]
  web: {}
secrets:
  mail/relay-credentials: { type: static }
  mail/dkim-key:
    type: static
    exclude: { servers: [mail-2] }
  db/password: { type: static }
  old/api-key: { type: static }
  mail/sasl:
    type: static
    exclude: { servers: [mail-2] }
servers:
  mail-1: { provider: manual, labels: [mailserver] }
  mail-2: { provider: manual, labels: [mailserver] }
  db-1: { provider: manual, labels: [postgres] }
  web-1: { provider: manual, labels: [web] }
`;

const VALUES: Record<string, string> = {
  "mail/relay-credentials": "relay-user:Zq7-PLAINTEXT-relay-4f1",
  "mail/dkim-key": "dkim-PLAINTEXT-private-key-9b2",
  "db/password": "pg-PLAINTEXT-password-77c",
  "old/api-key": "api-PLAINTEXT-key-31d",
  "mail/sasl": "sasl-PLAINTEXT-via-code-5e0",
};

/** A module path where class postfix includes postfix::sasl, which calls lab::secret(). */
function modules(root: string): string {
  const dir = join(root, "modules");
  mkdirSync(join(dir, "postfix", "manifests"), { recursive: true });
  writeFileSync(
    join(dir, "postfix", "manifests", "init.pp"),
    "class postfix {\n  include postfix::sasl\n}\n",
  );
  writeFileSync(
    join(dir, "postfix", "manifests", "sasl.pp"),
    "# lab::secret('db/password') in a comment grants nothing\nclass postfix::sasl {\n  $c = lab::secret('mail/sasl')\n}\n",
  );
  return dir;
}

let home: string;
let t: TestServer;
const log: string[] = [];
const machines: Record<string, MachineCredentials> = {};

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "read";
  } catch (e) {
    if (isLabError(e)) return e.code;
    throw e;
  }
}

beforeAll(async () => {
  home = tempHome("lab-secrets-it-");
  t = await startTestServer(home, { log, modulePath: [modules(home)] });
  await t.apply(FLEET);
  for (const [name, value] of Object.entries(VALUES)) {
    const r = await t.setSecret(name, value);
    expect(r.status).toBe(200);
  }
  for (const m of ["mail-1", "mail-2", "db-1", "web-1"]) machines[m] = await t.enrol(m);
});

afterAll(async () => {
  await t?.server.close();
  rmSync(home, { recursive: true, force: true });
});

const client = (m: string) => new StoreClient([t.storeUrl], machines[m] as MachineCredentials);

describe("the store over mTLS", () => {
  it("gives a machine exactly what its labels entitle it to; exclusions win", async () => {
    const got = await client("mail-1").value("mail/relay-credentials");
    expect(Buffer.from(got.body.value, "base64").toString()).toBe(VALUES["mail/relay-credentials"]);
    expect(got.body.machine).toBe("mail-1");
    expect(await codeOf(client("mail-1").value("db/password"))).toBe("LAB_E_SECRET_DENIED");
    expect(await codeOf(client("mail-2").value("mail/dkim-key"))).toBe("LAB_E_SECRET_DENIED");
    expect(await codeOf(client("mail-1").value("mail/dkim-key"))).toBe("read");
    expect(await codeOf(client("web-1").value("mail/relay-credentials"))).toBe("LAB_E_SECRET_DENIED");
    // A name that does not exist is refused exactly like one that does.
    expect(await codeOf(client("web-1").value("no/such"))).toBe("LAB_E_SECRET_DENIED");
    // Granted by code: label mailserver → class postfix → include postfix::sasl → lab::secret().
    expect(await codeOf(client("mail-1").value("mail/sasl"))).toBe("read");
    expect(await codeOf(client("mail-2").value("mail/sasl"))).toBe("LAB_E_SECRET_DENIED");
    expect(await codeOf(client("db-1").value("mail/sasl"))).toBe("LAB_E_SECRET_DENIED");
    const list = await client("mail-2").entitled();
    expect(list.body.secrets.map((s) => s.name)).toEqual(["mail/relay-credentials"]);
  });

  it("gives the replica set (every ciphertext) only to secret-store machines", async () => {
    const c = machines["mail-1"] as MachineCredentials;
    const r = await new Promise<{ status: number; code: string }>((resolve, reject) => {
      const req = https.request(
        new URL("/secrets/v1/replica", t.storeUrl),
        { key: c.keyPem, cert: c.certPem, ca: c.caPem, agent: false },
        (res) => {
          let text = "";
          res.on("data", (d) => {
            text += d;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, code: JSON.parse(text).error?.code }));
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(r).toEqual({ status: 403, code: "LAB_E_SECRET_DENIED" });
  });

  it("refuses a certificate from another CA at the TLS layer", async () => {
    const other = await loadOrCreateCa(join(home, "other-ca"), "Not Lab");
    const cert = await ensureServerCert(other, join(home, "other-ca"), ["mail-1"]);
    const forged = new StoreClient([t.storeUrl], {
      keyPem: cert.keyPem,
      certPem: cert.certPem,
      caPem: machines["mail-1"]?.caPem as string,
    });
    expect(await codeOf(forged.value("mail/relay-credentials"))).toBe("LAB_E_SECRET_STORE_UNREACHABLE");
    // No certificate at all: the same.
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const none = new StoreClient([t.storeUrl], {
      keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      certPem: "",
      caPem: machines["mail-1"]?.caPem as string,
    });
    expect(await codeOf(none.value("mail/relay-credentials"))).not.toBe("read");
  });

  it("refuses replayed and forged fetches: the identity is the key that completes the handshake", async () => {
    const web = machines["web-1"] as MachineCredentials;
    const mail = machines["mail-1"] as MachineCredentials;
    const raw = (creds: { keyPem: string; certPem: string }, path: string, headers = {}) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = https.request(
          new URL(path, t.storeUrl),
          { key: creds.keyPem, cert: creds.certPem, ca: mail.caPem, headers, agent: false },
          (res) => {
            let body = "";
            res.on("data", (c) => {
              body += c;
            });
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on("error", reject);
        req.end();
      });
    const path = "/secrets/v1/values/mail%2Frelay-credentials";
    // mail-1's own certificate replayed without its private key: no handshake.
    await expect(raw({ certPem: mail.certPem, keyPem: web.keyPem }, path)).rejects.toThrow();
    // web-1's real certificate claiming to be mail-1 in every way a request can: web-1 is asked about.
    const claimed = await raw(web, `${path}?machine=mail-1`, {
      "x-lab-machine": "mail-1",
      "x-forwarded-client-cert": "Subject=CN=mail-1",
      authorization: "Bearer lab_forged",
    });
    expect(claimed.status).toBe(403);
    expect(claimed.body).toContain("LAB_E_SECRET_DENIED");
    expect(claimed.body).not.toContain(
      Buffer.from(VALUES["mail/relay-credentials"] as string).toString("base64"),
    );
    // The store only reads: a PUT with mail-1's own certificate changes nothing.
    const put = await new Promise<number>((resolve, reject) => {
      const req = https.request(
        new URL(path, t.storeUrl),
        { key: mail.keyPem, cert: mail.certPem, ca: mail.caPem, method: "PUT", agent: false },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end("forged");
    });
    expect(put).toBe(400);
    const own = JSON.parse((await raw(mail, path)).body) as { value: string };
    expect(Buffer.from(own.value, "base64").toString()).toBe(VALUES["mail/relay-credentials"]);
  });

  it("follows the model: a label removed from a server takes its secrets away", async () => {
    await t.apply(
      FLEET.replace(
        "db-1: { provider: manual, labels: [postgres] }",
        "db-1: { provider: manual, labels: [web] }",
      ),
    );
    expect(await codeOf(client("db-1").value("db/password"))).toBe("LAB_E_SECRET_DENIED");
    await t.apply(FLEET);
    expect(await codeOf(client("db-1").value("db/password"))).toBe("read");
  });

  it("reads nothing once the machine is revoked", async () => {
    expect(await codeOf(client("web-1").entitled())).toBe("read");
    const r = await t.api("POST", "/api/v1/agents/web-1/revoke", {});
    expect(r.status).toBe(200);
    expect(await codeOf(client("web-1").entitled())).not.toBe("read");
    expect(await codeOf(client("web-1").value("mail/relay-credentials"))).not.toBe("read");
  });

  it("records who fetched what, and the refusals, without a value", async () => {
    const report = await t.api<{ chains: { servers: { name: string; lastFetched: string | null }[] }[] }>(
      "GET",
      "/api/v1/secret-store/report?name=mail%2Frelay-credentials",
    );
    const servers = report.body.chains.flatMap((c) => c.servers);
    expect(servers.find((s) => s.name === "mail-1")?.lastFetched).not.toBeNull();
    const events = await t.api<{ action: string; summary: string }[]>("GET", "/api/v1/events?limit=200");
    const denied = events.body.filter((e) => e.action === "secret.denied").map((e) => e.summary);
    expect(denied.some((s) => s.startsWith("mail-2 refused mail/dkim-key"))).toBe(true);
    expect(denied.some((s) => s.startsWith("mail-1 refused mail/relay-credentials"))).toBe(false);
    expect(events.body.filter((e) => e.action === "secret.set")).toHaveLength(5);
    const sasl = await t.api<{ chains: { text: string; chain: { kind: string; line?: number }[] }[] }>(
      "GET",
      "/api/v1/secret-store/report?name=mail%2Fsasl",
    );
    expect(sasl.body.chains.map((c) => c.text)).toEqual([
      `Label "mailserver" → puppet class "postfix" → puppet class "postfix::sasl" → lab::secret('mail/sasl')`,
    ]);
    expect(sasl.body.chains[0]?.chain.at(-1)).toMatchObject({ file: "postfix/manifests/sasl.pp", line: 3 });
  });

  it("the vault's ciphertext opens with the real age CLI and the key file", async () => {
    const Database = (await import("better-sqlite3")).default;
    const db = new Database(join(home, "secrets", "vault.db"), { readonly: true });
    const row = db.prepare("select ciphertext from secret_values where path = 'db/password'").get() as {
      ciphertext: string;
    };
    db.close();
    const out = execFileSync("age", ["-d", "-i", join(home, "keys", "secrets.age")], {
      input: row.ciphertext,
    });
    expect(out.toString()).toBe(VALUES["db/password"]);
  });

  it("leaves no plaintext in anything Lab wrote: state, vault, WAL, logs, events", async () => {
    await t.server.close();
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d)) {
        const p = join(d, e);
        if (statSync(p).isDirectory()) walk(p);
        else files.push(p);
      }
    };
    walk(home);
    expect(files.some((f) => f.endsWith("state.db"))).toBe(true);
    expect(files.some((f) => f.endsWith("vault.db"))).toBe(true);
    const haystacks = [
      ...files.map((f) => ({ where: f, text: readFileSync(f) })),
      { where: "server log", text: Buffer.from(log.join("\n")) },
    ];
    for (const value of Object.values(VALUES)) {
      for (const needle of [value, Buffer.from(value).toString("base64")]) {
        const hits = haystacks.filter((h) => h.text.includes(Buffer.from(needle))).map((h) => h.where);
        expect(hits, `"${needle}" found`).toEqual([]);
      }
    }
    // Restart the server so afterAll's close is harmless.
    t = await startTestServer(home, { log, modulePath: [modules(home)] });
  });
});
