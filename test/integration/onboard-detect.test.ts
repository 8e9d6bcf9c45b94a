/**
 * SSH onboarding against a real second host: Debian's sshd in a chroot inside its own network
 * namespace (test/support/ssh-host.ts). Detection must report this machine's real CPU, memory,
 * disks and the namespace's NIC (the chroot shares the kernel), uploads land with their mode,
 * and every failure is a LabError with its code. No private key may reach any log.
 */
import { spawn } from "node:child_process";
import { chmod, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isLabError, type LabError } from "@lab/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { detectHardware, parseLsblk, SshSession, scriptRunner } from "../../packages/onboard/src/exports.js";
import { containsPrivateKey, run, startTestHost, type TestHost } from "../support/ssh-host.js";

let host: TestHost;
let plain: TestHost; // a second host at the same time, without the SFTP subsystem
const sessions: SshSession[] = [];
/** Everything the tests printed or were told: checked for key material at the end. */
const logs: string[] = [];

const origOut = process.stdout.write.bind(process.stdout);
const origErr = process.stderr.write.bind(process.stderr);

beforeAll(async () => {
  const capture =
    (orig: typeof process.stdout.write) =>
    (chunk: unknown, ...rest: unknown[]): boolean => {
      logs.push(String(chunk));
      return (orig as (c: unknown, ...r: unknown[]) => boolean)(chunk, ...rest);
    };
  process.stdout.write = capture(origOut) as typeof process.stdout.write;
  process.stderr.write = capture(origErr) as typeof process.stderr.write;
  [host, plain] = await Promise.all([
    startTestHost({ prefix: "lde" }),
    startTestHost({ prefix: "lde", sftp: false }),
  ]);
});

afterAll(async () => {
  await Promise.all(sessions.map((s) => s.close()));
  process.stdout.write = origOut;
  process.stderr.write = origErr;
  await Promise.all([host?.stop(), plain?.stop()]);
});

async function connect(h: TestHost, extra: Partial<Parameters<typeof SshSession.connect>[0]> = {}) {
  const s = await SshSession.connect({
    host: h.ip,
    port: h.port,
    user: h.user,
    identityFile: h.identityFile,
    timeoutMs: 20_000,
    ...extra,
  });
  sessions.push(s);
  return s;
}

async function failure(p: Promise<unknown>): Promise<LabError> {
  try {
    await p;
  } catch (e) {
    if (!isLabError(e)) throw e;
    logs.push(`${e.code}: ${e.message} → ${e.hint}`);
    return e;
  }
  throw new Error("expected a LabError");
}

