#!/usr/bin/env bash
# Throughput of `taskforce hunt` on generated HttpProxy + IIS logs, beside ripgrep searching the
# same literals in the same files (the speed-of-light reference). Not a test: it prints figures.
#
#   scripts/bench-hunt.sh [SIZE_MB] [sparse|dense]   (default 2100 MB, sparse; data kept in bench-data/)
#
# sparse: ordinary traffic with ten attack lines (the prefilter skips almost every line);
# dense: the same with an internet scanner's probe on one line in ten (lines the rules match, so
# the per-line work shows). Release build without YARA (not used here); BIN=path skips the build.
# Needs ripgrep (`apt-get install -y ripgrep`) and GNU time (/usr/bin/time). Prints default
# threads against rg's default, and `--threads 1` against `rg -j1`: wall and CPU (user + sys).
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-2100}
mix=${2:-sparse}
case "$mix" in
  sparse) dir=${BENCH_DIR:-bench-data/bulk-${size_mb}}; dense=() ;;
  dense) dir=${BENCH_DIR:-bench-data/dense-${size_mb}}; dense=(--dense) ;;
  *) echo "mix is sparse or dense" >&2; exit 1 ;;
esac
runs=${RUNS:-3}

if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p taskforce --no-default-features
  BIN=target/release/taskforce
fi
bin=$BIN
if [ ! -d "$dir" ]; then
  echo "generating ${size_mb} MB of $mix logs in $dir ..."
  "$bin" sample --bulk "$size_mb" "${dense[@]}" --out "$dir"
fi
command -v rg >/dev/null || { echo "ripgrep is missing: apt-get install -y ripgrep" >&2; exit 1; }

bytes=$(find "$dir" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
files=$(find "$dir" -type f | wc -l)
lits=$(mktemp)
report=$(mktemp)
trap 'rm -f "$lits" "$report"' EXIT
"$bin" rules literals > "$lits"
find "$dir" -type f -exec cat {} + > /dev/null   # page cache

# best of $runs: prints "seconds peak_kb cpu_seconds" (exit codes are ignored: hunt exits 1 on
# findings). CPU seconds (user + sys) are the steadier figure on a shared machine.
best() {
  local best_s="" best_kb="" best_cpu="" tfile
  tfile=$(mktemp)
  for _ in $(seq "$runs"); do
    /usr/bin/time -o "$tfile" -f '%e %M %U %S' "$@" > /dev/null 2>&1 || true
    read -r s kb u k < <(tail -n 1 "$tfile")
    if [ -z "$best_s" ] || awk "BEGIN {exit !($s < $best_s)}"; then
      best_s=$s; best_kb=$kb; best_cpu=$(awk "BEGIN {printf \"%.2f\", $u + $k}")
    fi
  done
  rm -f "$tfile"
  echo "$best_s $best_kb $best_cpu"
}

read -r hunt_s hunt_kb hunt_cpu < <(best "$bin" hunt -q -f json -o "$report" "$dir")
read -r rg_s rg_kb rg_cpu < <(best rg -c -F -i -f "$lits" "$dir")
read -r hunt1_s hunt1_kb hunt1_cpu < <(best "$bin" hunt -q --threads 1 -f json -o /dev/null "$dir")
read -r rg1_s rg1_kb rg1_cpu < <(best rg -j1 -c -F -i -f "$lits" "$dir")
read -r rgcs_s rgcs_kb rgcs_cpu < <(best rg -c -F -f "$lits" "$dir")
findings=$(grep -c '"rule":' "$report" || true)
matching=$(rg -c -F -i -f "$lits" "$dir" | awk -F: '{s+=$NF} END {print s}')

mbps() { awk "BEGIN {printf \"%.0f\", $bytes / 1e6 / $1}"; }
ratio() { awk "BEGIN {printf \"%.2f\", $1 / $2}"; }
row() { # label seconds peak_kb cpu_seconds
  printf '%-36s %8s %8s %9s %11s %9s MB\n' "$1" "$2" "$4" "$(mbps "$2")" "$(mbps "$4")" "$(($3 / 1024))"
}
echo
echo "corpus ($mix): $files files, $(awk "BEGIN {printf \"%.2f\", $bytes / 1e9}") GB, $matching lines holding a literal, $(wc -l < "$lits") literals, $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-36s %8s %8s %9s %11s %12s\n' "tool (best of $runs)" "seconds" "cpu s" "MB/s" "MB/cpu-s" "peak RSS"
row "taskforce hunt ($findings findings)" "$hunt_s" "$hunt_kb" "$hunt_cpu"
row "rg -c -F -i -f literals" "$rg_s" "$rg_kb" "$rg_cpu"
row "taskforce hunt --threads 1" "$hunt1_s" "$hunt1_kb" "$hunt1_cpu"
row "rg -j1 -c -F -i -f literals" "$rg1_s" "$rg1_kb" "$rg1_cpu"
row "rg -c -F -f literals (case-sens.)" "$rgcs_s" "$rgcs_kb" "$rgcs_cpu"
echo "hunt / rg -i, default threads: wall $(ratio "$hunt_s" "$rg_s")x, cpu $(ratio "$hunt_cpu" "$rg_cpu")x"
echo "hunt / rg -i, one thread:      wall $(ratio "$hunt1_s" "$rg1_s")x, cpu $(ratio "$hunt1_cpu" "$rg1_cpu")x"
