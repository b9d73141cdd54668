#!/usr/bin/env bash
# Throughput of the file sweep (crates/files: YARA + SHA-256 + names) over a generated Exchange
# server tree, beside `yara` from apt (libyara) scanning the same tree with the same rules.
# Not a test: it prints figures.
#
#   scripts/bench-files.sh [FILES] [SIZE_MB]   (default 52000 files, 2200 MB; data kept in
#                                               bench-data/, git-ignored)
# Environment:
#   RULES    YARA rules for both tools (default ../shared/corpus/signature-base/yara; a folder
#            or a space-separated list of .yar files, e.g. only the web shell rule files)
#   THREADS  threads for both tools (default: nproc)
#   RUNS     runs per tool, best time kept (default 1)
#
# Needs python3 (generator) and GNU time (/usr/bin/time). `yara` is installed with apt-get when
# missing and the script runs as root; otherwise that column is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
nfiles=${1:-52000}
size_mb=${2:-2200}
dir=${BENCH_DIR:-bench-data/files-${nfiles}-${size_mb}}
rules=${RULES:-../shared/corpus/signature-base/yara}
threads=${THREADS:-$(nproc)}
runs=${RUNS:-1}
max_size=$((20 << 20)) # the sweep's default content limit; yara gets the same with --skip-larger

# --- the tree -----------------------------------------------------------------------------------
if [ ! -d "$dir" ]; then
  echo "generating $nfiles files / $size_mb MB in $dir ..."
  python3 - "$dir" "$nfiles" "$size_mb" crates/files/tests/fixtures/yara <<'PY'
import os, random, sys
out, nfiles, size_mb, fixtures = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = random.Random(20210302)
target = size_mb * 1_000_000
words = ("function var return if else for while this new null true false document window jQuery "
         "Owa.Clients.Common ExchangeService OwaApplication Microsoft.Exchange.Data.Storage "
         "<div class=\"signInInputLabel\"> </div> <span> </span> <asp:Label runat=\"server\" ID=\"lbl\" /> "
         "<%@ Control Language=\"C#\" %> Request.QueryString Response.Write Server.HtmlEncode "
         "{ } ( ) ; = == !== + - * / .css .js .png margin: padding: color: #333; font-family: "
         "Segoe UI, sans-serif; background-image: url(/owa/auth/15.1.2176/themes/resources/bg.png) "
         "SetCookie GetCookie encodeURIComponent decodeURIComponent XMLHttpRequest JSON.parse "
         "mailbox folder calendar contact message attachment subject recipient sender").split()
base = " ".join(rng.choice(words) for _ in range(1_400_000)).encode()
base16 = base[: 2_000_000].decode().encode("utf-16-le")

V15 = "C/Program Files/Microsoft/Exchange Server/V15"
TMP_ASPNET = "C/Windows/Microsoft.NET/Framework64/v4.0.30319/Temporary ASP.NET Files"
# (folder, extensions, kind, weight)
areas = [
    (f"{V15}/FrontEnd/HttpProxy/owa/auth/15.1.2176/scripts/premium", [".js"], "text", 6),
    (f"{V15}/FrontEnd/HttpProxy/owa/auth/15.1.2176/themes/resources", [".css", ".png", ".gif"], "mixed", 4),
    (f"{V15}/FrontEnd/HttpProxy/ecp/15.1.2176/scripts", [".js"], "text", 5),
    (f"{V15}/ClientAccess/Owa/prem/15.1.2176/scripts", [".js", ".css"], "text", 10),
    (f"{V15}/ClientAccess/ecp", [".aspx", ".ascx", ".js", ".css", ".htm"], "text", 10),
    (f"{V15}/ClientAccess/Owa/bin", [".dll"], "binary", 8),
    (f"{V15}/ClientAccess/ecp/bin", [".dll"], "binary", 6),
    (f"{V15}/FrontEnd/HttpProxy/bin", [".dll"], "binary", 4),
    (f"{TMP_ASPNET}/owa/4c0a6b2f/8e1d3a77", [".dll", ".compiled", ".xml"], "mixed", 12),
    ("C/ProgramData/Microsoft/Exchange Server/Diagnostics", [".log", ".dat", ".xml"], "mixed", 12),
    ("C/ProgramData/VendorAV/Cache", [".bin", ".dat"], "binary", 6),
    ("C/Windows/Temp", [".tmp", ".log"], "mixed", 8),
    ("C/inetpub/wwwroot", [".htm", ".png"], "mixed", 3),
    ("C/inetpub/wwwroot/aspnet_client/system_web/4_0_30319", [".js"], "text", 2),
]
weights = [a[3] for a in areas]

