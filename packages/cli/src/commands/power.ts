/**
 * `lab power status|on|off|cycle [NAME…] [-l LABEL] [--group G] [--next-boot pxe|disk]` and
 * `lab power next-boot NAME pxe|disk`. Local mode runs the drivers in this process over the
 * local model; client mode asks the server (which also polls and records outside changes).
 */
import { type Engine, LabError, type ServerFilter } from "@lab/core";
import type { BootDevice, PowerAction, PowerRow } from "@lab/power";
import type { Command } from "commander";
import { labHome, type Session } from "../context.js";
import type { Style } from "../output/style.js";
import { type Column, renderTable } from "../output/table.js";
import type { Format } from "../program.js";
import type { CommandContext } from "./command-context.js";

interface Ctx extends CommandContext {
  engine: () => Promise<Engine>;
  actor: string;
  setExitCode: (code: number) => void;
}

/** The power operations, whichever side runs them. */
export interface PowerClient {
  status(names?: string[]): Promise<PowerRow[]>;
  act(name: string, action: PowerAction, nextBoot?: BootDevice): Promise<PowerRow>;
  setNextBoot(name: string, device: BootDevice): Promise<PowerRow>;
  close(): Promise<void>;
}

/** The power client for this session: the server's API, or the drivers in-process. */
export async function powerClient(
  session: Session,
  env: NodeJS.ProcessEnv,
  actor: string,
  print: (s: string) => void,
): Promise<PowerClient> {
  const remote = session.remote;
  if (remote) {
    const path = (name: string) => `/api/v1/power/${encodeURIComponent(name)}`;
    return {
      status: (names) =>
        remote.request<PowerRow[]>(
          "GET",
          `/api/v1/power${names ? `?name=${encodeURIComponent(names.join(","))}` : ""}`,
        ),
      act: (name, action, nextBoot) =>
        remote.request("POST", `${path(name)}/${action}`, nextBoot ? { nextBoot } : {}),
      setNextBoot: (name, device) => remote.request("PUT", `${path(name)}/next-boot`, { device }),
      close: async () => undefined,
    };
  }
  const store = session.store;
  if (!store) throw new LabError("LAB_E_INTERNAL", "local power control needs the local store");
  const [{ powerControl }, { Timeline }] = await Promise.all([import("@lab/power"), import("@lab/pxe")]);
  const timeline = new Timeline(store.db);
  let host: { vault: { get(path: string): Promise<{ value: Uint8Array }> }; close(): void } | undefined;
  const control = powerControl({
    load: () => store.load(),
    record: (e) => store.record(e),
    secret: async (path) => {
      if (!host) {
        const { SecretsHost, vaultPaths, modulePathFrom } = await import("@lab/secrets");
        host = await SecretsHost.open({
          vault: vaultPaths(labHome(env), env),
          model: store,
          modulePath: modulePathFrom(env),
        });
      }
      return Buffer.from((await host.vault.get(path)).value).toString("utf8");
    },
    timeline,
    tell: (name, message) => print(`→ ${name}: ${message}\n`),
  });
  return {
    status: (names) => control.status(names),
    act: (name, action, nextBoot) => control.act(name, action, actor, nextBoot),
    setNextBoot: (name, device) => control.setNextBoot(name, device, actor),
    close: async () => {
      host?.close();
      await timeline.close();
    },
  };
}

const list = (v: string, prev: string[] = []) => [...prev, ...v.split(",").filter(Boolean)];

function bootDevice(v: string): BootDevice {
  if (v !== "pxe" && v !== "disk") throw new LabError("LAB_E_USAGE", `next boot is pxe or disk, not "${v}"`);
  return v;
}

/** The servers named, or those the selectors match; at least one. */
async function chosen(
  ctx: Ctx,
  names: string[],
  o: { label?: string[]; group?: string[] },
  all: boolean,
): Promise<string[] | undefined> {
  if (names.length > 0 && (o.label || o.group)) {
    throw new LabError("LAB_E_USAGE", "name servers or select them with -l/--group, not both");
  }
  if (names.length > 0) return names;
  if (!o.label && !o.group) {
    if (all) return undefined;
    throw new LabError("LAB_E_USAGE", "say which servers: NAME…, -l LABEL or --group GROUP");
  }
  const filter: ServerFilter = { labels: o.label, groups: o.group };
  const rows = (await (await ctx.engine()).list("server", { filter })) as { name: string }[];
  if (rows.length === 0) throw new LabError("LAB_E_NOT_FOUND", "no server matches those selectors");
  return rows.map((r) => r.name);
}

