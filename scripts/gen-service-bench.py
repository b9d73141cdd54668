#!/usr/bin/env python3
"""Synthetic, deterministic data for benchmarking the tracking service (`taskforce ingest` /
`taskforce serve`). Standard library only (Python 3.11).

    scripts/gen-service-bench.py OUT_DIR [--rows 1000000] [--orgs 100000] [--hosts N]
                                 [--asn-ranges 20000] [--seed 1]

Writes into OUT_DIR:

  scan_exchange-1m.csv  Shadowserver scan_exchange rows (the 15-column quoted header), over four
                        days (2021-03-13 .. 2021-03-16). About 70% of the rows are tagged
                        `exchange;cve-2021-26855`, 5% `exchange;webshell` (with an
                        /aspnet_client/system_web/<hex>.aspx url) and the rest `exchange`. Every
                        host is seen on one to four days; the remaining rows are second scans of a
                        host on the same day (same facts: "already known") or port-80 answers.
  asn.tsv               iptoasn-style ranges (start, end, asn, cc, description) covering every
                        host, contiguous, split at organisation boundaries.
  orgs.csv              org,network,asn,sector,cc,abuse_email: one network (CIDR) per
                        organisation holding all of its hosts; organisations that own a whole
                        ASN also list it.
  params.json           the parameters and the counts (a stamp for scripts/bench-service.sh).
  daily/day-NN.csv      with --daily-days N: a daily report per day (2021-04-01 onwards), every
                        host once on port 443 and a fixed twentieth of them on port 80 too, with
                        few changes from one day to the next: each day about 2% of the
                        vulnerable hosts are patched, and 6% of the hosts first appear on a
                        later day (a year of daily reports is mostly the same facts again).

Addresses are allocated from 10.0.0.0/8 (synthetic: nothing here is ever contacted). The same
seed and parameters give byte-identical files.
"""

import argparse
import csv
import ipaddress
import json
import os
import random
import sys
import time

BASE = int(ipaddress.IPv4Address("10.0.0.0"))
LIMIT = int(ipaddress.IPv4Address("10.255.255.255"))
DAYS = ["2021-03-13", "2021-03-14", "2021-03-15", "2021-03-16"]
HEADER = '"timestamp","ip","port","hostname","tag","asn","geo","region","city","naics","sic","sector","version","servername","url"\n'

TAG_VULN = "exchange;cve-2021-26855"
TAG_SHELL = "exchange;webshell"
TAG_PLAIN = "exchange"
# Builds the table calls vulnerable to ProxyLogon (as Shadowserver reports them: no revision).
VULN_VERSIONS = ["15.1.2176", "15.2.721", "15.1.2106", "15.2.792", "15.0.1497", "15.1.2044", "15.2.659"]
VULN_WEIGHTS = [30, 25, 12, 12, 10, 6, 5]
# Fully patched builds (so a plain `exchange` row stays "exposed", not "vulnerable" by build).
PATCHED_VERSIONS = ["15.2.1258.12", "15.1.2507.16", ""]
PATCHED_WEIGHTS = [50, 35, 15]

SECTORS = [
    ("healthcare", "622110", "8062"),
    ("government", "921110", "9111"),
    ("education", "611310", "8221"),
    ("manufacturing", "332710", "3599"),
    ("energy", "221122", "4911"),
    ("finance", "522110", "6021"),
    ("retail", "452210", "5311"),
    ("legal", "541110", "8111"),
    ("logistics", "484121", "4213"),
    ("it-services", "541512", "7373"),
    ("municipality", "921190", "9199"),
    ("non-profit", "813319", "8399"),
]
COUNTRIES = [("DE", 40), ("AT", 10), ("CH", 8), ("NL", 8), ("FR", 8), ("IT", 6), ("PL", 5), ("US", 10), ("GB", 5)]
REGIONS = {
    "DE": [("BAYERN", "MUENCHEN"), ("BERLIN", "BERLIN"), ("HESSEN", "FRANKFURT AM MAIN"), ("NORDRHEIN-WESTFALEN", "KOELN")],
    "AT": [("WIEN", "WIEN"), ("STEIERMARK", "GRAZ")],
    "CH": [("ZURICH", "ZURICH"), ("GENEVE", "GENEVA")],
    "NL": [("NOORD-HOLLAND", "AMSTERDAM"), ("ZUID-HOLLAND", "ROTTERDAM")],
    "FR": [("ILE-DE-FRANCE", "PARIS"), ("AUVERGNE-RHONE-ALPES", "LYON")],
    "IT": [("LOMBARDIA", "MILANO"), ("LAZIO", "ROMA")],
    "PL": [("MAZOWIECKIE", "WARSZAWA")],
    "US": [("VIRGINIA", "ASHBURN"), ("TEXAS", "DALLAS"), ("CALIFORNIA", "SAN JOSE")],
    "GB": [("ENGLAND", "LONDON"), ("SCOTLAND", "EDINBURGH")],
}
WORDS_A = ["Nord", "Sued", "West", "Ost", "Alpen", "Rhein", "Elb", "Donau", "Berg", "Tal", "Hafen", "Stadt", "Land", "Wald", "See"]
WORDS_B = ["werke", "klinik", "bau", "logistik", "handel", "energie", "systeme", "technik", "verwaltung", "kanzlei", "schule", "bank", "medien", "service"]
LEGAL = ["GmbH", "AG", "e.V.", "KG", "GmbH & Co. KG", "SE", "Ltd", "S.A.", "B.V.", ""]
# Distinct days a host is seen on (1..4) and their weights.
DAY_COUNTS = [1, 2, 3, 4]
DAY_WEIGHTS = [10, 15, 25, 50]


