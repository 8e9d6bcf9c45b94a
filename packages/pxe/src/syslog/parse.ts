/**
 * Syslog message parsing: RFC 5424, RFC 3164 (BSD) and what real senders make of it (rsyslog's
 * forwarding formats, busybox `syslogd -R` which drops the hostname, Anaconda, util-linux
 * logger). It never throws: what it cannot read comes back as `raw` with the bytes as text.
 */

export type SyslogFormat = "rfc5424" | "rfc3164" | "raw";

export interface SyslogMessage {
  /** 0-23 (RFC 5424 6.2.1); 1 (user) when the packet has no PRI. */
  facility: number;
  /** 0 (emergency) - 7 (debug); 5 (notice) when the packet has no PRI. */
  severity: number;
  time?: Date;
  host?: string;
  app?: string;
  procid?: string;
  msgid?: string;
  message: string;
  format: SyslogFormat;
}

/** Longest message text kept, in UTF-16 code units (about 8 KB). */
export const MAX_MESSAGE_CHARS = 8192;
/** Longest packet looked at; UDP datagrams cannot be larger. */
const MAX_PACKET = 65536;

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

export const FACILITY_NAMES = [
  "kern",
  "user",
  "mail",
  "daemon",
  "auth",
  "syslog",
  "lpr",
  "news",
  "uucp",
  "cron",
  "authpriv",
  "ftp",
  "ntp",
  "security",
  "console",
  "solaris-cron",
  "local0",
  "local1",
  "local2",
  "local3",
  "local4",
  "local5",
  "local6",
  "local7",
] as const;
export const SEVERITY_NAMES = [
  "emerg",
  "alert",
  "crit",
  "err",
  "warning",
  "notice",
  "info",
  "debug",
] as const;

function truncate(s: string): string {
  if (s.length <= MAX_MESSAGE_CHARS) return s;
  let end = MAX_MESSAGE_CHARS;
  const c = s.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--; // do not split a surrogate pair
  return s.slice(0, end);
}

/** Drops trailing newlines, carriage returns and NULs (syslogd and logger add them). */
function trimEnd(s: string): string {
  let end = s.length;
  while (end > 0) {
    const c = s.charCodeAt(end - 1);
    if (c === 10 || c === 13 || c === 0) end--;
    else break;
  }
  return s.slice(0, end);
}

function nil(v: string): string | undefined {
  return v === "-" || v === "" ? undefined : v;
}

/** Parses `<PRI>`; returns the value and where the rest starts, or undefined. */
function parsePri(s: string): { pri: number; rest: number } | undefined {
  if (s.charCodeAt(0) !== 60 /* < */) return undefined;
  let i = 1;
  let pri = 0;
  while (i < s.length && i <= 4) {
    const c = s.charCodeAt(i);
    if (c === 62 /* > */) break;
    if (c < 48 || c > 57) return undefined;
    pri = pri * 10 + (c - 48);
    i++;
  }
  if (i === 1 || i > 4 || s.charCodeAt(i) !== 62 || pri > 191) return undefined;
  // RFC 5424 6.2.1: no leading zeros except "<0>".
  if (i > 2 && s.charCodeAt(1) === 48) return undefined;
  return { pri, rest: i + 1 };
}

