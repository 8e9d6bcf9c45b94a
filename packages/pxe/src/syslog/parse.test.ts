import { describe, expect, it } from "vitest";
import { MAX_MESSAGE_CHARS, parseSyslog, type SyslogMessage } from "./parse.js";

const NOW = new Date(2026, 10, 23, 12, 0, 0);
const BOM = "\u{feff}";

type Expect = Partial<SyslogMessage> & { time?: Date };

const local = (mo: number, d: number, h: number, mi: number, s: number, y = 2026) =>
  new Date(y, mo, d, h, mi, s);

const CASES: { name: string; line: string | Buffer; want: Expect }[] = [
  {
    name: "RFC 5424 example 1 (BOM in MSG)",
    line: Buffer.concat([
      Buffer.from("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "),
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from("'su root' failed for lonvick on /dev/pts/8"),
    ]),
    want: {
      format: "rfc5424",
      facility: 4,
      severity: 2,
      host: "mymachine.example.com",
      app: "su",
      procid: undefined,
      msgid: "ID47",
      message: "'su root' failed for lonvick on /dev/pts/8",
      time: new Date("2003-10-11T22:14:15.003Z"),
    },
  },
  {
    name: "RFC 5424 example 2 (offset, no SD)",
    line: "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
    want: {
      format: "rfc5424",
      facility: 20,
      severity: 5,
      host: "192.0.2.1",
      app: "myproc",
      procid: "8710",
      msgid: undefined,
      message: "%% It's time to make the do-nuts.",
      time: new Date("2003-08-24T12:14:15.000Z"),
    },
  },
  {
    name: "RFC 5424 example 3 (structured data skipped)",
    line: `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] ${BOM}An application event log entry...`,
    want: { format: "rfc5424", app: "evntslog", msgid: "ID47", message: "An application event log entry..." },
  },
  {
    name: "RFC 5424 example 4 (two SD elements, no MSG)",
    line: `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]`,
    want: { format: "rfc5424", message: "" },
  },
  {
    name: "RFC 5424 all NILVALUE: host falls back to the sender",
    line: "<14>1 - - - - - -",
    want: { format: "rfc5424", host: "10.9.9.9", app: undefined, time: undefined, message: "" },
  },
  {
    name: "RFC 5424 escaped ] and quote inside SD param",
    line: '<14>1 - h a - - [x@1 k="a\\]b\\"c" j="d"] the message',
    want: { format: "rfc5424", host: "h", app: "a", message: "the message" },
  },
  {
    name: "util-linux logger --rfc5424",
    line: '<13>1 2026-11-23T05:11:06.123456+01:00 web-1 labtest 4242 - [timeQuality tzKnown="1" isSynced="0"] hello 5424',
    want: {
      format: "rfc5424",
      facility: 1,
      severity: 5,
      host: "web-1",
      app: "labtest",
      procid: "4242",
      message: "hello 5424",
    },
  },
  {
    name: "RFC 3164 example",
    line: "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
    want: {
      format: "rfc3164",
      facility: 4,
      severity: 2,
      host: "mymachine",
      app: "su",
      message: "'su root' failed for lonvick on /dev/pts/8",
      time: local(9, 11, 22, 14, 15),
    },
  },
  {
    name: "RFC 3164 example without tag",
    line: "<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
    want: {
      format: "rfc3164",
      host: "10.0.0.99",
      app: undefined,
      message: "Use the BFG!",
      time: local(1, 5, 17, 32, 18),
    },
  },
  {
    name: "rsyslog traditional forward format",
    line: "<30>Nov 23 05:11:06 web-1 systemd[1]: Started Session 1 of User lab.\n",
    want: {
      format: "rfc3164",
      facility: 3,
      severity: 6,
      host: "web-1",
      app: "systemd",
      procid: "1",
      message: "Started Session 1 of User lab.",
    },
  },
  {
    name: "rsyslog RFC 3339 stamp in the BSD slot",
    line: "<6>2026-11-23T05:11:06.123456+00:00 web-1 kernel: [    1.234] usb 1-1: new high-speed USB device",
    want: {
      format: "rfc3164",
      host: "web-1",
      app: "kernel",
      message: "[    1.234] usb 1-1: new high-speed USB device",
      time: new Date("2026-11-23T05:11:06.123Z"),
    },
  },
  {
    name: "busybox syslogd -R (no hostname)",
    line: "<13>Nov 23 05:11:06 root: hello from busybox\n",
    want: { format: "rfc3164", host: "10.9.9.9", app: "root", message: "hello from busybox" },
  },
  {
    name: "busybox syslogd -R with pid (debian-installer)",
    line: "<13>Nov 23 05:11:06 main-menu[345]: INFO: Menu item 'partman-base' selected\n\u0000",
    want: {
      format: "rfc3164",
      host: "10.9.9.9",
      app: "main-menu",
      procid: "345",
      message: "INFO: Menu item 'partman-base' selected",
    },
  },
  {
    name: "Anaconda through rsyslog over TCP",
    line: "<142>Nov 23 05:11:06 localhost-live anaconda[1534]: anaconda: program: Running... /usr/sbin/lvm vgs labvg",
    want: {
      format: "rfc3164",
      facility: 17,
      severity: 6,
      host: "localhost-live",
      app: "anaconda",
      procid: "1534",
      message: "anaconda: program: Running... /usr/sbin/lvm vgs labvg",
    },
  },
  {
    name: "previous year when the date would be in the future",
    line: "<13>Dec 31 23:59:59 h app: old",
    want: { format: "rfc3164", time: local(11, 31, 23, 59, 59, 2025) },
  },
  {
    name: "no PRI: raw, user.notice, sender as host",
    line: "hello world",
    want: { format: "raw", facility: 1, severity: 5, host: "10.9.9.9", message: "hello world" },
  },
  {
    name: "PRI out of range is not a PRI",
    line: "<192>1 - - - - - - x",
    want: { format: "raw", facility: 1, severity: 5, message: "<192>1 - - - - - - x" },
  },
  {
    name: "PRI with a leading zero is not a PRI",
    line: "<013>Nov 23 05:11:06 h a: x",
    want: { format: "raw", message: "<013>Nov 23 05:11:06 h a: x" },
  },
  {
    name: "broken 5424 header falls back to 3164/raw text",
    line: "<14>1 notatime h a - - - msg",
    want: { facility: 1, severity: 6, message: "1 notatime h a - - - msg" },
  },
  {
    name: "invalid UTF-8 becomes replacement characters",
    line: Buffer.from([0x3c, 0x31, 0x33, 0x3e, 0x68, 0x69, 0xff, 0xfe, 0x21]),
    want: { format: "raw", facility: 1, severity: 5, message: "hi\ufffd\ufffd!" },
  },
  { name: "empty packet", line: Buffer.alloc(0), want: { format: "raw", message: "" } },
];

