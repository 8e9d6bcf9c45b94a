import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import net from "node:net";
import { isLabError, type LabCode } from "@lab/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bind, startBind, stopAllBind } from "../../../test/support/bind.js";
import {
  checkIpv4,
  checkResponse,
  type PendingRequest,
  qualifyHost,
  type Rfc2136Options,
  Rfc2136Registrar,
  reverseName,
  reverseZoneFor,
} from "./dns-update.js";
import {
  aRdata,
  CLASS,
  decodeMessage,
  decodeName,
  encodeMessage,
  type MessageSpec,
  nameRdata,
  OPCODE,
  RCODE,
  type Soa,
  TSIG_ERROR,
  type TsigKey,
  TYPE,
  tsigSign,
  tsigVerifyResponse,
} from "./dns-wire.js";

const KEY: TsigKey = {
  name: "lab-key",
  algorithm: "hmac-sha256",
  secret: randomBytes(32).toString("base64"),
};
const WRONG: TsigKey = { ...KEY, secret: randomBytes(32).toString("base64") };

async function codeOfAsync(p: Promise<unknown>): Promise<LabCode | string> {
  try {
    await p;
  } catch (e) {
    return isLabError(e) ? e.code : `not a LabError: ${String(e)}`;
  }
  return "no error";
}

function codeOf(fn: () => unknown): LabCode | string {
  try {
    fn();
  } catch (e) {
    return isLabError(e) ? e.code : `not a LabError: ${String(e)}`;
  }
  return "no error";
}

async function errorOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return isLabError(e)
      ? { code: e.code, message: e.message }
      : { code: "not a LabError", message: String(e) };
  }
  return { code: "no error", message: "" };
}

/** A signed request as the registrar sends it, and what it waits for. */
function signedRequest(opcode: number, name: string, type: number, id = 0x1234) {
  const question = { name, type, class: CLASS.IN };
  const { wire, mac } = tsigSign(encodeMessage({ id, opcode, questions: [question] }), KEY);
  const req: PendingRequest = { id, opcode, question, mac, key: KEY, server: "127.0.0.1:53" };
  return { wire, req };
}

interface AnswerOptions {
  rcode?: number;
  tc?: boolean;
  id?: number;
  qr?: boolean;
  sign?: "good" | "wrong-key" | "none";
  tsigError?: number;
  time?: number;
  answers?: MessageSpec["answers"];
}

/** The server's answer to `request` (an encoded, signed request). */
function answer(request: Buffer, o: AnswerOptions = {}): Buffer {
  const req = decodeMessage(request);
  const q = req.questions[0];
  if (!q || !req.tsig) throw new Error("test request must have a question and a TSIG");
  const msg = encodeMessage({
    id: o.id ?? req.id,
    opcode: req.opcode,
    qr: o.qr ?? true,
    aa: true,
    tc: o.tc,
    rcode: o.rcode ?? RCODE.NOERROR,
    questions: [q],
    answers: o.answers,
  });
  if (o.sign === "none") return msg;
  if (o.tsigError === TSIG_ERROR.BADSIG || o.tsigError === TSIG_ERROR.BADKEY) {
    // What a server sends when it cannot verify the request: a TSIG without MAC.
    const unsigned = tsigSign(msg, KEY, { error: o.tsigError }).wire;
    return stripMac(unsigned);
  }
  return tsigSign(msg, o.sign === "wrong-key" ? WRONG : KEY, {
    requestMac: req.tsig.data.mac,
    time: o.time,
    error: o.tsigError,
  }).wire;
}

/** Rewrites the TSIG of a signed message to carry an empty MAC. */
function stripMac(wire: Buffer): Buffer {
  const m = decodeMessage(wire);
  if (!m.tsig) throw new Error("no tsig");
  const t = m.tsig.data;
  const alg = Buffer.from([11, ...Buffer.from("hmac-sha256"), 0]);
  const fixed = Buffer.alloc(6 + 2 + 2);
  fixed.writeUInt16BE(Math.floor(t.timeSigned / 2 ** 32), 0);
  fixed.writeUInt32BE(t.timeSigned % 2 ** 32, 2);
  fixed.writeUInt16BE(t.fudge, 6);
  fixed.writeUInt16BE(0, 8);
  const tail = Buffer.alloc(6);
  tail.writeUInt16BE(t.originalId, 0);
  tail.writeUInt16BE(t.error, 2);
  tail.writeUInt16BE(0, 4);
  const rdata = Buffer.concat([alg, fixed, tail]);
  const head = wire.subarray(0, m.tsig.offset);
  const owner = Buffer.from([7, ...Buffer.from("lab-key"), 0]);
  const rr = Buffer.alloc(10);
  rr.writeUInt16BE(TYPE.TSIG, 0);
  rr.writeUInt16BE(CLASS.ANY, 2);
  rr.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([head, owner, rr, rdata]);
}

/**
 * A signed A answer written as a real server writes it: the answer's owner is a compression
 * pointer to the question, and the authority SOA uses pointers too.
 */
