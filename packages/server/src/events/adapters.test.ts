import { describe, expect, it } from "vitest";
import { EventBus } from "../bus.js";
import { auditSource, auditToEvent, timelineSources, timelineToEvent } from "./adapters.js";
import type { LabEvent } from "./model.js";

const audit = (action: string, summary: string, result = "ok") => ({
  id: 7,
  time: "2026-01-01T00:00:00.000Z",
  actor: "token:admin(t1)",
  action,
  result,
  summary,
  changes: [],
  subjects: ["server/db-1"],
});

describe("the audit source", () => {
  it.each([
    ["apply", "applied 3 changes", "ok", "audit", "info"],
    ["apply", "refused", "error", "audit", "error"],
    ["agent.connect", "agent db-1 connected", "ok", "agent", "info"],
    ["health", "db-1: ✓ (ok) → ✗ (disk)", "ok", "health", "warn"],
    ["health", "db-1: ✗ (disk) → ✓ (ok)", "ok", "health", "info"],
  ])("%s %s (%s) → source %s, level %s", (action, summary, result, source, level) => {
    const e = auditToEvent(audit(action, summary, result) as never);
    expect([e.source, e.level, e.node, e.message]).toEqual([source, level, "db-1", summary]);
  });

  it("follows the bus and batches what one tick publishes", async () => {
    const bus = new EventBus();
    const src = auditSource(bus);
    const batches: LabEvent[][] = [];
    src.start({ emit: async (b) => void batches.push(b), fail: () => undefined });
    bus.publish(audit("apply", "one") as never);
    bus.publish(audit("apply", "two") as never);
    await new Promise((r) => setImmediate(r));
    expect(batches.map((b) => b.map((e) => e.message))).toEqual([["one", "two"]]);
    src.stop();
    bus.publish(audit("apply", "after stop") as never);
    await new Promise((r) => setImmediate(r));
    expect(batches).toHaveLength(1);
  });
});

describe("the boot timeline sources", () => {
  const step = (kind: string, type: string, detail: Record<string, unknown> = {}) => ({
    id: 1,
    mac: "52:54:00:12:34:56",
    time: "2026-01-01T00:00:00.000Z",
    kind: kind as never,
    type,
    detail,
  });
  it("DHCP, TFTP and states are boot events; syslog lines are syslog events; names by MAC", () => {
    const nodeOf = (mac: string) => (mac === "52:54:00:12:34:56" ? "vm-1" : null);
    expect(timelineToEvent(step("dhcp", "ack", { ip: "10.0.0.5" }), nodeOf)).toMatchObject({
      source: "boot",
      node: "vm-1",
      service: "dhcp",
      message: "dhcp ack",
      attributes: { mac: "52:54:00:12:34:56", stage: "dhcp", ip: "10.0.0.5" },
    });
    expect(timelineToEvent(step("state", "FAILED"), nodeOf).level).toBe("error");
    expect(
      timelineToEvent(step("syslog", "subiquity", { message: "curtin: error: disk busy" }), nodeOf),
    ).toMatchObject({
      source: "syslog",
      service: "subiquity",
      level: "warn",
      message: "curtin: error: disk busy",
    });
  });

  it("splits one timeline into the two sources", async () => {
    const listeners = new Set<(e: never) => void>();
    const timeline = {
      subscribe(fn: (e: never) => void) {
        listeners.add(fn);
        return () => listeners.delete(fn);
      },
    };
    const [boot, syslog] = timelineSources(timeline, () => null);
    const got: Record<string, string[]> = { boot: [], syslog: [] };
    boot?.start({
      emit: async (b) => void got.boot?.push(...b.map((e) => e.message)),
      fail: () => undefined,
    });
    syslog?.start({
      emit: async (b) => void got.syslog?.push(...b.map((e) => e.message)),
      fail: () => undefined,
    });
    for (const l of listeners) {
      l(step("tftp", "RRQ undionly.kpxe") as never);
      l(step("syslog", "kernel", { message: "booting" }) as never);
    }
    await new Promise((r) => setImmediate(r));
    expect(got).toEqual({ boot: ["tftp RRQ undionly.kpxe"], syslog: ["booting"] });
  });
});
