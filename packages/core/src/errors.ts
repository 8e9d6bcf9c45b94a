/**
 * The one error catalogue. Every error Lab reports has a stable `LAB_E_…` code (warnings use
 * `LAB_W_…`), an HTTP status for the API and an exit code for the CLI. Classify by code, never
 * by message text.
 */

/** CLI exit codes: 0 ok, 1 error, 2 usage, 3 not found. */
export const EXIT = { ok: 0, error: 1, usage: 2, notFound: 3 } as const;

interface CodeInfo {
  http: number;
  exit: number;
  /** What the user should do about it; appended to messages that do not say it already. */
  hint: string;
}

export const CATALOGUE = {
  LAB_E_USAGE: { http: 400, exit: EXIT.usage, hint: "run the command with --help" },
  LAB_E_NOT_FOUND: { http: 404, exit: EXIT.notFound, hint: "list what exists with `lab get`" },
  LAB_E_FILE_NOT_FOUND: { http: 400, exit: EXIT.error, hint: "check the path given to -f" },
  LAB_E_NO_DOCUMENTS: {
    http: 400,
    exit: EXIT.error,
    hint: "point -f at .yaml/.yml files or a directory holding them",
  },
  LAB_E_INVALID: {
    http: 400,
    exit: EXIT.error,
    hint: "fix the errors listed, then apply again (nothing was written)",
  },
  LAB_E_YAML_SYNTAX: { http: 400, exit: EXIT.error, hint: "fix the YAML syntax at that place" },
  LAB_E_SCHEMA_TYPE: { http: 400, exit: EXIT.error, hint: "change the value to the type shown" },
  LAB_E_SCHEMA_UNKNOWN_KEY: {
    http: 400,
    exit: EXIT.error,
    hint: "remove the key or correct its spelling",
  },
  LAB_E_SCHEMA_REQUIRED: { http: 400, exit: EXIT.error, hint: "add the missing field" },
  LAB_E_SCHEMA_VALUE: { http: 400, exit: EXIT.error, hint: "use one of the allowed values" },
  LAB_E_DUPLICATE_NAME: {
    http: 400,
    exit: EXIT.error,
    hint: "rename one of them or remove the duplicate",
  },
  LAB_E_REF_LABEL: {
    http: 400,
    exit: EXIT.error,
    hint: "define the label under `labels:` (an empty `name: {}` is enough) or fix the name",
  },
  LAB_E_REF_GROUP: { http: 400, exit: EXIT.error, hint: "define the group or fix the name" },
  LAB_E_REF_SIZE: { http: 400, exit: EXIT.error, hint: "define the size under `sizes:`" },
  LAB_E_REF_SERVER: { http: 400, exit: EXIT.error, hint: "define the server or fix the name" },
  LAB_E_GROUP_CYCLE: {
    http: 400,
    exit: EXIT.error,
    hint: "break the cycle: a group cannot contain or exclude itself through other groups",
  },
  LAB_E_ALERT_CONDITION: {
    http: 400,
    exit: EXIT.error,
    hint: "write METRIC OP NUMBER with a metric from the vocabulary in docs/alerts.md",
  },
  LAB_E_STORE_CORRUPT: {
    http: 500,
    exit: EXIT.error,
    hint: "run `lab state check`, then `lab state restore FILE` from a backup",
  },
  LAB_E_STORE_LOCKED: {
    http: 503,
    exit: EXIT.error,
    hint: "another lab process holds the database: wait for it or stop it, then retry",
  },
  LAB_E_STORE_TOO_NEW: {
    http: 500,
    exit: EXIT.error,
    hint: "this state was written by a newer lab: upgrade lab",
  },
  LAB_E_STORE_IO: { http: 500, exit: EXIT.error, hint: "check the state directory's permissions" },
  LAB_E_CONFLICT: {
    http: 409,
    exit: EXIT.error,
    hint: "the object is still in use: remove the references first",
  },
  LAB_E_BAD_REQUEST: {
    http: 400,
    exit: EXIT.error,
    hint: "fix the request field named in the message (see /api/v1/openapi.json)",
  },
  LAB_E_BAD_JSON: { http: 400, exit: EXIT.error, hint: "send a valid JSON body" },
  LAB_E_TOO_LARGE: {
    http: 413,
    exit: EXIT.error,
    hint: "send less at once (split the files into several applies)",
  },
  LAB_E_UNAUTHENTICATED: {
    http: 401,
    exit: EXIT.error,
    hint: "log in with `lab login SERVER --token TOKEN` (tokens come from `lab token create`)",
  },
  LAB_E_FORBIDDEN: {
    http: 403,
    exit: EXIT.error,
    hint: "use a token with the needed scope (`lab token create --scope write` or `admin`)",
  },
  LAB_E_UNREACHABLE: {
    http: 503,
    exit: EXIT.error,
    hint: "check that `lab server` runs and the address is right, or `lab logout` to work locally",
  },
  LAB_E_TLS_UNTRUSTED: {
    http: 495,
    exit: EXIT.error,
    hint: "trust the server's CA: copy the ca.crt the server printed and run `lab login URL --ca-file ca.crt`",
  },
  LAB_E_NOT_READY: { http: 503, exit: EXIT.error, hint: "the server is starting or stopping: retry shortly" },
  LAB_E_INTERNAL: { http: 500, exit: EXIT.error, hint: "this is a bug in lab: please report it" },
  // ── provisioning (lifecycle, dispatch, images) ──
  // ── dhcp ──
  // ── tftp and boot files ──
  // ── install configs and syslog ──
  // ── ssh ca and dns ──
  // ── onboarding and hardware detection ──
  // ── agent, enrolment and join tokens ──
  LAB_W_TARGET_EMPTY: { http: 200, exit: EXIT.ok, hint: "check the target's names and values" },
  LAB_W_SIZE_CONFLICT: {
    http: 200,
    exit: EXIT.ok,
    hint: "set `size:` on the server to choose one explicitly",
  },
  LAB_W_ALERT_UNDEFINED: {
    http: 200,
    exit: EXIT.ok,
    hint: "define it under `alerts:` with a condition (a target is optional) or use a built-in name",
  },
  LAB_W_SECRET_UNDEFINED: {
    http: 200,
    exit: EXIT.ok,
    hint: "define the secret under `secrets:` so its type and rotation are known",
  },
} satisfies Record<string, CodeInfo>;