function compressedAnswer(request: Buffer): Buffer {
  const req = decodeMessage(request);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(req.id, 0);
  header.writeUInt16BE(0x8000 | 0x0400, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(1, 6);
  header.writeUInt16BE(1, 8);
  const qname = Buffer.from([
    5,
    ...Buffer.from("node1"),
    3,
    ...Buffer.from("lab"),
    8,
    ...Buffer.from("internal"),
    0,
  ]);
  const qtail = Buffer.from([0, 1, 0, 1]);
  const ans = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 10, 77, 0, 5]);
  // SOA owner "lab.internal" = pointer to offset 18 (after "node1" label); mname "ns" + pointer.
  const soaRdata = Buffer.concat([
    Buffer.from([2, ...Buffer.from("ns"), 0xc0, 18]),
    Buffer.from([10, ...Buffer.from("hostmaster"), 0xc0, 18]),
    Buffer.from([0, 0, 0, 7, 0, 0, 14, 16, 0, 0, 2, 88, 0, 1, 81, 128, 0, 0, 0, 60]),
  ]);
  const soaHead = Buffer.from([0xc0, 18, 0, 6, 0, 1, 0, 0, 0, 60, 0, soaRdata.length]);
  const msg = Buffer.concat([header, qname, qtail, ans, soaHead, soaRdata]);
  return tsigSign(msg, KEY, { requestMac: req.tsig?.data.mac }).wire;
}

describe("DNS wire codec", () => {
  it("round-trips an UPDATE with add, delete-RRset and delete-RR entries", () => {
    const wire = encodeMessage({
      id: 7,
      opcode: OPCODE.UPDATE,
      questions: [{ name: "lab.internal.", type: TYPE.SOA, class: CLASS.IN }],
      authority: [
        { name: "n.lab.internal.", type: TYPE.A, class: CLASS.ANY, ttl: 0, rdata: Buffer.alloc(0) },
        { name: "n.lab.internal.", type: TYPE.A, class: CLASS.IN, ttl: 300, rdata: aRdata("10.77.0.5") },
        {
          name: "5.0.77.10.in-addr.arpa.",
          type: TYPE.PTR,
          class: CLASS.NONE,
          ttl: 0,
          rdata: nameRdata("n.lab.internal."),
        },
      ],
    });
    const m = decodeMessage(wire);
    expect(m).toMatchObject({ id: 7, qr: false, opcode: OPCODE.UPDATE, rcode: 0 });
    expect(m.questions).toEqual([{ name: "lab.internal.", type: TYPE.SOA, class: CLASS.IN }]);
    expect(m.authority.map((r) => [r.name, r.type, r.class, r.ttl, r.data])).toEqual([
      ["n.lab.internal.", TYPE.A, CLASS.ANY, 0, undefined],
      ["n.lab.internal.", TYPE.A, CLASS.IN, 300, "10.77.0.5"],
      ["5.0.77.10.in-addr.arpa.", TYPE.PTR, CLASS.NONE, 0, "n.lab.internal."],
    ]);
  });

  it("reads compressed names in answers and SOA data", () => {
    const { wire } = signedRequest(OPCODE.QUERY, "node1.lab.internal.", TYPE.A);
    const m = decodeMessage(compressedAnswer(wire));
    expect(m.answers[0]).toMatchObject({
      name: "node1.lab.internal.",
      type: TYPE.A,
      ttl: 300,
      data: "10.77.0.5",
    });
    expect(m.authority[0]?.name).toBe("lab.internal.");
    expect(m.authority[0]?.data as Soa).toEqual({
      mname: "ns.lab.internal.",
      rname: "hostmaster.lab.internal.",
      serial: 7,
      refresh: 3600,
      retry: 600,
      expire: 86400,
      minimum: 60,
    });
    expect(m.tsig?.data.originalId).toBe(m.id);
  });

  const names: { name: string; bytes: number[]; at: number; expect: string | LabCode }[] = [
    { name: "a plain name", bytes: [1, 97, 1, 98, 0], at: 0, expect: "a.b." },
    { name: "the root", bytes: [0], at: 0, expect: "." },
    { name: "a backwards pointer", bytes: [1, 97, 0, 1, 98, 0xc0, 0], at: 3, expect: "b.a." },
    { name: "odd bytes, escaped", bytes: [3, 0x2e, 0x20, 0x5c, 0], at: 0, expect: "\\.\\032\\\\." },
    { name: "a pointer to itself", bytes: [0xc0, 0], at: 0, expect: "LAB_E_DNS_BAD_RESPONSE" },
    { name: "a forward pointer", bytes: [0xc0, 2, 0], at: 0, expect: "LAB_E_DNS_BAD_RESPONSE" },
    {
      name: "a pointer loop through labels",
      bytes: [1, 97, 0xc0, 0],
      at: 0,
      expect: "LAB_E_DNS_BAD_RESPONSE",
    },
    { name: "two pointers in a cycle", bytes: [0xc0, 2, 0xc0, 0], at: 2, expect: "LAB_E_DNS_BAD_RESPONSE" },
    { name: "a pointer cut in half", bytes: [1, 97, 0xc0], at: 0, expect: "LAB_E_DNS_BAD_RESPONSE" },
    { name: "a label past the end", bytes: [5, 97, 98], at: 0, expect: "LAB_E_DNS_BAD_RESPONSE" },
    { name: "no terminating zero", bytes: [1, 97], at: 0, expect: "LAB_E_DNS_BAD_RESPONSE" },
    { name: "a reserved label type", bytes: [0x41, 97, 0], at: 0, expect: "LAB_E_DNS_BAD_RESPONSE" },
    {
      name: "a name over 255 octets",
      bytes: [...Array.from({ length: 5 }, () => [63, ...Array(63).fill(97)]).flat(), 0],
      at: 0,
      expect: "LAB_E_DNS_BAD_RESPONSE",
    },
  ];
  for (const n of names) {
    it(`decodes ${n.name}`, () => {
      let got: string;
      try {
        got = decodeName(Buffer.from(n.bytes), n.at).name;
      } catch (e) {
        got = isLabError(e) ? e.code : `not a LabError: ${String(e)}`;
      }
      expect(got).toBe(n.expect);
    });
  }

  const valid = () =>
    encodeMessage({ id: 1, opcode: 0, qr: true, questions: [{ name: "a.", type: 1, class: 1 }] });
  const messages: { name: string; wire: () => Buffer }[] = [
    { name: "an empty datagram", wire: () => Buffer.alloc(0) },
    { name: "a short header", wire: () => Buffer.alloc(11) },
    {
      name: "counts larger than the message",
      wire: () => {
        const b = Buffer.from(valid());
        b.writeUInt16BE(60_000, 6);
        return b;
      },
    },
    { name: "trailing bytes", wire: () => Buffer.concat([valid(), Buffer.from([0])]) },
    { name: "a cut question", wire: () => valid().subarray(0, valid().length - 1) },
    {
      name: "an A record with 5 bytes",
      wire: () =>
        encodeMessage({
          id: 1,
          opcode: 0,
          questions: [],
          answers: [{ name: "a.", type: TYPE.A, class: 1, ttl: 1, rdata: Buffer.alloc(5) }],
        }),
    },
    {
      name: "a PTR with bytes after the name",
      wire: () =>
        encodeMessage({
          id: 1,
          opcode: 0,
          questions: [],
          answers: [{ name: "a.", type: TYPE.PTR, class: 1, ttl: 1, rdata: Buffer.from([1, 97, 0, 9]) }],
        }),
    },
    {
      name: "a TSIG that is not last",
      wire: () => {
        const signed = tsigSign(valid(), KEY).wire;
        const extra = encodeMessage({
          id: 0,
          opcode: 0,
          questions: [],
          answers: [{ name: "b.", type: TYPE.A, class: 1, ttl: 1, rdata: aRdata("1.2.3.4") }],
        }).subarray(12);
        const b = Buffer.concat([signed, extra]);
        b.writeUInt16BE(2, 10);
        return b;
      },
    },
    {
      name: "a TSIG in the answer section",
      wire: () => {
        const b = Buffer.from(tsigSign(valid(), KEY).wire);
        b.writeUInt16BE(1, 6);
        b.writeUInt16BE(0, 10);
        return b;
      },
    },
  ];
  for (const m of messages) {
    it(`rejects ${m.name} with LAB_E_DNS_BAD_RESPONSE`, () => {
      expect(codeOf(() => decodeMessage(m.wire()))).toBe("LAB_E_DNS_BAD_RESPONSE");
    });
  }
});

