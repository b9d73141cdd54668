//! A MISP event (the JSON PyMISP and MISP's import take): one event for the hunt, with an
//! attribute per indicator — `ip-src` (Network activity), `filename` (Artifacts dropped, the web
//! shells), `sha256`/`sha1`/`md5` (Artifacts dropped) — each commented with its server and the
//! rules that found it, and tags for TLP and the CVEs seen.

use std::collections::BTreeSet;
use std::io::{self, Write};

use serde_json::{Value, json};

use crate::indicators::{IndicatorKind, indicators};
use crate::model::{Report, Verdict};
use crate::time::{report_time, stix_time, stix_time_of};

pub fn event(report: &Report) -> Value {
    let now = stix_time_of(report_time(report));
    let attacked: Vec<_> =
        report.hosts.iter().filter(|h| matches!(h.verdict, Verdict::Compromised | Verdict::Attempted)).collect();
    let mut attributes = Vec::new();
    let mut cves = BTreeSet::new();
    let mut first_day: Option<String> = None;
    for host in &attacked {
        cves.extend(host.findings.iter().flat_map(|f| f.cves.iter().cloned()));
        for i in indicators(host) {
            let (kind, category) = match i.kind {
                IndicatorKind::Address => ("ip-src", "Network activity"),
                IndicatorKind::WebShellPath => ("filename", "Artifacts dropped"),
                IndicatorKind::Sha256 => ("sha256", "Artifacts dropped"),
                IndicatorKind::Sha1 => ("sha1", "Artifacts dropped"),
                IndicatorKind::Md5 => ("md5", "Artifacts dropped"),
            };
            let mut a = json!({
                "uuid": uuid::Uuid::new_v4().to_string(),
                "type": kind,
                "category": category,
                "value": i.value,
                "to_ids": true,
                "distribution": "5",
                "comment": format!("{} ({}): {}", host.name, host.verdict, i.rules.join(", ")),
            });
            if let Some(first) = i.first.as_deref().and_then(stix_time) {
                let day: String = first.chars().take(10).collect();
                if first_day.as_deref().is_none_or(|d| day.as_str() < d) {
                    first_day = Some(day);
                }
                a["first_seen"] = Value::String(first);
            }
            if let Some(last) = i.last.as_deref().and_then(stix_time) {
                a["last_seen"] = Value::String(last);
            }
            attributes.push(a);
        }
    }
    let names: Vec<String> = attacked.iter().map(|h| format!("{} ({})", h.name, h.verdict)).collect();
    let info = if names.is_empty() {
        format!("taskforce hunt of {} Exchange server(s): nothing attacked", report.hosts.len())
    } else {
        format!("Exchange server compromise assessment (taskforce hunt): {}", names.join(", "))
    };
    let mut tags = vec![json!({"name": "tlp:amber"})];
    tags.extend(cves.iter().map(|c| json!({"name": format!("cve:{c}")})));
    let compromised = attacked.iter().any(|h| h.verdict == Verdict::Compromised);
    json!({"Event": {
        "uuid": uuid::Uuid::new_v4().to_string(),
        "info": info,
        "date": first_day.unwrap_or_else(|| now.chars().take(10).collect()),
        // 1 high (a server was compromised), 2 medium (attacks without success).
        "threat_level_id": if compromised { "1" } else { "2" },
        // 2: analysis complete (the hunt's verdict).
        "analysis": "2",
        // 0: this organisation only, until the analyst chooses to share.
        "distribution": "0",
        "published": false,
        "timestamp": report_time(report).as_second().to_string(),
        "Attribute": attributes,
        "Tag": tags,
    }})
}

pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &event(report))?;
    writeln!(out)
}
