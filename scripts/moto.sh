#!/usr/bin/env bash
# Starts moto_server (a local AWS API, from PyPI) on loopback for calinvite-ses's
# tests, unless one already answers there. Idempotent: the virtual environment
# is created once and reused; a running server is left running.
#
#   CALINVITE_MOTO_VENV  where the virtual environment lives
#                        (default: ${CARGO_TARGET_DIR:-target}/moto-venv)
#   CALINVITE_MOTO_PORT  the port (default 5045); tests read CALINVITE_MOTO_URL
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

die() { printf 'scripts/moto.sh: %s\n' "$*" >&2; exit 1; }

port=${CALINVITE_MOTO_PORT:-5045}
url="http://127.0.0.1:$port"
venv=${CALINVITE_MOTO_VENV:-${CARGO_TARGET_DIR:-$root/target}/moto-venv}

answers() { curl -fsS -o /dev/null --max-time 2 "$url/moto-api/data.json" 2>/dev/null; }

command -v curl >/dev/null || die "curl is not installed (apt-get install curl)"

if answers; then
  printf '== moto_server already answers at %s\n' "$url"
  exit 0
fi

if ! "$venv/bin/python" -c 'import moto.server' 2>/dev/null; then
  printf '== installing moto[server] into %s\n' "$venv"
  command -v python3 >/dev/null || die "python3 is not installed (apt-get install python3 python3-venv)"
  python3 -m venv "$venv" || die "python3 -m venv failed (apt-get install python3-venv)"
  "$venv/bin/pip" install -q 'moto[server]>=5.1,<6' || die "pip could not install moto[server]"
fi

log="$venv/moto_server.log"
printf '== starting moto_server on %s (log: %s)\n' "$url" "$log"
# Detached from this shell so it outlives the script; it serves until the machine stops.
nohup setsid "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 </dev/null &

for _ in $(seq 1 100); do
  if answers; then
    printf '== moto_server answers at %s\n' "$url"
    exit 0
  fi
  sleep 0.2
done
tail -20 "$log" >&2 || true
die "moto_server did not answer at $url within 20 seconds"
