/**
 * REST under /api/v1: everything the CLI can do, as the `Engine` interface's methods. Bodies
 * and queries are checked against the zod schemas in api-schema.ts; every error answers
 * `{error: {code, message, hint, path?, diagnostics?}}` with the code's HTTP status.
 */
import {
  type Engine,
  encodeFleetTable,
  isLabError,
  KINDS,
  type Kind,
  kindFromWord,
  LabError,
  type ListKind,
  type Scope,
  SECTION,
  type ServerFilter,
  type ServerRow,
  type ShowKind,
  type StateStore,
  type TokenStore,
} from "@lab/core";
import type { Callbacks } from "@lab/monitor";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ZodError, z } from "zod";
import {
  applyRequestSchema,
  backendParamSchema,
  eventQuerySchema,
  filterQuerySchema,
  renderNoteSchema,
  renderQuerySchema,
  streamQuerySchema,
  tokenCreateSchema,
} from "./api-schema.js";
import { Authenticator, createToken, type Principal, requireScope } from "./auth.js";
import type { EventBus } from "./bus.js";
import type { StreamRoutes } from "./events/routes.js";
import { ResponseCache, type RevisionCache } from "./response-cache.js";
import { attach, openEventStream, sseTransport, type TargetIndex, wsTransport } from "./streams.js";

export interface RouteDeps {
  engine: Engine;
  store: StateStore & TokenStore;
  bus: EventBus;
  targets: TargetIndex;
  /** Tells the event feed that this process just recorded something. */
  recorded: () => void;
  /** The engine for one request, acting as the token's holder (for the audit log). */
  engineAs: (actor: string) => Engine;
  maxQueue: number;
  /** Open SSE streams: each entry ends its stream (the server calls them on shutdown). */
  sseStreams: Set<() => void>;
  /** Where workloads push key/value health reports. */
  callbacks: Callbacks;
  /** The store's revision, cached between writes (invalidated by `recorded`). */
  revisions: RevisionCache;
  /** The log stream, which `?channel=logs` on the event streams switches to. */
  logStreams?: { current?: StreamRoutes };
  /** Where a stream opened without `after` starts: the newest event already on the bus. */
  newestEventId?: () => number;
}

const wantsLogs = (req: FastifyRequest) =>
  (req.query as { channel?: string } | undefined)?.channel === "logs";

/** `?token=` for the Authorization header (browsers cannot set headers on WebSocket/EventSource). */
export function tokenFromQuery(req: FastifyRequest, _reply: FastifyReply, done: (e?: Error) => void): void {
  const q = req.query as Record<string, unknown> | undefined;
  if (q && typeof q.token === "string") {
    if (!req.headers.authorization) req.headers.authorization = `Bearer ${q.token}`;
    delete q.token;
  }
  done();
}

const LIST_KINDS = KINDS.map((k) => SECTION[k]);
const SHOW_KINDS = ["servers", "labels", "groups", "alerts", "secrets"] as const;

declare module "fastify" {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  throw badRequest(r.error);
}

function badRequest(error: ZodError): LabError {
  const issue = error.issues[0];
  const path = issue?.path.length ? `$.${issue.path.join(".")}` : "$";
  const e = new LabError("LAB_E_BAD_REQUEST", `${path}: ${issue?.message ?? "invalid request"}`);
  (e as LabError & { path?: string }).path = path;
  return e;
}

function toFilter(q: z.infer<typeof filterQuerySchema> | z.infer<typeof streamQuerySchema>): ServerFilter {
  return {
    labels: q.label,
    groups: q.group,
    environments: q.environment,
    regions: q.region,
    exclude: q.exclude,
  };
}

export function errorBody(e: LabError) {
  return {
    error: {
      code: e.code,
      message: e.message,
      hint: e.hint,
      ...((e as LabError & { path?: string }).path ? { path: (e as LabError & { path?: string }).path } : {}),
      ...(e.diagnostics.length ? { diagnostics: e.diagnostics } : {}),
    },
  };
}

/** Route guard for a scope, and the audit actor of a request: for routes registered elsewhere. */
export interface RouteAuth {
  auth: (
    scope: Scope | Scope[],
  ) => (req: FastifyRequest, reply: FastifyReply, done: (e?: Error) => void) => void;
  actorOf: (req: FastifyRequest) => string;
}

