/**
 * Provisioning over HTTP, in two places:
 *  - the operator API under /api/v1/provision (token-authenticated, on the main HTTPS port);
 *  - the machine-facing boot endpoints (/boot.ipxe, /pxe/v1/…) on the plain-HTTP boot port,
 *    because firmware and installers cannot trust Lab's CA. Machines authenticate with the
 *    install token Lab baked into the boot config it served them.
 */
import { join } from "node:path";
import { LabError, SERVER_NAME, SERVER_NAME_RULE } from "@lab/core";
import {
  type BootContext,
  bodyBytesSent,
  type InstallLogBuffer,
  type Machine,
  type Provisioner,
  primaryInstallFile,
  renderBootScript,
  renderMachineFile,
  resolveImageFile,
  serveFile,
  withDurations,
} from "@lab/pxe";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import type { BastionHub } from "./bastion/hub.js";
import type { BastionCommand } from "./bastion/protocol.js";
import { parse, type RouteAuth, tokenFromQuery } from "./routes.js";
import type { InstallDispatch } from "./talos-push.js";

const enlistSchema = z.strictObject({
  mac: z.string(),
  /** The remote bastion whose site the machine boots at (default: this server's own). */
  bastion: z.string().max(253).optional(),
  name: z.string().regex(SERVER_NAME, SERVER_NAME_RULE),
  image: z.string(),
  preserve: z.array(z.string().startsWith("/")).max(32).optional(),
});
const installSchema = z.strictObject({
  image: z.string().optional(),
  name: z.string().regex(SERVER_NAME, SERVER_NAME_RULE).optional(),
});
const reprovisionSchema = z.strictObject({
  image: z.string().optional(),
  preserve: z.array(z.string().startsWith("/")).max(32).optional(),
});
const timelineQuery = z.object({
  after: z.coerce.number().int().nonnegative().optional(),
  all: z.enum(["true", "false"]).optional(),
});
const logsQuery = z.object({ tail: z.coerce.number().int().positive().max(100_000).optional() });

export interface ProvisionRouteDeps {
  provisioner: Provisioner;
  logs: InstallLogBuffer;
  /** Remote bastions: lifecycle commands for their machines go to them. */
  bastions?: BastionHub;
}

type Target = { target: string };

/**
 * The provisioner's lifecycle as this server runs it: a machine a remote bastion serves is
 * enlisted, installed and forgotten there. The operator API and the bare-metal provider
 * (`lab apply server`, `lab onboard`) both go through it, so both reach the same site.
 */
export function siteMachines(p: Provisioner, bastions?: BastionHub) {
  /** Runs here, or at the bastion that serves the machine. */
  const routed = async (
    target: string,
    action: BastionCommand,
    args: Record<string, unknown>,
    here: (mac: string) => Promise<Machine>,
  ): Promise<Machine> => {
    const m = await p.find(target);
    return m.bastion && bastions ? bastions.command(m.bastion, action, m.mac, args) : here(m.mac);
  };
  return {
    routed,
    list: () => p.list(),
    find: (target: string) => p.find(target),
    async enlist({ bastion, ...body }: z.infer<typeof enlistSchema>): Promise<Machine> {
      // A machine a bastion already saw (discovered there) is enlisted there too.
      const known = await p.find(body.mac).catch(() => undefined);
      const site = bastion ?? known?.bastion;
      if (site && bastions) return bastions.command(site, "enlist", known?.mac ?? body.mac, body);
      return p.enlist(body);
    },
    install: (target: string, o: z.infer<typeof installSchema>) =>
      routed(target, "install", o, (mac) => p.install(mac, o)),
    forget: (target: string) => routed(target, "forget", {}, (mac) => p.forget(mac)),
  };
}