export type LabCode = keyof typeof CATALOGUE;

/** Where in the user's files something is. Lines and columns count from 1. */
export interface Location {
  file: string;
  line: number;
  column: number;
}

export function formatLocation(loc: Location | undefined): string {
  return loc ? `${loc.file}:${loc.line}:${loc.column}` : "";
}

/** A validation finding: an error blocks an apply, a warning does not. */
export interface Diagnostic {
  code: LabCode;
  severity: "error" | "warning";
  message: string;
  location?: Location;
  /** Other places involved (the first definition of a duplicate, …). */
  related?: Location[];
}

export function diagnostic(
  code: LabCode,
  message: string,
  location?: Location,
  related?: Location[],
): Diagnostic {
  const severity = code.startsWith("LAB_W_") ? "warning" : "error";
  return { code, severity, message, location, ...(related?.length ? { related } : {}) };
}

export class LabError extends Error {
  readonly code: LabCode;
  readonly diagnostics: Diagnostic[];

  constructor(code: LabCode, message: string, diagnostics: Diagnostic[] = []) {
    super(message);
    this.name = "LabError";
    this.code = code;
    this.diagnostics = diagnostics;
  }

  get httpStatus(): number {
    return CATALOGUE[this.code].http;
  }

  get exitCode(): number {
    return CATALOGUE[this.code].exit;
  }

  get hint(): string {
    return CATALOGUE[this.code].hint;
  }
}

export function isLabError(e: unknown): e is LabError {
  return e instanceof LabError;
}

export function notFound(kind: string, name: string, known: Iterable<string>): LabError {
  const suggestion = didYouMean(name, known);
  return new LabError(
    "LAB_E_NOT_FOUND",
    `${kind} "${name}" not found${suggestion ? ` (did you mean "${suggestion}"?)` : ""}`,
  );
}

/** The closest candidate within a small edit distance, for "did you mean" hints. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}