export function registerRoutes(app: FastifyInstance, deps: RouteDeps): RouteAuth {
  const { store } = deps;
  const authenticator = new Authenticator(store);
  const auth =
    (scope: Scope | Scope[]) => (req: FastifyRequest, _reply: FastifyReply, done: (e?: Error) => void) => {
      const admit = (principal: Principal) => {
        requireScope(principal, scope);
        req.principal = principal;
      };
      try {
        // A recently seen token is answered without a promise (the common case).
        const known = authenticator.peek(req.headers.authorization);
        if (known) {
          admit(known);
          return done();
        }
      } catch (e) {
        return done(e as Error);
      }
      authenticator.authenticate(req.headers.authorization).then(
        (principal) => {
          try {
            admit(principal);
            done();
          } catch (e) {
            done(e as Error);
          }
        },
        (e: Error) => done(e),
      );
    };
  /**
   * Read responses, serialised once per store revision: a repeated GET costs a revision
   * check and a send, not a resolution and a JSON.stringify.
   */
  const cache = new ResponseCache(deps.revisions);
  // Fast path: a repeated read by a recently seen token is answered in the first hook, with
  // no promise, no routing work and no handler. Only successful reads are ever cached, and
  // every cached route needs just the read scope (a puppet-only token lacks it: checked here).
  app.addHook("onRequest", (req, reply, done) => {
    if (req.method !== "GET") return done();
    const body = cache.peek(req.url);
    if (!body) return done();
    let principal: Principal | undefined;
    try {
      principal = authenticator.peek(req.headers.authorization);
    } catch {
      return done(); // a cached refusal: let the route answer it properly
    }
    if (!principal) return done();
    try {
      requireScope(principal, "read");
    } catch {
      return done(); // the route refuses it with 403
    }
    req.principal = principal;
    reply.type("application/json; charset=utf-8").send(body);
  });
  const cached =
    (compute: (req: FastifyRequest) => Promise<unknown>) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      const body = await cache.get(req.url, () => compute(req));
      return reply.type("application/json; charset=utf-8").send(body);
    };
  const actorOf = (req: FastifyRequest) =>
    `token:${req.principal?.name ?? "?"}(${req.principal?.tokenId ?? "?"})`;
  const engineFor = (req: FastifyRequest) => deps.engineAs(actorOf(req));

  app.get("/api/v1/whoami", { preHandler: auth("read") }, async (req) => req.principal);

  app.post("/api/v1/apply", { preHandler: auth("write") }, async (req) => {
    const body = parse(applyRequestSchema, req.body);
    try {
      return await engineFor(req).apply(body);
    } finally {
      deps.recorded();
    }
  });

  for (const plural of LIST_KINDS) {
    const kind = kindFromWord(plural) as Kind;
    app.get(
      `/api/v1/${plural}`,
      { preHandler: auth("read") },
      cached(async (req) => {
        const q = parse(filterQuerySchema, req.query);
        return deps.engine.list(kind as ListKind, { filter: toFilter(q), wide: q.wide === "true" });
      }),
    );
    app.delete(`/api/v1/${plural}/:name`, { preHandler: auth("write") }, async (req) => {
      const { name } = req.params as { name: string };
      try {
        return await engineFor(req).delete(kind, name);
      } finally {
        deps.recorded();
      }
    });
  }

  // The server list for the dashboard, columnar and with every repeated string once (see
  // @lab/core fleet-table): the same rows as GET /servers in about a tenth of the bytes.
  app.get(
    "/api/v1/fleet",
    { preHandler: auth("read") },
    cached(async (req) => {
      const q = parse(filterQuerySchema, req.query);
      const rows = await deps.engine.list("server", { filter: toFilter(q) });
      return encodeFleetTable(rows as ServerRow[]);
    }),
  );

  for (const plural of SHOW_KINDS) {
    const kind = kindFromWord(plural) as ShowKind;
    app.get(
      `/api/v1/${plural}/:name`,
      { preHandler: auth("read") },
      cached(async (req) => deps.engine.show(kind, (req.params as { name: string }).name)),
    );
  }
  app.get("/api/v1/servers/:name/targets", { preHandler: auth("read") }, async (req) =>
    deps.engine.targets((req.params as { name: string }).name),
  );
  app.get("/api/v1/servers/:name/describe", { preHandler: auth("read") }, async (req) =>
    deps.engine.describe((req.params as { name: string }).name),
  );
  app.get("/api/v1/names/:kind", { preHandler: auth("read") }, async (req) => {
    const kind = kindFromWord((req.params as { kind: string }).kind);
    if (!kind) throw new LabError("LAB_E_NOT_FOUND", "no such kind");
    return deps.engine.names(kind);
  });

  app.get("/api/v1/render/:backend", { preHandler: auth("read") }, async (req) => {
    const { backend } = parse(backendParamSchema, req.params);
    const { baseDir } = parse(renderQuerySchema, req.query);
    return deps.engine.render(backend, baseDir);
  });
  app.post("/api/v1/render/:backend/notes", { preHandler: auth("write") }, async (req) => {
    const note = parse(renderNoteSchema, req.body);
    await engineFor(req).noteRendered(note);
    deps.recorded();
    return { recorded: true };
  });

  // POST/GET /api/v1/callbacks: events/callbacks.ts (machine tokens, live state, events).

  app.get("/api/v1/events", { preHandler: auth("read") }, async (req) => {
    const q = parse(eventQuerySchema, req.query);
    const events = await store.events({
      after: q.after,
      limit: q.limit ?? (q.after === undefined ? 50 : 1000),
    });
    return q.kind?.length ? events.filter((e) => q.kind?.includes(e.action)) : events;
  });

  app.get("/api/v1/tokens", { preHandler: auth("admin") }, async () => store.listTokens());
  app.post("/api/v1/tokens", { preHandler: auth("admin") }, async (req, reply) => {
    const body = parse(tokenCreateSchema, req.body);
    const created = await createToken(store, { ...body, createdBy: actorOf(req) });
    await store.record({
      actor: actorOf(req),
      action: "token.create",
      result: "ok",
      summary: `created token ${created.record.id} "${body.name}" (${body.scopes.join(",")})`,
      changes: [],
      subjects: [`token/${created.record.id}`],
    });
    deps.recorded();
    reply.code(201);
    return created;
  });
  app.delete("/api/v1/tokens/:id", { preHandler: auth("admin") }, async (req) => {
    const { id } = req.params as { id: string };
    const revoked = await store.revokeToken(id, new Date().toISOString());
    authenticator.forget();
    if (!revoked) {
      throw new LabError("LAB_E_NOT_FOUND", `token "${id}" not found`);
    }
    await store.record({
      actor: actorOf(req),
      action: "token.revoke",
      result: "ok",
      summary: `revoked token ${id}`,
      changes: [],
      subjects: [`token/${id}`],
    });
    deps.recorded();
    return { id, revoked: true };
  });

  // ---------- live events ----------

  const streamFilter = (q: z.infer<typeof streamQuerySchema>) => ({
    kinds: q.kind,
    servers: q.server,
    target: toFilter(q),
  });

  app.get("/api/v1/events/stream", { preHandler: [tokenFromQuery, auth("read")] }, async (req, reply) => {
    if (wantsLogs(req) && deps.logStreams?.current) return deps.logStreams.current.sse(req, reply);
    const q = parse(streamQuerySchema, req.query);
    const { res, after } = openEventStream(req, reply, "lab event stream", q.after);
    const detach = await attach(
      deps,
      sseTransport(res),
      streamFilter(q),
      after,
      {
        event: (e, json) => `id: ${e.id}\nevent: ${e.action}\ndata: ${json}\n\n`,
        missed: (n, from) => `event: missed\ndata: ${JSON.stringify({ missed: n, resumeAfter: from })}\n\n`,
      },
      deps.maxQueue,
    );
    const keepAlive = setInterval(() => res.write(": keep-alive\n\n"), 15_000);
    const end = () => {
      res.write("event: shutdown\ndata: {}\n\n");
      res.end();
    };
    deps.sseStreams.add(end);
    req.raw.on("close", () => {
      clearInterval(keepAlive);
      deps.sseStreams.delete(end);
      detach();
    });
  });

  app.get(
    "/api/v1/events/ws",
    { websocket: true, preHandler: [tokenFromQuery, auth("read")] },
    async (socket, req) => {
      if (wantsLogs(req) && deps.logStreams?.current) return deps.logStreams.current.ws(socket as never, req);
      const q = parse(streamQuerySchema, req.query);
      const detach = await attach(
        deps,
        wsTransport(socket),
        streamFilter(q),
        q.after,
        {
          event: (_e, json) => `{"type":"event","event":${json}}`,
          missed: (n, from) => JSON.stringify({ type: "missed", missed: n, resumeAfter: from }),
        },
        deps.maxQueue,
      );
      socket.on("close", detach);
    },
  );
  return { auth, actorOf };
}