/** The operator API: list, install, reprovision, debug, forget, logs, timeline, follow. */
export function registerProvisionRoutes(
  app: FastifyInstance,
  deps: ProvisionRouteDeps,
  { auth }: RouteAuth,
): void {
  const p = deps.provisioner;
  const target = (req: FastifyRequest) => (req.params as Target).target;
  const sites = siteMachines(p, deps.bastions);

  app.get("/api/v1/provision/machines", { preHandler: auth("read") }, async () => p.list());
  app.get("/api/v1/provision/machines/:target", { preHandler: auth("read") }, async (req) =>
    p.find(target(req)),
  );
  app.post("/api/v1/provision/enlist", { preHandler: auth("write") }, async (req) =>
    sites.enlist(parse(enlistSchema, req.body)),
  );
  app.post("/api/v1/provision/machines/:target/install", { preHandler: auth("write") }, async (req) =>
    sites.install(target(req), parse(installSchema, req.body)),
  );
  app.post("/api/v1/provision/machines/:target/reprovision", { preHandler: auth("write") }, async (req) => {
    const body = parse(reprovisionSchema, req.body);
    return sites.routed(target(req), "reprovision", body, (mac) => p.reprovision(mac, body));
  });
  app.post("/api/v1/provision/machines/:target/debug", { preHandler: auth("write") }, async (req) =>
    sites.routed(target(req), "debug", {}, (mac) => p.debug(mac)),
  );
  app.delete("/api/v1/provision/machines/:target", { preHandler: auth("write") }, async (req) =>
    sites.forget(target(req)),
  );
  app.get("/api/v1/bastions", { preHandler: auth("read") }, async () => deps.bastions?.list() ?? []);
  app.get("/api/v1/provision/machines/:target/timeline", { preHandler: auth("read") }, async (req) => {
    const q = parse(timelineQuery, req.query);
    const m = await p.find(target(req));
    return withDurations(await p.timeline.read(m.mac, q.after ?? 0));
  });
  app.get("/api/v1/provision/machines/:target/logs", { preHandler: auth("read") }, async (req) => {
    const q = parse(logsQuery, req.query);
    const m = await p.find(target(req));
    return { mac: m.mac, lines: deps.logs.tail(m.mac, q.tail ?? 200) };
  });
  // Live: timeline steps, log lines and state changes of one machine (`lab provision logs -f`,
  // the dashboard's server page). `?token=`: a browser cannot set headers on a WebSocket.
  app.get(
    "/api/v1/provision/machines/:target/follow",
    { websocket: true, preHandler: [tokenFromQuery, auth("read")] },
    async (socket, req) => {
      let m: Awaited<ReturnType<Provisioner["find"]>>;
      try {
        m = await p.find(target(req));
      } catch (e) {
        socket.close(4404, (e as Error).message.slice(0, 120));
        return;
      }
      const send = (msg: unknown) => {
        // A slow follower misses lines rather than growing the server's memory.
        if (socket.bufferedAmount < 4 * 1024 * 1024) socket.send(JSON.stringify(msg));
      };
      send({ type: "machine", machine: m });
      const offTimeline = p.timeline.subscribe((step) => send({ type: "step", step }), m.mac);
      const offLogs = deps.logs.follow(m.mac, (line) => send({ type: "log", line }));
      const offChange = p.onChange(() => {
        p.find(m.mac).then(
          (now) => send({ type: "machine", machine: now }),
          () => send({ type: "forgotten" }),
        );
      });
      socket.on("close", () => {
        offTimeline();
        offLogs();
        offChange();
      });
    },
  );
}

