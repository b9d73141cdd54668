#!/usr/bin/env bash
# Coverage-guided fuzzing of one or all parsers with AFL++ (cargo-afl), by hand; CI runs the
# seeded mutation tests instead (cargo test -p taskforce-fuzz). See docs/fuzzing.md.
#
#   scripts/fuzz-afl.sh [TARGET|all] [SECONDS per target, default 60]
#
# By default the binary is built without the `hunt` and `service` features (a few minutes): the
# log targets then fuzz the `logs` readers, the evidence targets listing and reading, and the
# service targets are absent. AFL_FULL=1 builds every target (a full instrumented build of the
# workspace's dependencies: long).
#
# Needs cargo-afl (cargo install cargo-afl --locked; it builds AFL++ on first use) on PATH.
# Findings land in target/afl/<target>/default/crashes and .../hangs; a fixed crash is committed
# as crates/fuzz/seeds/<target>/crash-<what>.<ext>.
set -euo pipefail
cd "$(dirname "$0")/.."

which=${1:-all}
seconds=${2:-60}
command -v cargo-afl >/dev/null || { echo "cargo-afl is missing: cargo install cargo-afl --locked" >&2; exit 1; }

# Instrumented build of the one binary that holds every target (a separate target directory, so
# the instrumented dependencies do not replace the normal debug build).
export CARGO_TARGET_DIR=target/afl-build
if [ "${AFL_FULL:-0}" = 1 ]; then
  cargo afl build -p taskforce-fuzz --features afl --bin taskforce-fuzz-afl
  all_targets=$(ls crates/fuzz/seeds)
else
  cargo afl build -p taskforce-fuzz --no-default-features --features afl --bin taskforce-fuzz-afl
  all_targets="w3c exchange-csv event-jsonl evtx zip gz"
fi
bin=$CARGO_TARGET_DIR/debug/taskforce-fuzz-afl

if [ "$which" = all ]; then
  targets=$all_targets
else
  targets=$which
fi

# No CPU binding (the machine is shared), no UI, and do not stop on a slow first run.
export AFL_NO_AFFINITY=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
printf '%-14s %10s %10s %8s %8s %8s\n' target execs execs/s paths crashes hangs
for t in $targets; do
  out=target/afl/$t
  mkdir -p "$out"
  cargo afl fuzz -V "$seconds" -i "crates/fuzz/seeds/$t" -o "$out" -- "$bin" "$t" > "$out/fuzz.log" 2>&1 || true
  stats=$out/default/fuzzer_stats
  if [ ! -f "$stats" ]; then
    echo "$t: no statistics, see $out/fuzz.log" >&2
    continue
  fi
  get() { awk -F' *: *' -v k="$1" '$1 == k {print $2}' "$stats"; }
  printf '%-14s %10s %10s %8s %8s %8s\n' "$t" "$(get execs_done)" "$(get execs_per_sec)" "$(get corpus_count)" \
    "$(get saved_crashes)" "$(get saved_hangs)"
done
