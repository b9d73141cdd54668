//! IntelMQ events: one flat JSON object per line (`source.ip`, `time.source`,
//! `classification.*`, `extra.*`). `system-compromise` or a web-shell identifier → compromised;
//! the `vulnerable` taxonomy or a CVE tag → vulnerable; anything else → exposed.

use std::path::Path;

use serde_json::{Map, Value};

use super::{FileError, Item, Observed, RowError, Target, build_signal, for_each_json_line, nonempty};
use crate::state::Signal;

fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::String(s) => nonempty(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int(map: &Map<String, Value>, key: &str) -> Option<i64> {
    match map.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub fn parse(path: &Path, each: &mut dyn FnMut(Item)) -> Result<(), FileError> {
    for_each_json_line(path, "IntelMQ JSON lines", |line, map| Ok(event(line, &map)), each)
}

fn event(line: u64, map: &Map<String, Value>) -> Item {
    let bad = |message: String| Item::Bad(RowError { line, message });
    if map.get("__type").and_then(Value::as_str).is_some_and(|t| t != "Event") {
        return bad("an IntelMQ report, not an event".into());
    }
    let Some(ip_text) = text(map, "source.ip") else { return bad("no source.ip".into()) };
    let Ok(ip) = ip_text.parse::<std::net::IpAddr>() else { return bad(format!("bad source.ip {ip_text:?}")) };
    let time = text(map, "time.source").or_else(|| text(map, "time.observation"));
    let Some(observed_at) = time.as_deref().and_then(crate::time::parse) else {
        return bad("no readable time.source or time.observation".into());
    };
    let taxonomy = text(map, "classification.taxonomy").unwrap_or_default().to_ascii_lowercase();
    let ctype = text(map, "classification.type").unwrap_or_default().to_ascii_lowercase();
    let ident = text(map, "classification.identifier").unwrap_or_default().to_ascii_lowercase();
    let tag = text(map, "extra.tag").unwrap_or_default().to_ascii_lowercase();
    let version = text(map, "extra.version");
    let url = text(map, "destination.url").or_else(|| text(map, "source.url"));
    let mut signals = Vec::new();
    let mut findings = Vec::new();
    if ctype == "system-compromise" || ident.contains("webshell") || tag.contains("webshell") {
        signals.push(Signal::Compromised);
        let path = url.as_deref().map(url_path).unwrap_or("unknown");
        findings.push(format!("webshell:{path}"));
    }
    let cves: Vec<&str> = tag.split(';').map(str::trim).filter(|t| t.starts_with("cve-")).collect();
    if !cves.is_empty() {
        signals.insert(0, Signal::Vulnerable);
        findings.extend(cves.iter().map(|c| format!("vulnerable:{c}")));
    } else if taxonomy == "vulnerable" || ctype == "vulnerable-system" {
        signals.insert(0, Signal::Vulnerable);
        findings.push(format!("vulnerable:{}", if ident.is_empty() { "unspecified" } else { &ident }));
    } else if let Some((signal, build_findings)) = build_signal(version.as_deref()) {
        signals.insert(0, signal);
        findings.extend(build_findings);
    }
    if signals.is_empty() {
        signals.push(Signal::Seen);
    }
    let port = int(map, "source.port").filter(|p| (0..=65535).contains(p));
    let feed = text(map, "feed.name").unwrap_or_default();
    let natural_key = format!("intelmq|{feed}|{ip}|{}|{ident}|{tag}|{}", port.unwrap_or(0), &observed_at[..10]);
    Item::Row(Box::new(Observed {
        line,
        target: Target::Ip(ip),
        observed_at,
        signals,
        port,
        tags: nonempty(&tag).or_else(|| nonempty(&ident)),
        version,
        url,
        hostname: text(map, "source.reverse_dns").or_else(|| text(map, "source.fqdn")),
        servername: text(map, "extra.servername"),
        asn_reported: int(map, "source.asn").filter(|a| *a > 0),
        cc_reported: text(map, "source.geolocation.cc"),
        findings,
        natural_key,
        detail: Value::Object(map.clone()).to_string(),
    }))
}

/// `/aspnet_client/x.aspx` from `https://host/aspnet_client/x.aspx`.
fn url_path(url: &str) -> &str {
    match url.find("://") {
        Some(i) => url[i + 3..].find('/').map(|j| &url[i + 3 + j..]).unwrap_or("/"),
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn run(text: &str) -> Result<(Vec<Observed>, Vec<RowError>), FileError> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        parse(f.path(), &mut |item| match item {
            Item::Row(o) => ok.push(*o),
            Item::Bad(b) | Item::Warning(b) => bad.push(b),
        })?;
        Ok((ok, bad))
    }

    #[test]
    fn classifies_events() {
        let (ok, bad) = run(concat!(
            r#"{"__type":"Event","source.ip":"198.51.100.77","time.source":"2021-03-15T02:14:09+00:00","classification.taxonomy":"intrusions","classification.type":"system-compromise","classification.identifier":"exchange-server-webshell","destination.url":"https://198.51.100.77/aspnet_client/system_web/a1.aspx","source.asn":64497}"#,
            "\n",
            r#"{"source.ip":"192.0.2.10","time.source":"2021-03-15T02:14:07+00:00","classification.taxonomy":"vulnerable","classification.type":"vulnerable-system","extra.tag":"exchange;cve-2021-26855"}"#,
            "\n[1,2]\n",
            r#"{"source.ip":"nope","time.source":"2021-03-15T02:14:07+00:00"}"#,
            "\n"
        ))
        .unwrap();
        assert_eq!(ok[0].signals, vec![Signal::Compromised]);
        assert_eq!(ok[0].findings, vec!["webshell:/aspnet_client/system_web/a1.aspx"]);
        assert_eq!(ok[1].signals, vec![Signal::Vulnerable]);
        assert_eq!(ok[1].findings, vec!["vulnerable:cve-2021-26855"]);
        assert_eq!(bad.iter().map(|b| b.line).collect::<Vec<_>>(), vec![3, 4]);
    }

    #[test]
    fn file_level_errors() {
        assert!(matches!(run("ip,tag\n1,2\n"), Err(FileError::WrongFormat { .. })));
        assert!(matches!(
            run("{\"source.ip\":\"192.0.2.1\",\"time.source\":\"2021-03-15\"}\n{\"source.ip\":\"192.0"),
            Err(FileError::Truncated { line: 2 })
        ));
    }
}
