/**
 * `lab puppet autosign` as puppetserver runs it (certname argument, CSR on stdin, exit 0 =
 * sign), on CSRs made by the real `openssl req` the way a Puppet agent's csr_attributes.yaml
 * shapes them: the join token in challengePassword, or in Puppet's pp_preshared_key
 * extension. Local mode and a real `lab server` (with an autosign-scoped token) decide alike.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labAsyncIn, tempHome } from "../support/cli.js";
import { killAllServers, type ServerProcess, startLabServer } from "../support/server-process.js";

const work = mkdtempSync(join(tmpdir(), "lab-autosign-"));
let seq = 0;

/** A CSR from `openssl req` for CN=`cn`, carrying `token` as challengePassword or pp_preshared_key. */
function csr(cn: string, token?: string, as: "challengePassword" | "pp_preshared_key" = "challengePassword") {
  const n = seq++;
  const cfg = join(work, `req-${n}.cnf`);
  const lines = ["[req]", "prompt = no", "distinguished_name = dn"];
  if (token && as === "challengePassword") lines.push("attributes = attrs");
  if (token && as === "pp_preshared_key") lines.push("req_extensions = ext");
  lines.push("[dn]", `CN = ${cn}`);
  if (token && as === "challengePassword") lines.push("[attrs]", `challengePassword = ${token}`);
  if (token && as === "pp_preshared_key")
    lines.push("[ext]", `1.3.6.1.4.1.34380.1.1.4 = ASN1:UTF8String:${token}`);
  writeFileSync(cfg, `${lines.join("\n")}\n`);
  return execFileSync(
    "openssl",
    ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", join(work, `key-${n}.pem`), "-config", cfg],
    { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
  );
}

afterAll(async () => {
  await killAllServers();
  rmSync(work, { recursive: true, force: true });
});

describe("lab puppet autosign (local mode)", { timeout: 120_000 }, () => {
  const home = tempHome("lab-autosign-local-");
  const lab = labAsyncIn(home);
  const token = async (name: string) => {
    const r = await lab(["join-token", "create", name]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.trim();
  };

  it("signs a CSR whose challengePassword is a join token for its certname, once", async () => {
    const t = await token("web-1");
    const signed = await lab(["puppet", "autosign", "web-1.lab.internal"], csr("web-1.lab.internal", t));
    expect(signed.code, signed.stderr).toBe(0);
    expect(signed.stderr).toContain("signed: web-1.lab.internal (join token for web-1)");
    // The same token in a second CSR (a replay, or a second machine with a copied file).
    const again = await lab(["puppet", "autosign", "web-1.lab.internal"], csr("web-1.lab.internal", t));
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("LAB_E_AUTOSIGN_REFUSED");
    expect(again.stderr).toMatch(/already used at/);
  });

  it("signs with the token in Puppet's pp_preshared_key extension", async () => {
    const t = await token("db-1");
    const r = await lab(["puppet", "autosign", "db-1"], csr("db-1", t, "pp_preshared_key"));
    expect(r.code, r.stderr).toBe(0);
  });

  it.each([
    {
      name: "a token issued for another machine",
      certname: "mail-1",
      make: async () => csr("mail-1", await token("web-2")),
      reason: 'the join token is for "web-2", not "mail-1"',
    },
    {
      name: "no token at all",
      certname: "web-3",
      make: async () => csr("web-3"),
      reason: "the CSR carries no join token",
    },
    {
      name: "a CSR for another name than the certname asked about",
      certname: "web-4",
      make: async () => csr("web-5", await token("web-4")),
      reason: 'the CSR is for "web-5", not the certname "web-4"',
    },
    {
      name: "a password that is not a join token",
      certname: "web-6",
      make: async () => csr("web-6", "hunter2hunter2"),
      reason: "its challengePassword is not a Lab join token",
    },
    {
      name: "a token Lab never issued",
      certname: "web-7",
      make: async () => csr("web-7", `labj_${"A".repeat(43)}`),
      reason: "the join token is not known to this server",
    },
    {
      name: "garbage instead of a CSR",
      certname: "web-8",
      make: async () =>
        "-----BEGIN CERTIFICATE REQUEST-----\nnot base64 at all\n-----END CERTIFICATE REQUEST-----\n",
      reason: "not a PEM PKCS#10 certificate request",
    },
  ])("refuses $name (exit 1, with the reason)", async ({ certname, make, reason }) => {
    const r = await lab(["puppet", "autosign", certname], await make());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("LAB_E_AUTOSIGN_REFUSED");
    expect(r.stderr).toContain(reason);
  });

  it("refuses an expired token", async () => {
    const t = await token("web-9");
    // Backdate it in the store: a real token lives at least a minute.
    const db = new BetterSqlite3(join(home, "state.db"));
    db.prepare("UPDATE join_tokens SET expires_at = ? WHERE name = ?").run(
      "2020-01-01T00:00:00.000Z",
      "web-9",
    );
    db.close();
    const r = await lab(["puppet", "autosign", "web-9"], csr("web-9", t));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/expired at 2020-01-01/);
  });

  it("audits what it signed and what it refused", async () => {
    const r = await lab(["get", "events", "-o", "json"]);
    const events = JSON.parse(r.stdout) as { action: string; result: string; summary: string }[];
    const autosign = events.filter((e) => e.action === "puppet.autosign");
    expect(autosign.filter((e) => e.result === "ok").map((e) => e.summary)).toEqual(
      expect.arrayContaining([expect.stringContaining("signed the Puppet CSR of web-1.lab.internal")]),
    );
    expect(autosign.some((e) => e.result === "error" && e.summary.includes("mail-1"))).toBe(true);
  });
});

describe("lab puppet autosign through lab server", { timeout: 120_000 }, () => {
  let server: ServerProcess;
  let admin: ReturnType<typeof labAsyncIn>;

  beforeAll(async () => {
    const dir = tempHome("lab-autosign-server-");
    server = await startLabServer({ home: join(dir, "server") });
    admin = labAsyncIn(join(dir, "admin"), { LAB_SERVER: server.url, LAB_TOKEN: server.token as string });
  });

  const scoped = async (scope: string) => {
    const r = await admin(["token", "create", "--name", `ps-${scope}`, "--scope", scope]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout
      .trim()
      .split(/\s+/)
      .find((w) => w.startsWith("lab_")) as string;
  };

  it("an autosign-scoped token signs a CSR with its join token and is refused a reused one", async () => {
    const t = (await admin(["join-token", "create", "node-1"])).stdout.trim();
    const asPuppetserver = labAsyncIn(tempHome(), {
      LAB_SERVER: server.url,
      LAB_TOKEN: await scoped("autosign"),
    });
    const ok = await asPuppetserver(["puppet", "autosign", "node-1"], csr("node-1", t));
    expect(ok.code, ok.stderr).toBe(0);
    const replay = await asPuppetserver(["puppet", "autosign", "node-1"], csr("node-1", t));
    expect(replay.code).toBe(1);
    expect(replay.stderr).toContain("LAB_E_AUTOSIGN_REFUSED");
  });

  it("answers 403 with the reason; a puppet-scoped token may not sign", async () => {
    const autosign = await scoped("autosign");
    const refused = await server.request<{ error: { code: string; message: string } }>(
      "POST",
      "/api/v1/puppet/autosign",
      { certname: "node-2", csr: csr("node-2") },
      autosign,
    );
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("LAB_E_AUTOSIGN_REFUSED");
    const t = (await admin(["join-token", "create", "node-3"])).stdout.trim();
    const forbidden = await server.request<{ error: { code: string } }>(
      "POST",
      "/api/v1/puppet/autosign",
      { certname: "node-3", csr: csr("node-3", t) },
      await scoped("puppet"),
    );
    expect(forbidden.body.error.code).toBe("LAB_E_FORBIDDEN");
  });
});
