/**
 * Registers machines in DNS by RFC 2136 dynamic update, signed with TSIG (RFC 8945), against
 * any server that speaks it (BIND's named is the one tested). Every request is signed and
 * every answer that reports success must carry a valid signature from the same key: a forged
 * or stale datagram is ignored, not believed.
 *
 * Transport: UDP with retries (the same signed message is resent, so a late answer to an
 * earlier send still verifies), TCP when the answer comes back truncated.
 */
import { randomInt } from "node:crypto";
import dgram from "node:dgram";
import net from "node:net";
import { LabError } from "@lab/core";
import {
  aRdata,
  CLASS,
  type DecodedMessage,
  decodeMessage,
  encodeMessage,
  nameRdata,
  OPCODE,
  type Question,
  RCODE,
  type RecordSpec,
  rcodeName,
  sameName,
  TSIG_ERROR,
  type TsigKey,
  TYPE,
  tsigSecret,
  tsigSign,
  tsigVerifyResponse,
} from "./dns-wire.js";

export type { TsigKey } from "./dns-wire.js";

/** Keeps a machine's name and address in DNS. */
/** What a DNS server accepted (answered NOERROR to): the A record's name and the PTR's, if any. */
export interface DnsRegistration {
  fqdn: string;
  /** The reverse name set to point back, or null when the address is outside the reverse zone. */
  ptr: string | null;
}

export interface DnsRegistrar {
  /** Points `name` (relative to the zone, or fully qualified) at `ipv4`, forward and reverse. */
  upsertHost(fqdnOrName: string, ipv4: string): Promise<DnsRegistration>;
  /** Removes the name's A records and the PTR records that point back at it. */
  removeHost(name: string): Promise<void>;
  /** The name's current IPv4 addresses as the server has them. */
  lookup?(fqdnOrName: string): Promise<string[]>;
}

export interface Rfc2136Options {
  /** Address of the primary server (IPv4 or IPv6 literal). */
  server: string;
  /** Defaults to 53. */
  port?: number;
  /** Forward zone, e.g. `lab.internal`. */
  zone: string;
  /** Reverse zone, e.g. `77.10.in-addr.arpa`; derived from `network` when omitted. */
  reverseZone?: string;
  /** The machines' network, e.g. `10.77.0.0/16`, to derive `reverseZone` from. */
  network?: string;
  key: TsigKey;
  /** TTL of the records written; defaults to 300 s. */
  ttl?: number;
  /** How long one UDP try (or the TCP exchange) waits; defaults to 2000 ms. */
  timeoutMs?: number;
  /** UDP resends after the first try; defaults to 2. */
  retries?: number;
}

/** What a request was, for matching and explaining its answer. */
export interface PendingRequest {
  id: number;
  opcode: number;
  question: Question;
  /** MAC of the signed request (the answer's MAC covers it). */
  mac: Buffer;
  key: TsigKey;
  /** `host:port`, for messages. */
  server: string;
}

export type ResponseCheck =
  /** Verified; NOERROR (or NXDOMAIN for a query). */
  | { kind: "ok"; msg: DecodedMessage }
  /** The server's final word is an error. */
  | { kind: "error"; error: LabError }
  /** Answer truncated: ask again over TCP. */
  | { kind: "truncated" }
  /** Not an acceptable answer to this request (malformed, someone else's, unsigned): keep waiting. */
  | { kind: "ignore"; error: LabError };

/**
 * Judges one datagram received for `req`: pure, so it is tested without sockets. Success is
 * accepted only with a valid signature; an error answer may come unsigned (the server sends
 * BADSIG/BADKEY without a MAC, and an error can only make us fail, never believe wrong data).
 */
