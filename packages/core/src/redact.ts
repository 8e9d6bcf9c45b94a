/**
 * Credentials never leave Lab in what it prints, logs, stores as events or streams: every
 * token shape Lab mints is masked where text is recorded (boot timelines, install logs, server
 * log lines), so no view downstream has to remember to. What identifies a request stays (the
 * MAC in a URL, an API token's public id); only the secret part goes.
 */

export const REDACTED = "***";

const PATTERNS: [RegExp, string][] = [
  // The per-machine install token in boot file URLs: /pxe/v1/machines/MAC/TOKEN/file.
  [/(\/pxe\/v1\/machines\/[^/\s]+\/)[^/\s?#"']+/g, `$1${REDACTED}`],
  // On kernel command lines, in query strings and in headers.
  [/\blab\.token=[^\s"']+/g, `lab.token=${REDACTED}`],
  [/([?&]token=)[^&\s"'#]+/g, `$1${REDACTED}`],
  [/(x-lab-install-token:\s*)[^\s"']+/gi, `$1${REDACTED}`],
  // One-time join tokens and API tokens (the API token keeps its public id).
  [/\blabj_[A-Za-z0-9_-]{8,}/g, `labj_${REDACTED}`],
  [/\b(lab_[0-9a-f]{8}_)[A-Za-z0-9_-]{8,}/g, `$1${REDACTED}`],
];

/** `text` with every Lab credential in it masked. */
export function redact(text: string): string {
  // Most lines carry none: skip the regular expressions unless a marker is present.
  if (!/token|labj_|lab_|\/pxe\/v1\/machines\//i.test(text)) return text;
  let out = text;
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/** A JSON-like value with `redact` applied to every string in it (keys included). */
export function redactDeep<T>(value: T): T {
  if (typeof value === "string") return redact(value) as T;
  if (Array.isArray(value)) return value.map(redactDeep) as T;
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [redact(k), redactDeep(v)])) as T;
  }
  return value;
}
