//! The service's observation feeds: Shadowserver CSV, IntelMQ JSON lines, probe JSON lines and
//! hunt reports, each through `feeds::parse` as `ingest` calls it.

use taskforce_service::feeds::{self, Context, FeedKind, FileError, Item};

use super::{MIB, ODD_CELLS, scratch_file};
use crate::{Rng, Target};

const JSON_DICT: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\"",
    b"\n",
    b"\r\n",
    b"\xEF\xBB\xBF",
    b"null",
    b"true",
    b"-1",
    b"1e400",
    b"18446744073709551616",
    b"\\u0000",
    b"\\ud800",
    b"\"schema\":\"taskforce.probe.v1\"",
    b"\"schema\":\"taskforce.hunt.v1\"",
    b"\"source.ip\":\"203.0.113.7\"",
    b"\"time.source\":\"2021-03-03T04:21:12+00:00\"",
    b"\"address\":\"2001:db8::1\"",
    b"\"verdict\":\"clean\"",
    b"\"verdict\":\"compromised\"",
    b"\"status\":\"vulnerable\"",
    b"\"hosts\":[",
];

pub const SHADOWSERVER: Target = Target {
    name: "shadowserver",
    max_len: 32 << 10,
    dict: &[
        b"\"timestamp\"",
        b"\"ip\"",
        b",",
        b"\"",
        b"\"\"",
        b"\r\n",
        b"\n",
        b"\xEF\xBB\xBF",
        b"\xC3",
        b"2021-03-03 04:21:12",
        b"cve-2021-26855",
        b"webshell",
        b"15.1.2176.2",
        b"::1",
    ],
    run: shadowserver,
    generate: Some(generate_shadowserver),
    fixup: None,
    max_peak: 8 * MIB,
};

pub const INTELMQ: Target = Target {
    name: "intelmq",
    max_len: 32 << 10,
    dict: JSON_DICT,
    run: intelmq,
    generate: None,
    fixup: None,
    max_peak: 8 * MIB,
};

pub const PROBE: Target = Target {
    name: "probe",
    max_len: 32 << 10,
    dict: JSON_DICT,
    run: probe,
    generate: None,
    fixup: None,
    max_peak: 8 * MIB,
};

pub const HUNT_REPORT: Target = Target {
    name: "hunt-report",
    max_len: 32 << 10,
    dict: JSON_DICT,
    run: hunt_report,
    generate: None,
    fixup: None,
    max_peak: 8 * MIB,
};

fn context(ip: Option<std::net::IpAddr>) -> Context {
    Context { file_name: "case".into(), sha256: "0".repeat(64), received_at: "2021-03-10T00:00:00Z".into(), ip }
}

/// Parses `data` as `kind` and checks the answer: rows carry a line, skipped rows a reason,
/// a refused file a reason.
fn feed(kind: FeedKind, name: &str, data: &[u8], ip: Option<std::net::IpAddr>) {
    let path = scratch_file(name, data);
    let mut rows = 0u64;
    let result = feeds::parse(kind, &path, &context(ip), &mut |item| match item {
        Item::Row(row) => {
            assert!(row.line >= 1, "a row without a line");
            assert!(!row.natural_key.is_empty(), "a row without a natural key");
            rows += 1;
        }
        Item::Bad(bad) => assert!(!bad.message.is_empty(), "line {} skipped without a reason", bad.line),
        Item::Warning(w) => assert!(!w.message.is_empty(), "a warning without words"),
    });
    if let Err(e) = result {
        assert!(!e.to_string().is_empty(), "a refused file without a reason");
        if matches!(e, FileError::Empty) {
            assert_eq!(rows, 0, "an empty file with rows");
        }
    }
}

fn shadowserver(data: &[u8]) {
    feed(FeedKind::Shadowserver, "scan_exchange.csv", data, None);
}

fn intelmq(data: &[u8]) {
    feed(FeedKind::Intelmq, "intelmq.jsonl", data, None);
}

fn probe(data: &[u8]) {
    feed(FeedKind::Probe, "probe.jsonl", data, None);
}

fn hunt_report(data: &[u8]) {
    feed(FeedKind::Hunt, "report.json", data, None);
    feed(FeedKind::Hunt, "report.json", data, Some("192.0.2.10".parse().expect("an address")));
}

fn generate_shadowserver(rng: &mut Rng) -> Vec<u8> {
    let columns =
        ["timestamp", "ip", "port", "hostname", "tag", "asn", "geo", "region", "city", "version", "servername", "url"];
    let mut chosen: Vec<&str> = columns.iter().copied().filter(|_| !rng.one_in(6)).collect();
    if rng.one_in(4) {
        chosen.push(*rng.pick(&columns));
    }
    let mut out = chosen.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(",") + "\n";
    for _ in 0..rng.below(30) {
        let row: Vec<String> = chosen
            .iter()
            .map(|c| {
                let v = if rng.one_in(5) {
                    rng.pick(ODD_CELLS).to_string()
                } else {
                    match *c {
                        "timestamp" => "2021-03-03 04:21:12".into(),
                        "ip" => rng.pick(&["203.0.113.7", "2001:db8::7"]).to_string(),
                        "port" => "443".into(),
                        "tag" => rng.pick(&["exchange;cve-2021-26855", "webshell", "exchange"]).to_string(),
                        "asn" => "64496".into(),
                        "geo" => "DE".into(),
                        "version" => "15.1.2176.2".into(),
                        _ => String::new(),
                    }
                };
                format!("\"{}\"", v.replace('"', "\"\""))
            })
            .collect();
        out += &row.join(",");
        out += "\n";
    }
    out.into_bytes()
}
