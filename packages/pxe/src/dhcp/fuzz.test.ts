import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LabError } from "@lab/core";
import { afterAll, describe, expect, it } from "vitest";
import { parseDhcp } from "./codec.js";
import { MSG } from "./constants.js";
import { FileLeaseStore } from "./file-leases.js";
import { ip } from "./ip.js";
import { createDhcpContext, type DhcpContext, type Reply, respond } from "./respond.js";
import { clientPacket, fuzzPackets } from "./test-packets.js";

const dir = mkdtempSync(join(tmpdir(), "lab-dhcp-fuzz-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const COUNT = 100_000;
const SEED = 20_240_601;
/** A machine whose reservation no fuzz packet can take: it must still be served afterwards. */
const CHECK_MAC = "52:54:00:aa:bb:01";

function context(mode: "proxy" | "scoped", leases?: FileLeaseStore): DhcpContext {
  return createDhcpContext({
    mode,
    serverIp: "10.9.0.1",
    netmask: "255.255.255.0",
    router: "10.9.0.254",
    dns: ["10.9.0.53"],
    pool: { start: "10.9.0.100", end: "10.9.0.199" },
    // Every MAC is known; odd ones have reservations, some outside the subnet, to reach every branch.
    lookup: (mac) => {
      if (mac === CHECK_MAC) return { ip: "10.9.0.250" };
      const last = Number.parseInt(mac.slice(-2), 16);
      if (Number.isNaN(last) || last % 2 === 0) return {};
      return { ip: last % 3 === 0 ? `192.168.0.${last}` : `10.9.0.${last}`, hostname: `n${last}` };
    },
    discover: true,
    leases,
    boot: { httpBase: "http://10.9.0.1:8080" },
  });
}

describe("fuzzing parse + respond", () => {
  it(`throws nothing but LabError on ${COUNT} mutated, truncated and random packets`, async () => {
    const leases = await FileLeaseStore.open(join(dir, "fuzz.jsonl"));
    const contexts = [context("proxy"), context("scoped", leases)];
    const stats = { parsed: 0, rejected: 0, replies: 0, events: 0 };
    for (const c of contexts) Object.assign(c, { onEvent: () => stats.events++ });
    const foreign: unknown[] = [];
    let waiting: Promise<Reply[]>[] = [];
    let i = 0;
    for (const buf of fuzzPackets(SEED, COUNT)) {
      i++;
      let p: ReturnType<typeof parseDhcp>;
      try {
        p = parseDhcp(buf);
      } catch (e) {
        if (!(e instanceof LabError) || e.code !== "LAB_E_DHCP_MALFORMED") foreign.push({ i, e });
        stats.rejected++;
        continue;
      }
      stats.parsed++;
      for (const c of contexts) {
        for (const rx of [undefined, { localPort: 4011, address: "10.9.0.50", port: 68 }]) {
          try {
            const out = respond(p, c, rx);
            if (Array.isArray(out)) stats.replies += out.length;
            else waiting.push(out);
          } catch (e) {
            foreign.push({ i, e });
          }
        }
      }
      if (waiting.length >= 2000) {
        for (const r of await Promise.all(waiting)) stats.replies += r.length;
        waiting = [];
      }
    }
    for (const r of await Promise.all(waiting)) stats.replies += r.length;
    expect(foreign).toEqual([]);
    // The fuzzer must reach the handler, not only the parser's rejections.
    expect(stats.parsed).toBeGreaterThan(COUNT / 4);
    expect(stats.rejected).toBeGreaterThan(COUNT / 10);
    expect(stats.replies).toBeGreaterThan(1000);
    expect(stats.events).toBe(stats.parsed * 4);

    // Afterwards the same handler still serves a well-formed client.
    const scoped = contexts[1] as DhcpContext;
    const reply = await respond(clientPacket({ type: MSG.DISCOVER, mac: CHECK_MAC }), scoped);
    expect(reply).toHaveLength(1);
    expect(parseDhcp((reply[0] as Reply).data).yiaddr).toBe(ip("10.9.0.250"));
    await leases.close();
  }, 180_000);
});
