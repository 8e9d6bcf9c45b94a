/**
 * Secrets on the API, for the CLI in client mode. Values travel in one direction only: an
 * admin may set one (PUT); nothing here returns a value. Machines read values from the store
 * over mTLS (the agent channel's port), never with an API token.
 *
 *   GET /api/v1/secret-store/secrets          read   the list (`lab get secrets`)
 *   GET /api/v1/secret-store/report?name=N    read   derivation chain (`lab show secret N`)
 *   GET /api/v1/secret-store/audit            read   orphans, empties (`lab secret audit`)
 *   GET /api/v1/secret-store/status           read   the store as the server sees it
 *   PUT /api/v1/secret-store/value?name=N     admin  {value: base64, unlessSame?}
 *   POST /api/v1/secret-store/rotate?name=N   admin  a new value for a dynamic secret
 *   POST /api/v1/secret-store/backup          admin  {url?}: push the encrypted git backup
 */
import { LabError, type NewAuditEvent } from "@lab/core";
import type { SecretsHost } from "@lab/secrets";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { parse, type RouteAuth } from "./routes.js";

const nameQuery = z.object({ name: z.string().min(1).max(512) });
const valueBody = z.object({
  value: z
    .string()
    .min(1)
    .max(2 * 1024 * 1024),
  /** Store nothing when the value is the current one (`lab apply cluster`'s kubeconfig). */
  unlessSame: z.boolean().optional(),
});

export function registerSecretRoutes(
  app: FastifyInstance,
  host: SecretsHost,
  { auth, actorOf }: RouteAuth,
  record: (e: NewAuditEvent) => Promise<void>,
): void {
  app.get("/api/v1/secret-store/secrets", { preHandler: auth("read") }, async () => host.list());
  app.get("/api/v1/secret-store/audit", { preHandler: auth("read") }, async () => host.audit());
  app.get("/api/v1/secret-store/report", { preHandler: auth("read") }, async (req) => {
    const { name } = parse(nameQuery, req.query);
    const report = await host.report(name);
    if (!report)
      throw new LabError("LAB_E_NOT_FOUND", `secret "${name}" is not defined, listed or called anywhere`);
    return report;
  });
  app.get("/api/v1/secret-store/status", { preHandler: auth("read") }, async () => ({
    values: host.vault.list().length,
    recipient: host.vault.recipient,
    backup: host.lastBackup(),
    replicas: await host.replicas(),
  }));
  app.post("/api/v1/secret-store/rotate", { preHandler: auth("admin") }, async (req) => {
    const { name } = parse(nameQuery, req.query);
    const actor = actorOf(req);
    const rotated = await host.rotate(name, actor);
    await record({
      actor,
      action: "secret.rotate",
      result: "ok",
      summary: `rotated secret ${name} (${rotated.map((m) => `${m.path} v${m.version}`).join(", ") || "no machine has one yet"})`,
      changes: [],
      subjects: [`secret/${name}`],
    });
    return rotated;
  });
  app.post("/api/v1/secret-store/backup", { preHandler: auth("admin") }, async (req) => {
    const { url } = parse(z.object({ url: z.string().min(1).max(2048).optional() }), req.body ?? {});
    return host.backup(url);
  });
  app.put(
    "/api/v1/secret-store/value",
    { preHandler: auth("admin"), bodyLimit: 3 * 1024 * 1024 },
    async (req) => {
      const { name } = parse(nameQuery, req.query);
      const { value, unlessSame } = parse(valueBody, req.body);
      const actor = actorOf(req);
      const result = await host.set(name, Buffer.from(value, "base64"), actor, { unlessSame });
      if (result.unchanged) return result;
      await record({
        actor,
        action: "secret.set",
        result: "ok",
        summary: `set secret ${name} (version ${result.meta.version}; readable by ${result.servers} server(s))`,
        changes: [],
        subjects: [`secret/${name}`],
      });
      return result;
    },
  );
}
