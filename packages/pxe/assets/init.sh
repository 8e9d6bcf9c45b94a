#!/bin/sh
# /init of Lab's discovery image (busybox sh; built by scripts/build-discovery-image.sh).
#
# Kernel command line (see docs of the PXE contract):
#   lab.server=http://IP:PORT   Lab's machine-facing HTTP base (required)
#   lab.mac=aa:bb:cc:dd:ee:ff   the NIC that booted (default: the first NIC with a carrier)
#   lab.token=TOKEN             install or discovery token, sent as X-Lab-Install-Token
#   lab.mode=discover|install   discover: post the hardware inventory and power off;
#                               install: a test install that reports every stage, writes a
#                               marker to the chosen disk and reboots
#   lab.syslog=IP[:PORT]        syslog target (default: lab.server's host, port 5514)
#   lab.config=URL              install: a config file to fetch in the "configuring" stage
#   lab.fail=STAGE              install: fail on purpose at STAGE (tests of the failed path)
#   lab.agent=run               install: instead of rebooting, play the installed system's
#                               first boot in RAM: install Lab's agent the way an installer's
#                               last step does and run it (needs the glibc runtime initrd);
#                               once enrolled, its identity is kept on the disk after the marker
#   lab.mode=installed          the installed system's later boots (booted from its "disk" by
#                               the test, e.g. after its RAM was changed): restore the agent's
#                               identity from the disk, fetch the agent again and run it
# Every step prints a "lab-init: ..." line on the console; tests read them from the serial log.

PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PATH
umask 022

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs tmpfs /tmp

LOG=/run/lab-init.log
uptime_s() { cut -d' ' -f1 /proc/uptime; }
# Every line carries the kernel's uptime, so boots can be timed from the serial log alone.
log() {
  t=$(uptime_s)
  echo "lab-init: $* [t=$t]"
  echo "$t $*" >>"$LOG"
}

# Ends the machine: `poweroff -f` (or `reboot -f`) exits QEMU under -no-reboot; sysrq is the
# last resort so that /init never returns (the kernel would panic).
finish() {
  sync
  if [ "$1" = reboot ]; then
    log "rebooting"
    reboot -f
    echo b >/proc/sysrq-trigger
  else
    log "powering off"
    poweroff -f
    echo o >/proc/sysrq-trigger
  fi
  sleep 60
}

# Before the network is up there is nobody to tell: log and power off.
die_early() {
  log "FAILED: $*"
  finish poweroff
}

# JSON string body: backslashes and quotes escaped, control characters dropped, trimmed.
json_escape() {
  printf '%s' "$1" | tr -d '\000-\037\177' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^ *//' -e 's/ *$//'
}
# The first line of a file, trimmed; empty when unreadable.
read1() { [ -r "$1" ] && head -n1 "$1" 2>/dev/null | tr -d '\000-\037\177' | sed -e 's/^ *//' -e 's/ *$//'; }

log "started at uptime $(uptime_s) s ($(uname -r), $(sed -n 's/^busybox=//p' /etc/lab-discovery-release) busybox)"

# ── command line ──
SERVER="" WANT_MAC="" TOKEN="" MODE="discover" SYSLOG="" CONFIG_URL="" FAIL_AT="" AGENT=""
set -f
for arg in $(cat /proc/cmdline); do
  case "$arg" in
  lab.server=*) SERVER=${arg#lab.server=} ;;
  lab.mac=*) WANT_MAC=$(echo "${arg#lab.mac=}" | tr 'A-F-' 'a-f:') ;;
  lab.token=*) TOKEN=${arg#lab.token=} ;;
  lab.mode=*) MODE=${arg#lab.mode=} ;;
  lab.syslog=*) SYSLOG=${arg#lab.syslog=} ;;
  lab.config=*) CONFIG_URL=${arg#lab.config=} ;;
  lab.fail=*) FAIL_AT=${arg#lab.fail=} ;;
  lab.agent=*) AGENT=${arg#lab.agent=} ;;
  esac
done
set +f
SERVER=${SERVER%/}
case "$SERVER" in
http://* | https://*) ;;
*) die_early "lab.server is missing or not an http(s) URL: '$SERVER'" ;;
esac
case "$MODE" in
discover | install | installed) ;;
*) die_early "lab.mode must be discover, install or installed, not '$MODE'" ;;
esac
[ -n "$TOKEN" ] || [ "$MODE" = installed ] || log "warning: no lab.token on the command line; the server will refuse the posts"
log "mode=$MODE server=$SERVER mac=${WANT_MAC:-any}"