describe("TSIG", () => {
  it("verifies a response signed over the request MAC", () => {
    const { wire, req } = signedRequest(OPCODE.UPDATE, "lab.internal.", TYPE.SOA);
    const resp = answer(wire);
    expect(tsigVerifyResponse(resp, decodeMessage(resp), KEY, req.mac)).toEqual({ ok: true });
  });

  it("rejects a response whose MAC covers another request", () => {
    const { wire } = signedRequest(OPCODE.UPDATE, "lab.internal.", TYPE.SOA);
    const resp = answer(wire);
    const otherMac = signedRequest(OPCODE.UPDATE, "lab.internal.", TYPE.SOA, 99).req.mac;
    expect(tsigVerifyResponse(resp, decodeMessage(resp), KEY, otherMac)).toMatchObject({ ok: false });
  });

  it("rejects a response with one flipped bit in the signed part", () => {
    const { wire, req } = signedRequest(OPCODE.UPDATE, "lab.internal.", TYPE.SOA);
    const resp = Buffer.from(answer(wire));
    resp[3] = (resp[3] ?? 0) ^ 0x01; // rcode NOERROR → FORMERR
    expect(tsigVerifyResponse(resp, decodeMessage(resp), KEY, req.mac)).toEqual({
      ok: false,
      reason: "the response signature does not verify",
    });
  });

  it("says BADTIME when a valid signature is too old", () => {
    const { wire, req } = signedRequest(OPCODE.UPDATE, "lab.internal.", TYPE.SOA);
    const resp = answer(wire, { time: Math.floor(Date.now() / 1000) - 3600 });
    expect(codeOf(() => tsigVerifyResponse(resp, decodeMessage(resp), KEY, req.mac))).toBe(
      "LAB_E_DNS_BADTIME",
    );
  });

  it("refuses keys it cannot use", () => {
    const bad: TsigKey[] = [
      { ...KEY, secret: "not base64!" },
      { ...KEY, name: "bad key" },
      { ...KEY, algorithm: "hmac-md5" as never },
    ];
    for (const k of bad)
      expect(codeOf(() => tsigSign(encodeMessage({ id: 1, opcode: 0, questions: [] }), k))).toBe(
        "LAB_E_DNS_INVALID",
      );
  });
});

