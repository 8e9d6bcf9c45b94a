import { execFile } from "node:child_process";
import { createSocket } from "node:dgram";
import { connect } from "node:net";
import { promisify } from "node:util";
import { isLabError } from "@lab/core";
import { afterEach, describe, expect, it } from "vitest";
import { SyslogFramer, SyslogListener, type SyslogSender } from "./listener.js";
import type { SyslogMessage } from "./parse.js";

const run = promisify(execFile);

async function logger(args: string[]): Promise<void> {
  try {
    await run("logger", args, { timeout: 10_000 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ENOENT") throw new Error("util-linux logger is missing: apt-get install -y bsdutils");
    throw e;
  }
}

/** Resolves when `cond` holds, polling; rejects after `ms` with `what`. */
async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("SyslogFramer (RFC 6587 over TCP)", () => {
  const cases: { name: string; chunks: string[]; frames: string[]; rest?: string }[] = [
    { name: "newline terminated", chunks: ["<13>a\n<13>b\n"], frames: ["<13>a", "<13>b"] },
    { name: "split across chunks", chunks: ["<13>he", "llo\n<1", "3>x\n"], frames: ["<13>hello", "<13>x"] },
    { name: "NUL terminated", chunks: ["<13>a\u0000<13>b\u0000"], frames: ["<13>a", "<13>b"] },
    { name: "octet counted", chunks: ["9 <13>hello5 <13>x"], frames: ["<13>hello", "<13>x"] },
    { name: "octet count split in its length", chunks: ["1", "0 <13>hello", "!"], frames: ["<13>hello!"] },
    { name: "octet counted frame with a newline inside", chunks: ["8 <13>a\nbc"], frames: ["<13>a\nbc"] },
    { name: "unterminated rest on close", chunks: ["<13>a\n<13>tail"], frames: ["<13>a"], rest: "<13>tail" },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const f = new SyslogFramer();
      const got = c.chunks.flatMap((ch) => f.push(Buffer.from(ch))).map((b) => b.toString());
      expect(got).toEqual(c.frames);
      expect(f.flush()?.toString()).toBe(c.rest);
    });
  }

  it("cuts an oversized octet-counted frame and skips the rest of it", () => {
    const f = new SyslogFramer();
    const big = "x".repeat(100_000);
    const frames = [
      ...f.push(Buffer.from(`100000 ${big.slice(0, 70_000)}`)),
      ...f.push(Buffer.from(`${big.slice(70_000)}5 <13>y`)),
    ];
    expect(frames.map((b) => b.length)).toEqual([65_536, 5]);
    expect(frames[1]?.toString()).toBe("<13>y");
    expect(f.discarded).toBe(100_000 - 65_536);
  });

  it("bounds an endless line", () => {
    const f = new SyslogFramer();
    const frames = [...f.push(Buffer.alloc(70_000, 0x41)), ...f.push(Buffer.from("AAAA\n<13>next\n"))];
    expect(frames.map((b) => b.length)).toEqual([65_536, 8]);
    expect(f.discarded).toBe(70_000 - 65_536 + 4);
  });
});

