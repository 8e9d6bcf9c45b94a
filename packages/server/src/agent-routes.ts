/**
 * Agent and identity routes on the main API.
 *
 * Authenticated by what the caller proves, not by an API token:
 *   POST /api/v1/agent/enrol      a one-time join token + CSR → client certificate
 *   POST /api/v1/agent/challenge  a challenge for a same-key renewal
 *   POST /api/v1/agent/renew      CSR + signature over the challenge → certificate
 * Authenticated by API token:
 *   GET  /api/v1/agents, /api/v1/agents/:name                    read
 *   POST /api/v1/agents/:name/renew                              write
 *   POST /api/v1/agents/:name/revoke, /api/v1/join-tokens,
 *        /api/v1/agents/:name/exec (NDJSON stream)               admin
 */
import { isIPv4 } from "node:net";
import { DNS_AFTER_REVOKE, type DnsState, LabError, type NewAuditEvent, type TokenStore } from "@lab/core";
import {
  type AgentRecord,
  assertMachineName,
  challengeRequestSchema,
  createJoinToken,
  type EnrolResponse,
  enrolRequestSchema,
  type IdentityService,
  renewRequestSchema,
} from "@lab/identity";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import type { AgentChannel, SessionInfo } from "./agent-channel.js";
import { Authenticator, type Principal, requireScope } from "./auth.js";
import { errorBody, parse, toLabError } from "./routes.js";

export interface AgentRouteDeps {
  identity: IdentityService;
  channel: AgentChannel;
  /** API tokens (the same store the other routes use). */
  tokens: TokenStore;
  /** Records an audit event and tells the event feed (store.record, then recorded()). */
  record: (event: NewAuditEvent) => Promise<void>;
  /** The channel URL handed to enrolling agents; default wss://<Host of the request>:<channel port>/agent/v1. */
  channelUrl?: (req: FastifyRequest) => string;
  /** Longest command `exec` accepts (default 1 h). */
  maxExecTimeoutMs?: number;
}

const joinTokenCreateSchema = z.object({
  name: z.string().min(1).max(253),
  ttlMinutes: z.number().int().positive().optional(),
});
const execSchema = z.object({
  command: z.string().min(1).max(65_536),
  timeoutSeconds: z.number().int().positive().optional(),
});
const nameParams = z.object({ name: z.string().min(1).max(253) });
/** A stream whose client does not read is cancelled past this much unsent output. */
const MAX_UNSENT = 8 * 1024 * 1024;

export function registerAgentRoutes(app: FastifyInstance, deps: AgentRouteDeps): void {
  const { identity, channel } = deps;
  const authenticator = new Authenticator(deps.tokens);
  const auth = (scope: "read" | "write" | "admin") => async (req: FastifyRequest) => {
    const principal = await authenticator.authenticate(req.headers.authorization);
    requireScope(principal, scope);
    req.principal = principal;
  };
  const actorOf = (req: FastifyRequest) => {
    const p = req.principal as Principal | undefined;
    return `token:${p?.name ?? "?"}(${p?.tokenId ?? "?"})`;
  };
  const record = (req: FastifyRequest | string, action: string, name: string, summary: string) =>
    deps
      .record({
        actor: typeof req === "string" ? req : actorOf(req),
        action,
        result: "ok",
        summary,
        changes: [],
        subjects: [`server/${name}`],
      })
      .catch((e) => app.log.error(e));
  const channelUrl = deps.channelUrl ?? ((req: FastifyRequest) => channel.urlFor(hostOf(req)));
  const small = { bodyLimit: 64 * 1024 };

  app.post("/api/v1/agent/enrol", small, async (req): Promise<EnrolResponse> => {
    const body = parse(enrolRequestSchema, req.body);
    const result = await identity.enrol(body, { sourceIp: req.socket.remoteAddress });
    await record(`join-token:${result.name}`, "agent.enrol", result.name, enrolSummary(result));
    return {
      name: result.name,
      certificate: result.certificate,
      caCertificate: result.caCertificate,
      serial: result.serial,
      renewal: result.renewal,
      channelUrl: channelUrl(req),
      hostCertificates: result.hostCertificates,
    };
  });

  app.post("/api/v1/agent/challenge", small, async (req) => {
    const body = parse(challengeRequestSchema, req.body);
    return identity.challenge(body.name);
  });

  app.post("/api/v1/agent/renew", small, async (req) => {
    const body = parse(renewRequestSchema, req.body);
    const issued = await identity.renewWithProof(body);
    await record(
      `agent:${body.name}`,
      "agent.renew",
      body.name,
      `agent ${body.name} renewed its certificate with proof of possession (serial ${issued.serial})`,
    );
    return issued;
  });

  app.get("/api/v1/agents", { preHandler: auth("read") }, async () => {
    const agents = await identity.repo.listAgents();
    return agents.map((a) => view(a, channel.session(a.name)));
  });

  app.get("/api/v1/agents/:name", { preHandler: auth("read") }, async (req) => {
    const { name } = parse(nameParams, req.params);
    return view(await identity.mustGet(name), channel.session(name));
  });

  app.post("/api/v1/agents/:name/renew", { preHandler: auth("write") }, async (req) => {
    const { name } = parse(nameParams, req.params);
    await identity.requestRenewal(name);
    const immediate = channel.requestRenewal(name);
    await record(req, "agent.renew-request", name, `renewal of ${name}'s certificate requested`);
    return { name, requested: true, immediate };
  });

  app.post("/api/v1/agents/:name/revoke", { preHandler: auth("admin") }, async (req) => {
    const { name } = parse(nameParams, req.params);
    const r = await identity.revoke(name, actorOf(req));
    const disconnected = await channel.revoked(name);
    await record(
      req,
      "agent.revoke",
      name,
      `revoked agent ${name} (${r.serials.length} certificates${disconnected ? ", connection cut" : ""}${DNS_AFTER_REVOKE[r.dns]})`,
    );
    const agent = await identity.mustGet(name);
    return { name, revokedAt: agent.revokedAt, serials: r.serials, disconnected, dns: r.dns };
  });

  app.post("/api/v1/join-tokens", { preHandler: auth("admin") }, async (req) => {
    const body = parse(joinTokenCreateSchema, req.body);
    assertMachineName(body.name);
    const createdAt = new Date();
    const token = await createJoinToken(identity.repo, {
      name: body.name,
      ttlMinutes: body.ttlMinutes,
      createdBy: actorOf(req),
      now: createdAt,
    });
    const expiresAt = new Date(createdAt.getTime() + (body.ttlMinutes ?? 60) * 60_000).toISOString();
    await record(
      req,
      "join-token.create",
      body.name,
      `created a join token for ${body.name} (expires ${expiresAt})`,
    );
    return { name: body.name, token, expiresAt };
  });

  app.post("/api/v1/agents/:name/exec", { preHandler: auth("admin") }, async (req, reply) => {
    const { name } = parse(nameParams, req.params);
    const body = parse(execSchema, req.body);
    const max = deps.maxExecTimeoutMs ?? 3_600_000;
    const timeoutMs = Math.min(max, (body.timeoutSeconds ?? 600) * 1000);
    streamExec(reply, { name, command: body.command, timeoutMs, channel });
    await record(req, "agent.exec", name, `ran on ${name}: ${body.command.slice(0, 200)}`);
  });
}

