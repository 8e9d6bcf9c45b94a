/**
 * Host preparation for k3s: the kernel modules and sysctls its networking needs, and a firewall
 * that lets its ports through. Each operation observes the live kernel and the files that make
 * the setting survive a reboot, and changes only what differs.
 */
import { quote } from "../executor.js";
import { fileOp } from "../files.js";
import { must, type Operation } from "../operation.js";

/**
 * Where a module's function shows when it is compiled into the kernel (no /proc/modules line, and
 * /sys/module/NAME exists only for modules with parameters): what proves the feature is there.
 */
const BUILTIN_EVIDENCE: Record<string, { test: string; shows: string }> = {
  overlay: { test: "grep -qw overlay /proc/filesystems", shows: "/proc/filesystems" },
  br_netfilter: {
    test: "[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]",
    shows: "/proc/sys/net/bridge",
  },
};

export const K3S_MODULES = ["overlay", "br_netfilter"];
const MODULES_FILE = "/etc/modules-load.d/k3s.conf";

type ModuleState = "loaded" | "builtin" | "missing";

function moduleProbe(m: string): string {
  const ev = BUILTIN_EVIDENCE[m]?.test ?? "false";
  return `if grep -q '^${m} ' /proc/modules 2>/dev/null; then echo loaded; elif [ -d /sys/module/${m} ] || ${ev}; then echo builtin; else echo missing; fi`;
}

async function probeModules(x: Parameters<Operation["check"]>[0], modules: string[]) {
  const out = await must(x, modules.map(moduleProbe).join("\n"), "probing kernel modules");
  const states = out.trim().split("\n") as ModuleState[];
  return modules.map((m, i) => ({ m, state: states[i] ?? "missing" }));
}

/** The modules are loaded or built in now, and listed in modules-load.d for the next boot. */
export function kernelModulesOp(modules = K3S_MODULES): Operation {
  const file = `# Written by Lab (k3s module): loaded at boot by systemd-modules-load.\n${modules.join("\n")}\n`;
  const persist = fileOp("host-prep", "kernel-modules", MODULES_FILE, file, 0o644);
  const describe = (s: { m: string; state: ModuleState }[]) =>
    s
      .map(({ m, state }) =>
        state === "builtin"
          ? `${m} built in (${BUILTIN_EVIDENCE[m]?.shows ?? `/sys/module/${m}`})`
          : `${m} ${state}`,
      )
      .join(", ");
  return {
    group: "host-prep",
    name: "kernel-modules",
    async check(x) {
      const s = await probeModules(x, modules);
      const missing = s.filter((e) => e.state === "missing");
      if (missing.length) return { ok: false, detail: `${missing.map((e) => e.m).join(", ")} not loaded` };
      const file = await persist.check(x);
      if (!file.ok) return { ok: false, detail: file.detail };
      return { ok: true, detail: describe(s) };
    },
    async change(x) {
      const did: string[] = [];
      const missing = (await probeModules(x, modules)).filter((e) => e.state === "missing").map((e) => e.m);
      if (missing.length) {
        const env = (
          await x.run("[ -e /proc/modules ] && echo modules; command -v modprobe >/dev/null && echo modprobe")
        ).stdout;
        if (!env.includes("modules")) {
          // A kernel built without module support (or a container without /proc/modules): nothing
          // can be loaded here, and pretending otherwise would only fail later inside k3s.
          throw new Error(
            `cannot load kernel modules on ${x.node}: its kernel has no module support (/proc/modules absent) and ${missing.join(", ")} is not built in`,
          );
        }
        if (!env.includes("modprobe")) {
          throw new Error(
            `cannot load ${missing.join(", ")} on ${x.node}: modprobe is missing (apt-get install kmod)`,
          );
        }
        await must(x, missing.map((m) => `modprobe ${m}`).join(" && "), `modprobe ${missing.join(" ")}`);
        did.push(`loaded ${missing.join(", ")}`);
      }
      if (!(await persist.check(x)).ok) did.push(await persist.change(x));
      return did.join("; ");
    },
  };
}

