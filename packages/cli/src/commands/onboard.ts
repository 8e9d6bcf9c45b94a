/**
 * `lab onboard NAME`: the design's principle 3 — onboarding is the apply pipeline.
 *   1. Render: what Lab knows of the machine (ssh: detected over SSH, labels suggested;
 *      baremetal: MAC, image, PXE server, power from the flags).
 *   2. Plan: the provider's plan for the draft the flags make (formatPlan, as `lab plan
 *      server`), then what enrolment adds; ONE question for the whole thing (-y skips it).
 *   3. Apply: lifecycleClient.apply — the code path of `lab apply server`, so validation, the
 *      audit entry, the SYNC pillar and drift events are the same.
 *   4. Enrol: ssh installs and enrols the agent over the session Step 1 opened; bare metal
 *      follows the install (its one-time token is baked into the install config).
 */
import { checkServerName, LabError, normaliseMac } from "@lab/core";
import { formatPlan, type ServerDraft } from "@lab/providers";
import type { Command } from "commander";
import { actor } from "../context.js";
import { box } from "../output/box.js";
import type { CommandContext } from "./command-context.js";
import { confirmPlan } from "./confirm.js";
import { follow, localProvisioning, progressBar, remoteProvisioning } from "./provision.js";
import { lifecycleClient, outcomeLine } from "./server-lifecycle.js";

interface Ctx extends CommandContext {
  ask: (question: string) => Promise<string>;
}

interface OnboardOpts {
  provider: string;
  mac?: string;
  image: string;
  bastion?: string;
  labels?: string;
  environment?: string;
  yes?: boolean;
  wait: boolean;
  host?: string;
  user: string;
  port: string;
  identityFile?: string;
  agent: boolean;
  domain: string;
  agentServer?: string;
  heartbeat?: string;
  ipmi?: string;
  ipmiUser: string;
  ipmiPort: string;
  ipmiPasswordSecret?: string;
  ipmiPasswordEnv?: string;
}

/** What Step 1 settled: the draft to plan and apply, and the enrol step that follows it. */
interface Rendered {
  draft: ServerDraft;
  /** The enrol part of "Onboarding will:" (the plan says what the provider does). */
  will: string[];
  warnings: string[];
  /** false: apply queues and returns, and Step 4 follows (bare metal). */
  waitInApply: boolean;
  /** The environment the providers run with in local mode (the SSH key given on the flags). */
  env: NodeJS.ProcessEnv;
  enrol(): Promise<void>;
  close(): void;
}

function splitList(s: string): string[] {
  return s
    .split(",")
    .map((l) => l.trim())
    .filter(Boolean);
}

export function registerOnboardCommand(program: Command, ctx: Ctx): void {
  program
    .command("onboard")
    .description("bring a machine under management: render, plan, apply (as lab apply server), enrol")
    .argument("<name>", "the server name")
    .requiredOption("--provider <provider>", "baremetal (PXE) or ssh")
    .option("--host <host>", "the machine's address (ssh)")
    .option("--user <user>", "SSH user (ssh)", "root")
    .option("--port <port>", "SSH port (ssh)", "22")
    .option("--identity-file <file>", "SSH private key (ssh; default ~/.ssh/id_ed25519, or ssh-agent)")
    .option("--no-agent", "do not install the lab agent (ssh)")
    .option("--agent-server <url>", "the Lab API as the machine reaches it (default: the URL this CLI uses)")
    .option("--heartbeat <duration>", "agent heartbeat interval (ssh)")
    .option("--domain <domain>", "DNS domain the machine is registered in", "lab.internal")
    .option("--mac <mac>", "the machine's boot NIC (baremetal)")
    .option("--image <image>", "the image to install (baremetal; `lab get images`)", "ubuntu-24.04")
    .option(
      "--bastion <name>",
      "the remote bastion whose site the machine boots at (baremetal; `lab get bastions`)",
    )
    .option("--labels <labels>", "comma-separated labels")
    .option("--environment <env>", "the server's environment")
    .option("--ipmi <host>", "the machine's BMC (baremetal): Lab sets PXE boot and powers it on")
    .option("--ipmi-user <user>", "BMC user for --ipmi", "admin")
    .option("--ipmi-port <port>", "BMC UDP port for --ipmi", "623")
    .option("--ipmi-password-secret <path>", "the secret holding the BMC password (default bmc/NAME)")
    .option("--ipmi-password-env <var>", "read the BMC password from this environment variable instead")
    .option("-y, --yes", "do not ask before proceeding")
    .option("--no-wait", "queue the install and return without following it (baremetal)")
    .action((name: string, opts: OnboardOpts) => onboard(ctx, name, opts));
}

