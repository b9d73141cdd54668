//! STIX 2.1 bundle of a hunt: an `identity` for the producer, per attacked server an `incident`
//! (its verdict and reason), and an `indicator` with a STIX pattern for every attacker address,
//! web shell and file hash found, each linked to its incident by a `relationship`.
//!
//! Ids: deterministic UUIDv5 for the producer (the same identity across reports), UUIDv4 for
//! the rest, as the specification recommends for domain objects.

use std::io::{self, Write};

use serde_json::{Value, json};

use crate::indicators::{Indicator, IndicatorKind, indicators};
use crate::model::{Report, Verdict};
use crate::time::{report_time, stix_time, stix_time_of};

/// RFC 4122 namespace under which the producer's identity id is derived.
const TASKFORCE_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6f1e_4d2a_8c4b_4e7a_9a31_5b7c_2d8e_1f40);

fn id(kind: &str) -> String {
    format!("{kind}--{}", uuid::Uuid::new_v4())
}

/// A STIX pattern string literal: backslashes and single quotes escaped.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn pattern(i: &Indicator) -> String {
    match i.kind {
        IndicatorKind::Address if i.value.contains(':') => format!("[ipv6-addr:value = {}]", literal(&i.value)),
        IndicatorKind::Address => format!("[ipv4-addr:value = {}]", literal(&i.value)),
        IndicatorKind::WebShellPath => format!("[file:name = {}]", literal(i.file_name())),
        IndicatorKind::Sha256 => format!("[file:hashes.'SHA-256' = {}]", literal(&i.value)),
        IndicatorKind::Sha1 => format!("[file:hashes.'SHA-1' = {}]", literal(&i.value)),
        IndicatorKind::Md5 => format!("[file:hashes.MD5 = {}]", literal(&i.value)),
    }
}

fn describe(i: &Indicator, host: &str) -> (String, String) {
    let rules = i.rules.join(", ");
    match i.kind {
        IndicatorKind::Address => (
            format!("Address that attacked Exchange server {host}: {}", i.value),
            format!("Sent exploitation requests to {host} (rules {rules})."),
        ),
        IndicatorKind::WebShellPath => (
            format!("Web shell on Exchange server {host}: {}", i.file_name()),
            format!("Attacker-written page {} on {host} (rules {rules}).", i.value),
        ),
        _ => (
            format!("Malicious file on Exchange server {host}"),
            format!("File hash {} found on {host} (rules {rules}).", i.value),
        ),
    }
}

/// The bundle as a JSON value.
pub fn bundle(report: &Report) -> Value {
    let now = stix_time_of(report_time(report));
    let producer = format!("identity--{}", uuid::Uuid::new_v5(&TASKFORCE_NAMESPACE, b"taskforce"));
    let mut objects = vec![json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": producer,
        "created": "2021-03-02T00:00:00.000Z",
        "modified": "2021-03-02T00:00:00.000Z",
        "name": "taskforce",
        "description": "Compromise assessment of on-premises Microsoft Exchange servers (taskforce hunt).",
        "identity_class": "system",
    })];
    for host in report.hosts.iter().filter(|h| matches!(h.verdict, Verdict::Compromised | Verdict::Attempted)) {
        let incident = id("incident");
        objects.push(json!({
            "type": "incident",
            "spec_version": "2.1",
            "id": incident,
            "created": now,
            "modified": now,
            "created_by_ref": producer,
            "name": format!("Exchange server {}: {}", host.name, host.verdict),
            "description": host.reason,
            "labels": [host.verdict.to_string()],
            "external_references": host.findings.iter()
                .flat_map(|f| f.cves.iter())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .map(|cve| json!({"source_name": "cve", "external_id": cve}))
                .collect::<Vec<_>>(),
        }));
        for i in indicators(host) {
            let (name, description) = describe(&i, &host.name);
            let valid_from = i.first.as_deref().and_then(stix_time).unwrap_or_else(|| now.clone());
            let indicator = id("indicator");
            let mut obj = json!({
                "type": "indicator",
                "spec_version": "2.1",
                "id": indicator,
                "created": now,
                "modified": now,
                "created_by_ref": producer,
                "name": name,
                "description": description,
                "indicator_types": ["malicious-activity"],
                "pattern": pattern(&i),
                "pattern_type": "stix",
                "pattern_version": "2.1",
                "valid_from": valid_from,
            });
            if let Some(last) = i.last.as_deref().and_then(stix_time).filter(|l| *l > valid_from) {
                obj["valid_until"] = Value::String(last);
            }
            objects.push(obj);
            objects.push(json!({
                "type": "relationship",
                "spec_version": "2.1",
                "id": id("relationship"),
                "created": now,
                "modified": now,
                "created_by_ref": producer,
                "relationship_type": "related-to",
                "source_ref": indicator,
                "target_ref": incident,
            }));
        }
    }
    json!({"type": "bundle", "id": id("bundle"), "objects": objects})
}

pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &bundle(report))?;
    writeln!(out)
}
