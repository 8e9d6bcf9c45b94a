/**
 * Puppet (OpenVox) talks to Lab here: a puppetserver's ENC script fetches a node's
 * classification, Puppet's `http` report processor posts every run report, and its autosign
 * executable (`lab puppet autosign`) asks whether to sign a CSR. The first two accept an API
 * token as `Authorization: Bearer …` or as the password of HTTP Basic auth (reporturl
 * `https://puppet:TOKEN@lab:7443/…`); a `puppet`-scoped token can do nothing else. Signing
 * needs its own `autosign` scope (or admin): it spends join tokens, which reading does not.
 */
import { encYaml, type LabService, type NewAuditEvent } from "@lab/core";
import { autosign, type JoinTokenStore } from "@lab/identity";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { parse, type RouteAuth } from "./routes.js";

export interface PuppetRouteDeps {
  /** The engine reports are ingested through (its cached fleet maps certnames to servers). */
  engine: LabService;
  /** Tells the event feed that an event was recorded (a failed run is one). */
  recorded: () => void;
  log: (line: string) => void;
  /** The join tokens autosigning spends. */
  tokens: JoinTokenStore;
  /** Records an audit event and tells the event feed. */
  record: (event: NewAuditEvent) => Promise<unknown>;
}

/** What the autosign executable posts: puppetserver's certname and the CSR's PEM. */
export const autosignRequestSchema = z.object({
  certname: z.string().min(1).max(253),
  csr: z.string().min(1).max(65_536),
});

/** The MIME types Puppet and people send reports as; JSON is read by the same YAML parser. */
const REPORT_TYPES = ["application/x-yaml", "application/yaml", "text/yaml"];

export function registerPuppetRoutes(app: FastifyInstance, deps: PuppetRouteDeps, auth: RouteAuth): void {
  /** Signs (200) or refuses (403 LAB_E_AUTOSIGN_REFUSED, with the reason) one Puppet CSR. */
  app.post("/api/v1/puppet/autosign", { preHandler: auth.auth(["admin", "autosign"]) }, async (req) => {
    const body = parse(autosignRequestSchema, req.body);
    const decision = await autosign(
      { repo: deps.tokens, record: deps.record, actor: auth.actorOf(req) },
      body,
    );
    deps.log(`puppet: signed the CSR of ${decision.certname}`);
    return { signed: true, ...decision };
  });

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
