/**
 * The built `lab` binary: `secret set|audit|status`, `get secrets`, `show secret` in local mode,
 * and `lab secret get` on a machine, authenticated by its enrolled certificate against an
 * in-process `lab server`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labAsyncIn, labIn, tempHome } from "../support/cli.js";
import { startTestServer, type TestServer } from "../support/secrets.js";

const FLEET = `
labels:
  mailserver:
    secrets: [mail/relay-credentials, mail/dkim-key]
  postgres:
    puppet_classes: [app]
    secrets: [db/password]
secrets:
  mail/relay-credentials: { type: static }
  mail/dkim-key: { type: static }
  old/api-key: { type: static }
  db/password: { type: static }
servers:
  mail-1: { provider: xcpng, labels: [mailserver] }
  mail-2: { provider: aws, labels: [mailserver] }
  db-1: { provider: manual, labels: [postgres] }
`;

describe("lab secret (local mode)", () => {
  const home = tempHome("lab-secret-cli-");
  const modules = join(home, "modules");
  mkdirSync(join(modules, "app", "manifests"), { recursive: true });
  writeFileSync(
    join(modules, "app", "manifests", "init.pp"),
    "class app {\n  $token = @(END)\n    lab::secret('not/this')\n    | END\n  $t = lab::secret('app/api-token')\n}\n",
  );
  const lab = labIn(home, { LAB_PUPPET_MODULEPATH: modules });
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it("sets from stdin and a file, never from argv or a missing terminal", () => {
    writeFileSync(join(home, "fleet.yaml"), FLEET);
    expect(lab(["apply", "-f", join(home, "fleet.yaml")]).code).toBe(0);
    const set = lab(["secret", "set", "mail/relay-credentials", "--stdin"], "relay-pw\n");
    expect(set.stdout).toBe(
      "✓ Updated mail/relay-credentials (version 1). Accessible by: mailserver (2 servers)\n",
    );
    writeFileSync(join(home, "pw"), "db-pw");
    expect(lab(["secret", "set", "db/password", "--from-file", join(home, "pw")]).code).toBe(0);
    const noTty = lab(["secret", "set", "mail/dkim-key"], "");
    expect(noTty.code).toBe(2);
    expect(noTty.stderr).toContain("LAB_E_SECRET_VALUE");
    // A value as an argument is not an option at all.
    expect(lab(["secret", "set", "mail/dkim-key", "hunter2"]).code).toBe(2);
  });

  it("prints get secrets, show secret and audit in the design's shapes", () => {
    const get = lab(["get", "secrets"]);
    expect(get.stdout.split("\n")[0]).toMatch(/^SECRET\s+TYPE\s+USED BY\s+LAST ROTATED$/);
    expect(get.stdout).toMatch(/mail\/relay-credentials\s+static\s+mailserver \(2 srv\)\s+\d{4}-\d\d-\d\d/);
    expect(get.stdout).toMatch(/mail\/dkim-key\s+static\s+mailserver \(2 srv\)\s+never set/);
    const show = lab(["show", "secret", "mail/relay-credentials"]);
    expect(show.stdout).toContain(
      '  Label "mailserver"\n  ├── mail-1 (xcpng) last fetched: never\n  └── mail-2 (aws)',
    );
    expect(show.stdout).toMatch(/Last set: \d{4}-\d\d-\d\d by tester \(version 1\)/);
    const audit = lab(["secret", "audit"]);
    expect(audit.stdout).toContain(
      '⚠ Secret "old/api-key" is defined but not referenced by any code — orphaned?',
    );
    expect(audit.stdout).toContain(
      '⚠ Secret "mail/dkim-key" referenced by label "mailserver" but never set — empty!',
    );
    expect(audit.stdout).toContain(
      '⚠ Secret "app/api-token" referenced by class "app" but never set — empty!',
    );
    const code = lab(["show", "secret", "app/api-token"]);
    expect(code.stdout).toContain(
      `Accessible by (derived from labels and code):\n  Label "postgres" → puppet class "app" → lab::secret('app/api-token') at app/manifests/init.pp:5\n  └── db-1 (manual) last fetched: never\nNo other references found in any applied code.`,
    );
    const json = JSON.parse(lab(["secret", "audit", "-o", "json"]).stdout);
    expect(json.orphans).toEqual(["old/api-key"]);
  });
});

describe("lab secret get (on a machine)", () => {
  let home: string;
  let t: TestServer;
  let stateDir: string;
  beforeAll(async () => {
    home = tempHome("lab-secret-machine-");
    stateDir = mkdtempSync(join(tmpdir(), "lab-agent-state-"));
    t = await startTestServer(home);
    await t.apply(FLEET);
    await t.setSecret("mail/relay-credentials", "relay-pw-\u00e9\n");
    await t.setSecret("db/password", "db-pw");
    await t.enrol("mail-1", stateDir);
  });
  afterAll(async () => {
    await t.server.close();
    rmSync(home, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("prints an entitled value exactly, and refuses the rest with a code", async () => {
    const lab = labAsyncIn(mkdtempSync(join(tmpdir(), "lab-cli-")));
    const got = await lab(["secret", "get", "mail/relay-credentials", "--state-dir", stateDir]);
    expect(got.code).toBe(0);
    expect(got.stdout).toBe("relay-pw-\u00e9\n");
    const denied = await lab(["secret", "get", "db/password", "--state-dir", stateDir]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain("LAB_E_SECRET_DENIED");
    expect(denied.stderr).not.toContain("db-pw");
    const status = await lab(["secret", "status", "--state-dir", stateDir]);
    expect(status.stdout).toMatch(
      /Secret store: ✓ connected \(https:\/\/127\.0\.0\.1:\d+\); 2 entitled, 1 set/,
    );
  });
});
