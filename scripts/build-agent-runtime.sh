#!/bin/bash
# Builds the glibc runtime initrd that lets Lab's discovery image run the agent (a Node
# single-executable, dynamically linked to glibc): every library `ldd` lists for the agent,
# at the paths the dynamic linker looks in, packed as a gzip'd newc cpio the kernel unpacks
# over the discovery initrd (iPXE loads it as a second initrd). The virtual lab's image
# (`lab.agent=run`) boots with it; the plain discovery image stays small without it.
#
#   scripts/build-agent-runtime.sh OUT.cpio.gz [AGENT]   AGENT: default dist/agent/lab-agent
#
# The libraries are this host's: the agent binary was built here and the two must match.
# Needs: ldd (libc-bin), cpio, gzip.
set -euo pipefail
say() { printf 'build-agent-runtime: %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}
[ $# -ge 1 ] || die "usage: $0 OUT.cpio.gz [AGENT]"
OUT=$1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
AGENT=${2:-$HERE/../dist/agent/lab-agent}
[ -x "$AGENT" ] || die "$AGENT is missing: npm run build makes it"
for tool in ldd cpio gzip; do command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y libc-bin cpio gzip)"; done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lab-agent-runtime.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# "libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x…)" and "/lib64/ld-linux-x86-64.so.2 (0x…)".
ldd "$AGENT" | awk '/=> \// { print $1, $3; next } /^\t\// { print $1, $1 }' | while read -r name path; do
  real=$(readlink -f "$path")
  dir=$(dirname "$path")
  # Keep the path the binary asks for (/lib64/ld-linux…) and the one ld.so searches
  # (/lib/x86_64-linux-gnu, also when this host has them under /usr/lib: merged /usr).
  case "$dir" in /usr/lib/*) dir=/lib/${dir#/usr/lib/} ;; esac
  mkdir -p "$WORK$dir"
  cp "$real" "$WORK$dir/$(basename "$path")"
  say "$name ← $real"
done
[ -n "$(ls -A "$WORK")" ] || die "ldd listed no libraries for $AGENT"
(cd "$WORK" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -6n) >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
say "wrote $OUT ($(stat -c %s "$OUT") bytes)"
