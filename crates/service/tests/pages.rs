//! Deep pages (issue 14): keyset cursors over every list, totals kept by the write paths and
//! exact after ingests, analyst records and re-enrichment, re-enrichment as a background job.
//! On SQLite and on PostgreSQL.

mod common;

use axum::body::Body;
use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};
use sqlx::Row;

/// `count` organisations, each owning one /24 in 10.<i/256>.<i%256>.0; hosts in the first
/// `with_hosts` of them, states mixed (vulnerable, compromised, exposed).
async fn populate(s: &Svc, count: usize, with_hosts: usize) {
    let mut orgs = String::from("org,network,asn,sector,cc,abuse_email\n");
    for i in 0..count {
        orgs.push_str(&format!(
            "Org {i:03},10.{}.{}.0/24,,Sector {},US,abuse@org{i}.example\n",
            i / 256,
            i % 256,
            i % 3
        ));
    }
    s.upload("orgs", "orgs.csv", orgs).await;
    let mut csv = String::from(SS_HEADER);
    for i in 0..with_hosts {
        for h in 0..(1 + i % 3) {
            let tag = match (i + h) % 3 {
                0 => "exchange;cve-2021-26855",
                1 => "exchange;webshell",
                _ => "exchange",
            };
            let url = if tag.ends_with("webshell") { "/aspnet_client/x.aspx" } else { "" };
            csv.push_str(&ss_row(
                "2021-03-15 02:14:07",
                &format!("10.{}.{}.{}", i / 256, i % 256, h + 1),
                tag,
                "S",
                url,
            ));
        }
    }
    let r = s.upload("shadowserver", "scan.csv", csv).await;
    assert_eq!(r["rows_rejected"], 0, "{r}");
}

/// Every item of a list walked by cursor, `per_page` at a time; checks the envelope on the way.
async fn walk(s: &Svc, path: &str, per_page: usize) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut url = format!("{path}{sep}per_page={per_page}");
    let mut all = Vec::new();
    for _ in 0..10_000 {
        let page = s.get(&url).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= per_page, "{page}");
        all.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(items.len(), per_page, "a page before the last is full: {page}");
                url = format!("{path}{sep}per_page={per_page}&cursor={c}");
            }
            None => return all,
        }
    }
    panic!("{path}: no last page");
}

fn ids(items: &[Value]) -> Vec<i64> {
    items.iter().map(|v| v["id"].as_i64().unwrap()).collect()
}

