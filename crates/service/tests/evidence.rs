//! "Clean" and "verified clean" mean what they say: verification follows when the evidence was
//! made, refused uploads leave nothing behind, and hostile or odd input stays inert. On SQLite and
//! on PostgreSQL.

mod common;

use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::StatusCode;
use common::*;
use serde_json::Value;

const IP: &str = "192.0.2.10";

fn ss(ts: &str, ip: &str, tag: &str, server: &str) -> String {
    format!("{SS_HEADER}{}", ss_row(ts, ip, tag, server, "/aspnet_client/x.aspx"))
}

async fn hunt(s: &Svc, ip: &str, file: &str, report: String) -> Value {
    s.ok("POST", &format!("/api/v1/ingest/hunt?ip={ip}&file_name={file}"), report).await
}

async fn remediate(s: &Svc, ip: &str, at: &str) -> Value {
    let id = s.host_id(ip).await;
    s.ok("POST", &format!("/api/v1/hosts/{id}/remediation"), format!(r#"{{"note":"rebuilt","at":"{at}"}}"#)).await
}

async fn host(s: &Svc, ip: &str) -> Value {
    s.get(&format!("/api/v1/hosts/{}", s.host_id(ip).await)).await
}

/// A compromised host, remediated on 10 March.
async fn remediated_host(s: &Svc, ip: &str, server: &str) {
    s.upload("shadowserver", &format!("{server}-d3.csv"), ss("2021-03-03 00:00:00", ip, "exchange;webshell", server))
        .await;
    remediate(s, ip, "2021-03-10T00:00:00Z").await;
    assert_eq!(s.host_state(ip).await, "remediated");
}

/// Stale evidence ingested after a remediation never verifies; fresh evidence does in either
/// order; an old web-shell row after verification is history; `?at=` follows the evidence.
async fn late_and_stale_evidence(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    remediated_host(&s, IP, "EXCH01").await;

    // A clean hunt whose logs end on 5 March, received today: stale.
    hunt(&s, IP, "stale.json", hunt_report_at("EXCH01", "clean", "fixed", Some("2021-03-05T00:00:00Z"))).await;
    // A fixed-build probe taken on 6 March, received today: stale.
    s.upload("probe", "stale.jsonl", probe_line("2021-03-06T00:00:00Z", IP, &["fixed"])).await;
    assert_eq!(s.host_state(IP).await, "remediated", "stale checks received late must not verify");
    // An undated clean report cannot verify either, and the answer says so.
    let r = hunt(&s, IP, "undated.json", hunt_report_at("EXCH01", "clean", "fixed", None)).await;
    assert!(r["warnings"][0]["message"].as_str().unwrap().contains("cannot verify"), "{r}");
    s.upload("probe", "fresh.jsonl", probe_line("2021-03-12T00:00:00Z", IP, &["fixed"])).await;
    assert_eq!(s.host_state(IP).await, "remediated", "an undated report and a fresh probe do not verify");
    // Fresh hunt evidence (11 March): verified, dated by the later check.
    hunt(&s, IP, "fresh.json", hunt_report_at("EXCH01", "clean", "fixed", Some("2021-03-11T00:00:00Z"))).await;
    let h = host(&s, IP).await;
    assert_eq!(h["tech_state"], "verified_clean", "{h}");
    let last = h["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["to_state"].as_str(), last["at"].as_str()),
        (Some("verified_clean"), Some("2021-03-12T00:00:00Z"))
    );

    // An old web-shell row (4 March) arrives after the verification: history, no regression.
    let events_before = h["events"].as_array().unwrap().len();
    s.upload("shadowserver", "late-d4.csv", ss("2021-03-04 00:00:00", IP, "exchange;webshell", "EXCH01")).await;
    let h = host(&s, IP).await;
    assert_eq!((h["tech_state"].as_str(), h["regressed"].as_bool()), (Some("verified_clean"), Some(false)), "{h}");
    assert_eq!(h["events"].as_array().unwrap().len(), events_before, "no state event from an old row");
    assert!(
        h["observations"].as_array().unwrap().iter().any(|o| o["file_name"] == "late-d4.csv"),
        "the old row is in the host's history: {}",
        h["observations"]
    );
    assert_eq!(s.get("/api/v1/hosts?regressed=true").await["total"], 0);
    assert_eq!(s.get("/api/v1/hosts?regressed=false").await["total"], 1);

    // The past follows the evidence.
    let id = s.host_id(IP).await;
    let at = |d: &'static str| {
        let s = &s;
        async move { s.get(&format!("/api/v1/hosts/{id}?at={d}")).await["at"]["tech_state"].clone() }
    };
    assert_eq!(at("2021-03-02").await, Value::Null);
    assert_eq!(at("2021-03-09").await, "compromised");
    assert_eq!(at("2021-03-11").await, "remediated");
    assert_eq!(at("2021-03-12").await, "verified_clean");

    // A web-shell sighting newer than the verification is a regression.
    s.upload("shadowserver", "d20.csv", ss("2021-03-20 00:00:00", IP, "exchange;webshell", "EXCH01")).await;
    let h = host(&s, IP).await;
    assert_eq!((h["tech_state"].as_str(), h["regressed"].as_bool()), (Some("compromised"), Some(true)), "{h}");
    assert_eq!(at("2021-03-19").await, "verified_clean");
}
on_both!(late_and_stale_evidence);

/// Fresh hunt and probe verify in either order, and even before the remediation record arrives.
async fn fresh_checks_in_any_order(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    let fresh_hunt = |server: &str| hunt_report_at(server, "clean", "fixed", Some("2021-03-11T00:00:00Z"));
    // Hunt first, then probe.
    remediated_host(&s, "192.0.2.21", "A").await;
    hunt(&s, "192.0.2.21", "a.json", fresh_hunt("A")).await;
    assert_eq!(s.host_state("192.0.2.21").await, "remediated");
    s.upload("probe", "a.jsonl", probe_line("2021-03-12T00:00:00Z", "192.0.2.21", &["fixed"])).await;
    assert_eq!(s.host_state("192.0.2.21").await, "verified_clean");
    // Probe first, then hunt.
    remediated_host(&s, "192.0.2.22", "B").await;
    s.upload("probe", "b.jsonl", probe_line("2021-03-12T00:00:00Z", "192.0.2.22", &["fixed"])).await;
    assert_eq!(s.host_state("192.0.2.22").await, "remediated");
    hunt(&s, "192.0.2.22", "b.json", fresh_hunt("B")).await;
    assert_eq!(s.host_state("192.0.2.22").await, "verified_clean");
    // Both checks first, the analyst's remediation record (dated 10 March) last.
    let ip = "192.0.2.23";
    s.upload("shadowserver", "c.csv", ss("2021-03-03 00:00:00", ip, "exchange;webshell", "C")).await;
    hunt(&s, ip, "c.json", fresh_hunt("C")).await;
    s.upload("probe", "c.jsonl", probe_line("2021-03-12T00:00:00Z", ip, &["fixed"])).await;
    assert_eq!(s.host_state(ip).await, "compromised", "sticky until remediated");
    remediate(&s, ip, "2021-03-10T00:00:00Z").await;
    let states: Vec<String> = host(&s, ip).await["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to_state"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(states, ["compromised", "remediated", "verified_clean"]);
    // A remediation dated before newer bad evidence changes nothing, and says so.
    let ip = "192.0.2.24";
    s.upload("shadowserver", "d.csv", ss("2021-03-15 00:00:00", ip, "exchange;webshell", "D")).await;
    let r = remediate(&s, ip, "2021-03-10T00:00:00Z").await;
    assert_eq!(r["state_changes"], 0, "{r}");
    assert!(r["note"].as_str().unwrap().contains("history"), "{r}");
    assert_eq!(s.host_state(ip).await, "compromised");
}
on_both!(fresh_checks_in_any_order);

/// One address given for a report of several hosts: refused (400, the reason), nothing written.
async fn one_address_for_several_hosts(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    s.upload("orgs", "orgs.csv", "org,network\nCounty,192.0.2.0/24\n").await;
    s.upload("shadowserver", "a.csv", ss("2021-03-02 00:00:00", IP, "exchange", "EXCH01")).await;
    let one: Value = serde_json::from_str(&hunt_report("EXCH01", "clean", "fixed")).unwrap();
    let mut two = one.clone();
    let mut other = one["hosts"][0].clone();
    other["name"] = "EXCH02".into();
    two["hosts"].as_array_mut().unwrap().push(other);
    let tables = ["ingest", "observation", "state_event", "finding", "audit_log"];
    let mut before = Vec::new();
    for t in tables {
        before.push(s.count(t).await);
    }
    let org = s.get("/api/v1/organisations?name=County").await["items"][0]["id"].as_i64().unwrap();
    for path in [
        format!("/api/v1/ingest/hunt?ip={IP}&file_name=two.json"),
        format!("/api/v1/organisations/{org}/hunt-reports?ip={IP}&file_name=two.json"),
    ] {
        let (st, body) = s.call("POST", &path, Some(&s.analyst), two.to_string()).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(st, StatusCode::BAD_REQUEST, "{path}: {text}");
        assert!(text.contains("holds 2 hosts") && text.contains("EXCH02"), "{text}");
    }
    for (t, n) in tables.iter().zip(&before) {
        assert_eq!(s.count(t).await, *n, "{t} changed after a refused report");
    }
    // Without an address, hosts are matched by server name (EXCH02 is unknown: rejected row).
    let r = s.upload("hunt", "two.json", two.to_string()).await;
    assert_eq!((r["rows_ok"].as_i64(), r["rows_rejected"].as_i64()), (Some(1), Some(1)), "{r}");
}
on_both!(one_address_for_several_hosts);

/// A failure after the first batch, and a reporter's refused upload, leave no row behind; the
/// audit row commits with its change; a 5xx answer shows no internal text.
async fn refused_uploads_leave_nothing(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    s.upload("orgs", "orgs.csv", "org,network\nCounty,192.0.2.0/24\nClinic,198.51.100.0/24\n").await;
    let tables = ["ingest", "ingest_error", "observation", "host", "finding", "state_event", "audit_log"];
    async fn counts(s: &Svc) -> Vec<i64> {
        let mut v = Vec::new();
        for t in ["ingest", "ingest_error", "observation", "host", "finding", "state_event", "audit_log"] {
            v.push(s.count(t).await);
        }
        v
    }
    let before = counts(&s).await;
    // 2,500 rows (three batches) and a bad row; the store fails after the second batch.
    let mut csv = String::from(SS_HEADER);
    for i in 0..2500u32 {
        let ip = format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
        csv.push_str(&ss_row("2021-03-02 00:00:00", &ip, "exchange;cve-2021-26855", "X", ""));
    }
    csv.push_str("\"2021-03-15 02:14:11\",\"999.1.1.1\",443,,\"exchange\",0,,,,,,,,,\n");
    s.db.fail_ingest_after_batches.store(2, Ordering::SeqCst);
    let (st, body) =
        s.call("POST", "/api/v1/ingest/shadowserver?file_name=big.csv", Some(&s.analyst), csv.clone()).await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR, "{text}");
    assert!(text.contains("internal error (reference ") && !text.contains("injected"), "internal text shown: {text}");
    assert_eq!(counts(&s).await, before, "a failed upload left rows behind ({tables:?})");
    // The same file goes in whole once the fault is gone (no half-done ingest row in the way).
    s.db.fail_ingest_after_batches.store(0, Ordering::SeqCst);
    let r = s.upload("shadowserver", "big.csv", csv).await;
    assert_eq!(
        (r["rows_ok"].as_i64(), r["rows_rejected"].as_i64(), r["duplicate_file"].as_bool()),
        (Some(2500), Some(1), Some(false)),
        "{r}"
    );
    assert_eq!(s.count("host").await, 2500);
    // The audit row is there, with the ingest it records.
    let audit = s.get("/api/v1/audit").await;
    let ingest_id = r["ingest_id"].to_string();
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "ingest" && a["object_id"].as_str() == Some(ingest_id.as_str())),
        "{audit}"
    );
    // Every state event points at its own row's observation (ids matched by natural key, not
    // by the order RETURNING happens to use).
    use sqlx::Row;
    let mismatched: i64 = sqlx::query(
        "SELECT COUNT(*) FROM state_event e JOIN observation o ON o.id = e.observation_id \
         WHERE e.host_id <> o.host_id OR e.source <> 'shadowserver:big.csv#' || CAST(o.line AS TEXT)",
    )
    .fetch_one(&s.db.pool)
    .await
    .unwrap()
    .try_get(0)
    .unwrap();
    assert_eq!(mismatched, 0);

    // A reporter's report about another organisation's host: 403, nothing written, not even audit.
    let county = s.get("/api/v1/organisations?name=County").await["items"][0]["id"].as_i64().unwrap();
    s.upload("shadowserver", "c.csv", ss("2021-03-02 00:00:00", "198.51.100.7", "exchange", "CLINIC")).await;
    let (_, body) = s
        .call(
            "POST",
            "/api/v1/tokens",
            Some(&s.admin),
            serde_json::json!({"name": "county", "role": "reporter", "org_id": county}).to_string(),
        )
        .await;
    let reporter = serde_json::from_slice::<Value>(&body).unwrap()["token"].as_str().unwrap().to_string();
    let before = counts(&s).await;
    let (st, _) = s
        .call(
            "POST",
            &format!("/api/v1/organisations/{county}/hunt-reports?ip=198.51.100.7"),
            Some(&reporter),
            hunt_report("CLINIC", "clean", "fixed"),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(counts(&s).await, before);

    // /health with the database gone: 503, no driver text.
    s.db.pool.close().await;
    let (st, body) = s.call("GET", "/health", None, Body::empty()).await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert!(
        text.contains("the database is unreachable (reference ") && !text.to_lowercase().contains("pool"),
        "{text}"
    );
}
on_both!(refused_uploads_leave_nothing);

