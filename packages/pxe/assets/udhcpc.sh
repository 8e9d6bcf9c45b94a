#!/bin/sh
# busybox udhcpc event script for Lab's discovery image: applies the lease (address, default
# route, resolvers) and records it in /run/lab-dhcp for /init. udhcpc passes the event as $1 and
# the lease in the environment ($interface, $ip, $mask or $subnet, $router, $dns, $domain,
# $serverid).
# shellcheck disable=SC2154 # udhcpc sets the lease variables

case "$1" in
deconfig)
  ip -4 addr flush dev "$interface" 2>/dev/null
  ip link set "$interface" up
  ;;
bound | renew)
  prefix=${mask:-}
  if [ -z "$prefix" ] && [ -n "${subnet:-}" ]; then
    prefix=$(ipcalc -p "$ip" "$subnet" | cut -d= -f2)
  fi
  prefix=${prefix:-24}
  # A renewal of the same address keeps it (flushing would cut open connections).
  if ! ip -4 addr show dev "$interface" | grep -q "inet $ip/$prefix "; then
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/$prefix" dev "$interface" ${broadcast:+broadcast "$broadcast"}
  fi
  if [ -n "${router:-}" ]; then
    while ip route del default dev "$interface" 2>/dev/null; do :; done
    for r in $router; do
      ip route add default via "$r" dev "$interface" && break
    done
  fi
  : >/etc/resolv.conf
  [ -n "${domain:-}" ] && echo "search $domain" >>/etc/resolv.conf
  for d in ${dns:-}; do echo "nameserver $d" >>/etc/resolv.conf; done
  echo "interface=$interface ip=$ip prefix=$prefix router=${router:-} server=${serverid:-}" >/run/lab-dhcp
  ;;
leasefail | nak)
  echo "lab-init: udhcpc: $1 on $interface ${message:-}"
  ;;
esac
exit 0
