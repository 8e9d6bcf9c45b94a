/**
 * `lab onboard` is the apply pipeline (design principle 3: render, plan, apply, enrol): it
 * prints the plan `lab plan server` prints, asks once, and applies through the same code as
 * `lab apply server` — so a machine onboarded and one applied end with the same model object,
 * the same audit trail and the same SYNC pillar. Local mode, bare metal: the machine's side of
 * the install is the same Provisioner calls lab server's boot routes make when a machine
 * network-boots and its installer reports (no QEMU here; pxe-boot.test.ts boots a real one).
 * SSH: a real second host (Debian sshd in its own network namespace, test/support/ssh-host.ts),
 * adopted by the onboarding as `lab apply server` adopts it.
 */
import { join } from "node:path";
import { loadPxeSecret, Provisioner, Timeline } from "@lab/pxe";
import { openSqliteStore } from "@lab/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labAsyncIn, labIn, ROOT, tempHome } from "../support/cli.js";
import { startTestHost, type TestHost } from "../support/ssh-host.js";
import { startTerminal, type Terminal } from "../support/tmux.js";
import { until } from "../support/wait.js";

const BIN = join(ROOT, "bin/lab.js");
let home: string;
let lab: ReturnType<typeof labIn>;
const terminals: Terminal[] = [];

interface Event {
  action: string;
  result: string;
  summary: string;
  changes: { op: string; kind: string; name: string }[];
  subjects: string[];
}

const json = <T>(s: string): T => JSON.parse(s) as T;
const events = () => json<Event[]>(lab(["get", "events", "-o", "json"]).stdout);
/** One server's audit trail, with its name taken out so two servers' trails compare. */
const trail = (name: string) =>
  events()
    .filter((e) => e.subjects.includes(`server/${name}`))
    .map((e) => ({
      action: e.action,
      result: e.result,
      summary: e.summary.replaceAll(name, "NAME").replace(/\(([0-9a-f]{2}:){5}[0-9a-f]{2}\)/, "(MAC)"),
      changes: e.changes.map((c) => ({ ...c, name: c.name.replace(name, "NAME") })),
    }));

beforeAll(() => {
  home = tempHome("lab-onboard-pipeline-");
  lab = labIn(home);
  expect(lab(["init", "--local"]).code).toBe(0);
  // A label without a size: what is compared is the machine's state, not its hardware.
  expect(lab(["apply", "-f", "-"], "labels:\n  rack: {}\n").code).toBe(0);
});

afterAll(() => {
  for (const t of terminals) t.kill();
});

/** Plays the machine: network-boots (dispatch hands it its install token) and reports each stage. */
async function install(mac: string): Promise<void> {
  const store = await openSqliteStore(join(home, "state.db"));
  const timeline = new Timeline(store.db);
  const p = new Provisioner({ db: store.db, store, timeline, secret: loadPxeSecret(join(home, "server")) });
  try {
    await until(
      `${mac} queued`,
      async () => (await p.find(mac).catch(() => null))?.state === "INSTALL_QUEUE",
    );
    const decision = await p.dispatch(mac);
    expect(decision.action).toBe("install");
    const token = (decision as { token: string }).token;
    for (const stage of ["booted", "partitioning", "installing", "configuring", "complete"])
      await p.progress({ mac, stage, status: "ok" }, token);
    await timeline.flush();
  } finally {
    await timeline.close();
    await store.close();
  }
}

