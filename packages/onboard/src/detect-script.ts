/**
 * The one POSIX sh script hardware detection runs on the remote host, and the splitter for what
 * it prints. Every tool's output sits between two marker lines carrying a random nonce (so a
 * tool printing marker-like text cannot forge a section) and its exit status; a tool that is
 * not installed gets status 127 and no output. Nothing in the script needs root, bash or Node.
 */
import { randomBytes } from "node:crypto";

/** Section names, in the order the script prints them. */
export const SECTIONS = [
  "uname",
  "osrelease",
  "firmware",
  "lscpu",
  "cpuinfo",
  "meminfo",
  "lsblk",
  "sysblock",
  "net",
  "ipaddr",
  "lspci",
  "syspci",
  "nvidiasmi",
  "dmi",
] as const;
export type SectionName = (typeof SECTIONS)[number];

export interface Section {
  text: string;
  /** Exit status; 127 when the tool is not installed, 124 when `timeout` stopped it. */
  code: number;
  /** False when the END marker never came (output cut off, connection lost). */
  complete: boolean;
}

/** A fresh marker prefix: hex only, so it needs no quoting in sh. */
export function newNonce(): string {
  return `@@LAB-${randomBytes(8).toString("hex")}`;
}

/** The detection script; `nonce` from `newNonce()`. */
export function buildDetectScript(nonce: string): string {
  if (!/^@@LAB-[0-9a-f]{16}$/.test(nonce)) throw new Error("nonce must come from newNonce()");
  return `N='${nonce}'
LC_ALL=C; export LC_ALL
PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"; export PATH
have() { command -v "$1" >/dev/null 2>&1; }
T=""; if have timeout; then T="timeout 20"; fi
begin() { printf '\\n%s:BEGIN %s\\n' "$N" "$1"; }
end() { printf '\\n%s:END %s %s\\n' "$N" "$1" "$2"; }
# sec NAME TOOL ARGS...: run TOOL under a time limit, or report 127 when it is not installed.
sec() { s=$1; shift; begin "$s"; if have "$1"; then $T "$@" </dev/null 2>/dev/null; r=$?; else r=127; fi; end "$s" "$r"; }
# fn NAME FUNCTION: run a shell function (sysfs listings, no tools needed).
fn() { begin "$1"; $2 </dev/null 2>/dev/null; r=$?; end "$1" "$r"; }
# First line of a file with the read builtin: no tool needed, unreadable files give "".
rd() { l=""; IFS= read -r l <"$1"; printf '%s' "$l"; } 2>/dev/null

osrel() { if [ -r /etc/os-release ]; then cat /etc/os-release; else cat /usr/lib/os-release; fi; }
fw() { if [ -d /sys/firmware/efi ]; then echo efi; else echo bios; fi; }
cpuinfo() {
  if have grep; then
    grep -E '^(processor|model name|cpu model|physical id|core id|cpu cores|CPU implementer|CPU part)[[:space:]]*:|^[[:space:]]*$' /proc/cpuinfo
  else cat /proc/cpuinfo; fi
}
meminfo() { if have grep; then grep '^MemTotal:' /proc/meminfo; else cat /proc/meminfo; fi; }
sysblock() {
  for d in /sys/block/*; do
    [ -e "$d" ] || continue
    p=$(cd -P "$d" 2>/dev/null && pwd)
    printf 'blk\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "\${d##*/}" "$(rd "$d/size")" "$(rd "$d/queue/rotational")" \\
      "$(rd "$d/removable")" "$p" "$(rd "$d/device/model")"
  done
}
net() {
  for d in /sys/class/net/*; do
    [ -e "$d" ] || continue
    dev=0; [ -e "$d/device" ] && dev=1
    br=0; [ -d "$d/bridge" ] && br=1
    m=""; [ -e "$d/master" ] && m=$(cd -P "$d/master" 2>/dev/null && pwd) && m=\${m##*/}
    printf 'net\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "\${d##*/}" "$(rd "$d/address")" "$(rd "$d/speed")" \\
      "$(rd "$d/operstate")" "$(rd "$d/type")" "$dev" "$br" "$m"
  done
}
syspci() {
  for d in /sys/bus/pci/devices/*; do
    [ -e "$d/class" ] || continue
    printf 'pci\\t%s\\t%s\\t%s\\t%s\\n' "\${d##*/}" "$(rd "$d/class")" "$(rd "$d/vendor")" "$(rd "$d/device")"
  done
}
dmi() {
  for f in sys_vendor product_name product_serial; do
    [ -r "/sys/class/dmi/id/$f" ] && printf 'dmi\\t%s\\t%s\\n' "$f" "$(rd "/sys/class/dmi/id/$f")"
  done
  return 0
}

sec uname uname -m
fn osrelease osrel
fn firmware fw
sec lscpu lscpu -J
fn cpuinfo cpuinfo
fn meminfo meminfo
sec lsblk lsblk -J -b -d -o NAME,TYPE,SIZE,ROTA,RM,TRAN,MODEL
fn sysblock sysblock
fn net net
sec ipaddr ip -4 -o addr show
sec lspci lspci -mm -nn
fn syspci syspci
sec nvidiasmi nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits
fn dmi dmi
exit 0
`;
}

/**
 * Splits the script's output into sections. Text outside markers is ignored; a section whose
 * END never came is returned with `complete: false` and the text seen so far.
 */
export function splitSections(stdout: string, nonce: string): Map<SectionName, Section> {
  const out = new Map<SectionName, Section>();
  const begin = `${nonce}:BEGIN `;
  const end = `${nonce}:END `;
  let current: { name: SectionName; lines: string[] } | undefined;
  const known = new Set<string>(SECTIONS);
  const finish = (code: number, complete: boolean) => {
    if (!current) return;
    // The script prints a newline before the END marker; drop it so text is what the tool printed.
    const lines = current.lines;
    if (lines.length && lines[lines.length - 1] === "") lines.pop();
    out.set(current.name, { text: lines.join("\n"), code, complete });
    current = undefined;
  };
  for (const line of stdout.split("\n")) {
    if (line.startsWith(begin)) {
      finish(-1, false);
      const name = line.slice(begin.length).trim();
      current = known.has(name) ? { name: name as SectionName, lines: [] } : undefined;
    } else if (line.startsWith(end)) {
      const [name, code] = line.slice(end.length).trim().split(/\s+/);
      if (current && name === current.name) finish(Number.isInteger(Number(code)) ? Number(code) : -1, true);
      else current = undefined;
    } else if (current) {
      current.lines.push(line);
    }
  }
  finish(-1, false);
  return out;
}
