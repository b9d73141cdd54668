#!/usr/bin/env bash
# Peak memory and time of `taskforce ingest hunt` on a large synthetic hunt report: the report is
# parsed from a buffered reader and its findings folded as they stream past, so memory stays
# flat however large the report. Not a test: it prints figures.
#
#   scripts/bench-service-hunt.sh
#
# Environment (defaults in brackets):
#   FINDINGS [1000000]  findings in the one-host report (≈ 230 bytes each)
#   BIN [target/release/taskforce]; SKIP_BUILD=1 uses BIN as it is (e.g. a debug build)
#
# Needs GNU time (/usr/bin/time) and python3. Writes only to a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."

findings=${FINDINGS:-1000000}
bin=${BIN:-target/release/taskforce}
command -v /usr/bin/time > /dev/null || { echo "bench-service-hunt: /usr/bin/time is missing" >&2; exit 1; }
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release -q -p taskforce
fi
[ -x "$bin" ] || { echo "bench-service-hunt: $bin missing" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work/report.json" "$findings" <<'PY'
import json, sys
path, n = sys.argv[1], int(sys.argv[2])
head = {"schema": "taskforce.hunt.v1", "generated_at": "2021-03-22T00:00:00Z"}
host = {"name": "EXCH01", "verdict": "compromised", "reason": "synthetic",
        "exchange_build": "15.1.2176.9", "patch": [{"family": "ProxyLogon", "status": "fixed"}],
        "evidence_window": {"from": "2021-03-01T00:00:00Z", "to": "2021-03-21T00:00:00Z"}}
with open(path, "w") as f:
    f.write(json.dumps(head)[:-1] + ', "hosts": [' + json.dumps(host)[:-1] + ', "findings": [')
    for i in range(n):
        if i:
            f.write(",")
        f.write(json.dumps({"rule": f"TF-SYN-{i % 50:02d}", "severity": "high" if i % 7 == 0 else "low",
                            "title": "synthetic finding", "time": "2021-03-02T10:00:00Z",
                            "evidence": "POST /ecp/DDI/DDIService.svc/SetObject line %d" % i}))
    f.write("]}]}\n")
PY
size=$(du -m "$work/report.json" | cut -f1)
/usr/bin/time -v -o "$work/time.txt" "$bin" ingest --database "sqlite://$work/t.db" --ip 192.0.2.10 hunt "$work/report.json" \
  > "$work/out.json" 2> "$work/err.txt" || { cat "$work/err.txt" >&2; exit 1; }
elapsed=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/time.txt")
kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt")
echo "hunt report: $findings findings, $size MB; ingest: $elapsed wall, $((kb / 1024)) MB peak RSS"
cat "$work/out.json"
