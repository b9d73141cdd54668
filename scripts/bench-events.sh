#!/usr/bin/env bash
# Event-log throughput of `taskforce hunt`: the corpus EVTX files replicated to a few hundred MB,
# with the full SigmaHQ Windows rule set loaded. Prints events/s, MB/s and peak RSS.
#
#   scripts/bench-events.sh [COPIES]      (default 40 copies of ../shared/corpus/evtx*)
set -euo pipefail
cd "$(dirname "$0")/.."
copies=${1:-40}
corpus=${CORPUS:-../shared/corpus}
sigma=${SIGMA:-$corpus/sigma/rules/windows}
dir=bench-data/evtx-$copies
[ -d "$corpus/evtx" ] || { echo "needs $corpus/evtx" >&2; exit 1; }
cargo build --release -q -p taskforce
bin=target/release/taskforce
if [ ! -d "$dir" ]; then
  mkdir -p "$dir"
  for i in $(seq "$copies"); do
    for f in "$corpus"/evtx/*.evtx "$corpus"/evtx-attack-samples/*.evtx; do
      cp "$f" "$dir/$i-$(basename "$f")"
    done
  done
fi
bytes=$(find "$dir" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
find "$dir" -type f -exec cat {} + > /dev/null
"$bin" rules sigma --no-builtin-rules --sigma "$sigma" | head -1
tfile=$(mktemp)
/usr/bin/time -o "$tfile" -f '%e %M' "$bin" hunt --stats -f json -o /dev/null --sigma "$sigma" "$dir" 2> "$tfile.stats" || true
read -r secs kb < <(tail -n 1 "$tfile")
cat "$tfile.stats"
echo "corpus copy: $(find "$dir" -type f | wc -l) files, $(awk "BEGIN {printf \"%.0f\", $bytes / 1e6}") MB; wall ${secs}s, peak RSS $((kb / 1024)) MB, $(nproc) cores"
rm -f "$tfile" "$tfile.stats"
