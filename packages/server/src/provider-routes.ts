/**
 * The provider lifecycle on the API (the CLI's `lab plan|apply|diff|sync|destroy server` in
 * client mode). The server runs the same ProviderService as local mode, with its own settings
 * (its environment's LAB_LIBVIRT_URI, AWS credentials …), so both modes print the same bytes:
 *
 *   POST /api/v1/servers/:name/plan     read   what apply would do  {draft?}
 *   POST /api/v1/servers/:name/apply    write  the model, then the provider  {draft?} ?wait=false
 *   GET  /api/v1/servers/:name/diff     read   spec against what the provider reports now
 *   POST /api/v1/servers/:name/sync     write  reconcile where the provider can
 *   POST /api/v1/servers/:name/destroy  write  at the provider, then in the model  {dryRun?}
 *   POST /api/v1/labels/:name/all-providers  read  the label at every provider, priced  {prices?}
 *
 * Lines of progress are collected and returned with the answer (`progress`), as the CLI prints
 * them. A diff is a read that keeps an observation (the SYNC pillar): reading is what observes.
 */
import type { Provider, ProviderServiceDeps } from "@lab/providers";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import {
  allProvidersBodySchema,
  applyQuerySchema,
  destroyBodySchema,
  serverDraftSchema,
} from "./api-schema.js";
import { parse, type RouteAuth } from "./routes.js";

const nameParam = z.object({ name: z.string().min(1).max(253) });

export interface ProviderRouteDeps {
  load: ProviderServiceDeps["load"];
  engineAs: (actor: string) => ProviderServiceDeps["engine"];
  sync: ProviderServiceDeps["sync"];
  record: ProviderServiceDeps["record"];
  /** This server's providers (providerRegistry over its environment). */
  provider(name: string): Provider;
  /** The model changed (apply, destroy): caches and stream filters follow it. */
  recorded(): void;
}

export async function registerProviderRoutes(
  app: FastifyInstance,
  deps: ProviderRouteDeps,
  { auth, actorOf }: RouteAuth,
): Promise<void> {
  // Loaded on first registration only: the AWS SDK is large and most servers never use it.
  const { ProviderService, allProviders } = await import("@lab/providers");
  const { parsePriceFile } = await import("@lab/core");
  const serviceFor = (req: FastifyRequest) => {
    const actor = actorOf(req);
    return new ProviderService({
      load: deps.load,
      engine: deps.engineAs(actor),
      sync: deps.sync,
      record: deps.record,
      provider: deps.provider,
      actor,
    });
  };
  const nameOf = (req: FastifyRequest) => parse(nameParam, req.params).name;
  /** Runs an operation that reports progress, and returns its lines with its answer. */
  const withProgress = async <T extends object>(run: (p: (l: string) => void) => Promise<T>) => {
    const progress: string[] = [];
    const result = await run((l) => progress.push(l));
    return { ...result, progress };
  };

  app.post("/api/v1/servers/:name/plan", { preHandler: auth("read") }, async (req) =>
    serviceFor(req).plan(nameOf(req), parse(serverDraftSchema, req.body ?? {})),
  );
  app.post("/api/v1/servers/:name/apply", { preHandler: auth("write") }, async (req) => {
    const name = nameOf(req);
    const draft = parse(serverDraftSchema, req.body ?? {});
    const { wait } = parse(applyQuerySchema, req.query ?? {});
    try {
      return await withProgress((p) => serviceFor(req).apply(name, draft, p, { wait: wait !== "false" }));
    } finally {
      deps.recorded();
    }
  });
  app.get("/api/v1/servers/:name/diff", { preHandler: auth("read") }, async (req) =>
    serviceFor(req).diff(nameOf(req)),
  );
  app.post("/api/v1/servers/:name/sync", { preHandler: auth("write") }, async (req) => {
    const name = nameOf(req);
    parse(z.object({}).strict(), req.body ?? {});
    return withProgress((p) => serviceFor(req).sync(name, p));
  });
  // A read with a body: the --prices file travels as text, and is parsed (and blamed) here.
  app.post("/api/v1/labels/:name/all-providers", { preHandler: auth("read") }, async (req) => {
    const { prices } = parse(allProvidersBodySchema, req.body ?? {});
    return allProviders(await deps.load(), nameOf(req), prices ? { priceFile: parsePriceFile(prices) } : {});
  });
  app.post("/api/v1/servers/:name/destroy", { preHandler: auth("write") }, async (req) => {
    const name = nameOf(req);
    const { dryRun } = parse(destroyBodySchema, req.body ?? {});
    if (dryRun) return serviceFor(req).planDestroy(name);
    try {
      return await withProgress((p) => serviceFor(req).destroy(name, p));
    } finally {
      deps.recorded();
    }
  });
}
