/** `lab bastion` (a remote site's boot services, joined to a control plane) and `lab get bastions`. */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { LabError } from "@lab/core";
import type { Command } from "commander";
import { labHome } from "../context.js";
import type { Style } from "../output/style.js";
import { renderTable } from "../output/table.js";
import { ago } from "../output/time.js";
import type { Format } from "../program.js";
import type { CommandContext } from "./command-context.js";
import { addPxeFlags, type PxeFlags, pxeOptions } from "./remote.js";

type Ctx = CommandContext;

export interface BastionRow {
  name: string;
  connected: boolean;
  connectedAt: string | null;
  lastSeenAt: string;
  address: string | null;
  version: string | null;
  bootUrl: string | null;
  machines: number;
  ackedSeq: number;
}

export function registerBastionCommand(program: Command, ctx: Ctx): void {
  const cmd = program
    .command("bastion")
    .description("run a remote site's boot services (DHCP, TFTP, boot HTTP, syslog), joined to lab server")
    .requiredOption("--join <url>", "the control plane's API, https://HOST:7443")
    .option("--join-token-file <file>", "a one-time join token for this bastion (deleted once spent)")
    .option("--ca-file <file>", "Lab's CA certificate (to trust the server before enrolment)")
    .option("--name <name>", "this bastion's name (default: the join token's)")
    .option(
      "--state-dir <dir>",
      "its state: identity, model, machines, boot steps (default LAB_HOME/bastion)",
    )
    .option("--channel <url>", "the control plane's agent channel (default: what enrolment says)");
  addPxeFlags(cmd).action(
    async (
      opts: PxeFlags & {
        join: string;
        joinTokenFile?: string;
        caFile?: string;
        name?: string;
        stateDir?: string;
        channel?: string;
      },
    ) => {
      const { io, print } = ctx;
      const tokenFile = opts.joinTokenFile ? resolve(opts.joinTokenFile) : undefined;
      const joinToken = tokenFile ? readFileSync(tokenFile, "utf8").trim() : io.env.LAB_JOIN_TOKEN;
      const stateDir = resolve(opts.stateDir ?? join(labHome(io.env), "bastion"));
      if (!joinToken && !existsSync(join(stateDir, "identity", "cert.pem"))) {
        throw new LabError(
          "LAB_E_USAGE",
          "a new bastion needs a join token: lab join-token create NAME on the server, then --join-token-file FILE",
        );
      }
      const { startBastion } = await import("@lab/server/bastion");
      const bastion = await startBastion({
        server: opts.join,
        stateDir,
        ...(joinToken ? { joinToken } : {}),
        ...(opts.caFile ? { caPem: readFileSync(resolve(opts.caFile), "utf8") } : {}),
        ...(opts.name ? { name: opts.name } : {}),
        ...(opts.channel ? { channelUrl: opts.channel } : {}),
        pxe: pxeOptions(opts),
        log: (line) => print(`${line}\n`),
        onEnrolled: () => {
          if (tokenFile) rmSync(tokenFile, { force: true });
        },
      });
      print(
        `Bastion ${bastion.name}: boot services at ${bastion.boot.bootUrl}; joined to ${opts.join}\nReady.\n`,
      );
      await new Promise<void>((done) => {
        const stop = (signal: string) => {
          print(`${signal}: stopping\n`);
          void bastion.close().then(done);
        };
        process.once("SIGTERM", () => stop("SIGTERM"));
        process.once("SIGINT", () => stop("SIGINT"));
      });
      print("Stopped.\n");
    },
  );
}

/** `lab get bastions`: what the control plane knows of each site, from its own reports. */
export async function getBastions(ctx: Ctx, format: Format): Promise<void> {
  const session = await ctx.open();
  if (!session.remote) {
    throw new LabError(
      "LAB_E_USAGE",
      "bastions report to lab server: point the CLI at it first (lab login URL --token …)",
    );
  }
  const rows = await session.remote.request<BastionRow[]>("GET", "/api/v1/bastions");
  if (!rows.length && (format === "table" || format === "wide")) {
    ctx.io.stderr.write("No bastions found (start one: lab bastion --join URL --join-token-file F).\n");
    return;
  }
  ctx.emit(format, rows, () => bastionTable(rows, ctx.out));
}

export function bastionTable(rows: BastionRow[], style: Style): string {
  return renderTable(
    rows,
    [
      { header: "NAME", value: (r) => r.name },
      {
        header: "LINK",
        value: (r) => (r.connected ? `${style.tty ? style.green("●") : ""} connected`.trim() : "down"),
      },
      {
        header: "SINCE",
        value: (r) => (r.connected ? ago(r.connectedAt as string) : `last seen ${ago(r.lastSeenAt)}`),
      },
      { header: "ADDRESS", value: (r) => r.address ?? "—" },
      { header: "BOOT", value: (r) => r.bootUrl ?? "—" },
      { header: "MACHINES", value: (r) => String(r.machines) },
      { header: "STEPS", value: (r) => String(r.ackedSeq) },
    ],
    style,
  );
}