describe("SyslogListener", () => {
  const listeners: SyslogListener[] = [];
  afterEach(async () => {
    await Promise.all(listeners.splice(0).map((l) => l.close()));
  });

  async function listen(onMessage?: (m: SyslogMessage, from: SyslogSender) => void) {
    const got: { m: SyslogMessage; from: SyslogSender }[] = [];
    const errors: string[] = [];
    const l = new SyslogListener({
      address: "127.0.0.1",
      port: 0,
      onMessage: onMessage ?? ((m, from) => got.push({ m, from })),
      log: (e) => errors.push(e),
    });
    listeners.push(l);
    const { port } = await l.start();
    return { l, port, got, errors };
  }

  const SENDERS: { name: string; args: string[]; transport: "udp" | "tcp"; format: string }[] = [
    { name: "logger --udp --rfc5424", args: ["--udp", "--rfc5424"], transport: "udp", format: "rfc5424" },
    { name: "logger --udp --rfc3164", args: ["--udp", "--rfc3164"], transport: "udp", format: "rfc3164" },
    {
      name: "logger --tcp --rfc5424 (newline framing)",
      args: ["--tcp", "--rfc5424"],
      transport: "tcp",
      format: "rfc5424",
    },
    {
      name: "logger --tcp --octet-count --rfc3164",
      args: ["--tcp", "--octet-count", "--rfc3164"],
      transport: "tcp",
      format: "rfc3164",
    },
  ];
  for (const s of SENDERS) {
    it(`receives and parses ${s.name}`, async () => {
      const { port, got } = await listen();
      const text = `install step ${s.name} ok`;
      await logger([
        "--server",
        "127.0.0.1",
        "--port",
        String(port),
        ...s.args,
        "-t",
        "labtest",
        "-p",
        "local1.warning",
        text,
      ]);
      await until(() => got.length >= 1, "the logger message");
      const { m, from } = got[0] as { m: SyslogMessage; from: SyslogSender };
      expect({
        format: m.format,
        facility: m.facility,
        severity: m.severity,
        app: m.app,
        message: m.message,
      }).toEqual({
        format: s.format,
        facility: 17,
        severity: 4,
        app: "labtest",
        message: text,
      });
      expect(from).toMatchObject({ address: "127.0.0.1", transport: s.transport });
      expect(m.host).toBeTruthy();
    });
  }

  it("keeps going when the handler throws, and counts what it received", async () => {
    let calls = 0;
    const seen: string[] = [];
    const { l, port, errors } = await listen((m) => {
      calls++;
      if (calls === 1) throw new Error("handler bug");
      seen.push(m.message);
    });
    const sock = createSocket("udp4");
    for (const t of ["first", "second"]) {
      await new Promise<void>((r, j) =>
        sock.send(`<13>1 - h a - - - ${t}`, port, "127.0.0.1", (e) => (e ? j(e) : r())),
      );
    }
    sock.close();
    await until(() => seen.length === 1, "the second message");
    expect(seen).toEqual(["second"]);
    expect(errors.join("\n")).toContain("handler bug");
    expect(l.stats()).toMatchObject({ received: 2, dropped: 0 });
  });

  it("asks for an 8 MiB receive buffer and reports what the kernel granted", async () => {
    const { l } = await listen();
    const { recvBufferSize } = l.stats();
    // Linux doubles the request and caps it at net.core.rmem_max; either way it is set.
    expect(recvBufferSize).toBeGreaterThan(0);
    console.log(`syslog: recvBufferSize granted ${recvBufferSize} bytes`);
  });

  // The sender is another process, as an installer is: the numbers show what the buffer buys.
  for (const recvBufferSize of [undefined, 212_992]) {
    const label = recvBufferSize ? `${recvBufferSize} B buffer` : "default 8 MiB buffer";
    it(`accounts for every datagram of a 20,000-line burst (${label}): received + kernel drops = sent`, async () => {
      const got: number[] = [];
      const l = new SyslogListener({
        address: "127.0.0.1",
        port: 0,
        recvBufferSize,
        onMessage: () => got.push(1),
      });
      listeners.push(l);
      const { port } = await l.start();
      const sent = 20_000;
      const sender = `const s=require("dgram").createSocket("udp4");const p=Buffer.from("<13>1 - web-1 anaconda - - - "+"x".repeat(200));let i=0;(function go(){while(i<${sent}){i++;if(!s.send(p,${port},"127.0.0.1")){}if(i%500===0)return setImmediate(go);}s.close();})();`;
      await run(process.execPath, ["-e", sender], { timeout: 60_000 });
      await until(
        () => {
          const st = l.stats();
          return st.received + (st.dropped ?? 0) >= sent;
        },
        "the burst to be accounted for",
        30_000,
      );
      const st = l.stats();
      expect(st.received + (st.dropped ?? 0)).toBe(sent);
      console.log(
        `syslog burst (${label}, granted ${st.recvBufferSize}): sent ${sent}, received ${st.received}, kernel dropped ${st.dropped}`,
      );
    });
  }

  it("serves several TCP senders at once and flushes an unterminated last line", async () => {
    const { port, got } = await listen();
    await Promise.all(
      [1, 2, 3].map(
        (n) =>
          new Promise<void>((resolve, reject) => {
            const c = connect(port, "127.0.0.1", () => {
              c.end(
                `<14>Nov 23 05:11:06 h${n} anaconda[${n}]: line a\n<14>Nov 23 05:11:06 h${n} anaconda[${n}]: line b`,
              );
            });
            c.on("close", () => resolve());
            c.on("error", reject);
          }),
      ),
    );
    await until(() => got.length === 6, "six TCP lines");
    expect(got.map((g) => `${g.m.host} ${g.m.message}`).sort()).toEqual([
      "h1 line a",
      "h1 line b",
      "h2 line a",
      "h2 line b",
      "h3 line a",
      "h3 line b",
    ]);
  });

  it("refuses a port that is taken with LAB_E_SYSLOG_BIND", async () => {
    const { port } = await listen();
    const second = new SyslogListener({ address: "127.0.0.1", port, onMessage: () => {} });
    const err = await second.start().catch((e: unknown) => e);
    expect(isLabError(err) && err.code).toBe("LAB_E_SYSLOG_BIND");
    await second.close();
  });
});