describe("checkResponse", () => {
  const cases: {
    name: string;
    opcode?: number;
    make: (request: Buffer) => Buffer;
    kind: "ok" | "error" | "truncated" | "ignore";
    code?: LabCode;
    message?: RegExp;
  }[] = [
    { name: "a signed NOERROR", make: (r) => answer(r), kind: "ok" },
    {
      name: "a signed NXDOMAIN to a query",
      opcode: OPCODE.QUERY,
      make: (r) => answer(r, { rcode: RCODE.NXDOMAIN }),
      kind: "ok",
    },
    {
      name: "a truncated datagram",
      make: (r) => answer(r).subarray(0, 30),
      kind: "ignore",
      code: "LAB_E_DNS_BAD_RESPONSE",
    },
    {
      name: "a wrong id",
      make: (r) => answer(r, { id: 0x4321 }),
      kind: "ignore",
      code: "LAB_E_DNS_BAD_RESPONSE",
    },
    {
      name: "a request echoed back",
      make: (r) => answer(r, { qr: false }),
      kind: "ignore",
      code: "LAB_E_DNS_BAD_RESPONSE",
    },
    { name: "the TC flag", make: (r) => answer(r, { tc: true, sign: "none" }), kind: "truncated" },
    {
      name: "a NOERROR signed with another key",
      make: (r) => answer(r, { sign: "wrong-key" }),
      kind: "ignore",
      code: "LAB_E_DNS_TSIG",
      message: /signature does not verify/,
    },
    {
      name: "an unsigned NOERROR",
      make: (r) => answer(r, { sign: "none" }),
      kind: "ignore",
      code: "LAB_E_DNS_TSIG",
      message: /not signed/,
    },
    {
      name: "a signed REFUSED",
      make: (r) => answer(r, { rcode: RCODE.REFUSED }),
      kind: "error",
      code: "LAB_E_DNS_REFUSED",
      message: /allow-update \{ key "lab-key"; \}/,
    },
    {
      name: "an unsigned REFUSED",
      make: (r) => answer(r, { rcode: RCODE.REFUSED, sign: "none" }),
      kind: "error",
      code: "LAB_E_DNS_REFUSED",
    },
    {
      name: "a signed NOTAUTH",
      make: (r) => answer(r, { rcode: RCODE.NOTAUTH }),
      kind: "error",
      code: "LAB_E_DNS_NOTAUTH",
    },
    {
      name: "a NOTZONE",
      make: (r) => answer(r, { rcode: RCODE.NOTZONE }),
      kind: "error",
      code: "LAB_E_DNS_NOTAUTH",
    },
    {
      name: "NOTAUTH with TSIG error BADSIG",
      make: (r) => answer(r, { rcode: RCODE.NOTAUTH, tsigError: TSIG_ERROR.BADSIG }),
      kind: "error",
      code: "LAB_E_DNS_TSIG",
      message: /does not match/,
    },
    {
      name: "NOTAUTH with TSIG error BADKEY",
      make: (r) => answer(r, { rcode: RCODE.NOTAUTH, tsigError: TSIG_ERROR.BADKEY }),
      kind: "error",
      code: "LAB_E_DNS_TSIG",
      message: /does not know key lab-key/,
    },
    {
      name: "a signed answer from a skewed clock",
      make: (r) => answer(r, { time: Math.floor(Date.now() / 1000) + 7200 }),
      kind: "error",
      code: "LAB_E_DNS_BADTIME",
    },
    {
      name: "SERVFAIL",
      make: (r) => answer(r, { rcode: RCODE.SERVFAIL }),
      kind: "error",
      code: "LAB_E_DNS_FAILED",
    },
    {
      name: "NOTIMP",
      make: (r) => answer(r, { rcode: RCODE.NOTIMP }),
      kind: "error",
      code: "LAB_E_DNS_FAILED",
    },
    {
      name: "an NXDOMAIN to an update",
      make: (r) => answer(r, { rcode: RCODE.NXDOMAIN }),
      kind: "error",
      code: "LAB_E_DNS_FAILED",
    },
  ];
  for (const c of cases) {
    it(`judges ${c.name}: ${c.kind}${c.code ? ` ${c.code}` : ""}`, () => {
      const opcode = c.opcode ?? OPCODE.UPDATE;
      const { wire, req } = signedRequest(
        opcode,
        opcode === OPCODE.UPDATE ? "lab.internal." : "n.lab.internal.",
        opcode === OPCODE.UPDATE ? TYPE.SOA : TYPE.A,
      );
      const got = checkResponse(req, c.make(wire));
      expect(got.kind).toBe(c.kind);
      if ("error" in got) {
        expect(got.error.code).toBe(c.code);
        if (c.message) expect(got.error.message).toMatch(c.message);
      }
    });
  }

  it("accepts a compressed, signed answer", () => {
    const { wire, req } = signedRequest(OPCODE.QUERY, "node1.lab.internal.", TYPE.A);
    const got = checkResponse(req, compressedAnswer(wire));
    expect(got.kind).toBe("ok");
  });

  it("throws nothing but LabError for 12,000 mutated responses", () => {
    const seeds = [
      (() => {
        const { wire, req } = signedRequest(OPCODE.QUERY, "node1.lab.internal.", TYPE.A);
        return { req, resp: compressedAnswer(wire) };
      })(),
      (() => {
        const { wire, req } = signedRequest(OPCODE.UPDATE, "lab.internal.", TYPE.SOA);
        return { req, resp: answer(wire) };
      })(),
      (() => {
        const { wire, req } = signedRequest(OPCODE.UPDATE, "lab.internal.", TYPE.SOA);
        return { req, resp: answer(wire, { rcode: RCODE.NOTAUTH, tsigError: TSIG_ERROR.BADSIG }) };
      })(),
    ];
    const kinds: Record<string, number> = { ok: 0, error: 0, truncated: 0, ignore: 0 };
    let seen = 0;
    for (let i = 0; i < 12_000; i++) {
      const seed = seeds[i % seeds.length] as (typeof seeds)[number];
      let b = Buffer.from(seed.resp);
      const r = randomBytes(8);
      switch (i % 5) {
        case 0: // flip random bytes
          for (let f = 0; f <= (r[0] ?? 0) % 4; f++)
            b[r.readUInt16BE(2 + (f % 3)) % b.length] = r[(f + 5) % 8] ?? 0;
          break;
        case 1: // truncate
          b = b.subarray(0, r.readUInt16BE(0) % b.length);
          break;
        case 2: // corrupt a count or length field in the first 40 bytes
          b[4 + ((r[0] ?? 0) % 36)] = r[1] ?? 0;
          break;
        case 3: // insert garbage
          {
            const at = r.readUInt16BE(0) % b.length;
            b = Buffer.concat([b.subarray(0, at), randomBytes(1 + ((r[2] ?? 0) % 8)), b.subarray(at)]);
          }
          break;
        default: {
          // plant a compression pointer anywhere
          const at = 12 + (r.readUInt16BE(0) % (b.length - 13));
          b[at] = 0xc0 | ((r[2] ?? 0) & 0x3f);
          b[at + 1] = r[3] ?? 0;
        }
      }
      try {
        decodeMessage(b);
      } catch (e) {
        if (!isLabError(e)) throw e;
      }
      const got = checkResponse(seed.req, b);
      kinds[got.kind] = (kinds[got.kind] ?? 0) + 1;
      seen++;
    }
    expect(seen).toBe(12_000);
    // Mutations of signed bytes must never pass as a verified success.
    expect(kinds.ignore).toBeGreaterThan(9000);
  });
});