# ── drivers ──
KVER=$(uname -r)
loaded=0 failed=""
for m in $(cat /lib/modules/load-order 2>/dev/null); do
  if insmod "/lib/modules/$KVER/$m.ko" 2>/run/insmod.err; then
    loaded=$((loaded + 1))
  elif ! grep -q 'File exists' /run/insmod.err; then
    failed="$failed $m"
  fi
done
log "loaded $loaded modules${failed:+, failed:$failed}"

# ── network ──
is_nic() { [ "${1##*/}" != lo ] && [ -e "$1/device" ]; }
nic_with_mac() {
  for d in /sys/class/net/*; do
    is_nic "$d" && [ "$(read1 "$d/address")" = "$1" ] && echo "${d##*/}" && return 0
  done
  return 1
}
wait_carrier() { # iface, tenths of a second
  n=0
  while [ "$n" -lt "$2" ]; do
    [ "$(read1 "/sys/class/net/$1/carrier")" = 1 ] && return 0
    usleep 100000
    n=$((n + 1))
  done
  return 1
}

IFACE=""
if [ -n "$WANT_MAC" ]; then
  n=0
  while [ "$n" -lt 100 ] && [ -z "$IFACE" ]; do
    IFACE=$(nic_with_mac "$WANT_MAC")
    [ -n "$IFACE" ] || usleep 200000
    n=$((n + 1))
  done
  [ -n "$IFACE" ] || log "warning: no NIC has MAC $WANT_MAC; falling back to the first with a carrier"
fi
if [ -z "$IFACE" ]; then
  n=0
  while [ "$n" -lt 100 ]; do
    for d in /sys/class/net/*; do is_nic "$d" && ip link set "${d##*/}" up; done
    for d in /sys/class/net/*; do
      is_nic "$d" && [ "$(read1 "$d/carrier")" = 1 ] && IFACE=${d##*/} && break
    done
    [ -n "$IFACE" ] && break
    usleep 200000
    n=$((n + 1))
  done
fi
[ -n "$IFACE" ] || die_early "no network interface with a carrier (NICs: $(ls /sys/class/net | tr '\n' ' '))"
MAC=$(read1 "/sys/class/net/$IFACE/address")
ip link set lo up
ip link set "$IFACE" up
wait_carrier "$IFACE" 100 || log "warning: $IFACE has no carrier yet; trying DHCP anyway"
log "nic $IFACE mac $MAC"
hostname "lab-$(echo "$MAC" | tr -d :)"

attempt=1
while :; do
  rm -f /run/lab-dhcp
  udhcpc -i "$IFACE" -s /etc/udhcpc.sh -f -q -n -t 6 -T 2 -A 1 >/run/udhcpc.out 2>&1
  [ -s /run/lab-dhcp ] && break
  log "dhcp attempt $attempt on $IFACE failed: $(tail -n1 /run/udhcpc.out)"
  [ "$attempt" -ge 5 ] && die_early "no DHCP lease on $IFACE after $attempt attempts"
  attempt=$((attempt + 1))
done
MY_IP=$(sed -n 's/.* ip=\([^ ]*\) .*/\1/p' /run/lab-dhcp)
log "dhcp $(cat /run/lab-dhcp)"

# ── talking to Lab ──
# POST FILE to $SERVER$PATH; transient failures are retried with backoff, a 4xx answer is final.
post() { # path file content-type
  tries=0 delay=1
  while :; do
    tries=$((tries + 1))
    if timeout 30 wget -q -O /run/post.out --header "Content-Type: $3" \
      --header "X-Lab-Install-Token: $TOKEN" --post-file "$2" "$SERVER$1" 2>/run/post.err; then
      return 0
    fi
    why=$(tail -n1 /run/post.err)
    log "POST $1 attempt $tries failed: ${why:-timed out}"
    case "$why" in
    *"server returned error: HTTP/"*" 408"* | *"server returned error: HTTP/"*" 429"*) ;;
    *"server returned error: HTTP/"*" 4"[0-9][0-9]*) return 1 ;;
    esac
    [ "$tries" -ge 5 ] && return 1
    sleep "$delay"
    delay=$((delay * 2))
  done
}
post_json() { post "$1" "$2" application/json; }
# What this init logged, for the server to keep when something went wrong.
post_log() { post /pxe/v1/log "$LOG" text/plain || true; }

