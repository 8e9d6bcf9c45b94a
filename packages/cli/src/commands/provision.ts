/**
 * `lab provision …` (the machine lifecycle), `lab doctor` and `lab pxe …`; the install follower
 * `lab onboard --provider baremetal` uses (onboard.ts). Local mode drives the Provisioner over the SQLite state; client mode the
 * same operations over the API — the output is the same either way.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { LabError } from "@lab/core";
import type { Machine, TimelineStep } from "@lab/pxe";
import { DEFAULT_IPXE_DIR } from "@lab/pxe/ipxe-files";
import type { Command } from "commander";
import { labHome, type Session } from "../context.js";
import type { HttpClient } from "../http-engine.js";
import type { Style } from "../output/style.js";
import { renderTable } from "../output/table.js";
import type { Format, IO } from "../program.js";
import type { CommandContext } from "./command-context.js";

interface Ctx extends CommandContext {
  ask: (question: string) => Promise<string>;
}

/** The provisioning operations, whichever side runs them. */
export interface ProvisionClient {
  list(): Promise<Machine[]>;
  find(target: string): Promise<Machine>;
  /** `bastion`: the remote site the machine boots at (client mode only). */
  enlist(o: {
    mac: string;
    name: string;
    image: string;
    preserve?: string[];
    bastion?: string;
  }): Promise<Machine>;
  install(target: string, o: { image?: string; name?: string }): Promise<Machine>;
  reprovision(target: string, o: { image?: string; preserve?: string[] }): Promise<Machine>;
  debug(target: string): Promise<Machine>;
  forget(target: string): Promise<Machine>;
  timeline(target: string, after?: number): Promise<TimelineStep[]>;
  logs(target: string, tail: number): Promise<{ mac: string; lines: string[] }>;
  close(): Promise<void>;
}

/** Local mode: the Provisioner over the local state (the same code the daemon runs). */
export async function localProvisioning(session: Session, env: NodeJS.ProcessEnv): Promise<ProvisionClient> {
  const store = session.store;
  if (!store) throw new LabError("LAB_E_INTERNAL", "local provisioning needs the local store");
  const { loadPxeSecret, Provisioner, readInstallLog, Timeline, withDurations } = await loadPxe();
  const home = labHome(env);
  const timeline = new Timeline(store.db);
  const p = new Provisioner({
    db: store.db,
    store,
    timeline,
    secret: loadPxeSecret(join(home, "server")),
    actor: "cli",
  });
  return {
    list: () => p.list(),
    find: (t) => p.find(t),
    enlist: ({ bastion, ...o }) => {
      if (bastion)
        throw new LabError(
          "LAB_E_USAGE",
          "--bastion needs lab server (bastions join a server): lab login first",
        );
      return p.enlist(o);
    },
    install: (t, o) => p.install(t, o),
    reprovision: (t, o) => p.reprovision(t, o),
    debug: (t) => p.debug(t),
    forget: (t) => p.forget(t),
    timeline: async (t, after) => withDurations(await timeline.read((await p.find(t)).mac, after ?? 0)),
    logs: async (t, tail) => {
      const mac = (await p.find(t)).mac;
      return { mac, lines: readInstallLog(join(home, "pxe", "logs"), mac, tail) };
    },
    close: () => timeline.close(),
  };
}

/** Client mode: the operator API under /api/v1/provision. */
export function remoteProvisioning(client: HttpClient): ProvisionClient {
  const m = (t: string) => `/api/v1/provision/machines/${encodeURIComponent(t)}`;
  return {
    list: () => client.request("GET", "/api/v1/provision/machines"),
    find: (t) => client.request("GET", m(t)),
    enlist: (o) => client.request("POST", "/api/v1/provision/enlist", o),
    install: (t, o) => client.request("POST", `${m(t)}/install`, o),
    reprovision: (t, o) => client.request("POST", `${m(t)}/reprovision`, o),
    debug: (t) => client.request("POST", `${m(t)}/debug`, {}),
    forget: (t) => client.request("DELETE", m(t)),
    timeline: (t, after) => client.request("GET", `${m(t)}/timeline${after ? `?after=${after}` : ""}`),
    logs: (t, tail) => client.request("GET", `${m(t)}/logs?tail=${tail}`),
    close: async () => undefined,
  };
}