describe("names and addresses", () => {
  const hosts: { input: string; expect: string }[] = [
    { input: "node1", expect: "node1.lab.internal." },
    { input: "Node1.Lab.Internal", expect: "node1.lab.internal." },
    { input: "node1.lab.internal.", expect: "node1.lab.internal." },
    { input: "a.b", expect: "a.b.lab.internal." },
    { input: "", expect: "LAB_E_DNS_INVALID" },
    { input: "-bad", expect: "LAB_E_DNS_INVALID" },
    { input: "under_score", expect: "LAB_E_DNS_INVALID" },
    { input: "a..b", expect: "LAB_E_DNS_INVALID" },
    { input: "x".repeat(64), expect: "LAB_E_DNS_INVALID" },
    { input: "host.example.org.", expect: "LAB_E_DNS_INVALID" },
    { input: "lab.internal.", expect: "LAB_E_DNS_INVALID" },
  ];
  for (const h of hosts) {
    it(`qualifies ${JSON.stringify(h.input)} as ${h.expect}`, () => {
      let got: string;
      try {
        got = qualifyHost(h.input, "lab.internal");
      } catch (e) {
        got = isLabError(e) ? e.code : String(e);
      }
      expect(got).toBe(h.expect);
    });
  }

  const networks: [string, string][] = [
    ["10.77.0.0/16", "77.10.in-addr.arpa"],
    ["10.0.0.0/8", "10.in-addr.arpa"],
    ["192.0.2.0/24", "2.0.192.in-addr.arpa"],
    ["10.77.16.0/20", "77.10.in-addr.arpa"],
    ["192.0.2.64/26", "2.0.192.in-addr.arpa"],
    ["10.0.0.0/4", "LAB_E_DNS_INVALID"],
    ["10.77.0.0", "LAB_E_DNS_INVALID"],
    ["300.1.1.1/16", "LAB_E_DNS_INVALID"],
  ];
  for (const [cidr, zone] of networks) {
    it(`derives the reverse zone of ${cidr}: ${zone}`, () => {
      let got: string;
      try {
        got = reverseZoneFor(cidr);
      } catch (e) {
        got = isLabError(e) ? e.code : String(e);
      }
      expect(got).toBe(zone);
    });
  }

  it("writes reverse names and refuses odd addresses", () => {
    expect(reverseName("10.77.0.5")).toBe("5.0.77.10.in-addr.arpa.");
    for (const ip of ["10.77.0", "10.77.0.256", "010.77.0.5", "::1", " 10.77.0.5"]) {
      expect(codeOf(() => checkIpv4(ip))).toBe("LAB_E_DNS_INVALID");
    }
  });

  const configs: { name: string; opts: Partial<Rfc2136Options> }[] = [
    { name: "a host name as server", opts: { server: "ns.example" } },
    { name: "port 0", opts: { port: 0 } },
    { name: "a bad zone", opts: { zone: "lab..internal" } },
    { name: "a reverse zone outside in-addr.arpa", opts: { reverseZone: "lab.internal" } },
    { name: "a negative TTL", opts: { ttl: -1 } },
    { name: "a key with a bad secret", opts: { key: { ...KEY, secret: "%%%" } } },
  ];
  for (const c of configs) {
    it(`refuses a registrar with ${c.name}`, () => {
      const base: Rfc2136Options = {
        server: "127.0.0.1",
        zone: "lab.internal",
        network: "10.77.0.0/16",
        key: KEY,
      };
      expect(codeOf(() => new Rfc2136Registrar({ ...base, ...c.opts }))).toBe("LAB_E_DNS_INVALID");
    });
  }
});