export interface Sysctl {
  key: string;
  value: number;
  /** "min": any value at least this large is fine (limits); "exact" otherwise. */
  mode: "exact" | "min";
}

/** What k3s needs: forwarding and bridged traffic through iptables, and room for inotify watches. */
export const K3S_SYSCTLS: Sysctl[] = [
  { key: "net.ipv4.ip_forward", value: 1, mode: "exact" },
  { key: "net.ipv6.conf.all.forwarding", value: 1, mode: "exact" },
  { key: "net.bridge.bridge-nf-call-iptables", value: 1, mode: "exact" },
  { key: "net.bridge.bridge-nf-call-ip6tables", value: 1, mode: "exact" },
  { key: "fs.inotify.max_user_instances", value: 8192, mode: "min" },
  { key: "fs.inotify.max_user_watches", value: 524288, mode: "min" },
];
const SYSCTL_FILE = "/etc/sysctl.d/90-lab-k3s.conf";

function sysctlFile(list: Sysctl[]): string {
  return `# Written by Lab (k3s module): applied at boot by systemd-sysctl.\n${list.map((s) => `${s.key} = ${s.value}`).join("\n")}\n`;
}

async function readSysctls(x: Parameters<Operation["check"]>[0], list: Sysctl[]) {
  const script = list
    .map((s) => `v=$(sysctl -n ${quote(s.key)} 2>/dev/null) || v=absent; echo "$v"`)
    .join("\n");
  const lines = (await must(x, script, "reading sysctls")).trim().split("\n");
  return list.map((s, i) => {
    const raw = (lines[i] ?? "absent").trim();
    const n = Number(raw);
    const good = raw !== "absent" && (s.mode === "min" ? n >= s.value : n === s.value);
    return { ...s, raw, good };
  });
}

/** Live values (per network namespace where the kernel keeps them so) and the boot-time file. */
export function sysctlOp(list = K3S_SYSCTLS): Operation {
  const persist = fileOp("host-prep", "sysctl", SYSCTL_FILE, sysctlFile(list), 0o644);
  return {
    group: "host-prep",
    name: "sysctl",
    async check(x) {
      const seen = await readSysctls(x, list);
      const bad = seen.filter((s) => !s.good);
      if (bad.length)
        return {
          ok: false,
          detail: bad
            .map((s) => `${s.key}=${s.raw}, want ${s.mode === "min" ? "≥" : ""}${s.value}`)
            .join("; "),
        };
      const file = await persist.check(x);
      if (!file.ok) return { ok: false, detail: file.detail };
      return { ok: true, detail: `${list.length} values as wanted` };
    },
    async change(x) {
      const did: string[] = [];
      const bad = (await readSysctls(x, list)).filter((s) => !s.good);
      const absent = bad.filter((s) => s.raw === "absent");
      if (absent.length) {
        throw new Error(
          `${absent.map((s) => s.key).join(", ")} does not exist on ${x.node} (is the kernel module behind it loaded?)`,
        );
      }
      if (bad.length) {
        await must(x, bad.map((s) => `sysctl -qw ${quote(`${s.key}=${s.value}`)}`).join(" && "), "sysctl -w");
        did.push(bad.map((s) => `${s.key} ${s.raw}→${s.value}`).join(", "));
      }
      if (!(await persist.check(x)).ok) did.push(await persist.change(x));
      return did.join("; ");
    },
  };
}

export interface Port {
  port: string;
  proto: "tcp" | "udp";
  why: string;
}

/** The inbound ports k3s uses (k3s docs, "Inbound Rules for K3s Nodes"). */
export function k3sPorts(role: "server" | "agent"): Port[] {
  return [
    ...(role === "server"
      ? ([
          { port: "6443", proto: "tcp", why: "k3s supervisor and Kubernetes API server" },
          { port: "2379-2380", proto: "tcp", why: "embedded etcd" },
        ] as Port[])
      : []),
    { port: "10250", proto: "tcp", why: "kubelet metrics" },
    { port: "8472", proto: "udp", why: "flannel VXLAN" },
  ];
}

