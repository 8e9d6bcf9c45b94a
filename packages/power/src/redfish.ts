/**
 * Redfish (DMTF DSP0266): a ComputerSystem's PowerState, its Reset action and the
 * Boot.BootSourceOverride* properties, over HTTPS with Basic authentication. BMCs ship
 * self-signed certificates: trust the BMC's CA (`caFile`), pin its certificate's SHA-256
 * fingerprint (`fingerprint`, what `openssl x509 -fingerprint -sha256` prints), or opt out
 * of verification (`insecureSkipVerify`, named so). A certificate Lab cannot verify is
 * LAB_E_POWER_TLS, never a silent downgrade.
 */
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import { LabError } from "@lab/core";
import {
  type BootDevice,
  type PowerCapabilities,
  type PowerDriver,
  type PowerStatus,
  until,
} from "./driver.js";

export interface RedfishOptions {
  /** The service's base, `https://bmc.example` (the driver appends /redfish/v1). */
  url: string;
  user: string;
  password: string;
  /** The system's @odata.id; default: the only (first) member of /redfish/v1/Systems. */
  system?: string;
  caFile?: string;
  /** The BMC certificate's SHA-256 fingerprint (hex, colons optional): pinned instead of a CA. */
  fingerprint?: string;
  /** Skip certificate verification entirely (anyone on the path can read the password). */
  insecureSkipVerify?: boolean;
  timeoutMs?: number;
}

/** "AB:CD:…" or "abcd…" → "AB:CD:…" (Node's PeerCertificate.fingerprint256 form). */
export function normaliseFingerprint(text: string): string {
  const hex = text.replace(/[:\s]/g, "").toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex))
    throw new LabError(
      "LAB_E_USAGE",
      `"${text}" is not a SHA-256 fingerprint (64 hex digits: openssl x509 -noout -fingerprint -sha256 -in bmc.crt)`,
    );
  return hex.match(/../g)?.join(":") as string;
}

const TLS_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_SIGNATURE_FAILURE",
]);

type Json = Record<string, unknown>;

const TARGET: Record<BootDevice, string> = { pxe: "Pxe", disk: "Hdd" };

export class RedfishDriver implements PowerDriver {
  readonly driver = "redfish";
  private systemPath: string | undefined;
  private readonly ca: Buffer | undefined;
  private readonly pin: string | undefined;

  constructor(private readonly opts: RedfishOptions) {
    this.systemPath = opts.system;
    this.ca = opts.caFile ? readFileSync(opts.caFile) : undefined;
    this.pin = opts.fingerprint ? normaliseFingerprint(opts.fingerprint) : undefined;
  }