# ── discover ──
disk_type() { # /sys/block/X
  n=${1##*/}
  case "$(readlink -f "$1/device" 2>/dev/null)" in */usb*) echo usb && return ;; esac
  case "$n" in
  nvme*) echo nvme && return ;;
  vd* | xvd*) echo virtual && return ;;
  esac
  case "$(read1 "$1/device/model")$(read1 "$1/device/vendor")" in
  *QEMU* | *VBOX* | *VMware* | *Virtual*) echo virtual && return ;;
  esac
  case "$(read1 "$1/queue/rotational")" in
  0) echo ssd ;;
  1) echo hdd ;;
  *) echo unknown ;;
  esac
}
is_disk() { # /sys/block/X: real disks only, no loop/ram/optical/device-mapper
  case "${1##*/}" in loop* | ram* | zram* | dm-* | md* | sr* | fd* | nbd*) return 1 ;; esac
  case "$(read1 "$1/size")" in '' | 0 | *[!0-9]*) return 1 ;; esac
}
# Disk drivers probe asynchronously: wait until the set of disks stops changing (≤ 5 s).
settle_disks() {
  prev="" n=0
  while [ "$n" -lt 10 ]; do
    now=$(ls /sys/block 2>/dev/null | tr '\n' ' ')
    [ -n "$now" ] && [ "$now" = "$prev" ] && return 0
    prev=$now
    usleep 500000
    n=$((n + 1))
  done
}