async function onboard(ctx: Ctx, name: string, opts: OnboardOpts): Promise<void> {
  const { out, print } = ctx;
  // Before any plan, connection or boot step: the name becomes the host name everywhere.
  checkServerName(name);
  if (opts.provider !== "ssh" && opts.provider !== "baremetal")
    throw new LabError("LAB_E_USAGE", `--provider ${opts.provider}: expected baremetal or ssh`);
  const rendered =
    opts.provider === "ssh" ? await renderSsh(ctx, name, opts) : await renderBaremetal(ctx, name, opts);
  try {
    const session = await ctx.open();
    const who = actor(ctx.io.env);
    const client = await lifecycleClient(session, rendered.env, who);
    const planned = await client.plan(name, rendered.draft);
    print(`${out.bold("Step 2: Plan")}\n${formatPlan(planned.plan, out)}`);
    print(`Onboarding will:\n${rendered.will.map((w) => `  + ${w}\n`).join("")}`);
    for (const w of rendered.warnings) print(`${out.yellow("⚠")} ${w}\n`);
    await confirmPlan(ctx.ask, opts.yes, "onboard it");

    print(`${out.bold("Step 3: Apply")} (same engine as lab apply server)\n`);
    const outcome = await client.apply(name, rendered.draft, (l) => print(`  → ${l}\n`), {
      wait: rendered.waitInApply,
    });
    // What the provider reported after the apply (bare metal: queued, unless followed below).
    const followed = !rendered.waitInApply && opts.wait;
    if (!followed) print(outcomeLine(outcome, ctx));
    await rendered.enrol();
    // Bare metal, followed: the install ended, and this comparison is the SYNC pillar now.
    if (followed) print(outcomeLine(await client.diff(name), ctx));
  } finally {
    rendered.close();
  }
}

async function renderSsh(ctx: Ctx, name: string, opts: OnboardOpts): Promise<Rendered> {
  if (!opts.host) throw new LabError("LAB_E_USAGE", "--host is required for --provider ssh");
  const port = Number(opts.port);
  const session = await ctx.open();
  if (opts.agent && !session.remote)
    throw new LabError(
      "LAB_E_USAGE",
      "installing the agent needs a Lab server: `lab login` first (or --no-agent to only adopt it)",
    );
  // SSH (ssh2) loads only for this command: every other command starts faster.
  const [{ renderSsh: render }, { agentInstaller }] = await Promise.all([
    import("./onboard-ssh.js"),
    import("./install-agent.js"),
  ]);
  const r = await render(
    name,
    {
      host: opts.host,
      user: opts.user,
      port,
      identityFile: opts.identityFile,
      labels: opts.labels === undefined ? undefined : splitList(opts.labels),
      agent: opts.agent,
      domain: opts.domain,
    },
    {
      session,
      out: ctx.out,
      print: ctx.print,
      ask: ctx.ask,
      interactive: Boolean(process.stdin.isTTY) && !opts.yes,
      installAgent: session.remote
        ? agentInstaller(session.remote, {
            serverUrl: opts.agentServer,
            ...(opts.heartbeat ? { heartbeat: opts.heartbeat } : {}),
          })
        : undefined,
    },
  );
  const step = (line: string) => ctx.print(`  → ${line}\n`);
  return {
    draft: {
      provider: "ssh",
      host: opts.host,
      labels: r.labels,
      ...(opts.environment ? { environment: opts.environment } : {}),
      // How the provider reaches it as this onboarding did, and the host key Step 1 showed: the
      // adoption (at lab server, in client mode) must find that key, or it refuses.
      attributes: {
        ssh_user: opts.user,
        ...(port !== 22 ? { ssh_port: port } : {}),
        ssh_host_key: r.hostKey,
      },
    },
    will: r.will,
    warnings: [],
    waitInApply: true,
    // Local mode's ssh provider uses the key given here; lab server uses its own (docs/onboarding.md).
    env: opts.identityFile ? { ...ctx.io.env, LAB_SSH_IDENTITY_FILE: opts.identityFile } : ctx.io.env,
    async enrol() {
      if (!opts.agent) {
        ctx.print(`${ctx.out.green("✓")} ${name} onboarded (no agent)\n`);
        return;
      }
      ctx.print(`${ctx.out.bold("Step 4: Enrol")}\n`);
      await r.enrol(step);
      ctx.print(`${ctx.out.green("✓")} ${name} onboarded\n`);
    },
    close: () => r.close(),
  };
}

