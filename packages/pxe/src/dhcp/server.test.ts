/**
 * DhcpServer against real clients (busybox udhcpc, ISC dhclient) over a veth between two network
 * namespaces the test creates (prefix `lda`). The server runs as a child process inside its
 * namespace (a socket must be bound there), from an esbuild bundle of this folder.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MSG } from "./constants.js";
import { clientBytes, fuzzPackets } from "./test-packets.js";

const run = promisify(execFile);
const ID = (process.pid % 10_000).toString(36);
const NS_S = `lda${ID}s`;
const NS_C = `lda${ID}c`;
const IF_S = `lda${ID}s0`;
const IF_C = `lda${ID}c0`;
const NET = `10.${200 + (process.pid % 50)}.7`;
const SERVER_IP = `${NET}.1`;
const KNOWN_MAC = "52:54:00:1a:00:01";
const RESERVED_MAC = "52:54:00:1a:00:02";
const POOL_MAC = "52:54:00:1a:00:03";
const UNKNOWN_MAC = "52:54:00:1a:00:99";
const dir = mkdtempSync(join(tmpdir(), "lab-dhcp-netns-"));
const BUSYBOX = "/bin/busybox";

/** The server process: JSON lines on stdout ({ready}, {event}, {stats}). */
const RUNNER = `
import { DhcpServer, FileLeaseStore } from ${JSON.stringify(join(dir, "dhcp.mjs"))};
const cfg = JSON.parse(process.argv[2]);
const leases = cfg.journal ? await FileLeaseStore.open(cfg.journal) : undefined;
const machines = new Map(Object.entries(cfg.machines));
const out = (o) => process.stdout.write(JSON.stringify(o) + "\\n");
const server = new DhcpServer({ ...cfg.server, leases, lookup: (mac) => machines.get(mac), onEvent: (event) => out({ event }), log: (line) => out({ log: line }) });
await server.start();
out({ ready: true, leases: leases?.recovery });
process.on("SIGUSR2", () => out({ stats: server.stats() }));
process.on("SIGTERM", async () => { await server.close(); await leases?.close(); out({ closed: true }); process.exit(0); });
`;

/** udhcpc's event script: one env dump per call, named by the event. */
const SCRIPT = `#!/bin/sh
env | sort > "${dir}/udhcpc-$1.env"
`;

const DHCLIENT_SCRIPT = `#!/bin/sh
env | sort > "${dir}/dhclient-$reason.env"
`;

async function sh(
  cmd: string,
  args: string[],
  timeout = 30_000,
): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await run(cmd, args, { timeout });
    return { ...r, code: 0 };
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; code?: number };
    return { stdout: x.stdout ?? "", stderr: x.stderr ?? "", code: typeof x.code === "number" ? x.code : 1 };
  }
}

async function must(cmd: string, args: string[]): Promise<void> {
  const r = await sh(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
}

class ServerProcess {
  readonly lines: Array<Record<string, unknown>> = [];
  private waiters: Array<() => void> = [];
  private constructor(readonly child: ChildProcess) {}

  static async start(config: object): Promise<ServerProcess> {
    const child = spawn(
      "ip",
      ["netns", "exec", NS_S, process.execPath, join(dir, "runner.mjs"), JSON.stringify(config)],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const s = new ServerProcess(child);
    let buf = "";
    child.stdout?.on("data", (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        s.lines.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
        buf = buf.slice(i + 1);
        for (const w of s.waiters.splice(0)) w();
      }
    });
    let err = "";
    child.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.on("exit", () => {
      for (const w of s.waiters.splice(0)) w();
    });
    await s.waitFor((l) => l.ready === true, `server ready (stderr: ${err})`);
    return s;
  }

  /** Resolves with the first line matching; fails (never on timing alone) if the process exits first. */
  async waitFor(
    pred: (l: Record<string, unknown>) => boolean,
    what: string,
    from = 0,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const hit = this.lines.slice(from).find(pred);
      if (hit) return hit;
      if (this.child.exitCode !== null || Date.now() > deadline) throw new Error(`never saw ${what}`);
      await new Promise<void>((res) => {
        this.waiters.push(res);
        setTimeout(res, 500);
      });
    }
  }

  events(from = 0): Array<Record<string, unknown>> {
    return this.lines.slice(from).flatMap((l) => (l.event ? [l.event as Record<string, unknown>] : []));
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((res) => this.child.once("exit", res));
    this.child.kill("SIGTERM");
    await exited;
  }
}

