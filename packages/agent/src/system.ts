/** What the agent reports about its machine: heartbeat figures, facts, host keys. */
import { existsSync, readdirSync, readFileSync, statfsSync } from "node:fs";
import {
  arch,
  cpus,
  freemem,
  hostname,
  loadavg,
  networkInterfaces,
  release,
  totalmem,
  uptime,
} from "node:os";
import { join } from "node:path";
import type { Heartbeat } from "@lab/identity";

/** Mount points whose space is reported (those that exist). */
const MOUNTS = ["/", "/var", "/home", "/srv"];

/** The machine's addresses, without loopback and link-local noise. */
export function addresses(): Heartbeat["addresses"] {
  const out: Heartbeat["addresses"] = [];
  for (const [iface, list] of Object.entries(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal || a.address.startsWith("fe80:")) continue;
      out.push({ iface, address: a.address, family: a.family });
      if (out.length >= 256) return out;
    }
  }
  return out;
}

/**
 * The heartbeat: uptime, load, memory, disk and addresses. `ipv4` is the address this
 * machine reaches the server from (the channel socket's local address) when known.
 */
export function heartbeat(ipv4: string | null, dropped: number): Heartbeat {
  const disk: Heartbeat["disk"] = [];
  const seen = new Set<number>();
  for (const mount of MOUNTS) {
    try {
      const s = statfsSync(mount);
      // The same file system mounted twice (or not separately mounted) is reported once.
      const key = s.blocks * 31 + s.type;
      if (seen.has(key)) continue;
      seen.add(key);
      disk.push({ mount, total: s.blocks * s.bsize, free: s.bavail * s.bsize });
    } catch {
      // not mounted here
    }
  }
  const load = loadavg();
  return {
    type: "heartbeat",
    uptime: Math.round(uptime()),
    load: [load[0] ?? 0, load[1] ?? 0, load[2] ?? 0],
    memory: { total: totalmem(), free: freemem() },
    disk,
    addresses: addresses(),
    ipv4,
    ...(dropped ? { dropped } : {}),
  };
}

/** Facts sent once per connection: what the machine is. */
export function facts(version: string): Record<string, unknown> {
  return {
    hostname: hostname(),
    kernel: release(),
    arch: arch(),
    cpus: cpus().length,
    memoryBytes: totalmem(),
    os: osRelease(),
    agentVersion: version,
    node: process.version,
  };
}

function osRelease(): Record<string, string> {
  try {
    const text = readFileSync("/etc/os-release", "utf8");
    const out: Record<string, string> = {};
    for (const line of text.split("\n")) {
      const m = /^(ID|VERSION_ID|PRETTY_NAME|VERSION_CODENAME)=(.*)$/.exec(line);
      if (m?.[1] && m[2] !== undefined) out[m[1].toLowerCase()] = m[2].replace(/^"|"$/g, "");
    }
    return out;
  } catch {
    return {};
  }
}

/** The machine's SSH host public keys (for the SSH CA to sign at enrolment). */
export function hostKeyLines(dir = "/etc/ssh"): string[] {
  if (!existsSync(dir)) return [];
  const lines: string[] = [];
  for (const f of readdirSync(dir).sort()) {
    if (!/^ssh_host_[a-z0-9]+_key\.pub$/.test(f)) continue;
    try {
      const line = readFileSync(join(dir, f), "utf8").trim().split("\n")[0];
      if (line) lines.push(line);
    } catch {
      // unreadable: skip it
    }
  }
  return lines.slice(0, 16);
}