/** The boot code loads only for the commands that use it (not on the path of `get`/`show`). */
const loadPxe = () => import("@lab/pxe");

const STAGES = ["booted", "partitioning", "installing", "configuring", "complete"];

export function registerProvisionCommands(program: Command, ctx: Ctx): void {
  const { io, print, emit, out } = ctx;
  const withClient = async <T>(fn: (c: ProvisionClient) => Promise<T>): Promise<T> => {
    const session = await ctx.open();
    const client = session.remote
      ? remoteProvisioning(session.remote)
      : await localProvisioning(session, io.env);
    // The session belongs to the program (closed when the command ends); the client is ours.
    try {
      return await fn(client);
    } finally {
      await client.close();
    }
  };
  const outputOpt = (c: Command) =>
    c.option("-o, --output <format>", "table|wide|json|yaml", "table") as Command;
  const one = (verb: string, description: string) =>
    outputOpt(
      provision.command(verb).description(description).argument("<machine>", "MAC, server name or IP"),
    );

  const provision = program
    .command("provision")
    .description("network-booted machines: list, install, logs, timeline");

  outputOpt(provision.command("list").description("every machine Lab network-boots, with its state")).action(
    async (opts: { output: Format }) => {
      const rows = await withClient((c) => c.list());
      emit(opts.output, rows, () => machineTable(rows, out, opts.output === "wide"));
    },
  );

  one("install", "queue a machine for installation at its next network boot")
    .option("--image <image>", "the image to install (default: the server's image)")
    .option("--name <name>", "the server name it gets (default: its current name)")
    .action(async (target: string, opts: { image?: string; name?: string; output: Format }) => {
      const m = await withClient((c) => c.install(target, { image: opts.image, name: opts.name }));
      emit(opts.output, m, () => `${m.name ?? m.mac} (${m.mac}): ${stateWord(m, out)}, image ${m.image}\n`);
    });
  one("reprovision", "install an installed machine again, keeping its preserved volumes")
    .option("--image <image>", "install a different image")
    .option(
      "--preserve <paths...>",
      "mount points to keep (default: /home /srv /var/lib/longhorn /var/lib/rancher)",
    )
    .action(async (target: string, opts: { image?: string; preserve?: string[]; output: Format }) => {
      const m = await withClient((c) =>
        c.reprovision(target, { image: opts.image, preserve: opts.preserve }),
      );
      emit(
        opts.output,
        m,
        () => `${m.name ?? m.mac}: ${stateWord(m, out)}; keeps ${m.preserve.join(", ") || "nothing"}\n`,
      );
    });
  one("debug", "boot the rescue system once at the next network boot").action(
    async (target: string, opts: { output: Format }) => {
      const m = await withClient((c) => c.debug(target));
      emit(
        opts.output,
        m,
        () => `${m.name ?? m.mac}: the next network boot starts the rescue system (once)\n`,
      );
    },
  );
  one("forget", "remove a machine from every provisioning table").action(
    async (target: string, opts: { output: Format }) => {
      const m = await withClient((c) => c.forget(target));
      emit(opts.output, m, () => `${m.name ?? m.mac} (${m.mac}) forgotten\n`);
    },
  );

  outputOpt(
    provision
      .command("timeline")
      .description(
        "every DHCP, TFTP, HTTP, progress and syslog step of a machine's boot, with the time between",
      )
      .argument("<machine>", "MAC, server name or IP")
      .option("--all", "every boot, not only the latest"),
  ).action(async (target: string, opts: { all?: boolean; output: Format }) => {
    const steps = await withClient((c) => c.timeline(target));
    const shown = opts.all ? steps : await latestBoot(steps);
    emit(opts.output, shown, () => timelineTable(shown, out));
  });

  provision
    .command("logs")
    .description("a machine's install log (syslog lines, progress and posted logs)")
    .argument("<machine>", "MAC, server name or IP")
    .option("-f, --follow", "keep printing new lines until the install ends")
    .option("--tail <n>", "lines of history to print", "200")
    .action(async (target: string, opts: { follow?: boolean; tail: string }) => {
      await withClient(async (c) => {
        const { lines } = await c.logs(target, Number(opts.tail));
        for (const l of lines) print(`${l}\n`);
        if (!opts.follow) return;
        await follow(c, target, (step) => {
          if (step.kind === "syslog" || step.kind === "progress" || step.kind === "state")
            print(`${logLine(step)}\n`);
        });
      });
    });

  program
    .command("doctor")
    .description("check what network booting needs on this machine, and say how to get what is missing")
    .option("--ipxe-dir <dir>", "where the iPXE binaries are", DEFAULT_IPXE_DIR)
    .action(async (opts: { ipxeDir: string }) => {
      const { pxeDoctor } = await loadPxe();
      const checks = pxeDoctor({ ipxeDir: opts.ipxeDir, home: labHome(io.env) });
      for (const c of checks)
        print(`${c.ok ? out.green("✓") : c.required ? out.red("✗") : out.yellow("⚠")} ${c.line}\n`);
      print(
        `${out.dim("ⓘ")} iPXE waits ~10 s for IPv6 autoconfiguration unless a router advertisement arrives: see docs/pxe.md\n`,
      );
      if (checks.some((c) => c.required && !c.ok)) {
        throw new LabError("LAB_E_PXE_SETUP", "network booting is missing something listed above");
      }
    });

  const pxe = program.command("pxe").description("the boot services");
  pxe
    .command("image")
    .description("Lab's own boot images")
    .command("build")
    .description(
      "build the discovery image (Debian kernel + busybox) into LAB_HOME/images/lab-discovery (root)",
    )
    .action(async () => {
      const script = join(packageRoot(), "scripts", "build-discovery-image.sh");
      if (!existsSync(script))
        throw new LabError("LAB_E_PXE_SETUP", `${script} is missing from this install`);
      const dest = join(labHome(io.env), "images", "lab-discovery");
      const { spawn } = await import("node:child_process");
      const code = await new Promise<number>((resolve) => {
        const child = spawn("bash", [script, dest], { stdio: ["ignore", "inherit", "inherit"] });
        child.on("close", (c) => resolve(c ?? 1));
        child.on("error", () => resolve(127));
      });
      if (code !== 0)
        throw new LabError("LAB_E_PXE_SETUP", `building the discovery image failed (exit ${code})`);
      print(`${out.green("✓")} discovery image in ${dest}\n`);
    });
  pxe
    .command("media")
    .description(
      "a bootable ISO / USB image (BIOS and UEFI) whose iPXE reaches Lab, for machines that cannot PXE",
    )
    .argument("<kind>", "iso|usb (the same hybrid image: burn it, attach it, or dd it to a stick)")
    .option("--embed-url <url>", "Lab's boot port as machines reach it, e.g. http://192.168.1.10:7480")
    .option("--out <file>", "where to write it (default: lab-boot.iso, or lab-boot.img for usb)")
    .option("--ipxe-dir <dir>", "where the iPXE binaries are (UEFI needs a 2021+ ipxe.efi)", DEFAULT_IPXE_DIR)
    .option("--bios-only", "leave UEFI out (an iPXE too old to run a script from the media)")
    .action(
      async (
        kind: string,
        opts: { embedUrl?: string; out?: string; ipxeDir: string; biosOnly?: boolean },
      ) => {
        if (kind !== "iso" && kind !== "usb")
          throw new LabError("LAB_E_USAGE", `no media "${kind}": iso or usb`);
        const session = await ctx.open();
        // Through a server, its boot port is on the same host; locally there is nothing to guess.
        const url =
          opts.embedUrl ??
          (session.remote ? `http://${new URL(session.remote.target.url).hostname}:7480` : undefined);
        if (!url) {
          throw new LabError(
            "LAB_E_USAGE",
            "give --embed-url http://HOST:7480 (the address machines reach lab server's boot port on)",
          );
        }
        const { buildMedia } = await loadPxe();
        const r = await buildMedia({
          kind,
          serverUrl: url,
          out: opts.out ?? (kind === "iso" ? "lab-boot.iso" : "lab-boot.img"),
          ipxeDir: opts.ipxeDir,
          biosOnly: opts.biosOnly === true,
          log: (line) => io.stderr.write(`… ${line}\n`),
        });
        const machines = r.firmware.map((f) => f.toUpperCase()).join(" and ");
        print(
          `${out.green("✓")} ${r.path} (${(r.bytes / 2 ** 20).toFixed(1)} MiB) boots ${machines} machines into ${url}\n`,
        );
        print(
          kind === "usb"
            ? `Write it to a stick: sudo dd if=${r.path} of=/dev/sdX bs=4M conv=fsync (every file on the stick is lost)\n`
            : "Burn it, or attach it as a virtual CD (BMC, hypervisor).\n",
        );
      },
    );
  pxe
    .command("config")
    .description("print the snippet for your own DHCP server (when Lab's DHCP is off)")
    .argument("<server>", "dnsmasq|isc")
    .requiredOption(
      "--lab <host[:port]>",
      "the address machines reach Lab's boot port on (e.g. 192.168.1.10:7480)",
    )
    .option("--tftp <host>", "the TFTP server (default: the --lab host)")
    .action(async (which: string, opts: { lab: string; tftp?: string }) => {
      const { dnsmasqSnippet, iscDhcpSnippet } = await loadPxe();
      const [host = "", port = "7480"] = opts.lab.split(":");
      const o = { bootHost: host, bootPort: Number(port), tftpHost: opts.tftp ?? host };
      if (which === "dnsmasq") return print(dnsmasqSnippet(o));
      if (which === "isc") return print(iscDhcpSnippet(o));
      throw new LabError("LAB_E_USAGE", `no snippet for "${which}": dnsmasq or isc`);
    });
}

