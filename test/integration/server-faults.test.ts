/**
 * Fault tolerance of `lab server`, against real processes and the real PostgreSQL: kill -9
 * loses no acknowledged write, SIGTERM lets in-flight requests finish and exits 0, two
 * replicas on one PostgreSQL share events live and a client that loses its replica resumes
 * on the other without a gap or a duplicate, and `lab state migrate` moves a SQLite state
 * into PostgreSQL that then serves the same answers.
 *
 * Nothing here passes or fails on timing: every wait is for a condition (a line printed, an
 * event id received, a process exited); the deadlines only turn a hang into a failure.
 */

import { rmSync } from "node:fs";
import http from "node:http";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { labIn, tempHome } from "../support/cli.js";
import {
  createThrowawayDatabase,
  dropStaleTestDatabases,
  type ThrowawayDatabase,
} from "../support/postgres.js";
import {
  killAllServers,
  pidExists,
  runningServerPids,
  type ServerProcess,
  startLabServer,
} from "../support/server-process.js";

interface AuditEvent {
  id: number;
  time: string;
  actor: string;
  action: string;
  result: string;
  summary: string;
  changes: { op: string; kind: string; name: string }[];
  subjects: string[];
}

interface ApplyResult {
  changes: { op: string; kind: string; name: string }[];
  eventId: number | null;
}

const homes: string[] = [];
const databases: ThrowawayDatabase[] = [];
const spawned: ServerProcess[] = [];

function home(prefix: string): string {
  const h = tempHome(prefix);
  homes.push(h);
  return h;
}

async function start(opts: Parameters<typeof startLabServer>[0]): Promise<ServerProcess> {
  const s = await startLabServer(opts);
  spawned.push(s);
  return s;
}

async function throwawayDatabase(): Promise<ThrowawayDatabase> {
  const db = await createThrowawayDatabase();
  databases.push(db);
  return db;
}

beforeAll(async () => {
  await dropStaleTestDatabases();
});

afterAll(async () => {
  await killAllServers();
  const stray = spawned.filter((s) => pidExists(s.pid)).map((s) => s.pid);
  for (const db of databases) await db.drop();
  for (const h of homes) rmSync(h, { recursive: true, force: true });
  // Even when a test failed half-way, no server outlives the suite.
  expect(runningServerPids()).toEqual([]);
  expect(stray).toEqual([]);
});

