//! The tracking service end to end through its API, on SQLite and on PostgreSQL.

mod common;

use axum::body::Body;
use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};
use taskforce_service::api::{Access, ENDPOINTS, OPENAPI_YAML};

const ORGS: &str = "org,network,asn,sector,cc,abuse_email\n\
County of Example,192.0.2.0/24,,Public Administration,US,abuse@county.example\n\
Example Clinic,198.51.100.0/25,,Health Care,US,security@clinic.example\n\
Hosting Example,,64511,Hosting,US,abuse@hosting.example\n";

async fn ingest_each_format(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    s.upload("orgs", "orgs.csv", ORGS).await;
    // Shadowserver: vulnerable, compromised, and one bad row.
    let csv = format!(
        "{SS_HEADER}{}{}\"2021-03-15 02:14:11\",\"999.1.1.1\",443,,\"exchange\",0,,,,,,,,,\n{}",
        ss_row("2021-03-15 02:14:07", "192.0.2.10", "exchange;cve-2021-26855", "EXCH01", ""),
        ss_row(
            "2021-03-15 02:14:09",
            "198.51.100.77",
            "exchange;webshell",
            "CLINIC",
            "/aspnet_client/system_web/a1.aspx"
        ),
        ss_row("2021-03-15 02:14:12", "203.0.113.5", "exchange", "MAIL", ""),
    ) + "\"2021-03-15 02:14:13\",\"203.0.113.6\",443,,\"exchange\",64511,\"US\",,,,,,\"15.1.2106\",\"OLD\",\n";
    let r = s.upload("shadowserver", "2021-03-15-scan_exchange-x-geo.csv", csv).await;
    assert_eq!(
        (r["rows_total"].as_i64(), r["rows_ok"].as_i64(), r["rows_rejected"].as_i64()),
        (Some(5), Some(4), Some(1)),
        "{r}"
    );
    assert_eq!(r["errors"][0]["line"], 4, "{r}");
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("999.1.1.1"));
    assert_eq!(s.host_state("192.0.2.10").await, "vulnerable");
    assert_eq!(s.host_state("198.51.100.77").await, "compromised");
    assert_eq!(s.host_state("203.0.113.5").await, "exposed");
    // No vulnerability tag, but a build the table calls vulnerable (2016 CU18 got no ProxyNotShell SU).
    assert_eq!(s.host_state("203.0.113.6").await, "vulnerable");
    let old = s.get(&format!("/api/v1/hosts/{}", s.host_id("203.0.113.6").await)).await;
    assert!(
        old["findings"].as_array().unwrap().iter().any(|f| f["kind"] == "build:proxynotshell"),
        "{}",
        old["findings"]
    );
    // Rejected rows are kept with the ingest.
    let detail = s.get(&format!("/api/v1/ingests/{}", r["ingest_id"])).await;
    assert_eq!(detail["errors"][0]["line"], 4);

    // IntelMQ events (IPv6 too).
    let intelmq = [
        json!({"__type": "Event", "source.ip": "2001:db8::25", "time.source": "2021-03-16T01:00:00+00:00",
               "classification.taxonomy": "intrusions", "classification.type": "system-compromise",
               "classification.identifier": "exchange-server-webshell", "destination.url": "https://x/owa/auth/shell.aspx", "source.asn": 64500}),
        json!({"__type": "Event", "source.ip": "192.0.2.11", "time.source": "2021-03-16T01:00:00+00:00",
               "classification.taxonomy": "vulnerable", "classification.type": "vulnerable-system", "extra.tag": "exchange;cve-2021-26855"}),
    ]
    .iter()
    .map(|v| v.to_string() + "\n")
    .collect::<String>();
    let r = s.upload("intelmq", "events.jsonl", intelmq).await;
    assert_eq!(r["rows_ok"], 2, "{r}");
    assert_eq!(s.host_state("2001:db8::25").await, "compromised");
    assert_eq!(s.host_state("192.0.2.11").await, "vulnerable");

    // Probe results: a fixed build patches a vulnerable host; a non-Exchange answer about an
    // unknown address is ignored (a sweep does not create hosts).
    let probe = probe_line("2021-03-20T00:00:00Z", "192.0.2.11", &["fixed"])
        + &serde_json::json!({"schema": "taskforce.probe.v1", "time": "2021-03-20T00:00:00Z", "target": "192.0.2.99", "address": "192.0.2.99",
            "port": 443, "reachable": true, "exchange": false, "patch": []}).to_string() + "\n";
    let r = s.upload("probe", "probe.jsonl", probe).await;
    assert_eq!((r["rows_ok"].as_i64(), r["rows_ignored"].as_i64()), (Some(1), Some(1)), "{r}");
    assert_eq!(s.host_state("192.0.2.11").await, "patched");

    // A hunt report, matched by server name, owned by the county.
    let r = s.upload("hunt", "exch01.json", hunt_report("EXCH01", "compromised", "vulnerable")).await;
    assert_eq!(r["rows_ok"], 1, "{r}");
    assert_eq!(s.host_state("192.0.2.10").await, "compromised");
    let host = s.get(&format!("/api/v1/hosts/{}", s.host_id("192.0.2.10").await)).await;
    let kinds: Vec<&str> = host["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"hunt:TF-PL-09") && kinds.contains(&"vulnerable:cve-2021-26855"), "{kinds:?}");
    // Provenance: every observation names its file and line.
    let obs = &host["observations"];
    assert!(
        obs.as_array()
            .unwrap()
            .iter()
            .any(|o| o["file_name"] == "2021-03-15-scan_exchange-x-geo.csv" && o["line"] == 2),
        "{obs}"
    );

    // Ownership from the organisations file: network for two, the ASN fallback for none here.
    let county = s.get("/api/v1/organisations?name=County").await;
    assert_eq!(county["items"][0]["tech_state"], "compromised", "{county}");
    assert_eq!(county["items"][0]["hosts"], 2);
    let org_id = county["items"][0]["id"].as_i64().unwrap();
    let org = s.get(&format!("/api/v1/organisations/{org_id}")).await;
    assert_eq!(org["abuse_contact"], "abuse@county.example");
    assert_eq!(org["networks"][0]["value"], "192.0.2.0/24");
    assert_eq!(org["networks"][0]["source"], "orgs.csv");
}
on_both!(ingest_each_format);

