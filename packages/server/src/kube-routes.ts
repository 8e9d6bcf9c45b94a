/**
 * Kubernetes deployments on the API, for the CLI in client mode (`lab get deployments`,
 * `lab deploy`, `lab scale`). The server holds the kubeconfig secrets, so it is the one that
 * talks to the clusters, through the same @lab/kube deployer local mode runs.
 *
 *   GET  /api/v1/deployments?cluster=&label=                     read   Lab's deployments, per cluster
 *   POST /api/v1/clusters/:cluster/deployments[?dryRun=true]     write  {label, replicas, image}
 *   POST /api/v1/clusters/:cluster/deployments/:label/scale      write  {replicas}
 *
 * A scale names the label, not the Deployment: the Deployment's name is derived from it, and
 * the label is what the user typed (and what the refusal's message talks about).
 */
import type { Deployer } from "@lab/kube";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { parse, type RouteAuth } from "./routes.js";

export const deploymentsQuerySchema = z.strictObject({
  cluster: z.string().min(1).max(253).optional(),
  label: z.string().min(1).max(253).optional(),
});

const replicas = z.number().int().min(0).max(100_000);

/** An empty image is let through: the offline validator refuses it with its path, as locally. */
export const deployBodySchema = z.strictObject({
  label: z.string().min(1).max(253),
  replicas,
  image: z.string().max(1024),
});

export const scaleBodySchema = z.strictObject({ replicas });

const dryRunQuery = z.strictObject({ dryRun: z.enum(["true", "false"]).optional() });
const clusterParams = z.object({ cluster: z.string().min(1).max(253) });
const scaleParams = clusterParams.extend({ label: z.string().min(1).max(253) });

export interface KubeRouteDeps {
  /**
   * A deployer acting as the request's token holder (its deploys and scales are audited);
   * async so that @kubernetes/client-node loads at the first request, not at start-up.
   */
  deployerAs: (actor: string) => Promise<Deployer>;
}

export function registerKubeRoutes(app: FastifyInstance, deps: KubeRouteDeps, { auth, actorOf }: RouteAuth) {
  app.get("/api/v1/deployments", { preHandler: auth("read") }, async (req) => {
    const q = parse(deploymentsQuerySchema, req.query);
    return (await deps.deployerAs(actorOf(req))).list(q);
  });
  app.post("/api/v1/clusters/:cluster/deployments", { preHandler: auth("write") }, async (req) => {
    const { cluster } = parse(clusterParams, req.params);
    const { dryRun } = parse(dryRunQuery, req.query);
    const body = parse(deployBodySchema, req.body);
    const deployer = await deps.deployerAs(actorOf(req));
    return dryRun === "true" ? deployer.render({ ...body, cluster }) : deployer.deploy({ ...body, cluster });
  });
  app.post(
    "/api/v1/clusters/:cluster/deployments/:label/scale",
    { preHandler: auth("write") },
    async (req) => {
      const { cluster, label } = parse(scaleParams, req.params);
      const { replicas } = parse(scaleBodySchema, req.body);
      return (await deps.deployerAs(actorOf(req))).scale({ cluster, label, replicas });
    },
  );
}
