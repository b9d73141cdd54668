//! `taskforce hunt` reports (`taskforce.hunt.v1`, one JSON document, one entry per host). The
//! verdict decides: `compromised` → compromised, `clean` → the hunt half of verification;
//! the report's patch status adds vulnerable (any family) or fixed (all families).

use std::path::Path;

use serde::Deserialize;

use super::{Context, FileError, Item, Observed, Target};
use crate::state::Signal;

const SCHEMA: &str = "taskforce.hunt.v1";
const EXPECTED: &str = "taskforce hunt JSON report";

#[derive(Deserialize)]
struct Report {
    schema: String,
    #[serde(default)]
    hosts: Vec<HostReport>,
}

#[derive(Deserialize, serde::Serialize)]
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
    findings: Vec<Finding>,
}

#[derive(Deserialize, serde::Serialize)]
struct Patch {
    family: String,
    status: String,
}

#[derive(Deserialize, serde::Serialize)]
struct Finding {
    rule: String,
    #[serde(default)]
    severity: String,
}

pub fn parse(path: &Path, ctx: &Context, each: &mut dyn FnMut(Item)) -> Result<(), FileError> {
    let bytes = std::fs::read(path).map_err(|e| FileError::Io(e.to_string()))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(FileError::Empty);
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() as u64 + 1;
        FileError::NotUtf8 { line }
    })?;
    let text = text.trim_start_matches('\u{feff}');
    let report: Report = serde_json::from_str(text).map_err(|e| {
        if e.is_eof() {
            FileError::Truncated { line: e.line() as u64 }
        } else {
            FileError::WrongFormat { expected: EXPECTED, why: format!("{e}") }
        }
    })?;
    if report.schema != SCHEMA {
        return Err(FileError::WrongFormat {
            expected: EXPECTED,
            why: format!("schema {:?}, not {SCHEMA:?}", report.schema),
        });
    }
    if report.hosts.is_empty() {
        return Err(FileError::WrongFormat { expected: EXPECTED, why: "the report has no host".into() });
    }
    for (index, host) in report.hosts.iter().enumerate() {
        let mut signals = Vec::new();
        let mut findings = Vec::new();
        let vulnerable: Vec<&Patch> = host.patch.iter().filter(|p| p.status == "vulnerable").collect();
        if !vulnerable.is_empty() {
            signals.push(Signal::Vulnerable);
            findings.extend(vulnerable.iter().map(|p| format!("build:{}", p.family.to_ascii_lowercase())));
        } else if !host.patch.is_empty() && host.patch.iter().all(|p| p.status == "fixed") {
            signals.push(Signal::FixedByReport);
        }
        match host.verdict.as_str() {
            "compromised" => signals.push(Signal::Compromised),
            "clean" => signals.push(Signal::CleanHunt),
            _ => signals.push(Signal::Seen),
        }
        let mut rules: Vec<&str> = host
            .findings
            .iter()
            .filter(|f| matches!(f.severity.as_str(), "high" | "critical"))
            .map(|f| f.rule.as_str())
            .collect();
        rules.sort_unstable();
        rules.dedup();
        findings.extend(rules.iter().map(|r| format!("hunt:{r}")));
        let target = match ctx.ip {
            Some(ip) => Target::Ip(ip),
            None => Target::Servername(host.name.clone()),
        };
        let detail = serde_json::json!({
            "file": ctx.file_name, "host": host.name, "verdict": host.verdict, "reason": host.reason,
            "exchange_build": host.exchange_build, "patch": host.patch, "findings": host.findings.len(),
        });
        each(Item::Row(Box::new(Observed {
            line: index as u64 + 1,
            target,
            observed_at: ctx.received_at.clone(),
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
