#!/usr/bin/env bash
# Ingestion throughput, memory and API latency of the tracking service (`taskforce ingest` and
# `taskforce serve`) on synthetic data. Not a test: it prints figures. All traffic stays on
# 127.0.0.1.
#
#   scripts/bench-service.sh
#
# Data (scripts/gen-service-bench.py, kept in bench-data/service/, git-ignored; regenerated only
# when the parameters change): 1,000,000 Shadowserver scan_exchange rows over 250,000 hosts and 4
# days, 20,000 iptoasn ranges, 100,000 organisations with one network each.
#
# Daily reports (DAILY_DAYS > 0): a second data set, DAILY_ROWS hosts reported every day over
# DAILY_DAYS days (daily/day-NN.csv, few changes a day), ingested one day after the other into a
# fresh database (after orgs.csv and asn.tsv). Per day it prints the ingest's rows/s, the ratio of
# its wall time to a bare bulk load of the same file (the floor: `sqlite3 .import` into a scratch
# database file beside the benchmark database; for PostgreSQL `\copy` into a scratch table of 15
# text columns in the same database, dropped after), its peak RSS and the database size after it
# (SQLite: the files on disk; PostgreSQL: pg_database_size).
#
# For SQLite (a fresh bench-data/service/bench.db) and, when TASKFORCE_BENCH_PG is set to a
# postgres:// URL, for PostgreSQL (its `public` schema is DROPPED and recreated: use a throwaway
# database), it times the ingest (crates/service/examples/ingest_bench.rs: `taskforce ingest`'s
# library call without the binary) of orgs.csv, asn.tsv and the scan file under GNU time,
# creates an analyst token, starts `taskforce serve` on 127.0.0.1 and runs
# crates/service/examples/api_load.rs against four endpoints.
#
# Environment (defaults in brackets):
#   ROWS [1000000]  ORGS [100000]  HOSTS [ORGS*5/2]  ASN_RANGES [ORGS/5]  SEED [1]
#   REQUESTS [2000] per endpoint   CONCURRENCY [8]   WARMUP [100]   PORT [18089]
#   TASKFORCE_BENCH_PG  postgres://USER:PASS@HOST/DB (optional; needs psql)
#   SKIP_BUILD=1        use the existing release binaries
#   INGEST_BIN          another build of examples/ingest_bench (e.g. of an earlier commit)
#   DAILY_DAYS [30]  DAILY_ROWS [250000]  DAILY_ORGS [DAILY_ROWS/25]   0 days: no daily part
#   PARTS [bulk,api,load,daily]  which parts to run (bulk: the 1M-row file; api needs bulk;
#                       load: the mixed load test on the database bulk left, this run or an
#                       earlier one, or on LOAD_SQLITE / LOAD_PG, URLs of databases to load;
#                       LOAD_SQLITE=none: PostgreSQL only)
#   TASKFORCE_BIN       the binary to run (default target/release/taskforce); for the service
#                       alone without the YARA build: SKIP_BUILD=1 after `cargo build --release
#                       -p taskforce-service --examples`, TASKFORCE_BIN=target/release/examples/service_bench
#
# Deep pages (before/after) and the 200-client mixed load test (`load`): scripts/bench-pages.sh
# (LOAD_SECONDS, LOAD_CLIENTS, LOAD_RSS_EVERY, PAGE_REPEATS). After the load the server's own
# count of group commits is printed (`database writer: N writes in G groups …`).
#
# Needs GNU time (/usr/bin/time), curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-pages.sh

rows=${ROWS:-1000000}
orgs=${ORGS:-100000}
hosts=${HOSTS:-$((orgs * 5 / 2))}
asn_ranges=${ASN_RANGES:-$((orgs / 5 > 0 ? orgs / 5 : 1))}
seed=${SEED:-1}
requests=${REQUESTS:-2000}
concurrency=${CONCURRENCY:-8}
warmup=${WARMUP:-100}
port=${PORT:-18089}
data=bench-data/service
daily_days=${DAILY_DAYS:-30}
daily_rows=${DAILY_ROWS:-250000}
daily_orgs=${DAILY_ORGS:-$((daily_rows / 25 > 0 ? daily_rows / 25 : 1))}
daily_data=$data/daily-$daily_rows-$daily_orgs
parts=,${PARTS:-bulk,api,load,daily},
has_part() { [[ $parts == *",$1,"* ]]; }
target_dir=${CARGO_TARGET_DIR:-target}
bin=${TASKFORCE_BIN:-$target_dir/release/taskforce}
load=$target_dir/release/examples/api_load
# Ingestion runs through the service crate's own bench binary (the same `ingest_file` call and
# report as `taskforce ingest`), so the ingest figures need no yara-x/wasmtime build.
ingest_bin=${INGEST_BIN:-$target_dir/release/examples/ingest_bench}

