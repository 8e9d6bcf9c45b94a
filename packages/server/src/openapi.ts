/** The OpenAPI 3.1 document, generated from the same zod schemas the routes validate with. */
import { KINDS, SECTION } from "@lab/core";
import { z } from "zod";
import {
  allProvidersBodySchema,
  applyQuerySchema,
  applyRequestSchema,
  applyResultSchema,
  backendParamSchema,
  destroyBodySchema,
  errorSchema,
  eventQuerySchema,
  eventSchema,
  filterQuerySchema,
  labelRowSchema,
  renderNoteSchema,
  renderQuerySchema,
  resolutionSchema,
  serverDraftSchema,
  serverRowSchema,
  streamQuerySchema,
  tokenCreateSchema,
  tokenSchema,
} from "./api-schema.js";
import { logStreamQuerySchema, logsQuerySchema } from "./events/routes.js";
import { deployBodySchema, deploymentsQuerySchema, scaleBodySchema } from "./kube-routes.js";
import { autosignRequestSchema } from "./puppet-routes.js";

type Json = Record<string, unknown>;

const schema = (s: z.ZodType, io: "input" | "output" = "output"): Json =>
  z.toJSONSchema(s, { io, unrepresentable: "any" }) as Json;

function queryParams(s: z.ZodObject): Json[] {
  return Object.entries(s.shape).map(([name, field]) => ({
    name,
    in: "query",
    required: false,
    schema: schema(field as z.ZodType, "input"),
  }));
}

const errors = {
  "400": { $ref: "#/components/responses/Error" },
  "401": { $ref: "#/components/responses/Error" },
  "403": { $ref: "#/components/responses/Error" },
  "404": { $ref: "#/components/responses/Error" },
};

const ok = (ref: Json) => ({
  "200": { description: "OK", content: { "application/json": { schema: ref } } },
  ...errors,
});
const nameParam = { name: "name", in: "path", required: true, schema: { type: "string" } };
const body = (s: z.ZodType) => ({
  required: false,
  content: { "application/json": { schema: schema(s, "input") } },
});
const list = (item: Json) => ({ type: "array", items: item });