  /**
   * A pinned fingerprint is checked on a connection Lab opened itself, before anything (the
   * password) is sent on it; the request then goes over that same connection. Chain and name
   * checks are replaced by the pin: a BMC's self-signed certificate rarely names the address
   * Lab uses, and the fingerprint identifies exactly one certificate.
   */
  private pinnedSocket(url: URL, pin: string): Promise<TLSSocket> {
    const timeoutMs = this.opts.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const s = tlsConnect({
        host: url.hostname,
        port: Number(url.port || 443),
        ...(isIP(url.hostname) ? {} : { servername: url.hostname }),
        rejectUnauthorized: false,
      });
      s.setTimeout(timeoutMs, () => s.destroy(new Error(`no TLS handshake in ${timeoutMs} ms`)));
      s.once("secureConnect", () => {
        s.setTimeout(0);
        const seen = s.getPeerCertificate().fingerprint256;
        if (seen === pin) return resolve(s);
        s.destroy();
        reject(
          new LabError(
            "LAB_E_POWER_TLS",
            `Redfish at ${url.origin}: its certificate's fingerprint ${seen} is not the pinned ${pin} (a different BMC, or a new certificate: check it and update fingerprint)`,
          ),
        );
      });
      s.once("error", (e) =>
        reject(new LabError("LAB_E_POWER_UNREACHABLE", `Redfish at ${url.origin}: ${e.message}`)),
      );
    });
  }

  capabilities(): PowerCapabilities {
    return { status: true, on: true, off: true, cycle: true, nextBoot: ["pxe", "disk"] };
  }

  private async call(method: string, path: string, body?: Json): Promise<{ status: number; json: Json }> {
    const url = new URL(path, this.opts.url);
    const payload = body ? JSON.stringify(body) : undefined;
    const auth = Buffer.from(`${this.opts.user}:${this.opts.password}`).toString("base64");
    const https = url.protocol === "https:";
    const request = https ? httpsRequest : httpRequest;
    const pinned = https && this.pin ? await this.pinnedSocket(url, this.pin) : undefined;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          headers: {
            authorization: `Basic ${auth}`,
            accept: "application/json",
            "odata-version": "4.0",
            ...(payload
              ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }
              : {}),
          },
          timeout: this.opts.timeoutMs ?? 10_000,
          ...(pinned
            ? { createConnection: () => pinned }
            : https
              ? { ca: this.ca, rejectUnauthorized: !this.opts.insecureSkipVerify }
              : {}),
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (c) => {
            text += c;
          });
          res.on("end", () => {
            let json: Json = {};
            try {
              json = text ? (JSON.parse(text) as Json) : {};
            } catch {
              // A BMC's HTML error page: keep the status, say so below.
            }
            resolve({ status: res.statusCode ?? 0, json });
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer in ${this.opts.timeoutMs ?? 10_000} ms`)));
      req.on("error", (e) => {
        const code = (e as NodeJS.ErrnoException).code ?? "";
        if (TLS_CODES.has(code))
          return reject(
            new LabError(
              "LAB_E_POWER_TLS",
              `Redfish at ${url.origin}: ${e.message} — give the BMC's CA (ca_file) or pin its certificate (fingerprint)`,
            ),
          );
        reject(new LabError("LAB_E_POWER_UNREACHABLE", `Redfish at ${url.origin}: ${e.message}`));
      });
      req.end(payload);
    });
  }

  private async ok(method: string, path: string, body?: Json): Promise<Json> {
    const r = await this.call(method, path, body);
    if (r.status === 401 || r.status === 403) {
      throw new LabError(
        "LAB_E_POWER_AUTH",
        `Redfish at ${this.opts.url} refused user "${this.opts.user}" (${r.status})`,
      );
    }
    if (r.status < 200 || r.status >= 300) {
      const err = r.json.error as { message?: string } | undefined;
      throw new LabError(
        "LAB_E_POWER_REFUSED",
        `Redfish ${method} ${path}: HTTP ${r.status}${err?.message ? `: ${err.message}` : ""}`,
      );
    }
    return r.json;
  }

  private async system(): Promise<{ path: string; body: Json }> {
    if (!this.systemPath) {
      const systems = await this.ok("GET", "/redfish/v1/Systems");
      const first = (systems.Members as { "@odata.id": string }[] | undefined)?.[0]?.["@odata.id"];
      if (!first) throw new LabError("LAB_E_POWER_REFUSED", `Redfish at ${this.opts.url} lists no systems`);
      this.systemPath = first;
    }
    return { path: this.systemPath, body: await this.ok("GET", this.systemPath) };
  }

  async status(): Promise<PowerStatus> {
    const { body } = await this.system();
    const power = String(body.PowerState ?? "");
    const boot = (body.Boot ?? {}) as Json;
    const target = String(boot.BootSourceOverrideTarget ?? "None");
    const enabled = String(boot.BootSourceOverrideEnabled ?? "Disabled");
    return {
      // PoweringOn/PoweringOff are transitions: report where it is heading only once it is there.
      state: power === "On" ? "on" : power === "Off" ? "off" : "unknown",
      detail: `PowerState: ${power || "absent"}`,
      nextBoot:
        enabled === "Disabled" ? "none" : target === "Pxe" ? "pxe" : target === "Hdd" ? "disk" : "none",
    };
  }

  private async reset(prefer: string[]): Promise<void> {
    const { path, body } = await this.system();
    const action = ((body.Actions ?? {}) as Json)["#ComputerSystem.Reset"] as Json | undefined;
    const target = String(action?.target ?? `${path}/Actions/ComputerSystem.Reset`);
    const allowed = action?.["ResetType@Redfish.AllowableValues"] as string[] | undefined;
    const type = allowed ? prefer.find((t) => allowed.includes(t)) : prefer[0];
    if (!type) {
      throw new LabError(
        "LAB_E_POWER_UNSUPPORTED",
        `Redfish system ${path} allows ResetType ${allowed?.join(", ")}, none of ${prefer.join(", ")}`,
      );
    }
    await this.ok("POST", target, { ResetType: type });
  }

  async on(): Promise<void> {
    await this.reset(["On", "ForceOn"]);
  }

  async off(): Promise<void> {
    await this.reset(["ForceOff"]);
  }

  async cycle(): Promise<void> {
    if ((await this.status()).state === "off") return this.on();
    await this.reset(["PowerCycle", "ForceRestart"]);
    if (!(await until(async () => (await this.status()).state === "on", 30_000, 500))) {
      throw new LabError(
        "LAB_E_POWER_TIMEOUT",
        `Redfish system at ${this.opts.url}: not on 30 s after a restart`,
      );
    }
  }

  async setNextBoot(device: BootDevice): Promise<void> {
    const { path } = await this.system();
    await this.ok("PATCH", path, {
      Boot: { BootSourceOverrideTarget: TARGET[device], BootSourceOverrideEnabled: "Once" },
    });
  }

  async close(): Promise<void> {}
}
