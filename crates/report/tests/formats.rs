//! The people and sharing formats on a hand-made report: indicators (only from findings that
//! count against the host), STIX patterns, MISP attributes, Timesketch's required fields, and
//! HTML that escapes every log-derived string and loads nothing from anywhere.

use serde_json::{Map, Value, json};
use taskforce_report::indicators::{IndicatorKind, indicators};
use taskforce_report::{
    ALL_SESSIONS, Account, AccountAction, AccountEvidence, Coverage, Finding, Host, OutputFormat, Patch, Report,
    Severity, Skipped, Stage, Verdict, render,
};

fn finding(rule: &str, severity: Severity, stage: Stage, time: &str, detail: Value) -> Finding {
    let Value::Object(detail) = detail else { panic!() };
    Finding {
        rule: rule.into(),
        title: format!("title of {rule} <b>bold</b>"),
        severity,
        stage,
        cves: vec!["CVE-2021-26855".into()],
        time: (!time.is_empty()).then(|| time.into()),
        source: "Logging/HttpProxy/Ecp/HttpProxy_2021030300-1.LOG".into(),
        line: Some(28),
        excerpt: "GET /owa/auth/x.js <script>alert(1)</script> \u{1b}[31m".into(),
        detail,
    }
}

fn account(name: &str, kind: &str, actions: &[AccountAction]) -> Account {
    Account {
        account: name.into(),
        kind: kind.into(),
        actions: actions.to_vec(),
        first: Some("2021-08-21T10:03:00Z".into()),
        last: Some("2021-08-21T10:05:00Z".into()),
        findings: vec![AccountEvidence {
            rule: "TF-PS-02".into(),
            action: actions[0],
            source: "inetpub/logs/LogFiles/W3SVC1/u_ex210821.log".into(),
            line: Some(7),
            time: Some("2021-08-21T10:03:00Z".into()),
        }],
        note: format!("note for {name}"),
    }
}

fn report() -> Report {
    let hostile = Host {
        name: "EXCH01<script>alert('host')</script>".into(),
        evidence: "cases/EXCH01.zip".into(),
        verdict: Verdict::Compromised,
        reason: "A web shell was written & requested by 203.0.113.45 <img src=x onerror=alert(1)>.".into(),
        exchange_build: Some("15.1.2176.2".into()),
        patch: vec![Patch {
            family: "ProxyLogon".into(),
            cves: vec!["CVE-2021-26855".into()],
            status: "vulnerable".into(),
            fixed_in: Some("15.1.2176.9".into()),
        }],
        coverage: vec![Coverage {
            source: "HttpProxy".into(),
            files: 3,
            first: Some("2021-03-03T00:00:00Z".into()),
            last: Some("2021-03-04T23:00:00Z".into()),
        }],
        findings: vec![
            finding(
                "TF-PL-01",
                Severity::Critical,
                Stage::Exploit,
                "2021-03-03T04:21:21.42Z",
                json!({"ClientIpAddress": "203.0.113.45", "effect": "compromised"}),
            ),
            finding(
                "TF-PL-06",
                Severity::Critical,
                Stage::Persistence,
                "2021-03-03T04:22:00Z",
                json!({"written_path": "C:\\inetpub\\wwwroot\\aspnet_client\\it's.aspx", "effect": "compromised",
                       "on_disk": [{"rule": "TF-FS-02", "path": "inetpub/wwwroot/aspnet_client/it's.aspx",
                                    "modified": "2021-03-03T04:22:01Z",
                                    "sha256": "371A76EDB9E497F58BF8E75CF23CD8CD026DC1BB95DB665447B7C8D553826A49"}]}),
            ),
            finding(
                "TF-SCAN-NMAP",
                Severity::Info,
                Stage::Scan,
                "2021-03-02T10:00:00Z",
                json!({"ClientIpAddress": "198.51.100.7", "effect": "none"}),
            ),
            finding(
                "TF-PL-03",
                Severity::High,
                Stage::Exploit,
                "2021-03-03T05:00:00Z",
                json!({"c-ip": "127.0.0.1", "effect": "attempted"}),
            ),
            finding(
                "TF-PL-02",
                Severity::High,
                Stage::Exploit,
                "2021-03-03T05:01:00Z",
                json!({"c-ip": "2001:db8::66", "effect": "attempted"}),
            ),
            finding("TF-NOTIME", Severity::Medium, Stage::Execution, "", json!({"effect": "attempted"})),
        ],
        accounts: vec![
            account(ALL_SESSIONS, "all_sessions", &[AccountAction::CredentialsExposed]),
            account(
                "administrator@contoso.com",
                "address",
                &[AccountAction::UsedByAttacker, AccountAction::RoleGranted],
            ),
            account("=HYPERLINK(\"x\")<b>", "name", &[AccountAction::MailboxExported]),
        ],
        evidence_window: Default::default(),
        unreadable_files: 0,
    };
    let clean = Host {
        name: "EXCH03".into(),
        evidence: "cases/EXCH03".into(),
        verdict: Verdict::Clean,
        reason: "Nothing found in logs from 2021-03-01 to 2021-03-05.".into(),
        exchange_build: None,
        patch: vec![],
        coverage: vec![],
        findings: vec![],
        accounts: vec![],
        evidence_window: Default::default(),
        unreadable_files: 0,
    };
    let mut r = Report::new(
        vec![clean, hostile],
        vec![Skipped { path: "Logging/<bad>.log".into(), reason: "truncated & <odd>".into() }],
    );
    r.generated_at = Some("2026-12-02T03:00:00Z".into());
    r
}