export function checkResponse(req: PendingRequest, wire: Buffer, now?: number): ResponseCheck {
  let msg: DecodedMessage;
  try {
    msg = decodeMessage(wire);
  } catch (e) {
    if (e instanceof LabError) return { kind: "ignore", error: e };
    throw e;
  }
  const ignore = (detail: string): ResponseCheck => ({
    kind: "ignore",
    error: new LabError("LAB_E_DNS_BAD_RESPONSE", `bad answer from ${req.server}: ${detail}`),
  });
  if (!msg.qr) return ignore("the message is a request, not a response");
  if (msg.id !== req.id) return ignore(`its id ${msg.id} is not the request's ${req.id}`);
  if (msg.opcode !== req.opcode) return ignore(`its opcode ${msg.opcode} is not the request's ${req.opcode}`);
  if (msg.questions.length > 1) return ignore(`it has ${msg.questions.length} questions`);
  const q = msg.questions[0];
  if (
    q &&
    (!sameName(q.name, req.question.name) || q.type !== req.question.type || q.class !== req.question.class)
  ) {
    return ignore(`it answers ${q.name} type ${q.type}, not ${req.question.name}`);
  }
  if (msg.tc) return { kind: "truncated" };
  let verdict: ReturnType<typeof tsigVerifyResponse>;
  try {
    verdict = tsigVerifyResponse(wire, msg, req.key, req.mac, now);
  } catch (e) {
    if (e instanceof LabError) return { kind: "error", error: e };
    throw e;
  }
  const dataRcode =
    msg.rcode === RCODE.NOERROR || (req.opcode === OPCODE.QUERY && msg.rcode === RCODE.NXDOMAIN);
  if (verdict.ok) {
    return dataRcode ? { kind: "ok", msg } : { kind: "error", error: rcodeError(msg.rcode, req) };
  }
  if ("serverError" in verdict) {
    const what =
      verdict.serverError === TSIG_ERROR.BADKEY ? "does not know key" : "rejected the signature of key";
    return {
      kind: "error",
      error: new LabError(
        "LAB_E_DNS_TSIG",
        `DNS server ${req.server} ${what} ${req.key.name} (${rcodeName(verdict.serverError)}): the TSIG key does not match the server's`,
      ),
    };
  }
  if (!dataRcode) return { kind: "error", error: rcodeError(msg.rcode, req, " (unsigned answer)") };
  return {
    kind: "ignore",
    error: new LabError(
      "LAB_E_DNS_TSIG",
      `answer from ${req.server} rejected: ${verdict.reason} (key ${req.key.name})`,
    ),
  };
}

function rcodeError(rcode: number, req: PendingRequest, note = ""): LabError {
  const name = rcodeName(rcode);
  const isUpdate = req.opcode === OPCODE.UPDATE;
  const target = isUpdate
    ? `the update of zone ${trimDot(req.question.name)}`
    : `the query for ${trimDot(req.question.name)}`;
  const says = `DNS server ${req.server} answered ${name} to ${target}${note}`;
  switch (rcode) {
    case RCODE.REFUSED:
      // With recursion off, a refused query almost always means the server does not serve the
      // zone (allow-query restrictions are the rare other cause).
      if (!isUpdate) {
        return new LabError(
          "LAB_E_DNS_NOTAUTH",
          `${says}: the server does not serve the zone holding that name (or its allow-query excludes lab)`,
        );
      }
      return new LabError(
        "LAB_E_DNS_REFUSED",
        `${says}: add \`allow-update { key "${req.key.name}"; };\` for key ${req.key.name} to zone "${trimDot(req.question.name)}" in named.conf`,
      );
    case RCODE.NOTAUTH:
    case RCODE.NOTZONE:
      return new LabError(
        "LAB_E_DNS_NOTAUTH",
        `${says}: the server is not authoritative (primary) for zone ${trimDot(req.question.name)}`,
      );
    case RCODE.NOTIMP:
      return new LabError("LAB_E_DNS_FAILED", `${says}: the server does not implement dynamic updates`);
    case RCODE.FORMERR:
      return new LabError("LAB_E_DNS_FAILED", `${says}: the server could not parse lab's message`);
    default:
      return new LabError("LAB_E_DNS_FAILED", says);
  }
}

