#!/usr/bin/env bash
# Installs and starts the real peers the tests run against, on a fresh Debian 12 machine
# (PID 1 need not be systemd). Idempotent: already-present tools are left alone.
#   PostgreSQL (store contract, replicas)            scripts/ensure-postgres.sh
#   promtool, prometheus, node and blackbox exporters Prometheus rendering and health
#   nagios4, monitoring plugins                      Naemon/Nagios rendering and health
#   systemd-analyze                                  the systemd unit check
#   script (util-linux)                              the terminal-only hint test
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# A command on PATH, or a file that exists (firmware and boot loaders are not executables).
have() { command -v "$1" >/dev/null 2>&1 || [ -e "$1" ]; }
have promtool || need+=(prometheus)
have /usr/bin/prometheus-node-exporter || need+=(prometheus-node-exporter)
have /usr/bin/prometheus-blackbox-exporter || need+=(prometheus-blackbox-exporter)
have /usr/sbin/nagios4 || need+=(nagios4-core)
have /usr/lib/nagios/plugins/check_tcp || need+=(monitoring-plugins-basic)
have systemd-analyze || need+=(systemd)
have script || need+=(bsdutils)
# Provisioning (issue 5): a VM that network-boots, its firmware and the peers benchmarked beside us.
have qemu-system-x86_64 || need+=(qemu-system-x86)
have /usr/lib/ipxe/undionly.kpxe || need+=(ipxe)
have /usr/lib/ipxe/qemu/efi-e1000.rom || need+=(ipxe-qemu)
have /usr/share/OVMF/OVMF_CODE.fd || need+=(ovmf)
have dnsmasq || need+=(dnsmasq-base)
have perfdhcp || need+=(kea-admin)
have kea-dhcp4 || need+=(kea-dhcp4-server)
have /bin/busybox || need+=(busybox-static)
have cpio || need+=(cpio)
# The discovery image's module load order comes from modinfo; xz unpacks .ko.xz modules.
have modinfo || have /sbin/modinfo || need+=(kmod)
have xz || need+=(xz-utils)
have dhclient || need+=(isc-dhcp-client)
have dhcpd || need+=(isc-dhcp-server)
have tftp || need+=(tftp-hpa)
have atftp || need+=(atftp)
have nginx || need+=(nginx-light)
have tcpdump || need+=(tcpdump)
have curl || need+=(curl)
have ip || need+=(iproute2)
have cloud-init || need+=(cloud-init)
# Onboarding and identity (issue 6): a second host over SSH, BIND for RFC 2136 updates.
have /usr/sbin/sshd || need+=(openssh-server)
have ssh || need+=(openssh-client)
have debootstrap || need+=(debootstrap)
have named || need+=(bind9)
have nsupdate || need+=(bind9-dnsutils)
have dig || need+=(bind9-dnsutils)
# Boot media (issue 18): a hybrid ISO/USB image with iPXE for BIOS (isolinux) and UEFI (FAT).
have xorriso || need+=(xorriso)
have mformat || need+=(mtools)
have /usr/lib/ISOLINUX/isolinux.bin || need+=(isolinux)
have /usr/lib/syslinux/modules/bios/ldlinux.c32 || need+=(syslinux-common)
# Remote access (issue 18): wg-quick; wireguard-go where the kernel has no WireGuard module.
have wg-quick || need+=(wireguard-tools)
have wireguard-go || need+=(wireguard-go)
# Secrets (issue 13): the real age CLI decrypts what the store and the git backup write.
have age || need+=(age)
# The dashboard (issue 12): its browser tests drive Debian's Chromium with playwright-core.
have /usr/bin/chromium || need+=(chromium)
have /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf || need+=(fonts-dejavu-core)
# Real Puppet module layouts the lab::secret() scanner is tested on.
have /usr/share/puppet/modules/postfix/manifests/init.pp || need+=(puppet-module-camptocamp-postfix)
have /usr/share/puppet/modules/postgresql/manifests/server.pp || need+=(puppet-module-puppetlabs-postgresql)
# Power control (issue 14): a BMC simulator and the IPMI client the driver runs, libvirt for one
# domain, socat for the serial relay board's pseudo-terminal pair.
have ipmi_sim || need+=(openipmi)
have ipmitool || need+=(ipmitool)
have virsh || need+=(libvirt-clients)
have /usr/sbin/libvirtd || need+=(libvirt-daemon)
# The system daemon runs QEMU as libvirt-qemu, a user libvirt-daemon-system creates.
getent passwd libvirt-qemu >/dev/null || need+=(libvirt-daemon-system)
have /usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so || need+=(libvirt-daemon-driver-qemu)
have socat || need+=(socat)
# The TUI (issue 15): its suite drives the real `lab tui` in tmux (send-keys, capture-pane).
have tmux || need+=(tmux)
# Puppet (issue 17): real `puppet apply` classifies through Lab's ENC and posts run reports.
have /usr/bin/puppet || need+=(puppet)
# puppetserver 7.9 (issue 17): certificate signing through Lab's autosign executable.
have /usr/share/puppetserver/puppetserver.jar || need+=(puppetserver)
# The artifact builder (issue 17): buildah builds label images from a local base, no daemon.
have buildah || need+=(buildah)

