/** The CLI as a new user meets it: the built binary, a fresh LAB_HOME, the homelab example. */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { labAsyncIn as labIn, ROOT, tempHome } from "../support/cli.js";

const EXAMPLE = "examples/homelab";

describe("a fresh LAB_HOME with the homelab applied", () => {
  const home = tempHome();
  const lab = labIn(home);
  beforeAll(async () => {
    expect((await lab(["init", "--local"])).code).toBe(0);
    const applied = await lab(["apply", "-f", EXAMPLE]);
    expect(applied.stderr).toBe("");
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/Applied: 58 created, 0 configured, 0 deleted, 0 unchanged \(event #1\)/);
  });

  it("lists servers in a table that fits 100 columns, with unobserved pillars as —", async () => {
    const r = await lab(["get", "servers"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^NAME\s+PROVIDER\s+LABELS\s+SIZE\s+SYNC\s+PUPPET\s+HEALTH\s+IDENTITY$/);
    expect(lines).toHaveLength(18);
    for (const line of lines) expect([...line].length).toBeLessThanOrEqual(100);
    expect(lines[1]).toMatch(/^api-1\s+aws\s+app,production,eu-west\s+medium\s+—\s+—\s+—\s+—$/);
    // No colour or symbols when not on a terminal.
    expect(r.stdout).not.toContain("✓");
    expect(r.stdout).not.toContain("\u001b[");
  });

  it("prints the show server contract as JSON", async () => {
    const r = await lab(["show", "server", "worker-5", "-o", "json"]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(Object.keys(s)).toEqual([
      "name",
      "provider",
      "environment",
      "region",
      "labels",
      "groups",
      "size",
      "classes",
      "ports",
      "alerts",
      "secrets",
      "excludedFrom",
      "conflicts",
    ]);
    expect(s.classes).toHaveLength(6);
    expect(s.size).toEqual({ name: "large", from: [{ kind: "label", name: "k8s-worker" }] });
    expect(s.alerts.find((a: { name: string }) => a.name === "cpu_threshold")).toEqual({
      name: "cpu_threshold",
      severity: "warning",
      from: [{ kind: "auto", name: "size", reason: "from size: large" }],
    });
  });

  it("draws the show server tree of the design document", async () => {
    const r = await lab(["show", "server", "worker-5"]);
    expect(r.stdout).toContain(
      [
        "Puppet Classes (6):",
        "  FROM LABEL k8s-worker:",
        "  ├── kubernetes::worker",
        "  ├── containerd",
        "  └── node_exporter",
        "  FROM LABEL production:",
        "  ├── base::hardening",
        "  └── base::monitoring",
        "  FROM LABEL eu-west:",
        "  └── base::ntp_eu",
      ].join("\n"),
    );
    expect(r.stdout).toContain("  AUTO-GENERATED:\n  ├── cpu_threshold (from size: large)");
  });

  it("shows an alert's exclusions and a group's excluded servers", async () => {
    const alert = await lab(["show", "alert", "memory_pressure"]);
    expect(alert.stdout).toContain('Excluded:\n└── server "batch-worker-1" (explicitly excluded)');
    expect(alert.stdout).toMatch(/Target: label "k8s-worker"/);
    const group = await lab(["show", "group", "eu-infrastructure"]);
    expect(group.stdout).toContain("Contains: 3 subgroups, 8 servers (2 excluded)");
    expect(group.stdout).toContain("├── test-box-1 (by name)");
    expect(group.stdout).toContain('└── 1 server with label "experimental": worker-9');
    const batch = await lab(["show", "server", "batch-worker-1"]);
    expect(batch.stdout).toContain('Excluded From:\n└── alert "memory_pressure" (explicitly excluded)');
  });

  it("shows labels and secrets, and the reverse query", async () => {
    const label = await lab(["show", "label", "mailserver"]);
    expect(label.stdout).toContain("Applied to: 2 servers");
    expect(label.stdout).toContain("Puppet Classes: postfix, dovecot, spamassassin, fail2ban");
    const secret = await lab(["show", "secret", "k8s/join-token", "-o", "json"]);
    expect(JSON.parse(secret.stdout).labels).toEqual(["k8s-worker", "k8s-server"]);
    const targets = await lab(["targets", "server", "db-1"]);
    expect(targets.stdout).toContain("Everything targeting db-1:");
    expect(targets.stdout).toContain(
      "├── postgres_replication_lag (from label: postgres, class postgresql::server)",
    );
    expect(targets.stdout).toContain("├── disk_space_low (from group: production)");
    expect(targets.stdout).toContain("├── storage_iops (from group: eu-west-storage)");
  });

  it("filters every get the same way", async () => {
    const names = async (args: string[]) =>
      JSON.parse((await lab(["get", "servers", "-o", "json", ...args])).stdout).map(
        (s: { name: string }) => s.name,
      );
    expect(await names(["-l", "mailserver"])).toEqual(["mail-1", "mail-2"]);
    expect(
      await names(["--label", "k8s-worker", "--environment", "prod", "--exclude", "worker-6,batch-worker-1"]),
    ).toEqual(["worker-5", "legacy-node-3", "beelink-ser9-max"]);
    expect(await names(["--group", "database-tier"])).toEqual(["db-1", "db-2", "db-3"]);
    expect(await names(["--region", "home"])).toEqual(["dgx-spark", "beelink-ser9-max"]);
    const alerts = JSON.parse((await lab(["get", "alerts", "-l", "mailserver", "-o", "json"])).stdout);
    expect(alerts.find((a: { name: string }) => a.name === "mail_queue_critical").servers).toBe(2);
    expect(alerts.map((a: { name: string }) => a.name)).not.toContain("gpu_temperature");
  });

  it("lists every kind in table, wide, json and yaml", async () => {
    for (const kind of ["servers", "labels", "groups", "alerts", "secrets", "sizes", "events"]) {
      for (const format of ["table", "wide"]) {
        const r = await lab(["get", kind, "-o", format]);
        expect(r.code, `${kind} ${format}: ${r.stderr}`).toBe(0);
        for (const line of r.stdout.split("\n")) expect([...line].length).toBeLessThanOrEqual(100);
      }
      const json = JSON.parse((await lab(["get", kind, "-o", "json"])).stdout);
      const yaml = parseYaml((await lab(["get", kind, "-o", "yaml"])).stdout);
      expect(yaml).toEqual(json);
      expect(json.length).toBeGreaterThan(0);
    }
    // 28 processes one after another: room for a machine busy with the QEMU suites.
  }, 180_000);

  it("describes a server from the same pillars as get servers, and diff asks its provider", async () => {
    const d = await lab(["describe", "server", "db-1"]);
    expect(d.stdout).toContain("Size: large (8 cores, 32GB, 500GB NVMe) — from label: postgres");
    expect(d.stdout).toContain("Defined at: examples/homelab/servers.yaml:");
    // Every pillar says what it rests on; nothing invented ("unknown", "not enrolled", ✓).
    expect(d.stdout).toContain(
      [
        "Status:",
        '  Sync: — (never compared with provider "baremetal": `lab diff server db-1` compares it)',
        "  Puppet: — (no Puppet run report received yet)",
        "  Health: — (no health source has reported on this server)",
        "  Identity: — (no agent has enrolled as this server)",
      ].join("\n"),
    );
    expect(d.stdout).toContain("  Last run: — (no Puppet run report received yet)\n");
    expect(d.stdout).not.toMatch(/unknown|not enrolled|✓/);
    // diff asks the baremetal provider (the provisioner's record): no machine with db-1's MAC has
    // booted here, which is an observation, never "no drift" — and it becomes the SYNC pillar.
    const diff = await lab(["diff", "server", "db-1"]);
    expect(diff.code, diff.stderr).toBe(0);
    expect(diff.stdout).toBe("- db-1: provider baremetal has no such resource\n");
    const after = await lab(["describe", "server", "db-1"]);
    expect(after.stdout).toMatch(/ {2}Sync: .*absent/);
  });

  it("re-applying changes nothing and records no event", async () => {
    const again = await lab(["apply", "-f", EXAMPLE]);
    expect(again.stdout).toBe("No changes (58 unchanged)\n");
    const events = JSON.parse((await lab(["get", "events", "-o", "json"])).stdout);
    // The first apply, and the diff above finding db-1 absent at its provider; nothing since.
    expect(events.map((e: { action: string }) => e.action)).toEqual(["apply", "drift"]);
    expect(events[0]).toMatchObject({ id: 1, actor: "tester", action: "apply", result: "ok" });
  });
});

describe("changing the model", () => {
  it("dry-run writes nothing, apply updates field by field, prune deletes", async () => {
    const home = tempHome();
    const lab = labIn(home);
    const dir = join(home, "inv");
    mkdirSync(dir);
    writeFileSync(join(dir, "a.yaml"), "labels:\n  web: {puppet_classes: [nginx]}\n  db: {}\n");
    expect((await lab(["apply", "-f", dir])).code).toBe(0);

    writeFileSync(join(dir, "a.yaml"), "labels:\n  web: {puppet_classes: [nginx, php]}\n  cache: {}\n");
    const dry = await lab(["apply", "-f", dir, "--dry-run", "--prune"]);
    expect(dry.stdout).toBe(
      [
        "~ label/web would configure (puppet_classes)",
        "+ label/cache would create",
        "- label/db would delete",
        "Dry run: 1 created, 1 configured, 1 deleted, 0 unchanged; nothing was written",
        "",
      ].join("\n"),
    );
    expect(
      JSON.parse((await lab(["get", "labels", "-o", "json"])).stdout).map((l: { name: string }) => l.name),
    ).toEqual(["web", "db"]);

    const kept = await lab(["apply", "-f", dir]);
    expect(kept.stdout).toContain("label/web configured (puppet_classes)");
    expect((await lab(["get", "labels", "-o", "json"])).stdout).toContain('"db"');

    const pruned = await lab(["apply", "-f", dir, "--prune"]);
    expect(pruned.stdout).toContain("label/db deleted");
    const events = JSON.parse((await lab(["get", "events", "-o", "json"])).stdout);
    expect(events.map((e: { summary: string }) => e.summary)).toEqual([
      "2 created, 0 updated, 0 deleted, 0 unchanged",
      "1 created, 1 updated, 0 deleted, 0 unchanged",
      "0 created, 0 updated, 1 deleted, 2 unchanged",
    ]);
  });

  it("delete refuses an object still in use, and removes one that is not", async () => {
    const home = tempHome();
    const lab = labIn(home);
    await lab(
      ["apply", "-f", "-"],
      "labels: {web: {}, spare: {}}\nservers: {s1: {provider: p, labels: [web]}}\n",
    );
    const refused = await lab(["delete", "label", "web"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('error LAB_E_REF_LABEL: server "s1" refers to label "web"');
    expect(refused.stderr).toContain('LAB_E_CONFLICT: cannot delete label "web"');
    const ok = await lab(["delete", "label", "spare"]);
    expect(ok.stdout).toBe("label/spare deleted\n");
    const missing = await lab(["delete", "label", "spare"]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('LAB_E_NOT_FOUND: label "spare" not found');
  });
});

describe("bad input gets a located error and changes nothing", () => {
  const home = tempHome();
  const lab = labIn(home);
  const snapshot = async () =>
    (await lab(["get", "servers", "-o", "json"])).stdout +
    (await lab(["get", "labels", "-o", "json"])).stdout;
  beforeAll(async () => {
    expect((await lab(["apply", "-f", EXAMPLE])).code).toBe(0);
  });

  const cases: { name: string; yaml: string; expected: RegExp[] }[] = [
    {
      name: "YAML syntax",
      yaml: "servers:\n  x: {provider: aws\n",
      expected: [/^bad\.yaml:\d+:\d+: error LAB_E_YAML_SYNTAX/m],
    },
    {
      name: "a wrong type",
      yaml: "servers:\n  x:\n    provider: aws\n    labels: app\n",
      expected: [/^bad\.yaml:4:13: error LAB_E_SCHEMA_TYPE: servers\.x\.labels: expected a list of names/m],
    },
    {
      name: "an unknown key",
      yaml: "servers:\n  x:\n    provider: aws\n    lables: [app]\n",
      expected: [
        /^bad\.yaml:4:5: error LAB_E_SCHEMA_UNKNOWN_KEY: unknown key "lables" in servers\.x \(did you mean "labels"\?\)/m,
      ],
    },
    {
      name: "a reference to an undefined label, group, size and server",
      yaml: "servers:\n  x: {provider: aws, labels: [mailservr], size: jumbo}\ngroups:\n  g: {groups: [nope], servers: [ghost]}\n",
      expected: [
        /^bad\.yaml:2:31: error LAB_E_REF_LABEL: .*"mailservr".*did you mean "mailserver"/m,
        /^bad\.yaml:2:49: error LAB_E_REF_SIZE/m,
        /^bad\.yaml:4:16: error LAB_E_REF_GROUP/m,
        /^bad\.yaml:4:33: error LAB_E_REF_SERVER/m,
      ],
    },
    {
      name: "a duplicate of an object in the same apply",
      yaml: "labels: {dup: {}}\n---\nlabels: {dup: {}}\n",
      expected: [
        /^bad\.yaml:3:10: error LAB_E_DUPLICATE_NAME: label "dup" is defined twice: here and at bad\.yaml:1:10/m,
      ],
    },
    {
      name: "a cycle among groups",
      yaml: "groups:\n  a: {groups: [b]}\n  b: {groups: [a]}\n",
      expected: [/error LAB_E_GROUP_CYCLE: groups form a cycle: a → b → a/],
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const before = await snapshot();
      const file = join(home, "bad.yaml");
      writeFileSync(file, c.yaml);
      const r = spawnSync(process.execPath, [join(ROOT, "bin/lab.js"), "apply", "-f", "bad.yaml"], {
        cwd: home,
        encoding: "utf8",
        env: { PATH: process.env.PATH, LAB_HOME: home, HOME: home },
      });
      expect(r.status).toBe(1);
      for (const re of c.expected) expect(r.stderr).toMatch(re);
      expect(r.stderr).toMatch(/LAB_E_INVALID: \d+ error\(s\) in the model; nothing was applied/);
      expect(r.stderr).toContain("  → "); // every error says what to do
      expect(await snapshot()).toBe(before);
    });
  }

  it("records refused applies in the audit log", async () => {
    const events = JSON.parse((await lab(["get", "events", "-o", "json"])).stdout);
    expect(events.filter((e: { result: string }) => e.result === "error").length).toBeGreaterThanOrEqual(
      cases.length,
    );
  });

  it("a missing file, an unknown kind, an unknown command and an unknown name", async () => {
    expect(await lab(["apply", "-f", "nope.yaml"])).toMatchObject({ code: 1 });
    expect((await lab(["apply", "-f", "nope.yaml"])).stderr).toContain("LAB_E_FILE_NOT_FOUND");
    expect((await lab(["get", "widgets"])).code).toBe(2);
    expect((await lab(["frobnicate"])).code).toBe(2);
    expect((await lab(["get", "servers", "-o", "xml"])).code).toBe(2);
    const missing = await lab(["show", "server", "worker5"]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('server "worker5" not found (did you mean "worker-5"?)');
  });
});

describe("the state database", () => {
  it("checks, backs up and restores; a damaged file gets a clear error and a way out", async () => {
    const home = tempHome();
    const lab = labIn(home);
    await lab(["apply", "-f", EXAMPLE]);
    const check = await lab(["state", "check", "-o", "json"]);
    expect(check.code).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({ ok: true, objects: 58, events: 1, integrity: ["ok"] });

    const backup = join(home, "backup.db");
    expect((await lab(["state", "backup", backup])).code).toBe(0);
    await lab(["delete", "alert", "storage_iops"]);

    const state = join(home, "state.db");
    writeFileSync(state, "this is not a database at all, just text that is long enough".repeat(100));
    for (const suffix of ["-wal", "-shm"]) writeFileSync(state + suffix, "");
    const broken = await lab(["get", "servers"]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain("LAB_E_STORE_CORRUPT");
    expect(broken.stderr).toContain("lab state restore");
    expect((await lab(["state", "check"])).code).toBe(1);

    const damaged = join(home, "damaged.db");
    copyFileSync(state, damaged);
    const refused = await lab(["state", "restore", damaged]);
    expect(refused.code).toBe(1);

    const restored = await lab(["state", "restore", backup]);
    expect(restored.code).toBe(0);
    expect(restored.stdout).toContain("The previous database was kept at");
    const alerts = JSON.parse((await lab(["get", "alerts", "-o", "json"])).stdout).map(
      (a: { name: string }) => a.name,
    );
    expect(alerts).toContain("storage_iops");
    expect(readFileSync(state).subarray(0, 15).toString()).toBe("SQLite format 3");
  });
});

describe("the shell around it", () => {
  it("prints completion scripts that the shells accept, with live names", async () => {
    const home = tempHome();
    const lab = labIn(home);
    await lab(["apply", "-f", EXAMPLE]);
    const bash = await lab(["completion", "bash"]);
    expect(bash.stdout).toContain("complete -F _lab lab");
    expect(spawnSync("bash", ["-n"], { input: bash.stdout }).status).toBe(0);
    expect((await lab(["completion", "zsh"])).stdout).toContain("#compdef lab");
    expect((await lab(["completion", "fish"])).stdout).toContain("complete -c lab");
    expect((await lab(["__complete", "servers"])).stdout.split("\n")).toContain("worker-5");
    expect((await lab(["completion", "tcsh"])).code).toBe(2);
  });

  it("hints at local mode on a terminal only", async () => {
    const home = tempHome();
    const piped = await labIn(home)(["get", "servers"]);
    expect(piped.stderr).not.toContain("Running locally");
    const tty = spawnSync("script", ["-qec", `node ${join(ROOT, "bin/lab.js")} get servers`, "/dev/null"], {
      encoding: "utf8",
      env: { PATH: process.env.PATH, LAB_HOME: home, HOME: home, TERM: "xterm" },
    });
    expect(tty.stdout).toContain(`Running locally (~/state.db)`);
  });

  it("answers --help and --version with exit code 0", async () => {
    const lab = labIn(tempHome());
    expect(await lab(["--version"])).toMatchObject({ code: 0, stdout: "0.1.0\n" });
    const help = await lab(["--help"]);
    expect(help.code).toBe(0);
    for (const cmd of [
      "apply",
      "get",
      "show",
      "targets",
      "describe",
      "diff",
      "delete",
      "state",
      "completion",
    ]) {
      expect(help.stdout).toContain(cmd);
    }
  });
});
