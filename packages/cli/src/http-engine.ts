/**
 * Client mode: the `Engine` interface over the server's REST API. The CLI formats the same
 * data either way, so local and client mode print the same bytes.
 */
import http from "node:http";
import https from "node:https";
import {
  type ApplyRequest,
  type ApplyResult,
  type Backend,
  CATALOGUE,
  type ChangeSummary,
  type Diagnostic,
  type EncNode,
  type Engine,
  type Kind,
  type LabCode,
  LabError,
  type ListKind,
  type ListOptions,
  type ListResultMap,
  type RenderNote,
  type RenderResult,
  type Resolution,
  SECTION,
  type ServerDescription,
  type ShowKind,
  type ShowResultMap,
} from "@lab/core";

export interface ServerTarget {
  url: string;
  token?: string;
  /** PEM of the CA that signed the server's certificate. */
  caPem?: string;
}

const TLS_TRUST_ERRORS = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);
const NETWORK_ERRORS = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
  "ECONNRESET",
  "EAI_AGAIN",
]);

export class HttpClient {
  readonly base: URL;
  private readonly agent: http.Agent;

  constructor(readonly target: ServerTarget) {
    this.base = new URL(target.url);
    this.agent =
      this.base.protocol === "https:"
        ? new https.Agent({ keepAlive: true, ...(target.caPem ? { ca: target.caPem } : {}) })
        : new http.Agent({ keepAlive: true });
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = new URL(path, this.base);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const transport = url.protocol === "https:" ? https : http;
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = transport.request(
        url,
        {
          method,
          agent: this.agent,
          timeout: requestTimeoutMs(),
          headers: {
            accept: "application/json",
            ...(payload !== undefined
              ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }
              : {}),
            ...(this.target.token ? { authorization: `Bearer ${this.target.token}` } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
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
      throw this.transportError(e);
    });
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      throw new LabError(
        "LAB_E_INTERNAL",
        `${this.target.url} answered ${status} with something that is not JSON`,
      );
    }
    if (status >= 400) throw fromErrorBody(status, parsed);
    return parsed as T;
  }

  close(): void {
    this.agent.destroy();
  }

  private transportError(e: unknown): LabError {
    const code = (e as { code?: string }).code ?? "";
    if (TLS_TRUST_ERRORS.has(code)) {
      return new LabError(
        "LAB_E_TLS_UNTRUSTED",
        `the certificate of ${this.target.url} is not trusted (${code}): ${CATALOGUE.LAB_E_TLS_UNTRUSTED.hint}` +
          " — the server keeps it in LAB_HOME/server/ca.crt",
      );
    }
    if (NETWORK_ERRORS.has(code)) {
      return new LabError("LAB_E_UNREACHABLE", `cannot reach the Lab server at ${this.target.url} (${code})`);
    }
    return new LabError("LAB_E_UNREACHABLE", `request to ${this.target.url} failed: ${(e as Error).message}`);
  }
}

function fromErrorBody(status: number, body: unknown): LabError {
  const err = (body as { error?: { code?: string; message?: string; diagnostics?: Diagnostic[] } })?.error;
  if (err?.code && err.code in CATALOGUE) {
    return new LabError(err.code as LabCode, err.message ?? "", err.diagnostics ?? []);
  }
  return new LabError(
    status === 401 ? "LAB_E_UNAUTHENTICATED" : "LAB_E_INTERNAL",
    `server answered ${status}`,
  );
}

export class HttpEngine implements Engine {
  constructor(private readonly http: HttpClient) {}

  apply(req: ApplyRequest): Promise<ApplyResult> {
    return this.http.request("POST", "/api/v1/apply", req);
  }

  list<K extends ListKind>(kind: K, opts: ListOptions = {}): Promise<ListResultMap[K][]> {
    if (kind === "event") {
      return this.http.request("GET", `/api/v1/events${query({ limit: opts.limit })}`);
    }
    const f = opts.filter ?? {};
    const q = query({
      label: f.labels?.join(","),
      group: f.groups?.join(","),
      environment: f.environments?.join(","),
      region: f.regions?.join(","),
      exclude: f.exclude?.join(","),
      wide: opts.wide ? "true" : undefined,
    });
    return this.http.request("GET", `/api/v1/${SECTION[kind as Kind]}${q}`);
  }

  show<K extends ShowKind>(kind: K, name: string): Promise<ShowResultMap[K]> {
    return this.http.request("GET", `/api/v1/${SECTION[kind]}/${encodeURIComponent(name)}`);
  }

  targets(server: string): Promise<Resolution> {
    return this.http.request("GET", `/api/v1/servers/${encodeURIComponent(server)}/targets`);
  }

  describe(server: string): Promise<ServerDescription> {
    return this.http.request("GET", `/api/v1/servers/${encodeURIComponent(server)}/describe`);
  }

  delete(kind: Kind, name: string): Promise<ChangeSummary> {
    return this.http.request("DELETE", `/api/v1/${SECTION[kind]}/${encodeURIComponent(name)}`);
  }

  render(backend: Backend, baseDir?: string): Promise<RenderResult> {
    return this.http.request("GET", `/api/v1/render/${backend}${query({ baseDir })}`);
  }

  noteRendered(note: RenderNote): Promise<void> {
    return this.http.request("POST", `/api/v1/render/${note.backend}/notes`, note);
  }

  names(kind: Kind): Promise<string[]> {
    return this.http.request("GET", `/api/v1/names/${SECTION[kind]}`);
  }

  enc(certname: string): Promise<EncNode> {
    return this.http.request("GET", `/api/v1/puppet/enc/${encodeURIComponent(certname)}`);
  }
}

function query(params: Record<string, string | number | undefined>): string {
  const entries = Object.entries(params).filter(([, v]) => v !== undefined && v !== "");
  return entries.length ? `?${new URLSearchParams(entries.map(([k, v]) => [k, String(v)])).toString()}` : "";
}

/**
 * How long a request may go without a byte from the server: 30 s, or LAB_HTTP_TIMEOUT_MS (a
 * slow link, or a small machine busy emulating VMs — the end-to-end tests set it).
 */
function requestTimeoutMs(): number {
  const ms = Number(process.env.LAB_HTTP_TIMEOUT_MS);
  return Number.isInteger(ms) && ms > 0 ? ms : 30_000;
}