export function openApiDocument(): Json {
  const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
  const paths: Json = {
    "/api/v1/apply": {
      post: {
        summary: "Apply YAML documents (all-or-nothing; dryRun and prune as in `lab apply`)",
        requestBody: {
          required: true,
          content: { "application/json": { schema: schema(applyRequestSchema, "input") } },
        },
        responses: ok(ref("ApplyResult")),
      },
    },
    "/api/v1/servers": {
      get: {
        summary: "List servers",
        parameters: queryParams(filterQuerySchema),
        responses: ok(list(ref("ServerRow"))),
      },
    },
    "/api/v1/fleet": {
      get: {
        summary:
          "The server list for the dashboard, columnar: each repeated string and pillar value once, rows refer to them by index (@lab/core decodeFleetTable)",
        parameters: queryParams(filterQuerySchema),
        responses: ok({ type: "object" }),
      },
    },
    "/api/v1/servers/{name}": {
      get: {
        summary: "Everything a server gets, with provenance (the `show server -o json` contract)",
        parameters: [nameParam],
        responses: ok(ref("Resolution")),
      },
      delete: { summary: "Delete a server", parameters: [nameParam], responses: ok({ type: "object" }) },
    },
    "/api/v1/servers/{name}/targets": {
      get: {
        summary: "Reverse query: what targets a server",
        parameters: [nameParam],
        responses: ok(ref("Resolution")),
      },
    },
    "/api/v1/servers/{name}/describe": {
      get: {
        summary: "Spec, size details and resolution",
        parameters: [nameParam],
        responses: ok({ type: "object" }),
      },
    },
    "/api/v1/servers/{name}/plan": {
      post: {
        summary: "What applying the server would create, change or destroy at its provider",
        parameters: [nameParam],
        requestBody: body(serverDraftSchema),
        responses: ok({ type: "object" }),
      },
    },
    "/api/v1/servers/{name}/apply": {
      post: {
        summary: "Apply the server: the model first, then its provider (progress lines in the answer)",
        parameters: [nameParam, ...queryParams(applyQuerySchema)],
        requestBody: body(serverDraftSchema),
        responses: ok({ type: "object" }),
      },
    },
    "/api/v1/servers/{name}/diff": {
      get: {
        summary: "Spec against what the provider reports now (kept as the SYNC pillar)",
        parameters: [nameParam],
        responses: ok({ type: "object" }),
      },
    },
    "/api/v1/servers/{name}/sync": {
      post: {
        summary: "Reconcile the server with its spec where the provider can",
        parameters: [nameParam],
        responses: ok({ type: "object" }),
      },
    },
    "/api/v1/servers/{name}/destroy": {
      post: {
        summary: "Destroy at the provider, then in the model ({dryRun: true} plans it)",
        parameters: [nameParam],
        requestBody: body(destroyBodySchema),
        responses: ok({ type: "object" }),
      },
    },
    "/api/v1/labels/{name}/all-providers": {
      post: {
        summary:
          "The label at every provider side by side (compute, image, Puppet, ports, estimated cost from prices:); {prices: {path, text}} adds a price file",
        parameters: [nameParam],
        requestBody: body(allProvidersBodySchema),
        responses: ok({ type: "object" }),
      },
    },
    "/api/v1/labels": {
      get: {
        summary: "List labels",
        parameters: queryParams(filterQuerySchema),
        responses: ok(list(ref("LabelRow"))),
      },
    },
    "/api/v1/events": {
      get: {
        summary: "The audit log",
        parameters: queryParams(eventQuerySchema),
        responses: ok(list(ref("Event"))),
      },
    },
    "/api/v1/events/stream": {
      get: {
        summary: "Live events as Server-Sent Events (resumes from Last-Event-ID or ?after=)",
        parameters: queryParams(streamQuerySchema),
        responses: { "200": { description: "text/event-stream of Event objects" }, ...errors },
      },
    },
    "/api/v1/events/ws": {
      get: {
        summary: "Live events over WebSocket: {type:'event',event} and {type:'missed',missed,resumeAfter}",
        parameters: queryParams(streamQuerySchema),
        responses: { "101": { description: "Switching protocols" }, ...errors },
      },
    },
    "/api/v1/logs": {
      get: {
        summary:
          "Log events held in the ring (OTel files, …), oldest first, with counts per level, source and node",
        parameters: queryParams(logsQuerySchema),
        responses: ok({ type: "object" }),
      },
    },
    "/api/v1/logs/stats": {
      get: {
        summary: "Pipeline statistics: counts per level, source and node, seq range, clients, store writes",
        responses: ok({ type: "object" }),
      },
    },
    "/api/v1/logs/ws": {
      get: {
        summary:
          "Live log events over WebSocket (docs/events.md): hello, batches {type:'events',events}, {type:'gap',missed,after,until}, stats",
        parameters: queryParams(logStreamQuerySchema),
        responses: { "101": { description: "Switching protocols" }, ...errors },
      },
    },
    "/api/v1/logs/stream": {
      get: {
        summary:
          "Live log events as Server-Sent Events (event: events|gap|stats; resumes from Last-Event-ID)",
        parameters: queryParams(logStreamQuerySchema),
        responses: { "200": { description: "text/event-stream" }, ...errors },
      },
    },
    "/api/v1/sources": {
      get: {
        summary: "Every event source and its observed state (running, waiting, failed, stopped, disabled)",
        responses: ok({ type: "array", items: { type: "object" } }),
      },
    },
    "/api/v1/sources/{name}/disable": {
      post: { summary: "Switch an event source off (write)", responses: ok({ type: "object" }) },
    },
    "/api/v1/sources/{name}/enable": {
      post: { summary: "Switch an event source on (write)", responses: ok({ type: "object" }) },
    },
    "/api/v1/sources/{name}/restart": {
      post: { summary: "Restart an event source now (write)", responses: ok({ type: "object" }) },
    },
    "/api/v1/tokens": {
      get: { summary: "List API tokens (admin)", responses: ok(list(ref("Token"))) },
      post: {
        summary: "Create an API token (admin); the secret is returned once",
        requestBody: {
          required: true,
          content: { "application/json": { schema: schema(tokenCreateSchema, "input") } },
        },
        responses: ok({ type: "object", properties: { token: { type: "string" }, record: ref("Token") } }),
      },
    },
    "/api/v1/tokens/{id}": {
      delete: {
        summary: "Revoke a token (admin)",
        parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
        responses: ok({ type: "object" }),
      },
    },
  };
  const idParam = { name: "id", in: "path", required: true, schema: { type: "string" } };
  const pathParam = (name: string, extra: Json = { type: "string" }) => ({
    name,
    in: "path",
    required: true,
    schema: extra,
  });
  const machine = { name: "target", in: "path", required: true, schema: { type: "string" } };
  const op = (summary: string, extra: Json = {}) => ({
    summary,
    ...extra,
    responses: ok({ type: "object" }),
  });
  Object.assign(paths, {
    "/api/v1/provision/machines": {
      get: op("Network-booted machines with their lifecycle state and hardware"),
    },
    "/api/v1/provision/enlist": {
      post: op(
        "Register a machine by MAC before it boots and queue its install (lab onboard --provider baremetal)",
      ),
    },
    "/api/v1/provision/machines/{target}": {
      get: op("One machine (by MAC, server name or IP)", { parameters: [machine] }),
      delete: op("Forget a machine", { parameters: [machine] }),
    },
    "/api/v1/provision/machines/{target}/install": {
      post: op("Queue an install at the next network boot ({image?, name?})", { parameters: [machine] }),
    },
    "/api/v1/provision/machines/{target}/reprovision": {
      post: op("Install again, keeping the preserved volumes ({image?, preserve?})", {
        parameters: [machine],
      }),
    },
    "/api/v1/provision/machines/{target}/debug": {
      post: op("Boot the rescue system once at the next network boot", { parameters: [machine] }),
    },
    "/api/v1/provision/machines/{target}/timeline": {
      get: op("The boot timeline: every DHCP, TFTP, HTTP, progress and syslog step (?after=id)", {
        parameters: [machine],
      }),
    },
    "/api/v1/provision/machines/{target}/logs": {
      get: op("The install log (?tail=n)", { parameters: [machine] }),
    },
    "/api/v1/provision/machines/{target}/follow": {
      get: {
        summary: "WebSocket: live timeline steps, log lines and state changes of one machine",
        parameters: [machine],
        responses: { "101": { description: "Switching protocols" }, ...errors },
      },
    },
    "/api/v1/join-tokens": {
      post: op("Create a one-time join token for a machine ({name, ttlMinutes?}; admin)"),
    },
    "/api/v1/agent/enrol": {
      post: op(
        "Enrol an agent: {token, csr, hostKeys?, facts?} → client certificate (join-token authenticated)",
      ),
    },
    "/api/v1/agent/challenge": { post: op("A nonce for renewal by proof of possession") },
    "/api/v1/agent/renew": { post: op("Renew an expired certificate with a CSR signed by the enrolled key") },
    "/api/v1/agents": { get: op("Enrolled agents, connected or not") },
    "/api/v1/power": { get: op("Every server's power, asked now (?name=a,b): state, driver, next boot") },
    "/api/v1/power/{name}": { get: op("One server's power, asked now", { parameters: [nameParam] }) },
    "/api/v1/power/{name}/{action}": {
      post: op("Power on, off or cycle ({nextBoot?: pxe|disk}; write)", {
        parameters: [
          nameParam,
          { name: "action", in: "path", required: true, schema: { enum: ["on", "off", "cycle"] } },
        ],
      }),
    },
    "/api/v1/power/{name}/next-boot": {
      put: op("Set the next boot device ({device: pxe|disk}; write)", { parameters: [nameParam] }),
    },
    "/api/v1/labs/{name}": {
      get: op("A lab and its plan: each step's name, action, machines and explain: text", {
        parameters: [nameParam],
      }),
    },
    "/api/v1/labs/{name}/runs": {
      post: op("Run a lab ({repeat?: N, 0 until stopped}; write) → {series, runId}", {
        parameters: [nameParam],
      }),
    },
    "/api/v1/runs": { get: op("Lab runs, newest first (?lab=&series=&limit=)") },
    "/api/v1/runs/report": {
      get: op("Reliability per step: attempts, ok, failed, time-outs, mean and max (?lab=&series=)"),
    },
    "/api/v1/runs/{id}": {
      get: op("One run with every step (a unique id prefix works)", { parameters: [idParam] }),
    },
    "/api/v1/runs/series/{id}": { get: op("Whether a series is running", { parameters: [idParam] }) },
    "/api/v1/runs/series/{id}/stop": {
      post: op("Stop a series after the current step (write)", { parameters: [idParam] }),
    },
    "/api/v1/agents/{name}": { get: op("One agent", { parameters: [nameParam] }) },
    "/api/v1/agents/{name}/renew": {
      post: op("Issue a new certificate at the next contact", { parameters: [nameParam] }),
    },
    "/api/v1/agents/{name}/revoke": {
      post: op("Revoke: cut the channel, remove DNS, refuse it forever (admin)", { parameters: [nameParam] }),
    },
    "/api/v1/agents/{name}/exec": {
      post: op("Run a command on the machine; streams stdout/stderr and the exit code (admin)", {
        parameters: [nameParam],
      }),
    },
    "/api/v1/identity/ssh-ca": { get: op("The SSH CA's public key, for @cert-authority known_hosts lines") },
    "/api/v1/deployments": {
      get: op(
        "Lab's Kubernetes deployments on every cluster (or ?cluster=), as the API servers report them; a cluster that cannot be asked is in failures with its code",
        { parameters: queryParams(deploymentsQuerySchema) },
      ),
    },
    "/api/v1/clusters/{cluster}/deployments": {
      post: op(
        "Deploy a label's image to a cluster (write): the Deployment, validated offline, created or replaced; ?dryRun=true returns it and sends nothing",
        {
          parameters: [
            { name: "cluster", in: "path", required: true, schema: { type: "string" } },
            { name: "dryRun", in: "query", required: false, schema: { enum: ["true", "false"] } },
          ],
          requestBody: {
            required: true,
            content: { "application/json": { schema: schema(deployBodySchema, "input") } },
          },
        },
      ),
    },
    "/api/v1/clusters/{cluster}/deployments/{label}/scale": {
      post: op(
        "Set a deployed label's replica count through the scale subresource (write) → {name, cluster, from, to}",
        {
          parameters: [
            { name: "cluster", in: "path", required: true, schema: { type: "string" } },
            { name: "label", in: "path", required: true, schema: { type: "string" } },
          ],
          requestBody: {
            required: true,
            content: { "application/json": { schema: schema(scaleBodySchema, "input") } },
          },
        },
      ),
    },
  });
  Object.assign(paths, {
    "/api/v1/whoami": { get: op("The token's principal: name, id and scopes") },
    "/api/v1/names/{kind}": {
      get: op("Every name of a kind (servers, labels, …), for completion", {
        parameters: [pathParam("kind")],
      }),
    },
    "/api/v1/render/{backend}": {
      get: op("The files `lab render alerts --backend` writes, rendered by the server", {
        parameters: [
          pathParam("backend", schema(backendParamSchema.shape.backend, "input")),
          ...queryParams(renderQuerySchema),
        ],
      }),
    },
    "/api/v1/render/{backend}/notes": {
      post: op("Record a render the CLI wrote (the audit entry and `lab show alert`'s where-rendered)", {
        parameters: [pathParam("backend", schema(backendParamSchema.shape.backend, "input"))],
        requestBody: body(renderNoteSchema),
      }),
    },
    "/api/v1/callbacks": {
      post: {
        summary:
          "A workload reports {server, key, status: ok|warning|failed, value?, ttlSeconds?} (a machine's callback token, or write)",
        responses: { "202": { description: "Accepted: the stored entry" }, ...errors },
      },
      get: op("The latest callback reports per server (?node=a,b)"),
    },
    "/api/v1/callbacks/{node}": {
      get: op("One server's callback reports", { parameters: [pathParam("node")] }),
    },
    "/api/v1/callbacks/tokens": { post: op("Issue a machine's callback token ({server}; admin)") },
    "/api/v1/ports": {
      get: op("The port watcher's latest results (?node=a,b); 404 unless lab server runs --probe-ports"),
    },
    "/api/v1/bastions": { get: op("Remote bastions connected to this server") },
    "/api/v1/secret-store/secrets": { get: op("Secrets the store holds, with versions (no values)") },
    "/api/v1/secret-store/audit": { get: op("Who read, set and rotated which secret") },
    "/api/v1/secret-store/report": {
      get: op("Where a secret is defined, listed and called (?name=)"),
    },
    "/api/v1/secret-store/status": {
      get: op("Values held, the vault's recipient, the last backup, replicas"),
    },
    "/api/v1/secret-store/rotate": { post: op("Rotate a secret (?name=; admin)") },
    "/api/v1/secret-store/backup": { post: op("Back the vault up to git ({url?}; admin)") },
    "/api/v1/secret-store/value": { put: op("Set a secret's value (?name=, {value: base64}; admin)") },
  });
  // Puppet (OpenVox): puppetserver's exec ENC, its http report processor and its autosign
  // executable call these (docs/puppet.md). ENC and reports take a `puppet`-scoped token as
  // Bearer or as HTTP Basic's password; signing needs the `autosign` scope.
  const puppetAuth = [{ bearer: [] }, { basic: [] }];
  Object.assign(paths, {
    "/api/v1/puppet/enc/{certname}": {
      get: {
        summary:
          "A node's classification for Puppet's exec node terminus: classes, environment and parameters from its labels (by certname or server name; read or puppet scope)",
        security: puppetAuth,
        parameters: [pathParam("certname")],
        responses: {
          "200": {
            description:
              "YAML as the exec terminus reads it (each class commented with the label it came from); with Accept: application/json, the same node as JSON",
            content: {
              "application/yaml": { schema: { type: "string" } },
              "application/json": {
                schema: {
                  type: "object",
                  properties: {
                    classes: { type: "array", items: { type: "string" } },
                    environment: { type: "string" },
                    parameters: { type: "object" },
                  },
                },
              },
            },
          },
          ...errors,
        },
      },
    },
    "/api/v1/puppet/reports": {
      post: {
        summary:
          "A Puppet run report from the http report processor (reporturl): kept as the server's last run (the PUPPET pillar, /metrics lab_puppet_*); a failed run, and the first good one after it, is an event (write or puppet scope)",
        security: puppetAuth,
        requestBody: {
          required: true,
          description:
            "Puppet's report: its YAML (Ruby tags and all) or its JSON; host, time and status are required",
          content: {
            "application/x-yaml": { schema: { type: "string" } },
            "application/yaml": { schema: { type: "string" } },
            "text/yaml": { schema: { type: "string" } },
            "application/json": { schema: { type: "object" } },
          },
        },
        responses: ok({
          type: "object",
          properties: {
            server: { type: "string" },
            status: { enum: ["changed", "unchanged", "failed"] },
            eventId: { type: ["integer", "null"] },
          },
        }),
      },
    },
    "/api/v1/puppet/autosign": {
      post: {
        summary:
          "Decide one CSR for puppetserver's autosign executable (`lab puppet autosign`): sign only when its challengePassword or pp_preshared_key is an unspent, unexpired join token for that certname; the token is spent (autosign or admin scope)",
        requestBody: {
          required: true,
          content: { "application/json": { schema: schema(autosignRequestSchema, "input") } },
        },
        responses: {
          ...ok({
            type: "object",
            properties: { signed: { const: true }, certname: { type: "string" } },
          }),
          "403": {
            description:
              "LAB_E_AUTOSIGN_REFUSED with the reason (no token, wrong machine, spent, expired, not a CSR), or LAB_E_FORBIDDEN for a token without the scope",
            content: { "application/json": { schema: ref("Error") } },
          },
        },
      },
    },
  });
  // Every kind lists (GET /{plural}) and deletes by name, as routes.ts registers them.
  for (const plural of KINDS.map((k) => SECTION[k])) {
    paths[`/api/v1/${plural}`] ??= {
      get: {
        summary: `List ${plural}`,
        parameters: queryParams(filterQuerySchema),
        responses: ok(list({ type: "object" })),
      },
    };
    paths[`/api/v1/${plural}/{name}`] ??= {};
    const one = paths[`/api/v1/${plural}/{name}`] as Json;
    one.delete ??= {
      summary: `Delete one of the ${plural} (write; names with / are URL-encoded)`,
      parameters: [nameParam],
      responses: ok({ type: "object" }),
    };
  }
  for (const plural of ["labels", "groups", "alerts", "secrets"]) {
    (paths[`/api/v1/${plural}/{name}`] as Json).get = {
      summary: `One ${plural.slice(0, -1)} and where it applies (names with / are URL-encoded)`,
      parameters: [nameParam],
      responses: ok({ type: "object" }),
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Lab API",
      version: "1",
      description:
        "Everything the `lab` CLI does, over HTTP. Authenticate with `Authorization: Bearer lab_…`.",
    },
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer" },
        basic: { type: "http", scheme: "basic", description: "any user name; the API token as password" },
      },
      schemas: {
        Resolution: schema(resolutionSchema),
        ServerRow: schema(serverRowSchema),
        LabelRow: schema(labelRowSchema),
        Event: schema(eventSchema),
        ApplyResult: schema(applyResultSchema),
        Token: schema(tokenSchema),
        Error: schema(errorSchema),
      },
      responses: {
        Error: {
          description: "An error with a stable LAB_E_ code and what to do",
          content: { "application/json": { schema: ref("Error") } },
        },
      },
    },
    security: [{ bearer: [] }],
    paths,
  };
}

/** The browsable page: Swagger UI from the swagger-ui-dist package, served locally. */
export function swaggerPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Lab API</title>
<link rel="stylesheet" href="/api/v1/docs/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/api/v1/docs/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({ url: "/api/v1/openapi.json", dom_id: "#ui", persistAuthorization: true });</script>
</body></html>`;
}
