#!/usr/bin/env bash
# The demo: the homelab inventory in a throwaway LAB_HOME, looked at locally, then served by
# `lab server` on https://127.0.0.1:7443 until Ctrl-C (LAB_DEMO_NO_SERVER=1 stops before it).
set -euo pipefail
cd "$(dirname "$0")/.."
export LAB_HOME="${LAB_HOME:-$(mktemp -d -t lab-demo.XXXXXX)}"
PORT="${LAB_DEMO_PORT:-7443}"
lab() { node bin/lab.js "$@"; }
echo "# LAB_HOME=$LAB_HOME"
echo "\$ lab init --local" && lab init --local
echo && echo "\$ lab apply -f examples/homelab/" && lab apply -f examples/homelab/ | tail -n 1
echo && echo "\$ lab get servers" && lab get servers
echo && echo "\$ lab show server worker-5" && lab show server worker-5
[ -n "${LAB_DEMO_NO_SERVER:-}" ] && exit 0
cat <<MSG

\$ lab server --listen 127.0.0.1:$PORT
Dashboard: https://127.0.0.1:$PORT/  (trust $LAB_HOME/server/ca.crt, or accept the warning)
  sign in with the admin token: cat $LAB_HOME/server/admin.token
  or print a login link (the token stays in the URL fragment, never sent to the server):
    echo "https://127.0.0.1:$PORT/#/login?token=\$(cat $LAB_HOME/server/admin.token)"
In another terminal, point the CLI at it and browse the API:
  export LAB_HOME=$LAB_HOME
  npx lab login https://127.0.0.1:$PORT --token "\$(cat $LAB_HOME/server/admin.token)" --ca-file $LAB_HOME/server/ca.crt
  npx lab get servers
  open https://127.0.0.1:$PORT/api/v1/docs   (trust $LAB_HOME/server/ca.crt, or accept the warning)
Ctrl-C stops the server.

MSG
exec node bin/lab.js server --listen "127.0.0.1:$PORT"