/** Waits for a condition; the deadline only turns a hang into a failure that says what was awaited. */
async function waitFor(what: string, condition: () => boolean, deadlineMs = 30_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function labelApply(name: string) {
  return { files: [{ path: "x.yaml", text: `labels:\n  ${name}: {}\n` }] };
}

function stateCheck(labHome: string): { ok: boolean; integrity: string[]; objects: number; events: number } {
  const r = labIn(labHome)(["state", "check", "-o", "json"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
}

/** A WebSocket event-stream client that records everything it is sent. */
class EventSocket {
  readonly events: AuditEvent[] = [];
  readonly other: unknown[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<number>;
  closeCode: number | undefined;
  private readonly ws: WebSocket;

  constructor(server: ServerProcess, token: string, after?: number) {
    const url = new URL("/api/v1/events/ws", server.url.replace(/^http/, "ws"));
    if (after !== undefined) url.searchParams.set("after", String(after));
    this.ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
    this.ws.on("message", (data) => {
      const m = JSON.parse(String(data)) as { type: string; event?: AuditEvent };
      if (m.type === "event" && m.event) this.events.push(m.event);
      else this.other.push(m);
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("unexpected-response", (_req, res) =>
        reject(new Error(`WebSocket upgrade refused: ${res.statusCode}`)),
      );
    });
    this.closed = new Promise((resolve) =>
      this.ws.once("close", (code) => {
        this.closeCode = code;
        resolve(code);
      }),
    );
    // A killed server resets the connection: that is expected here, the close event reports it.
    this.ws.on("error", () => undefined);
  }

  get ids(): number[] {
    return this.events.map((e) => e.id);
  }

  get lastId(): number {
    return this.events.at(-1)?.id ?? 0;
  }

  has(id: number): boolean {
    return this.events.some((e) => e.id === id);
  }

  close(): void {
    this.ws.close();
  }
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

// ---------------------------------------------------------------------------------------------

describe("kill -9 (SQLite)", () => {
  it("loses no acknowledged apply", async () => {
    const labHome = home("lab-kill9-");
    const first = await start({ home: labHome });
    const token = first.token as string;
    expect(token).toBeTruthy();

    const CONCURRENCY = 4;
    const KILL_AFTER = 40;
    let next = 0;
    let killed = false;
    let inFlightAtKill = -1;
    const pending = new Set<string>();
    const acked = new Map<string, number>(); // label -> event id of its apply
    const unexpected: string[] = [];
    const lost: string[] = []; // requests that got no answer (the server died under them)

    const worker = async () => {
      for (;;) {
        const name = `l-${++next}`;
        pending.add(name);
        let r: Awaited<ReturnType<typeof first.request<ApplyResult>>>;
        try {
          r = await first.request<ApplyResult>("POST", "/api/v1/apply", labelApply(name), token);
        } catch {
          pending.delete(name);
          if (!killed) unexpected.push(`${name}: connection failed before the kill`);
          lost.push(name);
          return;
        }
        pending.delete(name);
        const created =
          JSON.stringify(r.body?.changes) === JSON.stringify([{ op: "create", kind: "label", name }]);
        if (r.status !== 200 || !created) {
          unexpected.push(`${name}: ${r.status} ${r.text}`);
          return;
        }
        acked.set(name, r.body.eventId as number);
        if (acked.size >= KILL_AFTER && !killed) {
          killed = true;
          // Every other worker has a request outstanding at this instant.
          inFlightAtKill = pending.size;
          first.kill("SIGKILL");
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    expect(unexpected).toEqual([]);
    expect(await first.exited).toEqual({ code: null, signal: "SIGKILL" });
    expect(inFlightAtKill).toBeGreaterThanOrEqual(1);
    expect(lost.length).toBeGreaterThanOrEqual(1);
    expect(acked.size).toBeGreaterThanOrEqual(KILL_AFTER);

    // The file a crashed server leaves behind is healthy before anything reopens it.
    expect(stateCheck(labHome).ok).toBe(true);

    const second = await start({ home: labHome });
    const labels = await second.request<{ name: string }[]>("GET", "/api/v1/labels", undefined, token);
    expect(labels.status).toBe(200);
    const present = new Set(labels.body.map((l) => l.name));
    const missing = [...acked.keys()].filter((n) => !present.has(n));
    expect(missing).toEqual([]);
    // Nothing appears that was never sent (answers lost with the process may or may not have committed).
    for (const n of present) expect(Number(n.slice(2))).toBeLessThanOrEqual(next);

    // Every acknowledged apply's event was recorded, under the id it was acknowledged with.
    const events = await second.request<AuditEvent[]>("GET", "/api/v1/events?after=0&limit=1000");
    expect(events.status).toBe(200);
    const byId = new Map(events.body.map((e) => [e.id, e]));
    for (const [name, id] of acked) expect(byId.get(id)?.subjects).toEqual([`label/${name}`]);

    const check = stateCheck(labHome);
    expect(check.ok).toBe(true);
    expect(check.integrity).toEqual(["ok"]);
    expect(check.objects).toBe(present.size);

    expect(await second.stop()).toEqual({ code: 0, signal: null });
    expect(stateCheck(labHome).ok).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------

/**
 * An apply whose headers the server has already parsed (it answered 100 Continue, so the
 * request is being routed) and whose body is held back until `finish()`.
 */
interface ParkedRequest {
  finish(): void;
  response: Promise<{ status: number; text: string }>;
}

function parkApply(
  server: ServerProcess,
  token: string,
  name: string,
  agent: http.Agent | false = false,
): Promise<ParkedRequest> {
  const payload = JSON.stringify(labelApply(name));
  const req = http.request(new URL("/api/v1/apply", server.url), {
    method: "POST",
    agent,
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(payload)),
      expect: "100-continue",
    },
  });
  const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
    req.on("response", (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        text += d;
      });
      res.on("error", reject);
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
  });
  response.catch(() => undefined); // awaited by the test; this only avoids an unhandled rejection
  req.flushHeaders();
  return new Promise((resolve, reject) => {
    req.once("continue", () => resolve({ finish: () => req.end(payload), response }));
    response.then((r) => reject(new Error(`answered ${r.status} before 100 Continue: ${r.text}`)), reject);
  });
}

describe("SIGTERM (SQLite)", () => {
  it("lets in-flight requests finish, closes streams, exits 0 and leaves a healthy database", async () => {
    const labHome = home("lab-sigterm-");
    const server = await start({ home: labHome });
    const token = server.token as string;

    const stream = new EventSocket(server, token, 0);
    await stream.opened;
    const names = Array.from({ length: 6 }, (_, i) => `inflight-${i + 1}`);
    // Each request is in flight on the server (headers parsed) before the signal is sent.
    const parked = await Promise.all(names.map((n) => parkApply(server, token, n)));
    server.kill("SIGTERM");
    await waitFor(
      "the server to start stopping",
      () => server.stdout().includes("SIGTERM: stopping") || !server.running,
    );
    expect(server.stdout()).toContain("SIGTERM: stopping");
    for (const p of parked) p.finish();

    const answers = await Promise.all(parked.map((p) => p.response));
    expect(answers.map((a) => a.status)).toEqual(names.map(() => 200));
    for (const [i, a] of answers.entries()) {
      expect(JSON.parse(a.text).changes).toEqual([{ op: "create", kind: "label", name: names[i] }]);
    }

    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.stdout()).toMatch(/Stopped\.\n$/);
    expect(server.stderr()).toBe("");
    // Stream clients are told the server is going away rather than cut off.
    expect(await stream.closed).toBe(1001);

    const check = stateCheck(labHome);
    expect(check.ok).toBe(true);
    expect(check.integrity).toEqual(["ok"]);
    const labels = labIn(labHome)(["get", "labels", "-o", "json"]);
    expect(labels.code).toBe(0);
    const stored = (JSON.parse(labels.stdout) as { name: string }[]).map((l) => l.name);
    expect(stored.sort()).toEqual([...names].sort());
  });
});

/** An SSE client; `opened` resolves once the stream's first comment arrived. */
function openSse(server: ServerProcess, token: string) {
  const req = http.get(new URL("/api/v1/events/stream", server.url), {
    agent: false,
    headers: { authorization: `Bearer ${token}` },
  });
  let text = "";
  const ended = new Promise<string>((resolve) => {
    req.on("response", (res) => {
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        text += d;
      });
      res.on("close", () => resolve("closed"));
    });
    req.on("error", (e) => resolve(`error: ${e.message}`));
  });
  return {
    ended,
    text: () => text,
    destroy: () => req.destroy(),
  };
}

/** Resolves with `what` failing once the deadline passes: a hang guard for a process that should exit. */
function hangGuard(what: string, ms: number): { promise: Promise<never>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`gave up waiting for ${what}`)), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

describe("SIGTERM with a keep-alive client", () => {
  it("finishes the client's in-flight request, then exits 0 without waiting for the client to hang up", async () => {
    const labHome = home("lab-sigterm-keepalive-");
    const server = await start({ home: labHome });
    // Like the lab CLI's HttpClient (and fetch): persistent connections.
    const agent = new http.Agent({ keepAlive: true });
    try {
      const parked = await parkApply(server, server.token as string, "keepalive-1", agent);
      server.kill("SIGTERM");
      await waitFor(
        "the server to start stopping",
        () => server.stdout().includes("SIGTERM: stopping") || !server.running,
      );
      parked.finish();
      expect((await parked.response).status).toBe(200);
      // The client keeps its agent (and so its idle connection) open, as long-lived clients do.
      const guard = hangGuard(
        "the server to exit after SIGTERM while a keep-alive client is connected",
        20_000,
      );
      try {
        expect(await Promise.race([server.exited, guard.promise])).toEqual({ code: 0, signal: null });
      } finally {
        guard.cancel();
      }
      expect(server.stdout()).toMatch(/Stopped\.\n$/);
      expect(stateCheck(labHome).ok).toBe(true);
    } finally {
      agent.destroy();
    }
  });
});

describe("SIGTERM with an SSE client connected", () => {
  it("ends the SSE stream and exits 0", async () => {
    const labHome = home("lab-sigterm-sse-");
    const server = await start({ home: labHome });
    const sse = openSse(server, server.token as string);
    try {
      await waitFor("the SSE stream to open", () => sse.text().startsWith(": lab event stream"));
      server.kill("SIGTERM");
      const guard = hangGuard("the server to exit after SIGTERM while an SSE client is connected", 20_000);
      try {
        expect(await Promise.race([server.exited, guard.promise])).toEqual({ code: 0, signal: null });
      } finally {
        guard.cancel();
      }
      expect(server.stdout()).toMatch(/Stopped\.\n$/);
      expect(await sse.ended).toBe("closed");
    } finally {
      sse.destroy();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("two replicas on one PostgreSQL", () => {
  it("share events live, and a client that loses its replica resumes on the other without gap or duplicate", async () => {
    const db = await throwawayDatabase();
    // One LAB_HOME each. A starts first and writes the first-start admin token; B finds a
    // token in the shared database and writes none.
    const a = await start({ home: home("lab-replica-a-"), db: db.url });
    const b = await start({ home: home("lab-replica-b-"), db: db.url });
    expect(a.token).toBeTruthy();
    expect(b.token).toBeNull();
    const admin = a.token as string;
    const created = await b.request<{ token: string }>(
      "POST",
      "/api/v1/tokens",
      { name: "fault-tests", scopes: ["read", "write"] },
      admin,
    );
    expect(created.status).toBe(201);
    const token = created.body.token;
    const on = (s: ServerProcess) => ({
      apply: async (name: string) => {
        const r = await s.request<ApplyResult>("POST", "/api/v1/apply", labelApply(name), token);
        if (r.status !== 200) throw new Error(`apply ${name} on ${s.url}: ${r.status} ${r.text}`);
        return r.body.eventId as number;
      },
      get: <T>(path: string) => s.request<T>("GET", path, undefined, token),
    });

    // Both replicas LISTEN on the shared database: that is how events cross between them.
    const pgc = new pg.Client({ connectionString: db.url });
    await pgc.connect();
    try {
      const listeners = await pgc.query(
        "select count(*)::int as n from pg_stat_activity where datname = current_database() and query = 'LISTEN lab_events'",
      );
      expect(listeners.rows[0].n).toBe(2);
    } finally {
      await pgc.end();
    }

    // --- an apply on A reaches a stream on B, live -------------------------------------------
    const newest = (await on(b).get<AuditEvent[]>("/api/v1/events?limit=1")).body[0]?.id ?? 0;
    const onB = new EventSocket(b, token, newest);
    await onB.opened;
    // A marker written through B proves B's stream is live before A writes.
    const marker = await on(b).apply("marker-b");
    await waitFor("B's own event on B's stream", () => onB.has(marker));
    const fromA = await on(a).apply("from-a");
    await waitFor("A's event on B's stream", () => onB.has(fromA));
    expect(onB.events.find((e) => e.id === fromA)?.subjects).toEqual(["label/from-a"]);
    expect(onB.ids).toEqual(range(newest + 1, fromA));
    // Reads on B see A's write.
    const shown = await on(b).get<{ name: string }>("/api/v1/labels/from-a");
    expect(shown.status).toBe(200);
    expect(shown.body.name).toBe("from-a");
    onB.close();

    // --- kill -9 A under a stream client, while a writer keeps applying through B -------------
    const start0 = (await on(b).get<AuditEvent[]>("/api/v1/events?limit=1")).body[0]?.id as number;
    const onA = new EventSocket(a, token, start0);
    await onA.opened;

    let stop = false;
    let written = 0;
    const writerIds: number[] = [];
    const writer = (async () => {
      while (!stop) {
        writerIds.push(await on(b).apply(`w-${++written}`));
        // B keeps answering reads too.
        const r = await on(b).get("/api/v1/labels?wide=false");
        if (r.status !== 200) throw new Error(`read on B: ${r.status} ${r.text}`);
      }
    })();
    writer.catch(() => undefined); // awaited below; a failure there fails the test

    await waitFor(
      "A's stream to carry the writer's events",
      () => writerIds.length >= 5 && onA.has(writerIds[4] as number),
    );
    a.kill("SIGKILL");
    expect(await onA.closed).toBe(1006);
    expect(await a.exited).toEqual({ code: null, signal: "SIGKILL" });
    const x = onA.lastId;
    // What A delivered was itself gap-free and in order.
    expect(onA.ids).toEqual(range(start0 + 1, x));

    const resumed = new EventSocket(b, token, x);
    await resumed.opened;
    const afterResume = writerIds.length;
    await waitFor(
      "the writer to go on through B and B's stream to deliver it live",
      () => writerIds.length >= afterResume + 5 && resumed.has(writerIds[afterResume + 4] as number),
    );
    stop = true;
    await writer;
    const last = writerIds.at(-1) as number;
    await waitFor("the resumed stream to reach the writer's last event", () => resumed.lastId >= last);
    // One more event after everything else: a late duplicate would have to arrive before it.
    const closing = await on(b).apply("closing");
    await waitFor("the closing event", () => resumed.has(closing));

    expect(resumed.other).toEqual([]); // no "missed" notices
    expect(resumed.ids).toEqual(range(x + 1, closing));
    // The single writer's events are consecutive ids, all delivered once, A's part then B's.
    expect([...onA.ids, ...resumed.ids]).toEqual(range(start0 + 1, closing));
    for (const id of writerIds) expect(onA.has(id) !== resumed.has(id)).toBe(true);
    // The streams carried exactly what the store holds.
    const stored = await on(b).get<AuditEvent[]>(`/api/v1/events?after=${start0}&limit=1000`);
    expect(stored.body).toEqual([...onA.events, ...resumed.events]);

    // B served throughout and is still healthy.
    const ready = await b.request<{ status: string }>("GET", "/readyz", undefined, null);
    expect(ready.status).toBe(200);
    const labels = await on(b).get<{ name: string }[]>("/api/v1/labels");
    const names = new Set(labels.body.map((l) => l.name));
    for (let i = 1; i <= written; i++) expect(names.has(`w-${i}`)).toBe(true);
    resumed.close();
    expect(await b.stop()).toEqual({ code: 0, signal: null });
  });
});

describe("two replicas started at once on an empty PostgreSQL", () => {
  it("both migrate the schema and come up, and every admin token they wrote works on both", async () => {
    const db = await throwawayDatabase();
    const [a, b] = await Promise.all([
      start({ home: home("lab-together-a-"), db: db.url }),
      start({ home: home("lab-together-b-"), db: db.url }),
    ]);
    // Who writes the first-start token depends on who looks first; at least one of them does.
    // (Both may: bootstrapAdmin's check-then-create is not atomic — see the report.)
    const tokens = [a.token, b.token].filter((t): t is string => Boolean(t));
    expect(tokens.length).toBeGreaterThanOrEqual(1);
    for (const token of tokens) {
      for (const s of [a, b]) {
        const who = await s.request<{ scopes: string[] }>("GET", "/api/v1/whoami", undefined, token);
        expect(who.status).toBe(200);
        expect(who.body.scopes).toEqual(["admin"]);
      }
    }
    const migrations = new pg.Client({ connectionString: db.url });
    await migrations.connect();
    try {
      const { rows } = await migrations.query("select name from kysely_migration order by name");
      // Each migration ran once, though two processes raced to run them.
      const names = rows.map((r) => r.name as string);
      expect(names).toContain("0001_initial");
      expect(new Set(names).size).toBe(names.length);
      const revision = await migrations.query("select count(*)::int as n from meta where key = 'revision'");
      expect(revision.rows[0].n).toBe(1);
    } finally {
      await migrations.end();
    }
    expect(await a.stop()).toEqual({ code: 0, signal: null });
    expect(await b.stop()).toEqual({ code: 0, signal: null });
  });
});

// ---------------------------------------------------------------------------------------------

describe("lab state migrate --to postgres://…", () => {
  it("copies a SQLite state that a PostgreSQL-backed server then serves identically; refuses a non-empty target", async () => {
    const labHome = home("lab-migrate-");
    const lab = labIn(labHome);
    expect(lab(["init", "--local"]).code).toBe(0);
    const applied = lab(["apply", "-f", "examples/homelab"]);
    expect(applied.code).toBe(0);
    // A few more events: a create, an update and a delete.
    expect(lab(["apply", "-f", "-"], "labels:\n  scratch: {}\n").code).toBe(0);
    expect(lab(["apply", "-f", "-"], "labels:\n  scratch:\n    puppet_classes: [base::scratch]\n").code).toBe(
      0,
    );
    expect(lab(["delete", "label", "scratch"]).code).toBe(0);
    const created = lab(["token", "create", "--name", "migration-test", "--scope", "read", "write"]);
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    const before = stateCheck(labHome);
    expect(before.events).toBeGreaterThanOrEqual(5);

    const db = await throwawayDatabase();
    const migrated = lab(["state", "migrate", "--to", db.url]);
    expect(migrated.stderr).toBe("");
    expect(migrated.code).toBe(0);
    expect(migrated.stdout).toContain(`verified resources: ${before.objects} rows identical`);
    expect(migrated.stdout).toContain(`verified events: ${before.events} rows identical`);
    expect(migrated.stdout).toContain("verified tokens: 1 rows identical");
    expect(migrated.stdout).toMatch(/verified meta: \d+ rows identical/);
    expect(migrated.stdout).toMatch(
      new RegExp(
        `Migrated and verified: resources ${before.objects}, events ${before.events}, tokens 1, meta \\d+`,
      ),
    );

    const onSqlite = await start({ home: labHome });
    const onPg = await start({ home: home("lab-migrated-pg-"), db: db.url });
    // The copied token works on the PostgreSQL side; no new admin token was made there.
    expect(onPg.token).toBeNull();
    for (const path of [
      "/api/v1/servers",
      "/api/v1/servers?wide=true",
      "/api/v1/labels",
      "/api/v1/groups",
      "/api/v1/events?after=0&limit=1000",
    ]) {
      const s = await onSqlite.request("GET", path, undefined, token);
      const p = await onPg.request("GET", path, undefined, token);
      expect(s.status, path).toBe(200);
      expect(p.status, path).toBe(200);
      expect(p.body, path).toEqual(s.body);
    }
    const servers = await onPg.request<unknown[]>("GET", "/api/v1/servers", undefined, token);
    expect(servers.body.length).toBe(17);

    // Event ids go on after the copied ones.
    const r = await onPg.request<ApplyResult>("POST", "/api/v1/apply", labelApply("after-migrate"), token);
    expect(r.status).toBe(200);
    expect(r.body.eventId).toBe(before.events + 1);

    // A second migration into the now non-empty database is refused and changes nothing.
    const again = lab(["state", "migrate", "--to", db.url]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("LAB_E_CONFLICT");
    const events = await onPg.request<AuditEvent[]>(
      "GET",
      "/api/v1/events?after=0&limit=1000",
      undefined,
      token,
    );
    expect(events.body.length).toBe(before.events + 1);

    expect(await onPg.stop()).toEqual({ code: 0, signal: null });
    expect(await onSqlite.stop()).toEqual({ code: 0, signal: null });
  }, 180_000); // two servers, a migration and a copy on a shared two-core machine: a hang guard
});
