#!/usr/bin/env bash
# Latency of the web dashboard's pages (`taskforce serve`, crates/web) on synthetic data: the
# overview, the organisation list (the first page; a deep page by number (OFFSET), the same page
# by cursor as the pages' links reach it, and the last page) and an organisation page, p50/p95/p99
# as measured by the service's load generator over keep-alive connections on 127.0.0.1 (the
# pages accept the API's bearer token, so no login is needed). Not a test: it prints figures.
#
#   scripts/bench-web.sh                                  # 100,000 organisations, 250,000 hosts
#   ORGS=5000 ROWS=50000 PROFILE=debug scripts/bench-web.sh   # a quick, small run
#
# Data: scripts/gen-service-bench.py (in bench-data/web/, git-ignored; regenerated only when the
# parameters change). For SQLite (a fresh bench-data/web/bench.db) and, when TASKFORCE_BENCH_PG
# is set to a postgres:// URL, for PostgreSQL (its `public` schema is DROPPED and recreated: use
# a throwaway database).
#
# Environment (defaults in brackets):
#   ROWS [1000000]  ORGS [100000]  HOSTS [ORGS*5/2]  SEED [1]
#   REQUESTS [500] per page   CONCURRENCY [4]   WARMUP [20]   PORT [18090]
#   PROFILE [release] (debug: no release build, figures are then much slower than real)
#   TASKFORCE_BENCH_PG  postgres://USER:PASS@HOST/DB (optional; needs psql)
#   SKIP_BUILD=1        use the existing binaries
#   KEEP_DB=1           measure the databases the last run left (no ingest; the build's
#                       migrations still apply)
#   SQLITE=0            PostgreSQL only
#   YARA=1              build `taskforce` with its default features (yara-x: ~20 min more to
#                       build, no effect on the pages); by default `--no-default-features`
set -euo pipefail
cd "$(dirname "$0")/.."

rows=${ROWS:-1000000}
orgs=${ORGS:-100000}
hosts=${HOSTS:-$((orgs * 5 / 2))}
asn_ranges=$((orgs / 5 > 0 ? orgs / 5 : 1))
seed=${SEED:-1}
requests=${REQUESTS:-500}
concurrency=${CONCURRENCY:-4}
warmup=${WARMUP:-20}
port=${PORT:-18090}
profile=${PROFILE:-release}
data=bench-data/web
target_dir=${CARGO_TARGET_DIR:-target}
bin=$target_dir/$profile/taskforce
load=$target_dir/$profile/examples/api_load

for tool in curl python3; do
  command -v "$tool" > /dev/null || { echo "bench-web: $tool is missing" >&2; exit 1; }
done

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  flag=()
  [ "$profile" = release ] && flag=(--release)
  echo "== building ($profile)"
  features=(--no-default-features)
  [ "${YARA:-0}" = 1 ] && features=()
  cargo build "${flag[@]}" -q -p taskforce "${features[@]}"
  cargo build "${flag[@]}" -q -p taskforce-service --example api_load
fi
[ -x "$bin" ] && [ -x "$load" ] || { echo "bench-web: $bin or $load missing" >&2; exit 1; }

server_pid=""
work=$(mktemp -d)
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2> /dev/null; then
    kill -TERM "$server_pid" 2> /dev/null || true
    wait "$server_pid" 2> /dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$data"
stamp="rows=$rows orgs=$orgs hosts=$hosts asn_ranges=$asn_ranges seed=$seed"
if [ "$(cat "$data/.stamp" 2> /dev/null || true)" != "$stamp" ] || [ ! -s "$data/scan_exchange-1m.csv" ]; then
  echo "== generating data in $data ($stamp)"
  rm -f "$data/.stamp"
  python3 scripts/gen-service-bench.py "$data" --rows "$rows" --orgs "$orgs" --hosts "$hosts" \
    --asn-ranges "$asn_ranges" --seed "$seed"
  echo "$stamp" > "$data/.stamp"
fi

