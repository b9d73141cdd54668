//! `taskforce hunt` reports (`taskforce.hunt.v1`, one JSON document, one entry per host). The
//! verdict decides: `compromised` → compromised, `clean` → the hunt half of verification;
//! the report's patch status adds vulnerable (any family) or fixed (all families).
//!
//! A report counts from its evidence, not its arrival: `hosts[].evidence_window.to` (the newest
//! log row or event the hunt read), else the newest `coverage[].last` of older reports. A report
//! with neither is undated: it is recorded (and a compromise in it counts), but it cannot verify
//! a host, and the answer says so.
//!
//! The report is parsed from a buffered reader, never read whole: findings are folded into a
//! count and the set of high/critical rules while they stream past.

use std::collections::BTreeSet;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::{Context, FileError, Item, Observed, RowError, Target};
use crate::state::Signal;

const SCHEMA: &str = "taskforce.hunt.v1";
const EXPECTED: &str = "taskforce hunt JSON report";

#[derive(Deserialize)]
struct Report {
    schema: String,
    #[serde(default)]
    generated_at: Option<String>,
    #[serde(default)]
    hosts: Vec<HostReport>,
}

#[derive(Deserialize)]
struct HostReport {
    name: String,
    verdict: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    exchange_build: Option<String>,
    #[serde(default)]
    patch: Vec<Patch>,
    #[serde(default)]
    coverage: Vec<Coverage>,
    #[serde(default)]
    evidence_window: Option<Window>,
    #[serde(default, deserialize_with = "fold_findings")]
    findings: Findings,
    /// The accounts the attacker touched (kept with the report's row: personal data, read only
    /// through the organisation's accounts endpoint, which audits every read).
    #[serde(default)]
    accounts: Vec<serde_json::Value>,
}

#[derive(Deserialize, Serialize)]
struct Patch {
    family: String,
    status: String,
}

#[derive(Deserialize)]
struct Coverage {
    #[serde(default)]
    last: Option<String>,
}

#[derive(Deserialize, Serialize)]
struct Window {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

/// Accounts kept per host and report (a report naming more is cut, and says so).
const MAX_ACCOUNTS: usize = 1000;

/// What the service keeps of each account: the name as written, its kind, the actions, first and
/// last time, and the rules behind it (not the evidence lines).
fn accounts_kept(list: &[serde_json::Value]) -> serde_json::Value {
    let keep = |a: &serde_json::Value| {
        let rules: std::collections::BTreeSet<&str> = a
            .get("findings")
            .and_then(|f| f.as_array())
            .into_iter()
            .flatten()
            .filter_map(|f| f.get("rule").and_then(|r| r.as_str()))
            .collect();
        serde_json::json!({
            "account": a.get("account").and_then(|v| v.as_str()).unwrap_or_default(),
            "kind": a.get("kind").and_then(|v| v.as_str()).unwrap_or_default(),
            "actions": a.get("actions").cloned().unwrap_or(serde_json::Value::Array(Vec::new())),
            "first": a.get("first").cloned().unwrap_or(serde_json::Value::Null),
            "last": a.get("last").cloned().unwrap_or(serde_json::Value::Null),
            "rules": rules,
        })
    };
    let kept: Vec<serde_json::Value> = list
        .iter()
        .filter(|a| a.get("account").and_then(|v| v.as_str()).is_some_and(|s| !s.is_empty()))
        .take(MAX_ACCOUNTS)
        .map(keep)
        .collect();
    serde_json::Value::Array(kept)
}

/// What the service keeps of a host's findings: how many, and the high/critical rule ids.
#[derive(Default)]
struct Findings {
    count: u64,
    severe_rules: BTreeSet<String>,
}

#[derive(Deserialize)]
struct Finding {
    rule: String,
    #[serde(default)]
    severity: String,
}

fn fold_findings<'de, D: Deserializer<'de>>(d: D) -> Result<Findings, D::Error> {
    struct Fold;
    impl<'de> Visitor<'de> for Fold {
        type Value = Findings;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of findings")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Findings, A::Error> {
            let mut out = Findings::default();
            while let Some(f) = seq.next_element::<Finding>()? {
                out.count += 1;
                if matches!(f.severity.as_str(), "high" | "critical") {
                    out.severe_rules.insert(f.rule);
                }
            }
            Ok(out)
        }
        fn visit_unit<E>(self) -> Result<Findings, E> {
            Ok(Findings::default())
        }
    }
    d.deserialize_any(Fold)
}

