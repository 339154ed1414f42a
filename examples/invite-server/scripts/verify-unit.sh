#!/usr/bin/env bash
# Checks the invite server's systemd unit with systemd's own tools:
# `systemd-analyze verify` must print nothing (it exits 0 even on an unknown
# key or a value it cannot parse, so any output is a failure), and
# `systemd-analyze security --offline` must rate its exposure at most
# THRESHOLD, in tenths as its --threshold counts (default 20: the 2.0 up to
# which it says "OK"). The unit's ExecStart binary is replaced by BINARY,
# because verify also checks that the program exists. A sysusers.d file
# beside the unit (same name, .sysusers) must make the unit's User=.
#
#   verify-unit.sh UNIT BINARY [THRESHOLD]
#
# Installs Debian's systemd package when systemd-analyze is missing (a
# fresh container has no systemd); no running systemd is needed.
set -euo pipefail
die() { printf 'verify-unit.sh: %s\n' "$*" >&2; exit 1; }

[ $# -ge 2 ] || die "usage: verify-unit.sh UNIT BINARY [THRESHOLD]"
unit=$1 binary=$2 threshold=${3:-20}
[ -f "$unit" ] || die "no unit file at $unit"
[ -x "$binary" ] || die "no executable at $binary"

if ! command -v systemd-analyze >/dev/null; then
  command -v apt-get >/dev/null || die "systemd-analyze is missing and there is no apt-get to install Debian's systemd package"
  [ "$(id -u)" = 0 ] || die "systemd-analyze is missing; install Debian's systemd package (apt-get install systemd) as root"
  printf '== installing Debian'"'"'s systemd package (for systemd-analyze)\n' >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q systemd >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q systemd >/dev/null; } ||
    die "apt-get could not install systemd"
  command -v systemd-analyze >/dev/null || die "systemd is installed but systemd-analyze is still missing"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
name=$(basename "$unit")
grep -q '^ExecStart=/usr/local/bin/invite-server ' "$unit" || die "$unit: ExecStart does not run /usr/local/bin/invite-server"
sed "s#^ExecStart=/usr/local/bin/invite-server #ExecStart=$binary #" "$unit" >"$work/$name"

out=$(systemd-analyze verify "$work/$name" 2>&1) || die "systemd-analyze verify failed: $out"
[ -z "$out" ] || die "systemd-analyze verify complained: $out"
echo "verify: OK"

# The system user: the sysusers.d file beside the unit makes the unit's User=.
sysusers="$(dirname "$unit")/${name%.service}.sysusers"
if [ -f "$sysusers" ]; then
  user=$(sed -n 's/^User=//p' "$unit")
  mkdir -p "$work/root/etc"
  systemd-sysusers --root="$work/root" "$(cd "$(dirname "$sysusers")" && pwd)/$(basename "$sysusers")" >/dev/null 2>&1 ||
    die "systemd-sysusers refused $sysusers"
  grep -q "^$user:" "$work/root/etc/passwd" || die "$sysusers does not make the unit's user $user"
  echo "sysusers: OK ($(grep "^$user:" "$work/root/etc/passwd"))"
fi

security=$(systemd-analyze security --offline=true --threshold="$threshold" "$work/$name" 2>&1) ||
  die "exposure above $threshold tenths: $(printf '%s\n' "$security" | tail -n 15)"
printf '%s\n' "$security" | grep 'Overall exposure level' || die "no exposure level in: $security"
