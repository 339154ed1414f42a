#!/usr/bin/env bash
# The one command that sets up and runs calinvite's tests on a fresh machine.
#
# Installs and starts what the tests need beyond the Rust toolchain: a Python
# with the independent iCalendar parser that interop tests read our output
# with, a PostgreSQL server (scripts/postgres.sh) for the stores' tests,
# moto_server (scripts/moto.sh) standing in for AWS SES, Debian's Postfix
# (scripts/postfix.sh) as the SMTP relay and the sender into calinvite's
# listener, and the openssl command the SNS signature tests sign with; then
# runs every test of the workspace. (The invite server's tests install their
# independent checkers themselves, on first use: openapi-spec-validator,
# schemathesis and the webhook checker from PyPI, each in a virtual
# environment of its own, and Debian's systemd package when systemd-analyze is
# missing; examples/invite-server/scripts/.) Then the invite server's browser
# tests (examples/invite-server/scripts/browser-tests.sh): its public pages in
# Debian's headless Chromium (the `chromium` package, installed when
# /usr/bin/chromium is missing) driven by playwright-core, the npm packages
# pinned in examples/invite-server/tests/browser/package-lock.json (`npm ci`).
# Fails loudly when something is missing: no test is ever skipped for want of
# a tool.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

say() { printf '== %s\n' "$*"; }
die() { printf 'scripts/test.sh: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null || die "cargo is not installed (calinvite needs Rust 1.95 or newer)"
command -v python3 >/dev/null || die "python3 is not installed (apt-get install python3 python3-venv)"

# The full corpus of real clients' messages is not kept in the repository (most
# of it is under copyleft licences); its test runs it as an extra suite when it
# is given: CALINVITE_CORPUS=/path/to/imip-corpus, or shared/imip-corpus beside
# the checkout. Without it, the repository's own fixtures and permissively
# licensed real samples still run. CALINVITE_REQUIRE_CORPUS=1 (CI) makes its
# absence fail.
if [ -z "${CALINVITE_CORPUS:-}" ] && [ -f "$root/../shared/imip-corpus/INDEX.md" ]; then
  CALINVITE_CORPUS=$(cd "$root/../shared/imip-corpus" && pwd)
  export CALINVITE_CORPUS
fi
if [ -n "${CALINVITE_CORPUS:-}" ] && [ -f "$CALINVITE_CORPUS/INDEX.md" ]; then
  corpus_note="real-client iMIP corpus: found at $CALINVITE_CORPUS (runs as an extra suite)"
elif [ "${CALINVITE_REQUIRE_CORPUS:-}" = 1 ]; then
  die "CALINVITE_REQUIRE_CORPUS=1 but the real-client iMIP corpus was not found (CALINVITE_CORPUS=${CALINVITE_CORPUS:-unset}; nothing at ../shared/imip-corpus)"
elif [ -n "${CALINVITE_CORPUS:-}" ]; then
  die "CALINVITE_CORPUS=$CALINVITE_CORPUS is not the real-client iMIP corpus (no INDEX.md there)"
else
  corpus_note="real-client iMIP corpus: NOT GIVEN (set CALINVITE_CORPUS=/path/to/imip-corpus); only the repository's own fixtures and real samples run"
fi
say "$corpus_note"

# An independent iCalendar + MIME reader (Python's email package and the
# icalendar library) for the interop tests, in a virtual environment of our own.
venv=${CALINVITE_VENV:-${CARGO_TARGET_DIR:-$root/target}/py-venv}
if ! "$venv/bin/python" -c 'import icalendar' 2>/dev/null; then
  say "installing the independent iCalendar reader into $venv"
  python3 -m venv "$venv" || die "python3 -m venv failed (apt-get install python3-venv)"
  "$venv/bin/pip" install -q 'icalendar>=6,<8' || die "pip could not install icalendar"
fi
export CALINVITE_PYTHON="$venv/bin/python"

# The stores' tests run on SQLite and on a real PostgreSQL server.
"$root/scripts/postgres.sh" || die "no PostgreSQL for the store tests"
# The SES adapter's tests run against moto_server; the SMTP tests against
# Postfix (relay, Maildir, and delivery into the listener).
"$root/scripts/moto.sh" || die "no moto_server for the SES tests"
"$root/scripts/postfix.sh" || die "no Postfix for the SMTP tests"

# SNS SignatureVersion 1 fixtures are signed (SHA1withRSA) by openssl at test time.
if ! command -v openssl >/dev/null; then
  say "installing openssl (SNS signature test fixtures)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssl >/dev/null || die "cannot install openssl"
fi

say "cargo test --workspace"
cargo test --workspace --locked "$@"

# The invite server's public pages in a real browser: accessibility
# (axe-core), keyboard use, CSRF and replays, links in delivered mail that
# must change nothing, the landing page's and the recipients' flows, abuse
# limits. Builds the binary and installs Chromium and the npm packages.
say "browser tests (examples/invite-server/scripts/browser-tests.sh)"
"$root/examples/invite-server/scripts/browser-tests.sh"

# The store under load: 100,000 messages drained by concurrent workers, and a
# 100,000-message fan-out whose workers are killed with SIGKILL hundreds of
# times. Minutes even optimised, so `cargo test` skips them (#[ignore]) and
# they run here, in a release build, on SQLite and PostgreSQL.
say "cargo test --release -p calinvite-store (100,000-message queue and crash-recovery runs)"
# Both live in the one integration-test binary `it` (queue_concurrency::,
# crash_recovery::); only their 100k runs have "100k" in their names.
cargo test --release --locked -p calinvite-store --test it \
  -- --include-ignored --nocapture 100k
say "cargo test --release -p calinvite (the Worker: 100,000 messages, 4 workers on SQLite, 8 on PostgreSQL)"
cargo test --release --locked -p calinvite --test worker -- --include-ignored --nocapture 100k

# Campaigns: a list of 100,000 recipients (a generated CSV) through a list job
# and worker processes into Postfix's smtp-sink, on SQLite and on PostgreSQL,
# checked end to end (every invited row sent once, nothing left queued); and a
# campaign drained by two worker processes, one of them killed with SIGKILL 20
# times, with every message received and the copies within the killed
# worker's window (benches/tests/campaign_kill.rs).
say "cargo build --release -p calinvite-benches --bin campaign"
cargo build --release --locked -p calinvite-benches --bin campaign
campaign_bin="${CARGO_TARGET_DIR:-$root/target}/release/campaign"
say "campaign: 100,000 recipients on SQLite (1 worker process)"
"$campaign_bin" run --db sqlite --rows 100000 --processes 1
say "campaign: 100,000 recipients on PostgreSQL (2 worker processes)"
"$campaign_bin" run --db postgres --rows 100000 --processes 2
say "cargo test --release -p calinvite-benches --test campaign_kill (two worker processes, one killed 20 times)"
cargo test --release --locked -p calinvite-benches --test campaign_kill -- --include-ignored --nocapture kill

say "$corpus_note"
