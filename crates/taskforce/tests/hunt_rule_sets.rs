//! A hunt that could not do what was asked says so: missing or broken rule paths stop the run
//! (exit 2) unless `--allow-rule-errors`, and the report records the rule sets it used.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;
use taskforce_samples::{Layout, SampleSpec, Scenario};

fn taskforce() -> Command {
    Command::cargo_bin("taskforce").unwrap()
}

fn clean_sample(dir: &Path) -> PathBuf {
    let out = dir.join("exch01");
    let spec = SampleSpec {
        scenario: Scenario::Clean,
        layout: Layout::ExchangeTree,
        host: "EXCH01".into(),
        seed: 3,
        benign_lines_per_file: 20,
        days: 1,
        zip: false,
    };
    taskforce_samples::generate(&spec, &out).unwrap();
    out
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_missing_rule_path_stops_the_run_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let ev = clean_sample(dir.path());
    let missing = dir.path().join("no-such-folder");
    for flag in ["--rules", "--sigma", "--yara", "--iocs"] {
        let out = taskforce().args(["hunt", "-q", "-f", "json", flag]).arg(&missing).arg(&ev).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(&format!("{}: does not exist", missing.display())), "{flag}: {err}");
        assert!(err.contains("--allow-rule-errors"), "{err}");
        assert!(out.stdout.is_empty(), "no report for a run that did not happen");

        let out = taskforce()
            .args(["hunt", "-f", "json", "--allow-rule-errors", flag])
            .arg(&missing)
            .arg(&ev)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{flag}: {}", stderr(&out));
        assert!(stderr(&out).contains("warning: going on without"), "{}", stderr(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let kind = flag.trim_start_matches("--").replace("rules", "hunt");
        let set = v["rule_sets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["path"] == missing.display().to_string())
            .unwrap_or_else(|| panic!("{flag}: no rule_sets entry: {}", v["rule_sets"]));
        assert_eq!(set["kind"], kind.as_str());
        assert_eq!(set["loaded"], 0);
    }
}

#[test]
fn a_broken_rule_file_stops_the_run_and_rule_sets_count_and_hash_what_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let ev = clean_sample(dir.path());
    let rules = dir.path().join("my-rules");
    std::fs::create_dir_all(&rules).unwrap();
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/hunt/IIS/TF-SCAN-NESSUS.yml"))
            .unwrap();
    std::fs::write(rules.join("good.yml"), shipped.replace("id: TF-SCAN-NESSUS", "id: MY-NESSUS")).unwrap();
    std::fs::write(rules.join("broken.yml"), "id: MY-BROKEN\ndetection: [unclosed\n").unwrap();

    let out = taskforce().args(["hunt", "-q", "--rules"]).arg(&rules).arg(&ev).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("broken.yml") && err.contains("invalid rule YAML"), "{err}");

    let out = taskforce()
        .args(["hunt", "-q", "-f", "json", "--allow-rule-errors", "--rules"])
        .arg(&rules)
        .arg(&ev)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let sets = v["rule_sets"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> =
        sets.iter().map(|s| (s["kind"].as_str().unwrap(), s["path"].as_str().unwrap())).collect();
    let mine = rules.display().to_string();
    for expected in [("hunt", "builtin"), ("sigma", "builtin"), ("names", "builtin"), ("hunt", mine.as_str())] {
        assert!(kinds.contains(&expected), "{expected:?} missing from {kinds:?}");
    }
    let user = sets.iter().find(|s| s["path"] == mine.as_str()).unwrap();
    assert_eq!((user["loaded"].as_u64(), user["skipped"].as_u64()), (Some(1), Some(1)), "{user}");
    for s in sets {
        let sha = s["sha256"].as_str().unwrap();
        assert!(sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()), "{s}");
    }
    let builtin_hunt = sets.iter().find(|s| s["kind"] == "hunt" && s["path"] == "builtin").unwrap();
    assert!(builtin_hunt["loaded"].as_u64().unwrap() >= 30, "{builtin_hunt}");

    // The hash follows the content: change the good rule and it changes.
    let before = user["sha256"].clone();
    std::fs::write(rules.join("good.yml"), shipped.replace("id: TF-SCAN-NESSUS", "id: MY-NESSUS-2")).unwrap();
    let out = taskforce()
        .args(["hunt", "-q", "-f", "json", "--allow-rule-errors", "--rules"])
        .arg(&rules)
        .arg(&ev)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let after =
        v["rule_sets"].as_array().unwrap().iter().find(|s| s["path"] == mine.as_str()).unwrap()["sha256"].clone();
    assert_ne!(before, after);

    // The table says it in one line, with the evidence window.
    let out = taskforce()
        .args(["hunt", "-q", "--color", "never", "--allow-rule-errors", "--rules"])
        .arg(&rules)
        .arg(&ev)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("hunt {mine} (1, 1 skipped)")), "{text}");
    assert!(text.contains("Rule sets: hunt builtin ("), "{text}");
    assert!(text.contains("  Window     "), "{text}");
}

#[test]
fn the_findings_cap_is_an_option() {
    let dir = tempfile::tempdir().unwrap();
    let ev = clean_sample(dir.path());
    let out = taskforce().args(["hunt", "-q", "--max-findings-per-rule", "0"]).arg(&ev).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "0 is refused: {}", stderr(&out));
    let out = taskforce().args(["hunt", "-q", "-f", "json", "--max-findings-per-rule", "5"]).arg(&ev).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
