/**
 * A Redfish service for tests: Debian packages no Redfish simulator (the DMTF's
 * Redfish-Mockup-Server and sushy-tools are not in the archive), so this serves the DMTF's
 * public `public-rackmount1` mockup JSON (test/fixtures/redfish) and implements what the
 * mockup server does for writes: ComputerSystem.Reset changes PowerState, and a PATCH of Boot
 * changes the override. Basic authentication is checked; a wrong password is 401.
 * It is a stand-in for a BMC (no BMC runs here), named as such.
 *
 * `{tls: true}` serves it over HTTPS with a self-signed certificate made by openssl for
 * 127.0.0.1 (as BMCs ship): its PEM and SHA-256 fingerprint are returned for the driver's
 * ca_file / fingerprint options.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type RequestListener, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const FIXTURES = join(import.meta.dirname, "../fixtures/redfish/public-rackmount1");

type Json = Record<string, unknown>;

export interface RedfishMockup {
  url: string;
  user: string;
  password: string;
  systemPath: string;
  /** The ComputerSystem resource as the service holds it now. */
  system: Json;
  /** Power-ons and restarts so far. */
  starts: number;
  /** Every request, as `METHOD path`. */
  requests: string[];
  /** With tls: the self-signed certificate (PEM, a file holding it, its SHA-256 fingerprint). */
  cert?: { pem: string; file: string; fingerprint: string };
  close(): Promise<void>;
}

function read(path: string): Json {
  return JSON.parse(readFileSync(join(FIXTURES, path, "index.json"), "utf8")) as Json;
}

function body(req: IncomingMessage): Promise<Json> {
  return new Promise((resolve, reject) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (c) => {
      text += c;
    });
    req.on("end", () => {
      try {
        resolve(text ? (JSON.parse(text) as Json) : {});
      } catch (e) {
        reject(e);
      }
    });
  });
}

/** A self-signed certificate for 127.0.0.1 (openssl), as a BMC ships one. */
function selfSigned(dir: string): { key: string; pem: string; file: string; fingerprint: string } {
  const key = join(dir, "bmc.key");
  const file = join(dir, "bmc.crt");
  try {
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"]
        .concat(["-subj", "/CN=bmc.lab.test", "-addext", "subjectAltName=IP:127.0.0.1"])
        .concat(["-keyout", key, "-out", file]),
      { stdio: "pipe" },
    );
  } catch (e) {
    throw new Error(
      `openssl could not make the mockup's certificate (apt-get install -y openssl): ${(e as Error).message}`,
    );
  }
  const out = execFileSync("openssl", ["x509", "-noout", "-fingerprint", "-sha256", "-in", file], {
    encoding: "utf8",
  });
  return {
    key: readFileSync(key, "utf8"),
    pem: readFileSync(file, "utf8"),
    file,
    fingerprint: out.trim().split("=")[1] as string,
  };
}

export async function startRedfishMockup(
  opts: { user?: string; password?: string; tls?: boolean } = {},
): Promise<RedfishMockup> {
  const user = opts.user ?? "root";
  const password = opts.password ?? "calvin";
  const resources = new Map<string, Json>([
    ["/redfish/v1", read("")],
    ["/redfish/v1/Systems", read("Systems")],
    ["/redfish/v1/Systems/437XR1138R2", read("Systems/437XR1138R2")],
  ]);
  const systemPath = "/redfish/v1/Systems/437XR1138R2";
  const system = resources.get(systemPath) as Json;
  const allowedResets = ((system.Actions as Json)["#ComputerSystem.Reset"] as Json)[
    "ResetType@Redfish.AllowableValues"
  ] as string[];
  const state = { starts: 0 };
  const requests: string[] = [];

  const handler: RequestListener = async (req, res) => {
    const path = (req.url ?? "/").split("?")[0]?.replace(/\/$/, "") ?? "";
    requests.push(`${req.method} ${path}`);
    const send = (status: number, json?: Json) => {
      res.writeHead(status, { "content-type": "application/json", "odata-version": "4.0" });
      res.end(json ? JSON.stringify(json) : "");
    };
    const error = (status: number, message: string) =>
      send(status, { error: { code: "Base.1.0.GeneralError", message } });
    const expected = `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
    if (path !== "/redfish/v1" && req.headers.authorization !== expected)
      return error(401, "authentication required");
    try {
      if (req.method === "GET") {
        const r = resources.get(path);
        return r ? send(200, r) : error(404, `${path} is not in this mockup`);
      }
      if (req.method === "POST" && path === `${systemPath}/Actions/ComputerSystem.Reset`) {
        const type = String((await body(req)).ResetType ?? "");
        if (!allowedResets.includes(type)) return error(400, `ResetType ${type} is not allowed`);
        const wasOn = system.PowerState === "On";
        if (type === "ForceOff" || type === "GracefulShutdown") system.PowerState = "Off";
        else if (type === "On" || type === "ForceOn" || (type === "PushPowerButton" && !wasOn)) {
          if (!wasOn) state.starts++;
          system.PowerState = "On";
        } else if (type === "PushPowerButton") system.PowerState = "Off";
        else if (type === "ForceRestart" || type === "GracefulRestart" || type === "PowerCycle") {
          state.starts++;
          system.PowerState = "On";
        }
        return send(204);
      }
      if (req.method === "PATCH" && path === systemPath) {
        const patch = await body(req);
        const boot = patch.Boot as Json | undefined;
        const allowed = (system.Boot as Json)["BootSourceOverrideTarget@Redfish.AllowableValues"] as string[];
        if (boot?.BootSourceOverrideTarget && !allowed.includes(String(boot.BootSourceOverrideTarget))) {
          return error(
            400,
            `BootSourceOverrideTarget ${String(boot.BootSourceOverrideTarget)} is not allowed`,
          );
        }
        system.Boot = { ...(system.Boot as Json), ...(boot ?? {}) };
        return send(204);
      }
      return error(405, `${req.method} ${path} is not supported by this mockup`);
    } catch (e) {
      return error(400, (e as Error).message);
    }
  };
  const dir = opts.tls ? mkdtempSync(join(tmpdir(), "lab-redfish-tls-")) : undefined;
  const cert = dir ? selfSigned(dir) : undefined;
  const server: Server = cert
    ? createHttpsServer({ key: cert.key, cert: cert.pem }, handler)
    : createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${cert ? "https" : "http"}://127.0.0.1:${port}`,
    ...(cert ? { cert: { pem: cert.pem, file: cert.file, fingerprint: cert.fingerprint } } : {}),
    user,
    password,
    systemPath,
    system,
    get starts() {
      return state.starts;
    },
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        if (dir) rmSync(dir, { recursive: true, force: true });
      }),
  };
}