async function renderBaremetal(ctx: Ctx, name: string, opts: OnboardOpts): Promise<Rendered> {
  const { out, print, io } = ctx;
  const mac = normaliseMac(opts.mac ?? "");
  if (!mac) throw new LabError("LAB_E_USAGE", "--mac AA:BB:CC:DD:EE:FF is required for --provider baremetal");
  const labels = splitList(opts.labels ?? "");
  const session = await ctx.open();
  if (opts.bastion && !session.remote)
    throw new LabError("LAB_E_USAGE", "--bastion needs lab server (bastions join a server): lab login first");
  const pxeWhere = session.remote ? `lab server at ${session.remote.target.url}` : "this device (local mode)";
  const MAC = mac.toUpperCase();
  print(
    `${out.bold("Step 1: Render")}\n${box(
      [
        ["Name", name],
        ["Provider", "baremetal (PXE boot)"],
        ["MAC", MAC],
        ["Image", opts.image],
        ["Labels", labels.join(",") || "-"],
        ["PXE server", opts.bastion ? `bastion ${opts.bastion} (via ${pxeWhere})` : pxeWhere],
        ...(opts.ipmi ? [["Power", `IPMI ${opts.ipmi} (user ${opts.ipmiUser})`] as [string, string]] : []),
      ],
      out,
    )}\n`,
  );
  const power = opts.ipmi
    ? {
        driver: "ipmi",
        host: opts.ipmi,
        ...(opts.ipmiPort !== "623" ? { port: Number(opts.ipmiPort) } : {}),
        user: opts.ipmiUser,
        ...(opts.ipmiPasswordEnv
          ? { password_env: opts.ipmiPasswordEnv }
          : { password_secret: opts.ipmiPasswordSecret ?? `bmc/${name}` }),
      }
    : undefined;
  return {
    draft: {
      provider: "baremetal",
      mac,
      image: opts.image,
      ...(labels.length ? { labels } : {}),
      ...(opts.environment ? { environment: opts.environment } : {}),
      ...(power ? { power } : {}),
      ...(opts.bastion ? { attributes: { bastion: opts.bastion } } : {}),
    },
    will: [
      `Answer network boots from ${MAC} with the ${opts.image} installer`,
      "Serve an unattended install config with a one-time install token (the agent enrols with it)",
      opts.wait ? "Follow the install until it reports complete" : "Return once it is queued (--no-wait)",
    ],
    warnings: [
      "PXE requires the boot services on the machine's L2 segment (lab server)",
      `In scoped DHCP mode Lab answers ONLY ${MAC} (safe beside your router)`,
    ],
    // Lab follows the install here, step by step, rather than inside one long apply request.
    waitInApply: false,
    env: io.env,
    async enrol() {
      if (!opts.wait) {
        print(`  → not followed (--no-wait): lab provision logs ${name} -f follows the install\n`);
        return;
      }
      print(`${out.bold("Step 4: Install and enrol")}\n`);
      const c = session.remote
        ? remoteProvisioning(session.remote)
        : await localProvisioning(session, io.env);
      try {
        const bar = progressBar(out, io);
        const final = await follow(c, name, (step) => bar.step(step));
        bar.done();
        if (final?.state === "FAILED")
          throw new LabError("LAB_E_BAD_REPORT", `install of ${name} failed: ${final.reason ?? "no reason"}`);
        print(`${out.green("✓")} ${name} installed (${opts.image})\n`);
      } finally {
        await c.close();
      }
    },
    close: () => {},
  };
}
