/**
 * A machine's side of a fetch: HTTPS with its enrolled certificate to each store in turn
 * (replicas), trusting only Lab's CA. A store that refuses (403, 404) is an answer; a store
 * that cannot be reached is skipped for the next one.
 */
import https from "node:https";
import { type LabCode, LabError } from "@lab/core";
import { type EntitledSecret, type FetchedSecret, SECRETS_PATH } from "./store-service.js";

export interface MachineCredentials {
  keyPem: string;
  certPem: string;
  caPem: string;
}

export interface Answer<T> {
  store: string;
  body: T;
}

/** The store base URL from the agent channel's (`wss://host:7444/agent/v1` → `https://host:7444`). */
export function storeUrlFromChannel(channelUrl: string): string {
  const u = new URL(channelUrl);
  return `https://${u.host}`;
}

export class StoreClient {
  constructor(
    private readonly stores: string[],
    private readonly creds: MachineCredentials,
    private readonly timeoutMs = 5_000,
  ) {}

  async entitled(): Promise<Answer<{ machine: string; store: string | null; secrets: EntitledSecret[] }>> {
    return this.get(SECRETS_PATH);
  }

  /** One value; `version`: a replaced one, while its grace period lasts. */
  async value(name: string, version?: number): Promise<Answer<FetchedSecret & { machine: string }>> {
    return this.get(
      `${SECRETS_PATH}/values/${encodeURIComponent(name)}${version ? `?version=${version}` : ""}`,
    );
  }

  private async get<T>(path: string): Promise<Answer<T>> {
    const failures: string[] = [];
    for (const store of this.stores) {
      try {
        return { store, body: await this.once<T>(store, path) };
      } catch (e) {
        if (e instanceof LabError && e.code !== "LAB_E_SECRET_STORE_UNREACHABLE") throw e;
        failures.push(`${store}: ${(e as Error).message}`);
      }
    }
    throw new LabError(
      "LAB_E_SECRET_STORE_UNREACHABLE",
      `no secret store answered (${failures.join("; ") || "none configured"})`,
    );
  }

  private once<T>(store: string, path: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const req = https.request(
        new URL(path, store),
        {
          method: "GET",
          key: this.creds.keyPem,
          cert: this.creds.certPem,
          ca: this.creds.caPem,
          timeout: this.timeoutMs,
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let body: unknown;
            try {
              body = JSON.parse(text);
            } catch {
              // The channel answers 426 in plain text to anything it does not serve.
              return reject(unreachable(`HTTP ${res.statusCode} without a store reply`));
            }
            if (res.statusCode === 200) return resolve(body as T);
            const err = (body as { error?: { code?: string; message?: string } }).error;
            reject(
              new LabError(
                (err?.code ?? "LAB_E_INTERNAL") as LabCode,
                err?.message ?? `HTTP ${res.statusCode}`,
              ),
            );
          });
          res.on("error", (e) => reject(unreachable(e.message)));
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on("error", (e) => reject(unreachable((e as NodeJS.ErrnoException).code ?? e.message)));
      req.end();
    });
  }
}

function unreachable(why: string): LabError {
  return new LabError("LAB_E_SECRET_STORE_UNREACHABLE", why);
}