for tool in /usr/bin/time curl python3; do
  command -v "$tool" > /dev/null || { echo "bench-service: $tool is missing" >&2; exit 1; }
done
grep -qx '/bench-data' .gitignore || echo "bench-service: warning: bench-data is not in .gitignore" >&2

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  echo "== building (release)"
  if has_part bulk || has_part daily; then cargo build --release -q -p taskforce-service --example ingest_bench; fi
  # The API part needs `taskforce serve` (the binary builds yara-x: ~20 minutes the first time).
  if has_part api || has_part load; then
    cargo build --release -q -p taskforce --no-default-features
    cargo build --release -q -p taskforce-service --example api_load --example page_queries
  fi
fi
if has_part bulk || has_part daily; then
  [ -x "$ingest_bin" ] || { echo "bench-service: $ingest_bin missing" >&2; exit 1; }
fi
if { has_part api || has_part load; } && { [ ! -x "$load" ] || [ ! -x "$bin" ]; }; then echo "bench-service: $bin or $load missing" >&2; exit 1; fi

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

# --- data ------------------------------------------------------------------------------------
mkdir -p "$data"
stamp="rows=$rows orgs=$orgs hosts=$hosts asn_ranges=$asn_ranges seed=$seed"
if ! has_part bulk; then
  :
elif [ "$(cat "$data/.stamp" 2> /dev/null || true)" != "$stamp" ] || [ ! -s "$data/scan_exchange-1m.csv" ]; then
  echo "== generating data in $data ($stamp)"
  rm -f "$data/.stamp"
  python3 scripts/gen-service-bench.py "$data" --rows "$rows" --orgs "$orgs" --hosts "$hosts" \
    --asn-ranges "$asn_ranges" --seed "$seed"
  echo "$stamp" > "$data/.stamp"
else
  echo "== data in $data is current ($stamp)"
fi
scan_rows=0
has_part bulk && scan_rows=$(($(wc -l < "$data/scan_exchange-1m.csv") - 1))
if has_part daily && [ "$daily_days" -gt 0 ]; then
  dstamp="daily_rows=$daily_rows orgs=$daily_orgs days=$daily_days seed=$seed"
  if [ "$(cat "$daily_data/.stamp" 2> /dev/null || true)" != "$dstamp" ]; then
    echo "== generating daily reports in $daily_data ($dstamp)"
    rm -rf "$daily_data"
    # Every host once a day on 443 (and one in twenty on 80 too): DAILY_ROWS hosts ≈ rows a day.
    python3 scripts/gen-service-bench.py "$daily_data" --rows "$daily_rows" --orgs "$daily_orgs" \
      --hosts "$daily_rows" --asn-ranges "$((daily_orgs / 5 > 0 ? daily_orgs / 5 : 1))" --seed "$seed" \
      --daily-days "$daily_days"
    echo "$dstamp" > "$daily_data/.stamp"
  else
    echo "== daily reports in $daily_data are current ($dstamp)"
  fi
fi

# --- helpers ---------------------------------------------------------------------------------
summary=$work/summary
: > "$summary"

