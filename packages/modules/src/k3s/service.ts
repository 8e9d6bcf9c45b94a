/**
 * The k3s binary and its service: installed by hash, started with the node's config, restarted
 * when the binary or config it was started with changed (the hash of both is kept beside it),
 * and waited for until k3s itself says it is up — observed, not assumed from an exit code.
 *
 * Hosts with systemd get k3s's own unit (as the k3s install script writes it). Hosts without
 * (the chroot test host) run it under setsid with a pid file; that is the only path the test
 * suite exercises here.
 */
import { fileOp } from "../files.js";
import { type Group, must, type Operation } from "../operation.js";
import { K3S_CONFIG, K3S_TOKEN_FILE } from "./networking.js";
import { K3S_STANDIN } from "./standin.js";

export type K3sBinary = { kind: "standin" } | { kind: "file"; path: string; data: Buffer };

export const K3S_BIN = "/usr/local/bin/k3s";
export const STANDIN_BIN = "/usr/local/bin/k3s-standin";
export const NODE_TOKEN = "/var/lib/rancher/k3s/server/node-token";

/** Installs the binary at /usr/local/bin/k3s; the stand-in under its own name, k3s linked to it. */
export function binaryOp(bin: K3sBinary, group: Group): Operation {
  if (bin.kind === "file") {
    const op = fileOp(group, "k3s-binary", K3S_BIN, bin.data, 0o755);
    return { ...op, change: async (x) => `${await op.change(x)} (from ${bin.path})` };
  }
  const file = fileOp(group, "k3s-binary", STANDIN_BIN, K3S_STANDIN, 0o755);
  return {
    group,
    name: "k3s-binary",
    async check(x) {
      const f = await file.check(x);
      if (!f.ok) return f;
      const link = (await x.run(`readlink ${K3S_BIN}`)).stdout.trim();
      if (link !== "k3s-standin") return { ok: false, detail: `${K3S_BIN} is not the stand-in` };
      return { ok: true, detail: `${K3S_BIN} → k3s-standin (NOT k3s)` };
    },
    async change(x) {
      const did = (await file.check(x)).ok ? [] : [await file.change(x)];
      await must(x, `ln -sfn k3s-standin ${K3S_BIN}`, "linking k3s to the stand-in");
      return [...did, `${K3S_BIN} → k3s-standin (NOT k3s)`].join("; ");
    },
  };
}

/** The join token, given to a joining node in a root-only file (never on a command line). */
export function tokenFileOp(token: string, group: Group): Operation {
  const op = fileOp(group, "join-token", K3S_TOKEN_FILE, `${token}\n`, 0o600);
  // The token never reaches a progress line or a log.
  return {
    ...op,
    async change(x) {
      await op.change(x);
      return `wrote ${K3S_TOKEN_FILE} (0600)`;
    },
  };
}

interface ServiceNames {
  unit: string;
  pidFile: string;
  hashFile: string;
  log: string;
}

function names(role: "server" | "agent"): ServiceNames {
  const unit = role === "server" ? "k3s" : "k3s-agent";
  return {
    unit,
    pidFile: `/run/lab-${unit}.pid`,
    hashFile: `/var/lib/rancher/lab-${unit}.started`,
    log: `/var/log/lab-${unit}.log`,
  };
}

/** What the service was started with: binary, config and drop-ins, join token. */
function inputsHashScript(role: string): string {
  return `{ echo ${role}; cat ${K3S_BIN} ${K3S_CONFIG} /etc/rancher/k3s/config.yaml.d/*.yaml ${K3S_TOKEN_FILE} 2>/dev/null; } | sha256sum | cut -d' ' -f1`;
}

