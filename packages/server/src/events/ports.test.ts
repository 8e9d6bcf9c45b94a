/** The port watcher against a real TCP listener on loopback: unknown → up → down, with times. */

import type { AddressInfo } from "node:net";
import { createServer, type Server } from "node:net";
import { describe, expect, it } from "vitest";
import type { LabEvent } from "./model.js";
import { PortWatcher } from "./ports.js";

const listen = () =>
  new Promise<Server>((resolve) => {
    const s = createServer((c) => c.end());
    s.listen(0, "127.0.0.1", () => resolve(s));
  });

describe("the port watcher", () => {
  it("reports each declared port's state and the time it changed, with an event per change", async () => {
    const server = await listen();
    const port = (server.address() as AddressInfo).port;
    const watcher = new PortWatcher({
      endpoints: async () => [{ server: "db-1", host: "127.0.0.1", port }],
      timeoutMs: 1000,
    });
    const got: LabEvent[] = [];
    const ctx = { emit: async (e: LabEvent[]) => void got.push(...e) };
    (watcher as unknown as { running: boolean }).running = true; // rounds driven by the test
    await watcher.round(ctx);
    const [up] = watcher.list();
    expect([up?.state, up?.node, up?.port]).toEqual(["up", "db-1", port]);
    expect(up?.since).not.toBeNull();
    await watcher.round(ctx);
    expect(got).toHaveLength(1); // no change, no event
    expect(watcher.list()[0]?.since).toBe(up?.since);

    await new Promise((r) => server.close(r));
    await watcher.round(ctx);
    const [down] = watcher.list();
    expect(down?.state).toBe("down");
    expect(down?.detail).toBe("ECONNREFUSED");
    expect(Date.parse(down?.since as string)).toBeGreaterThanOrEqual(Date.parse(up?.since as string));
    expect(got.map((e) => [e.node, e.level, e.attributes.state, e.attributes.was])).toEqual([
      ["db-1", "info", "up", "unknown"],
      ["db-1", "warn", "down", "up"],
    ]);
  });

  it("says unknown for a port not probed yet, and forgets ports no longer declared", async () => {
    let endpoints = [{ server: "a", host: "127.0.0.1", port: 1 }];
    const watcher = new PortWatcher({ endpoints: async () => endpoints, timeoutMs: 500 });
    // Not running: the round lists endpoints but probes nothing.
    await watcher.round({ emit: async () => undefined });
    expect(watcher.list().map((s) => [s.state, s.since, s.detail])).toEqual([
      ["unknown", null, "not probed yet"],
    ]);
    endpoints = [];
    await watcher.round({ emit: async () => undefined });
    expect(watcher.list()).toEqual([]);
  });
});
