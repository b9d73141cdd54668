//! Issue 12, the hunt side: a report says when its evidence was made (rows and events, never the
//! copies' file times), names what it could not read, links a request to a written file only
//! when it came after the write, and stays bounded under a flood of scanner lines.

mod fixtures;

use std::fs::File;
use std::time::SystemTime;

use fixtures::*;
use taskforce_evidence::Evidence;
use taskforce_hunt::{Options, hunt_host};
use taskforce_report::{Severity, Verdict};
use taskforce_rules::RuleSet;

fn hunt_opts(dir: &std::path::Path, options: Options<'_>) -> taskforce_hunt::HostReport {
    let ev = Evidence::open(dir).expect("evidence opens");
    hunt_host(&ev, &RuleSet::builtin(), options)
}

/// Every file below `dir` gets the current time as its modification time, as a fresh copy has.
fn touch_all(dir: &std::path::Path) {
    for entry in walk(dir) {
        File::options().write(true).open(&entry).unwrap().set_modified(SystemTime::now()).unwrap();
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

/// A quiet server whose logs end in March 2021.
fn quiet_server(root: &std::path::Path) {
    write(
        root,
        &format!("{EXI}/Logging/HttpProxy/Owa/HttpProxy_2021030304-1.LOG"),
        &httpproxy(&[
            proxy_row("2021-03-02T08:00:00.000Z", "/owa/", "SMTP:jane@contoso.com", "10.0.0.7", "200", "Mozilla/5.0"),
            proxy_row("2021-03-04T17:30:00.000Z", "/owa/", "SMTP:jane@contoso.com", "10.0.0.7", "200", "Mozilla/5.0"),
        ]),
    );
    write(
        root,
        &format!("{EXI}/Logging/ECP/Server/ECPServer20210303-1.LOG"),
        &ecp(&["2021-03-03T09:00:00.000Z,EXCH01,ECP.Request,\"S:TIME=10;S:CMD=Get-Mailbox.Identity='x';S:RS=0\""]),
    );
    write(
        root,
        "inetpub/logs/LogFiles/W3SVC1/u_ex210303.log",
        &iis(&["2021-03-03 10:00:00 10.0.0.5 GET /owa/ - 443 - 10.0.0.7 Mozilla/5.0 - 200 0 0 15"]),
    );
}

#[test]
fn the_evidence_window_comes_from_rows_and_events_never_from_file_times() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    quiet_server(root);
    // A stock page in a web folder brings the file sweep (and its file times) in.
    write(root, "inetpub/wwwroot/aspnet_client/system_web/4_0_30319/readme.htm", "<html></html>");
    // An event log whose newest event (5 March 2021) is later than any text log row.
    let evtx = taskforce_evtx_writer::write_evtx(&[taskforce_evtx_writer::Event {
        provider: "MSExchange CmdletLogs".into(),
        event_id: 1,
        level: 4,
        channel: "MSExchange Management".into(),
        computer: "EXCH01.contoso.local".into(),
        time: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_614_945_600), // 2021-03-05T12:00:00Z
        record_id: 1,
        data: taskforce_evtx_writer::EventData::Unnamed(vec!["Get-Mailbox".into(), "".into(), "admin".into()]),
    }]);
    std::fs::create_dir_all(root.join("Windows/System32/winevt/Logs")).unwrap();
    std::fs::write(root.join("Windows/System32/winevt/Logs/MSExchange Management.evtx"), evtx).unwrap();
    // A row from a skewed clock, dated in the future, cannot stretch the window either.
    write(
        root,
        "inetpub/logs/LogFiles/W3SVC1/u_ex210304.log",
        &iis(&[
            "2021-03-04 10:00:00 10.0.0.5 GET /owa/ - 443 - 10.0.0.7 Mozilla/5.0 - 200 0 0 15",
            "2099-01-01 00:00:00 10.0.0.5 GET /owa/ - 443 - 10.0.0.7 Mozilla/5.0 - 200 0 0 15",
        ]),
    );
    touch_all(root);

    let sweep = taskforce_files::Sweep::load(&taskforce_files::SweepConfig::default()).0;
    let r = hunt_opts(root, Options { files: Some(&sweep), ..Options::default() });
    let h = &r.host;
    assert_eq!(h.verdict, Verdict::Clean, "{}", h.reason);
    assert_eq!(h.evidence_window.from.as_deref(), Some("2021-03-02T08:00:00Z"));
    assert_eq!(h.evidence_window.to.as_deref(), Some("2021-03-05T12:00:00Z"));
    assert!(h.reason.contains("from 2021-03-02T08:00:00Z to 2021-03-05T12:00:00Z"), "{}", h.reason);
    let this_year = jiff::Timestamp::now().to_string()[..4].to_string();
    assert!(!h.reason.contains(&this_year), "a file time leaked into the reason: {}", h.reason);
    let files = h.coverage.iter().find(|c| c.source == "Files").expect("the sweep ran");
    assert_eq!((files.first.as_deref(), files.last.as_deref()), (None, None), "no file times in coverage");
    for c in h.coverage.iter().filter(|c| c.source != "Files") {
        assert!(c.last.as_deref().unwrap().starts_with("2021-03"), "{c:?}");
    }
    // The window is in the JSON report under exactly these names.
    let json = serde_json::to_value(h).unwrap();
    assert_eq!(json["evidence_window"]["to"], "2021-03-05T12:00:00Z");
    assert_eq!(json["evidence_window"]["from"], "2021-03-02T08:00:00Z");
}