/// When the evidence behind a host's verdict was made (storage form), if the report says.
fn evidence_time(host: &HostReport) -> Option<String> {
    if let Some(to) = host.evidence_window.as_ref().and_then(|w| w.to.as_deref()).and_then(crate::time::parse) {
        return Some(to);
    }
    host.coverage.iter().filter_map(|c| c.last.as_deref().and_then(crate::time::parse)).max()
}

pub fn parse(path: &Path, ctx: &Context, each: &mut dyn FnMut(Item)) -> Result<(), FileError> {
    let report = read_report(path)?;
    if report.schema != SCHEMA {
        return Err(FileError::WrongFormat {
            expected: EXPECTED,
            why: format!("schema {:?}, not {SCHEMA:?}", report.schema),
        });
    }
    if report.hosts.is_empty() {
        return Err(FileError::WrongFormat { expected: EXPECTED, why: "the report has no host".into() });
    }
    if let Some(ip) = ctx.ip
        && report.hosts.len() != 1
    {
        let names: Vec<&str> = report.hosts.iter().take(5).map(|h| h.name.as_str()).collect();
        return Err(FileError::Refused(format!(
            "the report holds {} hosts ({}{}) but one address ({ip}) was given: an address names exactly one host; \
             upload each host's report with its own address, or give none to match hosts by server name",
            report.hosts.len(),
            names.join(", "),
            if report.hosts.len() > names.len() { ", …" } else { "" }
        )));
    }
    let generated_at = report.generated_at.as_deref().and_then(crate::time::parse);
    for (index, host) in report.hosts.iter().enumerate() {
        let line = index as u64 + 1;
        let evidence_at = evidence_time(host);
        let mut signals = Vec::new();
        let mut findings = Vec::new();
        let vulnerable: Vec<&Patch> = host.patch.iter().filter(|p| p.status == "vulnerable").collect();
        if !vulnerable.is_empty() {
            signals.push(Signal::Vulnerable);
            findings.extend(vulnerable.iter().map(|p| format!("build:{}", p.family.to_ascii_lowercase())));
        } else if evidence_at.is_some() && !host.patch.is_empty() && host.patch.iter().all(|p| p.status == "fixed") {
            signals.push(Signal::FixedByReport);
        }
        match (host.verdict.as_str(), &evidence_at) {
            ("compromised", _) => signals.push(Signal::Compromised),
            ("clean", Some(_)) => signals.push(Signal::CleanHunt),
            ("clean", None) => {
                signals.push(Signal::Seen);
                each(Item::Warning(RowError {
                    line,
                    message: format!(
                        "host {:?}: the report does not say when its evidence was made (no evidence_window.to, no coverage[].last): recorded, but it cannot verify the host",
                        host.name
                    ),
                }));
            }
            _ => signals.push(Signal::Seen),
        }
        findings.extend(host.findings.severe_rules.iter().map(|r| format!("hunt:{r}")));
        let target = match ctx.ip {
            Some(ip) => Target::Ip(ip),
            None => Target::Servername(host.name.clone()),
        };
        let detail = serde_json::json!({
            "file": ctx.file_name, "host": host.name, "verdict": host.verdict, "reason": host.reason,
            "exchange_build": host.exchange_build, "patch": host.patch, "findings": host.findings.count,
            "generated_at": generated_at, "evidence_window": host.evidence_window, "evidence_at": evidence_at,
            "received_at": ctx.received_at,
            "accounts": accounts_kept(&host.accounts),
        });
        each(Item::Row(Box::new(Observed {
            line,
            target,
            // An undated report is placed at its arrival; it cannot verify (see above).
            observed_at: evidence_at.unwrap_or_else(|| ctx.received_at.clone()),
            signals,
            port: None,
            tags: Some(format!("hunt;{}", host.verdict)),
            version: host.exchange_build.clone(),
            url: None,
            hostname: None,
            servername: Some(host.name.clone()),
            asn_reported: None,
            cc_reported: None,
            findings,
            natural_key: format!("hunt|{}|{index}", ctx.sha256),
            detail: detail.to_string(),
        })));
    }
    Ok(())
}