bench_backend() {
  local backend=$1 url=$2
  echo
  if [ "${KEEP_DB:-0}" = 1 ]; then
    echo "== $backend: the database as the last run left it (KEEP_DB=1)"
  else
    echo "== $backend: ingesting"
    local t0=$SECONDS
    "$bin" ingest -q --database "$url" orgs "$data/orgs.csv" > /dev/null
    "$bin" ingest -q --database "$url" asn "$data/asn.tsv" > /dev/null
    "$bin" ingest -q --database "$url" shadowserver "$data/scan_exchange-1m.csv" > /dev/null
    echo "   ingest (orgs, asn, scan file): $((SECONDS - t0)) s wall"
  fi
  "$bin" token create --name "bench-$$-$RANDOM" --role analyst --database "$url" > "$work/token" 2> /dev/null
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/health"; then
    echo "bench-web: something already listens on 127.0.0.1:$port (set PORT)" >&2
    exit 1
  fi
  "$bin" serve --database "$url" --listen "127.0.0.1:$port" > "$work/serve-$backend.log" 2>&1 &
  server_pid=$!
  local up=0
  for _ in $(seq 300); do
    if curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$port/health"; then up=1; break; fi
    kill -0 "$server_pid" 2> /dev/null || break
    sleep 0.1
  done
  [ "$up" = 1 ] || { echo "bench-web: taskforce serve did not answer" >&2; cat "$work/serve-$backend.log" >&2; exit 1; }
  local token max_org deep
  token=$(cat "$work/token")
  max_org=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/organisations?per_page=1" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])')
  deep=$(((max_org + 49) / 50 * 4 / 5))
  [ "$deep" -ge 1 ] || deep=1
  # A communication history, so the matrix has more than one column and timelines two axes.
  for i in $(seq 1 $((max_org < 200 ? max_org : 200))); do
    curl -sf -o /dev/null -H "Authorization: Bearer $token" -H 'content-type: application/json' \
      -d '{"state":"notified","note":"bench"}' "http://127.0.0.1:$port/api/v1/organisations/$((i * 7 % max_org + 1))/communication" || true
  done
  # The same deep page as the pages' links reach it: by cursor (the key of the row before it).
  local cursor
  cursor=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/organisations?page=$((deep - 1 > 0 ? deep - 1 : 1))" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["next_cursor"])')
  echo "-- pages ($max_org organisations; deep page $deep, by number and by cursor $cursor; load: $(cut -d' ' -f1-3 /proc/loadavg))"
  "$load" --url "http://127.0.0.1:$port" --token-file "$work/token" --max-org "$max_org" \
    --requests "$requests" --concurrency "$concurrency" --warmup "$warmup" \
    --path / \
    --path /organisations \
    --path "/organisations?page=$deep" \
    --path "/organisations?cursor=$cursor" \
    --path "/organisations?before=end" \
    --path '/organisations/{org}' | tee "$work/pages-$backend.txt"
  echo "   (load average after: $(cut -d' ' -f1-3 /proc/loadavg))"
  kill -TERM "$server_pid"
  wait "$server_pid" || true
  server_pid=""
  if grep -qiE 'error|panic' "$work/serve-$backend.log"; then
    echo "  server log (errors):"
    grep -iE 'error|panic' "$work/serve-$backend.log" | head -n 20 | sed 's/^/    /'
  fi
}

if [ "${SQLITE:-1}" = 1 ]; then
  [ "${KEEP_DB:-0}" = 1 ] || rm -f "$data/bench.db" "$data/bench.db-wal" "$data/bench.db-shm"
  bench_backend sqlite "sqlite://$data/bench.db"
fi

if [ -n "${TASKFORCE_BENCH_PG:-}" ]; then
  command -v psql > /dev/null || { echo "bench-web: TASKFORCE_BENCH_PG is set but psql is missing" >&2; exit 1; }
  [ "${KEEP_DB:-0}" = 1 ] || psql -q -v ON_ERROR_STOP=1 "$TASKFORCE_BENCH_PG" -c 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;'
  bench_backend postgres "$TASKFORCE_BENCH_PG"
fi
echo
echo "== $(nproc) cores; $orgs organisations, $hosts hosts, $rows scan rows; profile $profile"
