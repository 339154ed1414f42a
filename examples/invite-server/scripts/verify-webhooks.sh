#!/usr/bin/env bash
# Verifies webhook posts with an independent implementation of the Standard
# Webhooks specification: the standardwebhooks package from PyPI, in a
# virtual environment this script makes on first use (and reuses).
#
#   verify-webhooks.sh FILE
#
# FILE is JSON: a list of posts, each {"secrets": ["whsec_…", …],
# "headers": {"webhook-id": …, "webhook-timestamp": …, "webhook-signature": …},
# "body_base64": "…"}. Prints a JSON list with, for each post, the indexes of
# the secrets it verifies with (signature and timestamp, as a receiver
# checks them).
#
#   CALINVITE_WEBHOOKS_VENV  where the virtual environment lives
#                            (default: ${CARGO_TARGET_DIR:-target}/webhooks-venv)
set -euo pipefail
die() { printf 'verify-webhooks.sh: %s\n' "$*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: verify-webhooks.sh FILE"
here=$(cd "$(dirname "$0")/../../.." && pwd)
venv=${CALINVITE_WEBHOOKS_VENV:-${CARGO_TARGET_DIR:-$here/target}/webhooks-venv}

if ! "$venv/bin/python" -c 'import standardwebhooks' >/dev/null 2>&1; then
  command -v python3 >/dev/null || die "python3 is not installed (apt-get install python3 python3-venv)"
  # Several test processes may get here at once: one makes the environment.
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if ! "$venv/bin/python" -c 'import standardwebhooks' >/dev/null 2>&1; then
    printf '== installing standardwebhooks into %s\n' "$venv" >&2
    python3 -m venv "$venv" || die "python3 -m venv failed (apt-get install python3-venv)"
    "$venv/bin/pip" install -q 'standardwebhooks>=1.0,<2' || die "pip could not install standardwebhooks"
  fi
fi

exec "$venv/bin/python" - "$1" <<'PY'
import base64
import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

with open(sys.argv[1], encoding="utf-8") as f:
    posts = json.load(f)
verified = []
for post in posts:
    body = base64.b64decode(post["body_base64"])
    ok = []
    for i, secret in enumerate(post["secrets"]):
        try:
            Webhook(secret).verify(body, post["headers"])
            ok.append(i)
        except WebhookVerificationError:
            pass
    verified.append(ok)
json.dump(verified, sys.stdout)
PY
