/**
 * The dashboard's only way to the server: the REST API under /api/v1 with the user's API
 * token (kept in this browser's localStorage), and the SSE event stream read with fetch, so
 * the token travels in the Authorization header and never in a URL.
 */

const TOKEN_KEY = "lab.token";

export function savedToken(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function saveToken(token: string | null): void {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

/** An error answered by the API: its stable code, HTTP status and the message that says what to do. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const headers: Record<string, string> = {};
  const token = savedToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (init.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`/api/v1${path}`, {
    method: init.method ?? "GET",
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  const body = text ? JSON.parse(text) : null;
  if (!res.ok) {
    const e = body?.error ?? {};
    throw new ApiError(res.status, e.code ?? `HTTP_${res.status}`, e.message ?? res.statusText, e.hint);
  }
  return body as T;
}

export interface Principal {
  tokenId: string;
  name: string;
  scopes: ("read" | "write" | "admin")[];
}

export const canWrite = (p: Principal | null): boolean =>
  Boolean(p?.scopes.some((s) => s === "write" || s === "admin"));

export const isAdmin = (p: Principal | null): boolean => Boolean(p?.scopes.includes("admin"));

/**
 * POSTs `body` and hands each line of an NDJSON answer to `onLine` as it arrives (agent exec).
 * An error answered before the stream starts is thrown as an ApiError with its code.
 */
export async function streamLines(
  path: string,
  body: unknown,
  onLine: (line: string) => void,
): Promise<void> {
  const token = savedToken();
  const res = await fetch(`/api/v1${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  if (!res.ok || !res.body) {
    const e = (await res.json().catch(() => ({})))?.error ?? {};
    throw new ApiError(res.status, e.code ?? `HTTP_${res.status}`, e.message ?? res.statusText, e.hint);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let nl = buffer.indexOf("\n");
    while (nl >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.trim()) onLine(line);
      nl = buffer.indexOf("\n");
    }
  }
  if (buffer.trim()) onLine(buffer);
}

export interface StreamMessage {
  /** The SSE event name: an audit action (`apply`, `health`…), `missed` or `shutdown`. */
  event: string;
  id: number | null;
  data: unknown;
}

/**
 * Reads one SSE response until it ends or `signal` aborts; resolves when the stream closes.
 * `after` resumes from an event id, so a reconnect neither repeats nor skips.
 */
export async function readStream(
  path: string,
  onMessage: (m: StreamMessage) => void,
  signal: AbortSignal,
  onOpen: () => void = () => undefined,
): Promise<void> {
  const token = savedToken();
  const res = await fetch(`/api/v1${path}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    signal,
  });
  if (!res.ok || !res.body) {
    const body = await res.json().catch(() => ({}));
    throw new ApiError(res.status, body?.error?.code ?? `HTTP_${res.status}`, body?.error?.message ?? "");
  }
  onOpen();
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const m = parseFrame(frame);
      if (m) onMessage(m);
      end = buffer.indexOf("\n\n");
    }
  }
}

/** One SSE frame (`id:`, `event:`, `data:` lines; `:` comments ignored). */
export function parseFrame(frame: string): StreamMessage | null {
  let event = "message";
  let id: number | null = null;
  const data: string[] = [];
  for (const line of frame.split("\n")) {
    if (line.startsWith(":") || line === "") continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "id") id = Number(value);
    else if (field === "data") data.push(value);
  }
  if (data.length === 0) return null;
  const text = data.join("\n");
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // a plain-text data line stays a string
  }
  return { event, id, data: parsed };
}