/**
 * A fake DNS server on loopback (UDP and TCP on one port) whose answers the test scripts:
 * `udp(request, n)` returns the datagrams to send for the n-th UDP request.
 */
async function fakeServer(script: {
  udp: (request: Buffer, n: number) => Buffer[];
  tcp?: (request: Buffer) => Buffer;
}): Promise<{ port: number; udpRequests: number; close(): Promise<void> }> {
  const tcp = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const out = script.tcp?.(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        if (out) {
          const len = Buffer.alloc(2);
          len.writeUInt16BE(out.length);
          sock.end(Buffer.concat([len, out]));
        } else sock.end();
      }
    });
    sock.on("error", () => undefined);
  });
  await new Promise<void>((r) => tcp.listen(0, "127.0.0.1", r));
  const port = (tcp.address() as net.AddressInfo).port;
  const udp = dgram.createSocket("udp4");
  await new Promise<void>((r) => udp.bind(port, "127.0.0.1", r));
  const state = { port, udpRequests: 0, close: async () => {} };
  udp.on("message", (msg, rinfo) => {
    const n = state.udpRequests++;
    for (const out of script.udp(msg, n)) udp.send(out, rinfo.port, rinfo.address);
  });
  state.close = async () => {
    await new Promise<void>((r) => udp.close(() => r()));
    await new Promise<void>((r) => tcp.close(() => r()));
  };
  return state;
}

function registrarAt(port: number, extra: Partial<Rfc2136Options> = {}): Rfc2136Registrar {
  return new Rfc2136Registrar({
    server: "127.0.0.1",
    port,
    zone: "lab.internal",
    network: "10.77.0.0/16",
    key: KEY,
    timeoutMs: 300,
    retries: 1,
    ...extra,
  });
}

const A_ANSWER = (ip: string) => [
  { name: "n.lab.internal.", type: TYPE.A, class: CLASS.IN, ttl: 60, rdata: aRdata(ip) },
];

describe("transport (fake server on loopback)", () => {
  it("asks again over TCP when the UDP answer is truncated", async () => {
    const srv = await fakeServer({
      udp: (req) => [answer(req, { tc: true, sign: "none" })],
      tcp: (req) => answer(req, { answers: A_ANSWER("10.77.0.9") }),
    });
    try {
      expect(await registrarAt(srv.port).lookup("n")).toEqual(["10.77.0.9"]);
    } finally {
      await srv.close();
    }
  });

  it("ignores an answer with the wrong id and takes the right one", async () => {
    const srv = await fakeServer({
      udp: (req) => [
        answer(req, { id: (decodeMessage(req).id + 1) & 0xffff }),
        answer(req, { answers: A_ANSWER("10.77.0.8") }),
      ],
    });
    try {
      expect(await registrarAt(srv.port).lookup("n")).toEqual(["10.77.0.8"]);
    } finally {
      await srv.close();
    }
  });

  it("resends after silence and gets the answer to the second try", async () => {
    const srv = await fakeServer({
      udp: (req, n) => (n === 0 ? [] : [answer(req, { answers: A_ANSWER("10.77.0.7") })]),
    });
    try {
      expect(await registrarAt(srv.port).lookup("n")).toEqual(["10.77.0.7"]);
      expect(srv.udpRequests).toBe(2);
    } finally {
      await srv.close();
    }
  });

  it("times out after the tries with a message that names the server", async () => {
    const srv = await fakeServer({ udp: () => [] });
    try {
      const e = await errorOf(registrarAt(srv.port, { retries: 2 }).lookup("n"));
      expect(e.code).toBe("LAB_E_DNS_TIMEOUT");
      expect(e.message).toContain(`is named running on 127.0.0.1:${srv.port}?`);
      expect(srv.udpRequests).toBe(3);
    } finally {
      await srv.close();
    }
  });

  it("reports a badly signed answer as a TSIG problem, not a timeout", async () => {
    const srv = await fakeServer({
      udp: (req) => [answer(req, { sign: "wrong-key", answers: A_ANSWER("10.77.0.6") })],
    });
    try {
      expect(await codeOfAsync(registrarAt(srv.port).lookup("n"))).toBe("LAB_E_DNS_TSIG");
    } finally {
      await srv.close();
    }
  });

  it("reports garbage answers as a bad response", async () => {
    const srv = await fakeServer({ udp: () => [Buffer.from("HTTP/1.1 400 Bad Request\r\n\r\n")] });
    try {
      expect(await codeOfAsync(registrarAt(srv.port).lookup("n"))).toBe("LAB_E_DNS_BAD_RESPONSE");
    } finally {
      await srv.close();
    }
  });

  it("refuses work beyond 1024 queued changes instead of queueing without bound", async () => {
    const srv = await fakeServer({ udp: () => [] });
    try {
      const reg = registrarAt(srv.port, { timeoutMs: 1, retries: 0 });
      const queued = Array.from({ length: 1024 }, () => codeOfAsync(reg.lookup("n")));
      expect(await codeOfAsync(reg.lookup("n"))).toBe("LAB_E_DNS_FAILED");
      expect(new Set(await Promise.all(queued))).toEqual(new Set(["LAB_E_DNS_TIMEOUT"]));
    } finally {
      await srv.close();
    }
  });

  it("says nothing listens when the port is closed", async () => {
    const srv = await fakeServer({ udp: () => [] });
    const port = srv.port;
    await srv.close();
    const e = await errorOf(registrarAt(port).lookup("n"));
    expect(e.code).toBe("LAB_E_DNS_TIMEOUT");
    expect(e.message).toContain(`is named running on 127.0.0.1:${port}?`);
  });
});

