/**
 * `lab logs` and `lab sources`: the server's log pipeline from the terminal. Logs are
 * collected by `lab server`, so both need one (`lab login`); `-l` selects the servers by label
 * as everywhere else, and `-f` follows, printing a notice when the ring dropped lines.
 */
import { LabError } from "@lab/core";
import type { Command } from "commander";
import type { Session } from "../context.js";
import type { HttpClient } from "../http-engine.js";
import type { Style } from "../output/style.js";
import { renderTable } from "../output/table.js";
import type { Format, IO } from "../program.js";

interface Ctx {
  io: IO;
  print: (s: string) => void;
  emit: (format: Format, data: unknown, human: () => string) => void;
  out: Style;
  open: () => Promise<Session>;
}

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
        let page = await client.request<LogPage>("GET", `/api/v1/logs?${params}`);
        for (const e of page.events) ctx.print(show(e));
        if (!opts.follow) return;
        let after = page.events.at(-1)?.seq ?? page.last;
        params.delete("since");
        params.set("limit", "10000");
        for (;;) {
          await new Promise((r) => setTimeout(r, 500));
          params.set("after", String(after));
          page = await client.request<LogPage>("GET", `/api/v1/logs?${params}`);
          if (page.missed > 0)
            ctx.io.stderr.write(
              `… ${page.missed} events dropped by the server's ring before they were read\n`,
            );
          for (const e of page.events) ctx.print(show(e));
          after = Math.max(after, page.events.at(-1)?.seq ?? page.last);
        }
      },
    );

  program
    .command("sources")
    .description("every event source lab server runs, with its observed state")
    .option("-o, --output <format>", "table, json or yaml", "table")
    .action(async (opts: { output: Format }) => {
      const client = await remote(ctx);
      const rows = await client.request<SourceRow[]>("GET", "/api/v1/sources");
      if (rows.length === 0 && opts.output === "table") {
        ctx.io.stderr.write("No event sources configured (lab server --otel-file FILE adds one).\n");
        return;
      }
      ctx.emit(opts.output, rows, () =>
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
    });
}
