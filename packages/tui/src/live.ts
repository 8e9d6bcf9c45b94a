/**
 * How the TUI learns that something changed. Client mode reads the server's event stream
 * (SSE, /api/v1/events/stream), resuming after the last id it saw when the link drops; local
 * mode has no daemon to push, so it watches the state file's newest event id (another terminal's
 * `lab apply` writes one). Either way a change is a signal to refetch, never a patch to apply:
 * what is shown is always what the engine answers.
 */
import http from "node:http";
import https from "node:https";
import type { AuditEvent, Engine } from "@lab/core";
import type { ChangeFeed, LinkState } from "./source.js";

export interface StreamTarget {
  url: string;
  token?: string;
  caPem?: string;
}

/** The server's SSE stream, reconnecting with back-off; starts at the newest event. */
export function sseFeed(target: StreamTarget, engine: Engine): ChangeFeed {
  return {
    subscribe(onChange, onLink) {
      let stopped = false;
      let req: http.ClientRequest | undefined;
      let timer: NodeJS.Timeout | undefined;
      let after: number | undefined;
      let delay = 250;
      let connectedOnce = false;
      const retry = () => {
        if (stopped) return;
        onLink("reconnecting");
        timer = setTimeout(connect, delay);
        delay = Math.min(delay * 2, 5000);
      };
      const connect = async () => {
        if (stopped) return;
        try {
          after ??= (await engine.list("event", { limit: 1 }))[0]?.id ?? 0;
        } catch {
          return retry();
        }
        const url = new URL(`/api/v1/events/stream?after=${after}`, target.url);
        const transport = url.protocol === "https:" ? https : http;
        req = transport.get(
          url,
          {
            ...(target.caPem ? { ca: target.caPem } : {}),
            headers: {
              accept: "text/event-stream",
              ...(target.token ? { authorization: `Bearer ${target.token}` } : {}),
            },
          },
          (res) => {
            if (res.statusCode !== 200) {
              res.resume();
              return retry();
            }
            delay = 250;
            onLink("live");
            // Back after a gap: whatever changed meanwhile is covered by one refetch.
            if (connectedOnce) onChange(null);
            connectedOnce = true;
            res.setEncoding("utf8");
            let buffer = "";
            res.on("data", (chunk: string) => {
              buffer += chunk;
              let end = buffer.indexOf("\n\n");
              while (end >= 0) {
                const block = buffer.slice(0, end);
                buffer = buffer.slice(end + 2);
                handle(block);
                end = buffer.indexOf("\n\n");
              }
            });
            res.on("end", retry);
            res.on("error", () => undefined);
          },
        );
        req.on("error", retry);
      };
      const handle = (block: string) => {
        let event = "message";
        let data = "";
        let id: number | undefined;
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
          else if (line.startsWith("id: ")) id = Number(line.slice(4));
        }
        if (!data) return; // comments and keep-alives
        if (event === "shutdown") return;
        if (event === "missed") return onChange(null);
        if (id !== undefined && Number.isFinite(id)) after = id;
        try {
          onChange(JSON.parse(data) as AuditEvent);
        } catch {
          onChange(null);
        }
      };
      onLink("connecting");
      void connect();
      return () => {
        stopped = true;
        clearTimeout(timer);
        req?.destroy();
        onLink("stopped");
      };
    },
  };
}

/** Local mode: the newest audit event in the state file, read every `everyMs`. */
export function pollFeed(engine: Engine, everyMs = 300): ChangeFeed {
  return {
    subscribe(onChange, onLink) {
      let stopped = false;
      let newest: number | undefined;
      let timer: NodeJS.Timeout | undefined;
      const tick = async () => {
        try {
          const [e] = await engine.list("event", { limit: 1 });
          const id = e?.id ?? 0;
          if (newest !== undefined && id !== newest) onChange(e ?? null);
          newest = id;
          onLink("polling" satisfies LinkState);
        } catch {
          onLink("reconnecting");
        }
        if (!stopped) timer = setTimeout(tick, everyMs);
      };
      void tick();
      return () => {
        stopped = true;
        clearTimeout(timer);
      };
    },
  };
}
