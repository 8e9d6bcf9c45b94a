/**
 * The onboarding proof with a real second host: a debootstrapped Debian (no Node, no Lab)
 * running sshd in its own network namespace, reached over a veth. `lab onboard --provider ssh`
 * detects its hardware, installs the agent executable and enrols it with a one-time token; the
 * agent connects over mTLS; `lab exec` runs commands there; BIND resolves its name; the real
 * `ssh` trusts its CA-signed host key; moving its IP moves DNS; revoking it removes DNS and
 * cuts the channel for good.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bind, startBind } from "../support/bind.js";
import { freePort } from "../support/child.js";
import { labAsyncIn, tempHome } from "../support/cli.js";
import { killAllServers, type ServerProcess, startLabServer } from "../support/server-process.js";
import { containsPrivateKey, run, startTestHost, type TestHost } from "../support/ssh-host.js";

const NAME = "edge-1";
const ZONE = "lab.internal";

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}

describe("SSH onboarding of a real second host", () => {
  let host: TestHost;
  let bind: Bind;
  let server: ServerProcess;
  let home: string;
  let lab: ReturnType<typeof labAsyncIn>;
  let agentPort: number;
  const secret = randomBytes(32).toString("base64");
  const outputs: string[] = [];

  beforeAll(async () => {
    host = await startTestHost({ prefix: "ldo" });
    const net = host.gatewayIp.split(".").slice(0, 3);
    bind = await startBind({
      zone: ZONE,
      reverseZone: `${[...net].reverse().join(".")}.in-addr.arpa`,
      keyName: "lab-key",
      secret,
    });
    home = tempHome("lab-onboard-");
    const tsig = join(home, "tsig.key");
    writeFileSync(tsig, `lab-key:${secret}\n`, { mode: 0o600 });
    agentPort = await freePort("0.0.0.0");
    server = await startLabServer({
      home: join(home, "server"),
      tls: true,
      // Onboarding plans and applies at lab server (as lab apply server): its ssh provider adopts
      // the host with this key, from the server's side.
      env: { LAB_SSH_IDENTITY_FILE: host.identityFile },
      args: [
        "--listen",
        "0.0.0.0:0",
        "--agent-listen",
        `0.0.0.0:${agentPort}`,
        "--dns-update",
        `127.0.0.1:${bind.port}`,
        "--dns-zone",
        ZONE,
        "--dns-network",
        `${net.join(".")}.0/24`,
        "--dns-tsig-file",
        tsig,
      ],
    });
    lab = labAsyncIn(join(home, "cli"));
    writeFileSync(join(home, "ca.crt"), server.caPem ?? "");
    const login = await lab([
      "login",
      server.url,
      "--token",
      server.token ?? "",
      "--ca-file",
      join(home, "ca.crt"),
    ]);
    expect(login.code, login.stderr).toBe(0);
    const labels = await lab(["apply", "-f", "-"], "labels:\n  edge: {}\n  arm: {}\n");
    expect(labels.code, labels.stderr).toBe(0);
  }, 300_000);

  afterAll(async () => {
    await host?.stop();
    await bind?.stop();
    await killAllServers();
    // Tokens and keys never reach a log: not the server's, the CLI's or sshd's.
    const logs = [server?.stdout() ?? "", server?.stderr() ?? "", host?.log() ?? "", ...outputs].join("\n");
    expect(containsPrivateKey(logs)).toBe(false);
    expect(logs).not.toMatch(/lab_[0-9a-f]{8}_[A-Za-z0-9_-]{43}/);
  });

  it("detects the hardware, installs and enrols the agent, and every identity service follows", async () => {
    const onboard = await lab([
      "onboard",
      NAME,
      "--provider",
      "ssh",
      "--host",
      host.ip,
      "--identity-file",
      host.identityFile,
      "--labels",
      "edge",
      "--yes",
      "--agent-server",
      server.url.replace("127.0.0.1", host.gatewayIp),
      "--heartbeat",
      "1s",
    ]);
    outputs.push(onboard.stdout, onboard.stderr);
    expect(onboard.code, `${onboard.stdout}\n${onboard.stderr}`).toBe(0);
    const memKb = Number(/MemTotal:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"))?.[1]);
    expect(onboard.stdout).toContain("Step 1: Render");
    expect(onboard.stdout).toContain(`RAM: ${Math.round((memKb * 1024) / 2 ** 30)}GB`);
    expect(onboard.stdout).toMatch(/OS\s+│ Debian GNU\/Linux 12/);
    // Plan and apply are lab apply server's: the adoption planned, applied, and compared.
    expect(onboard.stdout).toContain(`Plan for server ${NAME} (provider ssh):`);
    expect(onboard.stdout).toMatch(
      new RegExp(`\\+ adopt root@${host.ip.replaceAll(".", "\\.")}:22 as ${NAME}: pin host key SHA256:`),
    );
    // The key lab server pinned is the one this onboarding's own session saw.
    const seen = /Host key: (SHA256:\S+)/.exec(onboard.stdout)?.[1];
    expect(seen).toBeDefined();
    expect(onboard.stdout).toContain(`→ ssh: adopted ${NAME}: host key ${seen} pinned`);
    expect(onboard.stdout).toMatch(new RegExp(`✓ ${NAME}: in sync \\(provider ssh, Debian GNU/Linux 12`));
    expect(onboard.stdout).toContain("identity established");
    expect(onboard.stdout).toContain("SSH host key CA-signed");

    // lab exec streams output and returns the remote exit code.
    const uname = await lab(["exec", NAME, "--", "uname", "-m"]);
    expect(uname.code, uname.stderr).toBe(0);
    expect(uname.stdout.trim()).toBe(process.arch === "x64" ? "x86_64" : "aarch64");
    const failing = await lab(["exec", NAME, "--", "sh", "-c", "echo oops >&2; exit 3"]);
    expect(failing.code).toBe(3);
    expect(failing.stderr).toContain("oops");

    // DNS: A and PTR in BIND.
    const fqdn = `${NAME}.${ZONE}`;
    await until("the A record", async () =>
      (await bind.dig(fqdn, "A")).includes(host.ip) ? true : undefined,
    );
    const ptr = await bind.dig(host.ip.split(".").reverse().join(".").concat(".in-addr.arpa"), "PTR");
    expect(ptr).toContain(`${fqdn}.`);

    // ssh trusts the CA-signed host key with only the @cert-authority line.
    const known = await lab(["ssh-known-hosts", "--domain", ZONE]);
    expect(known.stdout).toMatch(/^@cert-authority \*\.lab\.internal ssh-ed25519 /);
    const kh = join(home, "known_hosts");
    writeFileSync(kh, known.stdout);
    const sshArgs = (file: string) => [
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      `UserKnownHostsFile=${file}`,
      "-o",
      `HostKeyAlias=${fqdn}`,
      "-i",
      host.identityFile,
      `root@${host.ip}`,
      "echo trusted",
    ];
    const ssh = await run("ssh", sshArgs(kh));
    const conf = await host.execInChroot(
      "cat /etc/ssh/sshd_config.d/lab.conf; ls -la /var/lib/lab-agent/ssh; head -3 /etc/ssh/sshd_config",
    );
    expect(ssh.code, `${ssh.stderr}\n${conf.stdout}${conf.stderr}\n${host.log().slice(-3000)}`).toBe(0);
    expect(ssh.stdout.trim()).toBe("trusted");
    writeFileSync(join(home, "empty"), "");
    expect((await run("ssh", sshArgs(join(home, "empty")))).code).not.toBe(0);

    // The server lists it enrolled; describe shows the Identity block.
    const servers = await lab(["get", "servers"]);
    // SYNC is the comparison the apply kept, as after lab apply server.
    expect(servers.stdout).toMatch(new RegExp(`${NAME}\\s+ssh\\s+edge\\s+\\S+\\s+sync\\s.*enrolled`));
    const describe = await lab(["describe", "server", NAME]);
    // What BIND accepted, as recorded at that step: the A address and the PTR name.
    const reverse = host.ip.split(".").reverse().join(".").concat(".in-addr.arpa");
    expect(describe.stdout).toContain(`DNS: ✓ A ${host.ip}, PTR ${reverse} — accepted by the DNS server at `);
    expect(describe.stdout).toContain("  Identity: enrolled\n");
    expect(describe.stdout).not.toContain("no agent has enrolled");
    expect(describe.stdout).toMatch(/SSH Host Key: ✓ CA-signed \(fingerprint: SHA256:/);

    // A new address: the agent reconnects from it and DNS follows.
    const oldIp = host.ip;
    const newIp = `${oldIp.split(".").slice(0, 3).join(".")}.77`;
    await host.changeIp(newIp);
    await until("DNS to follow the new address", async () =>
      (await bind.dig(fqdn, "A")).includes(newIp) ? true : undefined,
    );
    expect(await bind.dig(oldIp.split(".").reverse().join(".").concat(".in-addr.arpa"), "PTR")).toEqual([]);

    // Revoked: DNS removed, channel cut, and it never comes back.
    const revoke = await lab(["identity", "revoke", NAME]);
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(await bind.dig(fqdn, "A")).toEqual([]);
    const after = await lab(["exec", NAME, "--", "true"]);
    expect(after.code).not.toBe(0);
    expect(after.stderr).toMatch(/LAB_E_AGENT_(NOT_CONNECTED|REVOKED)/);
    await new Promise((r) => setTimeout(r, 3000));
    expect((await lab(["exec", NAME, "--", "true"])).code).not.toBe(0);
    expect((await lab(["get", "servers"])).stdout).toMatch(new RegExp(`${NAME}.*revoked`));
    expect((await lab(["describe", "server", NAME])).stdout).toMatch(/^ {2}DNS: removed at /m);
    const agentLog = await host.execInChroot("cat /var/log/lab-agent.log");
    outputs.push(agentLog.stdout);
    expect(agentLog.stdout).toMatch(/revoked/i);
  }, 300_000);
});