inventory() {
  warnings=""
  cpu_model=$(sed -n -E '/^(model name|Hardware|cpu model)/{s/^[^:]*: *//;p;q}' /proc/cpuinfo)
  threads=$(grep -c '^processor' /proc/cpuinfo)
  [ "$threads" -gt 0 ] || threads=1
  sockets=$(grep '^physical id' /proc/cpuinfo | sort -u | wc -l)
  [ "$sockets" -gt 0 ] || sockets=1
  cores=$(awk -F': *' '/^physical id/ { p = $2 } /^core id/ { print p ":" $2 }' /proc/cpuinfo | sort -u | wc -l)
  [ "$cores" -gt 0 ] || cores=$threads
  # Installed RAM is the sum of the firmware's "System RAM" ranges; MemTotal omits what the
  # kernel reserved for itself.
  mem=0
  for r in /sys/firmware/memmap/*; do
    [ "$(read1 "$r/type")" = "System RAM" ] || continue
    mem=$((mem + $(read1 "$r/end") - $(read1 "$r/start") + 1))
  done
  [ "$mem" -gt 0 ] || mem=$(($(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) * 1024))
  firmware=bios
  [ -d /sys/firmware/efi ] && firmware=efi
  case "$(uname -m)" in x86_64 | i?86) ;; *) [ "$firmware" = efi ] || firmware=unknown ;; esac

  printf '{"mac":"%s","arch":"%s","firmware":"%s",' "$MAC" "$(uname -m)" "$firmware"
  printf '"cpu":{"model":"%s","cores":%d,"threads":%d,"sockets":%d},' \
    "$(json_escape "${cpu_model:-unknown}" | cut -c1-256)" "$cores" "$threads" "$sockets"
  printf '"memoryBytes":%s,' "$mem"

  printf '"disks":['
  sep=""
  for d in /sys/block/*; do
    is_disk "$d" || continue
    type=$(disk_type "$d")
    removable=false
    { [ "$(read1 "$d/removable")" = 1 ] || [ "$type" = usb ]; } && removable=true
    model=$(json_escape "$(read1 "$d/device/model")" | cut -c1-128)
    printf '%s{"name":"%s","type":"%s","sizeBytes":%s,"removable":%s%s}' "$sep" "${d##*/}" "$type" \
      "$(($(read1 "$d/size") * 512))" "$removable" "${model:+,\"model\":\"$model\"}"
    sep=","
  done
  printf '],'
  [ -n "$sep" ] || warnings="$warnings,\"no disks found\""

  printf '"nics":['
  sep=""
  for d in /sys/class/net/*; do
    is_nic "$d" || continue
    n=${d##*/}
    speed=$(read1 "$d/speed")
    case "$speed" in '' | -* | *[!0-9]*) speed="" ;; esac
    ips=$(ip -4 -o addr show dev "$n" 2>/dev/null | awk '{ split($4, a, "/"); printf "%s\"%s\"", s, a[1]; s = "," }')
    printf '%s{"name":"%s","mac":"%s"%s,"ipv4":[%s]}' "$sep" "$n" "$(read1 "$d/address")" \
      "${speed:+,\"speedMbps\":$speed}" "$ips"
    sep=","
  done
  printf '],'

  printf '"gpus":['
  sep=""
  for p in /sys/bus/pci/devices/*; do
    case "$(read1 "$p/class")" in 0x03*) ;; *) continue ;; esac
    vid=$(read1 "$p/vendor")
    case "$vid" in 0x10de) v=nvidia ;; 0x1002 | 0x1022) v=amd ;; 0x8086) v=intel ;; *) v=other ;; esac
    printf '%s{"vendor":"%s","model":"PCI %s:%s"}' "$sep" "$v" "${vid#0x}" "$(read1 "$p/device" | sed 's/^0x//')"
    sep=","
  done
  printf '],'

  # Firmware placeholders say nothing about the machine: leave them out.
  printf '"system":{'
  sep=""
  for pair in vendor:sys_vendor product:product_name serial:product_serial; do
    v=$(json_escape "$(read1 "/sys/class/dmi/id/${pair#*:}")" | cut -c1-128)
    case "$v" in '' | 0 | "To be filled by O.E.M." | "Default string" | "System Serial Number" | "Not Specified" | "None") continue ;; esac
    printf '%s"%s":"%s"' "$sep" "${pair%%:*}" "$v"
    sep=","
  done
  [ -d /sys/class/dmi/id ] || warnings="$warnings,\"no DMI data (/sys/class/dmi/id)\""
  printf '},'
  printf '"warnings":[%s]}\n' "${warnings#,}"
}

# The install target: the first NVMe disk, else the first other fixed disk (sets DISK).
pick_disk() {
  DISK=""
  for want in nvme any; do
    for d in /sys/block/*; do
      is_disk "$d" || continue
      [ "$(read1 "$d/removable")" = 1 ] && continue
      [ "$(disk_type "$d")" = usb ] && continue
      case "$want:${d##*/}" in nvme:nvme* | any:*) DISK=${d##*/} && break 2 ;; esac
    done
  done
}

# Where the test install keeps the agent's identity on its disk: a tar from 1 MiB on (the
# marker is sector 0). A stand-in for the installed system's root file system.
STATE_SECTOR=2048

# Runs the installed agent until the machine is powered off (lab.agent=run and lab.mode=installed).
run_agent() {
  . /etc/lab/agent.env
  export HOME=/tmp
  while :; do
    log "agent: starting (server $LAB_AGENT_SERVER, name $LAB_HOSTNAME)"
    if [ -s /etc/lab/join-token ]; then
      /usr/local/lib/lab-agent/lab-agent --server "$LAB_AGENT_SERVER" --state-dir /var/lib/lab-agent \
        --join-token-file /etc/lab/join-token --ca-file /etc/lab/ca.crt --name "$LAB_HOSTNAME" --heartbeat 5s
    else
      /usr/local/lib/lab-agent/lab-agent --server "$LAB_AGENT_SERVER" --state-dir /var/lib/lab-agent \
        --ca-file /etc/lab/ca.crt --name "$LAB_HOSTNAME" --heartbeat 5s
    fi
    code=$?
    # 78: an operator must act (revoked, a spent token): restarting would not help.
    [ "$code" = 78 ] && agent_fail "the agent exited 78 (an operator must act)"
    log "agent: exited $code; restarting in 5 s"
    sleep 5
  done
}

agent_fail() {
  log "FAILED: agent: $*"
  post_log
  finish poweroff
}