describe("parseSyslog", () => {
  for (const c of CASES) {
    it(c.name, () => {
      const got = parseSyslog(c.line, "10.9.9.9", NOW);
      for (const [k, v] of Object.entries(c.want)) {
        if (v instanceof Date) expect(got.time?.getTime(), k).toBe(v.getTime());
        else expect(got[k as keyof SyslogMessage], k).toEqual(v);
      }
    });
  }

  it("truncates long messages to 8 KB of text", () => {
    const long = `<13>1 - h a - - - ${"x".repeat(20_000)}`;
    const got = parseSyslog(long);
    expect(got.message.length).toBe(MAX_MESSAGE_CHARS);
    const raw = parseSyslog(Buffer.from("y".repeat(70_000)));
    expect([raw.format, raw.message.length]).toEqual(["raw", MAX_MESSAGE_CHARS]);
  });

  it("does not split a surrogate pair when truncating", () => {
    const got = parseSyslog(`<13>1 - h a - - - ${"x".repeat(MAX_MESSAGE_CHARS - 1)}😀tail`);
    expect(got.message.length).toBe(MAX_MESSAGE_CHARS - 1);
  });

  it("survives 100,000 mutated packets without throwing", () => {
    // Seeded xorshift, so a failure reproduces.
    let seed = 0x2545f491;
    const rnd = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const seeds = CASES.map((c) => (typeof c.line === "string" ? Buffer.from(c.line) : c.line)).filter(
      (b) => b.length > 0,
    );
    const specials = [
      0x3c, 0x3e, 0x20, 0x5b, 0x5d, 0x22, 0x5c, 0x2d, 0x3a, 0x0a, 0x00, 0xef, 0xbb, 0xbf, 0x31,
    ];
    const started = process.hrtime.bigint();
    for (let i = 0; i < 100_000; i++) {
      const base = seeds[rnd(seeds.length)] as Buffer;
      let b = Buffer.from(base);
      const edits = 1 + rnd(6);
      for (let e = 0; e < edits; e++) {
        const at = rnd(b.length + 1);
        switch (rnd(6)) {
          case 0: // flip a byte
            if (b.length) b[at % b.length] = rnd(256);
            break;
          case 1: // insert a syntax character
            b = Buffer.concat([
              b.subarray(0, at),
              Buffer.from([specials[rnd(specials.length)] as number]),
              b.subarray(at),
            ]);
            break;
          case 2: // delete a run
            b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + rnd(8))]);
            break;
          case 3: // truncate
            b = b.subarray(0, at);
            break;
          case 4: // duplicate a slice
            b = Buffer.concat([b, b.subarray(rnd(b.length + 1))]);
            break;
          case 5: // occasionally huge
            if (rnd(500) === 0) b = Buffer.concat([b, Buffer.alloc(60_000 + rnd(20_000), 0x41 + rnd(3))]);
            break;
        }
      }
      const m = parseSyslog(b, "192.0.2.1", NOW);
      if (
        m.message.length > MAX_MESSAGE_CHARS ||
        m.facility < 0 ||
        m.facility > 23 ||
        m.severity < 0 ||
        m.severity > 7 ||
        !["rfc5424", "rfc3164", "raw"].includes(m.format) ||
        (m.time !== undefined && Number.isNaN(m.time.getTime()))
      ) {
        throw new Error(
          `bad parse of ${JSON.stringify(b.toString("latin1").slice(0, 200))}: ${JSON.stringify(m)}`,
        );
      }
    }
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    console.log(`parseSyslog fuzz: 100000 packets in ${ms.toFixed(0)} ms`);
  });
});
