/**
 * The one event pipeline in a real `lab server` (docs/events.md): OTel file lines reach
 * WebSocket and SSE clients as batches, filtered per client; a client resumes from its last
 * seq, also across a server restart (the store's retention window); the audit log and
 * callbacks are sources too; callbacks need the machine's own token; sources can be switched
 * off and on. Every wait is for a condition; deadlines only turn a hang into a failure.
 */
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
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
              { timeUnixNano: `${Date.now()}000000`, severityNumber, body: { stringValue: message } },
            ],
          },
        ],
      },
    ],
  })}\n`;
}

/** A port nothing listens on now (TCP; the syslog listener takes UDP and TCP on it). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(ok: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

interface Event {
  seq: number;
  node: string | null;
  level: string;
  message: string;
  source: string;
}
type Message = {
  type: string;
  events?: Event[];
  missed?: number;
  after?: number;
  until?: number;
  last?: number;
};

/** A WebSocket client that keeps every message, with a wait for a condition on them. */
async function client(server: ServerProcess, query: string) {
  const ws = new WebSocket(
    `${server.url.replace("http", "ws")}/api/v1/logs/ws?token=${server.token}&${query}`,
  );
  const messages: Message[] = [];
  ws.on("message", (d) => messages.push(JSON.parse(d.toString()) as Message));
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const events = () => messages.flatMap((m) => m.events ?? []);
  return {
    ws,
    messages,
    events,
    async until(ok: (events: Event[]) => boolean, what: string) {
      for (let i = 0; i < 300; i++) {
        if (ok(events())) return events();
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(messages).slice(0, 500)}`);
    },
  };
}

