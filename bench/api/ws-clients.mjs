/**
 * N WebSocket clients on /api/v1/events/ws in one process (pinned to the load core by
 * run.mjs), counting every message each one receives. Driven over IPC by run.mjs:
 *
 *   parent → {cmd: "reset"}                    forget counts (between phases)
 *   parent → {cmd: "wait", ids: [lo, hi] | number[], idleMs}
 *            waits until every client has every expected id (or nothing arrived for idleMs),
 *            then answers {report}
 *   parent → {cmd: "close"}
 *
 * Per message the client does what a real consumer must do at least: tell events from
 * notices and read the event id. Event messages are `{"type":"event","event":{"id":N,…`
 * (routes.ts builds them by concatenation), so the id is read from the prefix; every 500th
 * message, and every message that does not have that prefix, is fully JSON.parse'd and
 * checked. Missed notices (`{"type":"missed","missed":N,…}`) are summed.
 *
 *   node ws-clients.mjs URL TOKEN N
 */
import { performance } from "node:perf_hooks";
import WebSocket from "ws";

const [url, token, nText] = process.argv.slice(2);
const N = Number(nText);
/** Wall-clock milliseconds, sub-millisecond precision, comparable across processes. */
const clock = () => performance.timeOrigin + performance.now();
const PREFIX = '{"type":"event","event":{"id":';

class Client {
  constructor(i) {
    this.i = i;
    this.reset();
  }

  reset() {
    this.count = 0;
    this.ids = [];
    this.missed = 0;
    this.missedNotices = 0;
    this.malformed = 0;
    this.outOfOrder = 0;
    this.lastId = 0;
    this.first = 0;
    this.last = 0;
  }

  connect() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, {
        headers: { authorization: `Bearer ${token}` },
        perMessageDeflate: false,
      });
      this.ws = ws;
      ws.on("open", () => resolve());
      ws.on("error", (e) => reject(e));
      ws.on("unexpected-response", (_req, res) => reject(new Error(`ws upgrade answered ${res.statusCode}`)));
      ws.on("message", (data) => this.onMessage(data));
      ws.on("close", (code) => {
        this.closed = code;
      });
    });
  }

  onMessage(data) {
    const now = clock();
    if (this.first === 0) this.first = now;
    this.last = now;
    const text = data.toString();
    let id;
    if (text.startsWith(PREFIX) && this.count % 500 !== 0) {
      id = Number.parseInt(text.slice(PREFIX.length, PREFIX.length + 16), 10);
    } else {
      let m;
      try {
        m = JSON.parse(text);
      } catch {
        this.malformed++;
        return;
      }
      if (m.type === "missed") {
        this.missedNotices++;
        this.missed += m.missed;
        return;
      }
      if (m.type !== "event" || !Number.isInteger(m.event?.id) || typeof m.event.action !== "string") {
        this.malformed++;
        return;
      }
      id = m.event.id;
    }
    if (!Number.isInteger(id)) {
      this.malformed++;
      return;
    }
    if (id <= this.lastId) this.outOfOrder++;
    this.lastId = id;
    this.count++;
    this.ids.push(id);
  }
}

let cpuAtReset = process.cpuUsage();
const clients = Array.from({ length: N }, (_, i) => new Client(i));
await Promise.all(clients.map((c) => c.connect()));
process.send({ ready: true, clients: N });

function report(expected) {
  // expected: {lo, hi} (a contiguous range) or {list: number[]}
  const want = expected.list ? new Set(expected.list) : null;
  const inExpected = (id) => (want ? want.has(id) : id >= expected.lo && id <= expected.hi);
  const expectedCount = want ? want.size : expected.hi - expected.lo + 1;
  const per = clients.map((c) => {
    const seen = new Set();
    let dup = 0;
    let foreign = 0;
    for (const id of c.ids) {
      if (!inExpected(id)) foreign++;
      else if (seen.has(id)) dup++;
      else seen.add(id);
    }
    return {
      received: c.count,
      expectedReceived: seen.size,
      notDelivered: expectedCount - seen.size,
      // Not delivered and not announced by a missed notice either.
      lost: Math.max(0, expectedCount - seen.size - c.missed),
      duplicates: dup,
      foreign,
      missedNotices: c.missedNotices,
      missed: c.missed,
      malformed: c.malformed,
      outOfOrder: c.outOfOrder,
      first: c.first,
      last: c.last,
      closed: c.closed ?? null,
    };
  });
  const firsts = per.filter((p) => p.first > 0).map((p) => p.first);
  const lasts = per.filter((p) => p.last > 0).map((p) => p.last);
  const sum = (k) => per.reduce((a, p) => a + p[k], 0);
  return {
    clients: N,
    expectedPerClient: expectedCount,
    messages: sum("received"),
    notDelivered: sum("notDelivered"),
    lost: sum("lost"),
    duplicates: sum("duplicates"),
    foreign: sum("foreign"),
    missedNotices: sum("missedNotices"),
    missed: sum("missed"),
    malformed: sum("malformed"),
    outOfOrder: sum("outOfOrder"),
    closedClients: per.filter((p) => p.closed !== null).length,
    firstDelivery: firsts.length ? Math.min(...firsts) : null,
    lastDelivery: lasts.length ? Math.max(...lasts) : null,
    now: clock(),
    /** CPU seconds this process (all N clients) used since the last reset. */
    cpuSeconds: (() => {
      const u = process.cpuUsage(cpuAtReset);
      return (u.user + u.system) / 1e6;
    })(),
  };
}

process.on("message", (msg) => {
  if (msg.cmd === "reset") {
    for (const c of clients) c.reset();
    cpuAtReset = process.cpuUsage();
    process.send({ reset: true });
  } else if (msg.cmd === "wait") {
    const expected = msg.expected;
    const want = expected.list ? expected.list.length : expected.hi - expected.lo + 1;
    const started = clock();
    const tick = () => {
      const done = clients.every((c) => c.count + c.missed >= want);
      const lastAny = Math.max(0, ...clients.map((c) => c.last));
      const idle = clock() - Math.max(lastAny, started) > msg.idleMs;
      if (done || idle) process.send({ report: report(expected), timedOut: !done });
      else setTimeout(tick, 20);
    };
    tick();
  } else if (msg.cmd === "close") {
    for (const c of clients) c.ws.close();
    setTimeout(() => process.exit(0), 200).unref();
  }
});