function unitFile(role: "server" | "agent"): string {
  return [
    "# Written by Lab (k3s module), as the k3s install script writes it.",
    "[Unit]",
    "Description=Lightweight Kubernetes",
    "Documentation=https://k3s.io",
    "Wants=network-online.target",
    "After=network-online.target",
    "",
    "[Service]",
    `Type=${role === "server" ? "notify" : "exec"}`,
    "KillMode=process",
    "Delegate=yes",
    "LimitNOFILE=1048576",
    "TasksMax=infinity",
    "TimeoutStartSec=0",
    "Restart=always",
    "RestartSec=5s",
    "ExecStartPre=-/sbin/modprobe br_netfilter",
    "ExecStartPre=-/sbin/modprobe overlay",
    `ExecStart=${K3S_BIN} ${role}`,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/** Observes `<pid or active> <started-with hash> <current hash>` and whether systemd runs. */
function probeScript(role: "server" | "agent"): string {
  const n = names(role);
  return [
    `cur=$(${inputsHashScript(role)})`,
    `was=$(cat ${n.hashFile} 2>/dev/null || echo none)`,
    "if [ -d /run/systemd/system ]; then",
    `  if systemctl is-active -q ${n.unit}; then up=yes; else up=no; fi; echo "systemd $up $was $cur"`,
    "else",
    `  p=$(cat ${n.pidFile} 2>/dev/null); up=no`,
    `  if [ -n "$p" ] && kill -0 "$p" 2>/dev/null && tr '\\0' ' ' < /proc/$p/cmdline | grep -q 'k3s'; then up=yes; fi`,
    `  echo "setsid $up $was $cur"`,
    "fi",
  ].join("\n");
}

/** The readiness k3s reports for itself once started: the API answers on a server. */
function upScript(role: "server" | "agent"): string {
  return role === "server"
    ? `[ -s ${NODE_TOKEN} ] && ${K3S_BIN} kubectl get --raw /readyz 2>/dev/null | grep -qx ok`
    : `p=$(cat ${names(role).pidFile} 2>/dev/null); [ -d /run/systemd/system ] && systemctl is-active -q k3s-agent || { [ -n "$p" ] && kill -0 "$p"; }`;
}

/** k3s (server or agent) running with the binary and config on disk now. */
export function serviceOp(role: "server" | "agent", group: Group, readyTimeoutS = 90): Operation {
  const n = names(role);
  return {
    group,
    name: role === "server" ? "k3s-server" : "k3s-agent",
    async check(x) {
      const [mode, up, was, cur] = (await must(x, probeScript(role), `probing ${n.unit}`)).trim().split(" ");
      if (up !== "yes") return { ok: false, detail: `${n.unit} not running` };
      if (was !== cur) return { ok: false, detail: `${n.unit} runs with an older binary or config` };
      return { ok: true, detail: `${n.unit} running (${mode === "systemd" ? "systemd" : "pid file"})` };
    },
    async change(x) {
      const [mode, up] = (await must(x, probeScript(role), `probing ${n.unit}`)).trim().split(" ");
      const verb = up === "yes" ? "restarted" : "started";
      if (mode === "systemd") {
        const unit = fileOp(group, "unit", `/etc/systemd/system/${n.unit}.service`, unitFile(role), 0o644);
        if (!(await unit.check(x)).ok) await unit.change(x);
        await must(
          x,
          `systemctl daemon-reload && systemctl enable -q ${n.unit} && systemctl restart ${n.unit} && ${inputsHashScript(role)} > ${n.hashFile}`,
          `systemctl restart ${n.unit}`,
        );
      } else {
        await must(
          x,
          [
            `p=$(cat ${n.pidFile} 2>/dev/null)`,
            // Stop the old one and see it gone before the new one takes its files.
            'if [ -n "$p" ] && kill "$p" 2>/dev/null; then i=0; while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; fi',
            `mkdir -p /var/lib/rancher /var/log && ${inputsHashScript(role)} > ${n.hashFile}`,
            `cd / && setsid ${K3S_BIN} ${role} >>${n.log} 2>&1 </dev/null & echo $! > ${n.pidFile}`,
          ].join("\n"),
          `starting ${n.unit}`,
        );
      }
      // Wait for k3s's own answer, bounded so a k3s that never comes up fails this step.
      const wait = `i=0; until ${upScript(role)}; do i=$((i+1)); [ $i -ge ${readyTimeoutS * 5} ] && exit 1; sleep 0.2; done`;
      const r = await x.run(wait);
      if (r.code !== 0) {
        const log = (await x.run(`tail -n 5 ${n.log} 2>/dev/null`)).stdout.trim().replace(/\n/g, "; ");
        throw new Error(`${n.unit} did not come up within ${readyTimeoutS} s${log ? `: ${log}` : ""}`);
      }
      return `${verb} ${n.unit}`;
    },
  };
}

/** Reads a server's join token (the caller keeps it out of output). */
export async function readNodeToken(x: Parameters<Operation["check"]>[0]): Promise<string | undefined> {
  const r = await x.run(`cat ${NODE_TOKEN} 2>/dev/null`);
  const t = r.stdout.trim();
  return r.code === 0 && t ? t : undefined;
}
