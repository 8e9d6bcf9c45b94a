/**
 * What the migration needs to know about the target host before it plans, learnt in one SSH
 * command that changes nothing: platform, the Node it has (if any), what an earlier run left
 * there (the release, a state, a running server) and whether systemd runs it.
 */
import { LabError } from "@lab/core";
import { type SshSession, shellQuote } from "@lab/onboard";

export interface HostFacts {
  os: string;
  arch: string;
  uid: number;
  /** glibc version of the host, e.g. "2.36"; empty when not glibc (musl). */
  glibc: string;
  /** A node on PATH: its path, version and native-module ABI. */
  node?: { path: string; version: string; modules: string };
  releasePresent: boolean;
  /** Where `<prefix>/current` points now, if anywhere. */
  current?: string;
  statePresent: boolean;
  /** sha256 of the host's `<home>/server/ca.crt`: the same as ours means the same Lab. */
  caSha256?: string;
  /** pid of a live `lab server` from `<home>/server/lab-server.pid`. */
  runningPid?: number;
  systemd: boolean;
  /** Free space where the prefix lives, in KiB. */
  freeKiB?: number;
}

export function probeScript(prefix: string, home: string, releaseId: string): string {
  const P = shellQuote(prefix);
  const H = shellQuote(home);
  return [
    'echo "os=$(uname -s)"',
    'echo "arch=$(uname -m)"',
    'echo "uid=$(id -u)"',
    'echo "glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | cut -d" " -f2)"',
    `if n=$(command -v node 2>/dev/null); then echo "node=$n $("$n" -p 'process.version+" "+process.versions.modules' 2>/dev/null)"; fi`,
    `[ -f ${P}/releases/${shellQuote(releaseId)}/.complete ] && echo release=present`,
    `[ -L ${P}/current ] && echo "current=$(readlink ${P}/current)"`,
    `[ -f ${H}/state.db ] && echo state=present`,
    `[ -f ${H}/server/ca.crt ] && echo "ca=$(sha256sum < ${H}/server/ca.crt | cut -c1-64)"`,
    `if [ -f ${H}/server/lab-server.pid ]; then p=$(sed -n 's/.*"pid":\\([0-9]*\\).*/\\1/p' ${H}/server/lab-server.pid); [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "running=$p"; fi`,
    "[ -d /run/systemd/system ] && echo systemd=yes",
    // The nearest existing parent of the prefix: df of a path that does not exist yet fails.
    `d=${P}; while [ ! -d "$d" ]; do d=$(dirname "$d"); done; df -Pk "$d" | awk 'NR==2 {print "free=" $4}'`,
    "true",
  ].join("\n");
}

export function parseFacts(text: string): HostFacts {
  const kv = new Map<string, string>();
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) kv.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  const node = kv.get("node")?.split(/\s+/);
  return {
    os: kv.get("os") ?? "",
    arch: kv.get("arch") ?? "",
    uid: Number(kv.get("uid") ?? -1),
    glibc: kv.get("glibc") ?? "",
    ...(node && node.length === 3 && node[1]
      ? { node: { path: node[0] ?? "", version: node[1], modules: node[2] ?? "" } }
      : {}),
    releasePresent: kv.get("release") === "present",
    ...(kv.get("current") ? { current: kv.get("current") } : {}),
    statePresent: kv.get("state") === "present",
    ...(kv.get("ca") ? { caSha256: kv.get("ca") } : {}),
    ...(kv.get("running") ? { runningPid: Number(kv.get("running")) } : {}),
    systemd: kv.get("systemd") === "yes",
    ...(kv.get("free") ? { freeKiB: Number(kv.get("free")) } : {}),
  };
}

export async function probeHost(
  ssh: SshSession,
  prefix: string,
  home: string,
  releaseId: string,
): Promise<HostFacts> {
  const r = await ssh.exec("sh -s", { stdin: probeScript(prefix, home, releaseId), timeoutMs: 60_000 });
  if (r.code !== 0) {
    throw new LabError(
      "LAB_E_SSH_COMMAND",
      `probing ${ssh.where} failed (exit ${r.code}): ${r.stderr.trim()}`,
    );
  }
  return parseFacts(r.stdout);
}

const ARCH: Record<string, string> = { x64: "x86_64", arm64: "aarch64" };

/** This machine's glibc, which the shipped node and native modules were linked against. */
export function localGlibc(): string {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)
    ?.header;
  return header?.glibcVersionRuntime ?? "";
}

function versionAtLeast(have: string, want: string): boolean {
  const a = have.split(".").map(Number);
  const b = want.split(".").map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

/**
 * Refuses hosts the bundle cannot run on: it carries native modules (and maybe a node) built
 * on this machine, so the host must be Linux of the same architecture with a glibc at least
 * as new.
 */
export function checkPlatform(facts: HostFacts, where: string): void {
  const arch = ARCH[process.arch] ?? process.arch;
  const problems: string[] = [];
  if (facts.os !== "Linux") problems.push(`it runs ${facts.os || "an unknown OS"}, not Linux`);
  if (facts.arch !== arch) problems.push(`it is ${facts.arch || "of unknown architecture"}, not ${arch}`);
  const mine = localGlibc();
  if (mine && !facts.glibc) problems.push("it has no glibc (musl?)");
  else if (mine && !versionAtLeast(facts.glibc, mine))
    problems.push(`its glibc ${facts.glibc} is older than ${mine}`);
  if (problems.length > 0) {
    throw new LabError(
      "LAB_E_MIGRATE_PLATFORM",
      `${where} cannot run this Lab's bundle: ${problems.join("; ")}`,
    );
  }
}

/** Whether the host's own node can run the bundle: Node ≥ 20 with our native-module ABI. */
export function hostNodeUsable(facts: HostFacts): boolean {
  if (!facts.node) return false;
  const major = Number(/^v(\d+)/.exec(facts.node.version)?.[1] ?? 0);
  return major >= 20 && facts.node.modules === process.versions.modules;
}
