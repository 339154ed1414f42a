#!/usr/bin/env bash
# Runs calinvite's assembly benchmark side by side with the peer libraries, in one
# session, the way shared/peers/README.md asks: the peers' own runner, with calinvite
# added to its BENCH list.
#
#   benches/run-peers.sh [ROUNDS=3] [ONLY=assemble]
#     (ONLY=parse for reply parsing, smtp for SMTP delivery to smtp-sink, "" for all)
#
# 1. copies ../shared/peers (read-only) to a fresh temporary folder (or $PEERS_WORK,
#    reused if it is already set up) and runs its setup.sh there (apt/PyPI/npm installs,
#    corpora; idempotent; needs root for apt-get, as on these machines);
# 2. builds `assemble-workload` in release mode and copies the binary into that folder,
#    so that a concurrent rebuild of the workspace cannot change it mid-run;
# 3. writes calinvite's message 0 and checks it with the peers' validate.py, and with a
#    copy of it that accepts calinvite's per-recipient UID (manual: design D1) instead of the
#    peers' fixed one;
# 4. adds ("assemble/calinvite", ...) to BENCH in the copy's run_all.py, then runs
#    `run_all.py ROUNDS --only ONLY` and `summarize.py`.
#
# Results: $WORK/results/runs.jsonl and $WORK/results/summary.md (the folder is printed).
set -euo pipefail

ROUNDS=${1:-3}
ONLY=${2-assemble}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEERS_SRC=${PEERS_SRC:-$ROOT/../shared/peers}
WORK=${PEERS_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/calinvite-peers.XXXXXX")}

echo "== peers: $PEERS_SRC -> $WORK"
mkdir -p "$WORK"
# Copy the peers' files, keeping anything a previous run of setup.sh built there.
cp -a --no-preserve=mode "$PEERS_SRC/." "$WORK/"
chmod u+x "$WORK/setup.sh"
(cd "$WORK" && ./setup.sh)

echo "== building assemble-workload and parse-workload (release)"
(cd "$ROOT" && cargo build --release -p calinvite-benches --bin assemble-workload --bin parse-workload \
  --bin smtp-deliver)
TARGET=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
BIN="$WORK/calinvite-assemble-workload"
cp "$TARGET/release/assemble-workload" "$BIN"
PARSE_BIN="$WORK/calinvite-parse-workload"
cp "$TARGET/release/parse-workload" "$PARSE_BIN"
SMTP_BIN="$WORK/calinvite-smtp-deliver"
cp "$TARGET/release/smtp-deliver" "$SMTP_BIN"

echo "== conformance of calinvite's message 0"
mkdir -p "$WORK/out"
"$BIN" sample "$WORK/out/calinvite-sample.eml" --workload "$WORK/workload.json"
# validate.py compares UID with the peers' fixed UID: calinvite gives each recipient
# its own (manual: design D1), so it reports "UID/SEQUENCE" for that alone.
"$WORK/.venv/bin/python" "$WORK/validate.py" "$WORK/out/calinvite-sample.eml"
python3 - "$WORK" <<'EOF'
import sys, pathlib
work = pathlib.Path(sys.argv[1])
src = (work / "validate.py").read_text()
old = 'if str(ev.get("UID")) != W["uid"] or'
new = ('if not re.fullmatch(r"[0-9a-z]{16}-[0-9a-z]{26}@" + re.escape(W["uid"].rsplit("@", 1)[1]),'
       ' str(ev.get("UID"))) or')
assert old in src, "validate.py changed: update run-peers.sh"
(work / "validate_calinvite_uid.py").write_text(src.replace(old, new))
EOF
echo "(same checks, UID = {event code}-{token}@{peers' UID domain}):"
"$WORK/.venv/bin/python" "$WORK/validate_calinvite_uid.py" "$WORK/out/calinvite-sample.eml"

echo "== adding calinvite to BENCH"
python3 - "$WORK" "$BIN" "$PARSE_BIN" "$SMTP_BIN" <<'EOF'
import sys, pathlib
work, binary, parse_binary, smtp_binary = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
p = work / "run_all.py"
src = p.read_text()
entry = (f'    ("assemble/calinvite", [{binary!r}, "assemble", N, "--workload", "workload.json"]),\n'
         f'    ("parse/calinvite", [{parse_binary!r}, "parse", "corpus"]),\n'
         f'    ("smtp/calinvite-1", [{smtp_binary!r}, "--corpus", "corpus/invites", "--conns", "1"]),\n'
         f'    ("smtp/calinvite-4", [{smtp_binary!r}, "--corpus", "corpus/invites", "--conns", "4"]),\n')
if "assemble/calinvite" not in src:
    anchor = "BENCH = [\n"
    assert anchor in src, "run_all.py changed: update run-peers.sh"
    src = src.replace(anchor, anchor + entry, 1)
    p.write_text(src)
EOF

echo "== run_all.py $ROUNDS --only $ONLY (machine: $(nproc) cores, loadavg $(cut -d' ' -f1-3 /proc/loadavg))"
cd "$WORK"
# summarize.py reads every line of results/runs.jsonl: keep earlier runs apart.
if [ -s results/runs.jsonl ]; then
  mv results/runs.jsonl "results/runs-before-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
fi
python3 run_all.py "$ROUNDS" --only "$ONLY"
python3 summarize.py | tee results/summary.md
echo "== results in $WORK/results (runs.jsonl, summary.md)"
