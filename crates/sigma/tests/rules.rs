//! The built-in Sigma rules against their own fixtures (as JSON lines and as real .evtx files),
//! and the SigmaHQ corpus loading test.

use std::path::{Path, PathBuf};

use taskforce_events::{WinEvent, read_evtx, read_jsonl};
use taskforce_evtx_writer::{Event as WriterEvent, EventData, write_evtx};
use taskforce_sigma::SigmaSet;

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/sigma")
}

fn fixture_events(path: &Path) -> Vec<WinEvent> {
    let mut events = Vec::new();
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let out = read_jsonl(&text[..], &mut |e| events.push(e));
    assert!(out.damage.is_empty(), "{}: {:?}", path.display(), out.damage);
    events
}

/// The same events, written to a real EVTX file and read back through the evtx crate.
fn through_evtx(events: &[WinEvent]) -> Vec<WinEvent> {
    let written: Vec<WriterEvent> = events
        .iter()
        .enumerate()
        .map(|(i, e)| WriterEvent {
            provider: e.provider.clone(),
            event_id: e.event_id,
            level: if e.level == 0 { 4 } else { e.level },
            channel: e.channel.clone(),
            computer: e.computer.clone(),
            time: std::time::UNIX_EPOCH
                + std::time::Duration::from_secs(e.time.map(|t| t.as_second().max(0) as u64).unwrap_or(1_614_556_800)),
            record_id: i as u64 + 1,
            data: if e.unnamed.is_empty() {
                EventData::Named(e.named.clone())
            } else {
                EventData::Unnamed(e.unnamed.clone())
            },
        })
        .collect();
    let bytes = write_evtx(&written);
    let mut back = Vec::new();
    let out = read_evtx(std::io::Cursor::new(bytes), 1, &mut |e| back.push(e)).unwrap();
    assert!(out.damage.is_empty(), "{:?}", out.damage);
    assert_eq!(back.len(), events.len());
    back
}

fn rule_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rule_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yml") {
            out.push(path);
        }
    }
}

