#!/usr/bin/env bash
# Throughput and memory of `taskforce probe` against a local fleet of fake HTTPS servers.
# Not a test: it prints figures. Every packet stays on loopback (127.1.0.0/16 on this machine).
#
#   scripts/bench-probe.sh                  (concurrency 256 and 1024, rate limit off)
#
# The fleet (crates/probe/examples/fleet.rs) listens on 2 x 128 loopback addresses x 80 ports =
# 20,480 TLS listeners in two processes (a process may hold 20,000 descriptors here), a mix of
# Exchange builds, Exchange showing only its CU, OWA-off Exchange, nginx and Apache. A further
# 64 addresses x 80 ports have no listener (refused). 25,600 targets in all, about 60,000 HTTP
# requests per run, each one an ordinary GET of /owa/ or of the export-tool manifest.
#
# The probe and the fleet share the machine's cores, so the figures are a lower bound of what
# the probe does against real servers. Needs GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
ports=20000-20079
concurrencies=${CONCURRENCY:-"256 1024"}

cargo build --release -q -p taskforce
cargo build --release -q -p taskforce-probe --example fleet
target_dir=${CARGO_TARGET_DIR:-target}
bin=$target_dir/release/taskforce
fleet=$target_dir/release/examples/fleet

pids=()
out=$(mktemp -d)
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$out"
}
trap cleanup EXIT

expected=0
for block in 127.1.0.0/25 127.1.1.0/25; do
  fifo="$out/fleet-${block//[\/.]/-}"
  mkfifo "$fifo"
  "$fleet" "$block" "$ports" > "$fifo" &
  pids+=("$!")
  read -r ready listeners _ exchange < "$fifo"
  [ "$ready" = ready ] || { echo "fleet on $block did not start" >&2; exit 1; }
  expected=$((expected + exchange))
  echo "fleet: $listeners TLS listeners on $block ports $ports ($exchange Exchange)"
done

targets=(127.1.0.0/25 127.1.1.0/25 127.1.2.0/26)
total=$(( (128 + 128 + 64) * 80 ))
printf '\n%-12s %8s %9s %12s %10s %9s %8s\n' concurrency targets seconds targets/s "peak RSS" Exchange errors
for c in $concurrencies; do
  result="$out/probe-$c.jsonl"
  /usr/bin/time -o "$out/time" -f '%e %M' \
    "$bin" probe -q --rate 0 --timeout 10 --retries 1 --concurrency "$c" -p "$ports" -o "$result" "${targets[@]}"
  read -r secs kb < "$out/time"
  lines=$(wc -l < "$result")
  found=$(grep -c '"exchange":true' "$result" || true)
  errors=$(grep -v '"error":null' "$result" | grep -vc '"kind":"refused"' || true)
  printf '%-12s %8s %9s %12s %7s MB %9s %8s\n' "$c" "$lines" "$secs" \
    "$(awk "BEGIN {printf \"%.0f\", $lines / $secs}")" "$((kb / 1024))" "$found" "$errors"
  [ "$lines" -eq "$total" ] || echo "  expected $total lines" >&2
  [ "$found" -eq "$expected" ] || echo "  expected $expected Exchange servers" >&2
done
echo
echo "errors = targets with an error other than the $((64 * 80)) refused ones (expected 0)"