def text(n):
    start = rng.randrange(0, len(base) - n) if n < len(base) else 0
    return base[start:start + n]

def binary(n):
    head = b"MZ\x90\x00" + bytes(60) + b"PE\x00\x00"
    parts = [head]
    left = n - len(head)
    a, b = int(left * 0.6), int(left * 0.25)
    parts.append(os.urandom(a))
    parts.append(text(b))
    s16 = rng.randrange(0, len(base16) - (left - a - b))
    parts.append(base16[s16:s16 + (left - a - b)])
    return b"".join(parts)[:n]

def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)

total = 0
count = 0
# A few web shell shapes (the inert test fixtures) under the names attackers used.
shells = {
    "C/inetpub/wwwroot/aspnet_client/discover.aspx": "TF-FS-04-OABCONFIG.match.txt",
    "C/inetpub/wwwroot/aspnet_client/x9.aspx": "TF-FS-04-OABCONFIG.match.txt",
    f"{V15}/FrontEnd/HttpProxy/owa/auth/errorPage.aspx": "TF-FS-04-CHOPPER-JSCRIPT.match.txt",
    "C/inetpub/wwwroot/aspnet_client/system_web/Ab12Cd34.aspx": "TF-FS-04-JSCRIPT-B64-EVAL.match.txt",
    "C/ProgramData/COM1/x.aspx": "TF-FS-04-PST-PAGE.match.txt",
    f"{V15}/FrontEnd/HttpProxy/ecp/auth/shell.aspx": "TF-FS-04-CHOPPER-CSHARP-WRITER.match.txt",
    f"{TMP_ASPNET}/root/1a2b3c4d/5e6f7a8b/App_Web_abcd1234.dll": "TF-FS-08-COMPILED-SHELL.match.txt",
}
for path, fx in shells.items():
    data = open(os.path.join(fixtures, fx), "rb").read()
    write(os.path.join(out, path), data)
    total += len(data); count += 1
write(os.path.join(out, "C/Windows/Temp/lsass.dmp"), b"MDMP" + os.urandom(3_000_000)); count += 1; total += 3_000_004
write(os.path.join(out, "C/ProgramData/it.zip"), b"PK\x03\x04" + os.urandom(200_000)); count += 1; total += 200_004
# Files over the 20 MiB content limit: hashed only by the sweep, skipped by yara --skip-larger.
for i in range(3):
    write(os.path.join(out, f"C/ProgramData/Microsoft/Exchange Server/Backup/big{i}.edb"), os.urandom(40_000_000))
    count += 1; total += 40_000_000

