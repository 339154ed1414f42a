#!/usr/bin/env bash
# Fuzzes a running invite server from its own OpenAPI document with
# schemathesis (from PyPI, in a virtual environment this script makes on
# first use and reuses): every operation gets generated requests, valid and
# not, and every answer must be no 5xx, have a documented status and
# content type, and match the documented schema.
#
#   fuzz-api.sh BASE_URL [MAX_EXAMPLES]
#
#   CALINVITE_FUZZ_KEY    a domain owner's API key (required; read from the
#                         environment so that it shows in no process list)
#   CALINVITE_FUZZ_EVENT  an event code to use for {code} (optional)
#   CALINVITE_FUZZ_SEED   the random seed (default 1: the same requests each run)
#   CALINVITE_FUZZ_VENV   where the virtual environment lives
#                         (default: ${CARGO_TARGET_DIR:-target}/schemathesis-venv)
#
# Two runs: every operation but DELETE /v1/keys/{id} (its stateful phase
# would find the key it runs with in GET /v1/keys and revoke it), then that
# one alone without the stateful phase.
set -euo pipefail
die() { printf 'fuzz-api.sh: %s\n' "$*" >&2; exit 1; }

[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: fuzz-api.sh BASE_URL [MAX_EXAMPLES]"
base=${1%/}
examples=${2:-10}
[ -n "${CALINVITE_FUZZ_KEY:-}" ] || die "CALINVITE_FUZZ_KEY (an API key) is not set"
here=$(cd "$(dirname "$0")/../../.." && pwd)
venv=${CALINVITE_FUZZ_VENV:-${CARGO_TARGET_DIR:-$here/target}/schemathesis-venv}
st="$venv/bin/schemathesis"

if ! "$st" --version >/dev/null 2>&1; then
  command -v python3 >/dev/null || die "python3 is not installed (apt-get install python3 python3-venv)"
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if ! "$st" --version >/dev/null 2>&1; then
    printf '== installing schemathesis into %s\n' "$venv" >&2
    python3 -m venv "$venv" || die "python3 -m venv failed (apt-get install python3-venv)"
    "$venv/bin/pip" install -q 'schemathesis>=4.3,<5' || die "pip could not install schemathesis"
  fi
fi
"$st" --version

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The key goes in through the configuration's ${…} substitution, never argv.
{
  echo 'headers = { Authorization = "Bearer ${CALINVITE_FUZZ_KEY}" }'
  echo 'request-timeout = 30.0'
  if [ -n "${CALINVITE_FUZZ_EVENT:-}" ]; then
    echo '[parameters]'
    echo '"path.code" = "${CALINVITE_FUZZ_EVENT}"'
  fi
} >"$work/schemathesis.toml"
export CALINVITE_FUZZ_KEY CALINVITE_FUZZ_EVENT="${CALINVITE_FUZZ_EVENT:-}"

checks=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance
once() {
  (cd "$work" && "$st" --config-file "$work/schemathesis.toml" run "$base/openapi.json" \
    --checks "$checks" --max-examples "$examples" --seed "${CALINVITE_FUZZ_SEED:-1}" \
    --workers 2 --no-color --report junit --report-dir "$work/report" "$@")
}
# CPython 3.11 can raise a spurious "SystemError: AST constructor recursion
# depth mismatch" inside Hypothesis when it parses source in a worker thread
# (python/cpython#106905): schemathesis reports it as a runtime error of the
# generator, not a finding about the server. Such a run — and only such a run,
# with no failure found — is run once more.
run() {
  local out status=0
  out=$(mktemp)
  once "$@" 2>&1 | tee "$out" || status=$?
  if [ "$status" -ne 0 ] && grep -q 'AST constructor recursion depth mismatch' "$out" &&
    ! grep -q '= FAILURES =' "$out"; then
    printf '== schemathesis hit the CPython 3.11 AST bug (no failure found); running again\n'
    status=0
    once "$@" || status=$?
  fi
  rm -f "$out"
  return "$status"
}
printf '== schemathesis: every operation but DELETE /v1/keys/{id}\n'
run --exclude-operation-id revoke_key
printf '== schemathesis: DELETE /v1/keys/{id}\n'
run --include-operation-id revoke_key --phases examples,coverage,fuzzing
