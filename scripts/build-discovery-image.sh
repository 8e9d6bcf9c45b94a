#!/bin/bash
# Builds Lab's discovery / test-install boot image: OUTDIR/vmlinuz and OUTDIR/initrd.gz.
#
#   scripts/build-discovery-image.sh OUTDIR
#
# The kernel is Debian's linux-image-<arch> (its versioned dependency, fetched with
# `apt-get download` and unpacked with `dpkg-deb -x`, nothing is installed); the userland is
# busybox-static; /init is packages/pxe/assets/init.sh. Only the kernel modules a machine needs
# to reach Lab and see its disks are copied in (NICs: e1000, e1000e, virtio-net; disks:
# ata_piix, ahci, sd_mod, virtio_blk, nvme), with their dependencies resolved from
# `modinfo -F depends` into a load order the init follows with busybox `insmod`.
#
# Cached: when OUTDIR already holds both files and OUTDIR/build.stamp records the same input
# versions (kernel and busybox package versions, hashes of this script and the assets, module
# list), nothing is done. Concurrent runs on one OUTDIR serialise on OUTDIR/.build.lock.
#
# Environment:
#   LAB_KERNEL_PACKAGE  kernel meta package (default linux-image-$(dpkg --print-architecture))
#   LAB_EXTRA_MODULES   more modules to include, space separated (e.g. "igb ixgbe r8169")
#   LAB_FORCE_BUILD=1   rebuild even when the stamp matches
#
# Needs: apt-get, apt-cache, dpkg-deb, modinfo (kmod), cpio, gzip, xz (for .ko.xz), flock.
set -euo pipefail

say() { printf 'build-discovery-image: %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
OUTDIR=$1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ASSETS=$(cd "$HERE/../packages/pxe/assets" && pwd) || die "packages/pxe/assets is missing next to $HERE"
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"

for tool in apt-get apt-cache dpkg-deb modinfo cpio gzip sha256sum flock; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y apt dpkg kmod cpio gzip coreutils util-linux)"
done

# The drivers a machine needs to reach Lab (NICs) and to see its disks, loaded in dependency order.
NIC_MODULES="e1000 e1000e virtio_pci virtio_net"
DISK_MODULES="scsi_mod sd_mod libata ata_piix libahci ahci virtio_blk nvme"
MODULES="$NIC_MODULES $DISK_MODULES ${LAB_EXTRA_MODULES:-}"

ARCH=$(dpkg --print-architecture)
KERNEL_META=${LAB_KERNEL_PACKAGE:-linux-image-$ARCH}

candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ && !done { print $2; done = 1 }'; }

# The meta package points at one versioned kernel package (linux-image-6.1.0-56-amd64).
KERNEL_PKG=$(apt-cache depends --important "$KERNEL_META" 2>/dev/null |
  awk '/Depends: linux-image-[0-9]/ && !done { print $2; done = 1 }')
[ -n "$KERNEL_PKG" ] || KERNEL_PKG=$KERNEL_META
KERNEL_VER=$(candidate "$KERNEL_PKG")
BUSYBOX_VER=$(candidate busybox-static)
if [ -z "$KERNEL_VER" ] || [ "$KERNEL_VER" = "(none)" ]; then
  die "apt knows no version of $KERNEL_PKG (run apt-get update)"
fi
if [ -z "$BUSYBOX_VER" ] || [ "$BUSYBOX_VER" = "(none)" ]; then
  die "apt knows no version of busybox-static (run apt-get update)"
fi

hash_of() { sha256sum "$@" | awk '{ print $1 }' | sha256sum | cut -c1-16; }
STAMP="kernel=$KERNEL_PKG $KERNEL_VER
busybox-static=$BUSYBOX_VER
modules=$(echo "$MODULES" | tr -s ' ' | sed 's/ $//')
inputs=$(hash_of "$SELF" "$ASSETS"/*)"

mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
exec 9>"$OUTDIR/.build.lock"
flock 9

if [ "${LAB_FORCE_BUILD:-0}" != 1 ] && [ -s "$OUTDIR/vmlinuz" ] && [ -s "$OUTDIR/initrd.gz" ] &&
  [ "$(cat "$OUTDIR/build.stamp" 2>/dev/null)" = "$STAMP" ]; then
  say "up to date in $OUTDIR ($KERNEL_PKG $KERNEL_VER, busybox-static $BUSYBOX_VER)"
  exit 0
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lab-discovery-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
say "building in $WORK: $KERNEL_PKG $KERNEL_VER, busybox-static $BUSYBOX_VER"

# apt-get download writes into the current directory; a cached .deb in apt's archive is reused.
fetch_deb() {
  local pkg=$1 ver=$2 file
  file=$(ls /var/cache/apt/archives/"${pkg}_${ver//:/%3a}"_*.deb 2>/dev/null | head -1 || true)
  if [ -n "$file" ]; then
    say "using cached $file"
    cp "$file" "$WORK/debs/"
  else
    say "apt-get download $pkg=$ver"
    (cd "$WORK/debs" && apt-get download -q "$pkg=$ver" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) ||
      die "apt-get download $pkg=$ver failed"
  fi
}
mkdir -p "$WORK/debs" "$WORK/kernel" "$WORK/busybox"
fetch_deb "$KERNEL_PKG" "$KERNEL_VER"
fetch_deb busybox-static "$BUSYBOX_VER"
say "unpacking"
dpkg-deb -x "$WORK"/debs/"${KERNEL_PKG}"_*.deb "$WORK/kernel"
dpkg-deb -x "$WORK"/debs/busybox-static_*.deb "$WORK/busybox"

VMLINUZ=$(ls "$WORK"/kernel/boot/vmlinuz-* 2>/dev/null | head -1 || true)
[ -n "$VMLINUZ" ] || die "$KERNEL_PKG has no boot/vmlinuz-*"
KVER=${VMLINUZ##*/vmlinuz-}
MODROOT=$(ls -d "$WORK"/kernel/lib/modules/"$KVER" "$WORK"/kernel/usr/lib/modules/"$KVER" 2>/dev/null | head -1 || true)
[ -n "$MODROOT" ] || die "$KERNEL_PKG has no lib/modules/$KVER"
BUSYBOX="$WORK/busybox/bin/busybox"
[ -x "$BUSYBOX" ] || die "busybox-static has no bin/busybox"

