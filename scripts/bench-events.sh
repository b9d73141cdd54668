#!/usr/bin/env bash
# Event-log throughput and memory of `taskforce hunt`: the corpus EVTX files replicated to a few
# hundred MB, with no SigmaHQ rules (our built-in ones only), then 10 %, 50 % and 100 % of SigmaHQ's
# Windows rules (every 10th / every 2nd rule file / all). Prints per run: rules, wall and CPU
# seconds, events/s, MB/s and peak RSS. Memory should stay flat as the rule count grows (rules are
# compiled per log source on first use, see crates/sigma/src/groups.rs).
#
#   scripts/bench-events.sh [COPIES]      (default 40 copies of ../shared/corpus/evtx*)
#
# Release build without YARA (not used here): BIN=path skips the build.
set -euo pipefail
cd "$(dirname "$0")/.."
copies=${1:-40}
corpus=${CORPUS:-../shared/corpus}
sigma=${SIGMA:-$corpus/sigma/rules/windows}
dir=bench-data/evtx-$copies
[ -d "$corpus/evtx" ] || { echo "needs $corpus/evtx" >&2; exit 1; }
if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p taskforce --no-default-features
  BIN=target/release/taskforce
fi
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

# Subsets of the rule folder: every Nth file, in a stable (sorted) order.
subset() {
  local every=$1 out=bench-data/sigma-every-$1
  if [ ! -d "$out" ]; then
    mkdir -p "$out"
    find "$sigma" -name '*.yml' | sort | awk -v n="$every" 'NR % n == 0' | while read -r f; do
      cp "$f" "$out/$(echo "$f" | md5sum | cut -c1-12)-$(basename "$f")"
    done
  fi
  echo "$out"
}

echo "corpus copy: $(find "$dir" -type f | wc -l) files, $(awk "BEGIN {printf \"%.0f\", $bytes / 1e6}") MB, $(nproc) cores"
printf '%-26s %7s %7s %7s %10s %8s %9s %s\n' "rules" "wall s" "cpu s" "events" "events/s" "MB/s" "peak RSS" "load (1 min)"
run() {
  local label=$1; shift
  local tfile stats
  tfile=$(mktemp); stats=$(mktemp)
  /usr/bin/time -o "$tfile" -f '%e %U %S %M' "$BIN" hunt --stats -f json -o /dev/null "$@" "$dir" 2> "$stats" || true
  read -r secs user sys kb < <(tail -n 1 "$tfile")
  local events sigma_n
  events=$(grep -o 'and [0-9]* events' "$stats" | awk '{print $2}')
  sigma_n=$(grep -o '[0-9]* Sigma rules' "$stats" | awk '{print $1}')
  # The load average beside each figure: on a shared machine it says how much the figure means.
  printf '%-26s %7s %7s %7s %10s %8s %6s MB %s\n' "$label ($sigma_n Sigma)" "$secs" \
    "$(awk "BEGIN {printf \"%.2f\", $user + $sys}")" "$events" \
    "$(awk "BEGIN {printf \"%.0f\", $events / $secs}")" "$(awk "BEGIN {printf \"%.0f\", $bytes / 1e6 / $secs}")" "$((kb / 1024))" \
    "$(cut -d' ' -f1 /proc/loadavg)"
  rm -f "$tfile" "$stats"
}
run "built-in only"
run "SigmaHQ 10 %" --sigma "$(subset 10)"
run "SigmaHQ 50 %" --sigma "$(subset 2)"
run "SigmaHQ 100 %" --sigma "$sigma"
