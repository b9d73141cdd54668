//! `taskforce probe` results (`taskforce.probe.v1` JSON lines): a vulnerable family →
//! vulnerable, every family fixed → patched (and the probe half of verification), an Exchange
//! server with an undecided build → exposed; unreachable or non-Exchange answers carry no state.

use std::path::Path;

use serde_json::{Map, Value};

use super::{FileError, Item, Observed, RowError, Target, for_each_json_line, nonempty};
use crate::state::Signal;

const SCHEMA: &str = "taskforce.probe.v1";

pub fn parse(path: &Path, each: &mut dyn FnMut(Item)) -> Result<(), FileError> {
    let mut good = 0u64;
    for_each_json_line(
        path,
        "taskforce probe JSON lines",
        |line, map| {
            let schema = map.get("schema").and_then(Value::as_str).unwrap_or("");
            if schema != SCHEMA {
                if good == 0 {
                    return Err(FileError::WrongFormat {
                        expected: "taskforce probe JSON lines",
                        why: format!("line {line} has schema {schema:?}, not {SCHEMA:?}"),
                    });
                }
                return Ok(Item::Bad(RowError { line, message: format!("schema {schema:?}, not {SCHEMA:?}") }));
            }
            good += 1;
            Ok(result(line, &map))
        },
        each,
    )
}

fn result(line: u64, map: &Map<String, Value>) -> Item {
    let bad = |message: String| Item::Bad(RowError { line, message });
    let Some(address) = map.get("address").and_then(Value::as_str) else {
        return bad("no address (the name did not resolve)".into());
    };
    let Ok(ip) = address.parse::<std::net::IpAddr>() else { return bad(format!("bad address {address:?}")) };
    let Some(observed_at) = map.get("time").and_then(Value::as_str).and_then(crate::time::parse) else {
        return bad("no readable time".into());
    };
    let port = map.get("port").and_then(Value::as_i64);
    let exchange = map.get("exchange").and_then(Value::as_bool).unwrap_or(false);
    let reachable = map.get("reachable").and_then(Value::as_bool).unwrap_or(false);
    let patch = map.get("patch").and_then(Value::as_array).cloned().unwrap_or_default();
    let status_of = |p: &Value| p.get("status").and_then(Value::as_str).unwrap_or("unknown").to_string();
    let vulnerable: Vec<String> = patch
        .iter()
        .filter(|p| status_of(p) == "vulnerable")
        .filter_map(|p| p.get("family").and_then(Value::as_str))
        .map(|f| format!("build:{}", f.to_ascii_lowercase()))
        .collect();
    let all_fixed = !patch.is_empty() && patch.iter().all(|p| status_of(p) == "fixed");
    let signal = if !reachable || !exchange {
        Signal::None
    } else if !vulnerable.is_empty() {
        Signal::Vulnerable
    } else if all_fixed {
        Signal::FixedByProbe
    } else {
        Signal::Seen
    };
    let mut detail = map.clone();
    detail.remove("tls"); // certificates are large; the fingerprint is enough here
    if let Some(tls) = map.get("tls").and_then(|t| t.get("sha256")) {
        detail.insert("tls_sha256".into(), tls.clone());
    }
    let target = map.get("target").and_then(Value::as_str).unwrap_or("");
    Item::Row(Box::new(Observed {
        line,
        target: Target::Ip(ip),
        natural_key: format!("probe|{ip}|{}|{observed_at}", port.unwrap_or(0)),
        observed_at,
        signals: vec![signal],
        port,
        tags: None,
        version: map.get("build").and_then(Value::as_str).and_then(nonempty),
        url: None,
        hostname: (target != address).then(|| nonempty(target)).flatten(),
        servername: None,
        asn_reported: None,
        cc_reported: None,
        findings: vulnerable,
        detail: Value::Object(detail).to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn run(text: &str) -> Result<Vec<Item>, FileError> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        let mut all = Vec::new();
        parse(f.path(), &mut |i| all.push(i))?;
        Ok(all)
    }

    fn line(address: &str, exchange: bool, statuses: &[&str]) -> String {
        let patch: Vec<Value> =
            statuses.iter().map(|s| serde_json::json!({"family": "ProxyLogon", "status": s})).collect();
        serde_json::json!({"schema": SCHEMA, "time": "2026-11-26T05:44:40Z", "target": address, "address": address,
            "port": 443, "reachable": true, "exchange": exchange, "build": "15.1.2176.9", "patch": patch})
        .to_string()
            + "\n"
    }

    #[test]
    fn signals_from_patch_status() {
        let text = line("192.0.2.1", true, &["vulnerable"])
            + &line("192.0.2.2", true, &["fixed", "fixed"])
            + &line("192.0.2.3", true, &["unknown"])
            + &line("192.0.2.4", false, &[]);
        let rows: Vec<Signal> = run(&text)
            .unwrap()
            .into_iter()
            .map(|i| match i {
                Item::Row(o) => o.signals[0],
                Item::Bad(b) | Item::Warning(b) => panic!("{b:?}"),
            })
            .collect();
        assert_eq!(rows, vec![Signal::Vulnerable, Signal::FixedByProbe, Signal::Seen, Signal::None]);
    }

    #[test]
    fn another_schema_is_the_wrong_format() {
        assert!(matches!(run("{\"schema\":\"taskforce.hunt.v1\"}\n"), Err(FileError::WrongFormat { .. })));
    }
}