# Index: module name (with '-' folded to '_', as the kernel does) → file.
find "$MODROOT" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz' |
  while read -r f; do
    b=${f##*/}
    b=${b%.xz}
    b=${b%.zst}
    b=${b%.gz}
    b=${b%.ko}
    printf '%s %s\n' "$(echo "$b" | tr - _)" "$f"
  done >"$WORK/module-index"
module_file() { awk -v n="$(echo "$1" | tr - _)" '$1 == n && !done { print $2; done = 1 }' "$WORK/module-index"; }

# Depth-first: a module's dependencies (and "pre:" soft dependencies) are loaded before it.
ORDER=""
resolve() {
  local name file deps soft dep
  name=$(echo "$1" | tr - _)
  case " $ORDER " in *" $name "*) return 0 ;; esac
  file=$(module_file "$name")
  if [ -z "$file" ]; then
    if grep -q "/${name}.ko\$\|/$(echo "$name" | tr _ -).ko\$" "$MODROOT/modules.builtin" 2>/dev/null; then
      return 0 # built into the kernel
    fi
    [ "${2:-}" = soft ] && return 0
    die "module $name is neither in $KERNEL_PKG nor built in"
  fi
  deps=$(modinfo -F depends "$file" | tr , ' ')
  soft=$(modinfo -F softdep "$file" | sed -n 's/.*pre: *\([^:]*\)\( post:.*\)\{0,1\}$/\1/p')
  for dep in $deps; do resolve "$dep"; done
  for dep in $soft; do resolve "$dep" soft; done
  ORDER="$ORDER $name"
}
for m in $MODULES; do resolve "$m"; done
say "modules in load order:$ORDER"

ROOT="$WORK/initramfs"
mkdir -p "$ROOT"/{bin,dev,etc,proc,sys,run,tmp,mnt,var/log,lib/modules/"$KVER"}
ln -s bin "$ROOT/sbin"
mkdir -p "$ROOT/usr"
ln -s ../bin "$ROOT/usr/bin"
ln -s ../bin "$ROOT/usr/sbin"
: >"$ROOT/lib/modules/load-order"
for name in $ORDER; do
  file=$(module_file "$name")
  dest="$ROOT/lib/modules/$KVER/$name.ko"
  # busybox insmod loads plain ELF only: decompress whatever the kernel package compressed.
  case "$file" in
  *.ko.xz) xz -dc "$file" >"$dest" ;;
  *.ko.zst) zstd -qdc "$file" >"$dest" ;;
  *.ko.gz) gzip -dc "$file" >"$dest" ;;
  *) cp "$file" "$dest" ;;
  esac
  echo "$name" >>"$ROOT/lib/modules/load-order"
done

cp "$BUSYBOX" "$ROOT/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$ROOT/bin/$applet"
done
install -m 0755 "$ASSETS/init.sh" "$ROOT/init"
install -m 0755 "$ASSETS/udhcpc.sh" "$ROOT/etc/udhcpc.sh"
cat >"$ROOT/etc/lab-discovery-release" <<EOF
kernel=$KVER ($KERNEL_PKG $KERNEL_VER)
busybox=$BUSYBOX_VER
built=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EOF
echo "root:x:0:0:root:/:/bin/sh" >"$ROOT/etc/passwd"
echo "root:x:0:" >"$ROOT/etc/group"

say "packing initramfs"
(cd "$ROOT" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -9n) >"$WORK/initrd.gz"
cp "$VMLINUZ" "$WORK/vmlinuz"

# Replace the outputs only once both are complete; the stamp goes last.
rm -f "$OUTDIR/build.stamp"
mv "$WORK/vmlinuz" "$OUTDIR/vmlinuz.tmp" && mv "$OUTDIR/vmlinuz.tmp" "$OUTDIR/vmlinuz"
mv "$WORK/initrd.gz" "$OUTDIR/initrd.gz.tmp" && mv "$OUTDIR/initrd.gz.tmp" "$OUTDIR/initrd.gz"
printf '%s\n' "$STAMP" >"$OUTDIR/build.stamp.tmp"
mv "$OUTDIR/build.stamp.tmp" "$OUTDIR/build.stamp"
say "wrote $OUTDIR/vmlinuz ($(stat -c %s "$OUTDIR/vmlinuz") bytes, $KVER)"
say "wrote $OUTDIR/initrd.gz ($(stat -c %s "$OUTDIR/initrd.gz") bytes, $(wc -l <"$ROOT/lib/modules/load-order") modules)"
