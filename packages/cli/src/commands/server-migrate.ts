/** `lab server migrate --target ssh|kubernetes`: plan, confirm, apply (see docs/server.md). */
import { LabError } from "@lab/core";
import { type Command, Option } from "commander";
import { labHome } from "../context.js";
import type { CommandContext } from "./command-context.js";
import { confirmPlan } from "./confirm.js";
import { hostPort } from "./remote.js";

type Ctx = CommandContext & { ask: (question: string) => Promise<string> };

interface MigrateFlags {
  target: "ssh" | "kubernetes";
  host?: string;
  user: string;
  port: string;
  identity?: string;
  hostKey?: string;
  prefix: string;
  remoteHome: string;
  remoteListen: string;
  yes?: boolean;
  // kubernetes
  out?: string;
  namespace: string;
  image?: string;
  storage: string;
  cluster?: string;
  pxeHostNetwork?: boolean;
}

export function registerMigrateCommand(program: Command, ctx: Ctx): void {
  const server = program.commands.find((c) => c.name() === "server");
  if (!server) throw new Error("registerMigrateCommand: the server command must be registered first");
  server
    .command("migrate")
    .description("move this machine's Lab (LAB_HOME) to a host over SSH, or render it for Kubernetes")
    .addOption(
      new Option("--target <target>", "where to").choices(["ssh", "kubernetes"]).makeOptionMandatory(),
    )
    .option("--host <host>", "ssh: the host (name or address) the CLI will reach the server at")
    .option("--user <user>", "ssh: log in as", "root")
    .option("--port <port>", "ssh: SSH port", "22")
    .option("--identity <file>", "ssh: private key (default: ssh-agent)")
    .option("--host-key <fingerprint>", "ssh: pin the host key (SHA256:… as ssh-keygen -lf prints it)")
    .option("--prefix <dir>", "ssh: where releases are installed", "/opt/lab")
    .option("--remote-home <dir>", "ssh: LAB_HOME on the host (as deploy/lab-server.service)", "/var/lib/lab")
    .option("--remote-listen <host:port>", "ssh: the server's API address on the host", "0.0.0.0:7443")
    .option("-y, --yes", "apply the plan without asking")
    .option("--out <dir>", "kubernetes: write the manifests into this directory (default: stdout)")
    .option("--namespace <ns>", "kubernetes: namespace", "lab")
    .option("--image <image>", "kubernetes: the Lab container image (default: from lab build)")
    .option("--storage <size>", "kubernetes: the state volume's size", "10Gi")
    .option("--cluster <name>", "kubernetes: the cluster's name, for the plan")
    // Not --pxe: that is `lab server`'s own flag, and commander would give it to the parent.
    .option("--pxe-host-network", "kubernetes: run PXE/DHCP in the pod (hostNetwork, NET_ADMIN)")
    .action(async (o: MigrateFlags) => {
      if (o.target === "kubernetes") {
        const { migrateToKubernetes } = await import("../migrate/kube-target.js");
        return migrateToKubernetes(ctx, o);
      }
      return migrateOverSsh(ctx, o);
    });
}

async function migrateOverSsh(ctx: Ctx, o: MigrateFlags): Promise<void> {
  if (!o.host) throw new LabError("LAB_E_USAGE", "--target ssh needs --host HOST");
  hostPort(o.remoteListen, "--remote-listen");
  const sshPort = Number(o.port);
  if (!Number.isInteger(sshPort) || sshPort < 1 || sshPort > 65535) {
    throw new LabError("LAB_E_USAGE", `--port wants 1-65535, got "${o.port}"`);
  }
  for (const [flag, dir] of [
    ["--prefix", o.prefix],
    ["--remote-home", o.remoteHome],
  ] as const) {
    if (!dir.startsWith("/") || dir === "/" || /['"\s]/.test(dir)) {
      throw new LabError(
        "LAB_E_USAGE",
        `${flag} wants an absolute directory without spaces or quotes, got "${dir}"`,
      );
    }
  }
  const { io, print, out } = ctx;
  const say = (line: string) => print(`${line}\n`);
  const { SshSession } = await import("@lab/onboard");
  const { planSshMigration } = await import("../migrate/ssh-target.js");
  const { applyPlan, renderPlan } = await import("../migrate/plan.js");
  say(`Connecting to ${o.user}@${o.host}:${sshPort}`);
  const ssh = await SshSession.connect({
    host: o.host,
    port: sshPort,
    user: o.user,
    ...(o.identity ? { identityFile: o.identity } : { agent: true }),
    ...(o.hostKey ? { knownHostKeyFingerprint: o.hostKey } : {}),
  });
  try {
    say(
      `Host key ${ssh.hostKeyFingerprint}${o.hostKey ? " (pinned)" : " (not pinned: pass --host-key to pin it)"}`,
    );
    const plan = await planSshMigration({
      home: labHome(io.env),
      env: io.env,
      ssh,
      host: o.host,
      prefix: o.prefix.replace(/\/$/, ""),
      remoteHome: o.remoteHome.replace(/\/$/, ""),
      listen: o.remoteListen,
    });
    try {
      print(renderPlan(plan, out));
      if (plan.alreadyDone) return;
      await confirmPlan(ctx.ask, o.yes, "apply this plan");
      const report = await applyPlan(plan, say);
      if (report.failed) {
        say(
          report.undoFailures.length === 0
            ? "Rolled back: the local Lab keeps running and the CLI configuration is as it was."
            : `Rolled back only in part (${report.undoFailures.length} undo failed, above): check the host and the local Lab.`,
        );
        throw report.failed.error;
      }
      say(`Migrated: lab-server runs at ${plan.url}; this CLI talks to it (lab get servers).`);
    } finally {
      plan.cleanup();
    }
  } finally {
    await ssh.close();
  }
}