/** Maps anything thrown in a route to the API's error body. */
export function errorHandler(error: unknown, _req: FastifyRequest, reply: FastifyReply) {
  const e = toLabError(error);
  if (e.code === "LAB_E_INTERNAL") reply.log.error(error);
  return reply.code(e.httpStatus).send(errorBody(e));
}

export function toLabError(error: unknown): LabError {
  if (isLabError(error)) return error;
  const code = (error as { code?: string }).code;
  const status = (error as { statusCode?: number }).statusCode;
  if (code === "FST_ERR_CTP_BODY_TOO_LARGE" || status === 413) {
    return new LabError("LAB_E_TOO_LARGE", "the request body is larger than the server accepts");
  }
  if (code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
    return new LabError("LAB_E_BAD_REQUEST", "send the body as application/json");
  }
  if (
    code === "FST_ERR_CTP_EMPTY_JSON_BODY" ||
    error instanceof SyntaxError ||
    code?.startsWith("FST_ERR_CTP")
  ) {
    return new LabError("LAB_E_BAD_JSON", `the body is not valid JSON: ${(error as Error).message}`);
  }
  if (status && status >= 400 && status < 500) {
    return new LabError("LAB_E_BAD_REQUEST", (error as Error).message);
  }
  return new LabError("LAB_E_INTERNAL", (error as Error).message ?? String(error));
}