/** Polls the timeline until the machine is INSTALLED or FAILED; returns its final record. */
export async function follow(
  c: ProvisionClient,
  target: string,
  onStep: (s: TimelineStep) => void,
): Promise<Machine | undefined> {
  const start = await c.timeline(target);
  let after = start.at(-1)?.id ?? 0;
  for (;;) {
    const steps = await c.timeline(target, after);
    for (const s of steps) {
      onStep(s);
      after = Math.max(after, s.id);
    }
    const m = await c.find(target);
    if (m.state === "INSTALLED" || m.state === "FAILED") return m;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** The install's progress: a bar redrawn in place on a terminal, one line per stage otherwise. */
export function progressBar(out: Style, io: IO) {
  let shown = "";
  const width = 30;
  return {
    step(s: TimelineStep) {
      if (s.kind === "http" && s.type === "dispatch") {
        const line = `  → boot request received: ${String(s.detail.decision)}${s.detail.image ? ` ${String(s.detail.image)}` : ""}\n`;
        io.stdout.write(shown ? `\n${line}` : line);
        shown = "";
        return;
      }
      if (s.kind !== "progress" && s.kind !== "state") return;
      const index = STAGES.indexOf(s.type);
      const given = typeof s.detail.percent === "number" ? s.detail.percent : undefined;
      const percent = given ?? (index >= 0 ? (index / (STAGES.length - 1)) * 100 : undefined);
      // State changes without a stage (INSTALLING) are shown as lines, never as a bar position.
      if (percent === undefined || !io.stdout.isTTY) {
        if (percent !== undefined || s.kind === "state") {
          io.stdout.write(`  → ${s.type}${percent !== undefined ? ` (${Math.round(percent)}%)` : ""}\n`);
        }
        return;
      }
      const filled = Math.round((percent / 100) * width);
      const bar = `${out.green("█".repeat(filled))}${"░".repeat(width - filled)}`;
      const line = `  [${bar}] ${String(Math.round(percent)).padStart(3)}% ${s.type}`;
      io.stdout.write(`\r${line}${" ".repeat(Math.max(0, shown.length - line.length))}`);
      shown = line;
    },
    done() {
      if (shown) io.stdout.write("\n");
    },
  };
}

/** The installed package's root (dist/ or dist/chunks/ lies below it). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

async function latestBoot(steps: TimelineStep[]): Promise<TimelineStep[]> {
  const { lastBoot, withDurations } = await loadPxe();
  return withDurations(lastBoot(steps));
}

function timelineTable(steps: TimelineStep[], out: Style): string {
  if (steps.length === 0) return "No boot steps recorded yet.\n";
  const slowest = Math.max(...steps.map((s) => s.sincePreviousMs));
  return `${renderTable(
    steps,
    [
      { header: "+TIME", value: (s) => seconds(s.sinceStartMs) },
      {
        header: "STEP",
        value: (s) =>
          s.sincePreviousMs === slowest && slowest > 1000
            ? out.yellow(seconds(s.sincePreviousMs))
            : seconds(s.sincePreviousMs),
      },
      { header: "KIND", value: (s) => s.kind },
      { header: "WHAT", value: (s) => s.type },
      { header: "DETAIL", value: (s) => detailText(s.detail), shrink: true },
    ],
    out,
  )}\n`;
}

function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(2)}s`;
}

function detailText(d: Record<string, unknown>): string {
  return Object.entries(d)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
}

function logLine(s: TimelineStep): string {
  const t = s.time.slice(11, 23);
  if (s.kind === "syslog") return `${t} ${String(s.detail.message ?? s.type)}`;
  if (s.kind === "progress")
    return `${t} [progress] ${s.type} ${String(s.detail.status ?? "")} ${String(s.detail.message ?? "")}`.trimEnd();
  return `${t} [state] ${s.type}`;
}

function machineTable(rows: Machine[], out: Style, wide: boolean): string {
  if (rows.length === 0)
    return "No machines yet: boot one from the network, or `lab onboard NAME --provider baremetal --mac …`.\n";
  return `${renderTable(
    rows,
    [
      { header: "MAC", value: (m) => m.mac },
      { header: "NAME", value: (m) => m.name ?? "-" },
      { header: "STATE", value: (m) => stateWord(m, out) },
      { header: "IMAGE", value: (m) => m.image ?? "-" },
      { header: "IP", value: (m) => m.ip ?? "-" },
      // Only when a remote bastion serves any of them: a one-site lab sees no new column.
      ...(rows.some((m) => m.bastion)
        ? [{ header: "SITE", value: (m: Machine) => m.bastion ?? "here" }]
        : []),
      { header: "HARDWARE", value: (m) => hardwareText(m), shrink: true },
      ...(wide
        ? [{ header: "UPDATED", value: (m: Machine) => m.updatedAt.slice(0, 19).replace("T", " ") }]
        : []),
    ],
    out,
  )}\n`;
}

function stateWord(m: Machine, out: Style): string {
  const word =
    m.stage && (m.state === "INSTALLING" || m.state === "FAILED") ? `${m.state} (${m.stage})` : m.state;
  const colour = {
    INSTALLED: out.green,
    FAILED: out.red,
    INSTALLING: out.cyan,
    INSTALL_QUEUE: out.yellow,
    DISCOVERED: (s: string) => s,
  }[m.state];
  return `${colour(word)}${m.debug ? " +debug" : ""}`;
}

function hardwareText(m: Machine): string {
  const h = m.hardware;
  if (!h) return "-";
  const gib = h.memoryBytes / 2 ** 30;
  const disks = h.disks.map((d) => `${d.type} ${Math.round(d.sizeBytes / 1e9)}G`).join("+");
  return `${h.cpu.cores}c ${gib < 10 ? gib.toFixed(1) : Math.round(gib)}G ${disks || "no disk"}`;
}