/// Walking by cursor gives the same rows in the same order as one big page; page numbers and
/// cursors agree; cursors hold under filters; bad cursors are refused.
async fn cursors_walk_every_list(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    populate(&s, 40, 25).await;
    for list in [
        "/api/v1/organisations",
        "/api/v1/hosts",
        "/api/v1/hosts?state=vulnerable",
        "/api/v1/organisations?state=compromised",
        "/api/v1/organisations?sector=Sector%201",
    ] {
        let sep = if list.contains('?') { '&' } else { '?' };
        let whole = s.get(&format!("{list}{sep}per_page=1000")).await;
        let expected = ids(whole["items"].as_array().unwrap());
        assert_eq!(whole["total"].as_i64().unwrap() as usize, expected.len(), "{list}: total");
        assert!(whole["next_cursor"].is_null(), "{list}: one page holds all");
        for per_page in [1, 4, 7] {
            assert_eq!(ids(&walk(&s, list, per_page).await), expected, "{list} by {per_page}");
        }
        // Page 3 by number is page 3 by cursor.
        let p3 = s.get(&format!("{list}{sep}per_page=4&page=3")).await;
        let p2 = s.get(&format!("{list}{sep}per_page=4&page=2")).await;
        if let Some(c) = p2["next_cursor"].as_str() {
            let by_cursor = s.get(&format!("{list}{sep}per_page=4&cursor={c}")).await;
            assert_eq!(ids(by_cursor["items"].as_array().unwrap()), ids(p3["items"].as_array().unwrap()), "{list}");
            assert_eq!((by_cursor["page"].as_i64(), by_cursor["total"].clone()), (Some(0), whole["total"].clone()));
        }
    }
    // The worst come first, across the cursor's rank boundary.
    let hosts = walk(&s, "/api/v1/hosts", 3).await;
    let ranks: Vec<String> = hosts.iter().map(|h| h["tech_state"].as_str().unwrap().to_string()).collect();
    let first_vulnerable = ranks.iter().position(|r| r == "vulnerable").unwrap();
    assert!(ranks[..first_vulnerable].iter().all(|r| r == "compromised"), "{ranks:?}");
    // An organisation's own hosts.
    let org = s.get("/api/v1/organisations?name=Org%20002").await["items"][0]["id"].as_i64().unwrap();
    assert_eq!(walk(&s, &format!("/api/v1/organisations/{org}/hosts"), 1).await.len(), 3);
    // Ingests and the audit log: newest first, keyed by id.
    for i in 0..5 {
        s.upload(
            "shadowserver",
            &format!("x{i}.csv"),
            format!("{SS_HEADER}{}", ss_row("2021-03-16 00:00:00", &format!("10.0.0.{}", i + 1), "exchange", "S", "")),
        )
        .await;
        s.ok("POST", "/api/v1/organisations", json!({"name": format!("Manual {i}")}).to_string()).await;
    }
    for list in ["/api/v1/ingests", "/api/v1/audit"] {
        let whole = s.get(&format!("{list}?per_page=1000")).await;
        let expected = ids(whole["items"].as_array().unwrap());
        assert!(expected.windows(2).all(|w| w[0] > w[1]), "{list}: newest first");
        assert!(expected.len() >= 5, "{list}");
        assert_eq!(ids(&walk(&s, list, 2).await), expected, "{list}");
    }
    assert_eq!(s.get("/api/v1/ingests").await["total"], s.count("ingest").await);
    // Refused: a cursor with a page number, an unreadable cursor.
    for bad in [
        "/api/v1/organisations?cursor=3.1&page=2",
        "/api/v1/organisations?cursor=abc",
        "/api/v1/hosts?cursor=1",
        "/api/v1/hosts?cursor=x.2",
        "/api/v1/ingests?cursor=5&page=1",
        "/api/v1/audit?cursor=abc",
    ] {
        let (st, body) = s.call("GET", bad, Some(&s.analyst), Body::empty()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {}", String::from_utf8_lossy(&body));
    }
}
on_both!(cursors_walk_every_list);

/// The tallies against counts of the tables themselves, and the API's totals and dashboard
/// counts against both.
async fn assert_tallies_exact(s: &Svc, when: &str) {
    let db = &s.db;
    let rows = |sql: &'static str| async move {
        let mut v: Vec<(i64, String, i64, i64)> = sqlx::query(sql)
            .fetch_all(&db.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.try_get(0).unwrap(), r.try_get(1).unwrap(), r.try_get(2).unwrap(), r.try_get(3).unwrap()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        rows("SELECT tech_rank, '', regressed, n FROM host_tally WHERE n <> 0").await,
        rows("SELECT tech_rank, '', regressed, COUNT(*) FROM host GROUP BY tech_rank, regressed").await,
        "host_tally {when}"
    );
    assert_eq!(
        rows("SELECT tech_rank, comm_state, regressed, n FROM org_tally WHERE n <> 0").await,
        rows("SELECT tech_rank, comm_state, CASE WHEN regressed > 0 THEN 1 ELSE 0 END, COUNT(*) FROM organisation GROUP BY tech_rank, comm_state, CASE WHEN regressed > 0 THEN 1 ELSE 0 END").await,
        "org_tally {when}"
    );
    let ingests: i64 = sqlx::query("SELECT n FROM row_tally WHERE name = 'ingest'")
        .fetch_one(&db.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(ingests, s.count("ingest").await, "ingest tally {when}");
    // What the API answers.
    for state in ["compromised", "vulnerable", "exposed", "remediated", "patched", "verified_clean"] {
        let rank = taskforce_service::state::TechState::parse(state).unwrap().rank();
        let hosts = s.get(&format!("/api/v1/hosts?state={state}&per_page=1")).await;
        assert_eq!(hosts["total"], s.count(&format!("host WHERE tech_rank = {rank}")).await, "hosts {state} {when}");
        let orgs = s.get(&format!("/api/v1/organisations?state={state}&per_page=1")).await;
        assert_eq!(
            orgs["total"],
            s.count(&format!("organisation WHERE tech_rank = {rank}")).await,
            "orgs {state} {when}"
        );
    }
    assert_eq!(s.get("/api/v1/hosts?per_page=1").await["total"], s.count("host").await, "{when}");
    assert_eq!(s.get("/api/v1/organisations?per_page=1").await["total"], s.count("organisation").await, "{when}");
    assert_eq!(
        s.get("/api/v1/organisations?comm_state=notified&regressed=false&per_page=1").await["total"],
        s.count("organisation WHERE comm_state = 'notified' AND regressed = 0").await,
        "{when}"
    );
    assert_eq!(
        s.get("/api/v1/hosts?regressed=true&per_page=1").await["total"],
        s.count("host WHERE regressed = 1").await,
        "{when}"
    );
    let stats = s.get("/api/v1/stats").await;
    let total: i64 = stats["hosts"].as_object().unwrap().values().map(|v| v.as_i64().unwrap()).sum();
    assert_eq!(total, s.count("host").await, "stats {when}: {stats}");
    assert_eq!(
        stats["hosts"]["compromised"].as_i64().unwrap_or(0),
        s.count("host WHERE tech_state = 'compromised'").await,
        "{when}"
    );
    assert_eq!(
        stats["urgent"],
        s.count("organisation WHERE tech_state = 'compromised' AND comm_state = 'not_contacted'").await,
        "{when}"
    );
    assert_eq!(
        stats["communication"]["notified"].as_i64().unwrap_or(0),
        s.count("organisation WHERE tech_state IS NOT NULL AND comm_state = 'notified'").await,
        "{when}"
    );
    assert_eq!(stats["regressed_hosts"], s.count("host WHERE regressed = 1").await, "{when}");
}

/// Totals stay exact through every kind of write.
async fn totals_stay_exact(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    assert_tallies_exact(&s, "on an empty database").await;
    populate(&s, 30, 20).await;
    assert_tallies_exact(&s, "after the first ingest").await;
    // Hosts seen again, one regressing (patched then vulnerable again) and new ones.
    let ip = "10.0.0.1";
    let probe = probe_line("2021-03-20T00:00:00Z", ip, &["fixed"]);
    s.upload("probe", "p.jsonl", probe).await;
    let csv = format!(
        "{SS_HEADER}{}{}",
        ss_row("2021-03-25 00:00:00", ip, "exchange;cve-2021-26855", "S", ""),
        ss_row("2021-03-25 00:00:00", "10.0.25.9", "exchange;cve-2021-26855", "S", "")
    );
    s.upload("shadowserver", "again.csv", csv).await;
    assert_tallies_exact(&s, "after a second ingest").await;
    // Analyst records: remediation, communication, a new organisation.
    let compromised = s.get("/api/v1/hosts?state=compromised&per_page=1").await["items"][0].clone();
    let (host, org) = (compromised["id"].as_i64().unwrap(), compromised["org_id"].as_i64().unwrap());
    s.ok("POST", &format!("/api/v1/hosts/{host}/remediation"), r#"{"note":"rebuilt"}"#).await;
    s.ok("POST", &format!("/api/v1/organisations/{org}/communication"), r#"{"state":"notified"}"#).await;
    s.ok("POST", "/api/v1/organisations", r#"{"name":"Newcomer"}"#).await;
    assert_tallies_exact(&s, "after analyst records").await;
    // A mapping change moves hosts between organisations (a background job).
    let newcomer = s.get("/api/v1/organisations?name=Newcomer").await["items"][0]["id"].as_i64().unwrap();
    let r = s.ok("POST", &format!("/api/v1/organisations/{newcomer}/networks"), r#"{"cidr":"10.0.2.0/24"}"#).await;
    assert!(r["reenrich_job"].as_i64().is_some(), "{r}");
    s.jobs_done().await;
    assert_eq!(s.get(&format!("/api/v1/organisations/{newcomer}")).await["hosts"], 3);
    assert_tallies_exact(&s, "after re-enrichment").await;
}
on_both!(totals_stay_exact);

/// Re-enrichment is a job with progress; it is reused while waiting, reported when done, and
/// staff only.
async fn reenrichment_job(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    populate(&s, 10, 10).await;
    let (st, body) = s.call("POST", "/api/v1/jobs/reenrich", Some(&s.analyst), Body::empty()).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&body));
    let job: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(job["kind"], "reenrich");
    assert!(["pending", "running", "done"].contains(&job["status"].as_str().unwrap()), "{job}");
    s.jobs_done().await;
    let done = s.get(&format!("/api/v1/jobs/{}", job["id"])).await;
    let hosts = s.count("host").await;
    assert_eq!(
        (done["status"].as_str(), done["done"].as_i64(), done["total"].as_i64()),
        (Some("done"), Some(hosts), Some(hosts)),
        "{done}"
    );
    assert_eq!(done["changed"], 0, "nothing moved: {done}");
    assert!(done["finished_at"].is_string() && done["started_at"].is_string(), "{done}");
    assert!(s.get("/api/v1/jobs").await["items"].as_array().unwrap().iter().any(|j| j["id"] == job["id"]));
    // Two requests before a worker starts are one job.
    let a = taskforce_service::jobs::request_reenrich(&s.db, "test").await.unwrap();
    let b = taskforce_service::jobs::request_reenrich(&s.db, "test").await.unwrap();
    assert_eq!(a.id, b.id);
    taskforce_service::jobs::run_pending(&s.db).await.unwrap();
    assert_eq!(taskforce_service::jobs::get(&s.db, a.id).await.unwrap().unwrap().status, "done");
    // A job a stopped server left running is run again at the next start.
    sqlx::query("UPDATE job SET status = 'running' WHERE id = $1").bind(a.id).execute(&s.db.pool).await.unwrap();
    taskforce_service::jobs::resume(&s.db).await.unwrap();
    s.jobs_done().await;
    assert_eq!(taskforce_service::jobs::get(&s.db, a.id).await.unwrap().unwrap().status, "done");
    let (st, _) = s.call("GET", "/api/v1/jobs/999999", Some(&s.analyst), Body::empty()).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}
on_both!(reenrichment_job);

/// The exports are read in one query and streamed: every host exactly once, worst first, with
/// all its finding tags, however many hosts.
async fn exports_stream_every_host(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    let mut orgs =
        String::from("org,network,asn,sector,cc,abuse_email\nBig,10.0.0.0/16,,Health Care,US,abuse@big.example\n");
    orgs.push_str("Other,10.1.0.0/16,,Health Care,US,abuse@other.example\n");
    s.upload("orgs", "orgs.csv", orgs).await;
    let mut csv = String::from(SS_HEADER);
    for i in 0..600 {
        let tag = if i % 50 == 0 { "exchange;webshell" } else { "exchange;cve-2021-26855" };
        let url = if tag.ends_with("webshell") { "/aspnet_client/s.aspx" } else { "" };
        csv.push_str(&ss_row("2021-03-15 02:14:07", &format!("10.0.{}.{}", i / 200, i % 200 + 1), tag, "S", url));
    }
    csv.push_str(&ss_row("2021-03-15 02:14:07", "10.1.0.1", "exchange;cve-2021-26855", "S", ""));
    s.upload("shadowserver", "big.csv", csv).await;
    let big = s.get("/api/v1/organisations?name=Big").await["items"][0]["id"].as_i64().unwrap();
    let (st, body) =
        s.call("GET", &format!("/api/v1/organisations/{big}/export.csv"), Some(&s.analyst), Body::empty()).await;
    assert_eq!(st, StatusCode::OK);
    let text = String::from_utf8(body).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(records.len(), 600);
    let ips: std::collections::BTreeSet<&str> = records.iter().map(|r| &r[1]).collect();
    assert_eq!(ips.len(), 600, "each host once");
    assert!(!ips.contains("10.1.0.1"), "only the organisation's hosts");
    // Compromised hosts (12) first, with their tags and URL.
    assert!(
        records[..12]
            .iter()
            .all(|r| &r[15] == "compromised" && r[4].contains("webshell") && &r[14] == "/aspnet_client/s.aspx")
    );
    assert!(records[12..].iter().all(|r| &r[15] == "vulnerable" && &r[4] == "exchange;cve-2021-26855"));
    // The notification attachment is the same bytes; the IntelMQ export has the same hosts.
    let bytes = taskforce_service::api::export::csv_bytes(&s.db, big).await.unwrap();
    assert_eq!(bytes, text.as_bytes());
    let (st, body) =
        s.call("GET", &format!("/api/v1/organisations/{big}/export.jsonl"), Some(&s.analyst), Body::empty()).await;
    assert_eq!(st, StatusCode::OK);
    let lines: Vec<Value> =
        String::from_utf8(body).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 600);
    assert_eq!(lines[0]["classification.identifier"], "exchange-server-webshell");
    let (st, _) = s.call("GET", "/api/v1/organisations/999999/export.csv", Some(&s.analyst), Body::empty()).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}
on_both!(exports_stream_every_host);
