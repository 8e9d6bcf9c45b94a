import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  type DhcpPacket,
  decodeSubOptions,
  messageType,
  optionIp,
  optionString,
  parseDhcp,
} from "./codec.js";
import { FLAG_BROADCAST, MSG, OPT } from "./constants.js";
import { FileLeaseStore } from "./file-leases.js";
import { ip, ipString } from "./ip.js";
import { type LeaseStore, MemoryLeaseStore } from "./leases.js";
import {
  createDhcpContext,
  type DhcpContext,
  type DhcpEvent,
  type DhcpOptions,
  type KnownMachine,
  type RxInfo,
  respond,
} from "./respond.js";
import { type ClientSpec, clientPacket } from "./test-packets.js";

const dir = mkdtempSync(join(tmpdir(), "lab-dhcp-respond-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KNOWN = "52:54:00:00:00:01";
const RESERVED = "52:54:00:00:00:02";
const UNKNOWN = "52:54:00:00:00:99";
const BIOS = { vendorClass: "PXEClient:Arch:00000:UNDI:002001", arch: 0, uuid: true };
const EFI = { vendorClass: "PXEClient:Arch:00007:UNDI:003016", arch: 7, uuid: true };

interface Harness {
  ctx: DhcpContext;
  events: DhcpEvent[];
  now: { t: number };
}

function harness(over: Partial<DhcpOptions> = {}): Harness {
  const events: DhcpEvent[] = [];
  const now = { t: 1_700_000_000_000 };
  const machines = new Map<string, KnownMachine>([
    [KNOWN, { hostname: "node-1" }],
    [RESERVED, { ip: "10.9.0.200", hostname: "db-1" }],
  ]);
  const ctx = createDhcpContext({
    mode: "proxy",
    serverIp: "10.9.0.1",
    netmask: "255.255.255.0",
    router: "10.9.0.254",
    dns: ["10.9.0.53", "10.9.0.54"],
    domain: "lab.test",
    leaseTime: 600,
    pool: { start: "10.9.0.100", end: "10.9.0.102" },
    lookup: (mac) => machines.get(mac),
    boot: { httpBase: "http://10.9.0.1:8080" },
    onEvent: (e) => events.push(e),
    now: () => now.t,
    ...over,
  });
  return { ctx, events, now };
}

interface Out {
  packets: Array<DhcpPacket & { to: string; broadcast: boolean }>;
  events: DhcpEvent[];
}

async function run(h: Harness, spec: ClientSpec, rx?: RxInfo): Promise<Out> {
  const before = h.events.length;
  const replies = await respond(clientPacket(spec), h.ctx, rx);
  const events = h.events.slice(before);
  // The contract: exactly one event per client packet.
  expect(events).toHaveLength(1);
  return {
    packets: replies.map((r) => ({
      ...parseDhcp(r.data),
      to: `${r.address}:${r.port}`,
      broadcast: r.broadcast,
    })),
    events,
  };
}

function only(o: Out): DhcpPacket & { to: string; broadcast: boolean } {
  expect(o.packets).toHaveLength(1);
  return o.packets[0] as DhcpPacket & { to: string; broadcast: boolean };
}

const hex = (b: Buffer | undefined) => (b ? [...b] : undefined);

describe("respond in proxy mode", () => {
  it("offers a BIOS PXE ROM undionly.kpxe with PXE options and no address", async () => {
    const h = harness();
    const o = await run(h, { type: MSG.DISCOVER, mac: KNOWN, ...BIOS });
    const p = only(o);
    expect(messageType(p)).toBe(MSG.OFFER);
    expect(p.yiaddr).toBe(0);
    expect(ipString(p.siaddr)).toBe("10.9.0.1");
    expect(p.file).toBe("undionly.kpxe");
    expect(p.flags & FLAG_BROADCAST).toBe(FLAG_BROADCAST);
    expect(p.to).toBe("255.255.255.255:68");
    expect(optionString(p, OPT.VENDOR_CLASS)).toBe("PXEClient");
    expect(ipString(optionIp(p, OPT.SERVER_ID) ?? 0)).toBe("10.9.0.1");
    expect(hex(p.options.get(OPT.CLIENT_UUID))).toEqual([0, ...Array.from({ length: 16 }, (_, i) => i + 1)]);
    expect(hex(p.options.get(OPT.VENDOR_SPECIFIC))).toEqual([6, 1, 8, 255]);
    expect(p.options.has(OPT.LEASE_TIME)).toBe(false);
    expect(p.options.has(OPT.IPXE_ENCAP)).toBe(false);
    expect(o.events[0]).toMatchObject({
      mac: KNOWN,
      kind: "dhcp",
      type: "offer",
      arch: 0,
      file: "undionly.kpxe",
    });
    expect(o.events[0]?.ip).toBeUndefined();
  });

  it("sends x86-64 UEFI to port 4011 (no option 43 on 67) and answers there", async () => {
    const h = harness();
    const offer = only(await run(h, { type: MSG.DISCOVER, mac: KNOWN, ...EFI }));
    expect(offer.file).toBe("ipxe.efi");
    expect(offer.sname).toBe("10.9.0.1");
    expect(offer.options.has(OPT.VENDOR_SPECIFIC)).toBe(false);
    const rx = { localPort: 4011, address: "10.9.0.77", port: 68 };
    const o = await run(h, { type: MSG.REQUEST, mac: KNOWN, ciaddr: "10.9.0.77", ...EFI }, rx);
    const ack = only(o);
    expect(messageType(ack)).toBe(MSG.ACK);
    expect(ack.to).toBe("10.9.0.77:68");
    expect(ack.file).toBe("ipxe.efi");
    expect(ack.yiaddr).toBe(0);
    expect(hex(ack.options.get(OPT.VENDOR_SPECIFIC))).toEqual([6, 1, 8, 255]);
    expect(o.events[0]).toMatchObject({ type: "ack", file: "ipxe.efi" });
  });

  it("echoes a PXE boot item on port 4011", async () => {
    const h = harness();
    const rx = { localPort: 4011, address: "10.9.0.77", port: 4011 };
    const item = Buffer.from([71, 4, 0x80, 0x00, 0x00, 0x00, 255]);
    const ack = only(
      await run(
        h,
        { type: MSG.REQUEST, mac: KNOWN, ciaddr: "10.9.0.77", ...EFI, extra: [[OPT.VENDOR_SPECIFIC, item]] },
        rx,
      ),
    );
    const subs = decodeSubOptions(ack.options.get(OPT.VENDOR_SPECIFIC) ?? Buffer.alloc(0));
    expect(hex(subs.get(71))).toEqual([0x80, 0, 0, 0]);
    expect(hex(subs.get(6))).toEqual([8]);
  });

  const answered: Array<[string, ClientSpec, string, string]> = [
    [
      "arm64 UEFI",
      { type: MSG.DISCOVER, vendorClass: "PXEClient:Arch:00011", arch: 11 },
      "ipxe-arm64.efi",
      "PXEClient",
    ],
    [
      "iPXE",
      { type: MSG.DISCOVER, ...BIOS, userClass: "iPXE", ipxe: true },
      "http://10.9.0.1:8080/boot.ipxe",
      "PXEClient",
    ],
    [
      "UEFI HTTP boot",
      { type: MSG.DISCOVER, vendorClass: "HTTPClient:Arch:00016", arch: 16 },
      "http://10.9.0.1:8080/ipxe.efi",
      "HTTPClient",
    ],
  ];
  it.each(answered)("offers %s its boot file", async (_n, spec, file, vc) => {
    const p = only(await run(harness(), { ...spec, mac: KNOWN }));
    expect(p.file).toBe(file);
    expect(optionString(p, OPT.VENDOR_CLASS)).toBe(vc);
    expect(p.yiaddr).toBe(0);
  });

  const ignored: Array<[string, Partial<DhcpOptions>, ClientSpec, string]> = [
    [
      "a non-PXE client",
      {},
      { type: MSG.DISCOVER, mac: KNOWN, vendorClass: "udhcp 1.35.0" },
      "not a PXE client",
    ],
    [
      "an unknown MAC with discovery off",
      {},
      { type: MSG.DISCOVER, mac: UNKNOWN, ...BIOS },
      "unknown MAC and discovery is off",
    ],
    [
      "an unsupported architecture",
      {},
      { type: MSG.DISCOVER, mac: KNOWN, vendorClass: "PXEClient:Arch:00006", arch: 6 },
      "architecture 6",
    ],
    [
      "a relay outside the subnet",
      {},
      { type: MSG.DISCOVER, mac: KNOWN, giaddr: "192.168.1.1", ...BIOS },
      "outside the served subnet",
    ],
    ["DHCP switched off", { mode: "off" }, { type: MSG.DISCOVER, mac: KNOWN, ...BIOS }, "DHCP is off"],
    [
      "an INFORM on port 67",
      {},
      { type: MSG.INFORM, mac: KNOWN, ciaddr: "10.9.0.5", ...BIOS },
      "does not answer INFORM",
    ],
    ["a DISCOVER on port 4011", {}, { type: MSG.DISCOVER, mac: KNOWN, ...BIOS }, "only REQUEST and INFORM"],
  ];
  it.each(ignored)("ignores %s with the reason", async (name, over, spec) => {
    const rx = name.includes("4011") ? { localPort: 4011, address: "10.9.0.5", port: 68 } : undefined;
    const o = await run(harness(over), spec, rx);
    expect(o.packets).toHaveLength(0);
    expect(o.events[0]?.type).toBe("ignored");
    expect(o.events[0]?.reason).toContain(ignored.find((r) => r[0] === name)?.[3]);
  });

  it("boots an unknown MAC into discovery when discovery is on", async () => {
    const o = await run(harness({ discover: true }), { type: MSG.DISCOVER, mac: UNKNOWN, ...BIOS });
    expect(only(o).file).toBe("undionly.kpxe");
  });

  it("notes but does not answer the REQUEST meant for the network's DHCP server", async () => {
    const o = await run(harness(), {
      type: MSG.REQUEST,
      mac: KNOWN,
      requested: "10.9.0.50",
      serverId: "10.9.0.250",
      ...BIOS,
    });
    expect(o.packets).toHaveLength(0);
    // The address it asks for is its own from now on (the timeline attributes its TFTP by it).
    expect(o.events[0]).toMatchObject({ type: "request", ip: "10.9.0.50" });
    // A renewal names it in ciaddr instead.
    const renew = await run(harness(), { type: MSG.REQUEST, mac: KNOWN, ciaddr: "10.9.0.51", ...BIOS });
    expect(renew.events[0]).toMatchObject({ type: "request", ip: "10.9.0.51" });
  });

  it("answers a relay at giaddr:67 and echoes option 82", async () => {
    const agent = Buffer.from([1, 3, 0x65, 0x74, 0x68]);
    const p = only(
      await run(harness(), {
        type: MSG.DISCOVER,
        mac: KNOWN,
        giaddr: "10.9.0.2",
        ...BIOS,
        extra: [[OPT.RELAY_AGENT_INFO, agent]],
      }),
    );
    expect(p.to).toBe("10.9.0.2:67");
    expect(ipString(p.giaddr)).toBe("10.9.0.2");
    expect(p.options.get(OPT.RELAY_AGENT_INFO)).toEqual(agent);
  });

  it("puts a boot URL too long for the file field in option 67", async () => {
    const long = `http://10.9.0.1:8080/${"x".repeat(150)}`;
    const p = only(
      await run(harness({ boot: { httpBase: long } }), {
        type: MSG.DISCOVER,
        mac: KNOWN,
        ...BIOS,
        userClass: "iPXE",
      }),
    );
    expect(p.file).toBe("");
    expect(optionString(p, OPT.BOOTFILE_NAME)).toBe(`${long}/boot.ipxe`);
  });

  it("answers with option 66/67 when the client asks for them", async () => {
    const p = only(await run(harness(), { type: MSG.DISCOVER, mac: KNOWN, ...BIOS, params: [1, 3, 66, 67] }));
    expect(optionString(p, OPT.TFTP_SERVER_NAME)).toBe("10.9.0.1");
    expect(optionString(p, OPT.BOOTFILE_NAME)).toBe("undionly.kpxe");
  });
});

describe("respond in scoped mode", () => {
  const scoped = (over: Partial<DhcpOptions> = {}) => harness({ mode: "scoped", ...over });

  async function dora(h: Harness, mac: string, extra: Partial<ClientSpec> = {}) {
    const offer = only(await run(h, { type: MSG.DISCOVER, mac, xid: 7, ...extra }));
    const ack = only(
      await run(h, {
        type: MSG.REQUEST,
        mac,
        xid: 7,
        requested: ipString(offer.yiaddr),
        serverId: "10.9.0.1",
        ...extra,
      }),
    );
    return { offer, ack };
  }

  it("gives a reserved MAC its address with network options and records the lease", async () => {
    const h = scoped();
    const { offer, ack } = await dora(h, RESERVED);
    for (const p of [offer, ack]) {
      expect(ipString(p.yiaddr)).toBe("10.9.0.200");
      expect(ipString(optionIp(p, OPT.SUBNET_MASK) ?? 0)).toBe("255.255.255.0");
      expect(ipString(optionIp(p, OPT.ROUTER) ?? 0)).toBe("10.9.0.254");
      expect(hex(p.options.get(OPT.DNS))).toEqual([10, 9, 0, 53, 10, 9, 0, 54]);
      expect(p.options.get(OPT.LEASE_TIME)?.readUInt32BE(0)).toBe(600);
      expect(p.options.get(OPT.RENEWAL_TIME)?.readUInt32BE(0)).toBe(300);
      expect(p.options.get(OPT.REBINDING_TIME)?.readUInt32BE(0)).toBe(525);
      expect(optionString(p, OPT.HOSTNAME)).toBe("db-1");
      expect(optionString(p, OPT.DOMAIN_NAME)).toBe("lab.test");
      expect(p.to).toBe("255.255.255.255:68");
    }
    expect(messageType(offer)).toBe(MSG.OFFER);
    expect(messageType(ack)).toBe(MSG.ACK);
    expect(h.ctx.leases.get(RESERVED)).toEqual({
      mac: RESERVED,
      ip: "10.9.0.200",
      expiresAt: h.now.t + 600_000,
      hostname: "db-1",
    });
    expect(h.events.map((e) => [e.type, e.ip])).toEqual([
      ["offer", "10.9.0.200"],
      ["ack", "10.9.0.200"],
    ]);
  });

  it("gives a known MAC a pool address and the same one again", async () => {
    const h = scoped();
    const first = await dora(h, KNOWN);
    expect(ipString(first.ack.yiaddr)).toBe("10.9.0.100");
    const again = await dora(h, KNOWN);
    expect(ipString(again.ack.yiaddr)).toBe("10.9.0.100");
    expect(h.ctx.leases.size).toBe(1);
  });

  it("ignores an unknown MAC", async () => {
    const o = await run(scoped(), { type: MSG.DISCOVER, mac: UNKNOWN });
    expect(o.packets).toHaveLength(0);
    expect(o.events[0]).toMatchObject({ type: "ignored", reason: expect.stringContaining("unknown MAC") });
  });

  it("NAKs a request for an address that is not the machine's, by broadcast", async () => {
    const h = scoped();
    const o = await run(h, { type: MSG.REQUEST, mac: RESERVED, requested: "10.9.0.150" });
    const p = only(o);
    expect(messageType(p)).toBe(MSG.NAK);
    expect(p.yiaddr).toBe(0);
    expect(p.to).toBe("255.255.255.255:68");
    expect(optionString(p, OPT.MESSAGE)).toContain("10.9.0.200");
    expect(o.events[0]).toMatchObject({ type: "nak" });
  });

  it("NAKs a request for another network", async () => {
    const p = only(await run(scoped(), { type: MSG.REQUEST, mac: KNOWN, requested: "192.168.5.5" }));
    expect(messageType(p)).toBe(MSG.NAK);
  });

  it("lets the offer go when the client chooses another server", async () => {
    const h = scoped({ pool: { start: "10.9.0.100", end: "10.9.0.100" } });
    const offer = only(await run(h, { type: MSG.DISCOVER, mac: KNOWN }));
    const o = await run(h, {
      type: MSG.REQUEST,
      mac: KNOWN,
      requested: ipString(offer.yiaddr),
      serverId: "10.9.0.250",
    });
    expect(o.packets).toHaveLength(0);
    expect(o.events[0]).toMatchObject({ type: "request", reason: "client chose server 10.9.0.250" });
    expect(h.ctx.pool?.holder(offer.yiaddr, h.now.t)).toBeUndefined();
  });

  it("renews by unicast to ciaddr", async () => {
    const h = scoped();
    await dora(h, KNOWN);
    h.now.t += 300_000;
    const p = only(await run(h, { type: MSG.REQUEST, mac: KNOWN, ciaddr: "10.9.0.100" }));
    expect(messageType(p)).toBe(MSG.ACK);
    expect(p.to).toBe("10.9.0.100:68");
    expect(h.ctx.leases.get(KNOWN)?.expiresAt).toBe(h.now.t + 600_000);
  });

  it("frees a released address", async () => {
    const h = scoped({ pool: { start: "10.9.0.100", end: "10.9.0.100" } });
    await dora(h, KNOWN);
    const o = await run(h, { type: MSG.RELEASE, mac: KNOWN, ciaddr: "10.9.0.100", serverId: "10.9.0.1" });
    expect(o.events[0]).toMatchObject({ type: "release", ip: "10.9.0.100" });
    expect(h.ctx.leases.get(KNOWN)).toBeUndefined();
    expect(h.ctx.pool?.holder(ip("10.9.0.100"), h.now.t)).toBeUndefined();
  });

  it("keeps a declined address out of the pool", async () => {
    const h = scoped({ pool: { start: "10.9.0.100", end: "10.9.0.101" } });
    await dora(h, KNOWN);
    const o = await run(h, { type: MSG.DECLINE, mac: KNOWN, requested: "10.9.0.100", serverId: "10.9.0.1" });
    expect(o.events[0]).toMatchObject({ type: "decline", ip: "10.9.0.100" });
    const next = only(await run(h, { type: MSG.DISCOVER, mac: KNOWN }));
    expect(ipString(next.yiaddr)).toBe("10.9.0.101");
  });

  it("reports an exhausted pool", async () => {
    const h = scoped({ pool: { start: "10.9.0.100", end: "10.9.0.100" }, lookup: () => ({}) });
    await dora(h, "52:54:00:00:00:10");
    const o = await run(h, { type: MSG.DISCOVER, mac: "52:54:00:00:00:11" });
    expect(o.events[0]).toMatchObject({ type: "ignored", reason: "the address pool is exhausted" });
  });

  it("answers INFORM with options but no lease, to ciaddr", async () => {
    const o = await run(scoped(), { type: MSG.INFORM, mac: KNOWN, ciaddr: "10.9.0.33" });
    const p = only(o);
    expect(messageType(p)).toBe(MSG.ACK);
    expect(p.yiaddr).toBe(0);
    expect(p.options.has(OPT.LEASE_TIME)).toBe(false);
    expect(p.to).toBe("10.9.0.33:68");
    expect(o.events[0]).toMatchObject({ type: "inform", ip: "10.9.0.33" });
  });

  it("adds boot information for PXE clients and no-pxedhcp for iPXE", async () => {
    const h = scoped();
    const { ack } = await dora(h, KNOWN, BIOS);
    expect(ack.file).toBe("undionly.kpxe");
    expect(ipString(ack.siaddr)).toBe("10.9.0.1");
    expect(hex(ack.options.get(OPT.VENDOR_SPECIFIC))).toEqual([6, 1, 8, 255]);
    const ipxe = await dora(h, KNOWN, { ...BIOS, userClass: "iPXE", ipxe: true });
    expect(ipxe.ack.file).toBe("http://10.9.0.1:8080/boot.ipxe");
    expect(hex(ipxe.ack.options.get(OPT.IPXE_ENCAP))).toEqual([176, 1, 1, 255]);
    expect(ipString(ipxe.ack.yiaddr)).toBe("10.9.0.100");
  });

  it("sends the ACK only after the lease is on disk", async () => {
    const path = join(dir, "durable.jsonl");
    const leases = await FileLeaseStore.open(path);
    const h = scoped({ leases });
    only(await run(h, { type: MSG.DISCOVER, mac: RESERVED }));
    const pending = respond(
      clientPacket({ type: MSG.REQUEST, mac: RESERVED, requested: "10.9.0.200", serverId: "10.9.0.1" }),
      h.ctx,
    );
    expect(pending).toBeInstanceOf(Promise);
    const replies = await pending;
    // By the time the reply exists, the journal on disk holds the lease.
    expect(readFileSync(path, "utf8")).toContain(`"m":"${RESERVED}","i":"10.9.0.200"`);
    expect(messageType(parseDhcp(replies[0]?.data ?? Buffer.alloc(0)))).toBe(MSG.ACK);
    await leases.close();
  });

  it("sends no ACK when the lease cannot be written", async () => {
    const failing: LeaseStore = Object.assign(new MemoryLeaseStore(), {
      put: () => Promise.reject(Object.assign(new Error("disk full"), { code: "EIO" })),
    });
    const h = scoped({ leases: failing });
    const o = await run(h, {
      type: MSG.REQUEST,
      mac: RESERVED,
      requested: "10.9.0.200",
      serverId: "10.9.0.1",
    });
    expect(o.packets).toHaveLength(0);
    expect(o.events[0]).toMatchObject({ type: "ignored", reason: expect.stringContaining("disk full") });
  });

  it("keeps addresses of leases loaded at start for their MACs, expired ones too", async () => {
    const leases = new MemoryLeaseStore();
    leases.put({ mac: KNOWN, ip: "10.9.0.101", expiresAt: 0 });
    const h = scoped({ leases, lookup: () => ({}) });
    const others = [];
    for (const mac of ["52:54:00:00:00:20", "52:54:00:00:00:21"]) {
      others.push(ipString(only(await run(h, { type: MSG.DISCOVER, mac })).yiaddr));
    }
    expect(others).toEqual(["10.9.0.100", "10.9.0.102"]);
    const p = only(await run(h, { type: MSG.DISCOVER, mac: KNOWN }));
    expect(ipString(p.yiaddr)).toBe("10.9.0.101");
  });
});

describe("createDhcpContext", () => {
  const bad: Array<[string, Partial<DhcpOptions>]> = [
    ["a server address that is not IPv4", { serverIp: "10.9.0" }],
    ["a non-contiguous netmask", { netmask: "255.0.255.0" }],
    ["a pool outside the subnet", { pool: { start: "10.8.0.1", end: "10.9.0.5" } }],
    ["a lease time under a minute", { leaseTime: 5 }],
    ["a boot base that is not a URL", { boot: { httpBase: "10.9.0.1:8080" } }],
    ["an unknown mode", { mode: "full" as DhcpOptions["mode"] }],
  ];
  it.each(bad)("rejects %s with LAB_E_DHCP_CONFIG", (_n, over) => {
    expect(() => harness(over)).toThrow(expect.objectContaining({ code: "LAB_E_DHCP_CONFIG" }));
  });
});