const NFT_FILE = "/etc/lab/k3s.nft";
const NFT_TABLE = "lab_k3s";

/** An nftables file that replaces Lab's table atomically (declare, flush, define). */
export function nftRules(ports: Port[]): string {
  return [
    "# Written by Lab (k3s module): the inbound ports k3s needs. Loaded by /etc/nftables.conf.",
    `table inet ${NFT_TABLE} {}`,
    `flush table inet ${NFT_TABLE}`,
    `table inet ${NFT_TABLE} {`,
    "  chain input {",
    "    type filter hook input priority -10; policy accept;",
    ...ports.map((p) => `    ${p.proto} dport ${p.port} accept comment "${p.why}"`),
    "  }",
    "}",
    "",
  ].join("\n");
}

/** firewalld must not run beside k3s (k3s docs); it is stopped and disabled where present. */
export function firewalldOp(): Operation {
  const probe =
    "if ! command -v systemctl >/dev/null 2>&1 || ! systemctl cat firewalld.service >/dev/null 2>&1; then echo absent; elif systemctl is-active -q firewalld || systemctl is-enabled -q firewalld; then echo on; else echo off; fi";
  return {
    group: "host-prep",
    name: "firewalld",
    async check(x) {
      const s = (await must(x, probe, "probing firewalld")).trim();
      if (s === "on") return { ok: false, detail: "firewalld enabled or running" };
      return { ok: true, detail: s === "absent" ? "not installed" : "disabled" };
    },
    async change(x) {
      await must(x, "systemctl disable --now firewalld", "systemctl disable --now firewalld");
      return "stopped and disabled firewalld";
    },
  };
}

/** Lab's nftables table with k3s's ports: live in the kernel, in a file, included at boot. */
export function nftablesOp(role: "server" | "agent"): Operation {
  const ports = k3sPorts(role);
  const persist = fileOp("host-prep", "firewall", NFT_FILE, nftRules(ports), 0o644);
  const include = `include "${NFT_FILE}"`;
  const live = async (x: Parameters<Operation["check"]>[0]) => {
    const r = await x.run(`nft list table inet ${NFT_TABLE} 2>/dev/null`);
    if (r.code !== 0) return [] as string[];
    return ports
      .filter((p) => !new RegExp(`${p.proto} dport ${p.port} accept`).test(r.stdout))
      .map((p) => `${p.port}/${p.proto}`);
  };
  return {
    group: "host-prep",
    name: "firewall",
    async check(x) {
      if ((await x.run("command -v nft")).code !== 0)
        throw new Error(`nft is missing on ${x.node}: apt-get install nftables`);
      const table = await x.run(`nft list table inet ${NFT_TABLE} >/dev/null 2>&1`);
      if (table.code !== 0) return { ok: false, detail: `no nftables table ${NFT_TABLE}` };
      const missing = await live(x);
      if (missing.length) return { ok: false, detail: `ports not open: ${missing.join(", ")}` };
      const file = await persist.check(x);
      if (!file.ok) return { ok: false, detail: file.detail };
      const boot = await x.run(`grep -qxF ${quote(include)} /etc/nftables.conf`);
      if (boot.code !== 0) return { ok: false, detail: "/etc/nftables.conf does not include it" };
      return { ok: true, detail: `${ports.map((p) => `${p.port}/${p.proto}`).join(" ")} open` };
    },
    async change(x) {
      const did: string[] = [];
      if (!(await persist.check(x)).ok) did.push(await persist.change(x));
      await must(x, `nft -f ${NFT_FILE}`, `nft -f ${NFT_FILE}`);
      did.push(`loaded table inet ${NFT_TABLE}`);
      const boot = await x.run(`grep -qxF ${quote(include)} /etc/nftables.conf`);
      if (boot.code !== 0) {
        await must(
          x,
          `touch /etc/nftables.conf && printf '%s\\n' ${quote(include)} >> /etc/nftables.conf`,
          "adding the include to /etc/nftables.conf",
        );
        did.push("included from /etc/nftables.conf");
      }
      return did.join("; ");
    },
  };
}