/// Reads the report from a buffered reader: a BOM is dropped, invalid UTF-8 is named by line,
/// a cut-off document is reported as truncated.
fn read_report(path: &Path) -> Result<Report, FileError> {
    let file = std::fs::File::open(path).map_err(|e| FileError::Io(e.to_string()))?;
    let mut reader = BufReader::with_capacity(1 << 16, Utf8Check::new(file));
    skip_bom_and_check_not_empty(&mut reader)?;
    let mut de = serde_json::Deserializer::from_reader(reader);
    let report = Report::deserialize(&mut de).and_then(|r| de.end().map(|_| r));
    report.map_err(|e| {
        if e.is_io() {
            let io = std::io::Error::from(e);
            if let Some(NotUtf8At(line)) = io.get_ref().and_then(|i| i.downcast_ref::<NotUtf8At>()) {
                return FileError::NotUtf8 { line: *line };
            }
            FileError::Io(io.to_string())
        } else if e.is_eof() {
            FileError::Truncated { line: e.line() as u64 }
        } else {
            FileError::WrongFormat { expected: EXPECTED, why: format!("{e}") }
        }
    })
}

fn skip_bom_and_check_not_empty<R: BufRead>(reader: &mut R) -> Result<(), FileError> {
    let io = |e: std::io::Error| match e.get_ref().and_then(|i| i.downcast_ref::<NotUtf8At>()) {
        Some(NotUtf8At(line)) => FileError::NotUtf8 { line: *line },
        None => FileError::Io(e.to_string()),
    };
    let mut first = true;
    loop {
        let buf = reader.fill_buf().map_err(io)?;
        if buf.is_empty() {
            return Err(FileError::Empty);
        }
        let mut skip = 0;
        if first && buf.starts_with(b"\xef\xbb\xbf") {
            skip = 3;
        }
        first = false;
        let rest = &buf[skip..];
        let blank = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
        if blank < rest.len() {
            reader.consume(skip);
            return Ok(());
        }
        let n = buf.len();
        reader.consume(n);
    }
}

/// The io error payload of invalid UTF-8, with its line.
#[derive(Debug)]
struct NotUtf8At(u64);

impl fmt::Display for NotUtf8At {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "line {} is not valid UTF-8", self.0)
    }
}

impl std::error::Error for NotUtf8At {}

/// Passes bytes through unchanged while checking they are UTF-8 (a character split across two
/// reads is checked once both halves are in), counting lines for the message.
struct Utf8Check<R> {
    inner: R,
    carry: Vec<u8>,
    line: u64,
}

impl<R: Read> Utf8Check<R> {
    fn new(inner: R) -> Self {
        Utf8Check { inner, carry: Vec::with_capacity(4), line: 1 }
    }
}

impl<R: Read> Read for Utf8Check<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let bad = |line| std::io::Error::new(std::io::ErrorKind::InvalidData, NotUtf8At(line));
        if n == 0 {
            return if self.carry.is_empty() { Ok(0) } else { Err(bad(self.line)) };
        }
        let mut chunk = std::mem::take(&mut self.carry);
        chunk.extend_from_slice(&buf[..n]);
        match std::str::from_utf8(&chunk) {
            Ok(_) => self.line += memchr_count(&chunk),
            Err(e) => {
                let good = e.valid_up_to();
                self.line += memchr_count(&chunk[..good]);
                if e.error_len().is_some() {
                    return Err(bad(self.line));
                }
                self.carry = chunk[good..].to_vec();
            }
        }
        Ok(n)
    }
}