#[test]
fn files_that_look_like_logs_but_are_not_read_are_listed_and_named_in_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    quiet_server(root);
    write(
        root,
        "exports/Security.xml",
        "<configuration><appSettings><add key=\"a\" value=\"b\"/></appSettings></configuration>",
    );
    write(root, "exports/application.json", "{\"not\": \"an event export\"}\n");
    write(root, "exports/processes.csv", "Name,Pid\r\nw3wp.exe,4242\r\n");
    write(root, "Windows/System32/winevt/Logs/System.evtx", "this is not an event log");
    write(root, "notes", "a file without extension: not log-like, left alone");
    let r = hunt_opts(root, Options::default());
    let mut listed: Vec<(String, String)> =
        r.skipped.iter().map(|s| (s.path.rsplit('/').next().unwrap().to_string(), s.reason.clone())).collect();
    listed.sort();
    let names: Vec<&str> = listed.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(names, ["Security.xml", "System.evtx", "application.json", "processes.csv"], "{listed:#?}");
    for (path, reason) in &listed {
        let expected = if path == "System.evtx" { "not an EVTX file" } else { "not a log format taskforce reads" };
        assert!(reason.contains(expected), "{path}: {reason}");
    }
    assert_eq!(r.host.unreadable_files, 4);
    // Still clean (the logs the checks need were read), but not silently.
    assert_eq!(r.host.verdict, Verdict::Clean);
    assert!(
        r.host.reason.contains("4 file(s) that look like logs or event logs could not be read"),
        "{}",
        r.host.reason
    );
}

/// Logs where the attacker writes `written` at 04:22 and the IIS log holds `requests`.
fn write_then_requests(root: &std::path::Path, written: &str, requests: &[&str]) -> taskforce_hunt::HostReport {
    quiet_server(root);
    write(
        root,
        &format!("{EXI}/Logging/OABGeneratorLog/OABGenerator_2021030304-1.LOG"),
        &format!(
            "2021-03-03T04:22:01.123Z,12,Info,Download failed and temporary file '{written}' needs to be removed.\r\n"
        ),
    );
    write(root, "inetpub/logs/LogFiles/W3SVC2/u_ex210303.log", &iis(requests));
    hunt_opts(root, Options::default())
}

#[test]
fn a_request_is_linked_to_a_write_only_when_it_comes_after_it() {
    let written = r"C:\Program Files\Microsoft\Exchange Server\V15\FrontEnd\HttpProxy\owa\auth\Xq9.aspx";
    let before = "2021-03-03 04:10:00 10.0.0.5 POST /owa/auth/Xq9.aspx - 443 - 203.0.113.45 Mozilla/5.0 - 200 0 0 15";
    let undated = "- - 10.0.0.5 POST /owa/auth/Xq9.aspx - 443 - 203.0.113.46 Mozilla/5.0 - 200 0 0 15";
    let after = "2021-03-03 05:02:11 10.0.0.5 POST /owa/auth/Xq9.aspx - 443 - 203.0.113.47 Mozilla/5.0 - 200 0 0 15";

    let dir = tempfile::tempdir().unwrap();
    let r = write_then_requests(dir.path(), written, &[before, undated]);
    let linked: Vec<_> = r.host.findings.iter().filter(|f| f.detail.contains_key("written_by")).collect();
    assert!(linked.is_empty(), "requests before the write or without a time were linked: {linked:#?}");

    let dir = tempfile::tempdir().unwrap();
    let r = write_then_requests(dir.path(), written, &[before, undated, after]);
    let linked: Vec<_> = r.host.findings.iter().filter(|f| f.detail.contains_key("written_by")).collect();
    assert_eq!(linked.len(), 1, "{linked:#?}");
    assert_eq!(linked[0].detail["c-ip"], "203.0.113.47");
    assert_eq!(linked[0].severity, Severity::Critical);
}

