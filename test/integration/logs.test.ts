/**
 * The log pipeline in a real `lab server`: an OpenTelemetry collector file-exporter output is
 * tailed into the ring, searchable over /api/v1/logs, each source's status at /api/v1/sources;
 * after a restart the tail resumes from its stored position (no line twice, none skipped).
 * Every wait is for a condition; deadlines only turn a hang into a failure.
 */
import { appendFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { labIn, tempHome } from "../support/cli.js";
import { killAllServers, type ServerProcess, startLabServer } from "../support/server-process.js";

const homes: string[] = [];
afterAll(async () => {
  await killAllServers();
  for (const h of homes) rmSync(h, { recursive: true, force: true });
});

function otelLine(host: string, severityNumber: number, message: string): string {
  return `${JSON.stringify({
    resourceLogs: [
      {
        resource: { attributes: [{ key: "host.name", value: { stringValue: host } }] },
        scopeLogs: [
          {
            logRecords: [
              {
                timeUnixNano: String(BigInt(Date.now()) * 1_000_000n),
                severityNumber,
                body: { stringValue: message },
              },
            ],
          },
        ],
      },
    ],
  })}\n`;
}

interface Logs {
  events: { seq: number; node: string; level: string; message: string; source: string }[];
  counts: { byLevel: Record<string, number>; byNode: Record<string, number> };
}

async function until<T>(f: () => Promise<T>, ok: (t: T) => boolean): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await f();
    if (ok(v)) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("condition not met");
}

describe("lab server --otel-file", () => {
  it("tails the collector's file into searchable logs, shows each source, resumes after a restart", async () => {
    const home = tempHome("lab-logs-");
    homes.push(home);
    const file = join(home, "otel.json");
    writeFileSync(file, otelLine("db-1", 9, "started") + otelLine("db-2", 17, "disk failed"));
    const missing = join(home, "not-yet.json");
    let server: ServerProcess = await startLabServer({ home, args: ["--otel-file", file, missing] });
    const logs = (s: ServerProcess, q = "") => s.request<Logs>("GET", `/api/v1/logs${q}`).then((r) => r.body);

    const first = await until(
      () => logs(server),
      (l) => l.events.length === 2,
    );
    expect(first.events.map((e) => [e.node, e.level, e.message])).toEqual([
      ["db-1", "info", "started"],
      ["db-2", "error", "disk failed"],
    ]);
    expect(first.counts.byLevel).toMatchObject({ info: 1, error: 1 });
    expect((await logs(server, "?level=warn")).events.map((e) => e.message)).toEqual(["disk failed"]);
    expect((await logs(server, "?node=db-1")).events.map((e) => e.message)).toEqual(["started"]);

    const sources = (
      await server.request<{ name: string; state: string; events: number }[]>("GET", "/api/v1/sources")
    ).body;
    expect(
      sources.filter((s) => s.name.startsWith("otel-file:")).map((s) => [s.name, s.state, s.events]),
    ).toEqual([
      [`otel-file:${file}`, "running", 2],
      [`otel-file:${missing}`, "waiting", 0],
    ]);

    // The same through the CLI pointed at the server.
    const lab = labIn(home, { LAB_SERVER: server.url, LAB_TOKEN: server.token as string });
    const warn = lab(["logs", "--level", "warn"]);
    expect(warn.code, warn.stderr).toBe(0);
    expect(warn.stdout).toMatch(/ERROR db-2: disk failed\n$/);
    expect(warn.stdout).not.toContain("started");
    const table = lab(["sources"]);
    expect(table.code, table.stderr).toBe(0);
    // Long paths shrink to fit the terminal; the rows keep the order the sources were given in.
    const [, tailed, waiting] = table.stdout.trim().split("\n");
    expect(tailed).toMatch(/^otel-file:\S+\s+otel-file\s+running\s+2\s+\d{4}-/);
    expect(waiting).toMatch(/^otel-file:\S+\s+otel-file\s+waiting\s+0\s+—\s+no file yet \(ENOENT\)$/);
    const local = labIn(home)(["logs"]);
    expect(local.code).not.toBe(0);
    expect(local.stderr).toContain("lab login");

    await server.stop();
    appendFileSync(file, otelLine("db-1", 13, "after restart"));
    server = await startLabServer({ home, args: ["--otel-file", file] });
    // The tail resumed after its stored position (nothing read twice), the store's retention
    // window answers for what came before the restart, and the numbering continues.
    const resumed = await until(
      () => logs(server),
      (l) => l.events.length >= 3,
    );
    expect(resumed.events.map((e) => e.message)).toEqual(["started", "disk failed", "after restart"]);
    expect(resumed.events.map((e) => e.seq)).toEqual([1, 2, 3]);
    await server.stop();
  });
});
