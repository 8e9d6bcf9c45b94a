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
OTEL="$LAB_HOME/otel-logs.json"
: >"$OTEL"
echo
echo "\$ lab server --listen 127.0.0.1:$PORT --otel-file $OTEL"
node bin/lab.js server --listen "127.0.0.1:$PORT" --otel-file "$OTEL" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; exit 0' INT TERM
# The admin token is written at the server's first start: wait for it, then print real links.
for _ in $(seq 1 150); do
  [ -s "$LAB_HOME/server/admin.token" ] && break
  kill -0 $SERVER 2>/dev/null || { echo "lab server did not start" >&2; exit 1; }
  sleep 0.2
done
TOKEN="$(cat "$LAB_HOME/server/admin.token")"
cat <<MSG

Dashboard: https://127.0.0.1:$PORT/  (trust $LAB_HOME/server/ca.crt, or accept the warning)
  sign in with this link (the token stays in the URL fragment, never sent to the server):
    https://127.0.0.1:$PORT/#/login?token=$TOKEN
  a wall screen:  https://127.0.0.1:$PORT/kiosk?page=layout,live,fleet&rotate=30s#token=$TOKEN
  Live shows the audit log at once; lines an OpenTelemetry collector's file exporter writes
  to $OTEL appear there as they are appended.
In another terminal, point the CLI at it and browse the API:
  export LAB_HOME=$LAB_HOME
  npx lab login https://127.0.0.1:$PORT --token "\$(cat $LAB_HOME/server/admin.token)" --ca-file $LAB_HOME/server/ca.crt
  npx lab get servers
  open https://127.0.0.1:$PORT/api/v1/docs   (trust $LAB_HOME/server/ca.crt, or accept the warning)
Ctrl-C stops the server.

MSG
wait $SERVER