bulk_files = nfiles - count
# Small and medium files up to about 70% of the target; large (1-15 MB) files fill the rest.
small_budget = int(target * 0.7) - total
per_file = max(small_budget // max(bulk_files, 1), 1000)
for i in range(bulk_files):
    folder, exts, kind, _ = rng.choices(areas, weights)[0]
    ext = rng.choice(exts)
    if kind == "mixed":
        kind = "binary" if ext in (".png", ".gif", ".dll", ".bin", ".dat") else "text"
    n = int(min(max(rng.lognormvariate(0, 0.9) * per_file * (1.6 if kind == "binary" else 0.6), 200), 4_000_000))
    data = binary(n) if kind == "binary" else text(n)
    write(os.path.join(out, folder, f"d{i // 500:03d}", f"f{i:06d}{ext}"), data)
    total += len(data); count += 1
j = 0
while total < target:
    n = rng.randrange(1_000_000, 15_000_000)
    write(os.path.join(out, f"C/ProgramData/VendorAV/Definitions/def{j:04d}.bin"), binary(n))
    total += n; count += 1; j += 1
print(f"{count} files, {total / 1e6:.0f} MB")
PY
fi

files=$(find "$dir" -type f | wc -l)
bytes=$(find "$dir" -type f -printf '%s\n' | awk '{s+=$1} END {printf "%.0f\n", s}')
scan_bytes=$(find "$dir" -type f -size -$((max_size + 1))c -printf '%s\n' | awk '{s+=$1} END {printf "%.0f\n", s}')
echo "tree: $files files, $((bytes / 1000000)) MB ($((scan_bytes / 1000000)) MB in files <= 20 MiB)"

# Rule files: a folder or a list of files.
rule_files=()
for r in $rules; do
  if [ -d "$r" ]; then
    while IFS= read -r f; do rule_files+=("$f"); done < <(find "$r" -type f \( -name '*.yar' -o -name '*.yara' \) | sort)
  else
    rule_files+=("$r")
  fi
done
[ ${#rule_files[@]} -gt 0 ] || { echo "no YARA rules found in: $rules" >&2; exit 1; }
yara_args=()
for r in $rules; do yara_args+=(--yara "$r"); done

echo "building the sweep example (release; yara-x makes the first build slow) ..."
/usr/bin/time -f 'release build: %e s' cargo build --release -q -p taskforce-files --example sweep
bin=target/release/examples/sweep

find "$dir" -type f -exec cat {} + > /dev/null # page cache: both tools run warm

best_of() { # prints "seconds peak_kb stdout-file"
  local best_s="" best_kb="" tfile out
  tfile=$(mktemp)
  out=$(mktemp)
  for _ in $(seq "$runs"); do
    /usr/bin/time -o "$tfile" -f '%e %M' "$@" > "$out.run" 2> "$out.err" || true
    read -r s kb < <(tail -n 1 "$tfile")
    if [ -z "$best_s" ] || awk "BEGIN {exit !($s < $best_s)}"; then best_s=$s; best_kb=$kb; mv "$out.run" "$out"; fi
  done
  rm -f "$tfile" "$out.run"
  echo "$best_s $best_kb $out"
}

echo "taskforce-files sweep: ${#rule_files[@]} rule files, $threads threads ..."
read -r ts tkb tout < <(best_of "$bin" "$dir" "${yara_args[@]}" --threads "$threads" --hits 0)
result=$(grep '^RESULT' "$tout" || true)
cat "$tout.err" 2> /dev/null | grep -E '^(loaded|walked|hits by rule)' || true
getv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< "$result"; }
t_files=$(getv files)
t_scan=$(getv scan_s)
t_load=$(getv load_s)
t_hit=$(getv files_hit)
t_rules=$(getv yara_rules)

# --- yara (libyara) from apt ----------------------------------------------------------------------
y_line="yara: not installed (apt-get install -y yara)"
if ! command -v yara > /dev/null && [ "$(id -u)" = 0 ]; then
  apt-get install -y -q yara > /dev/null 2>&1 || true
fi
if command -v yara > /dev/null && command -v yarac > /dev/null; then
  ext=(-d filename= -d filepath= -d extension= -d filetype= -d owner=)
  ok=()
  skipped=0
  for f in "${rule_files[@]}"; do
    if yarac "${ext[@]}" "$f" /dev/null > /dev/null 2>&1; then ok+=("$f"); else skipped=$((skipped + 1)); fi
  done
  compiled=$(mktemp)
  t0=$(date +%s.%N)
  yarac "${ext[@]}" "${ok[@]}" "$compiled" 2> /dev/null
  y_compile=$(awk "BEGIN {printf \"%.2f\", $(date +%s.%N) - $t0}")
  read -r ys ykb yout < <(best_of yara -C -r -p "$threads" --skip-larger="$max_size" "${ext[@]}" "$compiled" "$dir")
  y_hits=$(awk '{print $NF}' "$yout" | sort -u | wc -l)
  y_line=$(printf "yara %s: %d of %d rule files compiled (%d skipped, compile %ss); %.2f s wall, %.0f files/s, %.1f MB/s, %d files with hits, peak RSS %d MB" \
    "$(yara --version)" "${#ok[@]}" "${#rule_files[@]}" "$skipped" "$y_compile" "$ys" \
    "$(awk "BEGIN {print $files / $ys}")" "$(awk "BEGIN {print $scan_bytes / 1e6 / $ys}")" "$y_hits" "$((ykb / 1024))")
  rm -f "$compiled" "$yout" "$yout.err"
fi

echo
echo "== files sweep: $files files, $((bytes / 1000000)) MB; rules: $rules"
printf "taskforce-files: %s YARA rules (load %ss), %.2f s wall (%ss scanning): %.0f files/s, %.1f MB/s (hash %s MB, YARA on files <= 20 MiB), %s files with hits, peak RSS %d MB\n" \
  "$t_rules" "$t_load" "$ts" "$t_scan" "$(awk "BEGIN {print $t_files / $t_scan}")" \
  "$(awk "BEGIN {print $bytes / 1e6 / $t_scan}")" "$((bytes / 1000000))" "$t_hit" "$((tkb / 1024))"
echo "$y_line"
rm -f "$tout" "$tout.err"