fn rendered(format: OutputFormat) -> String {
    let mut out = Vec::new();
    render(&report(), format, false, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn indicators_come_only_from_findings_that_count() {
    let r = report();
    let iocs = indicators(&r.hosts[1]);
    let values: Vec<(IndicatorKind, &str)> = iocs.iter().map(|i| (i.kind, i.value.as_str())).collect();
    assert!(values.contains(&(IndicatorKind::Address, "203.0.113.45")));
    assert!(values.contains(&(IndicatorKind::Address, "2001:db8::66")));
    assert!(!values.iter().any(|(_, v)| *v == "198.51.100.7"), "a scanner probe is context, not an indicator");
    assert!(!values.iter().any(|(_, v)| *v == "127.0.0.1"), "loopback names the server itself");
    assert!(values.contains(&(IndicatorKind::WebShellPath, "C:\\inetpub\\wwwroot\\aspnet_client\\it's.aspx")));
    assert!(values.contains(&(IndicatorKind::WebShellPath, "inetpub/wwwroot/aspnet_client/it's.aspx")));
    assert!(
        values.contains(&(IndicatorKind::Sha256, "371a76edb9e497f58bf8e75cf23cd8cd026dc1bb95db665447b7c8d553826a49"))
    );
    assert!(indicators(&r.hosts[0]).is_empty());
}

#[test]
fn stix_bundle_shape_and_patterns() {
    let v: Value = serde_json::from_str(&rendered(OutputFormat::Stix)).unwrap();
    assert_eq!(v["type"], "bundle");
    let objects = v["objects"].as_array().unwrap();
    let of = |t: &str| objects.iter().filter(|o| o["type"] == t).collect::<Vec<_>>();
    assert_eq!(of("identity").len(), 1);
    assert_eq!(of("incident").len(), 1, "only the attacked server");
    let indicators = of("indicator");
    let patterns: Vec<&str> = indicators.iter().map(|i| i["pattern"].as_str().unwrap()).collect();
    assert!(patterns.contains(&"[ipv4-addr:value = '203.0.113.45']"), "{patterns:?}");
    assert!(patterns.contains(&"[ipv6-addr:value = '2001:db8::66']"), "{patterns:?}");
    assert!(patterns.contains(&"[file:name = 'it\\'s.aspx']"), "quotes escaped: {patterns:?}");
    assert!(patterns.iter().any(|p| p.starts_with("[file:hashes.'SHA-256' = '371a76ed")));
    assert_eq!(of("relationship").len(), indicators.len());
    for o in objects {
        if o["type"] != "bundle" {
            assert_eq!(o["spec_version"], "2.1");
        }
        let id = o["id"].as_str().unwrap();
        assert!(id.starts_with(&format!("{}--", o["type"].as_str().unwrap())), "{id}");
    }
    let first = indicators.iter().find(|i| i["pattern"] == "[ipv4-addr:value = '203.0.113.45']").unwrap();
    assert_eq!(first["valid_from"], "2021-03-03T04:21:21.420Z");
}

#[test]
fn misp_event_attributes() {
    let v: Value = serde_json::from_str(&rendered(OutputFormat::Misp)).unwrap();
    let e = &v["Event"];
    assert_eq!(e["threat_level_id"], "1");
    assert_eq!(e["date"], "2021-03-03");
    let attrs = e["Attribute"].as_array().unwrap();
    let find = |t: &str, val: &str| attrs.iter().find(|a| a["type"] == t && a["value"] == val);
    assert_eq!(find("ip-src", "203.0.113.45").unwrap()["category"], "Network activity");
    assert!(find("sha256", "371a76edb9e497f58bf8e75cf23cd8cd026dc1bb95db665447b7c8d553826a49").is_some());
    assert!(find("filename", "C:\\inetpub\\wwwroot\\aspnet_client\\it's.aspx").is_some());
    assert!(find("ip-src", "198.51.100.7").is_none());
    assert!(e["Tag"].as_array().unwrap().iter().any(|t| t["name"] == "cve:CVE-2021-26855"));
}

#[test]
fn timesketch_lines_have_the_importers_required_fields() {
    let text = rendered(OutputFormat::Timesketch);
    let lines: Vec<Map<String, Value>> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // 5 timed findings + 1 file on disk + 2 coverage ends; the finding without a time has no place.
    assert_eq!(lines.len(), 8, "{text}");
    for l in &lines {
        for key in ["message", "datetime", "timestamp_desc"] {
            assert!(l.get(key).and_then(Value::as_str).is_some_and(|s| !s.is_empty()), "{key} in {l:?}");
        }
        assert!(l["timestamp"].as_i64().unwrap() > 1_600_000_000_000_000);
        assert!(l["datetime"].as_str().unwrap().ends_with('Z'));
    }
    assert!(lines.iter().any(|l| l["rule"] == "TF-PL-01" && l["clientipaddress"] == "203.0.113.45"));
    assert!(lines.iter().any(|l| l["timestamp_desc"] == "Content Modification Time"));
}

#[test]
fn html_escapes_everything_and_loads_nothing() {
    let html = rendered(OutputFormat::Html);
    assert!(html.starts_with("<!DOCTYPE html>"));
    // The only markup is ours: no script element, no event handler from the data.
    assert!(!html.to_ascii_lowercase().contains("<script"), "raw script tag in the page");
    assert!(!html.contains("<img"), "raw img tag in the page");
    assert!(html.contains("EXCH01&lt;script&gt;alert(&#39;host&#39;)&lt;/script&gt;"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains("title of TF-PL-01 &lt;b&gt;bold&lt;/b&gt;"));
    assert!(!html.contains('\u{1b}'), "control characters from logs are replaced");
    // Nothing outside the file: no tag of the page names a source, a stylesheet or a remote link
    // (data cannot make tags: every `<` from the logs is escaped).
    for tag in html.split('<').skip(1).map(|t| t.split('>').next().unwrap_or("").to_ascii_lowercase()) {
        for needle in [" src=", "url(", "@import", "href=\"http", "href=\"//"] {
            assert!(!tag.contains(needle), "{needle} in <{tag}>");
        }
        assert!(!tag.starts_with("link") && !tag.starts_with("script") && !tag.starts_with("iframe"), "<{tag}>");
        if tag.contains("http://") {
            assert!(tag.starts_with("svg xmlns=\"http://www.w3.org/2000/svg\""), "<{tag}>");
        }
    }
    assert!(!html.contains("url("));
    assert!(html.contains("default-src 'none'"));
    // Worst first: the compromised server before the clean one in the fleet summary.
    let fleet = &html[html.find("id=\"fleet\"").unwrap()..];
    assert!(fleet.find("EXCH01&lt;").unwrap() < fleet.find("EXCH03").unwrap());
    assert!(html.contains("<svg"), "timeline drawn");
    assert!(html.contains("truncated &amp; &lt;odd&gt;"));
    assert!(html.contains("fixed in 15.1.2176.9"));
}

#[test]
fn accounts_in_the_table_html_and_csv() {
    let table = rendered(OutputFormat::Table);
    assert!(table.contains("Accounts the attacker touched (3)"), "{table}");
    assert!(table.contains("(every account with a session)"));
    assert!(table.contains("used_by_attacker, role_granted"));
    assert!(table.contains("Reset the passwords and revoke the sessions of: administrator@contoso.com"), "{table}");
    assert!(table.contains("Tell the owners of these mailboxes"), "{table}");
    assert!(table.contains("every account that had a session"), "{table}");
    let html = rendered(OutputFormat::Html);
    assert!(html.contains("Accounts the attacker touched (3)"));
    assert!(html.contains("=HYPERLINK(&quot;x&quot;)&lt;b&gt;"), "escaped in the page");
    let csv = rendered(OutputFormat::AccountsCsv);
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let headers = rows.headers().unwrap().clone();
    assert_eq!(&headers[1], "account");
    let rows: Vec<csv::StringRecord> = rows.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 3);
    let admin = rows.iter().find(|r| &r[1] == "administrator@contoso.com").unwrap();
    assert_eq!((&admin[3], &admin[4], &admin[5]), ("used_by_attacker;role_granted", "yes", "no"));
    let formula = rows.iter().find(|r| r[1].contains("HYPERLINK")).unwrap();
    assert!(formula[1].starts_with('\''), "a cell a spreadsheet would run is neutralised: {}", &formula[1]);
    assert_eq!(&formula[5], "yes", "mailbox exported: tell its owner");
    let json: serde_json::Value = serde_json::from_str(&rendered(OutputFormat::Json)).unwrap();
    assert_eq!(json["hosts"][1]["accounts"][1]["actions"][0], "used_by_attacker");
}
