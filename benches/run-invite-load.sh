#!/usr/bin/env bash
# The invite server's send-invitation endpoint under load (`invite-load`):
# 50 clients sending invitations to new addresses through
# POST /v1/events/{code}/invitations, on SQLite and then on PostgreSQL, each
# against a fresh `invite-server` (release build) whose worker delivers to
# Postfix's smtp-sink. One JSON line per run, printed and appended to $OUT
# (default: a fresh file in $TMPDIR, named at the end).
#
#   benches/run-invite-load.sh                 # 10 s each, after 1 s of warm-up
#   DURATION=3 benches/run-invite-load.sh      # a quick check
#
# Environment: DURATION (seconds measured, default 10), WARMUP (default 1),
# CLIENTS (default 50), ONLY=sqlite|postgres, NO_WORKER=1 (the API alone, no
# delivery), NO_RELAY=1 (the worker writes to the capture folder instead of
# smtp-sink), SERVER_ENV="CALINVITE_NAME=VALUE …" (settings of the server,
# such as CALINVITE_DATABASE_MAX_CONNECTIONS=32), CALINVITE_POSTGRES_URL
# (default postgres://postgres@127.0.0.1:5432/test).
#
# Needs PostgreSQL (scripts/postgres.sh) and, unless NO_RELAY=1, Postfix's
# smtp-sink (scripts/postfix.sh installs Postfix). The machine is what is
# measured as much as the server: the client, the server and the database
# share its cores, so note its load (each line has loadavg at start and end).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-1}
CLIENTS=${CLIENTS:-50}
ONLY=${ONLY:-}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/calinvite-invite-load.XXXXXX")/runs.jsonl}
mkdir -p "$(dirname "$OUT")"

die() { printf 'run-invite-load.sh: %s\n' "$*" >&2; exit 1; }
case $ONLY in ''|sqlite|postgres) ;; *) die "ONLY must be sqlite or postgres (got $ONLY)" ;; esac

echo "== building invite-server and invite-load (release)"
(cd "$ROOT" && cargo build --release --locked -p calinvite-invite-server --bin invite-server \
  -p calinvite-benches --bin invite-load)
TARGET=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
# Copies, so that a concurrent rebuild of the workspace cannot change them mid-run.
BIN=$(dirname "$OUT")
cp "$TARGET/release/invite-server" "$TARGET/release/invite-load" "$BIN/"

extra=(--clients "$CLIENTS" --seconds "$DURATION" --warmup "$WARMUP")
[ "${NO_WORKER:-0}" = 1 ] && extra+=(--no-worker)
for setting in ${SERVER_ENV:-}; do extra+=(--server-env "$setting"); done

sink_pid=
if [ "${NO_RELAY:-0}" != 1 ] && [ "${NO_WORKER:-0}" != 1 ]; then
  sink=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)
  [ -x "$sink" ] || die "Postfix's smtp-sink is missing: run scripts/postfix.sh as root (it installs Postfix), or NO_RELAY=1"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_user=()
  [ "$(id -u)" = 0 ] && as_user=(-u postfix)
  # It throws every message away: the relay costs the server only the SMTP exchange.
  "$sink" "${as_user[@]}" "127.0.0.1:$port" 1024 2>"$BIN/smtp-sink.log" &
  sink_pid=$!
  trap 'kill "$sink_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  extra+=(--relay-port "$port")
fi

run() {
  echo "== invite-load --db $1 (machine: $(nproc) cores, loadavg $(cut -d' ' -f1-3 /proc/loadavg))"
  "$BIN/invite-load" --server-bin "$BIN/invite-server" --db "$1" "${extra[@]}" | tee -a "$OUT"
}

[ "$ONLY" != postgres ] && run sqlite
[ "$ONLY" != sqlite ] && run postgres

echo "== results in $OUT"
