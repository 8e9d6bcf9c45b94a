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
have() { command -v "$1" >/dev/null 2>&1 || [ -x "$1" ]; }
have promtool || need+=(prometheus)
have /usr/bin/prometheus-node-exporter || need+=(prometheus-node-exporter)
have /usr/bin/prometheus-blackbox-exporter || need+=(prometheus-blackbox-exporter)
have /usr/sbin/nagios4 || need+=(nagios4-core)
have /usr/lib/nagios/plugins/check_tcp || need+=(monitoring-plugins-basic)
have systemd-analyze || need+=(systemd)
have script || need+=(bsdutils)

if [ ${#need[@]} -gt 0 ]; then
  echo "ensure-peers: installing ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # Debian starts nothing on install here, and these tests start their own instances.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "ensure-peers: prometheus, node and blackbox exporters, nagios4, plugins, systemd-analyze, script present"
fi

bash scripts/ensure-postgres.sh