#[test]
fn a_bare_file_name_match_outside_the_web_folders_is_context_only() {
    let dir = tempfile::tempdir().unwrap();
    let after = "2021-03-03 05:02:11 10.0.0.5 POST /shell.aspx - 443 - 203.0.113.47 Mozilla/5.0 - 200 0 0 15";
    let r = write_then_requests(dir.path(), r"D:\odd\place\shell.aspx", &[after]);
    let linked: Vec<_> = r.host.findings.iter().filter(|f| f.detail.contains_key("written_by")).collect();
    assert_eq!(linked.len(), 1, "{linked:#?}");
    let f = linked[0];
    assert_eq!(f.rule, "TF-COR-01");
    assert_eq!(f.detail["effect"], "none");
    assert!(f.severity <= Severity::Low, "{:?}", f.severity);
    assert!(!r.host.reason.contains("TF-COR-01"), "the name match decided the verdict: {}", r.host.reason);
}

/// Two IIS logs of `n` scanner probes each (Nessus' ProxyNotShell check), a second apart.
fn scanner_flood(root: &std::path::Path, n: usize) {
    quiet_server(root);
    for (file, day) in [("u_ex221005.log", "2022-10-05"), ("u_ex221006.log", "2022-10-06")] {
        let mut text = iis(&[]);
        for i in 0..n {
            text.push_str(&format!(
                "{day} {:02}:{:02}:{:02} 10.0.0.5 GET /autodiscover/autodiscover.json @test.com/owa/?&Email=autodiscover/autodiscover.json%3F@test.com 443 - 198.51.100.7 Nessus - 200 0 0 15\r\n",
                (i / 3600) % 24,
                (i / 60) % 60,
                i % 60
            ));
        }
        write(root, &format!("inetpub/logs/LogFiles/W3SVC1/{file}"), &text);
    }
}

#[test]
fn findings_are_capped_per_rule_and_the_rest_counted() {
    // 200,000 lines at the default cap, and a smaller flood at a cap given in the options.
    for (lines_per_file, cap, option, last) in
        [(100_000, 1000usize, None, "2022-10-06T23:59:59Z"), (500, 25, Some(25), "2022-10-06T00:08:19Z")]
    {
        let dir = tempfile::tempdir().unwrap();
        scanner_flood(dir.path(), lines_per_file);
        let r = hunt_opts(dir.path(), Options { max_findings_per_rule: option, ..Options::default() });
        let nessus: Vec<_> = r.host.findings.iter().filter(|f| f.rule == "TF-SCAN-NESSUS").collect();
        let summary: Vec<_> = nessus.iter().filter(|f| f.detail.contains_key("capped")).collect();
        assert_eq!(summary.len(), 1, "one summary finding");
        assert_eq!(nessus.len(), cap + 1, "the first {cap} kept, plus the summary");
        let capped = &summary[0].detail["capped"];
        assert_eq!(capped["omitted"], (2 * lines_per_file - cap) as u64);
        assert_eq!(capped["kept"], cap as u64);
        // The kept ones are the first in time; the omitted ones end with the last line.
        assert_eq!(capped["last"], last);
        assert!(
            nessus
                .iter()
                .filter(|f| !f.detail.contains_key("capped"))
                .all(|f| f.time.as_deref().unwrap() < "2022-10-05T01")
        );
        // Every rule is bounded, not only this one.
        let mut per_rule = std::collections::HashMap::<&str, usize>::new();
        for f in &r.host.findings {
            *per_rule.entry(f.rule.as_str()).or_default() += 1;
        }
        assert!(per_rule.values().all(|&n| n <= cap + 1), "{per_rule:?}");
        // Scanner probes stay context: the flood does not change the verdict.
        assert_eq!(r.host.verdict, Verdict::Clean, "{}", r.host.reason);
    }
}

/// `Remove-MailboxExportRequest` without confirmation (a built-in Sigma rule, context only), as
/// MSExchange Management writes it, at `secs` after the epoch.
fn export_removed(record_id: u64, secs: u64) -> taskforce_evtx_writer::Event {
    taskforce_evtx_writer::Event {
        provider: "MSExchange CmdletLogs".into(),
        event_id: 1,
        level: 4,
        channel: "MSExchange Management".into(),
        computer: "EXCH01.contoso.local".into(),
        time: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs),
        record_id,
        data: taskforce_evtx_writer::EventData::Unnamed(vec![
            "Remove-MailboxExportRequest".into(),
            format!("-Identity \"contoso.local/Users/u{record_id}\\MailboxExport\" -Confirm \"False\""),
            "contoso.local/Users/admin".into(),
        ]),
    }
}

