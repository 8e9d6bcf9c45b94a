import { LabError } from "@lab/core";
import { describe, expect, it } from "vitest";
import {
  clientArch,
  clientMac,
  decodeSubOptions,
  encodeDhcp,
  encodeSubOptions,
  maxMessageSize,
  messageType,
  optionIp,
  optionString,
  parseDhcp,
  userClasses,
} from "./codec.js";
import { MAGIC_COOKIE, MSG, OPT } from "./constants.js";
import { ip, ipString } from "./ip.js";
import { clientBytes, clientPacket } from "./test-packets.js";

/** A DHCPDISCOVER as a BIOS PXE ROM sends it, written byte by byte (not with our encoder). */
function romDiscover(): Buffer {
  const b = Buffer.alloc(240);
  b[0] = 1; // BOOTREQUEST
  b[1] = 1; // Ethernet
  b[2] = 6;
  b.writeUInt32BE(0x486ed019, 4);
  b.writeUInt16BE(4, 8); // secs
  b.writeUInt16BE(0x8000, 10); // broadcast flag
  Buffer.from([0x52, 0x54, 0x00, 0x62, 0x40, 0x01]).copy(b, 28);
  b.writeUInt32BE(MAGIC_COOKIE, 236);
  const vc = Buffer.from("PXEClient:Arch:00000:UNDI:002001");
  const opts = Buffer.from([
    53,
    1,
    1,
    57,
    2,
    0x05,
    0xc0,
    93,
    2,
    0,
    0,
    94,
    3,
    1,
    2,
    1,
    60,
    vc.length,
    ...vc,
    97,
    17,
    0,
    ...Array.from({ length: 16 }, (_, i) => 0xa0 + i),
    55,
    4,
    1,
    3,
    66,
    67,
    255,
  ]);
  return Buffer.concat([b, opts]);
}

describe("parseDhcp", () => {
  it("reads a PXE ROM's DISCOVER byte for byte", () => {
    const p = parseDhcp(romDiscover());
    expect(p.op).toBe(1);
    expect(p.xid).toBe(0x486ed019);
    expect(p.secs).toBe(4);
    expect(p.flags).toBe(0x8000);
    expect(clientMac(p)).toBe("52:54:00:62:40:01");
    expect(messageType(p)).toBe(MSG.DISCOVER);
    expect(clientArch(p)).toBe(0);
    expect(optionString(p, OPT.VENDOR_CLASS)).toBe("PXEClient:Arch:00000:UNDI:002001");
    expect(p.options.get(OPT.CLIENT_UUID)?.length).toBe(17);
    expect(maxMessageSize(p)).toBe(1472 - 28);
    expect([...(p.options.get(OPT.PARAMETER_LIST) ?? [])]).toEqual([1, 3, 66, 67]);
  });

  it("round-trips what encodeDhcp writes", () => {
    const sent = clientPacket({
      type: MSG.REQUEST,
      mac: "aa:bb:cc:dd:ee:ff",
      xid: 0xdeadbeef,
      flags: 0x8000,
      giaddr: "10.0.0.2",
      requested: "10.0.0.7",
      serverId: "10.0.0.1",
      hostname: "node-7",
    });
    const p = parseDhcp(encodeDhcp(sent));
    expect(clientMac(p)).toBe("aa:bb:cc:dd:ee:ff");
    expect(p.xid).toBe(0xdeadbeef);
    expect(ipString(p.giaddr)).toBe("10.0.0.2");
    expect(optionIp(p, OPT.REQUESTED_IP)).toBe(ip("10.0.0.7"));
    expect(optionIp(p, OPT.SERVER_ID)).toBe(ip("10.0.0.1"));
    expect(optionString(p, OPT.HOSTNAME)).toBe("node-7");
  });

  it("joins a long option split in pieces (RFC 3396)", () => {
    const long = Buffer.alloc(600, 7);
    const out = encodeDhcp(clientPacket({ type: MSG.DISCOVER, extra: [[OPT.VENDOR_SPECIFIC, long]] }));
    // 600 bytes need three pieces: 255 + 255 + 90.
    let pieces = 0;
    for (let i = 240; i < out.length && out[i] !== 255; i += 2 + (out[i + 1] as number)) {
      if (out[i] === OPT.VENDOR_SPECIFIC) pieces++;
    }
    expect(pieces).toBe(3);
    expect(parseDhcp(out).options.get(OPT.VENDOR_SPECIFIC)).toEqual(long);
  });

  it("reads options overloaded into the file and sname fields", () => {
    const b = romDiscover().subarray(0, 240);
    const buf = Buffer.concat([b, Buffer.from([53, 1, 3, 52, 1, 3, 255])]);
    Buffer.from([50, 4, 10, 0, 0, 9, 255]).copy(buf, 108); // file
    Buffer.from([12, 3, 0x61, 0x62, 0x63, 255]).copy(buf, 44); // sname
    const p = parseDhcp(buf);
    expect(optionIp(p, OPT.REQUESTED_IP)).toBe(ip("10.0.0.9"));
    expect(optionString(p, OPT.HOSTNAME)).toBe("abc");
    expect(p.file).toBe("");
    expect(p.sname).toBe("");
  });

  it("accepts options that fill the packet without an END option", () => {
    const buf = Buffer.concat([romDiscover().subarray(0, 240), Buffer.from([53, 1, 1])]);
    expect(messageType(parseDhcp(buf))).toBe(MSG.DISCOVER);
  });

  const good = romDiscover();
  const withOptions = (...bytes: number[]) => Buffer.concat([good.subarray(0, 240), Buffer.from(bytes)]);
  const cases: Array<[string, Buffer]> = [
    ["an empty datagram", Buffer.alloc(0)],
    ["a header cut short", good.subarray(0, 239)],
    ["an op that is neither request nor reply", Buffer.concat([Buffer.from([3]), good.subarray(1)])],
    [
      "a hardware address longer than chaddr",
      Buffer.concat([good.subarray(0, 2), Buffer.from([17]), good.subarray(3)]),
    ],
    [
      "no magic cookie",
      Buffer.concat([good.subarray(0, 236), Buffer.from([1, 2, 3, 4]), good.subarray(240)]),
    ],
    ["an option running past the end", withOptions(53, 1, 1, 60, 20, 65, 66)],
    ["an option without its length byte", withOptions(53, 1, 1, 60)],
    ["a message type of two bytes", withOptions(53, 2, 1, 1, 255)],
    ["a message type of zero", withOptions(53, 1, 0, 255)],
    ["a requested address of three bytes", withOptions(53, 1, 3, 50, 3, 10, 0, 0, 255)],
    ["a server identifier of five bytes", withOptions(53, 1, 3, 54, 5, 10, 0, 0, 1, 1, 255)],
    ["an overload value of 4", withOptions(53, 1, 1, 52, 1, 4, 255)],
    ["an architecture list of odd length", withOptions(53, 1, 1, 93, 3, 0, 0, 7, 255)],
    ["a max message size of one byte", withOptions(53, 1, 1, 57, 1, 5, 255)],
  ];
  it.each(cases)("rejects %s with LAB_E_DHCP_MALFORMED", (_name, buf) => {
    expect(() => parseDhcp(buf)).toThrow(LabError);
    try {
      parseDhcp(buf);
    } catch (e) {
      expect((e as LabError).code).toBe("LAB_E_DHCP_MALFORMED");
    }
  });
});