#[test]
fn builtin_rules_fire_on_their_fixtures_in_json_and_in_evtx() {
    let builtin = SigmaSet::builtin();
    assert!(builtin.skipped.is_empty(), "{:#?}", builtin.skipped);
    let mut files = Vec::new();
    rule_files(&rules_dir(), &mut files);
    assert!(!files.is_empty());
    assert_eq!(files.len(), builtin.len(), "one rule per file");
    let mut checked = 0;
    for file in files {
        let one = SigmaSet::load(false, std::slice::from_ref(&file));
        assert_eq!(one.len(), 1, "{}: {:?}", file.display(), one.skipped);
        let title = &one.rules()[0].title;
        for (suffix, should_match) in [("match.jsonl", true), ("nomatch.jsonl", false)] {
            let fixture = file.with_extension(suffix);
            let events = fixture_events(&fixture);
            assert!(!events.is_empty(), "{} has no events", fixture.display());
            for (form, list) in [("json", events.clone()), ("evtx", through_evtx(&events))] {
                for (i, e) in list.iter().enumerate() {
                    let hit = !one.evaluate_event(e).is_empty();
                    assert_eq!(
                        hit,
                        should_match,
                        "{title} ({}) on {} event {} via {form}: {e:?}",
                        file.display(),
                        fixture.display(),
                        i + 1
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 0);
}

/// SigmaHQ loads as is; the Windows and web rules at least 98 %.
#[test]
fn sigmahq_corpus_loads() {
    let Some(corpus) = taskforce_corpus::dir("sigmahq_corpus_loads") else { return };
    for (folder, min_share, min_rules) in [
        ("sigma/rules/windows", 0.98, 2000),
        ("sigma/rules/web", 0.98, 40),
        ("sigma/rules-emerging-threats", 0.98, 300),
    ] {
        let set = SigmaSet::load(false, &[corpus.join(folder)]);
        let loaded = set.len() as f64;
        let total =
            loaded + set.skipped.iter().filter(|s| s.rule.is_some() || s.reason.contains("Sigma")).count() as f64;
        eprintln!("{folder}: {} files, {} rules loaded, {} skipped", set.files, set.len(), set.skipped.len());
        for s in set.skipped.iter().take(10) {
            eprintln!("  skipped {} {:?}: {}", s.path, s.rule, s.reason);
        }
        assert!(loaded / total.max(1.0) >= min_share, "{folder}: {loaded}/{total}");
        assert!(set.len() >= min_rules, "{folder}: only {} rules", set.len());
    }
}

/// SigmaHQ's own MSExchange rules fire on a mailbox export to a web folder, read from a real
/// EVTX file in the unnamed-data layout of the corpus sample.
#[test]
fn sigmahq_msexchange_rule_on_unnamed_data() {
    let Some(corpus) = taskforce_corpus::dir("sigmahq_msexchange_rule_on_unnamed_data") else { return };
    let set = SigmaSet::load(false, &[corpus.join("sigma/rules/windows/builtin/msexchange")]);
    assert!(set.len() >= 3, "{:?}", set.skipped);
    let event = WinEvent {
        channel: "MSExchange Management".into(),
        provider: "MSExchange CmdletLogs".into(),
        event_id: 1,
        level: 4,
        computer: "EXCH01.contoso.local".into(),
        unnamed: vec![
            "New-MailboxExportRequest".into(),
            r#"-Mailbox "admin@contoso.com" -FilePath "\\127.0.0.1\C$\inetpub\wwwroot\aspnet_client\x.aspx""#.into(),
        ],
        ..WinEvent::default()
    };
    let back = through_evtx(std::slice::from_ref(&event));
    let hits = set.evaluate_event(&back[0]);
    assert!(!hits.is_empty(), "no SigmaHQ msexchange rule fired on {back:?}");
}

/// Every real EVTX of the corpus reads without a crash; the damaged ones report the damage and
/// still give events.
#[test]
fn corpus_evtx_files_read_damage_reported() {
    let Some(corpus) = taskforce_corpus::dir("corpus_evtx_files_read_damage_reported") else { return };
    let mut total = 0;
    for dir in ["evtx", "evtx-attack-samples"] {
        for entry in std::fs::read_dir(corpus.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "evtx") {
                continue;
            }
            let mut n = 0;
            let out = read_evtx(std::fs::File::open(&path).unwrap(), 1, &mut |_| n += 1).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.contains("bad_chunk") || name.contains("zero-data") {
                assert!(!out.damage.is_empty(), "{name}: damage not reported");
            }
            assert!(n > 0, "{name}: no events");
            total += n;
        }
    }
    assert!(total > 1000);
}

/// Web rules see IIS values as written and URL-decoded, and `cs-uri-query` also as `stem?query`.
#[test]
fn webserver_rules_over_w3c_lines() {
    use taskforce_logs::{Format, Record};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("w.yml"),
        "title: decoded\nid: 6a0f8f4e-0b7e-4f3a-8c51-2b1c6d9e0a11\nlevel: high\nlogsource: {category: webserver}\ndetection:\n  a:\n    cs-uri-query|contains: 'cmd /c whoami'\n  b:\n    cs-uri-query|contains: '/owa/auth/x.js?'\n  c:\n    cs-user-agent|contains: 'python-requests'\n  condition: a and b and c\n",
    )
    .unwrap();
    let set = SigmaSet::load(false, &[dir.path().to_path_buf()]);
    assert!(set.has_webserver_rules());
    let columns: Vec<String> =
        ["date", "time", "cs-method", "cs-uri-stem", "cs-uri-query", "cs(user-agent)", "sc-status"]
            .map(String::from)
            .to_vec();
    let line = b"2021-03-03 04:00:00 GET /owa/auth/x.js q=cmd%20/c%20whoami python-requests/2.25.1 200";
    let mut spans = Vec::new();
    let record = Record::parse(line, 1, Format::W3c, &mut spans);
    assert_eq!(set.evaluate_web(&columns, &record).len(), 1);
    let line = b"2021-03-03 04:00:00 GET /owa/auth/x.js q=dir python-requests/2.25.1 200";
    let record = Record::parse(line, 2, Format::W3c, &mut spans);
    assert!(set.evaluate_web(&columns, &record).is_empty());
}

/// Each rule is compiled at load, so one that cannot be is listed whatever the evidence holds;
/// then a log source's rules are compiled again, into their own engine, only when an event of
/// that log source arrives (SigmaHQ's thousands of rules cost memory only for the sources seen).
#[test]
fn rules_are_checked_at_load_and_compiled_per_log_source_on_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let rule = |n: u8, name: &str, logsource: &str, detection: &str| {
        let text = format!(
            "title: {name}\nid: 00000000-0000-4000-8000-00000000000{n}\nlogsource: {logsource}\ndetection:\n{detection}\n  condition: sel\nlevel: high\n"
        );
        std::fs::write(dir.path().join(format!("{name}.yml")), text).unwrap();
    };
    rule(1, "whoami", "{product: windows, category: process_creation}", "  sel:\n    CommandLine|contains: whoami");
    rule(2, "logon4", "{product: windows, service: security}", "  sel:\n    EventID: 4625");
    rule(3, "broken-regex", "{product: windows, category: driver_load}", "  sel:\n    ImageLoaded|re: 'a(b'");
    let set = SigmaSet::load(false, &[dir.path().to_path_buf()]);
    assert_eq!(set.len(), 2, "{:?}", set.skipped);
    assert!(
        set.skipped.iter().any(|s| s.rule.as_deref() == Some("broken-regex") && s.reason.contains("cannot compile")),
        "a rule for a log source no event has is still reported: {:?}",
        set.skipped
    );
    assert_eq!(set.compiled_groups(), (0, 2), "nothing compiled before an event arrives");

    let event = |channel: &str, id: u32, named: &[(&str, &str)]| WinEvent {
        channel: channel.into(),
        event_id: id,
        named: named.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Default::default()
    };
    let system = event("System", 7045, &[("ServiceName", "x")]);
    assert!(set.evaluate_event(&system).is_empty());
    assert_eq!(set.compiled_groups(), (0, 2), "no rule reads System events");
    let sysmon = event("Microsoft-Windows-Sysmon/Operational", 1, &[("CommandLine", "cmd /c whoami /all")]);
    let hits = set.evaluate_event(&sysmon);
    assert_eq!(hits.iter().map(|h| h.rule.title.as_str()).collect::<Vec<_>>(), ["whoami"]);
    assert_eq!(set.compiled_groups(), (1, 2));
    let security = event("Security", 4625, &[("TargetUserName", "admin")]);
    assert_eq!(set.evaluate_event(&security).iter().map(|h| h.rule.title.as_str()).collect::<Vec<_>>(), ["logon4"]);
    assert_eq!(set.compiled_groups(), (2, 2));
    // A second look uses the compiled engines (same answers).
    assert_eq!(set.evaluate_event(&sysmon).len(), 1);
    assert!(set.evaluate_event(&event("Security", 4624, &[])).is_empty());
}