async fn idempotent(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    let csv = format!(
        "{SS_HEADER}{}{}",
        ss_row("2021-03-15 02:14:07", "192.0.2.10", "exchange;cve-2021-26855", "EXCH01", ""),
        ss_row("2021-03-15 02:14:09", "198.51.100.77", "exchange;webshell", "CLINIC", "/a.aspx")
    );
    let first = s.upload("shadowserver", "a.csv", csv.clone()).await;
    let counts =
        (s.count("observation").await, s.count("state_event").await, s.count("host").await, s.count("finding").await);
    let again = s.upload("shadowserver", "a.csv", csv.clone()).await;
    assert_eq!(again["duplicate_file"], true);
    assert_eq!(again["ingest_id"], first["ingest_id"]);
    // The same rows in another file (a re-sent report with an extra row): known facts are not repeated.
    let more = csv + &ss_row("2021-03-16 02:00:00", "192.0.2.10", "exchange;cve-2021-26855", "EXCH01", "");
    let r = s.upload("shadowserver", "b.csv", more).await;
    assert_eq!((r["rows_ok"].as_i64(), r["rows_duplicate"].as_i64()), (Some(1), Some(2)), "{r}");
    // The same fact a day later extends its observation (issue 14: a year of daily reports stays small).
    assert_eq!(s.count("observation").await, counts.0, "an unchanged fact seen again adds no row");
    assert_eq!(s.count("state_event").await, counts.1, "no state change from a repeated fact");
    assert_eq!(s.count("host").await, counts.2);
    assert_eq!(s.count("finding").await, counts.3);
    let id = s.host_id("192.0.2.10").await;
    let host = s.get(&format!("/api/v1/hosts/{id}")).await;
    assert_eq!(host["findings"][0]["count"], 2, "{}", host["findings"]);
    assert_eq!(host["last_seen"], "2021-03-16T02:00:00Z");
}
on_both!(idempotent);