fn memchr_count(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(bytes: &[u8], ip: Option<&str>) -> Result<Vec<Item>, FileError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, bytes).unwrap();
        let ctx = Context {
            file_name: "r.json".into(),
            sha256: "x".into(),
            received_at: "2026-01-01T00:00:00Z".into(),
            ip: ip.map(|s| s.parse().unwrap()),
        };
        let mut items = Vec::new();
        parse(&path, &ctx, &mut |i| items.push(i))?;
        Ok(items)
    }

    fn host(name: &str, extra: &str) -> String {
        format!(
            r#"{{"name":"{name}","verdict":"clean","patch":[{{"family":"ProxyLogon","status":"fixed"}}]{extra},"findings":[{{"rule":"TF-1","severity":"high","evidence":"x"}},{{"rule":"TF-2","severity":"low"}}]}}"#
        )
    }

    fn rows(items: &[Item]) -> Vec<&Observed> {
        items.iter().filter_map(|i| if let Item::Row(o) = i { Some(o.as_ref()) } else { None }).collect()
    }

    #[test]
    fn evidence_time_comes_from_the_window_then_coverage() {
        let window = host(
            "A",
            r#","evidence_window":{"from":"2021-03-01T00:00:00Z","to":"2021-03-21T10:00:00+02:00"},"coverage":[{"last":"2021-04-01T00:00:00Z"}]"#,
        );
        let coverage =
            host("B", r#","coverage":[{"last":"2021-03-05T00:00:00Z"},{"last":null},{"last":"2021-03-07T00:00:00Z"}]"#);
        let doc = format!("\u{feff}{{\"schema\":\"taskforce.hunt.v1\",\"hosts\":[{window},{coverage}]}}");
        let items = parse_text(doc.as_bytes(), None).unwrap();
        let r = rows(&items);
        assert_eq!(r[0].observed_at, "2021-03-21T08:00:00Z");
        assert_eq!(r[0].signals, vec![Signal::FixedByReport, Signal::CleanHunt]);
        assert_eq!(r[0].findings, vec!["hunt:TF-1".to_string()]);
        assert_eq!(r[1].observed_at, "2021-03-07T00:00:00Z");
    }

    #[test]
    fn an_undated_clean_report_cannot_verify_and_says_so() {
        let doc = format!("{{\"schema\":\"taskforce.hunt.v1\",\"hosts\":[{}]}}", host("A", ""));
        let items = parse_text(doc.as_bytes(), None).unwrap();
        assert_eq!(rows(&items)[0].signals, vec![Signal::Seen]);
        assert_eq!(rows(&items)[0].observed_at, "2026-01-01T00:00:00Z");
        assert!(items.iter().any(|i| matches!(i, Item::Warning(w) if w.message.contains("cannot verify"))));
    }

    #[test]
    fn one_address_for_several_hosts_is_refused() {
        let doc = format!("{{\"schema\":\"taskforce.hunt.v1\",\"hosts\":[{},{}]}}", host("A", ""), host("B", ""));
        let err = parse_text(doc.as_bytes(), Some("192.0.2.1")).err().unwrap();
        assert!(matches!(&err, FileError::Refused(m) if m.contains("holds 2 hosts")), "{err}");
        assert!(parse_text(doc.as_bytes(), None).is_ok());
    }

    #[test]
    fn bad_bytes_are_named() {
        assert!(matches!(parse_text(b"  \n\t", None), Err(FileError::Empty)));
        assert!(matches!(parse_text(b"\xef\xbb\xbf\n", None), Err(FileError::Empty)));
        let doc = b"{\"schema\":\"taskforce.hunt.v1\",\n\"hosts\":[{\"name\":\"caf\xe9\"}]}";
        assert!(
            matches!(parse_text(doc, None), Err(FileError::NotUtf8 { line: 2 })),
            "{:?}",
            parse_text(doc, None).err()
        );
        assert!(matches!(
            parse_text(b"{\"schema\":\"taskforce.hunt.v1\",\"hosts\":[", None),
            Err(FileError::Truncated { .. })
        ));
        assert!(matches!(parse_text(b"[1,2]", None), Err(FileError::WrongFormat { .. })));
        assert!(matches!(
            parse_text(b"{\"schema\":\"taskforce.hunt.v1\",\"hosts\":[]} trailing", None),
            Err(FileError::WrongFormat { .. })
        ));
    }

    #[test]
    fn a_character_split_across_reads_is_fine() {
        // 64 KiB buffers: put a two-byte character across the boundary.
        let pad = "x".repeat((1 << 16) - 38);
        let doc = format!("{{\"schema\":\"taskforce.hunt.v1\",\"pad\":\"{pad}é\",\"hosts\":[{}]}}", host("A", ""));
        assert_eq!(rows(&parse_text(doc.as_bytes(), None).unwrap()).len(), 1);
        // And one byte per read.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let Some((first, rest)) = self.0.split_first() else { return Ok(0) };
                buf[0] = *first;
                self.0 = rest;
                Ok(1)
            }
        }
        let mut out = Vec::new();
        Utf8Check::new(Trickle("aé€😀\n".as_bytes())).read_to_end(&mut out).unwrap();
        assert_eq!(out, "aé€😀\n".as_bytes());
        let err = Utf8Check::new(Trickle(b"a\n\xe2\x82")).read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(err.to_string(), "line 2 is not valid UTF-8");
    }
}