/**
 * Streams one command as NDJSON lines: {type:"stdout"|"stderr", data: base64}, then
 * {type:"exit", code, signal, timedOut} or {type:"error", error:{code,message,hint}}.
 * Errors before the command starts (not connected, busy) are ordinary error responses.
 */
function streamExec(
  reply: FastifyReply,
  opts: { name: string; command: string; timeoutMs: number; channel: AgentChannel },
): void {
  const raw = reply.raw;
  let ended = false;
  const write = (line: unknown) => {
    if (!ended) raw.write(`${JSON.stringify(line)}\n`);
  };
  const end = () => {
    if (ended) return;
    ended = true;
    raw.end();
  };
  const handle = opts.channel.exec(opts.name, opts.command, opts.timeoutMs, {
    output: (stream, data) => {
      write({ type: stream, data: data.toString("base64") });
      if (raw.writableLength > MAX_UNSENT) {
        handle.cancel();
        write({
          type: "error",
          error: errorBody(
            new LabError(
              "LAB_E_TOO_LARGE",
              "the client does not read the output fast enough: the command was cancelled",
            ),
          ).error,
        });
        end();
      }
    },
    exit: (r) => {
      write({ type: "exit", ...r });
      end();
    },
    error: (e) => {
      write({ type: "error", error: errorBody(toLabError(e)).error });
      end();
    },
  });
  reply.hijack();
  raw.writeHead(200, { "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-store" });
  // A client that goes away cancels the command (its process group is killed on the agent).
  raw.on("close", () => {
    if (!ended) {
      ended = true;
      handle.cancel();
    }
  });
}

function hostOf(req: FastifyRequest): string {
  const host = req.headers.host ?? "";
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(host) ?? /^([^:]+)(?::\d+)?$/.exec(host);
  return m?.[1] ?? "localhost";
}

function enrolSummary(r: {
  name: string;
  serial: string;
  ipv4: string | null;
  dns: DnsState | null;
  dnsError: string | null;
}): string {
  const dns = {
    registered: `, DNS ${r.ipv4}`,
    failed: `, DNS failed: ${r.dnsError}`,
    "not configured": ", DNS not configured",
    removed: "",
  }[r.dns ?? "removed"];
  return `agent ${r.name} enrolled with a join token (serial ${r.serial}${dns})`;
}

/** What the API shows of an agent: its record and, when connected, its session. */
function view(a: AgentRecord, session: SessionInfo | undefined) {
  const state = a.revokedAt
    ? "revoked"
    : session
      ? "connected"
      : Date.parse(a.certNotAfter) < Date.now()
        ? "expired"
        : "disconnected";
  return {
    ...a,
    ipv4: a.ipv4 && isIPv4(a.ipv4) ? a.ipv4 : null,
    state,
    connected: Boolean(session),
    session: session ?? null,
  };
}
