#!/usr/bin/env bash
# Makes sure a local PostgreSQL answers on 127.0.0.1:5432 for the store tests, with trust auth
# for the test role over TCP and an admin database `test`. Idempotent; safe to run any time.
#
#   already usable            -> exit 0, nothing changed
#   installed but not running -> start it (pg_ctlcluster, no systemd needed)
#   not installed             -> apt-get update && apt-get install -y postgresql, then start it
#
# Then, for a cluster on this machine: trust auth for 127.0.0.1 and ::1 in pg_hba.conf (local
# testing only!), the `test` database, and a wait until a query works.
#
# Debian/Ubuntu (postgresql-common). Works where PID 1 is not systemd (containers). Needs root
# for installing and configuring; uses sudo when not root.
#
# Environment (defaults match the tests' LAB_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test):
#   LAB_PG_PORT     5432       port to check / create a cluster on
#   LAB_PG_CLUSTER  main       cluster name (a new one is created if it does not exist)
#   LAB_PG_ROLE     postgres   role the tests connect as (created as superuser if missing)
#   LAB_PG_DB       test       admin database the tests connect to (created if missing)
set -euo pipefail

PORT="${LAB_PG_PORT:-5432}"
CLUSTER="${LAB_PG_CLUSTER:-main}"
ROLE="${LAB_PG_ROLE:-postgres}"
DB="${LAB_PG_DB:-test}"
HOST=127.0.0.1
MARK="# added by lab scripts/ensure-postgres.sh (trust for local testing)"

say() { printf 'ensure-postgres: %s\n' "$*"; }
die() {
  printf 'ensure-postgres: ERROR: %s\n' "$*" >&2
  exit 1
}

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else SUDO=(false-no-root); fi
fi
as_root() {
  [ "${SUDO[0]:-}" = false-no-root ] && die "need root (or sudo) to: $*"
  "${SUDO[@]}" "$@"
}
# Runs a command as the postgres OS user (owner of the cluster).
as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; else as_root runuser -u postgres -- "$@"; fi
}

usable() {
  command -v psql >/dev/null 2>&1 || return 1
  PGCONNECT_TIMEOUT=3 psql -h "$HOST" -p "$PORT" -U "$ROLE" -d "$DB" -w -XAtqc 'select 1' >/dev/null 2>&1
}

answers() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$HOST" -p "$PORT" -t 3
  else
    (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
  fi
}

if usable; then
  say "PostgreSQL answers on $HOST:$PORT and role '$ROLE' can use database '$DB': nothing to do"
  exit 0
fi

# 1. Install when missing.
if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  if answers; then
    die "something answers on $HOST:$PORT but there is no local PostgreSQL installation to configure;" \
      "point LAB_TEST_PG_URL at a server where a role may CREATE DATABASE"
  fi
  command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and apt-get is not available"
  say "PostgreSQL is not installed: apt-get update && apt-get install -y postgresql"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  # Without systemd the package's own attempt to start the service may fail and make apt-get
  # report an error; that is fine as long as the server got installed: we start it below.
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; then
    ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || die "apt-get install postgresql failed"
    say "apt-get reported an error, but the server is installed (usually its service start): continuing"
  fi
  say "installed $(ls /usr/lib/postgresql | sort -V | tr '\n' ' ')"
fi

VERSION="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
[ -n "$VERSION" ] || die "no PostgreSQL version found under /usr/lib/postgresql"

# 2. Find (or make) the cluster. An existing cluster of that name in any version wins.
EXISTING="$(ls -d /etc/postgresql/*/"$CLUSTER" 2>/dev/null | sort -V | tail -n 1 || true)"
if [ -n "$EXISTING" ]; then
  VERSION="$(basename "$(dirname "$EXISTING")")"
  CLUSTER_PORT="$(awk -F'[ =\t]+' '$1 == "port" { print $2 }' "$EXISTING/postgresql.conf" | tail -n 1)"
  if [ -n "$CLUSTER_PORT" ] && [ "$CLUSTER_PORT" != "$PORT" ]; then
    die "cluster $VERSION/$CLUSTER uses port $CLUSTER_PORT, not $PORT (set LAB_PG_CLUSTER or LAB_PG_PORT)"
  fi
  say "using cluster $VERSION/$CLUSTER"
else
  say "creating cluster $VERSION/$CLUSTER on port $PORT"
  as_root pg_createcluster "$VERSION" "$CLUSTER" --port "$PORT"
fi
CONF="/etc/postgresql/$VERSION/$CLUSTER"

# 3. Trust auth over TCP from this machine, for testing. First matching line wins, so these go
#    before the distribution's lines.
HBA="$CONF/pg_hba.conf"
HBA_CHANGED=no
if ! as_root grep -qF "$MARK" "$HBA"; then
  say "adding trust auth for $HOST and ::1 to $HBA (local testing only)"
  as_root cp -p "$HBA" "$HBA.before-lab"
  TMP="$(mktemp)"
  {
    echo "$MARK"
    echo "host    all    all    127.0.0.1/32    trust"
    echo "host    all    all    ::1/128         trust"
    as_root cat "$HBA"
  } >"$TMP"
  as_root cp "$TMP" "$HBA"
  rm -f "$TMP"
  as_root chown postgres:postgres "$HBA"
  as_root chmod 640 "$HBA"
  HBA_CHANGED=yes
fi

# 4. Start it (or reload it for the new pg_hba.conf). The socket directory lives in /run, which
#    a container may not have kept.
as_root install -d -o postgres -g postgres -m 2775 /var/run/postgresql
STATUS="$(as_root pg_lsclusters --no-header | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c { print $4 }')"
if [ "$STATUS" = online ]; then
  if [ "$HBA_CHANGED" = yes ]; then
    say "reloading cluster $VERSION/$CLUSTER"
    as_root pg_ctlcluster --skip-systemctl-redirect "$VERSION" "$CLUSTER" reload
  else
    say "cluster $VERSION/$CLUSTER is already running"
  fi
else
  say "starting cluster $VERSION/$CLUSTER (status: ${STATUS:-unknown})"
  as_root pg_ctlcluster --skip-systemctl-redirect "$VERSION" "$CLUSTER" start
fi

for _ in $(seq 1 60); do
  answers && break
  sleep 0.5
done
answers || die "PostgreSQL did not start answering on $HOST:$PORT; see /var/log/postgresql/postgresql-$VERSION-$CLUSTER.log"

# 5. The role and the admin database the tests use (over the unix socket, as the owner).
psql_local() { as_postgres psql -p "$PORT" -d postgres -v ON_ERROR_STOP=1 -XAtq "$@"; }
if [ "$(psql_local -c "select 1 from pg_roles where rolname = '$ROLE'")" != 1 ]; then
  say "creating role '$ROLE' (superuser, for tests)"
  psql_local -c "create role \"$ROLE\" login superuser"
fi
if [ "$(psql_local -c "select 1 from pg_database where datname = '$DB'")" != 1 ]; then
  say "creating database '$DB'"
  psql_local -c "create database \"$DB\""
fi

usable || die "PostgreSQL runs on $HOST:$PORT but role '$ROLE' still cannot use database '$DB'"
say "ready: postgres://$ROLE@$HOST:$PORT/$DB"
