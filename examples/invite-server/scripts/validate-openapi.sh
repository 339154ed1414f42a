#!/usr/bin/env bash
# Validates an OpenAPI document with an independent validator: the
# openapi-spec-validator package from PyPI, in a virtual environment this
# script makes on first use (and reuses).
#
#   validate-openapi.sh FILE
#
#   CALINVITE_OPENAPI_VENV  where the virtual environment lives
#                           (default: ${CARGO_TARGET_DIR:-target}/openapi-venv)
set -euo pipefail
die() { printf 'validate-openapi.sh: %s\n' "$*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: validate-openapi.sh FILE"
here=$(cd "$(dirname "$0")/../../.." && pwd)
venv=${CALINVITE_OPENAPI_VENV:-${CARGO_TARGET_DIR:-$here/target}/openapi-venv}

if ! "$venv/bin/openapi-spec-validator" --version >/dev/null 2>&1; then
  command -v python3 >/dev/null || die "python3 is not installed (apt-get install python3 python3-venv)"
  # Two test processes may get here at once: one makes the environment.
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if ! "$venv/bin/openapi-spec-validator" --version >/dev/null 2>&1; then
    printf '== installing openapi-spec-validator into %s\n' "$venv" >&2
    python3 -m venv "$venv" || die "python3 -m venv failed (apt-get install python3-venv)"
    "$venv/bin/pip" install -q 'openapi-spec-validator>=0.7,<1' || die "pip could not install openapi-spec-validator"
  fi
fi
"$venv/bin/openapi-spec-validator" --schema 3.1 "$1"