def log(msg):
    print(msg, flush=True)


def q(s):
    """A Shadowserver cell: quoted text, or nothing."""
    return f'"{s}"' if s else ""


def ip_text(n):
    return f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def shadowserver_row(ts, ip, port, name, tag, asn, cc, h, sector_index, version, srv, url):
    region, city = REGIONS[cc][h % len(REGIONS[cc])]
    sector, naics, sic = SECTORS[sector_index]
    return (
        f'"{ts}","{ip_text(ip)}",{port},{q(name)},"{tag}",{asn},"{cc}","{region}","{city}",{naics},{sic},"{sector}",'
        f'{q(version)},"{srv}",{q(url)}\n'
    )


def write_daily(out_dir, days, rnd, h_ip, h_org, h_prof, h_ver, h_name, h_srv, h_url, org_asn, asn_cc, org_sector):
    """Daily reports over the same hosts: mostly the same facts, a few changes a day."""
    if days <= 0:
        return {}
    n_hosts = len(h_ip)
    first_day = [0 if rnd.random() < 0.94 else rnd.randrange(days) for _ in range(n_hosts)]
    patch_day = []
    for h in range(n_hosts):
        d = days
        if h_prof[h] == 0:
            for k in range(days):
                if rnd.random() < 0.02:
                    d = k
                    break
        patch_day.append(d)
    os.makedirs(os.path.join(out_dir, "daily"), exist_ok=True)
    written = {}
    for d in range(days):
        date = time.strftime("%Y-%m-%d", time.gmtime(1617235200 + d * 86400))
        rows = []
        for h in range(n_hosts):
            if first_day[h] > d:
                continue
            rows.append((rnd.randrange(86400), h, 443))
            if h % 20 == 0:
                rows.append((rnd.randrange(86400), h, 80))
        rows.sort()
        name = f"daily/day-{d + 1:02d}.csv"
        with open(os.path.join(out_dir, name), "w", newline="") as f:
            f.write(HEADER)
            out = []
            for sec, h, port in rows:
                prof = h_prof[h]
                if prof == 1:
                    tag, version, url = TAG_SHELL, h_ver[h], h_url[h]
                elif prof == 0 and d < patch_day[h]:
                    tag, version, url = TAG_VULN, h_ver[h], ""
                else:
                    tag, version, url = TAG_PLAIN, (h_ver[h] if prof == 2 else "15.2.1258.12"), ""
                o = h_org[h]
                asn = org_asn[o]
                ts = f"{date} {sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}"
                out.append(shadowserver_row(ts, h_ip[h], port, h_name[h], tag, asn, asn_cc[asn], h, org_sector[o], version, h_srv[h], url))
                if len(out) >= 50_000:
                    f.write("".join(out))
                    out.clear()
            f.write("".join(out))
        written[name] = len(rows)
    log(f"daily/: {days} daily reports of {min(written.values())}..{max(written.values())} rows")
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--rows", type=int, default=1_000_000, help="scan_exchange rows (default 1,000,000)")
    ap.add_argument("--orgs", type=int, default=100_000, help="organisations (default 100,000)")
    ap.add_argument("--hosts", type=int, default=None, help="distinct hosts (default 2.5 x orgs)")
    ap.add_argument("--asn-ranges", type=int, default=None, help="ASN ranges (default orgs / 5, e.g. 20,000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--daily-days", type=int, default=0, help="also write this many daily reports (default none)")
    args = ap.parse_args()

    n_orgs = args.orgs
    n_hosts = args.hosts if args.hosts is not None else round(n_orgs * 2.5)
    n_rows = args.rows
    n_ranges = args.asn_ranges if args.asn_ranges is not None else max(1, n_orgs // 5)
    if n_orgs < 1 or n_hosts < n_orgs:
        sys.exit("need at least one organisation and at least one host per organisation (--hosts >= --orgs)")
    if n_rows < n_hosts:
        sys.exit(f"--rows ({n_rows}) must be at least the number of hosts ({n_hosts}): every host is seen once")
    n_ranges = min(n_ranges, n_orgs)
    rnd = random.Random(args.seed)
    os.makedirs(args.out_dir, exist_ok=True)
    started = time.monotonic()

    # --- hosts per organisation: one each, the rest skewed (a few large organisations) --------
    per_org = [1] * n_orgs
    heavy = list(range(n_orgs))
    rnd.shuffle(heavy)  # which organisations are large is random, not the first ids
    for _ in range(n_hosts - n_orgs):
        per_org[heavy[min(int(n_orgs * rnd.random() ** 2), n_orgs - 1)]] += 1

    # --- networks: aligned blocks, sequential in 10.0.0.0/8 ----------------------------------
    org_net = []  # (network int, prefix length)
    cursor = BASE
    for c in per_org:
        size = 8
        while size < 2 * c + 2:  # room for the hosts, never the network/broadcast address
            size *= 2
        cursor = (cursor + size - 1) // size * size
        if cursor + size - 1 > LIMIT:
            sys.exit("10.0.0.0/8 is full: fewer organisations or hosts, please")
        org_net.append((cursor, 32 - (size.bit_length() - 1)))
        cursor += size
    space_end = cursor - 1

    # --- ASN ranges: contiguous, cut at organisation boundaries ------------------------------
    cuts = sorted(rnd.sample(range(1, n_orgs), n_ranges - 1)) if n_ranges > 1 else []
    bounds = [0] + cuts + [n_orgs]
    n_shared = max(1, n_ranges // 4)
    countries = [c for c, _ in COUNTRIES]
    cweights = [w for _, w in COUNTRIES]
    shared_asns = [4_200_000_000 + i for i in range(n_shared)]
    asn_cc = {a: rnd.choices(countries, cweights)[0] for a in shared_asns}
    next_own = 4_210_000_000
    ranges = []  # (start, end, asn, cc, desc)
    org_asn = [0] * n_orgs
    org_owns_asn = [False] * n_orgs
    for r in range(n_ranges):
        first, last = bounds[r], bounds[r + 1] - 1
        start = BASE if r == 0 else org_net[first][0]
        end = space_end if r == n_ranges - 1 else org_net[last + 1][0] - 1
        if rnd.random() < 0.15:
            # An ASN of its own, held by the range's first organisation.
            asn = next_own
            next_own += 1
            asn_cc[asn] = rnd.choices(countries, cweights)[0]
            desc = f"SYNTH-ORG-{first + 1} Synthetic Org Network"
            org_owns_asn[first] = True
        else:
            asn = rnd.choice(shared_asns)
            desc = f"SYNTH-AS{asn - 4_200_000_000} Synthetic Carrier {asn % 97}"
        for o in range(first, last + 1):
            org_asn[o] = asn
        ranges.append((start, end, asn, asn_cc[asn], desc))

    with open(os.path.join(args.out_dir, "asn.tsv"), "w", newline="") as f:
        for start, end, asn, cc, desc in ranges:
            f.write(f"{ip_text(start)}\t{ip_text(end)}\t{asn}\t{cc}\t{desc}\n")
    log(f"asn.tsv: {len(ranges)} ranges ({len(set(r[2] for r in ranges))} ASNs), {ip_text(BASE)} - {ip_text(space_end)}")

    # --- organisations ---------------------------------------------------------------------
    org_sector = [rnd.randrange(len(SECTORS)) for _ in range(n_orgs)]
    with open(os.path.join(args.out_dir, "orgs.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["org", "network", "asn", "sector", "cc", "abuse_email"])
        for o in range(n_orgs):
            legal = rnd.choice(LEGAL)
            name = f"{rnd.choice(WORDS_A)}{rnd.choice(WORDS_B)} {o + 1:06d}" + (f" {legal}" if legal else "")
            net, plen = org_net[o]
            w.writerow([
                name,
                f"{ip_text(net)}/{plen}",
                org_asn[o] if org_owns_asn[o] else "",
                SECTORS[org_sector[o]][0],
                asn_cc[org_asn[o]],
                f"abuse@org{o + 1:06d}.example",
            ])
    log(f"orgs.csv: {n_orgs} organisations")

    # --- hosts -------------------------------------------------------------------------------
    # Each host: address, organisation, profile (0 vulnerable, 1 webshell, 2 plain), version,
    # the day it gets patched (vulnerable hosts; 4 = never), names, webshell url.
    h_ip, h_org, h_prof, h_ver, h_patch, h_name, h_srv, h_url = [], [], [], [], [], [], [], []
    for o in range(n_orgs):
        net, plen = org_net[o]
        size = 1 << (32 - plen)
        for off in sorted(rnd.sample(range(1, size - 1), per_org[o])):
            h_ip.append(net + off)
            h_org.append(o)
            u = rnd.random()
            prof = 1 if u < 0.05 else (0 if u < 0.77 else 2)
            h_prof.append(prof)
            if prof == 2:
                h_ver.append(rnd.choices(PATCHED_VERSIONS, PATCHED_WEIGHTS)[0])
            else:
                h_ver.append(rnd.choices(VULN_VERSIONS, VULN_WEIGHTS)[0])
            h_patch.append(3 if prof == 0 and rnd.random() < 0.10 else 4)
            prefix = rnd.choice(["mail", "owa", "webmail", "exchange", "mx"])
            h_name.append(f"{prefix}.org{o + 1:06d}.example" if rnd.random() < 0.6 else "")
            h_srv.append(rnd.choice(["EXCH01", "EXCH02", "MAIL", "MX01", "SRV-EX", "EX2016", "EX2019"]))
            h_url.append(f"/aspnet_client/system_web/{rnd.getrandbits(32):08x}.aspx" if prof == 1 else "")

    # --- rows: (day, second of day, host, port) ------------------------------------------------
    rows = []
    extra_pool = []  # pairs that may be dropped (all but a host's first day)
    for h in range(n_hosts):
        k = rnd.choices(DAY_COUNTS, DAY_WEIGHTS)[0]
        days = rnd.sample(range(4), k)
        for i, d in enumerate(days):
            rows.append((d, rnd.randrange(86400), h, 443))
            if i > 0:
                extra_pool.append(len(rows) - 1)
    if len(rows) > n_rows:
        drop = set(rnd.sample(extra_pool, len(rows) - n_rows))
        rows = [r for i, r in enumerate(rows) if i not in drop]
    base = len(rows)
    while len(rows) < n_rows:
        d, _, h, _ = rows[rnd.randrange(base)]
        # A second scan the same day (same facts) or an answer on port 80 (a new fact).
        rows.append((d, rnd.randrange(86400), h, 80 if rnd.random() < 0.5 else 443))
    del extra_pool
    rows.sort()

    counts = {TAG_VULN: 0, TAG_SHELL: 0, TAG_PLAIN: 0}
    seen_days = set()
    path = os.path.join(args.out_dir, "scan_exchange-1m.csv")
    with open(path, "w", newline="") as f:
        f.write(HEADER)
        out = []
        for d, sec, h, port in rows:
            prof = h_prof[h]
            if prof == 1:
                tag, version, url = TAG_SHELL, h_ver[h], h_url[h]
            elif prof == 0 and d < h_patch[h]:
                tag, version, url = TAG_VULN, h_ver[h], ""
            else:
                tag, version, url = TAG_PLAIN, (h_ver[h] if prof == 2 else "15.2.1258.12"), ""
            counts[tag] += 1
            seen_days.add((h, d))
            o = h_org[h]
            asn = org_asn[o]
            ts = f"{DAYS[d]} {sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}"
            out.append(shadowserver_row(ts, h_ip[h], port, h_name[h], tag, asn, asn_cc[asn], h, org_sector[o], version, h_srv[h], url))
            if len(out) >= 50_000:
                f.write("".join(out))
                out.clear()
        f.write("".join(out))

    daily = write_daily(args.out_dir, args.daily_days, rnd, h_ip, h_org, h_prof, h_ver, h_name, h_srv, h_url, org_asn, asn_cc, org_sector)

    n = len(rows)
    pct = lambda c: f"{100 * c / n:.1f}%"
    log(
        f"scan_exchange-1m.csv: {n} rows, {n_hosts} distinct hosts, {len(seen_days)} host-days over {len(DAYS)} days; "
        f"tags: {TAG_VULN} {counts[TAG_VULN]} ({pct(counts[TAG_VULN])}), {TAG_SHELL} {counts[TAG_SHELL]} ({pct(counts[TAG_SHELL])}), "
        f"{TAG_PLAIN} {counts[TAG_PLAIN]} ({pct(counts[TAG_PLAIN])})"
    )
    params = {
        "seed": args.seed,
        "rows": n,
        "orgs": n_orgs,
        "hosts": n_hosts,
        "asn_ranges": len(ranges),
        "host_days": len(seen_days),
        "tags": counts,
        "files": {
            "scan_exchange-1m.csv": n,
            "asn.tsv": len(ranges),
            "orgs.csv": n_orgs,
            **daily,
        },
    }
    with open(os.path.join(args.out_dir, "params.json"), "w") as f:
        json.dump(params, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {args.out_dir}/ in {time.monotonic() - started:.1f} s:")
    for name, count in params["files"].items():
        size = os.path.getsize(os.path.join(args.out_dir, name))
        print(f"  {name:22} {count:>10} rows  {size / 1e6:8.1f} MB")


if __name__ == "__main__":
    main()
