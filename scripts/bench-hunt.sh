#!/usr/bin/env bash
# Throughput of `taskforce hunt` on generated HttpProxy + IIS logs, beside ripgrep searching the
# same literals in the same files (the speed-of-light reference). Not a test: it prints figures.
#
#   scripts/bench-hunt.sh [SIZE_MB]        (default 2100 MB; data kept in bench-data/, git-ignored)
#
# Needs ripgrep (`apt-get install -y ripgrep`) and GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-2100}
dir=${BENCH_DIR:-bench-data/bulk-${size_mb}}
runs=${RUNS:-3}

cargo build --release -q -p taskforce
bin=target/release/taskforce
if [ ! -d "$dir" ]; then
  echo "generating ${size_mb} MB of logs in $dir ..."
  "$bin" sample --bulk "$size_mb" --out "$dir"
fi
command -v rg >/dev/null || { echo "ripgrep is missing: apt-get install -y ripgrep" >&2; exit 1; }

bytes=$(find "$dir" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
files=$(find "$dir" -type f | wc -l)
lits=$(mktemp)
report=$(mktemp)
trap 'rm -f "$lits" "$report"' EXIT
"$bin" rules literals > "$lits"
find "$dir" -type f -exec cat {} + > /dev/null   # page cache

# best of $runs: prints "seconds peak_kb" (exit codes are ignored: hunt exits 1 on findings)
best() {
  local best_s="" best_kb="" tfile
  tfile=$(mktemp)
  for _ in $(seq "$runs"); do
    /usr/bin/time -o "$tfile" -f '%e %M' "$@" > /dev/null 2>&1 || true
    read -r s kb < <(tail -n 1 "$tfile")
    if [ -z "$best_s" ] || awk "BEGIN {exit !($s < $best_s)}"; then best_s=$s; best_kb=$kb; fi
  done
  rm -f "$tfile"
  echo "$best_s $best_kb"
}

read -r hunt_s hunt_kb < <(best "$bin" hunt -q -f json -o "$report" "$dir")
read -r rg_s rg_kb < <(best rg -c -F -i -f "$lits" "$dir")
read -r rgcs_s rgcs_kb < <(best rg -c -F -f "$lits" "$dir")
findings=$(grep -c '"rule":' "$report" || true)

mbps() { awk "BEGIN {printf \"%.0f\", $bytes / 1e6 / $1}"; }
echo
echo "corpus: $files files, $(awk "BEGIN {printf \"%.2f\", $bytes / 1e9}") GB, $(wc -l < "$lits") literals, $(nproc) cores"
printf '%-34s %8s %9s %12s\n' "tool" "seconds" "MB/s" "peak RSS"
printf '%-34s %8s %9s %9s MB\n' "taskforce hunt ($findings findings)" "$hunt_s" "$(mbps "$hunt_s")" "$((hunt_kb / 1024))"
printf '%-34s %8s %9s %9s MB\n' "rg -c -F -i -f literals" "$rg_s" "$(mbps "$rg_s")" "$((rg_kb / 1024))"
printf '%-34s %8s %9s %9s MB\n' "rg -c -F -f literals (case-sens.)" "$rgcs_s" "$(mbps "$rgcs_s")" "$((rgcs_kb / 1024))"
echo "hunt / rg -i: $(awk "BEGIN {printf \"%.2f\", $hunt_s / $rg_s}")x"
