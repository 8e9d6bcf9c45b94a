/**
 * The server's log pipeline: sources (OTel collector files, for now) feed one bounded ring,
 * which answers `GET /api/v1/logs` (search) and `GET /api/v1/sources` (each source's status).
 */
import { join } from "node:path";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { parse } from "../routes.js";
import { LEVELS } from "./model.js";
import { filePositionStore, OtelFileTail } from "./otel-file.js";
import { EventRing } from "./ring.js";
import { SourceRegistry } from "./sources.js";

export interface PipelineOptions {
  /** OpenTelemetry collector file-exporter outputs to tail. */
  otelFiles?: string[];
  /** Where the tails keep their positions (LAB_HOME/server/positions). */
  positionsDir: string;
  ringSize?: number;
  retentionMs?: number;
}

export class EventPipeline {
  readonly ring: EventRing;
  readonly sources = new SourceRegistry();

  constructor(opts: PipelineOptions) {
    this.ring = new EventRing(opts.ringSize ?? 100_000, opts.retentionMs ?? 24 * 3600_000);
    for (const [i, path] of (opts.otelFiles ?? []).entries()) {
      const tail: OtelFileTail = new OtelFileTail({
        path,
        positions: filePositionStore(join(opts.positionsDir, `otel-file-${i}.json`)),
        sink: (events) => {
          this.ring.push(events);
          this.sources.delivered(tail.source);
        },
      });
      this.sources.add({
        name: tail.source,
        kind: "otel-file",
        start: () => tail.start(),
        stop: () => tail.stop(),
        status: () => ({
          state: tail.status.state === "reading" ? "running" : tail.status.state,
          detail:
            tail.status.detail +
            (tail.status.malformed ? `; ${tail.status.malformed} malformed lines skipped` : "") +
            (tail.status.truncations ? `; truncated ${tail.status.truncations}×` : "") +
            (tail.status.rotations ? `; rotated ${tail.status.rotations}×` : ""),
          events: tail.status.events,
        }),
      });
    }
  }
}

const csv = z
  .string()
  .transform((s) =>
    s
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .optional();

export const logsQuerySchema = z.strictObject({
  node: csv,
  source: csv,
  level: z.enum(LEVELS).optional(),
  /** ISO time, or a duration back from now (`15m`, `2h`, `30s`). */
  since: z.string().optional(),
  after: z.coerce.number().int().nonnegative().optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
});

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 };

function sinceMs(s: string | undefined): number | undefined {
  if (!s) return undefined;
  const m = /^(\d+)([smhd])$/.exec(s);
  if (m) return Date.now() - Number(m[1]) * (UNITS[m[2] as string] as number);
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : t;
}

type Guard = (req: FastifyRequest, reply: FastifyReply, done: (e?: Error) => void) => void;

export function registerPipelineRoutes(app: FastifyInstance, p: EventPipeline, read: Guard): void {
  app.get("/api/v1/sources", { preHandler: read }, async () => p.sources.list());
  app.get("/api/v1/logs", { preHandler: read }, async (req) => {
    const q = parse(logsQuerySchema, req.query);
    const { events, missed } = p.ring.query({ ...q, since: sinceMs(q.since) });
    return { events, missed, last: p.ring.last, counts: p.ring.counts };
  });
}