function trimDot(name: string): string {
  return name.endsWith(".") && name.length > 1 ? name.slice(0, -1) : name;
}

interface TransportOptions {
  server: string;
  port: number;
  timeoutMs: number;
  retries: number;
}

/** Sends a signed request and returns the verified answer (UDP with retries, then TCP if truncated). */
async function exchange(wire: Buffer, req: PendingRequest, t: TransportOptions): Promise<DecodedMessage> {
  const udp = await exchangeUdp(wire, req, t);
  if (udp !== "truncated") return udp;
  return exchangeTcp(wire, req, t);
}

function exchangeUdp(
  wire: Buffer,
  req: PendingRequest,
  t: TransportOptions,
): Promise<DecodedMessage | "truncated"> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(net.isIPv6(t.server) ? "udp6" : "udp4");
    let lastBad: LabError | undefined;
    let refused = false;
    let attempt = 0;
    let timer: NodeJS.Timeout | undefined;
    const finish = (fn: () => void) => {
      if (timer) clearTimeout(timer);
      sock.removeAllListeners("message");
      sock.on("error", () => undefined);
      sock.close();
      fn();
    };
    const send = () => {
      attempt++;
      sock.send(wire, (err) => {
        if (err)
          lastBad ??= new LabError("LAB_E_DNS_TIMEOUT", `cannot send to ${req.server}: ${err.message}`);
      });
      timer = setTimeout(() => {
        if (attempt <= t.retries) send();
        else finish(() => reject(lastBad ?? timeoutError(req, attempt, t, refused)));
      }, t.timeoutMs);
    };
    sock.on("error", (err: NodeJS.ErrnoException) => {
      // On a connected socket the kernel reports "port unreachable" as ECONNREFUSED: keep
      // trying until the tries run out (named may be starting), then say so.
      if (attempt === 0) {
        finish(() =>
          reject(new LabError("LAB_E_DNS_TIMEOUT", `cannot reach DNS server ${req.server}: ${err.message}`)),
        );
      } else if (err.code === "ECONNREFUSED") refused = true;
      else
        lastBad ??= new LabError("LAB_E_DNS_TIMEOUT", `UDP error talking to ${req.server}: ${err.message}`);
    });
    sock.on("message", (data) => {
      const c = checkResponse(req, data);
      if (c.kind === "ok") finish(() => resolve(c.msg));
      else if (c.kind === "error") finish(() => reject(c.error));
      else if (c.kind === "truncated") finish(() => resolve("truncated"));
      else lastBad = c.error;
    });
    sock.connect(t.port, t.server, () => send());
  });
}

function timeoutError(req: PendingRequest, tries: number, t: TransportOptions, refused: boolean): LabError {
  return new LabError(
    "LAB_E_DNS_TIMEOUT",
    `no answer from DNS server ${req.server} after ${tries} tries of ${t.timeoutMs} ms` +
      `${refused ? " (connection refused: nothing listens there)" : ""}: is named running on ${req.server}?`,
  );
}

