import { describe, expect, it } from "vitest";
import { ip } from "./ip.js";
import { AddressPool } from "./pool.js";

const A = (s: string) => ip(s);

describe("AddressPool", () => {
  it("hands out addresses in order, skipping excluded ones", () => {
    const pool = new AddressPool(A("10.0.0.1"), A("10.0.0.4"), [A("10.0.0.2")]);
    const got = [pool.allocate("m1", 0, 1000), pool.allocate("m2", 0, 1000), pool.allocate("m3", 0, 1000)];
    expect(got).toEqual([A("10.0.0.1"), A("10.0.0.3"), A("10.0.0.4")]);
    expect(pool.allocate("m4", 0, 1000)).toBeUndefined();
  });

  it("reuses an expired offer only when nothing is free", () => {
    const pool = new AddressPool(A("10.0.0.1"), A("10.0.0.2"));
    expect(pool.allocate("m1", 0, 100)).toBe(A("10.0.0.1"));
    expect(pool.allocate("m2", 0, 100)).toBe(A("10.0.0.2"));
    expect(pool.allocate("m3", 50, 150)).toBeUndefined();
    expect(pool.allocate("m3", 200, 300)).toBeDefined();
  });

  it("skips an address claimed specifically after it was queued", () => {
    const pool = new AddressPool(A("10.0.0.1"), A("10.0.0.3"));
    pool.hold(A("10.0.0.1"), "reserved", 10_000, true);
    expect(pool.allocate("m1", 0, 100)).toBe(A("10.0.0.2"));
  });

  it("queues freed addresses at the back", () => {
    const pool = new AddressPool(A("10.0.0.1"), A("10.0.0.3"));
    const first = pool.allocate("m1", 0, 100) as number;
    pool.free(first, "m1");
    expect(pool.allocate("m2", 0, 100)).toBe(A("10.0.0.2"));
    expect(pool.allocate("m3", 0, 100)).toBe(A("10.0.0.3"));
    expect(pool.allocate("m4", 0, 100)).toBe(first);
  });

  it("frees only for the MAC holding the address", () => {
    const pool = new AddressPool(A("10.0.0.1"), A("10.0.0.1"));
    const a = pool.allocate("m1", 0, 100) as number;
    pool.free(a, "other");
    expect(pool.holder(a, 0)).toBe("m1");
  });

  it("keeps loaded leases, expired ones last", () => {
    const pool = new AddressPool(A("10.0.0.1"), A("10.0.0.3"));
    pool.load([
      { ip: A("10.0.0.1"), mac: "old", until: 10 },
      { ip: A("10.0.0.2"), mac: "live", until: 10_000 },
    ]);
    expect(pool.available(A("10.0.0.1"), "old", 100)).toBe(true);
    expect(pool.available(A("10.0.0.2"), "x", 100)).toBe(false);
    expect(pool.allocate("new", 100, 200)).toBe(A("10.0.0.3"));
    expect(pool.allocate("new2", 100, 200)).toBe(A("10.0.0.1"));
  });

  it("survives many free/allocate cycles without growing (the ring rebuilds)", () => {
    const pool = new AddressPool(A("10.0.0.1"), A("10.0.0.10"));
    for (let i = 0; i < 10_000; i++) {
      const a = pool.allocate(`m${i}`, 0, 100);
      expect(a).toBeDefined();
      pool.free(a as number);
      pool.free(a as number); // a double free must not hand the address out twice
    }
    const seen = new Set<number>();
    for (let i = 0; i < 10; i++) seen.add(pool.allocate(`n${i}`, 0, 100) as number);
    expect(seen.size).toBe(10);
    expect(pool.allocate("full", 0, 100)).toBeUndefined();
  });

  it("rejects a reversed or oversized range", () => {
    expect(() => new AddressPool(A("10.0.0.9"), A("10.0.0.1"))).toThrow(
      expect.objectContaining({ code: "LAB_E_DHCP_CONFIG" }),
    );
    expect(() => new AddressPool(A("10.0.0.0"), A("10.255.255.255"))).toThrow(
      expect.objectContaining({ code: "LAB_E_DHCP_CONFIG" }),
    );
  });
});
