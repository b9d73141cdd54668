//! Timesketch JSONL: one line per finding and per timeline event (the evidence window's ends,
//! files the attacker left and their modification times), with the three fields Timesketch's
//! importer requires (`message`, `datetime`, `timestamp_desc`) plus `timestamp` in microseconds
//! and the finding's own fields, so a sketch can filter by host, rule, stage or severity.
//!
//! A finding without a time has no place on a timeline: it is left out here (and counted in the
//! host's `evidence_window` line); the JSON report keeps it.

use std::io::{self, Write};

use serde_json::{Map, Value, json};

use crate::model::{Finding, Host, Report};
use crate::time::{micros, stix_time};

fn line(out: &mut dyn Write, v: &Value) -> io::Result<()> {
    serde_json::to_writer(&mut *out, v)?;
    writeln!(out)
}

fn base(host: &Host, time: &str, desc: &str, message: String) -> Option<Map<String, Value>> {
    let datetime = stix_time(time)?;
    let mut m = Map::new();
    m.insert("message".into(), message.into());
    m.insert("datetime".into(), datetime.into());
    m.insert("timestamp".into(), micros(time)?.into());
    m.insert("timestamp_desc".into(), desc.into());
    m.insert("host".into(), host.name.clone().into());
    m.insert("verdict".into(), host.verdict.to_string().into());
    m.insert("data_type".into(), "taskforce:hunt".into());
    Some(m)
}

fn finding_line(host: &Host, f: &Finding) -> Option<Value> {
    let time = f.time.as_deref()?;
    let mut m = base(host, time, "Event Recorded", format!("[{}] {} {}: {}", f.severity, f.rule, f.title, f.excerpt))?;
    m.insert("data_type".into(), "taskforce:hunt:finding".into());
    m.insert("rule".into(), f.rule.clone().into());
    m.insert("title".into(), f.title.clone().into());
    m.insert("severity".into(), f.severity.to_string().into());
    m.insert("stage".into(), f.stage.to_string().into());
    m.insert("cves".into(), f.cves.join(",").into());
    m.insert("source".into(), f.source.clone().into());
    if let Some(l) = f.line {
        m.insert("line".into(), l.into());
    }
    m.insert("excerpt".into(), f.excerpt.clone().into());
    for key in ["ClientIpAddress", "c-ip", "written_path", "effect"] {
        if let Some(v) = f.detail.get(key).and_then(Value::as_str) {
            m.insert(key.replace('-', "_").to_ascii_lowercase(), v.into());
        }
    }
    m.insert("tag".into(), json!(["taskforce", f.stage.to_string(), f.severity.to_string()]));
    Some(Value::Object(m))
}

pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    for host in &report.hosts {
        for f in &host.findings {
            if let Some(v) = finding_line(host, f) {
                line(out, &v)?;
            }
            // Files the attacker left, at their modification time.
            for hit in f.detail.get("on_disk").and_then(Value::as_array).into_iter().flatten() {
                let (Some(path), Some(modified)) =
                    (hit.get("path").and_then(Value::as_str), hit.get("modified").and_then(Value::as_str))
                else {
                    continue;
                };
                let message = format!("File on disk: {path} ({})", f.rule);
                if let Some(mut m) = base(host, modified, "Content Modification Time", message) {
                    m.insert("data_type".into(), "taskforce:hunt:file".into());
                    m.insert("path".into(), path.into());
                    m.insert("rule".into(), f.rule.clone().into());
                    if let Some(h) = hit.get("sha256").and_then(Value::as_str) {
                        m.insert("sha256".into(), h.into());
                    }
                    line(out, &Value::Object(m))?;
                }
            }
        }
        for c in &host.coverage {
            for (t, desc, what) in [(&c.first, "First Log Entry", "first"), (&c.last, "Last Log Entry", "last")] {
                let Some(t) = t.as_deref() else { continue };
                let message = format!("{} log coverage: {what} entry read ({} file(s))", c.source, c.files);
                if let Some(mut m) = base(host, t, desc, message) {
                    m.insert("data_type".into(), "taskforce:hunt:coverage".into());
                    m.insert("source".into(), c.source.clone().into());
                    line(out, &Value::Object(m))?;
                }
            }
        }
    }
    Ok(())
}