function exchangeTcp(wire: Buffer, req: PendingRequest, t: TransportOptions): Promise<DecodedMessage> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: t.server, port: t.port });
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      fn();
    };
    const timer = setTimeout(
      () =>
        finish(() =>
          reject(
            new LabError(
              "LAB_E_DNS_TIMEOUT",
              `no answer over TCP from DNS server ${req.server} within ${t.timeoutMs} ms: is named running on ${req.server}?`,
            ),
          ),
        ),
      t.timeoutMs,
    );
    sock.on("connect", () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(wire.length);
      sock.write(Buffer.concat([len, wire]));
    });
    sock.on("data", (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length > 2 + 65_535) {
        finish(() =>
          reject(new LabError("LAB_E_DNS_BAD_RESPONSE", `${req.server} sent more than one message`)),
        );
        return;
      }
      if (buf.length < 2) return;
      const len = buf.readUInt16BE(0);
      if (buf.length < 2 + len) return;
      const c = checkResponse(req, buf.subarray(2, 2 + len));
      if (c.kind === "ok") finish(() => resolve(c.msg));
      else if (c.kind === "truncated") {
        finish(() =>
          reject(new LabError("LAB_E_DNS_BAD_RESPONSE", `${req.server} truncated its answer over TCP`)),
        );
      } else finish(() => reject(c.error));
    });
    sock.on("error", (err) =>
      finish(() =>
        reject(
          new LabError(
            "LAB_E_DNS_TIMEOUT",
            `TCP to DNS server ${req.server} failed (${err.message}): is named running on ${req.server}?`,
          ),
        ),
      ),
    );
    sock.on("end", () =>
      finish(() =>
        reject(new LabError("LAB_E_DNS_BAD_RESPONSE", `${req.server} closed TCP before answering`)),
      ),
    );
  });
}

// ── names and addresses ──

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

/** Checks a zone name; returns it lowercased with a trailing dot. */
export function normaliseZone(zone: string, what = "zone"): string {
  const z = typeof zone === "string" ? zone.trim().replace(/\.$/, "").toLowerCase() : "";
  const labels = z.split(".");
  if (z === "" || z.length > 253 || !labels.every((l) => LABEL.test(l))) {
    throw new LabError("LAB_E_DNS_INVALID", `${what} ${JSON.stringify(zone)} is not a valid DNS zone name`);
  }
  return `${z}.`;
}

/**
 * The fully qualified host name (lowercase, trailing dot) for `fqdnOrName` in `zone`: names
 * ending in the zone (or in a dot) are taken as they are, others are relative to the zone.
 */
export function qualifyHost(fqdnOrName: string, zone: string): string {
  const z = normaliseZone(zone);
  const raw = typeof fqdnOrName === "string" ? fqdnOrName.trim().toLowerCase() : "";
  const absolute = raw.endsWith(".");
  const bare = raw.replace(/\.$/, "");
  const inZone = bare.endsWith(`.${z.slice(0, -1)}`);
  const fqdn = absolute || inZone ? `${bare}.` : `${bare}.${z}`;
  const labels = fqdn.slice(0, -1).split(".");
  if (bare === "" || fqdn.length > 254 || !labels.every((l) => LABEL.test(l))) {
    throw new LabError(
      "LAB_E_DNS_INVALID",
      `host name ${JSON.stringify(fqdnOrName)} is not valid (letters, digits and inner hyphens, labels up to 63)`,
    );
  }
  if (!fqdn.endsWith(`.${z}`)) {
    throw new LabError(
      "LAB_E_DNS_INVALID",
      `host name ${JSON.stringify(fqdnOrName)} is not inside zone ${z.slice(0, -1)}`,
    );
  }
  return fqdn;
}

/** Checks a dotted-quad IPv4 address (no leading zeros, which some parsers read as octal). */
export function checkIpv4(ip: string): string {
  if (typeof ip !== "string" || !/^(0|[1-9]\d{0,2})(\.(0|[1-9]\d{0,2})){3}$/.test(ip) || !net.isIPv4(ip)) {
    throw new LabError("LAB_E_DNS_INVALID", `${JSON.stringify(ip)} is not an IPv4 address`);
  }
  return ip;
}

/** `10.77.0.5` → `5.0.77.10.in-addr.arpa.` */
export function reverseName(ipv4: string): string {
  return `${checkIpv4(ipv4).split(".").reverse().join(".")}.in-addr.arpa.`;
}

/**
 * The reverse zone that holds a network's PTR records: `10.77.0.0/16` → `77.10.in-addr.arpa`.
 * Prefixes between octet boundaries use the enclosing zone (a /20 lives in its /16's zone, a
 * /26 in its /24's): the zone Lab's server is expected to be primary for.
 */
