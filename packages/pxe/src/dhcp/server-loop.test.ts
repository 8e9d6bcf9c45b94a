/**
 * DhcpServer's socket loop on loopback only: relayed requests (giaddr) are answered by unicast to
 * the relay, ProxyDHCP requests on the PXE port go back to their sender, bad datagrams are counted
 * and the loop carries on. Broadcast behaviour is covered with real clients in server.test.ts.
 */
import { createSocket, type Socket } from "node:dgram";
import { afterEach, describe, expect, it, vi } from "vitest";
import { messageType, parseDhcp } from "./codec.js";
import { MSG } from "./constants.js";
import { ipString } from "./ip.js";
import { type Lease, MemoryLeaseStore } from "./leases.js";
import type { DhcpEvent, KnownMachine } from "./respond.js";
import { DhcpServer, type DhcpServerOptions, interfaceAddress } from "./server.js";
import { clientBytes } from "./test-packets.js";

const toClose: Array<{ close: () => unknown }> = [];
afterEach(async () => {
  for (const c of toClose.splice(0)) await c.close();
});

async function udp(address: string): Promise<Socket> {
  const s = createSocket("udp4");
  await new Promise<void>((resolve) => s.bind(0, address, resolve));
  toClose.push({ close: () => new Promise<void>((r) => s.close(() => r())) });
  return s;
}

function nextMessage(s: Socket): Promise<Buffer> {
  return new Promise((resolve) => s.once("message", (m) => resolve(m)));
}

async function server(
  over: Partial<DhcpServerOptions>,
  relayPort: number,
  events: DhcpEvent[],
): Promise<DhcpServer> {
  const known = new Map<string, KnownMachine>([["52:54:00:00:00:01", { hostname: "n1" }]]);
  const srv = new DhcpServer({
    mode: "scoped",
    serverIp: "127.0.0.1",
    netmask: "255.0.0.0",
    bindAddress: "127.0.0.1",
    port: 0,
    relayPort,
    pool: { start: "127.0.1.1", end: "127.0.1.10" },
    lookup: (mac) => known.get(mac),
    boot: { httpBase: "http://127.0.0.1:8080" },
    onEvent: (e) => events.push(e),
    log: () => {},
    ...over,
  });
  toClose.push(srv);
  return srv;
}

describe("DhcpServer socket loop (loopback)", () => {
  it("answers a relay by unicast and carries on after bad datagrams", async () => {
    const relay = await udp("127.0.0.2");
    const events: DhcpEvent[] = [];
    const port = 20_000 + (process.pid % 20_000);
    const srv = await server({ port }, relay.address().port, events);
    await srv.start();
    for (const junk of [Buffer.alloc(0), Buffer.from("hello"), Buffer.alloc(300, 0xff)])
      relay.send(junk, port, "127.0.0.1");
    const offer = nextMessage(relay);
    relay.send(
      clientBytes({ type: MSG.DISCOVER, mac: "52:54:00:00:00:01", giaddr: "127.0.0.2", xid: 77 }),
      port,
      "127.0.0.1",
    );
    const o = parseDhcp(await offer);
    expect(messageType(o)).toBe(MSG.OFFER);
    expect(o.xid).toBe(77);
    const ack = nextMessage(relay);
    relay.send(
      clientBytes({
        type: MSG.REQUEST,
        mac: "52:54:00:00:00:01",
        giaddr: "127.0.0.2",
        xid: 77,
        requested: ipString(o.yiaddr),
        serverId: "127.0.0.1",
      }),
      port,
      "127.0.0.1",
    );
    const a = parseDhcp(await ack);
    expect(messageType(a)).toBe(MSG.ACK);
    expect(ipString(a.yiaddr)).toBe("127.0.1.1");
    const st = srv.stats();
    expect(st.malformed).toBe(3);
    expect(st.received).toBe(5);
    expect(st.events.offer).toBe(1);
    expect(st.events.ack).toBe(1);
    expect(events.map((e) => e.type)).toEqual(["offer", "ack"]);
  });

  it("sends every ACK a slow journal flush releases at once (paced), and close() waits for them", async () => {
    const relay = await udp("127.0.0.2");
    const port = 22_000 + (process.pid % 20_000);
    // A journal whose one flush takes a while and then acknowledges everything together.
    let release: () => void = () => {};
    const flushed = new Promise<void>((r) => {
      release = r;
    });
    const leases = Object.assign(new MemoryLeaseStore(), {
      put(this: MemoryLeaseStore, l: Lease) {
        MemoryLeaseStore.prototype.put.call(this, l);
        return flushed;
      },
    });
    const events: DhcpEvent[] = [];
    const srv = await server(
      { port, leases, lookup: () => ({}), pool: { start: "127.0.1.1", end: "127.0.1.250" } },
      relay.address().port,
      events,
    );
    await srv.start();
    const got = new Set<number>();
    relay.on("message", (m) => got.add(parseDhcp(m).xid));
    const N = 200;
    for (let i = 0; i < N; i++) {
      const mac = `52:54:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`;
      relay.send(
        clientBytes({ type: MSG.REQUEST, mac, xid: i, giaddr: "127.0.0.2", requested: `127.0.1.${i + 1}` }),
        port,
        "127.0.0.1",
      );
    }
    await vi.waitFor(() => expect(srv.stats().inflight).toBe(N), { timeout: 10_000 });
    expect(got.size).toBe(0); // nothing leaves before the journal says the leases are on disk
    release();
    await srv.close();
    expect(srv.stats().sent).toBe(N);
    // The relay's socket keeps the default (~166 datagram) buffer: all 200 arrive only if paced.
    await vi.waitFor(() => expect(got.size).toBe(N), { timeout: 10_000 });
    expect(events.filter((e) => e.type === "ack")).toHaveLength(N);
  });

  it("answers a ProxyDHCP request on the PXE port back to its sender", async () => {
    const client = await udp("127.0.0.3");
    const port = 21_000 + (process.pid % 20_000);
    const srv = await server({ mode: "proxy", port, pxePort: port + 1 }, 67, []);
    await srv.start();
    const reply = nextMessage(client);
    client.send(
      clientBytes({
        type: MSG.REQUEST,
        mac: "52:54:00:00:00:01",
        ciaddr: "127.0.0.3",
        vendorClass: "PXEClient:Arch:00007",
        arch: 7,
      }),
      port + 1,
      "127.0.0.1",
    );
    const p = parseDhcp(await reply);
    expect(messageType(p)).toBe(MSG.ACK);
    expect(p.file).toBe("ipxe.efi");
  });

  it("fails with LAB_E_DHCP_BIND when the port is taken", async () => {
    const holder = await udp("127.0.0.1");
    const port = holder.address().port;
    const srv = await server({ port }, 67, []);
    await expect(srv.start()).rejects.toMatchObject({ code: "LAB_E_DHCP_BIND" });
  });

  it("does not bind anything when off", async () => {
    const srv = await server({ mode: "off", port: 1 }, 67, []);
    await srv.start();
    expect(srv.stats().received).toBe(0);
  });

  it("takes the address and netmask of a named interface", () => {
    expect(interfaceAddress("lo")).toEqual({ address: "127.0.0.1", netmask: "255.0.0.0" });
    expect(() => interfaceAddress("lda-nonexistent")).toThrow(
      expect.objectContaining({ code: "LAB_E_DHCP_CONFIG" }),
    );
  });
});
