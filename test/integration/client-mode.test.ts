/**
 * The contract between local and client mode: the same commands print the same bytes, for
 * table, json and yaml, whether the engine runs in-process or behind `lab server`.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RunningServer } from "@lab/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BothModes, homelabBothModes } from "../support/both-modes.js";
import { labAsyncIn, tempHome } from "../support/cli.js";

let server: RunningServer;
let home: string;
let local: BothModes["local"];
let remote: BothModes["remote"];

beforeAll(async () => {
  ({ server, home, local, remote } = await homelabBothModes("lab-contract-"));
});
afterAll(async () => {
  await server?.close();
});

const COMMANDS: string[][] = [
  ...["servers", "labels", "groups", "alerts", "secrets", "sizes", "events"].flatMap((kind) =>
    ["table", "wide", "json", "yaml"].map((o) => ["get", kind, "-o", o]),
  ),
  ["get", "servers", "-l", "k8s-worker", "--environment", "prod", "--exclude", "worker-6"],
  ["get", "alerts", "--group", "eu-infrastructure", "-o", "json"],
  ...[
    ["server", "worker-5"],
    ["label", "mailserver"],
    ["group", "eu-infrastructure"],
    ["alert", "memory_pressure"],
    ["secret", "k8s/join-token"],
  ].flatMap(([kind, name]) =>
    ["table", "json", "yaml"].map((o) => ["show", kind as string, name as string, "-o", o]),
  ),
  ["targets", "server", "db-1"],
  ["describe", "server", "db-1"],
  ["diff", "server", "db-1", "-o", "yaml"],
  ["plan", "server", "db-1", "-o", "yaml"],
  ["plan", "server", "new-1", "--provider", "nowhere", "--label", "web"],
  ["show", "server", "worker5"],
  ["get", "widgets"],
  ["apply", "-f", "examples/homelab", "--dry-run"],
];

describe("local and client mode print the same bytes", () => {
  for (const args of COMMANDS) {
    it(`lab ${args.join(" ")}`, async () => {
      const [a, b] = await Promise.all([local(args), remote(args)]);
      expect(b.stdout).toBe(a.stdout);
      expect(b.stderr).toBe(a.stderr);
      expect(b.code).toBe(a.code);
    });
  }

  it("including a refused apply's located errors", async () => {
    const bad = join(home, "bad.yaml");
    writeFileSync(bad, "servers:\n  x: {provider: p, labels: [mailservr]}\n");
    const a = await local(["apply", "-f", bad]);
    const b = await remote(["apply", "-f", bad]);
    expect(a.code).toBe(1);
    expect(b.stderr).toBe(a.stderr);
    expect(b.stderr).toContain('LAB_E_REF_LABEL: server "x" refers to label "mailservr"');
  });
});

describe("client mode fails clearly", () => {
  it("when the server is unreachable", async () => {
    const r = await labAsyncIn(tempHome(), { LAB_SERVER: "https://127.0.0.1:9", LAB_TOKEN: "x" })([
      "get",
      "servers",
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "LAB_E_UNREACHABLE: cannot reach the Lab server at https://127.0.0.1:9 (ECONNREFUSED)",
    );
  });

  it("when the certificate is not trusted, saying how to fix it", async () => {
    const token = readFileSync(server.adminTokenPath as string, "utf8").trim();
    const r = await labAsyncIn(tempHome(), { LAB_SERVER: server.url, LAB_TOKEN: token })(["get", "servers"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("LAB_E_TLS_UNTRUSTED");
    expect(r.stderr).toContain("lab login URL --ca-file ca.crt");
  });

  it("when the token is rejected", async () => {
    const r = await labAsyncIn(tempHome(), {
      LAB_SERVER: server.url,
      LAB_TOKEN: "lab_00000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      LAB_CA_FILE: server.caPath as string,
    })(["get", "servers"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("LAB_E_UNAUTHENTICATED: the token is not known to this server");
  });

  it("lab login checks before it saves, and logout returns to local mode", async () => {
    const h = tempHome();
    const run = labAsyncIn(h);
    const token = readFileSync(server.adminTokenPath as string, "utf8").trim();
    expect(
      (
        await run([
          "login",
          server.url,
          "--token",
          "lab_00000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
          "--ca-file",
          server.caPath as string,
        ])
      ).code,
    ).toBe(1);
    const ok = await run(["login", server.url, "--token", token, "--ca-file", server.caPath as string]);
    expect(ok.stdout).toContain('as token "bootstrap-admin" (admin)');
    expect((await run(["get", "servers", "-o", "json"])).stdout).toContain("worker-5");
    expect((await run(["token", "create", "--name", "ci", "--scope", "read"])).stdout).toMatch(
      /^lab_[0-9a-f]{8}_/,
    );
    expect((await run(["token", "list"])).stdout).toContain("ci");
    expect((await run(["logout"])).stdout).toContain("commands run locally");
    expect((await run(["get", "servers", "-o", "json"])).stdout).toBe("[]\n");
  });
});
