/**
 * Phone home, with real WireGuard: two network namespaces joined by a veth (the "internet"), a
 * hub that only listens, and a lab that runs `lab server` and dials out with the files
 * `lab remote-access init` wrote, brought up by the real wg-quick. This kernel has no WireGuard
 * module (CONFIG_WIREGUARD is not set), so wg-quick falls back to wireguard-go, Debian's
 * userspace implementation of the same protocol; the configuration files are the same.
 * The hub reaches Lab's API through the tunnel only after the lab called in.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labIn, ROOT, tempHome } from "../support/cli.js";

const HUB = "i18hub";
const LAB = "i18lab";
const API_PORT = 17443;

function sh(args: string[], input?: string) {
  const r = spawnSync(args[0] as string, args.slice(1), { encoding: "utf8", input });
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}
const inNs = (ns: string, args: string[]) => sh(["ip", "netns", "exec", ns, ...args]);

function teardown() {
  for (const ns of [HUB, LAB]) {
    for (const pid of sh(["ip", "netns", "pids", ns]).stdout.split("\n").filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {}
    }
    sh(["ip", "netns", "del", ns]);
  }
  for (const name of ["lab", "lab-hub"]) sh(["rm", "-f", `/var/run/wireguard/${name}.sock`]);
}

async function until<T>(what: string, f: () => T | undefined, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe("lab remote-access: the lab dials out over WireGuard and the hub reaches its API", () => {
  const home = tempHome("lab-ra-");
  const dir = join(home, "remote-access");
  const lab = labIn(home);
  let server: ChildProcess | undefined;
  let serverOutput = "";

  beforeAll(async () => {
    teardown();
    for (const ns of [HUB, LAB]) expect(sh(["ip", "netns", "add", ns]).code).toBe(0);
    sh(["ip", "link", "add", "i18h0", "netns", HUB, "type", "veth", "peer", "name", "i18l0", "netns", LAB]);
    for (const [ns, dev, ip] of [
      [HUB, "i18h0", "10.203.0.1/24"],
      [LAB, "i18l0", "10.203.0.2/24"],
    ] as const) {
      expect(inNs(ns, ["ip", "addr", "add", ip, "dev", dev]).code).toBe(0);
      expect(inNs(ns, ["ip", "link", "set", dev, "up"]).code).toBe(0);
      expect(inNs(ns, ["ip", "link", "set", "lo", "up"]).code).toBe(0);
    }
  });

  afterAll(() => {
    server?.kill("SIGKILL");
    teardown();
  });

  it("init writes wg-quick files with matching keys, 0600, and keeps the keys on a re-run", () => {
    const r = lab([
      "remote-access",
      "init",
      "--hub",
      "10.203.0.1:51820",
      "--network",
      "10.77.0.0/24",
      "--out",
      dir,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("new keys");
    expect(r.stdout).toContain("hub 10.77.0.1, lab 10.77.0.2");
    const labConf = readFileSync(join(dir, "lab.conf"), "utf8");
    const hubConf = readFileSync(join(dir, "lab-hub.conf"), "utf8");
    for (const f of ["lab.conf", "lab-hub.conf", "keys.json"]) {
      expect(statSync(join(dir, f)).mode & 0o777).toBe(0o600);
    }
    // Each side's PublicKey of the other is what the real `wg pubkey` derives from its private key.
    const field = (text: string, key: string) => new RegExp(`^${key} = (.+)$`, "m").exec(text)?.[1] as string;
    expect(sh(["wg", "pubkey"], `${field(labConf, "PrivateKey")}\n`).stdout.trim()).toBe(
      field(hubConf, "PublicKey"),
    );
    expect(sh(["wg", "pubkey"], `${field(hubConf, "PrivateKey")}\n`).stdout.trim()).toBe(
      field(labConf, "PublicKey"),
    );
    expect(labConf).toContain("Endpoint = 10.203.0.1:51820");
    expect(labConf).toContain("PersistentKeepalive = 25");
    expect(hubConf).not.toContain("Endpoint");
    expect(hubConf).toContain("ListenPort = 51820");
    // wg-quick's own parser accepts both (strip = the wg(8) part).
    expect(sh(["wg-quick", "strip", join(dir, "lab.conf")]).code).toBe(0);

    const again = lab(["remote-access", "init", "--hub", "10.203.0.1:51820", "--out", dir]);
    expect(again.stdout).toContain("kept the keys");
    expect(field(readFileSync(join(dir, "lab.conf"), "utf8"), "PrivateKey")).toBe(
      field(labConf, "PrivateKey"),
    );
  });

  it("bad input is refused with what to type", () => {
    const r = lab(["remote-access", "init", "--hub", "vpn.example.net:99999", "--out", join(home, "bad")]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("LAB_E_USAGE");
    expect(r.stderr).toContain("HOST[:PORT]");
    const n = lab([
      "remote-access",
      "init",
      "--hub",
      "h",
      "--network",
      "10.77.0.0/31",
      "--out",
      join(home, "bad"),
    ]);
    expect(n.stderr).toContain("/30 or larger");
  });

  it("status says the tunnel is not up before it is", () => {
    const r = inNs(LAB, [process.execPath, join(ROOT, "bin/lab.js"), "remote-access", "status"]);
    expect(r.stdout).toContain("lab: — tunnel not up");
  });

  it("the lab calls in, and the hub reaches lab server's API through the tunnel", async () => {
    const env = { ...process.env, LAB_HOME: home, HOME: home };
    server = spawn(
      "ip",
      [
        "netns",
        "exec",
        LAB,
        process.execPath,
        join(ROOT, "bin/lab.js"),
        "server",
        "--listen",
        `0.0.0.0:${API_PORT}`,
        "--san",
        "10.77.0.2",
      ],
      { env, stdio: ["ignore", "pipe", "pipe"] },
    );
    server.stdout?.on("data", (d) => (serverOutput += d));
    server.stderr?.on("data", (d) => (serverOutput += d));
    await until("lab server ready", () => (/^Ready\.$/m.test(serverOutput) ? true : undefined), 60_000);

    const hubUp = inNs(HUB, ["wg-quick", "up", join(dir, "lab-hub.conf")]);
    expect(hubUp.code, hubUp.stderr).toBe(0);
    // The hub has no endpoint for the lab: nothing is reachable until the lab dials out.
    expect(inNs(HUB, ["wg", "show", "lab-hub", "endpoints"]).stdout).toContain("(none)");
    const labUp = inNs(LAB, ["wg-quick", "up", join(dir, "lab.conf")]);
    expect(labUp.code, labUp.stderr).toBe(0);

    // The keepalive makes the lab call in without any traffic of its own.
    await until("the lab's handshake on the hub", () => {
      const hs = inNs(HUB, ["wg", "show", "lab-hub", "latest-handshakes"]).stdout.trim().split(/\s+/)[1];
      return hs && hs !== "0" ? hs : undefined;
    });
    expect(inNs(HUB, ["wg", "show", "lab-hub", "endpoints"]).stdout).toContain("10.203.0.2:");

    const curl = inNs(HUB, [
      "curl",
      "-sS",
      "--max-time",
      "10",
      "--cacert",
      join(home, "server", "ca.crt"),
      `https://10.77.0.2:${API_PORT}/healthz`,
    ]);
    expect(curl.stderr).toBe("");
    expect(JSON.parse(curl.stdout)).toEqual({ status: "ok" });

    const status = inNs(LAB, [
      process.execPath,
      join(ROOT, "bin/lab.js"),
      "remote-access",
      "status",
      "-o",
      "json",
    ]);
    const s = JSON.parse(status.stdout) as {
      up: boolean;
      peers: { endpoint: string; latestHandshake: string | null; rxBytes: number }[];
    };
    expect(s.up).toBe(true);
    expect(s.peers[0]?.endpoint).toBe("10.203.0.1:51820");
    expect(s.peers[0]?.latestHandshake).not.toBeNull();
    expect(s.peers[0]?.rxBytes).toBeGreaterThan(0);
    const human = inNs(LAB, [process.execPath, join(ROOT, "bin/lab.js"), "remote-access", "status"]);
    expect(human.stdout).toMatch(/latest handshake {2}\d+ s ago/);
  }, 120_000);
});
