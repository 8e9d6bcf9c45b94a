/**
 * A RECORDED Kubernetes API server: no API server runs here, so tests replay API responses
 * (test/fixtures/kube/*.json, in the exact shape the Kubernetes API returns them) from a local
 * HTTPS server with its own CA. It is a script, not a mock that says yes: each request must be
 * the next one expected — method, path with query, bearer token and the body's shape — or it is
 * answered 500 and recorded as a mismatch the test fails on.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { issueServerCert, loadOrCreateCa } from "@lab/identity";
import { ROOT } from "./cli.js";

export interface Exchange {
  /** What the step is, for messages. */
  name: string;
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Path and query as sent (query parameters compared as a set). */
  path: string;
  /** Throws (e.g. an expect) when the body does not have the shape the step needs. */
  body?: (body: Record<string, unknown>) => void;
  status: number;
  /** A fixture file under test/fixtures/kube/ (recorded), or a literal object. */
  reply: string | Record<string, unknown>;
}

export interface RecordedApi {
  url: string;
  /** A kubeconfig for this server: its CA, a bearer token, current-context `name`. */
  kubeconfig(name: string, token?: string): string;
  /** Queue the next exchanges; each is used once, in order. */
  expect(...steps: Exchange[]): void;
  /** Steps not yet requested. */
  pending(): string[];
  /** Requests that were not the next step (method/path/token/body), with why. */
  mismatches: string[];
  /** Every request received, `METHOD path`. */
  received: string[];
  close(): Promise<void>;
}

export const TOKEN = "recorded-token-h17";

export function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(ROOT, "test/fixtures/kube", name), "utf8"));
}

function samePath(a: string, b: string): boolean {
  const ua = new URL(a, "https://x");
  const ub = new URL(b, "https://x");
  if (ua.pathname !== ub.pathname) return false;
  const qa = [...ua.searchParams.entries()].map((e) => e.join("=")).sort();
  const qb = [...ub.searchParams.entries()].map((e) => e.join("=")).sort();
  return qa.join("&") === qb.join("&");
}

export async function startRecordedApi(port: number): Promise<RecordedApi> {
  const ca = await loadOrCreateCa(mkdtempSync(join(tmpdir(), "lab-h17-kube-ca-")), "recorded kube CA");
  const cert = await issueServerCert(ca, ["127.0.0.1"]);
  const queue: Exchange[] = [];
  const mismatches: string[] = [];
  const received: string[] = [];
  const server: Server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    let raw = "";
    req.on("data", (c) => {
      raw += String(c);
    });
    req.on("end", () => {
      const line = `${req.method} ${req.url}`;
      received.push(line);
      const next = queue[0];
      const refuse = (why: string) => {
        mismatches.push(`${line}: ${why}`);
        res.writeHead(500, { "content-type": "application/json" });
        res.end(
          JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", message: why, code: 500 }),
        );
      };
      if (!next) return refuse("no request was expected");
      if (req.method !== next.method || !samePath(req.url ?? "", next.path)) {
        return refuse(`expected ${next.method} ${next.path} (${next.name})`);
      }
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        return refuse(`${next.name}: Authorization was ${req.headers.authorization ?? "absent"}`);
      }
      let body: Record<string, unknown> = {};
      if (next.body) {
        try {
          body = JSON.parse(raw);
          next.body(body);
        } catch (e) {
          return refuse(`${next.name}: body ${(e as Error).message}`);
        }
      }
      queue.shift();
      const reply = typeof next.reply === "string" ? fixture(next.reply) : next.reply;
      res.writeHead(next.status, { "content-type": "application/json" });
      res.end(JSON.stringify(reply));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const url = `https://127.0.0.1:${port}`;
  return {
    url,
    kubeconfig: (name, token = TOKEN) =>
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [
          {
            name,
            cluster: {
              server: url,
              "certificate-authority-data": Buffer.from(ca.certPem).toString("base64"),
            },
          },
        ],
        users: [{ name: "lab", user: { token } }],
        contexts: [{ name, context: { cluster: name, user: "lab" } }],
        "current-context": name,
      }),
    expect: (...steps) => {
      queue.push(...steps);
    },
    pending: () => queue.map((s) => `${s.method} ${s.path} (${s.name})`),
    mismatches,
    received,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
