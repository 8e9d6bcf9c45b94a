/**
 * k3s-standin: NOT k3s. The real k3s binary cannot be downloaded on the machines Lab is tested
 * on, so `--k3s-binary standin` installs this bash script instead. It answers exactly the calls
 * Lab's k3s module makes — `k3s server`, `k3s agent` (reading /etc/rancher/k3s/config.yaml and
 * config.yaml.d/ as k3s does), the node-token file, `k3s kubectl get node(s)`, `k3s kubectl get
 * --raw /readyz`, `k3s --version` — with k3s's file paths and output shapes. It runs no
 * Kubernetes: no API server listens on 6443, and each host keeps its own node list, so a server
 * lists only the nodes on its own host and a joining node cannot verify the token with the
 * first server (only its format). docs/modules.md says how a real run differs.
 */

export const K3S_STANDIN_VERSION = "v1.30.0+standin";

export const K3S_STANDIN = String.raw`#!/bin/bash
# k3s-standin: NOT k3s. Installed by Lab (lab apply cluster --k3s-binary standin) where the real
# k3s binary is not available. It runs no Kubernetes; see docs/modules.md in Lab.
VERSION="${K3S_STANDIN_VERSION}"
DATA=/var/lib/rancher/k3s
CONF=/etc/rancher/k3s
STATE=$DATA/standin

# A key's value from config.yaml, then config.yaml.d/*.yaml (later files win, as k3s merges them).
conf() {
  local v="" f line
  for f in "$CONF/config.yaml" "$CONF"/config.yaml.d/*.yaml; do
    [ -f "$f" ] || continue
    line=$(grep -E "^$1:" "$f" | tail -n 1)
    [ -n "$line" ] && v=$(printf '%s' "$line" | sed -e "s/^$1: *//" -e 's/^"//' -e 's/"$//')
  done
  printf '%s' "$v"
}

node_name() { local n; n=$(conf node-name); [ -n "$n" ] && printf '%s' "$n" || hostname; }

# k3s's secure token: K10<sha256 of the cluster CA>::server:<secret>.
valid_token() { printf '%s' "$1" | grep -Eq '^K10[0-9a-f]{64}::server:[0-9a-f]{32}$'; }

join_token() {
  local f; f=$(conf token-file)
  if [ -n "$f" ]; then tr -d '\n' < "$f" 2>/dev/null; else conf token; fi
}

fatal() { echo "level=fatal msg=\"$*\"" >&2; exit 1; }

running() { local p; p=$(cat "$STATE/pid" 2>/dev/null) && kill -0 "$p" 2>/dev/null; }

serve() { # $1: role; stays in the foreground like k3s does
  local name; name=$(node_name)
  mkdir -p "$STATE/nodes"
  printf '%s %s\n' "$1" "$(date +%s)" > "$STATE/nodes/$name"
  echo $$ > "$STATE/pid"
  echo "level=info msg=\"k3s-standin $VERSION: $1 $name up (not Kubernetes)\""
  trap 'kill $! 2>/dev/null; rm -f "$STATE/pid"; exit 0' TERM INT
  while :; do sleep 3600 & wait $!; done
}

server() {
  mkdir -p "$DATA/server" "$CONF"
  local join; join=$(conf server)
  umask 077
  if [ -n "$join" ]; then
    local t; t=$(join_token)
    [ -n "$t" ] || fatal "--server given without a token"
    valid_token "$t" || fatal "token is not a k3s secure token (K10...::server:...)"
    # Servers that joined hold the cluster's token too, as with k3s.
    printf '%s\n' "$t" > "$DATA/server/node-token"
  elif [ ! -s "$DATA/server/node-token" ]; then
    local ca secret
    ca=$(head -c 32 /dev/urandom | sha256sum | cut -c1-64)
    secret=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
    printf 'K10%s::server:%s\n' "$ca" "$secret" > "$DATA/server/node-token"
  fi
  cp "$DATA/server/node-token" "$DATA/server/token"
  local mode; mode=$(conf write-kubeconfig-mode); [ -n "$mode" ] || mode=0600
  cat > "$CONF/k3s.yaml" <<KUBECONFIG
# k3s-standin kubeconfig: nothing listens at this address.
apiVersion: v1
kind: Config
clusters:
- cluster: {server: "https://127.0.0.1:6443"}
  name: default
KUBECONFIG
  chmod "$mode" "$CONF/k3s.yaml"
  serve control-plane,etcd,master
}

agent() {
  [ -n "$(conf server)" ] || fatal "k3s agent needs server: in the config (or --server)"
  local t; t=$(join_token)
  [ -n "$t" ] || fatal "k3s agent needs a token"
  valid_token "$t" || fatal "token is not a k3s secure token (K10...::server:...)"
  serve "<none>"
}

node_line() { # $1 name
  local roles since age status=NotReady
  read -r roles since < "$STATE/nodes/$1"
  running && status=Ready
  age=$(( ($(date +%s) - since) / 60 ))m
  printf '%-20s %-9s %-27s %-5s %s\n' "$1" "$status" "$roles" "$age" "$VERSION"
}

kubectl() {
  [ -r "$CONF/k3s.yaml" ] || { echo "The connection to the server localhost:8080 was refused - did you specify the right host or port?" >&2; exit 1; }
  if [ "$1 $2" = "get --raw" ]; then
    running || { echo "The connection to the server 127.0.0.1:6443 was refused" >&2; exit 1; }
    [ "$3" = /readyz ] || [ "$3" = /livez ] || { echo "Error from server (NotFound): the server could not find the requested resource" >&2; exit 1; }
    echo ok; return
  fi
  running || { echo "The connection to the server 127.0.0.1:6443 was refused" >&2; exit 1; }
  local headers=1 names="" a
  [ "$1" = get ] || fatal "k3s-standin kubectl knows only get"
  [ "$2" = node ] || [ "$2" = nodes ] || fatal "k3s-standin kubectl knows only nodes"
  shift 2
  for a in "$@"; do case "$a" in --no-headers) headers=0 ;; -*) ;; *) names="$names $a" ;; esac; done
  [ $headers = 1 ] && printf '%-20s %-9s %-27s %-5s %s\n' NAME STATUS ROLES AGE VERSION
  if [ -z "$names" ]; then
    for a in "$STATE"/nodes/*; do [ -f "$a" ] && node_line "$(basename "$a")"; done
  else
    for a in $names; do
      [ -f "$STATE/nodes/$a" ] || { echo "Error from server (NotFound): nodes \"$a\" not found" >&2; exit 1; }
      node_line "$a"
    done
  fi
}

case "$1" in
  server) server ;;
  agent) agent ;;
  kubectl) shift; kubectl "$@" ;;
  --version|-v|version) echo "k3s version $VERSION (k3s-standin: not Kubernetes)" ;;
  *) echo "k3s-standin: knows server, agent, kubectl get node(s)|--raw /readyz, --version" >&2; exit 1 ;;
esac
`;
