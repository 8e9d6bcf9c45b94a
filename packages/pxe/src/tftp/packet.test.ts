import { isLabError } from "@lab/core";
import { describe, expect, it } from "vitest";
import { negotiate } from "./options.js";
import {
  encodeAck,
  encodeData,
  encodeError,
  encodeOack,
  encodeRequest,
  parseTftp,
  type TftpPacket,
} from "./packet.js";
import { checkTftpName } from "./path.js";

const b = (...parts: (number[] | string)[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "latin1") : Buffer.from(p))));

describe("parseTftp", () => {
  const good: [string, Buffer, TftpPacket][] = [
    [
      "RRQ without options",
      b([0, 1], "boot.efi\0octet\0"),
      { op: "rrq", filename: "boot.efi", mode: "octet", options: new Map() },
    ],
    [
      "RRQ with options, names lower-cased, mode lower-cased",
      b([0, 1], "a\0OCTET\0BlkSize\x001468\0tsize\x000\0windowsize\x008\0"),
      {
        op: "rrq",
        filename: "a",
        mode: "octet",
        options: new Map([
          ["blksize", "1468"],
          ["tsize", "0"],
          ["windowsize", "8"],
        ]),
      },
    ],
    [
      "RRQ padded with trailing NULs",
      b([0, 1], "a\0octet\0\0\0\0"),
      { op: "rrq", filename: "a", mode: "octet", options: new Map() },
    ],
    [
      "repeated option: the first wins",
      b([0, 1], "a\0octet\0blksize\x00100\0blksize\x00200\0"),
      { op: "rrq", filename: "a", mode: "octet", options: new Map([["blksize", "100"]]) },
    ],
    ["WRQ", b([0, 2], "up\0netascii\0"), { op: "wrq", filename: "up", mode: "netascii", options: new Map() }],
    ["DATA", b([0, 3, 0x12, 0x34], "xyz"), { op: "data", block: 0x1234, data: Buffer.from("xyz") }],
    ["empty DATA", b([0, 3, 0, 1]), { op: "data", block: 1, data: Buffer.alloc(0) }],
    ["ACK", b([0, 4, 0xff, 0xff]), { op: "ack", block: 65535 }],
    ["ERROR", b([0, 5, 0, 1], "nope\0"), { op: "error", code: 1, message: "nope" }],
    ["ERROR without its NUL", b([0, 5, 0, 8], "opt"), { op: "error", code: 8, message: "opt" }],
    ["ERROR with no message", b([0, 5, 0, 0]), { op: "error", code: 0, message: "" }],
    ["OACK", b([0, 6], "blksize\x001468\0"), { op: "oack", options: new Map([["blksize", "1468"]]) }],
  ];
  for (const [name, buf, want] of good) {
    it(`parses ${name}`, () => {
      expect(parseTftp(buf)).toEqual(want);
    });
  }

  const bad: [string, Buffer][] = [
    ["empty datagram", b([])],
    ["one byte", b([0])],
    ["opcode 0", b([0, 0, 1, 2])],
    ["opcode 7", b([0, 7], "x\0")],
    ["opcode 0xffff", b([0xff, 0xff])],
    ["RRQ without a name", b([0, 1])],
    ["RRQ with an empty name", b([0, 1], "\0octet\0")],
    ["RRQ without mode", b([0, 1], "file\0")],
    ["RRQ with unterminated mode", b([0, 1], "file\0oct")],
    ["RRQ with unterminated name", b([0, 1], "file")],
    ["RRQ option without value", b([0, 1], "f\0octet\0blksize\0")],
    ["RRQ with an overlong name", b([0, 1], `${"a".repeat(2000)}\0octet\0`)],
    ["RRQ with options after an empty name", b([0, 1], "f\0octet\0\0\0tsize\x000\0")],
    [
      "RRQ with too many options",
      b([0, 1], "f\0octet\0", ...Array.from({ length: 40 }, (_, i) => `o${i}\x001\0`)),
    ],
    ["short DATA", b([0, 3, 0])],
    ["short ACK", b([0, 4, 1])],
    ["short ERROR", b([0, 5, 0])],
    ["OACK with a dangling name", b([0, 6], "blksize\0")],
  ];
  for (const [name, buf] of bad) {
    it(`throws LAB_E_TFTP_MALFORMED for ${name}`, () => {
      let caught: unknown;
      try {
        parseTftp(buf);
      } catch (e) {
        caught = e;
      }
      expect(isLabError(caught) && caught.code).toBe("LAB_E_TFTP_MALFORMED");
    });
  }
});

