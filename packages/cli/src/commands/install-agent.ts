/**
 * Installs the agent on a machine over SSH and waits for it to enrol. The machine needs neither
 * Node nor Lab: the agent is one self-contained executable (a Node single-executable
 * application, see docs/agent.md). The join token travels as a 0600 file, never on a command
 * line or in a log.
 */
import { join } from "node:path";
import { agentDistDir } from "@lab/agent";
import { LabError } from "@lab/core";
import type { SshSession } from "@lab/onboard";
import { shellQuote } from "@lab/onboard";
import type { HttpClient } from "../http-engine.js";

const LIB = "/usr/local/lib/lab-agent";
const STATE = "/var/lib/lab-agent";

export interface AgentInstallOptions {
  /** The API URL as the machine reaches it (default: the URL this CLI uses). */
  serverUrl?: string;
  heartbeat?: string;
  /** How long to wait for the agent to enrol and connect. */
  timeoutMs?: number;
}

/** The built agent's folder, or an error that says how to build it. */
function agentDist(): string {
  const dir = agentDistDir();
  if (!dir) {
    throw new LabError(
      "LAB_E_AGENT_BUILD",
      "no agent executable next to this CLI: build it with `node scripts/build-agent.mjs` (npm run build does)",
    );
  }
  return dir;
}

export function agentInstaller(remote: HttpClient, o: AgentInstallOptions = {}) {
  return async (ssh: SshSession, name: string, step: (line: string) => void): Promise<void> => {
    const dist = agentDist();
    const serverUrl = o.serverUrl ?? remote.target.url;
    const run = async (cmd: string) => {
      const r = await ssh.exec(cmd);
      if (r.code !== 0) {
        throw new LabError(
          "LAB_E_SSH_COMMAND",
          `\`${cmd.split(" ")[0]}\` failed on ${name}: ${r.stderr.trim() || r.stdout.trim()}`,
        );
      }
      return r.stdout;
    };
    step("Install lab agent binary");
    await run(`mkdir -p ${LIB} /etc/lab ${STATE} && chmod 0700 ${STATE} /etc/lab`);
    await ssh.upload(join(dist, "lab-agent"), `${LIB}/lab-agent`, 0o755);
    await ssh.upload(join(dist, "lab-agent.service"), `${LIB}/lab-agent.service`, 0o644);
    if (remote.target.caPem) await ssh.upload(Buffer.from(remote.target.caPem), "/etc/lab/ca.crt", 0o644);

    step("Generate one-time token");
    const { token } = await remote.request<{ token: string }>("POST", "/api/v1/join-tokens", {
      name,
      ttlMinutes: 15,
    });
    await ssh.upload(Buffer.from(`${token}\n`), "/etc/lab/join-token", 0o600);

    step("Lab agent enrolls");
    const args = [
      `--server ${shellQuote(serverUrl)}`,
      `--state-dir ${STATE}`,
      "--join-token-file /etc/lab/join-token",
      ...(remote.target.caPem ? ["--ca-file /etc/lab/ca.crt"] : []),
      `--name ${shellQuote(name)}`,
      ...(o.heartbeat ? [`--heartbeat ${o.heartbeat}`] : []),
    ].join(" ");
    await run(
      `if [ -d /run/systemd/system ]; then ` +
        `sed 's#^ExecStart=.*#ExecStart=${LIB}/lab-agent ${args.replaceAll("#", "\\#")}#' ${LIB}/lab-agent.service > /etc/systemd/system/lab-agent.service && ` +
        "systemctl daemon-reload && systemctl enable --now lab-agent; " +
        // No systemd (containers, chroots): run it detached, logging to a file.
        `else setsid ${LIB}/lab-agent ${args} >>/var/log/lab-agent.log 2>&1 </dev/null & fi`,
    );
    const agent = await waitConnected(remote, name, o.timeoutMs ?? 60_000);
    step(`identity established: client certificate until ${agent.certNotAfter}`);

    // sshd presents the CA-signed host key once it knows the certificate.
    const certs = (await run(`ls ${STATE}/ssh/ 2>/dev/null | grep -- '-cert.pub$' || true`))
      .split("\n")
      .filter(Boolean);
    if (certs.length) {
      const lines = certs.map((c) => `HostCertificate ${STATE}/ssh/${c}`).join("\\n");
      await run(
        `mkdir -p /etc/ssh/sshd_config.d && printf '${lines}\\n' > /etc/ssh/sshd_config.d/lab.conf && ` +
          "(grep -q '^Include /etc/ssh/sshd_config.d' /etc/ssh/sshd_config || sed -i '1i Include /etc/ssh/sshd_config.d/*.conf' /etc/ssh/sshd_config) && " +
          "(systemctl reload ssh 2>/dev/null || kill -HUP $(cat /run/sshd.pid 2>/dev/null || pgrep -o sshd))",
      );
      step(
        `SSH host key CA-signed (${certs.length} certificate${certs.length > 1 ? "s" : ""}): \`lab ssh-known-hosts\` for clients`,
      );
    }
  };
}

async function waitConnected(
  remote: HttpClient,
  name: string,
  timeoutMs: number,
): Promise<{ state: string; certNotAfter: string }> {
  const until = Date.now() + timeoutMs;
  let last = "the server has no agent by that name yet";
  while (Date.now() < until) {
    try {
      const a = await remote.request<{ state: string; certNotAfter: string }>(
        "GET",
        `/api/v1/agents/${encodeURIComponent(name)}`,
      );
      if (a.state === "connected") return a;
      last = a.state;
    } catch {
      // not enrolled yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new LabError(
    "LAB_E_AGENT_NOT_CONNECTED",
    `the agent on ${name} did not connect within ${timeoutMs / 1000}s (${last}): see /var/log/lab-agent.log or journalctl -u lab-agent there`,
  );
}
