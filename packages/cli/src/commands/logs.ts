/**
 * `lab logs` and `lab sources`: the server's log pipeline from the terminal. Logs are
 * collected by `lab server`, so both need one (`lab login`); `-l` selects the servers by label
 * as everywhere else, and `-f` follows, printing a notice when the ring dropped lines.
 */
import { LabError } from "@lab/core";
import type { Command } from "commander";
import type { HttpClient } from "../http-engine.js";
import { renderTable } from "../output/table.js";
import type { Format } from "../program.js";
import type { CommandContext } from "./command-context.js";

type Ctx = CommandContext;

interface LogEvent {
  seq: number;
  time: string;
  node: string | null;
  service: string | null;
  source: string;
  level: string;
  message: string;
}
interface LogPage {
  events: LogEvent[];
  missed: number;
  last: number;
}
interface SourceRow {
  name: string;
  kind: string;
  state: string;
  detail: string;
  events: number;
  lastEventAt: string | null;
}

async function remote(ctx: Ctx): Promise<HttpClient> {
  const session = await ctx.open();
  if (!session.remote) {
    throw new LabError(
      "LAB_E_USAGE",
      "logs are collected by lab server: point the CLI at one with `lab login URL --token …` first",
    );
  }
  return session.remote;
}

const list = (v: string, prev: string[] = []) => [...prev, ...v.split(",").filter(Boolean)];

export function registerLogCommands(program: Command, ctx: Ctx): void {
  program
    .command("logs")
    .description("log events collected by lab server (OTel files, …), oldest first")
    .option("-l, --label <labels>", "only servers with these labels (comma-separated: any of)", list)
    .option("--node <names>", "only these servers or hosts", list)
    .option("--level <level>", "this level and worse: trace, debug, info, warn, error, fatal")
    .option("--source <names>", "only these sources (see `lab sources`)", list)
    .option("--since <when>", "an ISO time, or a duration back from now: 30s, 15m, 2h, 1d")
    .option("--limit <n>", "at most this many (the newest)", "200")
    .option("-f, --follow", "keep printing new events")
    .option("-o, --output <format>", "table or json (json: one event per line)", "table")
    .action(
      async (opts: {
        label?: string[];
        node?: string[];
        level?: string;
        source?: string[];
        since?: string;
        limit: string;
        follow?: boolean;
        output: string;
      }) => {
        const client = await remote(ctx);
        let nodes = opts.node ?? [];
        if (opts.label?.length) {
          const rows = await client.request<{ name: string }[]>(
            "GET",
            `/api/v1/servers?label=${encodeURIComponent(opts.label.join(","))}`,
          );
          nodes = [...nodes, ...rows.map((r) => r.name)];
          if (nodes.length === 0) {
            ctx.io.stderr.write(`No server has label ${opts.label.join(" or ")}.\n`);
            return;
          }
        }
        const params = new URLSearchParams();
        if (nodes.length) params.set("node", nodes.join(","));
        if (opts.level) params.set("level", opts.level);
        if (opts.source?.length) params.set("source", opts.source.join(","));
        if (opts.since) params.set("since", opts.since);
        params.set("limit", opts.limit);
        const show = (e: LogEvent) =>
          opts.output === "json"
            ? `${JSON.stringify(e)}\n`
            : `${e.time.slice(0, 23).replace("T", " ")} ${ctx.out.bold(e.level.toUpperCase().padEnd(5))} ${
                e.node ?? "—"
              }${e.service ? `/${e.service}` : ""}: ${e.message}\n`;
        const page = await client.request<LogPage>("GET", `/api/v1/logs?${params}`);
        for (const e of page.events) ctx.print(show(e));
        if (!opts.follow) return;
        const after = page.events.at(-1)?.seq ?? page.last;
        params.delete("since");
        params.delete("limit");
        await follow(client, params, after, (e) => ctx.print(show(e)), ctx.io.stderr);
      },
    );

  program
    .command("callback-token")
    .description("issue NAME's callback token: it may POST /api/v1/callbacks for NAME only (admin)")
    .argument("<name>", "the server the token reports for")
    .action(async (name: string) => {
      const client = await remote(ctx);
      const r = await client.request<{ token: string }>("POST", "/api/v1/callbacks/tokens", { server: name });
      ctx.print(`${r.token}\n`);
    });

  program
    .command("sources")
    .description("every event source lab server runs, with its observed state (also: lab get sources)")
    .option("-o, --output <format>", "table, json or yaml", "table")
    .action((opts: { output: Format }) => listSources(ctx, opts.output));
}

/** `lab sources` and `lab get sources`: each source's observed state. */
export async function listSources(ctx: Ctx, output: Format): Promise<void> {
  const client = await remote(ctx);
  const rows = await client.request<SourceRow[]>("GET", "/api/v1/sources");
  if (rows.length === 0 && output === "table") {
    ctx.io.stderr.write("No event sources configured (lab server --otel-file FILE adds one).\n");
    return;
  }
  ctx.emit(output, rows, () =>
    renderTable(
      rows,
      [
        { header: "NAME", value: (s) => s.name, shrink: true },
        { header: "KIND", value: (s) => s.kind },
        { header: "STATE", value: (s) => s.state },
        { header: "EVENTS", value: (s) => String(s.events) },
        { header: "LAST EVENT", value: (s) => s.lastEventAt?.slice(0, 19).replace("T", " ") ?? "—" },
        { header: "DETAIL", value: (s) => s.detail, shrink: true },
      ],
      ctx.out,
    ),
  );
}

/**
 * Follows the live stream (`/api/v1/logs/ws`) from `after`: every batch printed, every gap the
 * server announces said on stderr with the range to fetch; a dropped connection is retried
 * from the last seq seen, so nothing is printed twice or skipped silently.
 */
async function follow(
  client: HttpClient,
  params: URLSearchParams,
  after: number,
  print: (e: LogEvent) => void,
  stderr: { write(s: string): unknown },
): Promise<never> {
  const { default: WebSocket } = await import("ws");
  let last = after;
  let delay = 250;
  for (;;) {
    params.set("after", String(last));
    const url = new URL(`/api/v1/logs/ws?${params}`, client.target.url);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const reason = await new Promise<string>((resolve) => {
      const ws = new WebSocket(url, {
        headers: client.target.token ? { authorization: `Bearer ${client.target.token}` } : {},
        ...(client.target.caPem ? { ca: client.target.caPem } : {}),
      });
      ws.on("open", () => {
        delay = 250;
      });
      ws.on("message", (data) => {
        const m = JSON.parse(data.toString()) as
          | { type: "events"; events: LogEvent[] }
          | { type: "gap"; missed: number; after: number; until: number }
          | { type: "hello" | "stats" };
        if (m.type === "events") {
          for (const e of m.events) print(e);
          last = m.events.at(-1)?.seq ?? last;
        } else if (m.type === "gap") {
          stderr.write(
            `… ${m.missed} events not delivered (seq ${m.after + 1}–${m.until}): this terminal fell behind; lab logs --since fetches them from the store\n`,
          );
          last = m.until;
        }
      });
      ws.on("close", (code, why) => resolve(`${code}${why.length ? ` ${why}` : ""}`));
      ws.on("error", (e) => resolve((e as NodeJS.ErrnoException).code ?? e.message));
    });
    if (reason.startsWith("1008"))
      throw new LabError("LAB_E_BAD_REQUEST", `the server refused the stream: ${reason}`);
    stderr.write(`… stream ended (${reason}); reconnecting from seq ${last}\n`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 10_000);
  }
}
