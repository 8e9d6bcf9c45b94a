/** The daemon's API against a real server (TLS from Lab's own CA) on a loopback port. */
import { readdirSync, readFileSync } from "node:fs";
import https from "node:https";
import { join } from "node:path";
import { HttpClient } from "@lab/cli";
import { LabService } from "@lab/core";
import { type RunningServer, startServer } from "@lab/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { ROOT, tempHome } from "../support/cli.js";

const EXAMPLE = join(ROOT, "examples/homelab");
const homelab = () =>
  readdirSync(EXAMPLE)
    .sort()
    .map((f) => ({ path: `examples/homelab/${f}`, text: readFileSync(join(EXAMPLE, f), "utf8") }));

let server: RunningServer;
let admin: string;
let ca: string;

/** A raw HTTPS request, for bodies HttpClient would never send. */
function raw(
  method: string,
  path: string,
  body: string | Buffer | undefined,
  headers: Record<string, string> = {},
) {
  return new Promise<{
    status: number;
    json: { error?: { code: string; path?: string } } & Record<string, unknown>;
  }>((resolve, reject) => {
    const req = https.request(new URL(path, server.url), { method, ca, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : {} });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

const client = (token?: string) => new HttpClient({ url: server.url, token, caPem: ca });

beforeAll(async () => {
  const home = tempHome("lab-api-");
  server = await startServer({
    home,
    host: "127.0.0.1",
    port: 0,
    tls: true,
    bodyLimit: 256 * 1024,
    pollMs: 200,
  });
  admin = readFileSync(server.adminTokenPath as string, "utf8").trim();
  ca = server.caPem as string;
  await new LabService(server.store, "setup").apply({ files: homelab() });
});
afterAll(async () => {
  await server.close();
});

describe("REST", () => {
  it("serves everything the CLI shows, including names with a slash", async () => {
    const c = client(admin);
    const servers = await c.request<{ name: string }[]>("GET", "/api/v1/servers?label=mailserver");
    expect(servers.map((s) => s.name)).toEqual(["mail-1", "mail-2"]);
    const r = await c.request<{ classes: unknown[] }>("GET", "/api/v1/servers/worker-5");
    expect(r.classes).toHaveLength(6);
    const secret = await c.request<{ name: string }>(
      "GET",
      `/api/v1/secrets/${encodeURIComponent("k8s/join-token")}`,
    );
    expect(secret.name).toBe("k8s/join-token");
    const group = await c.request<{ excluded: unknown[] }>("GET", "/api/v1/groups/eu-infrastructure");
    expect(group.excluded).toHaveLength(2);
  });

  it("publishes an OpenAPI document and a browsable page", async () => {
    const doc = await client().request<{ openapi: string; paths: Record<string, unknown> }>(
      "GET",
      "/api/v1/openapi.json",
    );
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/api/v1/apply", "/api/v1/servers/{name}", "/api/v1/events/ws"]),
    );
    // Every API route the server registered is in the document, with its method.
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) =>
        Object.keys(ops as object).map((m) => `${m.toUpperCase()} ${path}`),
      ),
    );
    const undocumented = server.routes
      .filter((r) => r.includes(" /api/v1/") && !/ \/api\/v1\/(openapi\.json|docs)/.test(r))
      .map((r) => r.replace(/:([A-Za-z_]+)/g, "{$1}"))
      .filter((r) => !documented.has(r));
    expect(undocumented).toEqual([]);
    for (const route of [
      "/api/v1/puppet/enc/{certname}",
      "/api/v1/puppet/reports",
      "/api/v1/puppet/autosign",
    ]) {
      expect(doc.paths).toHaveProperty([route]);
    }
    const page = await fetchText("/api/v1/docs");
    expect(page).toContain("SwaggerUIBundle");
    expect((await fetchText("/api/v1/docs/swagger-ui-bundle.js")).length).toBeGreaterThan(100_000);
  });

  it("answers health, readiness and Prometheus metrics", async () => {
    expect(await client().request("GET", "/healthz")).toEqual({ status: "ok" });
    expect(await client().request("GET", "/readyz")).toMatchObject({ status: "ready" });
    const metrics = await fetchText("/metrics");
    for (const name of [
      "lab_http_requests_total",
      "lab_http_request_duration_seconds_bucket",
      "lab_event_bus_queued",
      "lab_db_operation_duration_seconds_bucket",
    ]) {
      expect(metrics).toContain(name);
    }
  });
});

