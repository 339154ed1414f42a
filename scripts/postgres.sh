#!/usr/bin/env bash
# Makes sure the PostgreSQL server the tests use is up: the one at
# $CALINVITE_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test).
# Where none answers, starts the machine's own clusters, or else installs
# Debian's PostgreSQL and runs a private cluster (trust auth on loopback).
# Fails loudly: tests never skip for want of a database.
set -euo pipefail

url=${CALINVITE_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
say() { printf '== %s\n' "$*"; }
die() { printf 'scripts/postgres.sh: %s\n' "$*" >&2; exit 1; }
ready() { command -v psql >/dev/null && psql "$url" -Atc 'select 1' >/dev/null 2>&1; }

ready && exit 0

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  say "installing PostgreSQL from Debian's packages"
  command -v apt-get >/dev/null || die "no PostgreSQL and no apt-get to install it"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq postgresql >/dev/null || die "apt-get install postgresql failed"
fi

# The machine's own clusters first (Debian's pg_ctlcluster).
if command -v pg_lsclusters >/dev/null; then
  pg_lsclusters -h 2>/dev/null | while read -r version name _; do
    pg_ctlcluster "$version" "$name" start >/dev/null 2>&1 || true
  done
  for _ in $(seq 1 20); do ready && break; sleep 0.5; done
fi

if ! ready; then
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  port=$(printf '%s' "$url" | sed -n 's#.*@[^/:]*:\([0-9][0-9]*\)/.*#\1#p')
  port=${port:-5432}
  data=${CALINVITE_PGDATA:-/var/tmp/calinvite-postgres}
  say "starting a private PostgreSQL cluster in $data"
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$data"
    chown postgres "$data" 2>/dev/null || true
    runuser -u postgres -- "$bin/initdb" -D "$data" -A trust -U postgres >/dev/null \
      || die "initdb failed"
  fi
  runuser -u postgres -- "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k /tmp" start >/dev/null \
    || { tail -20 "$data/server.log" >&2; die "the private cluster did not start"; }
  psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atc "select 1 from pg_database where datname = 'test'" \
    | grep -q 1 || createdb -h 127.0.0.1 -p "$port" -U postgres test || die "createdb test failed"
fi

ready || die "PostgreSQL at $url does not answer (set CALINVITE_POSTGRES_URL to a reachable server)"
say "PostgreSQL ready at $url"
