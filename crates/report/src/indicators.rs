//! The indicators a host's findings name — attacker addresses, web shell paths, file hashes —
//! gathered once for the sharing formats (STIX, MISP) and the HTML report.
//!
//! Only findings that count against the host give indicators: an address seen in a scanner's
//! probe (effect `none`, stage `scan`) is context, not something to block or share.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::Value;

use crate::model::{Finding, Host, Stage};

/// What kind of thing an indicator is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IndicatorKind {
    /// An address that sent attack requests.
    Address,
    /// A web shell or attacker-written page, as a path on the server (Windows or evidence path).
    WebShellPath,
    Sha256,
    Sha1,
    Md5,
}

/// One indicator, with when it was seen and the rules that named it.
#[derive(Debug, Clone)]
pub struct Indicator {
    pub kind: IndicatorKind,
    pub value: String,
    pub first: Option<String>,
    pub last: Option<String>,
    pub rules: Vec<String>,
}

impl Indicator {
    /// The file name part of a path indicator (`supp0rt.aspx`).
    pub fn file_name(&self) -> &str {
        self.value.rsplit(['\\', '/']).next().unwrap_or(&self.value)
    }
}

/// True when the finding counts against its host (not a scanner probe or other context).
pub fn is_attack(f: &Finding) -> bool {
    if f.stage == Stage::Scan {
        return false;
    }
    match f.detail.get("effect").and_then(Value::as_str) {
        Some("none") => false,
        Some(_) => true,
        None => f.severity >= crate::model::Severity::Medium,
    }
}

/// The host's indicators, sorted by kind then value, each once.
pub fn indicators(host: &Host) -> Vec<Indicator> {
    let mut seen: BTreeMap<(IndicatorKind, String), Indicator> = BTreeMap::new();
    let mut add = |kind: IndicatorKind, value: &str, f: &Finding, time: Option<&str>| {
        let value = value.trim();
        if value.is_empty() || value == "-" {
            return;
        }
        let value = match kind {
            IndicatorKind::Sha256 | IndicatorKind::Sha1 | IndicatorKind::Md5 => value.to_ascii_lowercase(),
            _ => value.to_string(),
        };
        let entry = seen.entry((kind, value.clone())).or_insert_with(|| Indicator {
            kind,
            value,
            first: None,
            last: None,
            rules: Vec::new(),
        });
        if let Some(t) = time {
            if entry.first.as_deref().is_none_or(|x| t < x) {
                entry.first = Some(t.to_string());
            }
            if entry.last.as_deref().is_none_or(|x| t > x) {
                entry.last = Some(t.to_string());
            }
        }
        if !entry.rules.contains(&f.rule) {
            entry.rules.push(f.rule.clone());
        }
    };
    for f in host.findings.iter().filter(|f| is_attack(f)) {
        let time = f.time.as_deref();
        for key in ["ClientIpAddress", "c-ip"] {
            if let Some(ip) = f.detail.get(key).and_then(Value::as_str).and_then(attacker_address) {
                add(IndicatorKind::Address, &ip.to_string(), f, time);
            }
        }
        if let Some(p) = f.detail.get("written_path").and_then(Value::as_str) {
            add(IndicatorKind::WebShellPath, p, f, time);
        }
        file_hit(&f.detail, f, time, &mut add);
        if let Some(on_disk) = f.detail.get("on_disk").and_then(Value::as_array) {
            for hit in on_disk.iter().filter_map(Value::as_object) {
                let when = hit.get("modified").and_then(Value::as_str).or(time);
                file_hit(hit, f, when, &mut add);
            }
        }
        if f.stage == Stage::Webshell
            && let Some(p) = f.detail.get("path").and_then(Value::as_str)
        {
            add(IndicatorKind::WebShellPath, p, f, time);
        }
    }
    seen.into_values().collect()
}

/// Hashes and the path of a file hit (a file-sweep finding's detail or an `on_disk` entry).
fn file_hit(
    d: &serde_json::Map<String, Value>,
    f: &Finding,
    time: Option<&str>,
    add: &mut impl FnMut(IndicatorKind, &str, &Finding, Option<&str>),
) {
    for (key, kind) in [("sha256", IndicatorKind::Sha256), ("sha1", IndicatorKind::Sha1), ("md5", IndicatorKind::Md5)] {
        if let Some(h) = d.get(key).and_then(Value::as_str).filter(|h| is_hex(h, kind)) {
            add(kind, h, f, time);
        }
    }
    if d.contains_key("sha256")
        && let Some(p) = d.get("path").and_then(Value::as_str)
        && is_script_page(p)
    {
        add(IndicatorKind::WebShellPath, p, f, time);
    }
}

fn is_hex(h: &str, kind: IndicatorKind) -> bool {
    let len = match kind {
        IndicatorKind::Sha256 => 64,
        IndicatorKind::Sha1 => 40,
        _ => 32,
    };
    h.len() == len && h.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_script_page(p: &str) -> bool {
    let lower = p.to_ascii_lowercase();
    [".aspx", ".ashx", ".asmx", ".asp", ".svc", ".php", ".jsp"].iter().any(|e| lower.ends_with(e))
}

/// An address worth sharing: parsed (a port or brackets removed), not loopback, unspecified or
/// link-local (those name the server itself or nothing).
pub fn attacker_address(raw: &str) -> Option<IpAddr> {
    let t = raw.trim().trim_start_matches('[');
    let ip: IpAddr = t
        .parse()
        .ok()
        .or_else(|| t.split(']').next().and_then(|s| s.parse().ok()))
        .or_else(|| t.rsplit_once(':').and_then(|(a, _)| a.parse().ok()))?;
    let useless = ip.is_loopback()
        || ip.is_unspecified()
        || match ip {
            IpAddr::V4(v4) => v4.is_link_local() || v4.is_broadcast(),
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        };
    (!useless).then_some(ip)
}
