#!/usr/bin/env bash
# Notification throughput and memory (`taskforce notify plan` and `taskforce notify send`) on
# synthetic organisations, delivering to the loopback SMTP sink (crates/notify/tests/smtp_sink.py,
# Debian's python3-aiosmtpd). Not a test: it prints figures. All traffic stays on 127.0.0.1.
#
#   ORGS=5000 BIN=target/debug/taskforce SKIP_BUILD=1 scripts/bench-notify.sh
#
# Data: ORGS organisations, each with a /28 network, an abuse contact and one Exchange server
# (every 10th compromised, the others vulnerable), ingested into a fresh SQLite database and, with
# TASKFORCE_BENCH_PG=postgres://…, into that database too (its `public` schema is DROPPED and
# recreated). Then, per database, under GNU time: `notify plan --format json` (plan time, peak
# RSS) and `notify send` with the rate limits lifted over CONNECTIONS SMTP connections
# (messages/s, peak RSS), the number of messages the sink stored, and the sink's own CPU time
# (the Python sink is one process on one core: if its CPU time is close to the send's wall time,
# the sink is the bottleneck, not the sender). The load average is printed with every figure.
#
# At the end it prints the text part of one delivered message (the first the sink stored).
#
# Environment (defaults in brackets):
#   ORGS [100000]  BIN [target/release/taskforce]  SKIP_BUILD=1 (use BIN as it is)
#   CONNECTIONS [8]  SMTP connections of `notify send`
#   DBS [sqlite, and postgres when TASKFORCE_BENCH_PG is set]  which databases to run
#   NOTIFY_BIN  runs plan and send instead of `BIN notify`: the crate's own release binary,
#               which does not compile YARA (`cargo build --release -p taskforce-notify
#               --example bench_notify`; BIN still ingests)
#   TASKFORCE_BENCH_PG  postgres://USER:PASS@HOST/DB (optional; needs psql)
#
# Needs GNU time (/usr/bin/time) and /usr/bin/python3 with aiosmtpd.
set -euo pipefail
cd "$(dirname "$0")/.."

orgs=${ORGS:-100000}
bin=${BIN:-${CARGO_TARGET_DIR:-target}/release/taskforce}
[ -x /usr/bin/time ] || { echo "bench-notify: GNU time (/usr/bin/time) is missing" >&2; exit 1; }
/usr/bin/python3 -c 'import aiosmtpd' 2> /dev/null || { echo "bench-notify: python3-aiosmtpd is missing (.ci/smtp-sink.sh)" >&2; exit 1; }
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  echo "== building (release)"
  # Without YARA (yara-x, wasmtime): notifications do not need it, and it is most of the build.
  cargo build --release -q -p taskforce --no-default-features
fi
[ -x "$bin" ] || { echo "bench-notify: $bin missing" >&2; exit 1; }

