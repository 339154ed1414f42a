#!/usr/bin/env bash
# Runs the million-invitation store benchmark (`store-fanout`) the way
# benches/README.md reports it: on SQLite and on PostgreSQL, one JSON line per
# run, appended to $OUT (default: a fresh file in $TMPDIR, printed at the end).
#
#   benches/run-store-fanout.sh [N=1000000] [DELIVERIES=50000]
#
# 1. builds `store-fanout` in release mode and copies the binary to $OUT's
#    folder, so that a concurrent rebuild of the workspace cannot change it
#    mid-run;
# 2. SQLite: the Worker with 1 then 2 messages in flight (claiming 32 at a
#    time), each stage delivering DELIVERIES messages, the last one draining
#    the queue; then one run with 1 in flight, claiming one at a time;
# 3. PostgreSQL ($CALINVITE_POSTGRES_URL, default
#    postgres://postgres@127.0.0.1:5432/test, a fresh schema dropped at the
#    end): 1, 2, 4 then 8 in flight, the same way; then one at a time.
#
# A full run takes about an hour on a 2-core machine; every run prints its
# progress on stderr.
set -euo pipefail

N=${1:-1000000}
DELIVERIES=${2:-50000}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/calinvite-store-fanout.XXXXXX")/runs.jsonl}
mkdir -p "$(dirname "$OUT")"

echo "== building store-fanout (release)"
(cd "$ROOT" && cargo build --release --locked -p calinvite-benches --bin store-fanout)
TARGET=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
BIN="$(dirname "$OUT")/store-fanout"
cp "$TARGET/release/store-fanout" "$BIN"

run() {
  echo "== store-fanout $* (machine: $(nproc) cores, loadavg $(cut -d' ' -f1-3 /proc/loadavg))"
  "$BIN" "$@" | tee -a "$OUT"
}

run --db sqlite --invitations "$N" --workers 1,2 --claim 32 --deliveries "$DELIVERIES" --drain
run --db sqlite --invitations "$N" --workers 1 --claim 1 --deliveries "$DELIVERIES"
run --db postgres --invitations "$N" --workers 1,2,4,8 --claim 32 --deliveries "$DELIVERIES" --drain
run --db postgres --invitations "$N" --workers 1 --claim 1 --deliveries "$DELIVERIES"

echo "== results in $OUT"
