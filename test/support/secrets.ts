/**
 * Helpers for the secret tests: an in-process `lab server` over a temporary home, machines
 * enrolled through the real API (join token → CSR → certificate from Lab's CA), and each
 * machine's agent state dir written as `lab agent` leaves it, so `lab secret get` and the
 * agent's cache read real certificates.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import https from "node:https";
import { join } from "node:path";
import { LabService } from "@lab/core";
import type { MachineCredentials } from "@lab/secrets";
import { type RunningServer, startServer } from "@lab/server";
import { createCsr, generatePrivateKey } from "../../packages/agent/src/exports.js";

export interface TestServer {
  server: RunningServer;
  token: string;
  storeUrl: string;
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  apply(yaml: string): Promise<void>;
  setSecret(name: string, value: string): Promise<{ status: number; body: unknown }>;
  enrol(name: string, stateDir?: string): Promise<MachineCredentials & { serial: string }>;
}

export async function startTestServer(
  home: string,
  opts: { modulePath?: string[]; log?: string[]; gitUrl?: string } = {},
): Promise<TestServer> {
  const server = await startServer({
    home,
    host: "127.0.0.1",
    port: 0,
    tls: true,
    agent: { host: "127.0.0.1", port: 0 },
    secrets: { modulePath: opts.modulePath ?? [], env: {}, gitUrl: opts.gitUrl },
    log: (l) => opts.log?.push(l),
  });
  const token = readFileSync(server.adminTokenPath as string, "utf8").trim();
  const ca = server.caPem as string;
  const api = <T>(method: string, path: string, body?: unknown) =>
    new Promise<{ status: number; body: T }>((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = https.request(
        new URL(path, server.url),
        {
          method,
          ca,
          headers: {
            authorization: `Bearer ${token}`,
            ...(data ? { "content-type": "application/json" } : {}),
          },
        },
        (res) => {
          let text = "";
          res.on("data", (c) => {
            text += c;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
        },
      );
      req.on("error", reject);
      req.end(data);
    });
  return {
    server,
    token,
    storeUrl: `https://127.0.0.1:${server.agentPort}`,
    api,
    apply: async (yaml) => {
      await new LabService(server.store, "test").apply({ files: [{ path: "fleet.yaml", text: yaml }] });
    },
    setSecret: (name, value) =>
      api("PUT", `/api/v1/secret-store/value?name=${encodeURIComponent(name)}`, {
        value: Buffer.from(value).toString("base64"),
      }),
    enrol: async (name, stateDir) => {
      const jt = await api<{ token: string }>("POST", "/api/v1/join-tokens", { name });
      const keyPem = generatePrivateKey();
      const csr = await createCsr(name, keyPem);
      const res = await api<{
        certificate: string;
        caCertificate: string;
        serial: string;
        channelUrl: string;
      }>("POST", "/api/v1/agent/enrol", { token: jt.body.token, csr });
      if (res.status !== 200) throw new Error(`enrol ${name}: ${res.status} ${JSON.stringify(res.body)}`);
      const creds = {
        keyPem,
        certPem: res.body.certificate,
        caPem: res.body.caCertificate,
        serial: res.body.serial,
      };
      if (stateDir) {
        mkdirSync(stateDir, { recursive: true, mode: 0o700 });
        writeFileSync(join(stateDir, "key.pem"), keyPem, { mode: 0o600 });
        writeFileSync(join(stateDir, "cert.pem"), creds.certPem);
        writeFileSync(join(stateDir, "ca.pem"), creds.caPem);
        const now = new Date().toISOString();
        writeFileSync(
          join(stateDir, "agent.json"),
          JSON.stringify({
            name,
            server: server.url,
            channelUrl: res.body.channelUrl,
            serial: res.body.serial,
            notAfter: now,
            renewAfter: now,
            maxOfflineDays: 90,
            enrolledAt: now,
          }),
        );
      }
      return creds;
    },
  };
}