/// Every transition of the technical axis, including regression, through real uploads.
async fn state_transitions(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    let ip = "192.0.2.10";
    let ss = |ts: &str, tag: &str| format!("{SS_HEADER}{}", ss_row(ts, ip, tag, "EXCH01", "/aspnet_client/x.aspx"));
    s.upload("shadowserver", "d1.csv", ss("2021-03-01 00:00:00", "exchange")).await;
    assert_eq!(s.host_state(ip).await, "exposed");
    s.upload("shadowserver", "d2.csv", ss("2021-03-02 00:00:00", "exchange;cve-2021-26855")).await;
    assert_eq!(s.host_state(ip).await, "vulnerable");
    s.upload("shadowserver", "d3.csv", ss("2021-03-03 00:00:00", "exchange;webshell")).await;
    assert_eq!(s.host_state(ip).await, "compromised");
    // Sticky: a fixed build and a clean report do not clear a compromise.
    s.upload("probe", "p1.jsonl", probe_line("2021-03-05T00:00:00Z", ip, &["fixed"])).await;
    s.ok("POST", &format!("/api/v1/ingest/hunt?ip={ip}&file_name=h0.json"), hunt_report("EXCH01", "clean", "fixed"))
        .await;
    assert_eq!(s.host_state(ip).await, "compromised");
    // Only a remediation record does.
    let id = s.host_id(ip).await;
    let (st, _) = s.call("POST", &format!("/api/v1/hosts/{id}/remediation"), Some(&s.analyst), r#"{"note":""}"#).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    s.ok(
        "POST",
        &format!("/api/v1/hosts/{id}/remediation"),
        r#"{"note":"rebuilt from scratch, credentials reset","at":"2021-03-10T00:00:00Z"}"#,
    )
    .await;
    assert_eq!(s.host_state(ip).await, "remediated");
    // Verification needs both a clean hunt and a clean probe after the fix.
    s.ok("POST", &format!("/api/v1/ingest/hunt?ip={ip}&file_name=h1.json"), hunt_report("EXCH01", "clean", "fixed"))
        .await;
    assert_eq!(s.host_state(ip).await, "remediated", "a clean report alone does not verify");
    s.upload("probe", "p2.jsonl", probe_line("2021-03-12T00:00:00Z", ip, &["fixed"])).await;
    assert_eq!(s.host_state(ip).await, "verified_clean");
    // Seen bad again: regression, flagged.
    s.upload("shadowserver", "d4.csv", ss("2021-04-01 00:00:00", "exchange;cve-2021-26855")).await;
    let host = s.get(&format!("/api/v1/hosts/{id}")).await;
    assert_eq!((host["tech_state"].as_str(), host["regressed"].as_bool()), (Some("vulnerable"), Some(true)), "{host}");
    let regressed = s.get("/api/v1/hosts?regressed=true").await;
    assert_eq!(regressed["total"], 1);
    // A second host: vulnerable → patched by probe → clean hunt → verified_clean.
    let ip2 = "192.0.2.20";
    s.upload(
        "shadowserver",
        "e1.csv",
        format!("{SS_HEADER}{}", ss_row("2021-03-02 00:00:00", ip2, "exchange;cve-2021-26855", "EXCH02", "")),
    )
    .await;
    s.upload("probe", "e2.jsonl", probe_line("2021-03-09T00:00:00Z", ip2, &["fixed", "fixed"])).await;
    assert_eq!(s.host_state(ip2).await, "patched");
    s.ok("POST", &format!("/api/v1/ingest/hunt?ip={ip2}&file_name=e3.json"), hunt_report("EXCH02", "clean", "fixed"))
        .await;
    assert_eq!(s.host_state(ip2).await, "verified_clean");
    // Compromised again after verification: regression to compromised.
    s.upload(
        "shadowserver",
        "e4.csv",
        format!("{SS_HEADER}{}", ss_row("2021-05-01 00:00:00", ip2, "exchange;webshell", "EXCH02", "/b.aspx")),
    )
    .await;
    let host2 = s.get(&format!("/api/v1/hosts/{}", s.host_id(ip2).await)).await;
    assert_eq!((host2["tech_state"].as_str(), host2["regressed"].as_bool()), (Some("compromised"), Some(true)));
    let events: Vec<&str> =
        host["events"].as_array().unwrap().iter().map(|e| e["to_state"].as_str().unwrap()).collect();
    assert_eq!(events, ["exposed", "vulnerable", "compromised", "remediated", "verified_clean", "vulnerable"]);
    // Every event names its source.
    assert!(host["events"][3]["source"].as_str().unwrap().starts_with("analyst:ana"), "{}", host["events"][3]);
    assert!(host["events"][1]["source"].as_str().unwrap().starts_with("shadowserver:d2.csv#2"));
    // The audit log has the remediation.
    let audit = s.get("/api/v1/audit").await;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "remediation" && a["before"]["tech_state"] == "compromised"),
        "{audit}"
    );
}
on_both!(state_transitions);

