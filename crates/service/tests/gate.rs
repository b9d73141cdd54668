//! The rarer writes (organisations, mappings, tokens, mapping files) take turns at the server's
//! write gate (`api::gate`) before they take a database connection: while one writes, reads are
//! answered at once, and a writer that cannot get its turn in time is answered 503 with
//! `Retry-After` instead of piling up. The frequent ones (feed uploads, hunt reports, analysts'
//! records) queue at the group-commit writer instead (`tests/writer.rs`), so a held gate does
//! not stop them. On SQLite and on PostgreSQL.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use taskforce_service::Config;
use taskforce_service::api::gate::WriteGate;
use taskforce_service::api::{AppState, router};
use tower::ServiceExt;

async fn writers_wait_their_turn_readers_do_not(kind: &str) {
    let Some(mut s) = svc(kind).await else { return };
    s.upload("orgs", "orgs.csv", "org,network,asn,sector,cc,abuse_email\nOrg A,10.0.0.0/24,,S,US,a@a.example\n").await;
    // A short wait and no queue, so the refusal shows at once.
    s.db.write_gate = WriteGate::new(0, Duration::from_millis(300));
    let config = Config { upload_dir: Some(s.dir.path().to_path_buf()), ..Config::default() };
    s.app = router(AppState { db: s.db.clone(), config: Arc::new(config) });

    let writing = s.db.write_gate.enter().await.expect("the gate is free");
    let started = Instant::now();
    s.get("/api/v1/organisations").await;
    s.get("/api/v1/stats").await;
    assert!(started.elapsed() < Duration::from_secs(5), "reads do not wait for the writer");

    let (status, body) = s.call("POST", "/api/v1/organisations", Some(&s.analyst), r#"{"name":"Org C"}"#).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("busy"), "{}", String::from_utf8_lossy(&body));
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/organisations/1/networks")
        .header("authorization", format!("Bearer {}", s.analyst))
        .header("content-type", "application/json")
        .body(Body::from(r#"{"cidr":"10.9.0.0/24"}"#))
        .unwrap();
    let resp = s.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().get("retry-after").is_some(), "a refused write says when to retry");
    // A mapping file is refused the same way once its body is on disk, and leaves nothing behind.
    let ingests = s.count("ingest").await;
    let (status, _) = s
        .call(
            "POST",
            "/api/v1/ingest/orgs?file_name=more.csv",
            Some(&s.analyst),
            "org,network,asn,sector,cc,abuse_email\nOrg D,10.0.2.0/24,,S,US,d@d.example\n",
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(s.count("ingest").await, ingests, "nothing ingested");

    // The frequent writes do not take turns at the gate: they go on while it is held.
    s.ok("POST", "/api/v1/organisations/1/contacts", r#"{"email":"x@a.example"}"#).await;
    let r = s
        .upload(
            "shadowserver",
            "x.csv",
            format!("{SS_HEADER}{}", ss_row("2021-03-01 00:00:00", "10.0.0.1", "exchange", "S", "")),
        )
        .await;
    assert_eq!(r["rows_ok"], 1, "{r}");

    drop(writing);
    s.ok("POST", "/api/v1/organisations", r#"{"name":"Org C"}"#).await;
}
on_both!(writers_wait_their_turn_readers_do_not);
