#!/usr/bin/env bash
# Runs the end-to-end list campaign benchmark (`campaign run`): a CSV list fed
# through a list job, then drained by `campaign worker` processes into
# Postfix's smtp-sink, then the same number of prebuilt messages sent by one
# SmtpRelay for the transport's ceiling. One JSON line per campaign, printed and
# appended to $OUT (default: a fresh file in $TMPDIR, named at the end).
#
#   benches/run-campaign.sh            # SQLite 1,000,000 rows (1 worker process),
#                                      # then PostgreSQL 1,000,000 rows with 1, 2
#                                      # and 4 worker processes (a fresh campaign each)
#   QUICK=1 benches/run-campaign.sh    # the same with 100,000 rows (SQLite: about
#                                      # 25 seconds on a 2-core machine)
#
# Environment: ROWS (overrides the row count), ONLY=sqlite|postgres (one of the
# two), CONNS, CONCURRENCY, BATCH, BATCHES_IN_FLIGHT (passed on; the binary's
# defaults otherwise),
# CALINVITE_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test).
#
# Needs PostgreSQL (scripts/postgres.sh) and Postfix's smtp-sink
# (scripts/postfix.sh installs Postfix). The full run takes about ten minutes on
# a 2-core machine; every campaign prints its progress on stderr.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
if [ "${QUICK:-0}" = 1 ]; then N=${ROWS:-100000}; else N=${ROWS:-1000000}; fi
ONLY=${ONLY:-}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/calinvite-campaign.XXXXXX")/runs.jsonl}
mkdir -p "$(dirname "$OUT")"

die() { printf 'run-campaign.sh: %s\n' "$*" >&2; exit 1; }
case $ONLY in ''|sqlite|postgres) ;; *) die "ONLY must be sqlite or postgres (got $ONLY)" ;; esac
command -v smtp-sink >/dev/null || [ -x /usr/sbin/smtp-sink ] ||
  die "Postfix's smtp-sink is missing: run scripts/postfix.sh as root (it installs Postfix)"

echo "== building campaign (release)"
(cd "$ROOT" && cargo build --release --locked -p calinvite-benches --bin campaign)
TARGET=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
# A copy, so that a concurrent rebuild of the workspace cannot change it mid-run.
BIN="$(dirname "$OUT")/campaign"
cp "$TARGET/release/campaign" "$BIN"

extra=()
[ -n "${CONNS:-}" ] && extra+=(--conns "$CONNS")
[ -n "${CONCURRENCY:-}" ] && extra+=(--concurrency "$CONCURRENCY")
[ -n "${BATCH:-}" ] && extra+=(--batch "$BATCH")
[ -n "${BATCHES_IN_FLIGHT:-}" ] && extra+=(--batches-in-flight "$BATCHES_IN_FLIGHT")

run() {
  echo "== campaign run $* (machine: $(nproc) cores, loadavg $(cut -d' ' -f1-3 /proc/loadavg))"
  "$BIN" run "$@" ${extra[@]+"${extra[@]}"} | tee -a "$OUT"
}

if [ "$ONLY" != postgres ]; then
  run --db sqlite --rows "$N" --processes 1
fi
if [ "$ONLY" != sqlite ]; then
  run --db postgres --rows "$N" --processes 1,2,4
fi

echo "== results in $OUT"