/// What did we know on a past date: host, organisation and dashboard.
async fn state_on_a_past_date(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    s.upload("orgs", "orgs.csv", ORGS).await;
    let ip = "192.0.2.10";
    s.upload(
        "shadowserver",
        "d2.csv",
        format!("{SS_HEADER}{}", ss_row("2021-03-02 10:00:00", ip, "exchange;cve-2021-26855", "EXCH01", "")),
    )
    .await;
    s.upload(
        "shadowserver",
        "d12.csv",
        format!("{SS_HEADER}{}", ss_row("2021-03-12 10:00:00", ip, "exchange;webshell", "EXCH01", "/x.aspx")),
    )
    .await;
    let org = s.get("/api/v1/organisations?name=County").await["items"][0]["id"].as_i64().unwrap();
    s.ok(
        "POST",
        &format!("/api/v1/organisations/{org}/communication"),
        r#"{"state":"notified","at":"2021-03-13T09:00:00Z","note":"letter"}"#,
    )
    .await;
    let id = s.host_id(ip).await;
    let at = |d: &str| format!("/api/v1/hosts/{id}?at={d}");
    assert_eq!(s.get(&at("2021-03-01")).await["at"]["tech_state"], Value::Null);
    assert_eq!(s.get(&at("2021-03-11")).await["at"]["tech_state"], "vulnerable");
    assert_eq!(s.get(&at("2021-03-12")).await["at"]["tech_state"], "compromised");
    let o = s.get(&format!("/api/v1/organisations/{org}?at=2021-03-11")).await;
    assert_eq!(
        (o["at"]["tech_state"].as_str(), o["at"]["comm_state"].as_str()),
        (Some("vulnerable"), Some("not_contacted")),
        "{o}"
    );
    let o = s.get(&format!("/api/v1/organisations/{org}?at=2021-03-14")).await;
    assert_eq!(
        (o["at"]["tech_state"].as_str(), o["at"]["comm_state"].as_str()),
        (Some("compromised"), Some("notified"))
    );
    let st = s.get("/api/v1/stats?at=2021-03-12").await;
    assert_eq!((st["hosts"]["compromised"].as_i64(), st["urgent"].as_i64()), (Some(1), Some(1)), "{st}");
    let st = s.get("/api/v1/stats?at=2021-03-13T10:00:00Z").await;
    assert_eq!(st["urgent"], 0, "notified on the 13th: {st}");
    let now = s.get("/api/v1/stats").await;
    assert_eq!(
        (now["hosts"]["compromised"].as_i64(), now["communication"]["notified"].as_i64()),
        (Some(1), Some(1)),
        "{now}"
    );
    let (st, _) = s.call("GET", &format!("/api/v1/hosts/{id}?at=someday"), Some(&s.analyst), Body::empty()).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // Illegal communication step.
    let (st, body) = s
        .call(
            "POST",
            &format!("/api/v1/organisations/{org}/communication"),
            Some(&s.analyst),
            r#"{"state":"not_contacted"}"#,
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{}", String::from_utf8_lossy(&body));
}
on_both!(state_on_a_past_date);

/// The County of Example (192.0.2.10, EXCH01, vulnerable) and the Example Clinic (198.51.100.7,
/// CLINIC, web shell): two organisations to tell a reporter's own data from another's.
async fn two_organisations(s: &Svc) -> (i64, i64) {
    s.upload("orgs", "orgs.csv", ORGS).await;
    s.upload(
        "shadowserver",
        "a.csv",
        format!(
            "{SS_HEADER}{}{}",
            ss_row("2021-03-02 10:00:00", "192.0.2.10", "exchange;cve-2021-26855", "EXCH01", ""),
            ss_row("2021-03-02 10:00:00", "198.51.100.7", "exchange;webshell", "CLINIC", "/x.aspx")
        ),
    )
    .await;
    let orgs = s.get("/api/v1/organisations?per_page=10").await;
    let id_of = |name: &str| {
        orgs["items"].as_array().unwrap().iter().find(|o| o["name"] == name).unwrap()["id"].as_i64().unwrap()
    };
    let (own, other) = (id_of("County of Example"), id_of("Example Clinic"));
    (own, other)
}

/// Each role × each endpoint; a reporter reading another organisation fails.
async fn authorisation_matrix(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    let (own, other) = two_organisations(&s).await;
    let own_host = s.host_id("192.0.2.10").await;
    let other_host = s.host_id("198.51.100.7").await;
    let (st, body) = s
        .call(
            "POST",
            "/api/v1/tokens",
            Some(&s.admin),
            json!({"name": "county", "role": "reporter", "org_id": own}).to_string(),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
    let reporter: Value = serde_json::from_slice(&body).unwrap();
    let reporter = reporter["token"].as_str().unwrap().to_string();
    let (_, body) =
        s.call("POST", "/api/v1/tokens", Some(&s.admin), json!({"name": "spare", "role": "analyst"}).to_string()).await;
    let spare: Value = serde_json::from_slice(&body).unwrap();

    let roles: [(&str, Option<&str>); 4] =
        [("none", None), ("admin", Some(&s.admin)), ("analyst", Some(&s.analyst)), ("reporter", Some(&reporter))];
    let mut checked = 0;
    for ep in ENDPOINTS {
        // OwnOrg endpoints are tried on the reporter's organisation and on another one.
        let targets: Vec<(String, bool)> = if ep.path.contains("/hosts/{id}") {
            vec![
                (ep.path.replace("{id}", &own_host.to_string()), true),
                (ep.path.replace("{id}", &other_host.to_string()), false),
            ]
        } else if ep.path.contains("/tokens/{id}") {
            vec![(ep.path.replace("{id}", &spare["id"].to_string()), true)]
        } else if ep.path.contains("/ingests/{id}") {
            vec![(ep.path.replace("{id}", "1"), true)]
        } else if ep.path.contains("{kind}") {
            vec![(ep.path.replace("{kind}", "shadowserver"), true)]
        } else if ep.path.contains("{id}") {
            vec![
                (ep.path.replace("{id}", &own.to_string()), true),
                (ep.path.replace("{id}", &other.to_string()), false),
            ]
        } else {
            vec![(ep.path.to_string(), true)]
        };
        for (path, is_own) in &targets {
            for (role, token) in &roles {
                let allowed = match (ep.access, *role) {
                    (Access::Public, _) => true,
                    (_, "none") => false,
                    (Access::Admin, r) => r == "admin",
                    (Access::Staff, r) => r != "reporter",
                    (Access::OwnOrg, "reporter") => *is_own,
                    (Access::OwnOrg, _) => true,
                };
                // A body that is invalid but well-formed enough: allowed calls may answer 4xx for it, never 401/403.
                let body = if ep.method == "POST" { "{}" } else { "" };
                let (status, resp) = s.call(ep.method, path, *token, body).await;
                let denied = status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN;
                assert_eq!(
                    !denied,
                    allowed,
                    "{} {path} as {role}: {status} {}",
                    ep.method,
                    String::from_utf8_lossy(&resp)
                );
                if *role == "none" && !allowed {
                    assert_eq!(status, StatusCode::UNAUTHORIZED);
                }
                assert!(
                    status != StatusCode::METHOD_NOT_ALLOWED
                        && !String::from_utf8_lossy(&resp).contains("no such endpoint"),
                    "{} {path}: route missing",
                    ep.method
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= ENDPOINTS.len() * 4);
    // The reporter sees its own organisation's data only.
    let (st, body) = s.call("GET", &format!("/api/v1/organisations/{own}/hosts"), Some(&reporter), Body::empty()).await;
    assert_eq!(st, StatusCode::OK);
    let hosts: Value = serde_json::from_slice(&body).unwrap();
    assert!(hosts["items"].as_array().unwrap().iter().all(|h| h["ip"].as_str().unwrap().starts_with("192.0.2.")));
    // A reporter's hunt report about another organisation's host is refused whole.
    let before = s.count("observation").await;
    let (st, _) = s
        .call(
            "POST",
            &format!("/api/v1/organisations/{own}/hunt-reports?ip=198.51.100.7"),
            Some(&reporter),
            hunt_report("CLINIC", "clean", "fixed"),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(s.count("observation").await, before);
    // Its own is taken (matched by server name within its organisation).
    let (st, body) = s
        .call(
            "POST",
            &format!("/api/v1/organisations/{own}/hunt-reports"),
            Some(&reporter),
            hunt_report("EXCH01", "clean", "fixed"),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    // Unknown, revoked and malformed tokens.
    let (st, _) = s.call("GET", "/api/v1/stats", Some("tf_nope"), Body::empty()).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = s.call("DELETE", &format!("/api/v1/tokens/{}", spare["id"]), Some(&s.admin), Body::empty()).await;
    assert!(st == StatusCode::NO_CONTENT || st == StatusCode::NOT_FOUND);
    let (st, _) = s.call("GET", "/api/v1/stats", Some(spare["token"].as_str().unwrap()), Body::empty()).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "a revoked token");
}
on_both!(authorisation_matrix);

/// Malformed uploads: clear 4xx, nothing half-written.
async fn malformed_uploads(kind: &str) {
    let Some(s) = svc_with(kind, |c| c.max_upload_bytes = 64 * 1024).await else { return };
    let tables = ["ingest", "observation", "host", "state_event", "ingest_error"];
    let mut before = Vec::new();
    for t in tables {
        before.push(s.count(t).await);
    }
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "shadowserver",
            probe_line("2021-03-20T00:00:00Z", "192.0.2.1", &["fixed"]).into_bytes(),
            StatusCode::BAD_REQUEST,
            "not a Shadowserver",
        ),
        (
            "probe",
            format!("{SS_HEADER}{}", ss_row("2021-03-15 02:14:07", "192.0.2.10", "exchange", "X", "")).into_bytes(),
            StatusCode::BAD_REQUEST,
            "not a taskforce probe",
        ),
        (
            "hunt",
            b"{\"schema\":\"taskforce.hunt.v1\",\"hosts\":[{\"name\":\"EX".to_vec(),
            StatusCode::BAD_REQUEST,
            "truncated",
        ),
        (
            "shadowserver",
            format!(
                "{SS_HEADER}{}\"2021-03-15 02:14:08\",\"192.0.2.11\",443,\"mail",
                ss_row("2021-03-15 02:14:07", "192.0.2.10", "exchange", "X", "")
            )
            .into_bytes(),
            StatusCode::BAD_REQUEST,
            "truncated",
        ),
        (
            "intelmq",
            [
                probe_line("2021-03-20T00:00:00Z", "192.0.2.1", &[]).as_bytes(),
                b"{\"source.ip\":\"192.0.2.1\",\"extra.x\":\"caf\xe9\"}\n",
            ]
            .concat(),
            StatusCode::BAD_REQUEST,
            "UTF-8",
        ),
        (
            "shadowserver",
            [SS_HEADER.as_bytes(), b"\"2021-03-15 02:14:07\",\"192.0.2.10\",443,\"h\xff\",\"exchange\"\n"].concat(),
            StatusCode::BAD_REQUEST,
            "UTF-8",
        ),
        ("orgs", b"name;x\n".to_vec(), StatusCode::BAD_REQUEST, "org column"),
        ("asn", b"hello world\n".to_vec(), StatusCode::BAD_REQUEST, "ASN"),
        ("asn-mmdb", b"not a database".to_vec(), StatusCode::BAD_REQUEST, "MaxMind"),
        ("shadowserver", Vec::new(), StatusCode::BAD_REQUEST, "empty"),
        (
            "shadowserver",
            format!("{SS_HEADER}{}", ss_row("2021-03-15 02:14:07", "192.0.2.10", "exchange", "X", "").repeat(1000))
                .into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than the limit",
        ),
        ("nonsense", b"x".to_vec(), StatusCode::NOT_FOUND, "unknown kind"),
    ];
    for (kind, body, want, text) in cases {
        let (st, resp) = s.call("POST", &format!("/api/v1/ingest/{kind}?file_name=bad"), Some(&s.analyst), body).await;
        let msg = String::from_utf8_lossy(&resp).to_string();
        assert_eq!(st, want, "{kind}: {msg}");
        assert!(msg.contains(text), "{kind}: {msg} lacks {text:?}");
    }
    // A huge upload without Content-Length (streamed) is stopped too.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..100).map(|_| Ok(vec![b'a'; 1024])).collect();
    let body = Body::from_stream(futures_util::stream::iter(chunks));
    let (st, _) = s.call("POST", "/api/v1/ingest/shadowserver", Some(&s.analyst), body).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    for (t, n) in tables.iter().zip(before) {
        assert_eq!(s.count(t).await, n, "{t} changed after refused uploads");
    }
    // No spooled upload is left behind.
    let left: Vec<_> = std::fs::read_dir(s.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("taskforce-upload-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
on_both!(malformed_uploads);

/// Enrichment from offline files with provenance; manual entries win; most specific network wins.
async fn enrichment_and_ownership(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    // iptoasn TSV: 192.0.2.0/24 → AS64496; the feed's own ASN is the fallback elsewhere.
    let r = s.upload("asn", "ip2asn-v4.tsv", "192.0.2.0\t192.0.2.255\t64496\tUS\tEXAMPLE-NET\n198.51.100.0\t198.51.100.255\t0\tNone\tNot routed\nbad line\n").await;
    assert_eq!((r["rows_ok"].as_i64(), r["rows_rejected"].as_i64()), (Some(1), Some(1)), "{r}");
    let asn_ingest = r["ingest_id"].as_i64().unwrap();
    s.upload("orgs", "orgs.csv", "org,network,asn,abuse_email\nWide ISP,192.0.0.0/16,,abuse@isp.example\nCounty,192.0.2.0/25,,it@county.example\nAS owner,,64496,noc@asowner.example\n").await;
    let csv = format!(
        "{SS_HEADER}{}{}{}",
        ss_row("2021-03-15 02:14:07", "192.0.2.10", "exchange;cve-2021-26855", "A", ""),
        ss_row("2021-03-15 02:14:07", "192.0.2.200", "exchange;cve-2021-26855", "B", ""),
        ss_row("2021-03-15 02:14:07", "203.0.113.9", "exchange;cve-2021-26855", "C", "")
    );
    s.upload("shadowserver", "s.csv", csv).await;
    let s = &s;
    let host = |ip: &'static str| async move { s.get(&format!("/api/v1/hosts/{}", s.host_id(ip).await)).await };
    let a = host("192.0.2.10").await;
    assert_eq!(
        (a["asn"].as_i64(), a["asn_source"].as_str()),
        (Some(64496), Some(format!("ingest:{asn_ingest}").as_str()))
    );
    assert_eq!(a["org_via"], "network:192.0.2.0/25", "the most specific network wins");
    let b = host("192.0.2.200").await;
    assert_eq!(b["org_via"], "network:192.0.0.0/16");
    let c = host("203.0.113.9").await;
    assert_eq!(
        (c["asn"].as_i64(), c["asn_source"].as_str(), c["org_id"].as_i64()),
        (
            Some(64496),
            Some("feed"),
            Some(s.get("/api/v1/organisations?name=AS%20owner").await["items"][0]["id"].as_i64().unwrap())
        )
    );
    assert_eq!(c["org_via"], "asn:64496");
    // A manual network for the ISP at the same specificity as the county's wins, hosts move.
    let isp = s.get("/api/v1/organisations?name=Wide").await["items"][0]["id"].as_i64().unwrap();
    let r = s.ok("POST", &format!("/api/v1/organisations/{isp}/networks"), r#"{"cidr":"192.0.2.0/25"}"#).await;
    // The re-mapping is a background job the answer names; its progress says what it did.
    let job = r["reenrich_job"].as_i64().unwrap_or_else(|| panic!("no job in {r}"));
    s.jobs_done().await;
    let j = s.get(&format!("/api/v1/jobs/{job}")).await;
    assert_eq!((j["status"].as_str(), j["changed"].as_i64()), (Some("done"), Some(1)), "{j}");
    assert_eq!(j["done"], j["total"], "{j}");
    assert_eq!(host("192.0.2.10").await["org_id"], isp);
    // A manual contact wins over the imported one.
    s.ok("POST", &format!("/api/v1/organisations/{isp}/contacts"), r#"{"email":"CSIRT@isp.example","role":"abuse"}"#)
        .await;
    let org = s.get(&format!("/api/v1/organisations/{isp}")).await;
    assert_eq!(org["abuse_contact"], "csirt@isp.example");
    assert_eq!(org["contacts"].as_array().unwrap().len(), 2);
    assert_eq!(org["hosts"], 2);
    let (st, _) = s
        .call(
            "POST",
            &format!("/api/v1/organisations/{isp}/contacts"),
            Some(&s.analyst),
            r#"{"email":"not an address"}"#,
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // Filters: state, ASN, country, last seen, sector.
    let by_asn = s.get("/api/v1/organisations?asn=64496").await;
    assert!(by_asn["total"].as_i64().unwrap() >= 2, "{by_asn}");
    assert_eq!(s.get("/api/v1/hosts?asn=64496&state=vulnerable").await["total"], 3);
    assert_eq!(s.get("/api/v1/hosts?last_seen_after=2021-03-16").await["total"], 0);
    assert_eq!(s.get("/api/v1/hosts?country=us&per_page=1").await["items"].as_array().unwrap().len(), 1);
    let (st, _) = s.call("GET", "/api/v1/hosts?asn=many", Some(&s.analyst), Body::empty()).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = s.call("GET", "/api/v1/organisations?state=bad", Some(&s.analyst), Body::empty()).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}
on_both!(enrichment_and_ownership);

/// The real MaxMind test database, when the shared corpus is present.
async fn maxmind_database(kind: &str) {
    let Some(path) = taskforce_corpus::path("maxmind_database", "enrichment/GeoLite2-ASN-Test.mmdb") else {
        return;
    };
    let Some(s) = svc(kind).await else { return };
    let r = s.upload("asn-mmdb", "GeoLite2-ASN-Test.mmdb", std::fs::read(&path).unwrap()).await;
    assert!(r["rows_ok"].as_i64().unwrap() > 100, "{r}");
    s.upload(
        "shadowserver",
        "s.csv",
        format!("{SS_HEADER}{}", ss_row("2021-05-14 00:11:30", "12.81.92.7", "exchange;cve-2021-26855", "AFS", "")),
    )
    .await;
    let h = s.get(&format!("/api/v1/hosts/{}", s.host_id("12.81.92.7").await)).await;
    assert_eq!(h["asn"], 7018, "{h}");
}
on_both!(maxmind_database);

/// Exports: Shadowserver columns in CSV, IntelMQ events that our own IntelMQ parser reads back.
async fn exports(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    s.upload("orgs", "orgs.csv", ORGS).await;
    let csv = format!(
        "{SS_HEADER}{}{}",
        ss_row("2021-03-15 02:14:07", "192.0.2.10", "exchange;cve-2021-26855", "EXCH01", ""),
        ss_row("2021-03-15 02:14:09", "192.0.2.11", "exchange;webshell", "EXCH02", "/aspnet_client/system_web/a1.aspx")
    );
    s.upload("shadowserver", "s.csv", csv).await;
    let org = s.get("/api/v1/organisations?name=County").await["items"][0]["id"].as_i64().unwrap();
    let (st, body) =
        s.call("GET", &format!("/api/v1/organisations/{org}/export.csv"), Some(&s.analyst), Body::empty()).await;
    assert_eq!(st, StatusCode::OK);
    let text = String::from_utf8(body).unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with(
        "timestamp,ip,port,hostname,tag,asn,geo,region,city,naics,sic,sector,version,servername,url,state"
    ));
    let first = lines.next().unwrap();
    assert!(
        first.contains("192.0.2.11")
            && first.contains("exchange;webshell")
            && first.contains("/aspnet_client/system_web/a1.aspx")
            && first.contains("compromised"),
        "{first}"
    );
    assert!(first.contains("abuse@county.example"));
    let (st, body) =
        s.call("GET", &format!("/api/v1/organisations/{org}/export.jsonl"), Some(&s.analyst), Body::empty()).await;
    assert_eq!(st, StatusCode::OK);
    let events: Vec<Value> =
        String::from_utf8(body.clone()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["classification.type"], "system-compromise");
    assert_eq!(events[1]["classification.identifier"], "vulnerable-exchange-server");
    assert_eq!(events[0]["source.abuse_contact"], "abuse@county.example");
    // Round trip: a fresh service reads our export with the same states.
    let Some(t) = svc(kind).await else { return };
    let r = t.upload("intelmq", "export.jsonl", body).await;
    assert_eq!(r["rows_ok"], 2, "{r}");
    assert_eq!(t.host_state("192.0.2.11").await, "compromised");
    assert_eq!(t.host_state("192.0.2.10").await, "vulnerable");
}
on_both!(exports);

/// The OpenAPI document lists exactly the routes of `ENDPOINTS`, and the server serves it.
#[tokio::test]
async fn openapi_matches_the_routes() {
    let doc: serde_norway::Value = serde_norway::from_str(OPENAPI_YAML).expect("openapi.yaml parses");
    let paths = doc.get("paths").and_then(|p| p.as_mapping()).expect("paths");
    let mut documented = Vec::new();
    for (path, ops) in paths {
        for (method, _) in ops.as_mapping().unwrap() {
            documented.push(format!("{} {}", method.as_str().unwrap().to_uppercase(), path.as_str().unwrap()));
        }
    }
    let mut routes: Vec<String> = ENDPOINTS.iter().map(|e| format!("{} {}", e.method, e.path)).collect();
    // The notification routes are documented here too; crates/notify's tests check them.
    documented.retain(|d| !d.contains(" /api/v1/notify/"));
    documented.sort();
    routes.sort();
    assert_eq!(documented, routes);
    let Some(s) = svc("sqlite").await else { return };
    let (st, body) = s.call("GET", "/openapi.yaml", None, Body::empty()).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(body, OPENAPI_YAML.as_bytes());
    let (st, body) = s.call("GET", "/health", None, Body::empty()).await;
    assert_eq!(st, StatusCode::OK);
    let health: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((health["status"].as_str(), health["database"].as_str()), (Some("ok"), Some("sqlite")));
}

/// The real Shadowserver sample (anonymised rows from 2021) ingests whole.
async fn real_shadowserver_sample(kind: &str) {
    let Some(path) = taskforce_corpus::path("real_shadowserver_sample", "feeds/shadowserver-scan_exchange-sample.csv")
    else {
        return;
    };
    let Some(s) = svc(kind).await else { return };
    let r = s.upload("shadowserver", "2021-05-14-scan_exchange-sample.csv", std::fs::read(&path).unwrap()).await;
    assert_eq!((r["rows_ok"].as_i64(), r["rows_rejected"].as_i64()), (Some(7), Some(0)), "{r}");
    let st = s.get("/api/v1/stats").await;
    let total: i64 = st["hosts"].as_object().unwrap().values().map(|v| v.as_i64().unwrap()).sum();
    assert_eq!(total, 7);
    assert!(st["hosts"]["compromised"].as_i64().unwrap() >= 1, "{st}");
}
on_both!(real_shadowserver_sample);

/// The accounts a hunt report names are kept with the report and read back per organisation:
/// by its reporter and staff, never by another organisation's reporter; every read is audited.
async fn accounts_from_hunt_reports(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    let (own, other) = two_organisations(&s).await;
    let token = |name: &str, org: i64| {
        let s = &s;
        let name = name.to_string();
        async move {
            let (_, body) = s
                .call(
                    "POST",
                    "/api/v1/tokens",
                    Some(&s.admin),
                    json!({"name": name, "role": "reporter", "org_id": org}).to_string(),
                )
                .await;
            serde_json::from_slice::<Value>(&body).unwrap()["token"].as_str().unwrap().to_string()
        }
    };
    let (county, clinic) = (token("county", own).await, token("clinic", other).await);
    let mut report: Value = serde_json::from_str(&hunt_report("EXCH01", "compromised", "fixed")).unwrap();
    report["hosts"][0]["accounts"] = json!([
        {"account": "ceo@county.example", "kind": "address", "actions": ["mailbox_exported"],
         "first": "2021-03-03T04:00:00Z", "last": "2021-03-03T04:05:00Z",
         "findings": [{"rule": "TF-PS-06-MAILBOXEXPORT", "action": "mailbox_exported", "source": "x.LOG", "line": 7, "time": null}]},
        {"account": "*", "kind": "all_sessions", "actions": ["credentials_exposed"], "first": null, "last": null, "findings": []}
    ]);
    let (st, body) =
        s.call("POST", &format!("/api/v1/organisations/{own}/hunt-reports"), Some(&county), report.to_string()).await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let audits_before = s.count("audit_log").await;
    let (st, body) =
        s.call("GET", &format!("/api/v1/organisations/{own}/accounts"), Some(&county), Body::empty()).await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["count"], 2);
    let ceo = v["accounts"].as_array().unwrap().iter().find(|a| a["account"] == "ceo@county.example").unwrap();
    assert_eq!(ceo["actions"], json!(["mailbox_exported"]));
    assert_eq!(ceo["rules"], json!(["TF-PS-06-MAILBOXEXPORT"]));
    assert_eq!(ceo["hosts"][0]["ip"], "192.0.2.10");
    assert!(ceo["reports"][0]["ingest_id"].as_i64().is_some());
    assert_eq!(s.count("audit_log").await, audits_before + 1, "the read is audited");
    // Another organisation's reporter cannot read them; staff can.
    let (st, _) = s.call("GET", &format!("/api/v1/organisations/{own}/accounts"), Some(&clinic), Body::empty()).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(s.get(&format!("/api/v1/organisations/{own}/accounts")).await["count"], 2);
    assert_eq!(s.get(&format!("/api/v1/organisations/{other}/accounts")).await["count"], 0);
    // The organisation's export carries them (last column) for its own hosts, and is audited.
    let audits = s.count("audit_log").await;
    let (st, body) =
        s.call("GET", &format!("/api/v1/organisations/{own}/export.csv"), Some(&county), Body::empty()).await;
    assert_eq!(st, StatusCode::OK);
    let csv = String::from_utf8(body).unwrap();
    assert!(csv.lines().next().unwrap().ends_with(",accounts"), "{csv}");
    assert!(csv.contains("ceo@county.example (mailbox_exported)"), "{csv}");
    assert_eq!(s.count("audit_log").await, audits + 1, "an export naming accounts is an audited read");
    let (_, body) =
        s.call("GET", &format!("/api/v1/organisations/{other}/export.csv"), Some(&clinic), Body::empty()).await;
    assert!(!String::from_utf8(body).unwrap().contains("county.example"), "never another organisation's accounts");
}
on_both!(accounts_from_hunt_reports);