# timed NAME ROWS CMD...: runs CMD under GNU time -v; prints and records elapsed, rows/s, peak RSS.
timed() {
  local name=$1 n=$2 tfile=$work/time.txt log=$work/cmd.log
  shift 2
  if ! /usr/bin/time -v -o "$tfile" "$@" > "$log" 2>&1; then
    echo "bench-service: failed: $*" >&2
    cat "$log" >&2
    cat "$tfile" >&2 2> /dev/null || true
    exit 1
  fi
  # The service's own one-line report (stderr) and its JSON summary (stdout); the progress lines
  # (every 100 batches) become one line of rates per slice below.
  grep -v '^{' "$log" | grep -v 'ingest progress' | sed 's/^/    /' || true
  slice_rates "$log"
  local elapsed kb secs cpu
  elapsed=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$tfile")
  # CPU time (user + sys) of the ingest process: steadier than wall time on a shared machine
  # (for PostgreSQL it leaves out the server's own work).
  cpu=$(awk -F': ' '/User time \(seconds\)|System time \(seconds\)/ { s += $2 } END { printf "%.2f", s }' "$tfile")
  kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$tfile")
  secs=$(awk -v t="$elapsed" 'BEGIN { n = split(t, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }')
  local rate
  rate=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  printf '  %-28s %9s rows %9s s %11s rows/s %8s MB peak RSS %8s s CPU (load %s)\n' "$name" "$n" "$secs" "$rate" "$((kb / 1024))" "$cpu" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
  printf '%-12s %-28s %9s %9s %11s %8s\n' "$backend" "$name" "$n" "$secs" "$rate" "$((kb / 1024))" >> "$summary"
  last_secs=$secs last_rate=$rate last_mb=$((kb / 1024)) last_cpu=$cpu
}

# slice_rates LOG: the rate of each slice of 100 batches of an ingest (ingest_bench prints
# `ingest progress rows=N secs=S` every 100 batches), to show whether it falls as the tables grow.
slice_rates() {
  grep -q 'ingest progress' "$1" || return 0
  awk '/ingest progress/ {
      for (i = 1; i <= NF; i++) { if ($i ~ /^rows=/) r = substr($i, 6); if ($i ~ /^secs=/) t = substr($i, 6) }
      if (t > pt) out = out sprintf(" %.0f", (r - pr) / (t - pt)); pr = r; pt = t
    } END { print "    rows/s per slice of 100 batches (100,000 rows):" out }' "$1"
}

# wall_secs CMD...: the wall time of CMD in seconds (GNU time), its output discarded.
wall_secs() {
  local tfile=$work/floor-time.txt
  if ! /usr/bin/time -v -o "$tfile" "$@" > "$work/floor.log" 2>&1; then
    echo "bench-service: failed: $*" >&2
    cat "$work/floor.log" >&2
    exit 1
  fi
  sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$tfile" \
    | awk '{ n = split($0, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }'
}

# floor_secs BACKEND URL FILE: a bare bulk load of FILE (no enrichment, no state, no index).
floor_secs() {
  local backend=$1 url=$2 file=$3
  if [ "$backend" = sqlite ]; then
    local scratch=${url#sqlite://}.floor
    rm -f "$scratch"
    wall_secs sqlite3 "$scratch" ".import --csv $file raw"
    rm -f "$scratch"
  else
    psql -q -v ON_ERROR_STOP=1 "$url" -c 'DROP TABLE IF EXISTS bench_floor' \
      -c 'CREATE TABLE bench_floor (timestamp TEXT, ip TEXT, port TEXT, hostname TEXT, tag TEXT, asn TEXT, geo TEXT, region TEXT, city TEXT, naics TEXT, sic TEXT, sector TEXT, version TEXT, servername TEXT, url TEXT)'
    wall_secs psql -q -v ON_ERROR_STOP=1 "$url" -c "\\copy bench_floor FROM '$file' WITH (FORMAT csv, HEADER true)"
    psql -q -v ON_ERROR_STOP=1 "$url" -c 'DROP TABLE bench_floor'
  fi
}

db_bytes() { # the database's size on disk
  local backend=$1 url=$2
  if [ "$backend" = sqlite ]; then
    local path=${url#sqlite://}
    # The WAL file is gone after a clean close: du's complaint about it is no failure.
    { du -cb "$path" "$path-wal" 2> /dev/null || true; } | tail -n 1 | cut -f1
  else
    psql -qtA "$url" -c 'SELECT pg_database_size(current_database())'
  fi
}

# bench_daily BACKEND URL: the daily reports, one after the other, into a fresh database.
bench_daily() {
  backend=$1
  local url=$2 files
  echo
  echo "== $backend: $daily_days daily reports of ~$daily_rows rows ($daily_orgs organisations)"
  timed "orgs orgs.csv" "$(data_rows "$daily_data/orgs.csv")" "$ingest_bin" "$url" orgs "$daily_data/orgs.csv"
  timed "asn asn.tsv" "$(data_rows "$daily_data/asn.tsv")" "$ingest_bin" "$url" asn "$daily_data/asn.tsv"
  printf '  %-6s %9s %9s %11s %9s %7s %8s %10s %12s\n' day rows seconds rows/s floor-s ratio "RSS MB" "DB MB" "raw file MB" >> "$work/daily-$backend.txt"
  files=$(ls "$daily_data"/daily/day-*.csv)
  for f in $files; do
    local day n floor ratio bytes raw
    day=$(basename "$f" .csv)
    n=$(data_rows "$f")
    floor=$(floor_secs "$backend" "$url" "$f")
    timed "daily $day" "$n" "$ingest_bin" "$url" shadowserver "$f" > /dev/null
    ratio=$(awk -v a="$last_secs" -v b="$floor" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }')
    bytes=$(db_bytes "$backend" "$url")
    raw=$(du -b "$f" | cut -f1)
    printf '  %-6s %9s %9s %11s %9s %7s %8s %10s %12s\n' "${day#day-}" "$n" "$last_secs" "$last_rate" "$floor" "$ratio" "$last_mb" \
      "$((bytes / 1048576))" "$((raw / 1048576))" | tee -a "$work/daily-$backend.txt"
  done
}

data_rows() { # lines of a file that are not its header
  local f=$1
  case $f in
    *.tsv) wc -l < "$f" ;;
    *) echo $(($(wc -l < "$f") - 1)) ;;
  esac
}

