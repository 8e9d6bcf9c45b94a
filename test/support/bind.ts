import dgram from "node:dgram";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRunning, killTracked, type Run, runToEnd, spawnTracked } from "./child.js";

export const NAMED = process.env.LAB_TEST_NAMED || "/usr/sbin/named";
export const DIG = process.env.LAB_TEST_DIG || "/usr/bin/dig";
export const NSUPDATE = process.env.LAB_TEST_NSUPDATE || "/usr/bin/nsupdate";

const INSTALL: Record<string, string> = {
  named: "apt-get install -y bind9",
  dig: "apt-get install -y bind9-dnsutils",
  nsupdate: "apt-get install -y bind9-dnsutils",
};

/** The binary's path; throws (the test fails) with the install command when it is missing. */
export function requireBindBinary(path: string): string {
  if (existsSync(path)) return path;
  const name = path.split("/").pop() ?? path;
  throw new Error(`${name} is not installed (looked for ${path}): ${INSTALL[name] ?? `install ${name}`}`);
}

export interface BindOptions {
  /** Forward zone, e.g. `lab.internal`. */
  zone: string;
  /** Reverse zone, e.g. `77.10.in-addr.arpa`. */
  reverseZone: string;
  keyName: string;
  /** Base64 hmac-sha256 secret. */
  secret: string;
  /** More primary zones; `allowUpdate: false` makes one that refuses every update. */
  extraZones?: { name: string; allowUpdate: boolean }[];
}

export interface Bind {
  readonly port: number;
  readonly dir: string;
  /** `dig +short` for NAME TYPE: the answers, one per line. */
  dig(name: string, type: string): Promise<string[]>;
  /** Runs `nsupdate -y hmac-sha256:KEY:SECRET` with `commands` (server line added); throws on failure. */
  nsupdate(commands: string, key?: { name: string; secret: string }): Promise<string>;
  output(): string;
  stop(): Promise<void>;
}

function run(bin: string, args: string[], input?: string, timeoutMs = 30_000): Promise<Run> {
  return runToEnd(bin, args, { input, timeoutMs, env: { PATH: process.env.PATH ?? "" } });
}

/** A port free on loopback for both UDP and TCP a moment ago. */
async function freePort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = net.createServer();
      srv.once("error", reject);
      srv.listen(0, "127.0.0.1", () => {
        const { port } = srv.address() as net.AddressInfo;
        srv.close(() => resolve(port));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const s = dgram.createSocket("udp4");
      s.once("error", () => resolve(false));
      s.bind(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error("no free port for named");
}

function zoneFile(origin: string): string {
  return [
    "$TTL 300",
    `@ IN SOA ns.${origin}. hostmaster.${origin}. ( 1 3600 600 86400 60 )`,
    `@ IN NS ns.${origin}.`,
    `ns.${origin}. IN A 127.0.0.1`,
    "",
  ].join("\n");
}

/** Starts named with the zones; resolves once `dig SOA zone` answers. */
export async function startBind(opts: BindOptions): Promise<Bind> {
  const bin = requireBindBinary(NAMED);
  requireBindBinary(DIG);
  const dir = mkdtempSync(join(tmpdir(), "lab-named-"));
  const zones = [
    { name: opts.zone, allowUpdate: true },
    { name: opts.reverseZone, allowUpdate: true },
    ...(opts.extraZones ?? []),
  ];
  for (const z of zones) writeFileSync(join(dir, `${z.name}.zone`), zoneFile(z.name));
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const conf = join(dir, "named.conf");
    writeFileSync(
      conf,
      [
        "options {",
        `  directory "${dir}";`,
        `  pid-file "${join(dir, "named.pid")}";`,
        `  session-keyfile "${join(dir, "session.key")}";`,
        `  managed-keys-directory "${dir}";`,
        `  listen-on port ${port} { 127.0.0.1; };`,
        "  listen-on-v6 { none; };",
        "  recursion no;",
        "  allow-query { any; };",
        "  notify no;",
        "  dnssec-validation no;",
        "};",
        // No rndc control channel: several instances would fight over port 953.
        "controls { };",
        `key "${opts.keyName}" { algorithm hmac-sha256; secret "${opts.secret}"; };`,
        ...zones.map(
          (z) =>
            `zone "${z.name}" { type primary; file "${join(dir, `${z.name}.zone`)}"; ` +
            `allow-update { ${z.allowUpdate ? `key "${opts.keyName}";` : "none;"} }; };`,
        ),
        "",
      ].join("\n"),
    );
    try {
      return await launch(bin, conf, port, dir, opts);
    } catch (e) {
      lastError = e as Error;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError ?? new Error("named did not start");
}

async function launch(
  bin: string,
  conf: string,
  port: number,
  dir: string,
  opts: BindOptions,
): Promise<Bind> {
  // -g: foreground, log to stderr. As root named keeps running as root without -u, which is
  // what a throwaway test server in a root-owned temp dir needs.
  const args = ["-g", "-4", "-c", conf, "-p", String(port)];
  const { child, output, stop } = spawnTracked(bin, args, 10000);
  const dig = async (name: string, type: string): Promise<string[]> => {
    const r = await run(requireBindBinary(DIG), [
      "@127.0.0.1",
      "-p",
      String(port),
      "+short",
      "+norecurse",
      "+tries=1",
      "+time=3",
      name,
      type,
    ]);
    if (r.code !== 0) throw new Error(`dig ${name} ${type} failed (${r.code}): ${r.stdout}${r.stderr}`);
    return r.stdout
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "");
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (!isRunning(child)) throw new Error(`named exited before it was ready:\n${output().slice(-4000)}`);
    const soa = await dig(opts.zone, "SOA").catch(() => []);
    if (soa.length > 0) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`named was not ready within 30 s:\n${output().slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    dir,
    dig,
    async nsupdate(commands, key = { name: opts.keyName, secret: opts.secret }) {
      const r = await run(
        requireBindBinary(NSUPDATE),
        ["-y", `hmac-sha256:${key.name}:${key.secret}`],
        `server 127.0.0.1 ${port}\n${commands.trimEnd()}\nsend\n`,
      );
      if (r.code !== 0) throw new Error(`nsupdate failed (${r.code}): ${r.stdout}${r.stderr}`);
      return r.stdout;
    },
    output,
    async stop() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Stops every named this module started. */
export async function stopAllBind(): Promise<void> {
  await killTracked();
}
