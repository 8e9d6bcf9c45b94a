/**
 * The agent's calls to the main API: enrol (authenticated by the join token), and the
 * challenge + renew pair (authenticated by proof of possession of the enrolled key). The
 * server is verified against Lab's CA; responses are checked against the shared schemas.
 */
import http from "node:http";
import https from "node:https";
import { CATALOGUE, type LabCode, LabError } from "@lab/core";
import {
  type CertificateResponse,
  type ChallengeResponse,
  certificateResponseSchema,
  challengeResponseSchema,
  type EnrolRequest,
  type EnrolResponse,
  enrolResponseSchema,
  type RenewRequest,
} from "@lab/identity";
import type { z } from "zod";

const TIMEOUT_MS = 30_000;
const MAX_RESPONSE = 1024 * 1024;

export class AgentApi {
  constructor(
    private readonly server: string,
    private readonly caPem: string | undefined,
  ) {}

  enrol(body: EnrolRequest): Promise<EnrolResponse> {
    return this.post("/api/v1/agent/enrol", body, enrolResponseSchema);
  }

  challenge(name: string): Promise<ChallengeResponse> {
    return this.post("/api/v1/agent/challenge", { name }, challengeResponseSchema);
  }

  renew(body: RenewRequest): Promise<CertificateResponse> {
    return this.post("/api/v1/agent/renew", body, certificateResponseSchema);
  }

  private async post<T extends z.ZodType>(path: string, body: unknown, schema: T): Promise<z.infer<T>> {
    const url = new URL(path, this.server);
    const payload = JSON.stringify(body);
    const transport = url.protocol === "https:" ? https : http;
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = transport.request(
        url,
        {
          method: "POST",
          timeout: TIMEOUT_MS,
          ...(this.caPem ? { ca: this.caPem } : {}),
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(payload),
            accept: "application/json",
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (c: Buffer) => {
            size += c.length;
            if (size > MAX_RESPONSE) req.destroy(new Error("response too large"));
            else chunks.push(c);
          });
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
          );
          res.on("error", reject);
        },
      );
      req.on("timeout", () =>
        req.destroy(Object.assign(new Error("request timed out"), { code: "ETIMEDOUT" })),
      );
      req.on("error", reject);
      req.end(payload);
    }).catch((e: unknown) => {
      const code = (e as { code?: string }).code ?? "";
      if (/CERT|SELF_SIGNED|UNABLE_TO/.test(code)) {
        throw new LabError(
          "LAB_E_TLS_UNTRUSTED",
          `the server ${this.server} is not trusted (${code}): pass its CA with --ca-file`,
        );
      }
      throw new LabError(
        "LAB_E_UNREACHABLE",
        `cannot reach ${this.server} (${code || (e as Error).message})`,
      );
    });
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      throw new LabError(
        "LAB_E_UNREACHABLE",
        `${this.server}${path} answered ${status} with something that is not JSON`,
      );
    }
    if (status >= 400) {
      const err = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      if (err?.code && err.code in CATALOGUE) throw new LabError(err.code as LabCode, err.message ?? "");
      throw new LabError(
        status >= 500 ? "LAB_E_UNREACHABLE" : "LAB_E_BAD_REQUEST",
        `${path} answered ${status}`,
      );
    }
    const r = schema.safeParse(parsed);
    if (!r.success) throw new LabError("LAB_E_UNREACHABLE", `${path} answered with an unexpected body`);
    return r.data;
  }
}
