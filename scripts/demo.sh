#!/usr/bin/env bash
# The demo: apply the homelab inventory into a throwaway LAB_HOME and look at it.
set -euo pipefail
cd "$(dirname "$0")/.."
export LAB_HOME="${LAB_HOME:-$(mktemp -d -t lab-demo.XXXXXX)}"
lab() { node bin/lab.js "$@"; }
echo "# LAB_HOME=$LAB_HOME"
echo "\$ lab init --local" && lab init --local
echo && echo "\$ lab apply -f examples/homelab/" && lab apply -f examples/homelab/
echo && echo "\$ lab get servers" && lab get servers
echo && echo "\$ lab show server worker-5" && lab show server worker-5
