/**
 * `lab remote-access init|status`: the WireGuard phone-home (packages/identity/src/wireguard.ts).
 * init writes the two wg-quick files; status reads the tunnel's real state from `wg show`, and
 * says "—" for what it cannot see (no tunnel, never a handshake).
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { LabError } from "@lab/core";
import { parseWgDump, writeRemoteAccess } from "@lab/identity/wireguard";
import type { Command } from "commander";
import { labHome } from "../context.js";
import type { Style } from "../output/style.js";
import type { Format } from "../program.js";

export interface RemoteAccessContext {
  print: (s: string) => void;
  emit: (format: Format, data: unknown, human: () => string) => void;
  out: Style;
}

const collect = (v: string, prev: string[]) => [...prev, v];

/** "3 s ago", "2 min ago", "5 h ago". */
function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

export function registerRemoteAccessCommands(program: Command, ctx: RemoteAccessContext): void {
  const ra = program
    .command("remote-access")
    .description("a WireGuard tunnel the lab dials out on, so you can reach it from anywhere");
  ra.command("init")
    .description("write lab.conf (for the lab) and lab-hub.conf (for your hub), keeping keys across runs")
    .requiredOption(
      "--hub <host[:port]>",
      "where the lab dials: the hub's public name or address (UDP, default 51820)",
    )
    .option("--network <cidr>", "the tunnel's own network (hub .1, lab .2)", "10.77.0.0/24")
    .option("--lan <cidr>", "a LAN behind the lab the hub may reach (repeatable)", collect, [] as string[])
    .option("--keepalive <seconds>", "how often the lab keeps NAT open", "25")
    .option("--out <dir>", "where to write (default: LAB_HOME/remote-access)")
    .option("--rotate", "new keys (the hub needs the new lab-hub.conf)")
    .action(
      (opts: {
        hub: string;
        network: string;
        lan: string[];
        keepalive: string;
        out?: string;
        rotate?: boolean;
      }) => {
        const keepalive = Number(opts.keepalive);
        if (!Number.isInteger(keepalive) || keepalive < 1 || keepalive > 65535)
          throw new LabError("LAB_E_USAGE", `--keepalive ${opts.keepalive}: whole seconds, 1–65535`);
        const dir = opts.out ?? join(labHome(), "remote-access");
        const r = writeRemoteAccess(
          dir,
          { hubEndpoint: opts.hub, network: opts.network, lan: opts.lan, keepalive },
          opts.rotate === true,
        );
        const { out } = ctx;
        ctx.print(
          [
            `${out.green("✓")} ${r.newKeys ? "new keys" : "kept the keys in keys.json"}; tunnel ${opts.network}: hub ${r.hubAddress}, lab ${r.labAddress}`,
            `  on the lab:  wg-quick up ${r.labFile}`,
            `  on the hub:  wg-quick up ${r.hubFile}   (UDP ${r.hubPort} open to the internet)`,
            `  then from the hub: lab login https://${r.labAddress}:7443 … (start lab server with --san ${r.labAddress})`,
            "Both files hold private keys (mode 0600): copy lab-hub.conf to the hub over SSH, then delete the copy here if you like.",
            "",
          ].join("\n"),
        );
      },
    );
  ra.command("status")
    .description("the tunnel as WireGuard reports it: last handshake, traffic, endpoint")
    .option("--interface <name>", "the WireGuard interface (wg-quick names it after the file)", "lab")
    .option("-o, --output <format>", "table|json", "table")
    .action((opts: { interface: string; output: Format }) => {
      const r = spawnSync("wg", ["show", opts.interface, "dump"], { encoding: "utf8" });
      const missing = (r.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
      const up = r.status === 0;
      const status = up ? parseWgDump(r.stdout) : null;
      const now = Date.now();
      const data = {
        interface: opts.interface,
        up,
        reason: up
          ? null
          : missing
            ? "wg is not installed (apt-get install wireguard-tools)"
            : (r.stderr || "").trim() || "not up",
        peers: (status?.peers ?? []).map((p) => ({
          ...p,
          latestHandshake: p.latestHandshake?.toISOString() ?? null,
        })),
      };
      ctx.emit(opts.output, data, () => {
        if (!status) return `${opts.interface}: — tunnel not up (${data.reason})\n`;
        return `${status.peers
          .map((p) => {
            const hs = p.latestHandshake ? ago(now - p.latestHandshake.getTime()) : "— (never)";
            return [
              `${opts.interface} → ${p.endpoint ?? "— (no endpoint: it calls in)"}  peer ${p.publicKey.slice(0, 8)}…`,
              `  latest handshake  ${hs}`,
              `  transfer          ${p.rxBytes} B received, ${p.txBytes} B sent`,
              `  allowed ips       ${p.allowedIps.join(", ") || "—"}`,
              `  keepalive         ${p.keepalive === null ? "off" : `every ${p.keepalive} s`}`,
            ].join("\n");
          })
          .join("\n")}\n`;
      });
    });
}
