#!/usr/bin/env bash
# Builds (once) the local base image `lab build` starts from when no registry is reachable:
# `buildah from scratch` + the debootstrapped Debian bookworm tree of the SSH test host
# (scripts/build-test-host.sh) + Debian's puppet, installed in a chroot from this machine's apt
# cache (apt fetches from the Debian archive only what the cache lacks).
#
#   scripts/build-base-image.sh [STORAGE_ROOT]   buildah's storage (default: buildah's own, or
#                                                $LAB_BUILDAH_ROOT); vfs driver, no daemon
#
# Prints the image name. Idempotent: an existing image is kept. Needs root, buildah, debootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=localhost/lab-base:bookworm-puppet
ROOT_DIR="${1:-${LAB_BUILDAH_ROOT:-}}"
B=(buildah --storage-driver vfs)
[ -n "$ROOT_DIR" ] && B+=(--root "$ROOT_DIR" --runroot "$ROOT_DIR/run")
say() { printf 'build-base-image: %s\n' "$*" >&2; }

if "${B[@]}" inspect --type image "$IMAGE" >/dev/null 2>&1; then
  printf '%s\n' "$IMAGE"
  exit 0
fi
TAR="$(bash scripts/build-test-host.sh)"
WORK="$(mktemp -d)"
trap 'umount "$WORK/tree/proc" 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir "$WORK/tree"
say "unpacking $TAR"
tar -xf "$TAR" -C "$WORK/tree"
# Package lists and cached .debs from the host (the same Debian release), so apt in the chroot
# installs puppet without downloading what this machine already has.
mkdir -p "$WORK/tree/var/lib/apt/lists" "$WORK/tree/var/cache/apt/archives"
cp -a /var/lib/apt/lists/. "$WORK/tree/var/lib/apt/lists/"
find /var/cache/apt/archives -maxdepth 1 -name '*.deb' -exec cp -t "$WORK/tree/var/cache/apt/archives/" {} +
cp /etc/resolv.conf "$WORK/tree/etc/resolv.conf" 2>/dev/null || true
mount -t proc proc "$WORK/tree/proc"
say "installing puppet in the tree"
chroot "$WORK/tree" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends puppet-agent >&2
umount "$WORK/tree/proc"
rm -rf "$WORK/tree/var/cache/apt/archives/"*.deb "$WORK/tree/var/lib/apt/lists/"*
say "committing $IMAGE"
tar -C "$WORK/tree" -cf "$WORK/rootfs.tar" .
ctr="$("${B[@]}" from scratch)"
"${B[@]}" add "$ctr" "$WORK/rootfs.tar" / >/dev/null
"${B[@]}" config --label io.lab.base=bookworm-puppet --cmd /bin/bash "$ctr"
"${B[@]}" commit --quiet "$ctr" "$IMAGE" >/dev/null
"${B[@]}" rm "$ctr" >/dev/null
printf '%s\n' "$IMAGE"
