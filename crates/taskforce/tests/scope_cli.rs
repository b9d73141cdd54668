//! The options responders reach for: a time window, an allowlist of their own scanners, a
//! severity floor for the output, and every rule listed (also as JSON).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/exch01-compromised")
}

fn hunt(args: &[&str]) -> (i32, Value, String) {
    let out = Command::cargo_bin("taskforce")
        .unwrap()
        .args(["hunt", "--quiet", "-f", "json"])
        .args(args)
        .arg(sample())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap(), v, stderr)
}

fn findings(v: &Value) -> &Vec<Value> {
    v["hosts"][0]["findings"].as_array().unwrap()
}

#[test]
fn allowlisted_addresses_are_context_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let (_, all, _) = hunt(&[]);
    let attacker = "203.0.113.45";
    let from_attacker = findings(&all)
        .iter()
        .filter(|f| f["detail"]["ClientIpAddress"] == attacker || f["detail"]["c-ip"] == attacker)
        .count();
    assert!(from_attacker > 0);
    let list = dir.path().join("allow.txt");
    std::fs::write(&list, format!("# the organisation's own scanner\n{attacker}\n")).unwrap();
    let (_, v, _) = hunt(&["--allowlist", list.to_str().unwrap()]);
    let marked: Vec<&Value> = findings(&v).iter().filter(|f| f["detail"]["allowlisted"].is_string()).collect();
    assert!(marked.len() >= from_attacker, "{} of {from_attacker}", marked.len());
    for f in &marked {
        assert_eq!(f["detail"]["effect"], "none");
        assert!(matches!(f["severity"].as_str(), Some("info" | "low")), "{f}");
        assert!(f["title"].as_str().unwrap().starts_with("Allowlisted address: "));
    }
    std::fs::write(&list, "192.0.2.1\nnot an address\n").unwrap();
    let (code, _, stderr) = hunt(&["--allowlist", list.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("allow.txt:2"), "the bad line is named: {stderr}");
}

#[test]
fn time_window_and_severity_floor() {
    let (_, all, _) = hunt(&[]);
    let (_, late, _) = hunt(&["--since", "2021-03-04"]);
    assert!(findings(&late).len() < findings(&all).len());
    assert!(findings(&late).iter().all(|f| f["time"].as_str().is_none_or(|t| t >= "2021-03-04")));
    let (_, early, _) = hunt(&["--until", "2021-03-03T12:00:00Z"]);
    assert!(findings(&early).iter().all(|f| f["time"].as_str().is_none_or(|t| t <= "2021-03-03T12:00:00Z")));
    let (_, high, _) = hunt(&["--severity-min", "high"]);
    assert!(!findings(&high).is_empty());
    assert!(findings(&high).iter().all(|f| matches!(f["severity"].as_str(), Some("high" | "critical"))));
    assert_eq!(high["hosts"][0]["verdict"], all["hosts"][0]["verdict"], "the floor filters the output only");
    let (code, _, stderr) = hunt(&["--since", "last tuesday"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--since"), "{stderr}");
}

#[test]
fn rules_list_has_every_rule_also_as_json() {
    let out = Command::cargo_bin("taskforce").unwrap().args(["rules", "list", "--format", "json"]).output().unwrap();
    let rules: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(rules.iter().any(|r| r["kind"] == "line" && r["id"] == "TF-PL-01"));
    assert!(rules.iter().any(|r| r["kind"] == "sigma" && r["source"] == "windows/msexchange-management"));
    for r in &rules {
        for key in ["id", "source", "severity", "stage", "cves"] {
            assert!(!r[key].is_null(), "{key} in {r}");
        }
    }
}