describe("bad input and auth", () => {
  const cases: {
    name: string;
    method: string;
    path: string;
    body?: string | Buffer;
    token?: "admin" | "read" | "bad" | "none";
    status: number;
    code: string;
    jsonPath?: string;
  }[] = [
    {
      name: "no token",
      method: "GET",
      path: "/api/v1/servers",
      token: "none",
      status: 401,
      code: "LAB_E_UNAUTHENTICATED",
    },
    {
      name: "a malformed token",
      method: "GET",
      path: "/api/v1/servers",
      token: "bad",
      status: 401,
      code: "LAB_E_UNAUTHENTICATED",
    },
    {
      name: "a read token that writes",
      method: "POST",
      path: "/api/v1/apply",
      body: '{"files":[{"path":"a.yaml","text":"labels: {x: {}}"}]}',
      token: "read",
      status: 403,
      code: "LAB_E_FORBIDDEN",
    },
    {
      name: "a read token that lists tokens",
      method: "GET",
      path: "/api/v1/tokens",
      token: "read",
      status: 403,
      code: "LAB_E_FORBIDDEN",
    },
    {
      name: "malformed JSON",
      method: "POST",
      path: "/api/v1/apply",
      body: '{"files": [',
      status: 400,
      code: "LAB_E_BAD_JSON",
    },
    {
      name: "a wrong type, with its JSON path",
      method: "POST",
      path: "/api/v1/apply",
      body: '{"files":[{"path":"a.yaml","text":42}]}',
      status: 400,
      code: "LAB_E_BAD_REQUEST",
      jsonPath: "$.files.0.text",
    },
    {
      name: "an unknown field",
      method: "POST",
      path: "/api/v1/apply",
      body: '{"files":[{"path":"a.yaml","text":""}],"force":true}',
      status: 400,
      code: "LAB_E_BAD_REQUEST",
      jsonPath: "$",
    },
    {
      name: "a bad query parameter",
      method: "GET",
      path: "/api/v1/events?limit=-3",
      status: 400,
      code: "LAB_E_BAD_REQUEST",
      jsonPath: "$.limit",
    },
    {
      name: "an unknown server",
      method: "GET",
      path: "/api/v1/servers/nope",
      status: 404,
      code: "LAB_E_NOT_FOUND",
    },
    {
      name: "an unknown route",
      method: "GET",
      path: "/api/v1/widgets",
      status: 404,
      code: "LAB_E_NOT_FOUND",
    },
    {
      name: "a body over the limit",
      method: "POST",
      path: "/api/v1/apply",
      body: JSON.stringify({ files: [{ path: "big.yaml", text: "#".repeat(300 * 1024) }] }),
      status: 413,
      code: "LAB_E_TOO_LARGE",
    },
    {
      name: "an invalid model, with located diagnostics",
      method: "POST",
      path: "/api/v1/apply",
      body: JSON.stringify({
        files: [{ path: "a.yaml", text: "servers:\n  x: {provider: p, labels: [nope]}\n" }],
      }),
      status: 400,
      code: "LAB_E_INVALID",
    },
  ];
  let read: string;
  beforeAll(async () => {
    const created = await client(admin).request<{ token: string }>("POST", "/api/v1/tokens", {
      name: "reader",
      scopes: ["read"],
    });
    read = created.token;
  });
  for (const c of cases) {
    it(c.name, async () => {
      const token = { admin, read, bad: "lab_nothing", none: undefined }[c.token ?? "admin"];
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (token) headers.authorization = `Bearer ${token}`;
      if (!c.body) delete headers["content-type"];
      const before = await client(admin).request<unknown[]>("GET", "/api/v1/labels");
      const r = await raw(c.method, c.path, c.body, headers);
      expect(r.status).toBe(c.status);
      expect(r.json.error?.code).toBe(c.code);
      expect(r.json.error).toHaveProperty("hint");
      if (c.jsonPath) expect(r.json.error?.path).toBe(c.jsonPath);
      expect(await client(admin).request("GET", "/api/v1/labels")).toEqual(before);
    });
  }

  it("refuses a revoked token", async () => {
    const { token, record } = await client(admin).request<{ token: string; record: { id: string } }>(
      "POST",
      "/api/v1/tokens",
      { name: "short-lived", scopes: ["read"] },
    );
    await client(token).request("GET", "/api/v1/servers");
    await client(admin).request("DELETE", `/api/v1/tokens/${record.id}`);
    await expect(client(token).request("GET", "/api/v1/servers")).rejects.toMatchObject({
      code: "LAB_E_UNAUTHENTICATED",
    });
  });

  it("audits every mutation with who, what and the result", async () => {
    const events = await client(admin).request<{ actor: string; action: string; result: string }[]>(
      "GET",
      "/api/v1/events?limit=100",
    );
    expect(
      events.some((e) => e.action === "token.create" && e.actor.startsWith("token:bootstrap-admin")),
    ).toBe(true);
    expect(events.some((e) => e.action === "token.revoke")).toBe(true);
    expect(events.some((e) => e.action === "apply" && e.result === "error")).toBe(true);
  });
});