/// `?regressed=false` filters; `name=` treats `%`, `_` and `\` as themselves; CSV exports are
/// safe to open in a spreadsheet.
async fn filters_search_and_exports(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    s.upload(
        "orgs",
        "orgs.csv",
        "org,network,abuse_email\n100% Example,192.0.2.0/26,a@example.org\nA_B Corp,192.0.2.64/26,b@example.org\nAxB Corp,192.0.2.128/26,c@example.org\n@SUM(1+1) Ltd,192.0.2.192/26,d@example.org\nBack\\slash,198.51.100.0/24,e@example.org\n",
    )
    .await;
    let names = |v: Value| -> Vec<String> {
        v["items"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(names(s.get("/api/v1/organisations?name=%25").await), ["100% Example"]);
    assert_eq!(names(s.get("/api/v1/organisations?name=a_b").await), ["A_B Corp"]);
    assert_eq!(names(s.get("/api/v1/organisations?name=%5C").await), ["Back\\slash"]);
    assert_eq!(names(s.get("/api/v1/organisations?name=corp").await).len(), 2);

    // One regressed host (patched, then seen vulnerable again), one not.
    s.upload("shadowserver", "a.csv", ss("2021-03-02 00:00:00", "192.0.2.70", "exchange;cve-2021-26855", "AB")).await;
    s.upload("probe", "p.jsonl", probe_line("2021-03-09T00:00:00Z", "192.0.2.70", &["fixed"])).await;
    s.upload("shadowserver", "b.csv", ss("2021-03-20 00:00:00", "192.0.2.70", "exchange;cve-2021-26855", "AB")).await;
    s.upload("shadowserver", "c.csv", ss("2021-03-02 00:00:00", "192.0.2.10", "exchange", "=HYPERLINK(\"\"x\"\")"))
        .await;
    let ips = |v: Value| -> Vec<String> {
        v["items"].as_array().unwrap().iter().map(|h| h["ip"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ips(s.get("/api/v1/hosts?regressed=true").await), ["192.0.2.70"]);
    assert_eq!(ips(s.get("/api/v1/hosts?regressed=false").await), ["192.0.2.10"]);
    assert_eq!(names(s.get("/api/v1/organisations?regressed=true").await), ["A_B Corp"]);
    assert!(!names(s.get("/api/v1/organisations?regressed=false").await).contains(&"A_B Corp".to_string()));

    // The export: formula-looking cells start with a quote.
    let org = s.get("/api/v1/organisations?name=100").await["items"][0]["id"].as_i64().unwrap();
    let (st, body) =
        s.call("GET", &format!("/api/v1/organisations/{org}/export.csv"), Some(&s.analyst), Body::empty()).await;
    assert_eq!(st, StatusCode::OK);
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{text}");
    let sum = s.get("/api/v1/organisations?name=SUM").await["items"][0]["id"].as_i64().unwrap();
    s.upload("shadowserver", "d.csv", ss("2021-03-02 00:00:00", "192.0.2.200", "exchange", "S")).await;
    let (_, body) =
        s.call("GET", &format!("/api/v1/organisations/{sum}/export.csv"), Some(&s.analyst), Body::empty()).await;
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains(",'@SUM(1+1) Ltd,"), "{text}");
    for line in text.lines().skip(1) {
        let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(line.as_bytes());
        for cell in r.records().next().unwrap().unwrap().iter() {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "unsafe cell {cell:?} in {line}");
        }
    }
}
on_both!(filters_search_and_exports);

/// NUL characters (valid UTF-8, refused by PostgreSQL's text type) in feed data are kept inert:
/// the file goes in, the character is shown as U+FFFD.
async fn nul_characters_in_feed_data(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    let csv = format!(
        "{SS_HEADER}{}",
        ss_row("2021-03-02 00:00:00", IP, "exchange;cve-2021-26855", "EX\u{0}01", "/a\u{0}.aspx")
    );
    let r = s.upload("shadowserver", "nul.csv", csv).await;
    assert_eq!(r["rows_ok"], 1, "{r}");
    let h = host(&s, IP).await;
    assert_eq!(h["servername"], "EX\u{fffd}01", "{h}");
    let intelmq = serde_json::json!({"source.ip": "192.0.2.11", "time.source": "2021-03-16T01:00:00+00:00",
        "classification.taxonomy": "vulnerable", "extra.tag": "exchange;cve-2021-26855", "source.reverse_dns": "a\u{0}b"})
    .to_string();
    let r = s.upload("intelmq", "nul.jsonl", intelmq + "\n").await;
    assert_eq!(r["rows_ok"], 1, "{r}");
    let r = s.upload("orgs", "orgs.csv", "org,network\nNul\u{0}Org,192.0.2.0/24\n").await;
    assert_eq!(r["rows_ok"], 1, "{r}");
    assert_eq!(s.get("/api/v1/organisations?name=Nul").await["items"][0]["name"], "Nul\u{fffd}Org");
}
on_both!(nul_characters_in_feed_data);

/// The same file sent twice at once is taken once: the second upload waits for the first and
/// answers `duplicate_file`, and the first ingest keeps its figures.
async fn the_same_file_twice_at_once(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    let mut csv = String::from(SS_HEADER);
    for i in 0..1500u32 {
        csv.push_str(&ss_row("2021-03-02 00:00:00", &format!("10.0.{}.{}", i / 256, i % 256), "exchange", "X", ""));
    }
    let path = "/api/v1/ingest/shadowserver?file_name=same.csv";
    let (a, b) = tokio::join!(
        s.call("POST", path, Some(&s.analyst), csv.clone()),
        s.call("POST", path, Some(&s.analyst), csv.clone())
    );
    let answers: Vec<Value> = [a, b]
        .into_iter()
        .map(|(st, body)| {
            assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
            serde_json::from_slice(&body).unwrap()
        })
        .collect();
    let duplicates = answers.iter().filter(|a| a["duplicate_file"] == true).count();
    assert_eq!(duplicates, 1, "{answers:?}");
    assert_eq!(s.count("ingest").await, 1);
    let ingests = s.get("/api/v1/ingests").await;
    assert_eq!(
        (ingests["items"][0]["rows_ok"].as_i64(), ingests["items"][0]["status"].as_str()),
        (Some(1500), Some("done"))
    );
}
on_both!(the_same_file_twice_at_once);

/// Evidence from the future counts from its arrival: a report claiming logs up to 2099 does not
/// put the host's state beyond every later sighting.
async fn evidence_from_the_future(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    remediated_host(&s, IP, "EXCH01").await;
    s.upload("probe", "p.jsonl", probe_line("2021-03-12T00:00:00Z", IP, &["fixed"])).await;
    hunt(&s, IP, "future.json", hunt_report_at("EXCH01", "clean", "fixed", Some("2099-01-01T00:00:00Z"))).await;
    let h = host(&s, IP).await;
    assert_eq!(h["tech_state"], "verified_clean");
    let now = taskforce_service::time::now();
    let at = h["state_at"].as_str().unwrap();
    assert!(at <= now.as_str() && at > "2026-01-01", "{at}");
    assert!(
        h["events"].as_array().unwrap().iter().all(|e| e["at"].as_str().unwrap() <= now.as_str()),
        "{}",
        h["events"]
    );
}
on_both!(evidence_from_the_future);