describe("SshSession against the test host", () => {
  it("connects and reports the host key fingerprint as ssh-keygen prints it", async () => {
    const s = await connect(host);
    const keygen = await run("ssh-keygen", ["-lf", join(host.tree, "etc/ssh/ssh_host_ed25519_key.pub")]);
    expect(keygen.stdout.split(" ")[1]).toBe(s.hostKeyFingerprint);
    expect(s.hostKeyFingerprint).toBe(host.hostKeyFingerprint);
    // Two hosts, two host keys.
    expect(plain.hostKeyFingerprint).not.toBe(host.hostKeyFingerprint);
  });

  it("runs commands: output, exit status, stdin, bounded output, timeout", async () => {
    const s = await connect(host);
    expect(await s.exec("echo hi; echo oops >&2; exit 3")).toEqual({
      stdout: "hi\n",
      stderr: "oops\n",
      code: 3,
      truncated: false,
    });
    expect((await s.exec("cat", { stdin: "from stdin" })).stdout).toBe("from stdin");
    const big = await s.exec("head -c 200000 /dev/zero", { maxOutputBytes: 1000 });
    expect(big.stdout).toHaveLength(1000);
    expect(big.truncated).toBe(true);
    const seen: string[] = [];
    await s.exec("printf 'a\\nb\\n'", { onStdout: (c) => seen.push(c) });
    expect(seen.join("")).toBe("a\nb\n");
    expect((await failure(s.exec("sleep 60", { timeoutMs: 300 }))).code).toBe("LAB_E_SSH_COMMAND");
    // The session survives a timed-out command.
    expect((await s.exec("echo still")).stdout).toBe("still\n");
  });

  it("detects the real CPU, memory, disks and NIC", async () => {
    const s = await connect(host);
    const hw = await detectHardware(scriptRunner(s));
    logs.push(JSON.stringify(hw));
    const memKb = Number(/MemTotal:\s+(\d+)/.exec(await readFile("/proc/meminfo", "utf8"))?.[1]);
    const nproc = Number((await run("nproc", ["--all"])).stdout.trim());
    const arch = (await run("uname", ["-m"])).stdout.trim();
    expect(hw.memoryBytes).toBe(memKb * 1024);
    expect(hw.cpu.threads).toBe(nproc);
    expect(hw.cpu.cores).toBeLessThanOrEqual(nproc);
    expect(hw.arch).toBe(arch);
    expect(hw.os).toEqual({ id: "debian", name: "Debian GNU/Linux", version: "12" });
    const local = parseLsblk(
      (await run("lsblk", ["-J", "-b", "-d", "-o", "NAME,TYPE,SIZE,ROTA,RM,TRAN,MODEL"])).stdout,
    );
    expect(hw.disks).toEqual(local);
    // Inside its namespace the host has one NIC: its veth, kept because it carries the address.
    expect(hw.nics).toHaveLength(1);
    expect(hw.nics[0]?.ipv4).toEqual([host.ip]);
    expect(hw.nics[0]?.name).toBe(`${host.name}n`);
    expect(hw.warnings).toEqual([]);
  });

  it("uploads a buffer and a file over SFTP with their modes, replacing what was there", async () => {
    const s = await connect(host);
    const data = Buffer.from("#!/bin/sh\necho agent\n");
    expect(await s.upload(data, "/usr/local/bin/lab-agent", 0o750)).toEqual({
      method: "sftp",
      bytes: data.length,
    });
    const local = join(host.tree, "usr/local/bin/lab-agent");
    expect((await stat(local)).mode & 0o7777).toBe(0o750);
    expect(await readFile(local, "utf8")).toBe(data.toString());
    expect((await s.exec("/usr/local/bin/lab-agent")).stdout).toBe("agent\n");

    const src = join(host.tree, "..", "config.json");
    await writeFile(src, '{"a":1}');
    await s.upload(src, "/usr/local/bin/lab-agent", 0o600);
    expect(await readFile(local, "utf8")).toBe('{"a":1}');
    expect((await stat(local)).mode & 0o7777).toBe(0o600);
    expect((await s.exec("ls /usr/local/bin")).stdout).toBe("lab-agent\n"); // no temporary left over

    expect((await failure(s.upload(data, "/no/such/dir/x", 0o644))).code).toBe("LAB_E_SSH_UPLOAD");
  });

  it("uploads through exec when the server has no SFTP subsystem", async () => {
    const s = await connect(plain);
    const data = Buffer.from([0, 1, 2, 255, 10, 13]);
    expect(await s.upload(data, "/root/blob", 0o640)).toEqual({ method: "exec", bytes: 6 });
    const local = join(plain.tree, "root/blob");
    expect((await stat(local)).mode & 0o7777).toBe(0o640);
    expect(await readFile(local)).toEqual(data);
    expect((await failure(s.upload(data, "/no/such/dir/x", 0o644))).code).toBe("LAB_E_SSH_UPLOAD");
  });

  it("a host that lies: garbage lscpu, no lsblk, falls back with warnings", async () => {
    const lscpu = join(host.tree, "usr/bin/lscpu");
    const lsblk = join(host.tree, "bin/lsblk");
    await rename(lscpu, `${lscpu}.real`);
    await rename(lsblk, `${lsblk}.real`);
    await writeFile(lscpu, '#!/bin/sh\necho "{ this is not json ]]]"\nhead -c 3000 /dev/urandom\n');
    await chmod(lscpu, 0o755);
    try {
      const s = await connect(host);
      const hw = await detectHardware(scriptRunner(s));
      expect(hw.warnings).toEqual([
        "lscpu printed unparsable output: CPU model from /proc/cpuinfo",
        "lsblk not found: disks from /sys/block",
      ]);
      const nproc = Number((await run("nproc", ["--all"])).stdout.trim());
      expect(hw.cpu.threads).toBe(nproc);
      const local = parseLsblk(
        (await run("lsblk", ["-J", "-b", "-d", "-o", "NAME,TYPE,SIZE,ROTA,RM,TRAN,MODEL"])).stdout,
      );
      expect(hw.disks.map((d) => [d.name, d.sizeBytes])).toEqual(local?.map((d) => [d.name, d.sizeBytes]));
    } finally {
      await rm(lscpu);
      await rename(`${lscpu}.real`, lscpu);
      await rename(`${lsblk}.real`, lsblk);
    }
  });

  it("follows the host to a new address", async () => {
    // Connections to the old address would only time out on close.
    await Promise.all(sessions.splice(0).map((s) => s.close()));
    const [a, b] = host.ip.split(".").slice(1, 3);
    await host.changeIp(`10.${a}.${b}.7`);
    const s = await connect(host);
    expect((await s.exec("hostname -I")).stdout.trim()).toBe(`10.${a}.${b}.7`);
    expect((await host.execInChroot("cat /etc/hostname")).stdout.trim()).toBe(host.name);
  });
});

