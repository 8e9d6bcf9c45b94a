import type { AuditEvent } from "@lab/core";
import { describe, expect, it } from "vitest";
import { EventBus, Subscriber, type Transport } from "./bus.js";

const event = (id: number, action = "apply"): AuditEvent => ({
  id,
  time: "t",
  actor: "a",
  action,
  result: "ok",
  summary: "",
  changes: [],
  subjects: [],
});

/** A transport that accepts `room` messages, then reports full until drained by the test. */
class FakeTransport implements Transport {
  sent: string[] = [];
  private drainers: (() => void)[] = [];
  constructor(public room: number) {}
  send(m: string): boolean {
    this.sent.push(m);
    return this.sent.length < this.room;
  }
  onDrain(cb: () => void): void {
    this.drainers.push(cb);
  }
  drain(room: number): void {
    this.room = this.sent.length + room;
    const d = this.drainers;
    this.drainers = [];
    for (const cb of d) cb();
  }
}

const formats = {
  format: (e: AuditEvent) => `e${e.id}`,
  formatMissed: (n: number, after: number) => `missed ${n} after ${after}`,
};

describe("EventBus", () => {
  it("delivers to every subscriber whose filter accepts the event", () => {
    const bus = new EventBus();
    const all = new FakeTransport(100);
    const deletes = new FakeTransport(100);
    bus.subscribe(new Subscriber(all, { filter: () => true, ...formats }));
    bus.subscribe(new Subscriber(deletes, { filter: (e) => e.action === "delete", ...formats }));
    bus.publish(event(1));
    bus.publish(event(2, "delete"));
    expect(all.sent).toEqual(["e1", "e2"]);
    expect(deletes.sent).toEqual(["e2"]);
  });

  it("bounds a slow subscriber's queue and tells it how many it missed, and from where", () => {
    const bus = new EventBus();
    const slow = new FakeTransport(2);
    bus.subscribe(new Subscriber(slow, { filter: () => true, ...formats, maxQueue: 3 }));
    for (let id = 1; id <= 20; id++) bus.publish(event(id));
    // Two went out before the transport filled; three wait; the rest are counted, not kept.
    expect(slow.sent).toEqual(["e1", "e2"]);
    expect(bus.depth).toBe(3);
    slow.drain(100);
    expect(slow.sent).toEqual(["e1", "e2", "e3", "e4", "e5", "missed 15 after 5"]);
    expect(bus.depth).toBe(0);
    bus.publish(event(21));
    expect(slow.sent.at(-1)).toBe("e21");
  });

  it("holds live events during a replay and drops what the replay already sent", () => {
    const t = new FakeTransport(100);
    const sub = new Subscriber(t, { filter: () => true, ...formats });
    sub.hold();
    sub.offer(event(5), "");
    sub.offer(event(6), "");
    sub.offer(event(7), "");
    expect(t.sent).toEqual([]);
    sub.release(6);
    expect(t.sent).toEqual(["e7"]);
  });

  it("never delivers an event twice or out of order", () => {
    const t = new FakeTransport(100);
    const sub = new Subscriber(t, { filter: () => true, ...formats });
    for (const id of [1, 2, 2, 1, 3]) sub.offer(event(id), "");
    expect(t.sent).toEqual(["e1", "e2", "e3"]);
  });
});