bench_backend() {
  backend=$1
  local url=$2
  echo
  echo "== $backend"
  echo "-- ingest"
  timed "orgs orgs.csv" "$(data_rows "$data/orgs.csv")" "$ingest_bin" "$url" orgs "$data/orgs.csv"
  timed "asn asn.tsv" "$(data_rows "$data/asn.tsv")" "$ingest_bin" "$url" asn "$data/asn.tsv"
  local floor
  floor=$(floor_secs "$backend" "$url" "$data/scan_exchange-1m.csv")
  timed "shadowserver scan_exchange" "$scan_rows" "$ingest_bin" "$url" shadowserver "$data/scan_exchange-1m.csv"
  echo "  floor (bare bulk load of the same file): $floor s; ingest / floor: $(awk -v a="$last_secs" -v b="$floor" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }')x"
  echo "  database size: $(($(db_bytes "$backend" "$url") / 1048576)) MB (raw file $(($(du -b "$data/scan_exchange-1m.csv" | cut -f1) / 1048576)) MB)"
  has_part api || return 0

  echo "-- API (taskforce serve on 127.0.0.1:$port)"
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/health"; then
    echo "bench-service: something already listens on 127.0.0.1:$port (set PORT)" >&2
    exit 1
  fi
  if ! "$bin" token create --name bench --role analyst --database "$url" > "$work/token" 2> "$work/token.err"; then
    echo "bench-service: taskforce token create failed:" >&2
    cat "$work/token.err" >&2
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
  if [ "$up" != 1 ]; then
    echo "bench-service: taskforce serve did not answer /health" >&2
    cat "$work/serve-$backend.log" >&2
    exit 1
  fi
  local max_org
  max_org=$(curl -sf -H "Authorization: Bearer $(cat "$work/token")" "http://127.0.0.1:$port/api/v1/organisations?per_page=1" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])')
  "$load" --url "http://127.0.0.1:$port" --token-file "$work/token" --max-org "$max_org" \
    --requests "$requests" --concurrency "$concurrency" --warmup "$warmup" \
    --path /api/v1/organisations \
    --path '/api/v1/organisations?page=500' \
    --path '/api/v1/organisations/{org}' \
    --path '/api/v1/organisations/{org}/hosts' | tee "$work/api-$backend.txt"
  bench_pages "$backend" "$url"
  kill -TERM "$server_pid"
  local status=0
  wait "$server_pid" || status=$?
  server_pid=""
  [ "$status" = 0 ] || echo "  (taskforce serve exited with status $status after SIGTERM)"
  if grep -qiE 'error|panic' "$work/serve-$backend.log"; then
    echo "  server log (errors):"
    grep -iE 'error|panic' "$work/serve-$backend.log" | head -n 20 | sed 's/^/    /'
  fi
}