/** Splits off the next space-delimited field. */
function field(s: string, from: number): { value: string; next: number } | undefined {
  if (from >= s.length) return undefined;
  const sp = s.indexOf(" ", from);
  if (sp === -1) return { value: s.slice(from), next: s.length };
  return { value: s.slice(from, sp), next: sp + 1 };
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

function parseRfc3339(v: string): Date | undefined {
  const m = RFC3339.exec(v);
  if (!m) return undefined;
  const d = new Date(v.replace(" ", "T"));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** Skips STRUCTURED-DATA (`-` or `[id k="v" …]…`, with \" \] \\ escapes); index after it or -1. */
function skipStructuredData(s: string, from: number): number {
  if (s[from] === "-") return from + 1;
  let i = from;
  if (s[i] !== "[") return -1;
  while (s[i] === "[") {
    i++;
    let inQuotes = false;
    for (;;) {
      if (i >= s.length) return -1;
      const c = s[i];
      if (inQuotes) {
        if (c === "\\") i += 2;
        else {
          if (c === '"') inQuotes = false;
          i++;
        }
        continue;
      }
      if (c === '"') inQuotes = true;
      else if (c === "]") {
        i++;
        break;
      }
      i++;
    }
  }
  return i;
}

function parse5424(s: string, start: number, facility: number, severity: number): SyslogMessage | undefined {
  // VERSION must be 1-3 digits, not starting with 0, followed by a space.
  const ver = field(s, start);
  if (!ver || !/^[1-9]\d{0,2}$/.test(ver.value)) return undefined;
  const ts = field(s, ver.next);
  const host = ts && field(s, ts.next);
  const app = host && field(s, host.next);
  const proc = app && field(s, app.next);
  const msgid = proc && field(s, proc.next);
  if (!ts || !host || !app || !proc || !msgid) return undefined;
  let time: Date | undefined;
  if (ts.value !== "-") {
    time = parseRfc3339(ts.value);
    if (!time) return undefined;
  }
  let message = "";
  if (msgid.next < s.length) {
    const after = skipStructuredData(s, msgid.next);
    if (after === -1) return undefined;
    if (after < s.length) {
      if (s[after] !== " ") return undefined;
      message = s.slice(after + 1);
    }
  }
  if (message.charCodeAt(0) === 0xfeff) message = message.slice(1); // the UTF-8 BOM of RFC 5424 6.4
  return {
    facility,
    severity,
    time,
    host: nil(host.value),
    app: nil(app.value),
    procid: nil(proc.value),
    msgid: nil(msgid.value),
    message: truncate(message),
    format: "rfc5424",
  };
}

/** "Mmm dd hh:mm:ss" (day space-padded or not); the year is guessed: never in the future. */
function parseBsdTime(s: string, from: number, now: Date): { time: Date; next: number } | undefined {
  const m = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,6})? /.exec(
    s.slice(from, from + 32),
  );
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[1] ?? "");
  const day = Number(m[2]);
  const [h, min, sec] = [Number(m[3]), Number(m[4]), Number(m[5])];
  if (month < 0 || day < 1 || day > 31 || h > 23 || min > 59 || sec > 60) return undefined;
  const ms = m[6] ? Math.floor(Number(`0${m[6]}`) * 1000) : 0;
  let time = new Date(now.getFullYear(), month, day, h, min, sec, ms);
  if (time.getTime() > now.getTime() + 86_400_000)
    time = new Date(now.getFullYear() - 1, month, day, h, min, sec, ms);
  return { time, next: from + m[0].length };
}

const TAG = /^([A-Za-z0-9_.\-/@()]{1,48})(?:\[([^\]\s]{1,32})\])?:(?: |$)/;

function parse3164(s: string, start: number, facility: number, severity: number, now: Date): SyslogMessage {
  let i = start;
  let time: Date | undefined;
  const bsd = parseBsdTime(s, i, now);
  if (bsd) {
    time = bsd.time;
    i = bsd.next;
  } else {
    // rsyslog templates and some devices put an RFC 3339 stamp where the BSD one goes.
    const f = field(s, i);
    const t = f && parseRfc3339(f.value);
    if (f && t) {
      time = t;
      i = f.next;
    }
  }
  let host: string | undefined;
  if (time) {
    // A HOSTNAME follows the stamp unless the next word is already the tag (busybox -R).
    const f = field(s, i);
    if (
      f &&
      f.next < s.length &&
      !TAG.test(s.slice(i, i + 90)) &&
      /^[A-Za-z0-9._:%-]{1,255}$/.test(f.value)
    ) {
      host = f.value;
      i = f.next;
    }
  }
  let app: string | undefined;
  let procid: string | undefined;
  const tag = TAG.exec(s.slice(i, i + 90));
  if (tag) {
    app = tag[1];
    procid = tag[2];
    i += tag[0].length;
  }
  return {
    facility,
    severity,
    time,
    host,
    app,
    procid,
    message: truncate(s.slice(i)),
    format: time || app ? "rfc3164" : "raw",
  };
}

/**
 * Parses one syslog packet. `fallbackHost` (the sender's address) fills `host` when the packet
 * names none. Never throws.
 */
export function parseSyslog(
  buf: Uint8Array | string,
  fallbackHost?: string,
  now: Date = new Date(),
): SyslogMessage {
  let text: string;
  try {
    if (typeof buf === "string") text = buf.slice(0, MAX_PACKET);
    else text = decoder.decode(buf.length > MAX_PACKET ? buf.subarray(0, MAX_PACKET) : buf);
  } catch {
    text = "";
  }
  text = trimEnd(text);
  const withHost = (m: SyslogMessage): SyslogMessage =>
    m.host || !fallbackHost ? m : { ...m, host: fallbackHost };
  try {
    const pri = parsePri(text);
    if (!pri) return withHost({ facility: 1, severity: 5, message: truncate(text), format: "raw" });
    const facility = pri.pri >> 3;
    const severity = pri.pri & 7;
    const m5424 = parse5424(text, pri.rest, facility, severity);
    if (m5424) return withHost(m5424);
    return withHost(parse3164(text, pri.rest, facility, severity, now));
  } catch {
    // A parser bug must not lose the message.
    return withHost({ facility: 1, severity: 5, message: truncate(text), format: "raw" });
  }
}

/** One line for logs and the install log buffer: "host app[pid]: message". */
export function formatSyslogLine(m: SyslogMessage): string {
  const who = m.app ? `${m.app}${m.procid ? `[${m.procid}]` : ""}: ` : "";
  const sev = SEVERITY_NAMES[m.severity] ?? String(m.severity);
  return `${sev} ${who}${m.message}`;
}