# install.sh enables its unit with systemctl or a wants/ link; this busybox system has neither.
install_agent() { # url
  [ -e /lib64/ld-linux-x86-64.so.2 ] || agent_fail "no glibc runtime in this image (add the agent runtime initrd)"
  mkdir -p /etc/systemd/system/multi-user.target.wants
  timeout 120 wget -q -O /run/agent-install.sh "$1" 2>/run/agent.err ||
    agent_fail "could not fetch $1: $(tail -n1 /run/agent.err)"
  t0=$(uptime_s)
  sh /run/agent-install.sh >/run/agent-install.out 2>&1 ||
    agent_fail "install.sh failed: $(tail -n2 /run/agent-install.out | tr '\n' ' ')"
  log "agent installed in $(awk -v a="$t0" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }') s: $(tail -n1 /run/agent-install.out)"
}

# ── installed: a later boot of the installed system ──
if [ "$MODE" = installed ]; then
  settle_disks
  pick_disk
  [ -n "$DISK" ] || agent_fail "no disk to boot the installed system from: $(ls /sys/block | tr '\n' ' ')"
  dd if="/dev/$DISK" bs=512 skip=$STATE_SECTOR count=2048 2>/dev/null | tar -xf - -C / 2>/run/tar.err ||
    agent_fail "no agent identity on /dev/$DISK (was it installed with lab.agent=run?): $(tail -n1 /run/tar.err)"
  [ -s /var/lib/lab-agent/cert.pem ] || agent_fail "/dev/$DISK holds no agent certificate"
  LAB_HOSTNAME=$(cat /etc/lab/hostname)
  log "installed system: agent identity restored from /dev/$DISK ($(cat /proc/cpuinfo | grep -c '^processor') CPUs, $(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) kB)"
  install_agent "$SERVER/pxe/v1/agent/install.sh"
  run_agent
fi