describe("the live log stream", () => {
  it("fans OTel lines out in batches, filtered per client; resumes from a seq, across a restart too", async () => {
    const home = tempHome("lab-stream-");
    homes.push(home);
    const file = join(home, "otel.json");
    writeFileSync(file, "");
    let server = await startLabServer({ home, args: ["--otel-file", file] });
    const all = await client(server, "source=otel-file");
    const errors = await client(server, "level=error&node=db-2");
    expect(all.messages[0]).toMatchObject({ type: "hello" });

    appendFileSync(
      file,
      otelLine("db-1", 9, "one") + otelLine("db-2", 17, "two") + otelLine("db-2", 9, "three"),
    );
    await all.until((e) => e.length === 3, "three events");
    await errors.until((e) => e.length === 1, "the error");
    expect(all.events().map((e) => e.message)).toEqual(["one", "two", "three"]);
    expect(errors.events().map((e) => [e.node, e.level, e.message])).toEqual([["db-2", "error", "two"]]);
    // Batched: the three lines written at once arrived in at most as many frames, in seq order.
    const seqs = all.events().map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    all.ws.close();
    errors.ws.close();

    // SSE, resuming after the first event: the other two, and the batch's last seq as the id.
    const sse = await fetch(`${server.url}/api/v1/logs/stream?source=otel-file`, {
      headers: { authorization: `Bearer ${server.token}`, "last-event-id": String(seqs[0]) },
    });
    const reader = (sse.body as ReadableStream<Uint8Array>).getReader();
    let text = "";
    while (!text.includes('"three"')) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    expect(text).toContain("event: hello");
    expect(text).toContain(`id: ${seqs[2]}\nevent: events\n`);
    expect(text).not.toContain('"one"');

    // Restart: the ring is empty, the store's retention window answers the resume.
    await server.stop();
    appendFileSync(file, otelLine("db-1", 13, "after restart"));
    server = await startLabServer({ home, args: ["--otel-file", file] });
    const resumed = await client(server, `source=otel-file&after=${seqs[0]}`);
    const got = await resumed.until((e) => e.length === 3, "the resume");
    expect(got.map((e) => e.message)).toEqual(["two", "three", "after restart"]);
    expect(got.map((e) => e.seq)).toEqual([seqs[1], seqs[2], (seqs[2] as number) + 1]);
    expect(resumed.messages.some((m) => m.type === "gap")).toBe(false);
    resumed.ws.close();

    // lab logs --since reads the same window, and -f follows the stream.
    const lab = labIn(home, { LAB_SERVER: server.url, LAB_TOKEN: server.token as string });
    const since = lab(["logs", "--since", "2h", "--source", "otel-file"]);
    expect(since.code, since.stderr).toBe(0);
    expect(since.stdout.trim().split("\n")).toHaveLength(4);
    const sources = lab(["get", "sources", "-o", "json"]);
    expect(sources.code, sources.stderr).toBe(0);
    expect((JSON.parse(sources.stdout) as { kind: string }[]).map((s) => s.kind)).toEqual(
      expect.arrayContaining(["otel-file", "audit", "callbacks", "boot", "syslog"]),
    );
    const followed = spawn(
      process.execPath,
      ["bin/lab.js", "logs", "-f", "--source", "otel-file", "--limit", "1"],
      {
        env: {
          PATH: process.env.PATH,
          HOME: home,
          LAB_HOME: home,
          LAB_SERVER: server.url,
          LAB_TOKEN: server.token as string,
        },
      },
    );
    let out = "";
    followed.stdout.on("data", (c) => {
      out += c;
    });
    try {
      await waitFor(() => out.includes("after restart"), "lab logs -f's first page");
      appendFileSync(file, otelLine("db-3", 21, "followed live"));
      await waitFor(() => out.includes("followed live"), "the live line in lab logs -f");
      expect(out).toMatch(/FATAL db-3: followed live\n$/);
    } finally {
      followed.kill();
    }
    await server.stop();
  });

  it("callbacks: a machine token reports only for its machine; reports are live state and events", async () => {
    const home = tempHome("lab-callbacks-");
    homes.push(home);
    const server = await startLabServer({ home });
    const stream = await client(server, "source=callbacks,audit");
    const issued = await server.request<{ token: string }>("POST", "/api/v1/callbacks/tokens", {
      server: "db-1",
    });
    expect(issued.status).toBe(200);
    // The CLI issues the same token (it is a function of the name and the server's key).
    const cli = labIn(home, { LAB_SERVER: server.url, LAB_TOKEN: server.token as string })([
      "callback-token",
      "db-1",
    ]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout.trim()).toBe(issued.body.token);
    const machine = issued.body.token;
    const own = await server.request(
      "POST",
      "/api/v1/callbacks",
      { server: "db-1", key: "installer", status: "ok", value: 40 },
      machine,
    );
    expect(own.status).toBe(202);
    const other = await server.request<{ error: { code: string } }>(
      "POST",
      "/api/v1/callbacks",
      { server: "db-2", key: "installer", status: "ok" },
      machine,
    );
    expect([other.status, other.body.error.code]).toEqual([403, "LAB_E_CALLBACK_FORBIDDEN"]);
    const forged = await server.request<{ error: { code: string } }>(
      "POST",
      "/api/v1/callbacks",
      { server: "db-2", key: "x", status: "ok" },
      `${machine.slice(0, -4)}AAAA`,
    );
    expect([forged.status, forged.body.error.code]).toEqual([401, "LAB_E_CALLBACK_TOKEN"]);
    // The operator's token reports for anyone.
    expect(
      (await server.request("POST", "/api/v1/callbacks", { server: "db-2", key: "load", status: "warning" }))
        .status,
    ).toBe(202);

    const state = await server.request<{
      nodes: Record<string, { key: string; status: string; value?: number; stale: boolean }[]>;
    }>("GET", "/api/v1/callbacks");
    expect(state.body.nodes["db-1"]?.map((e) => [e.key, e.status, e.value, e.stale])).toEqual([
      ["installer", "ok", 40, false],
    ]);
    expect(state.body.nodes["db-2"]?.map((e) => e.key)).toEqual(["load"]);
    const events = await stream.until(
      (e) => e.filter((x) => x.source === "callbacks").length === 2,
      "two callback events",
    );
    expect(events.filter((x) => x.source === "callbacks").map((x) => [x.node, x.level, x.message])).toEqual([
      ["db-1", "info", "installer: ok 40"],
      ["db-2", "warn", "load: warning"],
    ]);

    // Switched off, the source emits nothing (the state is still kept); on again, it does.
    const off = await server.request<{ state: string }>("POST", "/api/v1/sources/callbacks/disable");
    expect(off.body.state).toBe("disabled");
    await server.request("POST", "/api/v1/callbacks", { server: "db-1", key: "quiet", status: "ok" });
    await server.request("POST", "/api/v1/sources/callbacks/enable");
    await server.request("POST", "/api/v1/callbacks", { server: "db-1", key: "loud", status: "failed" });
    const after = await stream.until(
      (e) => e.some((x) => x.message.startsWith("loud")),
      "the report after enable",
    );
    expect(after.some((x) => x.message.startsWith("quiet"))).toBe(false);
    const unknown = await server.request<{ error: { code: string } }>("POST", "/api/v1/sources/nope/restart");
    expect([unknown.status, unknown.body.error.code]).toEqual([404, "LAB_E_NOT_FOUND"]);
    stream.ws.close();
    await server.stop();
  });

  it("syslog from a host (util-linux logger, over UDP and TCP) is a syslog event with its host and app", async () => {
    const home = tempHome("lab-syslog-");
    homes.push(home);
    const [bootPort, syslogPort] = [await freePort(), await freePort()];
    const server = await startLabServer({
      home,
      args: [
        "--pxe",
        "--dhcp",
        "off",
        "--no-tftp",
        "--advertise",
        "127.0.0.1",
        "--boot-port",
        String(bootPort),
        "--syslog-port",
        String(syslogPort),
      ],
    });
    const stream = await client(server, "source=syslog");
    const logger = (args: string[]) => {
      const r = spawnSync("logger", ["-n", "127.0.0.1", "-P", String(syslogPort), "--rfc5424", ...args]);
      expect(r.status, String(r.stderr)).toBe(0);
    };
    logger(["-d", "-t", "backup", "-p", "user.err", "nightly backup failed"]);
    logger(["-T", "-t", "cron", "-p", "user.info", "job started"]);
    const got = await stream.until((e) => e.length === 2, "two syslog lines");
    const byMessage = Object.fromEntries(got.map((e) => [e.message, e]));
    expect(byMessage["nightly backup failed"]).toMatchObject({
      level: "error",
      node: hostname(),
      service: "backup",
    });
    expect(byMessage["job started"]).toMatchObject({ level: "info", node: hostname(), service: "cron" });
    stream.ws.close();
    await server.stop();
  });
});