#[test]
fn event_hits_are_capped_across_the_hosts_files_and_the_rest_counted() {
    // Three event logs (archived copies of the channel) whose events interleave in time: 40
    // hits each, 120 in all, at a cap of 7 per rule and host.
    const T0: u64 = 1_629_540_000; // 2021-08-21T10:00:00Z
    const RULE: &str = "44e4ebb4-cb71-44a7-904d-20718c86f724";
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("Windows/System32/winevt/Logs");
    std::fs::create_dir_all(&logs).unwrap();
    for file in 0..3u64 {
        let events: Vec<_> = (0..40u64).map(|k| export_removed(k + 1, T0 + (k * 3 + file) * 60)).collect();
        std::fs::write(
            logs.join(format!("Archive-MSExchange Management-{file}.evtx")),
            taskforce_evtx_writer::write_evtx(&events),
        )
        .unwrap();
    }
    let sigma = taskforce_sigma::SigmaSet::builtin();
    let hunt = |cap: usize, since: Option<jiff::Timestamp>| {
        hunt_opts(
            dir.path(),
            Options { sigma: Some(&sigma), max_findings_per_rule: Some(cap), since, ..Options::default() },
        )
        .host
    };
    let host = hunt(7, None);
    let of_rule: Vec<_> = host.findings.iter().filter(|f| f.rule == RULE).collect();
    let (summary, kept): (Vec<&taskforce_report::Finding>, Vec<_>) =
        of_rule.iter().copied().partition(|f| f.detail.contains_key("capped"));
    assert_eq!(kept.len(), 7, "{of_rule:#?}");
    assert_eq!(summary.len(), 1, "one summary finding");
    let capped = &summary[0].detail["capped"];
    assert_eq!(capped["omitted"], 113, "120 hits, 7 listed: the other 113 are counted");
    assert_eq!(capped["kept"], 7);
    assert_eq!(capped["cap"], 7);
    // The kept ones are the first seven minutes, whichever file they are in; the omitted ones
    // run from the eighth to the last.
    let times: Vec<&str> = kept.iter().map(|f| f.time.as_deref().unwrap()).collect();
    assert_eq!(times.first(), Some(&"2021-08-21T10:00:00Z"));
    assert_eq!(times.last(), Some(&"2021-08-21T10:06:00Z"));
    assert_eq!(kept.iter().map(|f| f.source.as_str()).collect::<std::collections::BTreeSet<_>>().len(), 3);
    assert_eq!(capped["first"], "2021-08-21T10:07:00Z");
    assert_eq!(capped["last"], "2021-08-21T11:59:00Z");
    assert!(summary[0].title.contains("113 more hits"), "{}", summary[0].title);
    // Below the cap nothing is counted; a time window is applied before the cap, so the hits it
    // leaves out neither take a place nor are counted.
    let all = hunt(1000, None);
    assert_eq!(all.findings.iter().filter(|f| f.rule == RULE).count(), 120);
    let since = "2021-08-21T11:00:00Z".parse().unwrap();
    let windowed = hunt(7, Some(since));
    let summary = windowed.findings.iter().find(|f| f.rule == RULE && f.detail.contains_key("capped")).unwrap();
    assert_eq!(summary.detail["capped"]["omitted"], 60 - 7, "60 hits from 11:00 on, 7 listed");
    assert_eq!(summary.detail["capped"]["first"], "2021-08-21T11:07:00Z");
}

#[test]
fn a_time_window_is_applied_to_text_log_hits_before_the_cap() {
    // 500 scanner probes a file on 5 and 6 October: at a cap of 25, with `--since` the 6th, the
    // listed probes are the first 25 of the 6th, not hits of the 5th dropped later by the window.
    let dir = tempfile::tempdir().unwrap();
    scanner_flood(dir.path(), 500);
    let since: jiff::Timestamp = "2022-10-06T00:00:00Z".parse().unwrap();
    let r =
        hunt_opts(dir.path(), Options { max_findings_per_rule: Some(25), since: Some(since), ..Options::default() });
    let nessus: Vec<_> = r.host.findings.iter().filter(|f| f.rule == "TF-SCAN-NESSUS").collect();
    let (summary, kept): (Vec<&taskforce_report::Finding>, Vec<_>) =
        nessus.iter().copied().partition(|f| f.detail.contains_key("capped"));
    assert_eq!(kept.len(), 25, "{nessus:#?}");
    assert!(kept.iter().all(|f| f.time.as_deref().unwrap() >= "2022-10-06"), "{kept:#?}");
    assert_eq!(summary.len(), 1);
    let capped = &summary[0].detail["capped"];
    assert_eq!(capped["omitted"], 500 - 25, "only the 6th's probes are counted");
    assert_eq!(capped["last"], "2022-10-06T00:08:19Z");
}
