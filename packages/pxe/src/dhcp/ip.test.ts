import { describe, expect, it } from "vitest";
import { ipString, macString, netmask, normalizeMac, sameSubnet, tryIp } from "./ip.js";

describe("tryIp", () => {
  const rows: Array<[string, number | undefined]> = [
    ["10.0.0.1", 0x0a000001],
    ["0.0.0.0", 0],
    ["255.255.255.255", 0xffffffff],
    ["192.168.001.010", 0xc0a8010a],
    ["1.2.3", undefined],
    ["1.2.3.4.5", undefined],
    ["256.1.1.1", undefined],
    ["1.2.3.1000", undefined],
    ["1..2.3", undefined],
    ["1.2.3.", undefined],
    [".1.2.3", undefined],
    ["a.b.c.d", undefined],
    [" 1.2.3.4", undefined],
    ["", undefined],
  ];
  it.each(rows)("%s → %s", (text, want) => {
    expect(tryIp(text)).toBe(want);
  });

  it("round-trips through ipString", () => {
    for (const t of ["10.9.0.1", "255.255.255.0", "172.16.254.3"])
      expect(ipString(tryIp(t) as number)).toBe(t);
  });
});

describe("netmask, subnets and MACs", () => {
  it("accepts contiguous masks only", () => {
    expect(netmask("255.255.254.0")).toBe(0xfffffe00);
    expect(() => netmask("255.0.255.0")).toThrow(expect.objectContaining({ code: "LAB_E_DHCP_CONFIG" }));
    expect(() => netmask("0.0.0.0")).toThrow(expect.objectContaining({ code: "LAB_E_DHCP_CONFIG" }));
  });

  it("compares subnets", () => {
    const m = netmask("255.255.255.0");
    expect(sameSubnet(tryIp("10.0.0.9") as number, tryIp("10.0.0.1") as number, m)).toBe(true);
    expect(sameSubnet(tryIp("10.0.1.9") as number, tryIp("10.0.0.1") as number, m)).toBe(false);
  });

  it("formats and normalises MACs", () => {
    expect(macString(Buffer.from([0xaa, 0xb, 0, 1, 2, 0xff]), 0, 6)).toBe("aa:0b:00:01:02:ff");
    expect(normalizeMac("AA-BB-CC-DD-EE-FF")).toBe("aa:bb:cc:dd:ee:ff");
    expect(() => normalizeMac("aa:bb")).toThrow(expect.objectContaining({ code: "LAB_E_DHCP_CONFIG" }));
  });
});
