/**
 * Callbacks (labwatch's callbacks watcher) on the one pipeline: workloads and boot scripts
 * POST key/value reports; each is kept as live state per node (the monitor package's
 * Callbacks, which also feeds health) and emitted as an event.
 *
 * Who may report: an operator's API token (write scope) for any server, or a machine's own
 * callback token for that machine only. A callback token is `labcb_<name>.<mac>` where mac is
 * an HMAC-SHA256 of the name under a key kept in LAB_HOME/server/callback.key (0600), so the
 * server stores no per-machine secret and a token cannot be turned into another machine's.
 * Replacing the key file revokes every callback token at once.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { LabError } from "@lab/core";
import type { CallbackEntry, Callbacks } from "@lab/monitor";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { parse } from "../routes.js";
import type { LabEvent } from "./model.js";
import type { EventSource, SourceContext } from "./sources.js";

const PREFIX = "labcb_";

export class CallbackTokens {
  private readonly key: Buffer;

  constructor(keyFile: string) {
    if (!existsSync(keyFile)) writeFileSync(keyFile, randomBytes(32).toString("base64"), { mode: 0o600 });
    this.key = Buffer.from(readFileSync(keyFile, "utf8").trim(), "base64");
  }

  private mac(name: string): string {
    return createHmac("sha256", this.key).update(`lab-callback:${name}`).digest("base64url");
  }

  issue(name: string): string {
    return `${PREFIX}${Buffer.from(name).toString("base64url")}.${this.mac(name)}`;
  }

  /** The machine a token was issued to; throws LAB_E_CALLBACK_TOKEN for anything else. */
  verify(token: string): string {
    const body = token.slice(PREFIX.length);
    const dot = body.indexOf(".");
    const name = dot > 0 ? Buffer.from(body.slice(0, dot), "base64url").toString() : "";
    const given = Buffer.from(body.slice(dot + 1));
    const want = Buffer.from(this.mac(name));
    if (!token.startsWith(PREFIX) || !name || given.length !== want.length || !timingSafeEqual(given, want)) {
      throw new LabError("LAB_E_CALLBACK_TOKEN", "this callback token was not issued by this server");
    }
    return name;
  }

  static looksLike(header: string | undefined): boolean {
    return Boolean(header?.startsWith(`Bearer ${PREFIX}`));
  }
}

/** A report as it is shown: times as ISO, and whether it is past its TTL. */
export function showEntry(e: CallbackEntry, now = Date.now()) {
  return {
    key: e.key,
    status: e.status,
    ...(e.value !== undefined ? { value: e.value } : {}),
    at: new Date(e.at).toISOString(),
    expiresAt: new Date(e.expiresAt).toISOString(),
    stale: now >= e.expiresAt,
  };
}

/** The `callbacks` event source: every accepted report, as an event. */
export class CallbackEvents implements EventSource {
  readonly name = "callbacks";
  readonly kind = "callbacks";
  private ctx: SourceContext | undefined;

  start(ctx: SourceContext): void {
    this.ctx = ctx;
  }

  stop(): void {
    this.ctx = undefined;
  }

  status() {
    return this.ctx
      ? { state: "running" as const, detail: "accepting POST /api/v1/callbacks" }
      : { state: "stopped" as const, detail: "switched off: reports are kept as state, not logged" };
  }

  emit(e: CallbackEntry, by: string): void {
    const event: LabEvent = {
      time: new Date(e.at).toISOString(),
      node: e.server,
      service: null,
      source: "callbacks",
      level: e.status === "failed" ? "error" : e.status === "warning" ? "warn" : "info",
      message: `${e.key}: ${e.status}${e.value !== undefined ? ` ${e.value}` : ""}`,
      attributes: { key: e.key, status: e.status, by, ...(e.value !== undefined ? { value: e.value } : {}) },
    };
    void this.ctx?.emit([event]);
  }
}

type Guard = (req: FastifyRequest, reply: FastifyReply, done: (e?: Error) => void) => void;

const nodeQuery = z.strictObject({
  node: z
    .string()
    .transform((s) => s.split(",").filter(Boolean))
    .optional(),
});

export function registerCallbackRoutes(
  app: FastifyInstance,
  deps: {
    callbacks: Callbacks;
    tokens: CallbackTokens;
    events: CallbackEvents;
    guards: { read: Guard; write: Guard; admin: Guard };
    actorOf: (req: FastifyRequest) => string;
  },
): void {
  const { callbacks, tokens, events, guards } = deps;
  /** A machine's callback token, else an operator's API token with write scope. */
  const reporter: Guard = (req, reply, done) => {
    if (!CallbackTokens.looksLike(req.headers.authorization)) return guards.write(req, reply, done);
    try {
      const machine = tokens.verify((req.headers.authorization as string).slice("Bearer ".length));
      (req as FastifyRequest & { machine?: string }).machine = machine;
      done();
    } catch (e) {
      done(e as Error);
    }
  };
  app.post("/api/v1/callbacks", { preHandler: reporter }, async (req, reply) => {
    const machine = (req as FastifyRequest & { machine?: string }).machine;
    const claimed = (req.body as { server?: unknown } | null)?.server;
    if (machine !== undefined && claimed !== machine) {
      throw new LabError(
        "LAB_E_CALLBACK_FORBIDDEN",
        `this callback token belongs to ${machine}; it cannot report for ${JSON.stringify(claimed ?? null)}`,
      );
    }
    const { entry } = callbacks.record(req.body);
    events.emit(entry, machine !== undefined ? `machine:${machine}` : deps.actorOf(req));
    reply.code(202);
    return entry;
  });
  app.get("/api/v1/callbacks", { preHandler: guards.read }, async (req) => {
    const q = parse(nodeQuery, req.query);
    const nodes: Record<string, ReturnType<typeof showEntry>[]> = {};
    const now = Date.now();
    for (const e of callbacks.entries()) {
      if (q.node?.length && !q.node.includes(e.server)) continue;
      const list = nodes[e.server] ?? [];
      list.push(showEntry(e, now));
      nodes[e.server] = list;
    }
    return { nodes };
  });
  app.get("/api/v1/callbacks/:node", { preHandler: guards.read }, async (req) => {
    const { node } = req.params as { node: string };
    return callbacks.entries(node).map((e) => showEntry(e));
  });
  app.post("/api/v1/callbacks/tokens", { preHandler: guards.admin }, async (req) => {
    const body = parse(z.strictObject({ server: z.string().min(1).max(253) }), req.body);
    return { server: body.server, token: tokens.issue(body.server) };
  });
}
