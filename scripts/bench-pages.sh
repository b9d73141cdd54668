# Deep pages and the mixed load test (issue 14), sourced by scripts/bench-service.sh, which
# calls `bench_pages BACKEND URL` while `taskforce serve` runs on 127.0.0.1:$port with the
# analyst token in $work/token and its process id in $server_pid.
#
#   1. The organisation list's deep page at the database, before/after (examples/page_queries.rs:
#      COUNT(*) + OFFSET as the list ran them before, the tally + cursor now).
#   2. The same over HTTP: first page, last page by ?page= (OFFSET) and by ?cursor=.
#   3. `mixed_load` (the `load` part of bench-service.sh): LOAD_CLIENTS [200] clients for
#      LOAD_SECONDS [600] seconds (reads, feed and hunt report uploads, analyst records),
#      p50/p95/p99 per route and the server's RSS sampled every LOAD_RSS_EVERY [10] seconds.

bench_pages() {
  local backend=$1 url=$2
  local queries=$target_dir/release/examples/page_queries
  local per=50 total last cursor
  total=$(curl -sf -H "Authorization: Bearer $(cat "$work/token")" "http://127.0.0.1:$port/api/v1/organisations?per_page=1" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])')
  last=$(((total + per - 1) / per))
  cursor=$(curl -sf -H "Authorization: Bearer $(cat "$work/token")" \
    "http://127.0.0.1:$port/api/v1/organisations?per_page=$per&page=$((last - 1))" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["next_cursor"])')
  echo "-- deep pages: the database ($total organisations)"
  "$queries" "$url" "${PAGE_REPEATS:-200}" "$per" | tee "$work/pages-sql-$backend.txt"
  echo "-- deep pages: HTTP"
  "$load" --url "http://127.0.0.1:$port" --token-file "$work/token" \
    --requests "$requests" --concurrency "$concurrency" --warmup "$warmup" \
    --path "/api/v1/organisations?per_page=$per" \
    --path "/api/v1/organisations?per_page=$per&page=$last" \
    --path "/api/v1/organisations?per_page=$per&cursor=$cursor" | tee "$work/pages-http-$backend.txt"

}

# mixed_load BACKEND TOTAL_ORGS: the 200-client mixed load against the server on $port (its
# process $server_pid): a table per route (requests, errors, p50/p95/p99/max) and the server's
# RSS at the start and end (and its series), with the load average of the machine around it.
mixed_load() {
  local backend=$1 total=$2
  local seconds=${LOAD_SECONDS:-600}
  [ "$seconds" -gt 0 ] || return 0
  echo "-- mixed load: ${LOAD_CLIENTS:-200} clients for $seconds s (load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
  local status=0
  "$load" --url "http://127.0.0.1:$port" --token-file "$work/token" --mix standard \
    --clients "${LOAD_CLIENTS:-200}" --duration "$seconds" --max-org "$total" \
    --server-pid "$server_pid" --rss-every "${LOAD_RSS_EVERY:-10}" --timeout 120 \
    | tee "$work/load-$backend.txt" || status=$?
  echo "(load average after: $(cut -d' ' -f1-3 /proc/loadavg))" | tee -a "$work/load-$backend.txt"
  [ "$status" = 0 ] || echo "  (the mixed load had errors: exit status $status)"
}

# Printed after the summary of scripts/bench-service.sh.
bench_pages_summary() {
  local f b
  for f in "$work"/pages-sql-*.txt "$work"/pages-http-*.txt "$work"/load-*.txt; do
    [ -e "$f" ] || continue
    b=${f##*/}
    echo
    echo "${b%.txt}:"
    cat "$f"
  done
}