export function reverseZoneFor(network: string): string {
  const m = typeof network === "string" ? /^([\d.]+)\/(\d{1,2})$/.exec(network.trim()) : null;
  const prefix = Number(m?.[2]);
  if (!m || !net.isIPv4(m[1] ?? "") || prefix < 8 || prefix > 32) {
    throw new LabError(
      "LAB_E_DNS_INVALID",
      `network ${JSON.stringify(network)} must be IPv4 CIDR with a prefix of /8 to /32, e.g. 10.77.0.0/16`,
    );
  }
  const octets = Math.min(3, Math.floor(prefix / 8));
  return `${(m[1] as string).split(".").slice(0, octets).reverse().join(".")}.in-addr.arpa`;
}

// ── the registrar ──

const DEFAULT_TTL = 300;
/** Operations queued per registrar before new ones are refused. */
const MAX_PENDING = 1024;

/** DNS registration by RFC 2136 UPDATE with TSIG against one primary server. */
export class Rfc2136Registrar implements DnsRegistrar {
  readonly zone: string;
  readonly reverseZone: string | undefined;
  private readonly server: string;
  private readonly transport: TransportOptions;
  private readonly key: TsigKey;
  private readonly ttl: number;
  /** Operations run one at a time, so a lookup and the update built from it are not interleaved. */
  private queue: Promise<unknown> = Promise.resolve();
  private pending = 0;

  constructor(opts: Rfc2136Options) {
    if (!opts || typeof opts.server !== "string" || net.isIP(opts.server) === 0) {
      throw new LabError(
        "LAB_E_DNS_INVALID",
        `DNS server ${JSON.stringify(opts?.server)} must be an IP address`,
      );
    }
    const port = opts.port ?? 53;
    if (!Number.isInteger(port) || port < 1 || port > 65_535) {
      throw new LabError("LAB_E_DNS_INVALID", `DNS port ${port} is not a port number`);
    }
    tsigSecret(opts.key);
    this.key = { ...opts.key, secret: opts.key.secret.trim() };
    this.zone = normaliseZone(opts.zone);
    const reverse = opts.reverseZone ?? (opts.network ? reverseZoneFor(opts.network) : undefined);
    this.reverseZone = reverse === undefined ? undefined : normaliseZone(reverse, "reverse zone");
    if (this.reverseZone && !this.reverseZone.endsWith(".in-addr.arpa.")) {
      throw new LabError("LAB_E_DNS_INVALID", `reverse zone ${reverse} must end in .in-addr.arpa`);
    }
    this.ttl = opts.ttl ?? DEFAULT_TTL;
    if (!Number.isInteger(this.ttl) || this.ttl < 0 || this.ttl > 2_147_483_647) {
      throw new LabError("LAB_E_DNS_INVALID", `TTL ${opts.ttl} must be a whole number of seconds`);
    }
    const timeoutMs = opts.timeoutMs ?? 2000;
    const retries = opts.retries ?? 2;
    if (!(timeoutMs > 0) || !Number.isInteger(retries) || retries < 0 || retries > 10) {
      throw new LabError("LAB_E_DNS_INVALID", "timeoutMs must be positive and retries 0 to 10");
    }
    this.server = net.isIPv6(opts.server) ? `[${opts.server}]:${port}` : `${opts.server}:${port}`;
    this.transport = { server: opts.server, port, timeoutMs, retries };
  }

  /** The name's A records, read from the primary with a signed query. */
  lookup(fqdnOrName: string): Promise<string[]> {
    const fqdn = qualifyHost(fqdnOrName, this.zone);
    return this.serial(() => this.queryA(fqdn));
  }