work=$(mktemp -d)
sink_pid=""
cleanup() {
  if [ -n "$sink_pid" ]; then pkill -TERM -P "$sink_pid" 2> /dev/null; kill "$sink_pid" 2> /dev/null || true; wait "$sink_pid" 2> /dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

/usr/bin/python3 - "$orgs" "$work" << 'PY'
import sys
n, out = int(sys.argv[1]), sys.argv[2]
with open(f"{out}/orgs.csv", "w") as o, open(f"{out}/2021-03-10-scan_exchange.csv", "w") as f:
    o.write("org,network,asn,sector,cc,abuse_email\n")
    f.write('"timestamp","ip","port","hostname","tag","asn","geo","region","city","naics","sic","sector","version","servername","url"\n')
    for i in range(n):
        base = i * 16
        net = f"10.{(base >> 16) & 255}.{(base >> 8) & 255}.{base & 255}"
        ip = f"10.{(base >> 16) & 255}.{(base >> 8) & 255}.{(base & 255) + 1}"
        cc = "DE" if i % 3 == 0 else "US"
        o.write(f"Org {i},{net}/28,,Retail,{cc},abuse@org{i}.example\n")
        tag = "exchange;webshell" if i % 10 == 0 else "exchange;cve-2021-26855"
        url = "/owa/auth/x.aspx" if i % 10 == 0 else ""
        f.write(f'"2021-03-10 01:00:00","{ip}",443,"mail.org{i}.example","{tag}",64496,"{cc}","","",,,"","15.1.2176.2","S{i}","{url}"\n')
PY

connections=${CONNECTIONS:-8}
dbs=${DBS:-sqlite${TASKFORCE_BENCH_PG:+ postgres}}
notify=("$bin" notify)
[ -n "${NOTIFY_BIN:-}" ] && notify=("$NOTIFY_BIN")
load() { awk '{print "load average " $1 ", " $2 ", " $3}' /proc/loadavg; }

for kind in $dbs; do
  if [ "$kind" = postgres ]; then
    [ -n "${TASKFORCE_BENCH_PG:-}" ] || { echo "bench-notify: DBS names postgres but TASKFORCE_BENCH_PG is unset" >&2; exit 1; }
    psql -q "$TASKFORCE_BENCH_PG" -c 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;'
    db=$TASKFORCE_BENCH_PG
  else
    db="sqlite://$work/bench.db"
    rm -f "$work"/bench.db*
  fi
  echo "== $orgs organisations into $kind ($(load))"
  /usr/bin/time -f "ingest orgs: %e s wall" "$bin" ingest -q --database "$db" orgs "$work/orgs.csv" > /dev/null
  /usr/bin/time -f "ingest feed: %e s wall" "$bin" ingest -q --database "$db" shadowserver "$work/2021-03-10-scan_exchange.csv" > /dev/null

  echo "== $kind: notify plan (${notify[*]}) ($(load))"
  /usr/bin/time -f "plan: %e s wall, %U s user + %S s sys, %M KB peak RSS" "${notify[@]}" --database "$db" plan --format json > "$work/plan.json"
  if [ -n "${NOTIFY_BIN:-}" ]; then cat "$work/plan.json"; else echo "due: $(grep -c '"decision": "first"' "$work/plan.json") organisation(s), plan JSON $(stat -c %s "$work/plan.json") bytes"; fi

  rm -rf "$work/sink"; mkdir -p "$work/sink"
  /usr/bin/time -f "sink: %e s wall, %U s user + %S s sys (its own CPU time)" -o "$work/sink.time" \
    /usr/bin/python3 crates/notify/tests/smtp_sink.py --dir "$work/sink" > "$work/sink.port" &
  sink_pid=$!
  for _ in $(seq 50); do grep -q PORT "$work/sink.port" 2> /dev/null && break; sleep 0.1; done
  port=$(awk '/PORT/ {print $2}' "$work/sink.port")

  echo "== $kind: notify send over $connections connection(s), rate limits lifted ($(load))"
  start=$(date +%s.%N)
  /usr/bin/time -f "send: %e s wall, %U s user + %S s sys, %M KB peak RSS" "${notify[@]}" --database "$db" send --smtp "smtp://127.0.0.1:$port" \
    --from cert@taskforce.example --rate 1000000 --domain-rate 1000000 --connections "$connections" > "$work/send.json"
  end=$(date +%s.%N)
  echo "after send: $(load)"
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(\"phases: plan %.2f s, render into the outbox %.2f s, deliver %.2f s (%d sent: %.0f messages/s delivering)\" % (r[\"plan_secs\"], r[\"enqueue_secs\"], r[\"deliver_secs\"], r[\"sent\"], r[\"sent\"] / max(r[\"deliver_secs\"], 1e-9)))" "$work/send.json"
  stored=$(find "$work/sink" -name '*.eml' | wc -l)
  echo "sink stored $stored message(s); $(awk -v n="$stored" -v s="$start" -v e="$end" 'BEGIN {printf "%.0f", n / (e - s)}') messages/s overall (plan, render, store, send)"
  pkill -TERM -P "$sink_pid" 2> /dev/null || true; wait "$sink_pid" 2> /dev/null || true; sink_pid=""  # the sink, child of GNU time
  cat "$work/sink.time"
done

echo "== one delivered message, text part"
/usr/bin/python3 - "$work/sink" << 'PY'
import email, email.policy, os, sys
d = sys.argv[1]
first = sorted(f for f in os.listdir(d) if f.endswith(".eml"))[0]
raw = open(os.path.join(d, first), "rb").read().split(b"\r\n", 1)[1]  # drop the sink's X-Envelope-To
msg = email.message_from_bytes(raw, policy=email.policy.default)
print("Subject:", msg["Subject"])
print("To:", msg["To"])
print("X-Taskforce-Ticket:", msg["X-Taskforce-Ticket"])
print("Attachments:", ", ".join(p.get_filename() for p in msg.iter_attachments()))
print()
print(msg.get_body(preferencelist=("plain",)).get_content())
PY