# bench_load BACKEND URL: `taskforce serve` on an ingested database, and the mixed load against it.
bench_load() {
  local backend=$1 url=$2
  echo
  echo "== $backend: mixed load"
  "$bin" token create --name "load-$$-$RANDOM" --role analyst --database "$url" > "$work/token" 2> "$work/token.err" \
    || { echo "bench-service: taskforce token create failed:" >&2; cat "$work/token.err" >&2; exit 1; }
  "$bin" serve --database "$url" --listen "127.0.0.1:$port" > "$work/serve-load-$backend.log" 2>&1 &
  server_pid=$!
  local up=0
  for _ in $(seq 300); do
    if curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$port/health"; then up=1; break; fi
    kill -0 "$server_pid" 2> /dev/null || break
    sleep 0.1
  done
  [ "$up" = 1 ] || { echo "bench-service: taskforce serve did not answer" >&2; cat "$work/serve-load-$backend.log" >&2; exit 1; }
  local total
  total=$(curl -sf -H "Authorization: Bearer $(cat "$work/token")" "http://127.0.0.1:$port/api/v1/organisations?per_page=1" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])')
  [ "$total" -gt 0 ] || { echo "bench-service: the database for the load has no organisations (run bulk first)" >&2; exit 1; }
  mixed_load "$backend" "$total"
  kill -TERM "$server_pid"
  wait "$server_pid" || true
  server_pid=""
  # Group commit's own count (printed by the server as it stops).
  grep -h '^database writer:' "$work/serve-load-$backend.log" | sed 's/^/  /' | tee -a "$work/load-$backend.txt" || true
  if grep -qiE 'error|panic' "$work/serve-load-$backend.log"; then
    echo "  server log (errors):"
    grep -iE 'error|panic' "$work/serve-load-$backend.log" | head -n 20 | sed 's/^/    /'
  fi
}

reset_sqlite() { rm -f "$1" "$1-wal" "$1-shm" "$1-journal"; }
reset_pg() { psql -q -v ON_ERROR_STOP=1 "$TASKFORCE_BENCH_PG" -c 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;'; }

# --- SQLite ----------------------------------------------------------------------------------
if has_part bulk; then
  reset_sqlite "$data/bench.db"
  bench_backend sqlite "sqlite://$data/bench.db"
fi
if has_part load && [ "${LOAD_SQLITE:-}" != none ]; then
  bench_load sqlite "${LOAD_SQLITE:-sqlite://$data/bench.db}"
fi
if has_part daily && [ "$daily_days" -gt 0 ]; then
  reset_sqlite "$data/daily.db"
  bench_daily sqlite "sqlite://$data/daily.db"
fi

# --- PostgreSQL (optional) -------------------------------------------------------------------
if [ -n "${TASKFORCE_BENCH_PG:-}" ]; then
  command -v psql > /dev/null || { echo "bench-service: TASKFORCE_BENCH_PG is set but psql is missing" >&2; exit 1; }
  echo
  echo "== resetting the public schema of the PostgreSQL benchmark database"
  if has_part bulk; then
    reset_pg
    bench_backend postgres "$TASKFORCE_BENCH_PG"
  fi
  if has_part load; then
    bench_load postgres "${LOAD_PG:-$TASKFORCE_BENCH_PG}"
  fi
  if has_part daily && [ "$daily_days" -gt 0 ]; then
    reset_pg
    bench_daily postgres "$TASKFORCE_BENCH_PG"
  fi
elif has_part load && [ -n "${LOAD_PG:-}" ]; then
  bench_load postgres "$LOAD_PG"
fi

# --- summary ---------------------------------------------------------------------------------
echo
echo "== summary ($(nproc) cores; $scan_rows scan rows, $orgs organisations, $hosts hosts)"
printf '%-12s %-28s %9s %9s %11s %8s\n' backend step rows seconds rows/s "RSS MB"
cat "$summary"
for f in "$work"/daily-*.txt; do
  [ -e "$f" ] || continue
  b=${f##*/daily-}
  echo
  echo "Daily reports, ${b%.txt} (floor: bare bulk load of the same file; DB MB after the day):"
  cat "$f"
done
for f in "$work"/api-*.txt; do
  [ -e "$f" ] || continue
  b=${f##*/api-}
  echo
  echo "API, ${b%.txt}:"
  cat "$f"
done
bench_pages_summary
