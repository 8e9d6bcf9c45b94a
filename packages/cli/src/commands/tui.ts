/**
 * `lab tui`: builds the TUI's source from the CLI's session — the embedded engine and local
 * provisioner in local mode, the HTTP engine and the server's API in client mode — and runs
 * it. Loaded only by `lab tui`, so Ink and React stay off every other command's start-up.
 */
import { resolve } from "node:path";
import { LabError } from "@lab/core";
import type { LogPage, MachineRow, PowerLine, TimelineRow, TuiSource } from "@lab/tui";
import { actor, displayPath, readSources, type Session, statePath } from "../context.js";
import type { IO } from "../program.js";
import { streamExec } from "./agent.js";
import { type PowerClient, powerClient } from "./power.js";
import { localProvisioning, type ProvisionClient, remoteProvisioning } from "./provision.js";

export async function tuiSource(
  session: Session,
  env: NodeJS.ProcessEnv,
): Promise<{ source: TuiSource; close(): Promise<void> }> {
  const { pollFeed, sseFeed } = await import("@lab/tui");
  const remote = session.remote;
  // Provisioning opens its own timeline handle in local mode: opened once, closed on quit.
  let provisioning: Promise<ProvisionClient> | undefined;
  const prov = () => {
    provisioning ??= remote ? Promise.resolve(remoteProvisioning(remote)) : localProvisioning(session, env);
    return provisioning;
  };
  // Power drivers load on first use; a manual driver's instructions go to the status line.
  let powering: Promise<PowerClient> | undefined;
  let told = "";
  const pow = () => {
    powering ??= powerClient(session, env, actor(env), (line) => {
      told = line.trim();
    });
    return powering;
  };
  const needsServer = (what: string) =>
    new LabError("LAB_E_NEEDS_SERVER", `${what}, and this TUI runs locally`);

  const source: TuiSource = {
    mode: remote ? "client" : "local",
    where: remote ? remote.target.url : displayPath(statePath(env)),
    engine: session.engine,
    feed: remote ? sseFeed(remote.target, session.engine) : pollFeed(session.engine),
    machines: async () => (await (await prov()).list()) as MachineRow[],
    timeline: async (m, after) => (await (await prov()).timeline(m, after)) as TimelineRow[],
    installLog: async (m, tail) => (await (await prov()).logs(m, tail)).lines,
    machineAction: async (verb, m) => {
      const p = await prov();
      const r =
        verb === "install"
          ? await p.install(m, {})
          : verb === "reprovision"
            ? await p.reprovision(m, {})
            : await p.debug(m);
      return r as MachineRow;
    },
    logs: async (q) => {
      if (!remote) throw needsServer("logs are collected by lab server");
      const params = new URLSearchParams();
      if (q.node) params.set("node", q.node);
      if (q.after) params.set("after", String(q.after));
      if (q.limit) params.set("limit", String(q.limit));
      const qs = params.toString();
      return remote.request<LogPage>("GET", `/api/v1/logs${qs ? `?${qs}` : ""}`);
    },
    exec: async (server, command) => {
      if (!remote) throw needsServer("exec reaches agents through lab server");
      let output = "";
      const sink = {
        write: (s: string | Uint8Array) => {
          output += typeof s === "string" ? s : Buffer.from(s).toString("utf8");
          return true;
        },
      };
      const io = { stdout: sink, stderr: sink, env, stdin: () => "" } as unknown as IO;
      const code = await streamExec(remote.target, server, command, 600, io);
      return { code, output };
    },
    power: async (name) => {
      const [row] = await (await pow()).status([name]);
      if (!row) throw new LabError("LAB_E_NOT_FOUND", `no server "${name}"`);
      return row as PowerLine;
    },
    powerAction: async (name, verb) => {
      told = "";
      const row = (await (await pow()).act(name, verb)) as PowerLine;
      return told ? { ...row, detail: `${row.detail} — ${told}` } : row;
    },
    apply: (path) => session.engine.apply({ files: readSources([resolve(path)], () => "") }),
  };
  return {
    source,
    close: async () => {
      if (provisioning) await (await provisioning).close();
      if (powering) await (await powering).close();
    },
  };
}

/** Runs the TUI on this terminal until the user quits. */
export async function runTuiCommand(session: Session, env: NodeJS.ProcessEnv, start?: string): Promise<void> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new LabError("LAB_E_NOT_A_TERMINAL", "lab tui draws on a terminal, and stdin or stdout is not one");
  }
  const { runTui, palette } = await import("@lab/tui");
  let loc: ReturnType<typeof palette>["loc"];
  if (start) {
    const r = palette(start);
    if (r.error) throw new LabError("LAB_E_USAGE", r.error);
    loc = r.loc;
  }
  const { source, close } = await tuiSource(session, env);
  try {
    await runTui(source, {
      env,
      stdin: process.stdin,
      stdout: process.stdout,
      stderr: process.stderr,
      start: loc,
    });
  } finally {
    await close();
  }
}