describe("lab onboard is lab apply server's plan and apply", () => {
  it('asks once after the plan; "N" changes nothing', async () => {
    const before = events().length;
    const t = startTerminal(
      [
        process.execPath,
        BIN,
        "onboard",
        "no-1",
        "--provider",
        "baremetal",
        "--mac",
        "52:54:00:0b:00:09",
        "--labels",
        "rack",
      ],
      {
        columns: 120,
        rows: 50,
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, LAB_HOME: home, LAB_ACTOR: "tester" },
      },
    );
    terminals.push(t);
    const asked = await t.waitFor("Proceed? [y/N]:");
    expect(asked).toContain("Plan for server no-1 (provider baremetal):");
    expect(asked).toContain("+ register 52:54:00:0b:00:09 as no-1 and queue the install of ubuntu-24.04");
    expect(asked.indexOf("Step 2: Plan")).toBeLessThan(asked.indexOf("Proceed?"));
    t.type("N");
    t.keys("Enter");
    const refused = await t.waitFor("LAB_E_NOT_CONFIRMED");
    expect(refused).toContain("not confirmed: nothing was changed");
    expect(refused).not.toContain("Step 3: Apply");
    // One question for the whole onboarding.
    expect(refused.split("Proceed?").length).toBe(2);
    expect(json<unknown[]>(lab(["get", "servers", "-o", "json"]).stdout)).toEqual([]);
    expect(json<unknown[]>(lab(["provision", "list", "-o", "json"]).stdout)).toEqual([]);
    expect(events().length).toBe(before);
  });

  it("prints lab plan server's plan, and ends as lab apply server ends: model, audit, SYNC", async () => {
    const draft = (mac: string) => ["--provider", "baremetal", "--mac", mac, "--image", "ubuntu-24.04"];
    const planned = lab(["plan", "server", "ob-1", ...draft("52:54:00:0b:00:01"), "--label", "rack"]);
    expect(planned.code, planned.stderr).toBe(0);
    expect(planned.stdout).toContain("Plan for server ob-1 (provider baremetal):");

    const run = labAsyncIn(home);
    const [onboarded] = await Promise.all([
      run(["onboard", "ob-1", ...draft("52:54:00:0b:00:01"), "--labels", "rack", "--yes"]),
      install("52:54:00:0b:00:01"),
    ]);
    expect(onboarded.code, `${onboarded.stdout}\n${onboarded.stderr}`).toBe(0);
    const [applied] = await Promise.all([
      run(["apply", "server", "ap-1", ...draft("52:54:00:0b:00:02"), "--label", "rack", "--yes"]),
      install("52:54:00:0b:00:02"),
    ]);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);

    const out = onboarded.stdout;
    // The plan, byte for byte as lab plan server printed it, then Apply, then the install followed.
    expect(out).toContain(planned.stdout);
    const order = ["Step 1: Render", "Step 2: Plan", "Step 3: Apply", "Step 4: Install and enrol"];
    expect(order.map((s) => out.indexOf(s))).toEqual(
      [...order.map((s) => out.indexOf(s))].sort((a, b) => a - b),
    );
    expect(out).toContain("→ server ob-1 created in the model");
    expect(out).toContain("→ baremetal: ob-1 (52:54:00:0b:00:01) queued for ubuntu-24.04");
    expect(out).toContain("✓ ob-1 installed (ubuntu-24.04)");
    expect(out).toContain("✓ ob-1: in sync (provider baremetal, INSTALLED ubuntu-24.04");
    expect(applied.stdout).toContain("✓ ap-1: in sync (provider baremetal, INSTALLED ubuntu-24.04");

    // The same model object (but its MAC), written by the same apply.
    const servers = json<{ name: string; mac: string; status: { sync: unknown } }[]>(
      lab(["get", "servers", "-o", "json"]).stdout,
    );
    const ob = servers.find((s) => s.name === "ob-1");
    const ap = servers.find((s) => s.name === "ap-1");
    expect(ob && { ...ob, name: "NAME", mac: "MAC" }).toEqual(ap && { ...ap, name: "NAME", mac: "MAC" });
    // The SYNC pillar: what the provider reported after the install, the same for both.
    expect(ob?.status.sync).toEqual({ state: "ok", text: "sync" });
    // The same audit trail: apply (model), enlist, install start and end.
    const obTrail = trail("ob-1");
    expect(obTrail.map((e) => e.action)).toContain("apply");
    expect(obTrail).toEqual(trail("ap-1"));
  }, 120_000);
});

describe("lab onboard --provider ssh --no-agent (local mode) adopts as lab apply server does", () => {
  let host: TestHost;
  beforeAll(async () => {
    host = await startTestHost({ prefix: "lop" });
  }, 300_000);
  afterAll(async () => {
    await host?.stop();
  });

  it("plans the adoption, pins the host key it saw, and leaves lab plan server nothing to do", async () => {
    const r = await labAsyncIn(home)([
      "onboard",
      "nuc-1",
      "--provider",
      "ssh",
      "--host",
      host.ip,
      "--identity-file",
      host.identityFile,
      "--labels",
      "rack",
      "--no-agent",
      "--yes",
    ]);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain(`Host key: ${host.hostKeyFingerprint}`);
    expect(r.stdout).toContain(
      `+ adopt root@${host.ip}:22 as nuc-1: pin host key ${host.hostKeyFingerprint}`,
    );
    expect(r.stdout).toContain(`→ ssh: adopted nuc-1: host key ${host.hostKeyFingerprint} pinned`);
    expect(r.stdout).toContain("✓ nuc-1: in sync (provider ssh, Debian GNU/Linux 12 over SSH, adopted)");
    expect(r.stdout).not.toContain("Install lab agent binary");
    // The model's server is the draft the flags made, with how the provider reaches it.
    const described = lab(["describe", "server", "nuc-1", "-o", "json"]);
    expect(described.code, described.stderr).toBe(0);
    expect(json<{ spec: unknown }>(described.stdout).spec).toMatchObject({
      provider: "ssh",
      host: host.ip,
      labels: ["rack"],
      attributes: { ssh_user: "root", ssh_host_key: host.hostKeyFingerprint },
    });
    // Adopted: planning it again (with the same key) finds nothing to do.
    const again = await labAsyncIn(home, { LAB_SSH_IDENTITY_FILE: host.identityFile })([
      "plan",
      "server",
      "nuc-1",
    ]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain("Nothing to do: the provider reports what the spec asks for.");
    expect(trail("nuc-1").map((e) => e.action)).toEqual(["apply"]);
  }, 120_000);

  it("refuses to adopt a machine whose host key is not the one onboarding saw", async () => {
    // What lab server does when another key answers there than the one Step 1 showed.
    const other = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const declared = lab(
      ["apply", "-f", "-"],
      `servers:\n  nuc-2:\n    provider: ssh\n    host: ${host.ip}\n    attributes: { ssh_host_key: "${other}" }\n`,
    );
    expect(declared.code, declared.stderr).toBe(0);
    const r = await labAsyncIn(home, { LAB_SSH_IDENTITY_FILE: host.identityFile })([
      "apply",
      "server",
      "nuc-2",
      "--yes",
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("LAB_E_SSH_HOST_KEY");
    expect(r.stderr).toContain("attributes.ssh_host_key, the key lab onboard saw");
    expect(r.stdout).not.toContain("adopted nuc-2");
  }, 120_000);
});
