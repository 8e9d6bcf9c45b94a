/**
 * The Loki tail: its codec on recorded /loki/api/v1/tail frames (the shapes Loki 2.x/3.x
 * sends: streams with [ns, line] values, dropped_entries when the tail falls behind), and
 * its reconnect logic against a local WebSocket server the test starts — a stand-in for
 * Loki, which does not run here.
 */
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { decodeLokiFrame, LokiTail } from "./loki.js";
import type { LabEvent } from "./model.js";

const RECORDED = [
  // One stream, two entries (promtail labels).
  '{"streams":[{"stream":{"filename":"/var/log/syslog","host":"db-1","job":"varlogs","level":"error"},"values":[["1700000000000000000","disk /dev/sda failed"],["1700000000500000000","retrying"]]}]}',
  // Two streams, and Loki saying it dropped two entries for this client.
  '{"streams":[{"stream":{"app":"nginx","instance":"web-1"},"values":[["1700000001000000000","GET / 200"]]},{"stream":{"service_name":"kubelet","node":"k8s-2","detected_level":"warn"},"values":[["1700000001100000000","evicting pod"]]}],"dropped_entries":[{"labels":{"app":"nginx"},"timestamp":"1700000000900000000"},{"labels":{"app":"nginx"},"timestamp":"1700000000950000000"}]}',
  // A frame with only drops (older Loki: RFC 3339 timestamps).
  '{"streams":[],"dropped_entries":[{"labels":{"job":"x"},"timestamp":"2023-11-14T22:13:20Z"}]}',
];

describe("the Loki tail codec", () => {
  it("maps recorded frames to events: node, service and level from labels, the labels as attributes", () => {
    const [a, b, c] = RECORDED.map((f) => decodeLokiFrame(f, "loki:test"));
    expect(a?.events.map((e) => [e.time, e.node, e.service, e.level, e.message])).toEqual([
      ["2023-11-14T22:13:20.000Z", "db-1", "varlogs", "error", "disk /dev/sda failed"],
      ["2023-11-14T22:13:20.500Z", "db-1", "varlogs", "error", "retrying"],
    ]);
    expect(a?.events[0]?.attributes).toMatchObject({ filename: "/var/log/syslog", job: "varlogs" });
    expect(b?.events.map((e) => [e.node, e.service, e.level, e.message])).toEqual([
      ["web-1", "nginx", "info", "GET / 200"],
      ["k8s-2", "kubelet", "warn", "evicting pod"],
      [null, null, "warn", "Loki dropped 2 entries from this tail (it could not keep up)"],
    ]);
    expect(b?.dropped).toBe(2);
    expect(c?.events.map((e) => [e.time, e.message])).toEqual([
      ["2023-11-14T22:13:20.000Z", "Loki dropped 1 entries from this tail (it could not keep up)"],
    ]);
  });

  it.each([
    ["not JSON", "{streams"],
    ["JSON without streams", '{"status":"success"}'],
  ])("refuses %s", (_what, text) => {
    expect(() => decodeLokiFrame(text, "loki:test")).toThrow();
  });
});

describe("the Loki tail's connection (a local stand-in server)", () => {
  const servers: WebSocketServer[] = [];
  let tail: LokiTail | undefined;
  afterEach(async () => {
    tail?.stop();
    for (const s of servers) await new Promise((r) => s.close(r));
  });

  async function until(ok: () => boolean, what: string) {
    for (let i = 0; i < 400; i++) {
      if (ok()) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  it("follows frames, reconnects with growing backoff while the server is gone, and resumes", async () => {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    servers.push(wss);
    await new Promise((r) => wss.once("listening", r));
    const port = (wss.address() as AddressInfo).port;
    let connections = 0;
    wss.on("connection", (ws, req) => {
      connections++;
      expect(req.url).toBe("/loki/api/v1/tail?query=%7Bjob%3D%22varlogs%22%7D");
      ws.send(RECORDED[0] as string);
    });
    const got: LabEvent[] = [];
    tail = new LokiTail({
      url: `ws://127.0.0.1:${port}/loki/api/v1/tail?query=%7Bjob%3D%22varlogs%22%7D`,
      backoffMs: 20,
      maxBackoffMs: 80,
    });
    tail.start({ emit: async (e) => void got.push(...e), fail: () => undefined });
    await until(() => got.length === 2, "the first frame");
    expect(tail.status().state).toBe("running");

    // The server goes away: the tail waits, retries with doubling delays, says so.
    for (const c of wss.clients) c.terminate();
    await new Promise((r) => wss.close(r));
    await until(
      () => tail?.counts.failures !== undefined && tail.counts.failures >= 4,
      "several failed retries",
    );
    expect(tail.status().state).toBe("waiting");
    expect(tail.status().detail).toMatch(/(connection lost|cannot connect) \(.*\); retrying in \d+ ms/);
    expect(tail.nextDelayMs).toBe(80); // 20 → 40 → 80, capped

    // Back on the same port: it reconnects by itself and the stream continues.
    const again = new WebSocketServer({ host: "127.0.0.1", port });
    servers.push(again);
    again.on("connection", (ws) => ws.send(RECORDED[1] as string));
    await until(() => got.length === 5, "the frame after reconnecting");
    expect(tail.counts.connects).toBe(2);
    expect(connections).toBe(1);
    expect(got.at(-1)?.message).toContain("dropped 2 entries");
  });
});