describe("against real BIND 9 (named)", () => {
  const ZONE = "lab.internal";
  const REVERSE = "77.10.in-addr.arpa";
  let bind: Bind;
  let reg: Rfc2136Registrar;

  beforeAll(async () => {
    bind = await startBind({
      zone: ZONE,
      reverseZone: REVERSE,
      keyName: KEY.name,
      secret: KEY.secret,
      extraZones: [{ name: "locked.internal", allowUpdate: false }],
    });
    reg = new Rfc2136Registrar({
      server: "127.0.0.1",
      port: bind.port,
      zone: ZONE,
      network: "10.77.0.0/16",
      key: KEY,
      ttl: 120,
    });
  });

  afterAll(async () => {
    await bind?.stop();
    await stopAllBind();
  });

  const state = async (name: string, ip: string) => ({
    a: await bind.dig(`${name}.${ZONE}`, "A"),
    ptr: await bind.dig(reverseName(ip), "PTR"),
  });

  it("creates the A and the PTR record", async () => {
    // What the registrar says it set (and enrolment records) is what BIND now serves.
    expect(await reg.upsertHost("node1", "10.77.0.5")).toEqual({
      fqdn: "node1.lab.internal.",
      ptr: "5.0.77.10.in-addr.arpa.",
    });
    expect(await state("node1", "10.77.0.5")).toEqual({ a: ["10.77.0.5"], ptr: ["node1.lab.internal."] });
    expect(await reg.lookup("node1")).toEqual(["10.77.0.5"]);
  });

  it("moves both records to a new address and drops the old PTR", async () => {
    await reg.upsertHost("node1.lab.internal", "10.77.1.6");
    expect(await state("node1", "10.77.1.6")).toEqual({ a: ["10.77.1.6"], ptr: ["node1.lab.internal."] });
    expect(await bind.dig(reverseName("10.77.0.5"), "PTR")).toEqual([]);
  });

  it("is idempotent for the same address", async () => {
    await reg.upsertHost("node1", "10.77.1.6");
    await reg.upsertHost("node1", "10.77.1.6");
    expect(await state("node1", "10.77.1.6")).toEqual({ a: ["10.77.1.6"], ptr: ["node1.lab.internal."] });
  });

  it("removes both records", async () => {
    await reg.removeHost("node1");
    expect(await state("node1", "10.77.1.6")).toEqual({ a: [], ptr: [] });
    expect(await reg.lookup("node1")).toEqual([]);
  });

  it("takes over an address from another host without deleting that host's name", async () => {
    await reg.upsertHost("old", "10.77.2.10");
    await reg.upsertHost("new", "10.77.2.10");
    expect(await bind.dig(reverseName("10.77.2.10"), "PTR")).toEqual(["new.lab.internal."]);
    // Removing the old host must not take the new owner's PTR with it.
    await reg.removeHost("old");
    expect(await bind.dig(reverseName("10.77.2.10"), "PTR")).toEqual(["new.lab.internal."]);
    expect(await bind.dig(`old.${ZONE}`, "A")).toEqual([]);
    await reg.removeHost("new");
  });

  it("writes no PTR for an address outside the reverse zone", async () => {
    expect(await reg.upsertHost("outside", "10.99.0.5")).toEqual({
      fqdn: "outside.lab.internal.",
      ptr: null,
    });
    expect(await bind.dig(`outside.${ZONE}`, "A")).toEqual(["10.99.0.5"]);
    await reg.removeHost("outside");
    expect(await bind.dig(`outside.${ZONE}`, "A")).toEqual([]);
  });

  it("is refused with a wrong TSIG secret and changes nothing", async () => {
    await reg.upsertHost("keep", "10.77.3.3");
    const wrong = new Rfc2136Registrar({
      server: "127.0.0.1",
      port: bind.port,
      zone: ZONE,
      network: "10.77.0.0/16",
      key: WRONG,
    });
    const e = await errorOf(wrong.upsertHost("keep", "10.77.3.4"));
    expect(e.code).toBe("LAB_E_DNS_TSIG");
    expect(e.message).toMatch(/BADSIG.*the TSIG key does not match the server's/);
    expect(await codeOfAsync(wrong.removeHost("keep"))).toBe("LAB_E_DNS_TSIG");
    expect(await state("keep", "10.77.3.3")).toEqual({ a: ["10.77.3.3"], ptr: ["keep.lab.internal."] });
    expect(await bind.dig(reverseName("10.77.3.4"), "PTR")).toEqual([]);
  });

  it("is refused with a key name the server does not know", async () => {
    const unknown = new Rfc2136Registrar({
      server: "127.0.0.1",
      port: bind.port,
      zone: ZONE,
      key: { ...KEY, name: "who-is-this" },
    });
    const e = await errorOf(unknown.upsertHost("x", "10.77.3.5"));
    expect(e.code).toBe("LAB_E_DNS_TSIG");
    expect(e.message).toContain("BADKEY");
  });

  it("says REFUSED and what to add to named.conf when the zone does not allow the key", async () => {
    const locked = new Rfc2136Registrar({
      server: "127.0.0.1",
      port: bind.port,
      zone: "locked.internal",
      key: KEY,
    });
    const e = await errorOf(locked.upsertHost("x", "10.77.3.6"));
    expect(e.code).toBe("LAB_E_DNS_REFUSED");
    expect(e.message).toContain('allow-update { key "lab-key"; }');
    expect(e.message).toContain('zone "locked.internal"');
    expect(await bind.dig("x.locked.internal", "A")).toEqual([]);
  });

  it("says NOTAUTH for a zone the server does not serve", async () => {
    // Queries for names in lab.internal are answered, but sub.lab.internal is no zone of its own.
    const sub = new Rfc2136Registrar({
      server: "127.0.0.1",
      port: bind.port,
      zone: "sub.lab.internal",
      key: KEY,
    });
    const e = await errorOf(sub.upsertHost("x", "10.77.3.7"));
    expect(e.code).toBe("LAB_E_DNS_NOTAUTH");
    expect(e.message).toContain("NOTAUTH");
    // A zone wholly unknown to the server is refused already at the lookup.
    const elsewhere = new Rfc2136Registrar({
      server: "127.0.0.1",
      port: bind.port,
      zone: "elsewhere.example",
      key: KEY,
    });
    expect(await codeOfAsync(elsewhere.upsertHost("x", "10.77.3.7"))).toBe("LAB_E_DNS_NOTAUTH");
  });

  it("removes what nsupdate added, and replaces nsupdate's extra addresses", async () => {
    await bind.nsupdate(
      [
        `zone ${ZONE}`,
        `update add legacy.${ZONE} 300 A 10.77.4.1`,
        `update add legacy.${ZONE} 300 A 10.77.4.2`,
        "send",
        `zone ${REVERSE}`,
        `update add ${reverseName("10.77.4.1")} 300 PTR legacy.${ZONE}.`,
        `update add ${reverseName("10.77.4.2")} 300 PTR legacy.${ZONE}.`,
      ].join("\n"),
    );
    expect((await bind.dig(`legacy.${ZONE}`, "A")).sort()).toEqual(["10.77.4.1", "10.77.4.2"]);
    await reg.upsertHost("legacy", "10.77.4.2");
    expect(await state("legacy", "10.77.4.2")).toEqual({ a: ["10.77.4.2"], ptr: ["legacy.lab.internal."] });
    expect(await bind.dig(reverseName("10.77.4.1"), "PTR")).toEqual([]);

    await bind.nsupdate(
      [
        `zone ${ZONE}`,
        `update add plain.${ZONE} 300 A 10.77.4.3`,
        "send",
        `zone ${REVERSE}`,
        `update add ${reverseName("10.77.4.3")} 300 PTR plain.${ZONE}.`,
      ].join("\n"),
    );
    await reg.removeHost("plain");
    expect(await state("plain", "10.77.4.3")).toEqual({ a: [], ptr: [] });
  });

  it("lets nsupdate see what the registrar wrote (same key, same zone)", async () => {
    await reg.upsertHost("shared", "10.77.5.1");
    // nsupdate's prerequisite check passes only if the record is exactly there.
    await bind.nsupdate(
      [`zone ${ZONE}`, `prereq yxrrset shared.${ZONE} A 10.77.5.1`, `update delete shared.${ZONE} A`].join(
        "\n",
      ),
    );
    expect(await bind.dig(`shared.${ZONE}`, "A")).toEqual([]);
  });

  it("times out with a message naming the server when named is not there", async () => {
    const gone = registrarAt(1, { retries: 0, timeoutMs: 200 });
    const e = await errorOf(gone.upsertHost("x", "10.77.9.9"));
    expect(e.code).toBe("LAB_E_DNS_TIMEOUT");
    expect(e.message).toContain("is named running on 127.0.0.1:1?");
  });
});