describe("SshSession failures are LabErrors with codes", () => {
  it("a key the host does not know: LAB_E_SSH_AUTH naming the key", async () => {
    const other = join(host.tree, "..", "other_ed25519");
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
    const fp = (await run("ssh-keygen", ["-lf", other])).stdout.split(" ")[1] ?? "";
    const err = await failure(connect(host, { identityFile: other }));
    expect(err.code).toBe("LAB_E_SSH_AUTH");
    expect(err.message).toContain(fp);
    expect(err.message).toContain(other);
    // The same key given as text: still no key material in the message.
    const err2 = await failure(connect(host, { identityFile: undefined, privateKey: await readFile(other) }));
    expect(err2.code).toBe("LAB_E_SSH_AUTH");
  });

  it("a closed port: LAB_E_SSH_UNREACHABLE", async () => {
    const err = await failure(connect(host, { port: 2222 }));
    expect(err.code).toBe("LAB_E_SSH_UNREACHABLE");
    expect(err.message).toMatch(/connection refused/);
    expect(err.hint).toMatch(/is sshd running/);
  });

  it("a pinned host key that does not match: LAB_E_SSH_HOST_KEY; the right one connects", async () => {
    const err = await failure(connect(host, { knownHostKeyFingerprint: plain.hostKeyFingerprint }));
    expect(err.code).toBe("LAB_E_SSH_HOST_KEY");
    expect(err.message).toContain(host.hostKeyFingerprint);
    const s = await connect(host, { knownHostKeyFingerprint: host.hostKeyFingerprint });
    expect(s.hostKeyFingerprint).toBe(host.hostKeyFingerprint);
  });

  it("an unreadable or broken key file: LAB_E_SSH_KEY", async () => {
    expect((await failure(connect(host, { identityFile: "/nonexistent/key" }))).code).toBe("LAB_E_SSH_KEY");
    const broken = join(host.tree, "..", "broken_key");
    const real = await readFile(host.identityFile, "utf8");
    await writeFile(broken, real.slice(0, real.length / 2));
    const err = await failure(connect(host, { identityFile: broken }));
    expect(err.code).toBe("LAB_E_SSH_KEY");
  });

  it("keys from ssh-agent", async () => {
    const sock = join(host.tree, "..", "agent.sock");
    const agent = spawn("ssh-agent", ["-D", "-a", sock], { stdio: ["ignore", "pipe", "pipe"] });
    try {
      for (let i = 0; i < 100 && !(await stat(sock).catch(() => undefined)); i++)
        await new Promise((r) => setTimeout(r, 50));
      const add = await new Promise<number>((resolve) => {
        const c = spawn("ssh-add", [host.identityFile], {
          env: { ...process.env, SSH_AUTH_SOCK: sock },
          stdio: "ignore",
        });
        c.on("close", (code) => resolve(code ?? -1));
      });
      expect(add).toBe(0);
      const s = await connect(host, { identityFile: undefined, agent: sock });
      expect((await s.exec("id -u")).stdout).toBe("0\n");
      const err = await failure(connect(host, { identityFile: undefined, agent: `${sock}.missing` }));
      expect(err.code).toBe("LAB_E_SSH_AUTH");
      expect(err.message).toMatch(/ssh-agent could not be used/);
    } finally {
      agent.kill("SIGTERM");
    }
  });
});

describe("logs", () => {
  it("carry no private key material", async () => {
    const key = await readFile(host.identityFile, "utf8");
    const body = key
      .split("\n")
      .filter((l) => l && !l.startsWith("-----"))
      .map((l) => l.slice(0, 40));
    const all = [...logs, host.log(), plain.log()].join("\n");
    expect(all.length).toBeGreaterThan(0);
    expect(containsPrivateKey(all)).toBe(false);
    for (const line of body) expect(all).not.toContain(line);
  });
});