  /**
   * Replaces the name's A records with `ipv4` and moves its PTR: the PTRs of its previous
   * addresses that point at it are deleted, the new address's PTR is set. Addresses outside
   * the reverse zone get no PTR. The reverse zone is updated first, so retrying after a
   * failure half-way still finds the old address and cleans up its PTR.
   */
  upsertHost(fqdnOrName: string, ipv4: string): Promise<DnsRegistration> {
    const fqdn = qualifyHost(fqdnOrName, this.zone);
    const ip = checkIpv4(ipv4);
    return this.serial(async () => {
      const previous = await this.queryA(fqdn);
      const reverse: RecordSpec[] = [];
      for (const old of previous) {
        if (old !== ip && this.inReverseZone(old))
          reverse.push(deleteRecord(reverseName(old), TYPE.PTR, nameRdata(fqdn)));
      }
      if (this.inReverseZone(ip)) {
        reverse.push(deleteRRset(reverseName(ip), TYPE.PTR));
        reverse.push({
          name: reverseName(ip),
          type: TYPE.PTR,
          class: CLASS.IN,
          ttl: this.ttl,
          rdata: nameRdata(fqdn),
        });
      }
      if (reverse.length > 0 && this.reverseZone) await this.update(this.reverseZone, reverse);
      await this.update(this.zone, [
        deleteRRset(fqdn, TYPE.A),
        { name: fqdn, type: TYPE.A, class: CLASS.IN, ttl: this.ttl, rdata: aRdata(ip) },
      ]);
      return { fqdn, ptr: this.inReverseZone(ip) ? reverseName(ip) : null };
    });
  }

  /** Deletes the name's A records and the PTRs of those addresses that point at it. */
  removeHost(name: string): Promise<void> {
    const fqdn = qualifyHost(name, this.zone);
    return this.serial(async () => {
      const previous = await this.queryA(fqdn);
      const reverse = previous
        .filter((ip) => this.inReverseZone(ip))
        .map((ip) => deleteRecord(reverseName(ip), TYPE.PTR, nameRdata(fqdn)));
      if (reverse.length > 0 && this.reverseZone) await this.update(this.reverseZone, reverse);
      await this.update(this.zone, [deleteRRset(fqdn, TYPE.A)]);
    });
  }

  private inReverseZone(ip: string): boolean {
    return this.reverseZone !== undefined && reverseName(ip).endsWith(`.${this.reverseZone}`);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    // Bounded: a caller that outruns the server gets an error instead of an ever-longer queue.
    if (this.pending >= MAX_PENDING) {
      return Promise.reject(
        new LabError("LAB_E_DNS_FAILED", `${MAX_PENDING} DNS changes are already waiting for ${this.server}`),
      );
    }
    this.pending++;
    const run = this.queue.then(fn, fn).finally(() => {
      this.pending--;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async queryA(fqdn: string): Promise<string[]> {
    const msg = await this.send(OPCODE.QUERY, { name: fqdn, type: TYPE.A, class: CLASS.IN }, []);
    return msg.answers
      .filter((rr) => rr.type === TYPE.A && rr.class === CLASS.IN && sameName(rr.name, fqdn))
      .map((rr) => rr.data as string);
  }

  private async update(zone: string, updates: RecordSpec[]): Promise<void> {
    await this.send(OPCODE.UPDATE, { name: zone, type: TYPE.SOA, class: CLASS.IN }, updates);
  }

  private send(opcode: number, question: Question, authority: RecordSpec[]): Promise<DecodedMessage> {
    const id = randomInt(0, 65_536);
    const message = encodeMessage({ id, opcode, questions: [question], authority });
    const { wire, mac } = tsigSign(message, this.key);
    return exchange(wire, { id, opcode, question, mac, key: this.key, server: this.server }, this.transport);
  }
}

/** RFC 2136 §2.5.2: delete an RRset (class ANY, no data). */
function deleteRRset(name: string, type: number): RecordSpec {
  return { name, type, class: CLASS.ANY, ttl: 0, rdata: Buffer.alloc(0) };
}

/** RFC 2136 §2.5.4: delete one RR (class NONE, with its data). */
function deleteRecord(name: string, type: number, rdata: Buffer): RecordSpec {
  return { name, type, class: CLASS.NONE, ttl: 0, rdata };
}