function stateText(row: PowerRow, out: Style): string {
  if (row.state === "on") return out.green("on");
  if (row.state === "off") return "off";
  if (row.state === "error") return out.red("error");
  if (row.state === "unknown") return out.yellow("unknown");
  return out.dim("not configured");
}

function can(r: PowerRow): string {
  const c = r.capabilities;
  if (!c) return "—";
  return [
    ...(["on", "off", "cycle"] as const).filter((k) => c[k]),
    ...(c.nextBoot.length ? [`boot:${c.nextBoot.join("|")}`] : []),
    ...(c.status ? [] : ["no-status"]),
  ].join(",");
}

function table(rows: PowerRow[], out: Style, wide: boolean): string {
  const columns: Column<PowerRow>[] = [
    { header: "NAME", value: (r) => r.name },
    { header: "DRIVER", value: (r) => r.driver ?? "—" },
    { header: "POWER", value: (r) => stateText(r, out) },
    { header: "NEXT BOOT", value: (r) => r.nextBoot ?? "—" },
    ...(wide
      ? [
          { header: "CAN", value: can },
          { header: "OBSERVED", value: (r: PowerRow) => r.observedAt ?? "—" },
        ]
      : []),
    {
      header: "DETAIL",
      value: (r) => (r.error ? `${r.error.code}: ${r.error.message}` : r.detail),
      shrink: true,
      min: 12,
    },
  ];
  return renderTable(rows, columns, out);
}

export function registerPowerCommands(program: Command, ctx: Ctx): void {
  const power = program
    .command("power")
    .description("switch machines on, off, cycle them, choose the next boot (docs/power.md)");

  const withClient = async <T>(fn: (c: PowerClient) => Promise<T>): Promise<T> => {
    const client = await powerClient(await ctx.open(), ctx.io.env, ctx.actor, ctx.print);
    try {
      return await fn(client);
    } finally {
      await client.close();
    }
  };

  power
    .command("status")
    .argument("[names...]", "servers (default: all, or those -l/--group select)")
    .option("-l, --label <labels>", "servers with any of these labels", list)
    .option("--group <groups>", "servers in any of these groups", list)
    .option("-o, --output <format>", "table, wide, json or yaml", "table")
    .description("what each power controller says now")
    .action(async (names: string[], o: { label?: string[]; group?: string[]; output: Format }) => {
      const which = await chosen(ctx, names, o, true);
      const rows = await withClient((c) => c.status(which));
      ctx.emit(o.output, rows, () => table(rows, ctx.out, o.output === "wide"));
      if (rows.some((r) => r.state === "error")) ctx.setExitCode(1);
    });

  for (const action of ["on", "off", "cycle"] as const) {
    power
      .command(action)
      .argument("[names...]", "servers")
      .option("-l, --label <labels>", "servers with any of these labels", list)
      .option("--group <groups>", "servers in any of these groups", list)
      .option("--next-boot <device>", "set the next boot first: pxe or disk", bootDevice)
      .option("-o, --output <format>", "table, wide, json or yaml", "table")
      .description(
        action === "on" ? "switch on" : action === "off" ? "switch off (hard)" : "switch off and on again",
      )
      .action(
        async (
          names: string[],
          o: { label?: string[]; group?: string[]; nextBoot?: BootDevice; output: Format },
        ) => {
          const which = (await chosen(ctx, names, o, false)) as string[];
          const rows: PowerRow[] = [];
          let failed = 0;
          await withClient(async (c) => {
            // In order: a lab powers its machines in the order they are named.
            for (const name of which) {
              try {
                rows.push(await c.act(name, action, o.nextBoot));
              } catch (e) {
                if (which.length === 1) throw e;
                failed++;
                const code = e instanceof LabError ? e.code : "LAB_E_INTERNAL";
                ctx.io.stderr.write(`${ctx.out.red("error")} ${code}: ${name}: ${(e as Error).message}\n`);
              }
            }
          });
          ctx.emit(o.output, rows, () => table(rows, ctx.out, o.output === "wide"));
          if (failed > 0) ctx.setExitCode(1);
        },
      );
  }

  power
    .command("next-boot")
    .argument("<name>", "server")
    .argument("<device>", "pxe or disk", bootDevice)
    .option("-o, --output <format>", "table, wide, json or yaml", "table")
    .description("choose where the server boots from next")
    .action(async (name: string, device: BootDevice, o: { output: Format }) => {
      const row = await withClient((c) => c.setNextBoot(name, device));
      ctx.emit(o.output, [row], () => table([row], ctx.out, o.output === "wide"));
    });
}
