#!/usr/bin/env bash
# The invite server's browser tests: its public pages in Debian's headless
# Chromium, driven by playwright-core from npm, with Node's own test runner
# (examples/invite-server/tests/browser/*.test.mjs).
#
# Installs what is missing — Debian's `chromium` package (no browser is ever
# downloaded by npm), the pinned npm packages of tests/browser/package-lock.json
# (`npm ci`, skipped when node_modules already matches the lock file), the
# independent iCalendar reader (Python's icalendar, in a venv, unless
# CALINVITE_PYTHON already has it) — builds the `invite-server` binary
# (honouring CARGO_TARGET_DIR) and runs every test file. Fails loudly when
# anything is missing: no test is skipped.
#
#   browser-tests.sh [node --test arguments…]
#
#   CALINVITE_SCREENSHOTS=1   also writes docs/screenshots/*.png (desktop and phone)
#   CALINVITE_PAGES=a,b       only those pages of tests/browser/lib/pages.mjs (a quick local run)
#   CALINVITE_CHROMIUM        another Chromium (default /usr/bin/chromium)
set -euo pipefail
die() { printf 'browser-tests.sh: %s\n' "$*" >&2; exit 1; }
say() { printf '== %s\n' "$*"; }

root=$(cd "$(dirname "$0")/../../.." && pwd)
tests="$root/examples/invite-server/tests/browser"
cd "$root"

command -v node >/dev/null || die "node is not installed (Node.js 20 or newer: apt-get install nodejs npm)"
command -v npm >/dev/null || die "npm is not installed (apt-get install npm)"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || die "Node.js $(node --version) is too old: the tests need 20 or newer"

chromium=${CALINVITE_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  [ -z "${CALINVITE_CHROMIUM:-}" ] || die "CALINVITE_CHROMIUM=$chromium is not an executable"
  say "installing Debian's chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } ||
    die "cannot install Debian's chromium package (apt-get install chromium)"
  [ -x "$chromium" ] || die "chromium was installed but $chromium is missing"
fi
say "$("$chromium" --version 2>/dev/null | head -1)"

# npm ci only when node_modules does not match the lock file.
stamp="$tests/node_modules/.calinvite-lock.sha256"
want=$(sha256sum "$tests/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "npm ci in examples/invite-server/tests/browser"
  (cd "$tests" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
  echo "$want" >"$stamp"
fi

# The independent reader the interop checks use (tests/py/read_message.py).
if [ -z "${CALINVITE_PYTHON:-}" ] || ! "$CALINVITE_PYTHON" -c 'import icalendar' 2>/dev/null; then
  venv=${CALINVITE_VENV:-${CARGO_TARGET_DIR:-$root/target}/py-venv}
  if ! "$venv/bin/python" -c 'import icalendar' 2>/dev/null; then
    command -v python3 >/dev/null || die "python3 is not installed (apt-get install python3 python3-venv)"
    say "installing the independent iCalendar reader into $venv"
    python3 -m venv "$venv" || die "python3 -m venv failed (apt-get install python3-venv)"
    "$venv/bin/pip" install -q 'icalendar>=6,<8' || die "pip could not install icalendar"
  fi
  export CALINVITE_PYTHON="$venv/bin/python"
fi

say "cargo build -p calinvite-invite-server --bin invite-server"
cargo build -q -p calinvite-invite-server --bin invite-server --locked
INVITE_SERVER_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/invite-server"
[ -x "$INVITE_SERVER_BIN" ] || die "the build left no $INVITE_SERVER_BIN"
export INVITE_SERVER_BIN

say "node --test (examples/invite-server/tests/browser)"
started=$(date +%s)
cd "$tests"
# One file at a time: each starts its own server and browser, and the
# machine may have two cores.
status=0
node --test --test-concurrency=1 --test-reporter=spec "$@" || status=$?
say "browser tests took $(( $(date +%s) - started )) s"
exit "$status"
