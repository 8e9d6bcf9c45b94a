import { describe, expect, it } from "vitest";
import type { Transport } from "../bus.js";
import { LogClient, LogHub, logMatcher, sseWire, wsWire } from "./fanout.js";
import type { Level } from "./model.js";
import type { StoredEvent } from "./ring.js";

let seq = 0;
const ev = (over: Partial<StoredEvent> = {}): StoredEvent => ({
  seq: ++seq,
  time: "2026-01-01T00:00:00.000Z",
  node: "db-1",
  service: "sshd",
  source: "otel-file:/var/log/a.json",
  level: "info",
  message: `m${seq}`,
  attributes: {},
  ...over,
});
const batch = (events: StoredEvent[]) => [events, events.map((e) => JSON.stringify(e))] as const;

/** A socket that accepts `room` messages, then reports full until the test drains it. */
class FakeSocket implements Transport {
  readonly frames: string[] = [];
  private drainers: (() => void)[] = [];
  constructor(public room = Number.POSITIVE_INFINITY) {}
  send(m: string | Buffer): boolean {
    this.frames.push(m.toString());
    this.room--;
    return this.room > 0;
  }
  onDrain(cb: () => void): void {
    this.drainers.push(cb);
  }
  drain(room = Number.POSITIVE_INFINITY): void {
    this.room = room;
    const d = this.drainers;
    this.drainers = [];
    for (const cb of d) cb();
  }
  /** Every message as parsed JSON (ws wire). */
  messages(): { type: string; events?: StoredEvent[]; missed?: number; after?: number; until?: number }[] {
    return this.frames.map((f) => JSON.parse(f));
  }
  seqs(): number[] {
    return this.messages().flatMap((m) => (m.events ?? []).map((e) => e.seq));
  }
}

describe("log filters", () => {
  it.each<[string, Parameters<typeof logMatcher>[0], Partial<StoredEvent>, boolean]>([
    ["no filter takes everything", {}, {}, true],
    ["level: warn refuses info", { level: "warn" }, { level: "info" }, false],
    ["level: warn takes fatal", { level: "warn" }, { level: "fatal" }, true],
    ["node must match", { node: ["web-1"] }, { node: "db-1" }, false],
    ["a null node never matches a node filter", { node: ["db-1"] }, { node: null }, false],
    ["source kind prefix", { source: ["otel-file"] }, {}, true],
    ["a prefix must end at ':'", { source: ["otel"] }, {}, false],
    ["exact source", { source: ["syslog"] }, { source: "syslog" }, true],
    ["service", { service: ["nginx"] }, {}, false],
  ])("%s", (_what, filter, over, expected) => {
    expect(logMatcher(filter)(ev(over))).toBe(expected);
  });
});

describe("the log hub", () => {
  it("sends one shared batch frame to every client that keeps up, filtered per client", () => {
    const hub = new LogHub();
    const all = [new FakeSocket(), new FakeSocket()];
    const warn = new FakeSocket();
    for (const s of all) hub.add(new LogClient(s, { filter: {}, wire: wsWire, maxQueue: 100 }));
    hub.add(new LogClient(warn, { filter: { level: "warn" }, wire: wsWire, maxQueue: 100 }));
    const levels: Level[] = ["info", "warn", "error", "debug"];
    const events = levels.map((level) => ev({ level }));
    hub.publish(...batch(events));
    expect(all[0]?.frames).toHaveLength(1);
    expect(all[0]?.frames).toEqual(all[1]?.frames);
    expect(all[0]?.seqs()).toEqual(events.map((e) => e.seq));
    expect(warn.messages()[0]?.events?.map((e) => e.level)).toEqual(["warn", "error"]);
  });

  it("a slow client queues up to its bound, then gets one gap with the exact count and range; the fast one misses nothing", () => {
    const hub = new LogHub();
    const fast = new FakeSocket();
    const slow = new FakeSocket(1); // full after its first message
    const slowClient = new LogClient(slow, { filter: {}, wire: wsWire, maxQueue: 5 });
    hub.add(new LogClient(fast, { filter: {}, wire: wsWire, maxQueue: 5 }));
    hub.add(slowClient);
    const sent: StoredEvent[] = [];
    for (let i = 0; i < 20; i++) {
      const b = [ev(), ev()];
      sent.push(...b);
      hub.publish(...batch(b));
    }
    expect(fast.seqs()).toEqual(sent.map((e) => e.seq));
    // The slow one got its first batch, then queued two batches (4 ≤ 5; a third would not
    // fit), then missed the other 34.
    expect(slow.seqs()).toEqual(sent.slice(0, 2).map((e) => e.seq));
    expect(slowClient.queued).toBe(4);
    slow.drain();
    const msgs = slow.messages();
    const gap = msgs.at(-1);
    expect(gap).toEqual({ type: "gap", missed: 34, after: sent[5]?.seq, until: sent[39]?.seq });
    expect(slow.seqs()).toEqual(sent.slice(0, 6).map((e) => e.seq));
    // Zero silent loss: delivered + announced = published.
    expect(slow.seqs().length + (gap?.missed ?? 0)).toBe(sent.length);
    // Back in step: the next batch arrives whole.
    const next = [ev()];
    hub.publish(...batch(next));
    expect(slow.seqs().at(-1)).toBe(next[0]?.seq);
  });

  it("counts only what the client's filter accepts in its gap", () => {
    const hub = new LogHub();
    const s = new FakeSocket(1);
    hub.add(new LogClient(s, { filter: { level: "error" }, wire: wsWire, maxQueue: 1 }));
    hub.publish(...batch([ev({ level: "error" })])); // sent; socket now full
    hub.publish(...batch([ev({ level: "error" }), ev(), ev({ level: "error" }), ev({ level: "fatal" })]));
    s.drain();
    const gap = s.messages().at(-1);
    expect(gap?.type).toBe("gap");
    // The batch's three errors do not fit a queue of one: all three missed; the infos never counted.
    expect(gap?.missed).toBe(3);
  });

  it("holds live events during a replay and releases the newer ones after it, in order", async () => {
    const hub = new LogHub();
    const s = new FakeSocket();
    const c = new LogClient(s, { filter: {}, wire: wsWire, maxQueue: 100 });
    const old = [ev(), ev(), ev()];
    c.hold();
    hub.add(c);
    const live = [ev(), ev()];
    hub.publish(...batch([old[2] as StoredEvent, ...live])); // overlaps the replay by one
    await c.replay(...(batch(old) as unknown as [StoredEvent[], string[]]));
    c.release();
    expect(s.seqs()).toEqual([...old, ...live].map((e) => e.seq));
  });

  it("spells SSE frames with the batch's last seq as the id", () => {
    const hub = new LogHub();
    const s = new FakeSocket();
    hub.add(new LogClient(s, { filter: {}, wire: sseWire, maxQueue: 10 }));
    const b = [ev(), ev()];
    hub.publish(...batch(b));
    expect(s.frames[0]).toMatch(new RegExp(`^id: ${b[1]?.seq}\nevent: events\ndata: \\{"events":\\[`));
  });
});
