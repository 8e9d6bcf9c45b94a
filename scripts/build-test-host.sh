#!/usr/bin/env bash
# Builds (once) the root filesystem of the SSH onboarding test host: Debian bookworm minbase
# with openssh-server and the tools hardware detection runs (iproute2, procps, util-linux for
# lsblk/lscpu, pciutils for lspci), packed as a plain tar in a cache directory.
#
#   scripts/build-test-host.sh [DEST]     DEST: cache directory (default /var/cache/lab-test,
#                                         or $LAB_TEST_HOST_CACHE)
#
# Prints the tar's path on stdout (progress goes to stderr). Idempotent: the file name carries
# a key made of the suite, variant and package list, so an existing tar is reused and a changed
# package list builds a new one. A plain tar, not compressed: extracting it is I/O bound and
# takes about a second, which every test host pays while the build is paid once.
#
# The Debian mirror is the one this machine's apt uses (override: $LAB_DEBIAN_MIRROR). Needs
# root and debootstrap (apt-get install -y debootstrap). Concurrent runs wait on a lock.
set -euo pipefail

SUITE=bookworm
VARIANT=minbase
PACKAGES="openssh-server,iproute2,procps,util-linux,pciutils"
FORMAT=1 # bump when the tree's post-processing below changes

DEST="${1:-${LAB_TEST_HOST_CACHE:-/var/cache/lab-test}}"

say() { printf 'build-test-host: %s\n' "$*" >&2; }
die() {
  printf 'build-test-host: ERROR: %s\n' "$*" >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap and chroot)"
command -v debootstrap >/dev/null 2>&1 || die "debootstrap is missing: apt-get install -y debootstrap"

KEY="$(printf '%s\n' "$SUITE" "$VARIANT" "$PACKAGES" "$FORMAT" | sha256sum | cut -c1-12)"
TAR="$DEST/$SUITE-sshd-$KEY.tar"

if [ -s "$TAR" ]; then
  printf '%s\n' "$TAR"
  exit 0
fi

# The mirror apt already uses for the main archive: deb822 .sources first, then one-line lists.
find_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    uri="$(awk '
      /^URIs:/ { uris = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "'"$SUITE"'") hit = 1 }
      /^[[:space:]]*$/ { if (hit && uris != "") { print uris; done = 1; exit } hit = 0; uris = "" }
      END { if (!done && hit && uris != "") print uris }' "$f")"
    [ -n "$uri" ] && {
      printf '%s\n' "$uri"
      return
    }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    uri="$(awk '$1 == "deb" && $3 == "'"$SUITE"'" { print $2; exit }' "$f")"
    [ -n "$uri" ] && {
      printf '%s\n' "$uri"
      return
    }
  done
}
MIRROR="${LAB_DEBIAN_MIRROR:-$(find_mirror)}"
[ -n "$MIRROR" ] || die "no apt source for $SUITE found in /etc/apt: set LAB_DEBIAN_MIRROR to a Debian mirror URL"

mkdir -p "$DEST"
exec 9>"$DEST/.build.lock"
flock 9
# Another run may have finished it while we waited for the lock.
if [ -s "$TAR" ]; then
  printf '%s\n' "$TAR"
  exit 0
fi

WORK="$(mktemp -d "$DEST/.build-XXXXXX")"
cleanup() {
  # debootstrap mounts /proc and /sys inside the tree; never rm -rf through a mount.
  for m in proc sys dev/pts dev; do
    mountpoint -q "$WORK/tree/$m" 2>/dev/null && umount -l "$WORK/tree/$m" || true
  done
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

START=$(date +%s)
say "debootstrap $SUITE ($VARIANT, +$PACKAGES) from $MIRROR"
if ! debootstrap --variant="$VARIANT" --include="$PACKAGES" "$SUITE" "$WORK/tree" "$MIRROR" >"$WORK/log" 2>&1; then
  tail -n 30 "$WORK/log" >&2
  die "debootstrap failed (full log above)"
fi

T="$WORK/tree"
# Every test host makes its own host keys (ssh-keygen -A at start), so two hosts differ.
rm -f "$T"/etc/ssh/ssh_host_*
# Nothing in the tree needs the downloaded packages or index files again.
rm -f "$T"/var/cache/apt/archives/*.deb "$T"/var/cache/apt/*.bin
rm -rf "$T"/var/lib/apt/lists/*
mkdir -p "$T/run/sshd" "$T/root/.ssh"
chmod 700 "$T/root/.ssh"
printf '%s\n' "$SUITE $VARIANT $PACKAGES format=$FORMAT" >"$T/etc/lab-test-host"

tar -C "$T" --numeric-owner -cf "$WORK/tree.tar" .
mv "$WORK/tree.tar" "$TAR"
say "built $TAR ($(du -h "$TAR" | cut -f1)) in $(($(date +%s) - START)) s"
printf '%s\n' "$TAR"