describe("encoders", () => {
  it("round-trips every packet type through parseTftp", () => {
    const req = encodeRequest("rrq", "pxe/grubx64.efi", "octet", [
      ["blksize", "1468"],
      ["tsize", "0"],
    ]);
    expect(parseTftp(req)).toEqual({
      op: "rrq",
      filename: "pxe/grubx64.efi",
      mode: "octet",
      options: new Map([
        ["blksize", "1468"],
        ["tsize", "0"],
      ]),
    });
    expect(parseTftp(encodeData(70000, Buffer.from("ab")))).toEqual({
      op: "data",
      block: 70000 & 0xffff,
      data: Buffer.from("ab"),
    });
    expect(parseTftp(encodeAck(65536))).toEqual({ op: "ack", block: 0 });
    expect(parseTftp(encodeError(2, "access violation"))).toEqual({
      op: "error",
      code: 2,
      message: "access violation",
    });
    expect(parseTftp(encodeOack([["tsize", "850528"]]))).toEqual({
      op: "oack",
      options: new Map([["tsize", "850528"]]),
    });
  });

  it("writes the exact bytes of RFC 1350 packets", () => {
    expect([...encodeAck(258)]).toEqual([0, 4, 1, 2]);
    expect([...encodeError(1, "x")]).toEqual([0, 5, 0, 1, 0x78, 0]);
    expect([...encodeData(1, Buffer.from([9]))]).toEqual([0, 3, 0, 1, 9]);
  });
});

describe("negotiate", () => {
  const limits = { maxBlksize: 65464, maxWindowsize: 64, defaultTimeoutMs: 1000 };
  const cases: [string, [string, string][], number, Partial<ReturnType<typeof negotiate>>][] = [
    [
      "no options: RFC 1350 defaults, no OACK",
      [],
      100,
      { blksize: 512, windowsize: 1, timeoutMs: 1000, oack: [] },
    ],
    [
      "all options accepted in request order, tsize answers the real size",
      [
        ["tsize", "0"],
        ["blksize", "1468"],
        ["timeout", "3"],
        ["windowsize", "8"],
      ],
      850528,
      {
        blksize: 1468,
        windowsize: 8,
        timeoutMs: 3000,
        oack: [
          ["tsize", "850528"],
          ["blksize", "1468"],
          ["timeout", "3"],
          ["windowsize", "8"],
        ],
      },
    ],
    [
      "blksize clamped to the RFC maximum",
      [["blksize", "99999"]],
      1,
      { blksize: 65464, oack: [["blksize", "65464"]] },
    ],
    ["blksize below 8 ignored", [["blksize", "4"]], 1, { blksize: 512, oack: [] }],
    ["non-numeric value ignored", [["blksize", "12ab"]], 1, { blksize: 512, oack: [] }],
    ["timeout 0 ignored", [["timeout", "0"]], 1, { timeoutMs: 1000, oack: [] }],
    ["timeout 256 ignored", [["timeout", "256"]], 1, { timeoutMs: 1000, oack: [] }],
    [
      "windowsize clamped to the server limit",
      [["windowsize", "500"]],
      1,
      { windowsize: 64, oack: [["windowsize", "64"]] },
    ],
    ["windowsize 0 ignored", [["windowsize", "0"]], 1, { windowsize: 1, oack: [] }],
    ["tsize left out for an empty file (curl refuses tsize 0)", [["tsize", "0"]], 0, { oack: [] }],
    ["unknown options omitted", [["multicast", ""]], 1, { oack: [] }],
  ];
  for (const [name, opts, size, want] of cases) {
    it(name, () => {
      expect(negotiate(new Map(opts), size, limits)).toMatchObject(want);
    });
  }

  it("honours the server's smaller blksize limit", () => {
    expect(negotiate(new Map([["blksize", "1468"]]), 1, { ...limits, maxBlksize: 1024 }).blksize).toBe(1024);
  });
});

describe("checkTftpName", () => {
  const root = "/srv/tftp";
  const cases: [string, string, string | number][] = [
    ["plain name", "undionly.kpxe", "undionly.kpxe"],
    ["leading slash means the root", "/pxelinux.0", "pxelinux.0"],
    ["the root's own absolute path", "/srv/tftp/grub/grubx64.efi", "grub/grubx64.efi"],
    ["dot and double slashes collapse", "./a//b/./c", "a/b/c"],
    ["absolute path outside the root stays inside it", "/etc/passwd", "etc/passwd"],
    ["dot-dot", "../etc/passwd", 2],
    ["dot-dot in the middle", "a/../../etc/passwd", 2],
    ["dot-dot after the root prefix", "/srv/tftp/../etc/passwd", 2],
    ["backslash traversal", "..\\..\\etc\\passwd", 2],
    ["NUL", "a\0b", 2],
    ["control character", "a\nb", 2],
    ["only slashes", "///", 2],
  ];
  for (const [name, input, want] of cases) {
    it(name, () => {
      const r = checkTftpName(root, input);
      if (typeof want === "string") expect(r).toEqual({ ok: true, rel: want });
      else expect(r).toMatchObject({ ok: false, code: want });
    });
  }
});
