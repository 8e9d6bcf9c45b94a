/**
 * The pipeline's HTTP face (the contract is docs/events.md): search (`GET /api/v1/logs`),
 * statistics, the live stream over WebSocket and SSE, and the sources with their switches.
 */
import { LabError } from "@lab/core";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { parse, tokenFromQuery } from "../routes.js";
import { openEventStream, sseTransport, wsTransport } from "../streams.js";
import { LogClient, type LogFilter, sseWire, type Wire, wsWire } from "./fanout.js";
import { LEVELS } from "./model.js";
import type { EventPipeline } from "./pipeline.js";
import { SourceNotFound } from "./sources.js";

const csv = z
  .string()
  .transform((s) =>
    s
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .optional();

const filterFields = {
  node: csv,
  source: csv,
  service: csv,
  level: z.enum(LEVELS).optional(),
};

export const logsQuerySchema = z.strictObject({
  ...filterFields,
  /** ISO time, or a duration back from now (`15m`, `2h`, `30s`). */
  since: z.string().optional(),
  after: z.coerce.number().int().nonnegative().optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
});

export const logStreamQuerySchema = z.strictObject({
  ...filterFields,
  after: z.coerce.number().int().nonnegative().optional(),
  tail: z.coerce.number().int().min(1).max(10_000).optional(),
  stats: z.enum(["1", "true", "0", "false"]).optional(),
  /** Accepted for `/api/v1/events/*?channel=logs`, which lands here. */
  channel: z.literal("logs").optional(),
});

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 };

export function sinceMs(s: string | undefined, now = Date.now()): number | undefined {
  if (!s) return undefined;
  const m = /^(\d+)([smhd])$/.exec(s);
  if (m) return now - Number(m[1]) * (UNITS[m[2] as string] as number);
  const t = Date.parse(s);
  if (Number.isNaN(t)) {
    throw new LabError(
      "LAB_E_BAD_REQUEST",
      `since: expected an ISO time or a duration back from now (30s, 15m, 2h, 7d), got ${JSON.stringify(s)}`,
    );
  }
  return t;
}

type Guard = (req: FastifyRequest, reply: FastifyReply, done: (e?: Error) => void) => void;

export interface StreamRoutes {
  /** Serves one WebSocket client (also used by `/api/v1/events/ws?channel=logs`). */
  ws(
    socket: Parameters<typeof wsTransport>[0] & { on(e: "close", f: () => void): void },
    req: FastifyRequest,
  ): Promise<void>;
  sse(req: FastifyRequest, reply: FastifyReply): Promise<void>;
}

export function registerPipelineRoutes(
  app: FastifyInstance,
  p: EventPipeline,
  guards: { read: Guard; write: Guard },
  opts: { maxQueue: number; sseStreams: Set<() => void> },
): StreamRoutes {
  const { read, write } = guards;
  app.get("/api/v1/sources", { preHandler: read }, async () => p.sources.list());
  const sourceAction = (action: "disable" | "enable" | "restart") =>
    app.post(`/api/v1/sources/:name/${action}`, { preHandler: write }, async (req) => {
      const { name } = req.params as { name: string };
      try {
        return await p.sources[action](decodeURIComponent(name));
      } catch (e) {
        if (e instanceof SourceNotFound) throw new LabError("LAB_E_NOT_FOUND", e.message);
        throw e;
      }
    });
  sourceAction("disable");
  sourceAction("enable");
  sourceAction("restart");

  app.get("/api/v1/logs", { preHandler: read }, async (req) => {
    const q = parse(logsQuerySchema, req.query);
    const page = await p.query({ ...q, since: sinceMs(q.since) });
    return { events: page.events, missed: page.missed, last: page.last, counts: p.ring.counts };
  });
  app.get("/api/v1/logs/stats", { preHandler: read }, async () => p.stats());

  /** Attaches a client: hello, the replay it asked for, then live batches. */
  const connect = async (
    transport: ReturnType<typeof wsTransport>,
    wire: Wire,
    q: z.infer<typeof logStreamQuerySchema>,
    after: number | undefined,
  ) => {
    const filter: LogFilter = { level: q.level, node: q.node, source: q.source, service: q.service };
    const client = new LogClient(transport, {
      filter,
      wire,
      maxQueue: opts.maxQueue,
      stats: q.stats === "1" || q.stats === "true",
    });
    // Live events are held from here on, so nothing published during the replay is lost.
    client.hold();
    const detach = p.hub.add(client);
    client.say("hello", { last: p.ring.last, first: p.ring.first, filter });
    try {
      await p.replay(client, filter, { after, tail: q.tail });
    } finally {
      client.release();
    }
    return detach;
  };

  const ws: StreamRoutes["ws"] = async (socket, req) => {
    let detach: (() => void) | undefined;
    let closed = false;
    socket.on("close", () => {
      closed = true;
      detach?.();
    });
    try {
      const q = parse(logStreamQuerySchema, req.query);
      detach = await connect(wsTransport(socket), wsWire, q, q.after);
      if (closed) detach();
    } catch (e) {
      const err = e as LabError;
      (socket as unknown as { close(code: number, reason: string): void }).close(
        1008,
        `${err.code ?? "LAB_E_INTERNAL"}: ${err.message}`.slice(0, 120),
      );
    }
  };

  const sse: StreamRoutes["sse"] = async (req, reply) => {
    const q = parse(logStreamQuerySchema, req.query);
    const { res, after } = openEventStream(req, reply, "lab log stream", q.after);
    let detach: (() => void) | undefined;
    let closed = false;
    const keepAlive = setInterval(() => res.write(": keep-alive\n\n"), 15_000);
    const end = () => {
      res.write(sseWire.message("shutdown", {}));
      res.end();
    };
    opts.sseStreams.add(end);
    req.raw.on("close", () => {
      closed = true;
      clearInterval(keepAlive);
      opts.sseStreams.delete(end);
      detach?.();
    });
    detach = await connect(sseTransport(res) as ReturnType<typeof wsTransport>, sseWire, q, after);
    if (closed) detach();
  };

  app.get("/api/v1/logs/ws", { websocket: true, preHandler: [tokenFromQuery, read] }, (socket, req) =>
    ws(socket as never, req),
  );
  app.get("/api/v1/logs/stream", { preHandler: [tokenFromQuery, read] }, (req, reply) => sse(req, reply));
  return { ws, sse };
}