describe("live events", () => {
  const apply = (text: string) =>
    client(admin).request<{ eventId: number }>("POST", "/api/v1/apply", {
      files: [{ path: "live.yaml", text }],
    });

  function follow(query: string) {
    const ws = new WebSocket(`${server.url.replace("https", "wss")}/api/v1/events/ws${query}`, {
      ca,
      headers: { authorization: `Bearer ${admin}` },
    });
    const received: { type: string; event?: { id: number; action: string; subjects: string[] } }[] = [];
    ws.on("message", (m) => received.push(JSON.parse(String(m))));
    const opened = new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    const until = async (n: number) => {
      for (let i = 0; i < 200 && received.length < n; i++) await new Promise((r) => setTimeout(r, 25));
      return received;
    };
    return { ws, received, opened, until };
  }

  it("streams changes over WebSocket as they are recorded, filtered by kind and label", async () => {
    const all = follow("");
    const deletes = follow("?kind=delete");
    const mail = follow("?label=mailserver");
    await Promise.all([all.opened, deletes.opened, mail.opened]);
    const first = await apply("labels:\n  live-1: {}\n");
    await client(admin).request("DELETE", "/api/v1/labels/live-1");
    await apply("labels:\n  mailserver:\n    puppet_classes: [postfix]\n");
    const got = await all.until(3);
    expect(got.map((m) => m.event?.action)).toEqual(["apply", "delete", "apply"]);
    expect(got[0]?.event?.id).toBe(first.eventId);
    expect((await deletes.until(1)).map((m) => m.event?.subjects)).toEqual([["label/live-1"]]);
    expect((await mail.until(1)).map((m) => m.event?.subjects)).toEqual([["label/mailserver"]]);
    for (const f of [all, deletes, mail]) f.ws.close();
  });

  it("resumes after an event id without a gap", async () => {
    const a = await apply("labels:\n  r-1: {}\n");
    await apply("labels:\n  r-2: {}\n");
    await apply("labels:\n  r-3: {}\n");
    const resumed = follow(`?after=${a.eventId}`);
    await resumed.opened;
    await apply("labels:\n  r-4: {}\n");
    const got = await resumed.until(3);
    const ids = got.map((m) => m.event?.id);
    expect(ids).toEqual([a.eventId + 1, a.eventId + 2, a.eventId + 3]);
    resumed.ws.close();
  });

  it("streams over SSE, resuming from Last-Event-ID", async () => {
    const a = await apply("labels:\n  sse-1: {}\n");
    const b = await apply("labels:\n  sse-2: {}\n");
    const text = await new Promise<string>((resolve, reject) => {
      const req = https.request(
        new URL("/api/v1/events/stream", server.url),
        { ca, headers: { authorization: `Bearer ${admin}`, "last-event-id": String(a.eventId) } },
        (res) => {
          let body = "";
          res.on("data", (c) => {
            body += String(c);
            if (body.includes(`id: ${b.eventId}\n`)) {
              req.destroy();
              resolve(body);
            }
          });
        },
      );
      req.on("error", (e) => (e.message.includes("aborted") ? undefined : reject(e)));
      req.end();
    });
    expect(text).toContain(`id: ${b.eventId}\nevent: apply\ndata: {`);
    expect(text).not.toContain(`id: ${a.eventId}\n`);
  });
});

function fetchText(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get(new URL(path, server.url), { ca }, (res) => {
        let body = "";
        res.on("data", (c) => {
          body += String(c);
        });
        res.on("end", () => resolve(body));
      })
      .on("error", reject);
  });
}
