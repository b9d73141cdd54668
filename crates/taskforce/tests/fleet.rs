//! A fleet run (`taskforce hunt DIR/*`): the streamable formats write one host at a time — one
//! CSV header, one `host` line per server in order, the `skipped` lines and the totals at the end
//! — and the exit code still reflects every server.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn fleet(dir: &Path, copies: usize) -> Vec<PathBuf> {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples");
    let mut out = Vec::new();
    for i in 0..copies {
        for name in ["exch03-clean", "exch01-compromised"] {
            let to = dir.join(format!("{i:02}-{name}"));
            copy_dir(&samples.join(name), &to);
            out.push(to);
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn hunt(format: &str, evidence: &[PathBuf]) -> (i32, String) {
    let out = Command::cargo_bin("taskforce")
        .unwrap()
        .args(["hunt", "--quiet", "-f", format])
        .args(evidence)
        .output()
        .unwrap();
    (out.status.code().unwrap(), String::from_utf8(out.stdout).unwrap())
}

#[test]
fn streamed_formats_write_each_server_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = fleet(dir.path(), 3);

    let (code, jsonl) = hunt("jsonl", &evidence);
    assert_eq!(code, 1, "compromised servers in the fleet");
    let lines: Vec<serde_json::Value> = jsonl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let hosts: Vec<&str> =
        lines.iter().filter(|l| l["type"] == "host").map(|l| l["evidence"].as_str().unwrap()).collect();
    assert_eq!(hosts.len(), 6);
    for (h, e) in hosts.iter().zip(&evidence) {
        assert!(h.ends_with(e.file_name().unwrap().to_str().unwrap()), "{h} in order");
    }
    assert!(lines.iter().filter(|l| l["type"] == "host").all(|l| l["generated_at"].is_string()));
    let first_skipped = lines.iter().position(|l| l["type"] == "skipped");
    let last_host = lines.iter().rposition(|l| l["type"] == "host").unwrap();
    assert!(first_skipped.is_none_or(|s| s > last_host), "skipped lines come after the hosts");

    let (_, csv) = hunt("csv", &evidence);
    assert_eq!(csv.lines().filter(|l| l.starts_with("host,")).count(), 1, "one header");
    assert!(csv.lines().count() > 6 * 10);

    let (_, table) = hunt("table", &evidence);
    assert!(
        table.contains("6 host(s): 3 compromised, 0 attempted, 3 clean, 0 inconclusive."),
        "{}",
        &table[table.len().saturating_sub(400)..]
    );
}