/** The boot endpoints machines call (plain HTTP). */
export function registerBootRoutes(
  app: FastifyInstance,
  deps: ProvisionRouteDeps & {
    context: () => BootContext;
    imagesDir: string;
    /** Mints a one-time agent join token for a machine being installed (identity service). */
    joinToken?: (name: string) => Promise<string>;
    /** The agent for installed systems: dist/agent, the API URL and Lab's CA it should trust. */
    agent?: { dir: string; apiUrl: () => string; caPem: string };
    /** Told of every install dispatch (Talos push mode takes it from there). */
    onInstallDispatch?: (d: InstallDispatch) => void;
  },
): void {
  const p = deps.provisioner;
  const ipxe = (reply: FastifyReply, script: string) => reply.type("text/plain; charset=utf-8").send(script);
  const tokenOf = (req: FastifyRequest) =>
    (req.headers["x-lab-install-token"] as string | undefined) ?? (req.query as { token?: string }).token;

  // Every machine-facing request is a step in that machine's timeline.
  app.addHook("onResponse", (req, reply, done) => {
    // Dispatch records its own decision; everything else is found by the caller's address.
    const mac = p.timeline.macOf(req.ip);
    if (mac && !req.url.startsWith("/pxe/v1/dispatch")) {
      // A machine's own files: the timeline is already that machine's, the token never shown.
      const path = (req.url.split("?")[0] ?? "").replace(
        /^\/pxe\/v1\/machines\/[^/]+\/[^/]+\//,
        "/pxe/v1/machines/…/",
      );
      p.timeline.record(mac, "http", `${req.method} ${path}`, {
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        // Files are streamed on the raw response (the reply is hijacked): what serveFile wrote.
        bytes: bodyBytesSent(reply.raw) ?? Number(reply.getHeader("content-length") ?? 0),
      });
    }
    done();
  });

  app.get("/boot.ipxe", async (_req, reply) =>
    ipxe(reply, renderBootScript({ action: "chain" }, deps.context())),
  );
  app.get("/pxe/v1/dispatch", async (req, reply) => {
    const q = req.query as { mac?: string; platform?: string };
    const decision = await p.dispatch(q.mac ?? "", req.ip);
    if (decision.action === "install") deps.onInstallDispatch?.({ ...decision, source: req.ip });
    const ctx = { ...deps.context(), firmware: q.platform === "efi" ? ("efi" as const) : ("bios" as const) };
    return ipxe(reply, renderBootScript(decision, ctx));
  });
  app.get("/pxe/v1/images/:image/:file", async (req, reply) => {
    const { image, file } = req.params as { image: string; file: string };
    const spec = await p.requireImage(image);
    const path = resolveImageFile(deps.imagesDir, spec, file);
    if (!path) throw new LabError("LAB_E_NOT_FOUND", `image ${image} has no file ${file}`);
    reply.hijack();
    serveFile(req.raw, reply.raw, path);
  });
  app.get("/pxe/v1/machines/:mac/:token/:file", async (req, reply) => {
    const { mac, token, file } = req.params as { mac: string; token: string; file: string };
    const m = await p.authenticate(mac, token);
    if (!m?.image) throw new LabError("LAB_E_INSTALL_TOKEN", `${mac} has no install queued`);
    const image = await p.requireImage(m.image);
    // The main config carries a fresh one-time join token: the installed system's agent enrols
    // with it on first boot. Tokens are never in an image, only in this machine's own config.
    const ctx = deps.context();
    if (deps.joinToken && m.name && file === primaryInstallFile({ image })) {
      const joinToken = await deps.joinToken(m.name);
      ctx.joinToken = () => joinToken;
      if (deps.agent) ctx.agentInstallUrl = `${ctx.serverUrl}/pxe/v1/agent/install.sh`;
    }
    const rendered = renderMachineFile(file, { machine: m, image, token }, ctx);
    if (!rendered) throw new LabError("LAB_E_NOT_FOUND", `no install file ${file} for image ${image.name}`);
    p.timeline.record(m.mac, "http", "config", { file });
    return reply.type(rendered.contentType).send(rendered.body);
  });
  // Installed systems fetch the agent from here in their last install step (see docs/pxe.md).
  app.get("/pxe/v1/agent/install.sh", async (_req, reply) => {
    if (!deps.agent)
      throw new LabError("LAB_E_AGENT_BUILD", "this server has no agent executable to hand out");
    return reply.type("text/x-shellscript").send(agentInstallScript(deps.context().serverUrl, deps.agent));
  });
  app.get("/pxe/v1/agent/:file", async (req, reply) => {
    const file = (req.params as { file: string }).file;
    if (!deps.agent || !["lab-agent", "lab-agent.service"].includes(file)) {
      throw new LabError("LAB_E_NOT_FOUND", `no agent file ${file}`);
    }
    reply.hijack();
    serveFile(req.raw, reply.raw, join(deps.agent.dir, file));
  });
  app.post("/pxe/v1/inventory", async (req) => {
    const m = await p.inventory(req.body, tokenOf(req), req.ip);
    return { mac: m.mac, state: m.state };
  });
  app.post("/pxe/v1/progress", async (req) => {
    const m = await p.progress(req.body, tokenOf(req), req.ip);
    return { mac: m.mac, state: m.state };
  });
  app.post("/pxe/v1/log", async (req) => {
    // Plain text lines, or one JSON event (subiquity's `reporting:` webhook posts those).
    const body = typeof req.body === "string" ? req.body : req.body ? eventLine(req.body) : "";
    const mac = p.timeline.macOf(req.ip) ?? (req.query as { mac?: string }).mac;
    if (!mac)
      throw new LabError("LAB_E_BAD_REPORT", "a log post must come from a known machine or give ?mac=");
    await p.authenticate(mac, tokenOf(req));
    const lines = body.split("\n").filter((l) => l.length > 0);
    for (const line of lines.slice(0, 1000)) deps.logs.append(mac, line);
    return { accepted: Math.min(lines.length, 1000) };
  });
}

/** Installs the agent into the system being installed (run inside it, as root, by the installer). */
function agentInstallScript(bootUrl: string, agent: { apiUrl: () => string; caPem: string }): string {
  const fetch = (path: string, to: string) =>
    `curl -fsS --retry 3 -o ${to} ${bootUrl}${path} 2>/dev/null || wget -q -O ${to} ${bootUrl}${path}`;
  return `#!/bin/sh
# Lab agent installer: the binary, its unit, Lab's CA and the API address. The join token was
# written to /etc/lab/join-token by the install config; the agent enrols on first boot.
set -eu
mkdir -p /usr/local/lib/lab-agent /etc/lab /var/lib/lab-agent
chmod 0700 /etc/lab /var/lib/lab-agent
${fetch("/pxe/v1/agent/lab-agent", "/usr/local/lib/lab-agent/lab-agent")}
chmod 0755 /usr/local/lib/lab-agent/lab-agent
${fetch("/pxe/v1/agent/lab-agent.service", "/etc/systemd/system/lab-agent.service")}
cat > /etc/lab/ca.crt <<'LAB_CA'
${agent.caPem.trim()}
LAB_CA
echo "LAB_AGENT_SERVER=${agent.apiUrl()}" > /etc/lab/agent.env
systemctl enable lab-agent.service 2>/dev/null || ln -sf /etc/systemd/system/lab-agent.service /etc/systemd/system/multi-user.target.wants/lab-agent.service
echo "lab agent installed: it enrols with ${agent.apiUrl()} on first boot"
`;
}

/** One installer event as a log line: `event_type name: description [result]`, else its JSON. */
function eventLine(body: unknown): string {
  const e = body as { event_type?: unknown; name?: unknown; description?: unknown; result?: unknown };
  if (typeof e.name !== "string") return JSON.stringify(body).slice(0, 2000);
  const parts = [e.event_type, `${e.name}:`, e.description, e.result ? `[${String(e.result)}]` : undefined];
  return parts.filter((p) => typeof p === "string" && p.length > 0).join(" ");
}