if [ ${#need[@]} -gt 0 ]; then
  echo "ensure-peers: installing ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # Debian starts nothing on install here, and these tests start their own instances.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "ensure-peers: every peer present"
fi

# UEFI boot media need an ipxe.efi that runs autoexec.ipxe (2021+); Debian 12's is from 2019.
# The boot-media test takes Debian 13's ipxe package (firmware files only), unpacked, not installed.
IPXE_NEWER=/var/cache/lab-test/ipxe-debian13
if [ ! -f "$IPXE_NEWER/usr/lib/ipxe/ipxe.efi" ]; then
  echo "ensure-peers: fetching Debian 13's iPXE into $IPXE_NEWER"
  tmp=$(mktemp -d)
  mkdir -p "$tmp/lists/partial"
  echo "deb http://deb.debian.org/debian trixie main" >"$tmp/trixie.list"
  apt_tmp=(-o Dir::Etc::sourcelist="$tmp/trixie.list" -o Dir::Etc::sourceparts=/nonexistent
    -o Dir::State::Lists="$tmp/lists" -o APT::Sandbox::User=root)
  apt-get "${apt_tmp[@]}" update -qq
  (cd "$tmp" && apt-get "${apt_tmp[@]}" download -qq ipxe)
  mkdir -p "$IPXE_NEWER.partial" && dpkg-deb -x "$tmp"/ipxe_*.deb "$IPXE_NEWER.partial"
  rm -rf "$IPXE_NEWER" && mv "$IPXE_NEWER.partial" "$IPXE_NEWER"
  rm -rf "$tmp"
fi

# The k3s module's e2e (issue 17): the SSH test host's tree has no firewall tool, so the test
# installs Debian's nftables into it with dpkg; the .debs (same suite as the tree) are kept here.
K3S_DEBS=/var/cache/lab-test/debs-nftables
if [ ! -f "$K3S_DEBS/.complete" ]; then
  echo "ensure-peers: fetching nftables .debs into $K3S_DEBS"
  mkdir -p "$K3S_DEBS"
  (cd "$K3S_DEBS" && apt-get -o APT::Sandbox::User=root download -qq nftables libnftables1 libjansson4 libnftnl11)
  touch "$K3S_DEBS/.complete"
fi

bash scripts/ensure-postgres.sh

# The SSH onboarding test host's tree (debootstrap, minutes on a fresh machine): built here, so
# no test's setup timeout has to cover it. Cached: a no-op once built.
bash scripts/build-test-host.sh >/dev/null
