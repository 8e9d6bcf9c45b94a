/**
 * N WebSocket clients on /api/v1/logs/ws in one process, each accounting for every event:
 * a frame's events are counted and their seq range checked for continuity (a hole not
 * covered by a `gap` message is SILENT loss and is reported as such); latency is the
 * receive time minus the event's own time (the writer stamps each record with its write
 * time), taken from the frame's first (= oldest) event and charged to every event in the
 * frame, so the percentiles are an upper bound.
 *
 * A real consumer must at least find the events and their numbers; full JSON.parse of every
 * frame in 32 clients on one core would measure this process, not the server, so frames are
 * scanned (Buffer.indexOf) and every 200th frame is JSON.parse'd and checked in full.
 *
 *   node clients.mjs URL TOKEN N      (driven over IPC by run.mjs: {cmd:"report"|"close"})
 */
import { performance } from "node:perf_hooks";
import WebSocket from "ws";

const [url, token, nText] = process.argv.slice(2);
const N = Number(nText);
const clock = () => performance.timeOrigin + performance.now();
const SEQ = Buffer.from(',"seq":');
const TIME = Buffer.from('"time":"');
const EVENTS = Buffer.from('{"type":"events"');

class Client {
  constructor(i) {
    this.i = i;
    this.count = 0;
    this.last = 0;
    this.first = 0;
    this.missed = 0;
    this.gaps = 0;
    this.silent = 0;
    this.frames = 0;
    this.checked = 0;
    this.bad = 0;
    /** Latency histogram in 1 ms buckets (events per bucket). */
    this.hist = new Float64Array(60_001);
    this.ws = new WebSocket(`${url}/api/v1/logs/ws?token=${token}`, {
      skipUTF8Validation: true,
      perMessageDeflate: false,
    });
    this.open = new Promise((resolve, reject) => {
      this.ws.once("open", resolve);
      this.ws.once("error", reject);
    });
    this.ws.on("message", (data) => this.onMessage(data));
  }

  onMessage(buf) {
    const now = clock();
    if (buf.indexOf(EVENTS) !== 0) {
      const m = JSON.parse(buf.toString());
      if (m.type === "gap") {
        if (m.after !== this.last) this.bad++;
        this.missed += m.missed;
        this.gaps++;
        this.last = m.until;
      }
      return;
    }
    this.frames++;
    let n = 0;
    let firstSeq = 0;
    let lastSeq = 0;
    for (let at = buf.indexOf(SEQ); at >= 0; at = buf.indexOf(SEQ, at + 7)) {
      let v = 0;
      for (let j = at + 7; ; j++) {
        const c = buf[j];
        if (c < 48 || c > 57) break;
        v = v * 10 + (c - 48);
      }
      if (n === 0) firstSeq = v;
      lastSeq = v;
      n++;
    }
    if (this.first === 0) this.first = firstSeq;
    else if (firstSeq !== this.last + 1) this.silent += Math.max(0, firstSeq - this.last - 1);
    if (lastSeq - firstSeq + 1 !== n) this.silent += lastSeq - firstSeq + 1 - n;
    this.last = lastSeq;
    this.count += n;
    const t = buf.indexOf(TIME);
    const sent = Date.parse(buf.toString("latin1", t + 8, t + 32));
    const ms = Math.max(0, Math.min(60_000, Math.round(now - sent)));
    this.hist[ms] += n;
    if (this.frames % 200 === 0) {
      const m = JSON.parse(buf.toString());
      this.checked++;
      if (m.events.length !== n || m.events[0].seq !== firstSeq) this.bad++;
    }
  }
}

const clients = Array.from({ length: N }, (_, i) => new Client(i));
await Promise.all(clients.map((c) => c.open));
process.send({ ready: true });
process.on("message", (msg) => {
  if (msg.cmd === "report") {
    const hist = new Float64Array(60_001);
    for (const c of clients) for (let i = 0; i < hist.length; i++) hist[i] += c.hist[i];
    process.send({
      report: clients.map((c) => ({
        count: c.count,
        first: c.first,
        last: c.last,
        missed: c.missed,
        gaps: c.gaps,
        silent: c.silent,
        frames: c.frames,
        checked: c.checked,
        bad: c.bad,
      })),
      hist: Array.from(hist),
    });
  } else if (msg.cmd === "close") {
    for (const c of clients) c.ws.close();
    setTimeout(() => process.exit(0), 100);
  }
});