function baseConfig(mode: "scoped" | "proxy", journal?: string) {
  return {
    journal,
    machines: {
      [KNOWN_MAC]: { hostname: "node-1" },
      [RESERVED_MAC]: { ip: `${NET}.50`, hostname: "db-1" },
      [POOL_MAC]: {},
    },
    server: {
      mode,
      interface: IF_S,
      router: `${NET}.254`,
      dns: [`${NET}.53`],
      leaseTime: 3600,
      pool: { start: `${NET}.100`, end: `${NET}.150` },
      boot: { httpBase: `http://${SERVER_IP}:8080` },
    },
  };
}

async function setMac(mac: string): Promise<void> {
  await must("ip", ["-n", NS_C, "link", "set", IF_C, "down"]);
  await must("ip", ["-n", NS_C, "link", "set", IF_C, "address", mac]);
  await must("ip", ["-n", NS_C, "link", "set", IF_C, "up"]);
}

function clearEnv(): void {
  for (const f of ["udhcpc-bound.env", "udhcpc-leasefail.env", "udhcpc-deconfig.env", "dhclient-BOUND.env"])
    rmSync(join(dir, f), { force: true });
}

function readEnv(name: string): Record<string, string> {
  const text = readFileSync(join(dir, name), "utf8");
  return Object.fromEntries(
    text
      .split("\n")
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

async function udhcpc(extra: string[] = []): Promise<number> {
  const args = [
    "netns",
    "exec",
    NS_C,
    BUSYBOX,
    "udhcpc",
    "-i",
    IF_C,
    "-f",
    "-n",
    "-q",
    "-t",
    "3",
    "-T",
    "1",
    "-s",
    join(dir, "udhcpc.sh"),
    ...extra,
  ];
  return (await sh("ip", args, 60_000)).code;
}

/** Runs tcpdump in the client namespace around `during`, returns its verbose decode of DHCP replies. */
async function capture(during: () => Promise<unknown>): Promise<string> {
  const td = spawn(
    "ip",
    ["netns", "exec", NS_C, "tcpdump", "-i", IF_C, "-n", "-vvv", "-l", "udp", "src", "port", "67"],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  td.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  await new Promise<void>((res, rej) => {
    td.stderr?.on("data", (d: Buffer) => {
      if (d.toString().includes("listening on")) res();
    });
    td.on("exit", () => rej(new Error("tcpdump exited before listening")));
  });
  await during();
  const exited = new Promise((res) => td.once("exit", res));
  td.kill("SIGINT");
  await exited;
  return out;
}

let server: ServerProcess | undefined;

beforeAll(async () => {
  const missing = [
    ["ip", "iproute2"],
    ["tcpdump", "tcpdump"],
    ["dhclient", "isc-dhcp-client"],
  ].filter(
    ([bin]) => !["/usr/sbin", "/sbin", "/usr/bin", "/bin"].some((d) => existsSync(join(d, bin as string))),
  );
  if (!existsSync(BUSYBOX)) missing.push(["busybox", "busybox-static"]);
  if (missing.length)
    throw new Error(`missing peers: apt-get install -y ${missing.map((m) => m[1]).join(" ")}`);
  await build({
    entryPoints: [resolve(import.meta.dirname, "index.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    outfile: join(dir, "dhcp.mjs"),
    logLevel: "error",
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
  });
  writeFileSync(join(dir, "runner.mjs"), RUNNER);
  writeFileSync(join(dir, "udhcpc.sh"), SCRIPT, { mode: 0o755 });
  writeFileSync(join(dir, "dhclient.sh"), DHCLIENT_SCRIPT, { mode: 0o755 });
  await must("ip", ["netns", "add", NS_S]);
  await must("ip", ["netns", "add", NS_C]);
  await must("ip", ["link", "add", IF_S, "netns", NS_S, "type", "veth", "peer", "name", IF_C, "netns", NS_C]);
  await must("ip", ["-n", NS_S, "addr", "add", `${SERVER_IP}/24`, "dev", IF_S]);
  await must("ip", ["-n", NS_S, "link", "set", IF_S, "up"]);
  await must("ip", ["-n", NS_S, "link", "set", "lo", "up"]);
  await must("ip", ["-n", NS_C, "link", "set", "lo", "up"]);
  await setMac(KNOWN_MAC);
});

afterAll(async () => {
  await server?.stop();
  await sh("ip", ["netns", "del", NS_S]);
  await sh("ip", ["netns", "del", NS_C]);
  rmSync(dir, { recursive: true, force: true });
});

describe("DhcpServer in scoped mode with real clients", () => {
  const journal = join(dir, "leases.jsonl");

  it("starts and serves a reserved MAC its address, router, DNS and lease; the lease is in the journal", async () => {
    server = await ServerProcess.start(baseConfig("scoped", journal));
    clearEnv();
    await setMac(RESERVED_MAC);
    expect(await udhcpc()).toBe(0);
    const env = readEnv("udhcpc-bound.env");
    expect(env.ip).toBe(`${NET}.50`);
    expect(env.router).toBe(`${NET}.254`);
    expect(env.dns).toBe(`${NET}.53`);
    expect(env.subnet).toBe("255.255.255.0");
    expect(env.lease).toBe("3600");
    expect(env.serverid).toBe(SERVER_IP);
    expect(env.hostname).toBe("db-1");
    const lines = readFileSync(journal, "utf8").trim().split("\n");
    expect(lines.some((l) => l.includes(`"m":"${RESERVED_MAC}","i":"${NET}.50"`))).toBe(true);
    const types = server
      .events()
      .filter((e) => e.mac === RESERVED_MAC)
      .map((e) => e.type);
    expect(types).toEqual(["offer", "ack"]);
  });

  it("gives a known MAC without reservation a pool address (dhclient)", async () => {
    clearEnv();
    await setMac(POOL_MAC);
    const child = spawn(
      "ip",
      [
        "netns",
        "exec",
        NS_C,
        "dhclient",
        "-d",
        "-1",
        "-sf",
        join(dir, "dhclient.sh"),
        "-lf",
        join(dir, "dhclient.leases"),
        "-pf",
        join(dir, "dhclient.pid"),
        IF_C,
      ],
      { stdio: "ignore" },
    );
    try {
      const from = 0;
      await server?.waitFor(
        (l) =>
          (l.event as { mac?: string; type?: string } | undefined)?.type === "ack" &&
          (l.event as { mac?: string }).mac === POOL_MAC,
        "ACK for dhclient",
        from,
      );
      for (let i = 0; i < 100 && !existsSync(join(dir, "dhclient-BOUND.env")); i++)
        await new Promise((r) => setTimeout(r, 100));
      const env = readEnv("dhclient-BOUND.env");
      expect(env.new_ip_address).toBe(`${NET}.100`);
      expect(env.new_routers).toBe(`${NET}.254`);
      expect(env.new_domain_name_servers).toBe(`${NET}.53`);
      expect(env.new_dhcp_lease_time).toBe("3600");
    } finally {
      const exited = new Promise((res) => child.once("exit", res));
      child.kill("SIGTERM");
      await exited;
    }
  });

  it("gives an unknown MAC nothing and records why", async () => {
    clearEnv();
    await setMac(UNKNOWN_MAC);
    const from = server?.lines.length ?? 0;
    expect(await udhcpc()).not.toBe(0);
    expect(existsSync(join(dir, "udhcpc-bound.env"))).toBe(false);
    const ev = server?.events(from).filter((e) => e.mac === UNKNOWN_MAC) ?? [];
    expect(ev.length).toBeGreaterThan(0);
    expect(ev.every((e) => e.type === "ignored" && String(e.reason).includes("unknown MAC"))).toBe(true);
  });

  it("survives 20,000 fuzzed datagrams and still serves a real client", async () => {
    const packets = [...fuzzPackets(4242, 20_000)];
    const file = join(dir, "fuzz.bin");
    writeFileSync(
      file,
      Buffer.concat(packets.flatMap((p) => [Buffer.from([p.length >> 8, p.length & 255]), p])),
    );
    // Every 100 datagrams the blaster asks for an offer for a reserved MAC and waits for it:
    // the server reads its socket in order, so the answer means the batch before it was read.
    // Without that pacing a loaded machine drops most of the burst in the socket buffer and the
    // test would measure the kernel, not the parser.
    const probe = clientBytes({ type: MSG.DISCOVER, mac: RESERVED_MAC, flags: 0x8000 });
    writeFileSync(join(dir, "probe.bin"), probe);
    const blaster = `
      import { createSocket } from "node:dgram";
      import { readFileSync } from "node:fs";
      const buf = readFileSync(${JSON.stringify(file)});
      const probe = readFileSync(${JSON.stringify(join(dir, "probe.bin"))});
      const s = createSocket({ type: "udp4", reuseAddr: true });
      let answered = () => {};
      s.on("message", (m) => { if (m.length > 8 && m.readUInt32BE(4) === probe.readUInt32BE(4)) answered(); });
      await new Promise((r) => s.bind(68, r));
      s.setBroadcast(true);
      const send = (p, to) => new Promise((r) => s.send(p, 67, to, r));
      const drained = async (k) => {
        probe.writeUInt32BE(0x7e000000 + k, 4);
        const got = new Promise((r) => { answered = r; });
        // The probe itself may be lost too: ask again until the server answers.
        for (let done = false; !done; ) {
          await send(probe, ${JSON.stringify(SERVER_IP)});
          done = await Promise.race([got.then(() => true), new Promise((r) => setTimeout(() => r(false), 1000))]);
        }
      };
      let n = 0;
      for (let i = 0; i < buf.length; ) {
        const len = buf.readUInt16BE(i);
        const p = buf.subarray(i + 2, i + 2 + len);
        i += 2 + len;
        await send(p, n++ % 2 ? "255.255.255.255" : ${JSON.stringify(SERVER_IP)});
        if (n % 100 === 0) await drained(n);
      }
      s.close();
      console.log(n);
    `;
    writeFileSync(join(dir, "blaster.mjs"), blaster);
    await must("ip", ["-n", NS_C, "addr", "add", `${NET}.9/24`, "dev", IF_C]);
    const r = await sh("ip", ["netns", "exec", NS_C, process.execPath, join(dir, "blaster.mjs")], 120_000);
    await must("ip", ["-n", NS_C, "addr", "flush", "dev", IF_C]);
    expect(r.stdout.trim()).toBe("20000");
    const mark = server?.lines.length ?? 0;
    server?.child.kill("SIGUSR2");
    const stats = (await server?.waitFor((l) => l.stats !== undefined, "stats", mark))?.stats as {
      malformed: number;
      received: number;
    };
    expect(stats.malformed).toBeGreaterThan(1000);
    clearEnv();
    await setMac(RESERVED_MAC);
    expect(await udhcpc()).toBe(0);
    expect(readEnv("udhcpc-bound.env").ip).toBe(`${NET}.50`);
  });

  it("keeps the leases across a restart (durable journal)", async () => {
    await server?.stop();
    server = await ServerProcess.start(baseConfig("scoped", journal));
    const ready = server.lines.find((l) => l.ready) as { leases: { leases: number } };
    expect(ready.leases.leases).toBeGreaterThanOrEqual(2);
    await server.stop();
  });
});

describe("DhcpServer in proxy mode with real clients", () => {
  it("starts in proxy mode", async () => {
    server = await ServerProcess.start(baseConfig("proxy"));
  });

  it("gives a client that is not PXE nothing", async () => {
    clearEnv();
    await setMac(KNOWN_MAC);
    const from = server?.lines.length ?? 0;
    const dump = await capture(() => udhcpc());
    expect(dump).not.toContain("BOOTP/DHCP, Reply");
    const ev = server?.events(from) ?? [];
    expect(ev.length).toBeGreaterThan(0);
    expect(ev.every((e) => e.type === "ignored" && String(e.reason).includes("not a PXE client"))).toBe(true);
  });

  it("gives a PXE client the boot file and next-server but no address", async () => {
    clearEnv();
    const from = server?.lines.length ?? 0;
    const uuid = `00${"11".repeat(16)}`;
    const dump = await capture(() =>
      udhcpc(["-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000", "-x", `0x61:${uuid}`]),
    );
    // tcpdump's own decoder reads the reply: an offer with next-server and file, and no Your-IP.
    expect(dump).toContain("BOOTP/DHCP, Reply");
    expect(dump).toMatch(/DHCP-Message \(53\), length 1: Offer/);
    expect(dump).toContain(`Server-IP ${SERVER_IP}`);
    expect(dump).toContain('file "undionly.kpxe"');
    expect(dump).not.toContain("Your-IP");
    expect(dump).toMatch(/Vendor-Class \(60\), length 9: "PXEClient"/);
    expect(existsSync(join(dir, "udhcpc-bound.env"))).toBe(false);
    const offers = (server?.events(from) ?? []).filter((e) => e.type === "offer");
    expect(offers[0]).toMatchObject({ mac: KNOWN_MAC, arch: 0, file: "undionly.kpxe" });
    expect(offers[0]?.ip).toBeUndefined();
    await server?.stop();
  });
});