describe("encodeDhcp", () => {
  it("pads to 300 bytes, puts option 53 first and option 82 last", () => {
    const p = clientPacket({
      type: MSG.DISCOVER,
      extra: [[OPT.RELAY_AGENT_INFO, Buffer.from([1, 2, 0x61, 0x62])]],
    });
    p.options.delete(OPT.MESSAGE_TYPE);
    p.options.set(OPT.MESSAGE_TYPE, Buffer.from([MSG.DISCOVER])); // now last in map order
    const out = encodeDhcp(p);
    expect(out.length).toBe(300);
    expect(out[240]).toBe(OPT.MESSAGE_TYPE);
    const codes: number[] = [];
    for (let i = 240; out[i] !== 255; i += 2 + (out[i + 1] as number)) codes.push(out[i] as number);
    expect(codes.at(-1)).toBe(OPT.RELAY_AGENT_INFO);
  });

  const tooBig: Array<[string, () => Buffer]> = [
    [
      "a boot file name of 128 bytes",
      () => encodeDhcp({ ...clientPacket({ type: MSG.OFFER }), file: "f".repeat(128) }),
    ],
    [
      "a server name of 64 bytes",
      () => encodeDhcp({ ...clientPacket({ type: MSG.OFFER }), sname: "s".repeat(64) }),
    ],
    [
      "options beyond the size limit",
      () =>
        encodeDhcp(
          clientPacket({ type: MSG.OFFER, extra: [[OPT.VENDOR_SPECIFIC, Buffer.alloc(400)]] }),
          576 - 28,
        ),
    ],
  ];
  it.each(tooBig)("refuses %s with LAB_E_DHCP_ENCODE", (_name, f) => {
    expect(f).toThrow(expect.objectContaining({ code: "LAB_E_DHCP_ENCODE" }));
  });
});

describe("option readers", () => {
  const uc: Array<[string, Buffer, string[]]> = [
    ["iPXE's plain string", Buffer.from("iPXE"), ["iPXE"]],
    ["RFC 3004 items", Buffer.from([4, 0x69, 0x50, 0x58, 0x45, 2, 0x61, 0x62]), ["iPXE", "ab"]],
    ["a string that looks like a bad item list", Buffer.from([9, 0x61]), ["\t" + "a"]],
  ];
  it.each(uc)("reads user class from %s", (_name, value, expected) => {
    const p = parseDhcp(clientBytes({ type: MSG.DISCOVER, extra: [[OPT.USER_CLASS, value]] }));
    expect(userClasses(p)).toEqual(expected);
  });

  it("encodes and decodes encapsulated sub-options with an END", () => {
    const enc = encodeSubOptions([[176, [1]]]);
    expect([...enc]).toEqual([176, 1, 1, 255]);
    expect(decodeSubOptions(enc).get(176)).toEqual(Buffer.from([1]));
    expect(() => decodeSubOptions(Buffer.from([6, 5, 1]))).toThrow(
      expect.objectContaining({ code: "LAB_E_DHCP_MALFORMED" }),
    );
  });
});
