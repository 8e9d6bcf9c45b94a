#!/usr/bin/env bash
# Rendering at scale: `lab render alerts` for both backends on the engine benchmark's fleet
# (10,000 servers, 2,000 alerts), whole-process wall and CPU time. Reports, never judges.
# Needs the fleet applied by `npm run bench:engine` first (bench/engine/out/home).
set -euo pipefail
cd "$(dirname "$0")/../.."
HOME_DIR="${1:-bench/engine/out/home}"
[ -f "$HOME_DIR/state.db" ] || { echo "no fleet at $HOME_DIR: run npm run bench:engine first" >&2; exit 1; }
OUT="$(mktemp -d -t lab-render-bench.XXXXXX)"
trap 'rm -rf "$OUT"' EXIT
TIMEFORMAT='%R %U %S'
echo "| backend | files | bytes | wall s | CPU s (user+sys) | second run (unchanged) wall s |"
echo "|---|---:|---:|---:|---:|---:|"
for backend in prometheus naemon; do
  t1=$( { time LAB_HOME="$HOME_DIR" node bin/lab.js render alerts --backend "$backend" --out "$OUT/$backend" -o json > "$OUT/$backend.json"; } 2>&1 )
  t2=$( { time LAB_HOME="$HOME_DIR" node bin/lab.js render alerts --backend "$backend" --out "$OUT/$backend" -o json > /dev/null; } 2>&1 )
  files=$(find "$OUT/$backend" -type f ! -name '.lab-rendered.json' | wc -l)
  bytes=$(du -sb "$OUT/$backend" | cut -f1)
  read -r wall user sys <<< "$t1"
  read -r wall2 _ _ <<< "$t2"
  cpu=$(echo "$user + $sys" | bc)
  echo "| $backend | $files | $bytes | $wall | $cpu | $wall2 |"
done