if [ "$MODE" = discover ]; then
  settle_disks
  inventory >/run/inventory.json
  log "inventory: $(wc -c </run/inventory.json) bytes, $(grep -o '"name":"[^"]*","type"' /run/inventory.json | wc -l) disks"
  if post_json /pxe/v1/inventory /run/inventory.json; then
    log "inventory posted to $SERVER/pxe/v1/inventory"
  else
    log "FAILED: could not post the inventory to $SERVER/pxe/v1/inventory"
    post_log
  fi
  finish poweroff
fi

# ── install ──
STAGE=booted
if [ -z "$SYSLOG" ]; then
  hostport=${SERVER#*://}
  hostport=${hostport%%/*}
  case "$hostport" in \[*) SYSLOG="${hostport%%]*}]" ;; *) SYSLOG=${hostport%%:*} ;; esac
fi
case "$SYSLOG" in
*\]:[0-9]*) ;;
\[*\]) SYSLOG="$SYSLOG:5514" ;;
*:*:*) SYSLOG="[$SYSLOG]:5514" ;;
*:[0-9]*) ;;
*) SYSLOG="$SYSLOG:5514" ;;
esac
# busybox syslogd forwards each line as logger wrote it; the tag carries the hostname so the
# line reads as RFC 3164 "<PRI>TIMESTAMP HOSTNAME TAG: MSG".
syslogd -R "$SYSLOG"
n=0
while [ ! -S /dev/log ] && [ "$n" -lt 50 ]; do
  usleep 100000
  n=$((n + 1))
done
slog() { logger -p user.info -t "$(hostname) lab-install" "$STAGE: $*"; }

progress() { # stage status [message] [percent]
  {
    printf '{"mac":"%s","stage":"%s","status":"%s"' "$MAC" "$1" "$2"
    [ -n "${3:-}" ] && printf ',"message":"%s"' "$(json_escape "$3" | cut -c1-1000)"
    [ -n "${4:-}" ] && printf ',"percent":%s' "$4"
    printf '}\n'
  } >/run/progress.json
  post_json /pxe/v1/progress /run/progress.json
}

install_fail() {
  log "FAILED at $STAGE: $*"
  slog "failed: $*"
  progress "$STAGE" failed "$*" || log "could not report the failure"
  post_log
  sleep 1
  finish poweroff
}

stage() { # name status message percent
  STAGE=$1
  [ "$FAIL_AT" = "$1" ] && install_fail "failure injected by lab.fail=$1"
  log "stage $1 ($2): $3"
  slog "$3"
  progress "$1" "$2" "$3" "$4" || install_fail "could not post progress '$1' to $SERVER/pxe/v1/progress"
}

stage booted ok "discovery image $(uname -r) up on $IFACE $MY_IP" 0
slog "syslog to $SYSLOG"

settle_disks
pick_disk
[ -n "$DISK" ] || install_fail "no installable disk (removable and USB disks are skipped): $(ls /sys/block | tr '\n' ' ')"
stage partitioning running "target disk /dev/$DISK ($(($(read1 "/sys/block/$DISK/size") / 2048)) MiB, $(disk_type "/sys/block/$DISK"))" 10

WHEN=$(date -u +%Y-%m-%dT%H:%M:%SZ)
stage installing running "writing the install marker to /dev/$DISK" 50
printf 'LAB-INSTALLED %s %s\n' "$MAC" "$WHEN" >/run/marker
dd if=/run/marker of="/dev/$DISK" bs=512 count=1 conv=sync,fsync 2>/run/dd.err ||
  install_fail "dd to /dev/$DISK failed: $(tail -n1 /run/dd.err)"
sync
[ "$(dd if="/dev/$DISK" bs=512 count=1 2>/dev/null | head -n1)" = "$(head -n1 /run/marker)" ] ||
  install_fail "the marker read back from /dev/$DISK differs from what was written"
slog "marker written: $(head -n1 /run/marker)"

if [ -n "$CONFIG_URL" ]; then
  stage configuring running "fetching $CONFIG_URL" 80
  timeout 60 wget -q -O /run/config "$CONFIG_URL" 2>/run/config.err ||
    install_fail "could not fetch $CONFIG_URL: $(tail -n1 /run/config.err)"
  slog "config: $(wc -c </run/config) bytes, sha256 $(sha256sum /run/config | cut -c1-64)"
else
  stage configuring running "no lab.config to fetch" 80
fi

stage complete ok "installed to /dev/$DISK" 100
sleep 1 # let syslogd send the last lines
[ "$AGENT" = run ] || finish reboot

# ── lab.agent=run: the installed system's first boot, in RAM ──
# The test install writes a marker, not an OS, so there is nothing on the disk to boot: this
# image stays up as the installed system would come up. It runs the installer's last step
# (Lab's /pxe/v1/agent/install.sh: binary, CA, API address) with the one-time join token from
# lab.env, then the agent, which enrols and sends heartbeats until the machine is powered off.
LAB_JOIN_TOKEN="" LAB_AGENT_INSTALL_URL="" LAB_HOSTNAME=""
[ -s /run/config ] && . /run/config
[ -n "$LAB_JOIN_TOKEN" ] || agent_fail "lab.env has no LAB_JOIN_TOKEN (is the machine named?)"
[ -n "$LAB_AGENT_INSTALL_URL" ] || agent_fail "lab.env has no LAB_AGENT_INSTALL_URL (the server has no agent build: npm run build)"
install_agent "$LAB_AGENT_INSTALL_URL"
umask 077
printf '%s\n' "$LAB_JOIN_TOKEN" >/etc/lab/join-token
printf '%s\n' "$LAB_HOSTNAME" >/etc/lab/hostname
umask 022
# Once enrolled, the identity goes to the disk (what an installed system's root would keep), so
# that a later boot (lab.mode=installed) is the same agent; the spent token is not kept.
(
  while [ ! -s /var/lib/lab-agent/cert.pem ] || [ ! -s /var/lib/lab-agent/agent.json ]; do sleep 1; done
  sleep 1
  tar -cf /run/state.tar -C / var/lib/lab-agent etc/lab/agent.env etc/lab/ca.crt etc/lab/hostname 2>/run/tar.err &&
    dd if=/run/state.tar of="/dev/$DISK" bs=512 seek=$STATE_SECTOR conv=fsync 2>/run/dd.err &&
    log "agent identity kept on /dev/$DISK ($(wc -c </run/state.tar) bytes)" ||
    log "warning: could not keep the agent identity on /dev/$DISK: $(tail -n1 /run/tar.err /run/dd.err)"
) &
run_agent
