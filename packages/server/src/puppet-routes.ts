/**
 * Puppet (OpenVox) talks to Lab here: a puppetserver's ENC script fetches a node's
 * classification, and Puppet's `http` report processor posts every run report. Both accept
 * an API token as `Authorization: Bearer …` or as the password of HTTP Basic auth (reporturl
 * `https://puppet:TOKEN@lab:7443/…`); a `puppet`-scoped token can do nothing else.
 */
import { encYaml, type LabService } from "@lab/core";
import type { FastifyInstance } from "fastify";
import type { RouteAuth } from "./routes.js";

export interface PuppetRouteDeps {
  /** The engine reports are ingested through (its cached fleet maps certnames to servers). */
  engine: LabService;
  /** Tells the event feed that an event was recorded (a failed run is one). */
  recorded: () => void;
  log: (line: string) => void;
}

/** The MIME types Puppet and people send reports as; JSON is read by the same YAML parser. */
const REPORT_TYPES = ["application/x-yaml", "application/yaml", "text/yaml"];

export function registerPuppetRoutes(app: FastifyInstance, deps: PuppetRouteDeps, auth: RouteAuth): void {
  app.register(async (scope) => {
    // Reports stay text: the parser needs Puppet's YAML (with its Ruby tags) or JSON as sent.
    scope.removeContentTypeParser("application/json");
    scope.addContentTypeParser(
      [...REPORT_TYPES, "application/json"],
      { parseAs: "string", bodyLimit: 16 * 1024 * 1024 },
      (_req, body, done) => done(null, body),
    );

    /** The ENC answer: YAML for Puppet's exec node terminus, JSON with provenance when asked. */
    scope.get(
      "/api/v1/puppet/enc/:certname",
      { preHandler: auth.auth(["read", "puppet"]) },
      async (req, reply) => {
        const node = await deps.engine.enc((req.params as { certname: string }).certname);
        if (/json/.test(req.headers.accept ?? "")) return node;
        return reply.type("application/yaml; charset=utf-8").send(encYaml(node));
      },
    );

    scope.post("/api/v1/puppet/reports", { preHandler: auth.auth(["write", "puppet"]) }, async (req) => {
      const { run, event } = await deps.engine.ingestPuppetReport(String(req.body ?? ""));
      if (event) {
        deps.log(`puppet: ${event.summary}`);
        deps.recorded();
      }
      return { server: run.server, status: run.status, eventId: event?.id ?? null };
    });
  });
}
