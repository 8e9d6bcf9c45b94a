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
  LAB_E_ILLEGAL_TRANSITION: {
    http: 409,
    exit: EXIT.error,
    hint: "see `lab provision list` for the machine's state and the moves it allows",
  },
  LAB_E_REF_IMAGE: {
    http: 400,
    exit: EXIT.error,
    hint: "define the image under `images:` or use a built-in one (`lab get images`)",
  },
  LAB_E_INSTALL_TOKEN: {
    http: 401,
    exit: EXIT.error,
    hint: "the machine must use the install token from the boot config Lab served it; reboot it to get a fresh one",
  },
  LAB_E_BAD_REPORT: {
    http: 400,
    exit: EXIT.error,
    hint: "the machine posted something Lab cannot read; check the installer's callback against docs/pxe.md",
  },
  LAB_E_IMAGE: {
    http: 400,
    exit: EXIT.error,
    hint: "list the images with `lab get images` or define it under `images:`",
  },
  LAB_E_PXE_SETUP: {
    http: 500,
    exit: EXIT.error,
    hint: "run `lab doctor` to see what the boot services are missing",
  },
  // ── dhcp ──
  // ── tftp and boot files ──
  LAB_E_TFTP_MALFORMED: {
    http: 400,
    exit: EXIT.error,
    hint: "the peer sent a packet that is not valid TFTP (RFC 1350/2347): check the client or what else sends to the TFTP port",
  },
  LAB_E_TFTP_BIND: {
    http: 500,
    exit: EXIT.error,
    hint: "another TFTP server (dnsmasq, tftpd-hpa, in.tftpd) may hold the port: stop it or choose another port; port 69 needs root or CAP_NET_BIND_SERVICE",
  },
  LAB_E_TFTP_ROOT: {
    http: 500,
    exit: EXIT.error,
    hint: "create the TFTP root folder or point the server at an existing, readable one",
  },
  // ── install configs and syslog ──
  // ── ssh ca and dns ──
  LAB_E_SSH_KEY_INVALID: {
    http: 400,
    exit: EXIT.error,
    hint: "give one OpenSSH public key line (`TYPE BASE64 [comment]`, as in the host's /etc/ssh/ssh_host_*_key.pub)",
  },
  LAB_E_SSH_KEY_UNSUPPORTED: {
    http: 400,
    exit: EXIT.error,
    hint: "use an ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa (≥ 2048 bits) host key",
  },
  LAB_E_SSH_CERT_INVALID: {
    http: 400,
    exit: EXIT.error,
    hint: "give a key id, at least one principal and a validity window that ends after it starts",
  },
  LAB_E_SSH_CA_CORRUPT: {
    http: 500,
    exit: EXIT.error,
    hint: "restore the SSH CA files from a backup; a new CA means every known_hosts must be updated",
  },
  LAB_E_DNS_INVALID: {
    http: 400,
    exit: EXIT.error,
    hint: "use a hostname of letters, digits and hyphens inside the zone, and a dotted IPv4 address",
  },
  LAB_E_DNS_REFUSED: {
    http: 502,
    exit: EXIT.error,
    hint: "add `allow-update { key KEYNAME; };` to the zone in named.conf and reload named",
  },
  LAB_E_DNS_NOTAUTH: {
    http: 502,
    exit: EXIT.error,
    hint: "the DNS server does not serve that zone: check the zone names and the server address",
  },
  LAB_E_DNS_TSIG: {
    http: 502,
    exit: EXIT.error,
    hint: "the TSIG key does not match the server's: compare key name, algorithm and secret with named.conf",
  },
  LAB_E_DNS_BADTIME: {
    http: 502,
    exit: EXIT.error,
    hint: "the clocks of lab and the DNS server differ by more than 5 minutes: synchronise them (NTP)",
  },
  LAB_E_DNS_TIMEOUT: {
    http: 504,
    exit: EXIT.error,
    hint: "is named running on that host:port? try `dig @HOST -p PORT SOA ZONE`",
  },
  LAB_E_DNS_BAD_RESPONSE: {
    http: 502,
    exit: EXIT.error,
    hint: "the DNS server sent an answer lab cannot read: check that host:port is a DNS server",
  },
  LAB_E_DNS_FAILED: {
    http: 502,
    exit: EXIT.error,
    hint: "read named's log for the reason (journalctl -u named, or named's stderr)",
  },
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
