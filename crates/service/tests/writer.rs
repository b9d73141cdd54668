//! Group commit (`writer`): writes queued together commit in one transaction, each answered
//! with its own result; a write that fails is rolled back alone and the others of its group
//! still land; a full queue or a write that waited too long is refused with 503. On SQLite and
//! on PostgreSQL.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use serde_json::Value;
use sqlx::Row;
use taskforce_service::api::{AppState, router};
use taskforce_service::ingest::{IngestError, IngestKind};
use taskforce_service::records;
use taskforce_service::store::Uploader;
use taskforce_service::tokens::{Principal, Role};
use taskforce_service::{Config, Db};

const ORGS: &str =
    "org,network,asn,sector,cc,abuse_email\nOrg A,10.0.0.0/24,,S,US,a@a.example\nOrg B,10.0.1.0/24,,S,US,b@b.example\n";

fn analyst() -> Principal {
    Principal { token_id: 0, name: "ana".into(), role: Role::Analyst, org_id: None }
}

/// Holds the writer inside a write until the returned sender fires (or is dropped).
async fn hold_writer(db: &Db) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (release, held) = tokio::sync::oneshot::channel::<()>();
    let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
    let writer = db.writer.clone();
    let handle = tokio::spawn(async move {
        writer
            .run(move |_tx| {
                Box::pin(async move {
                    let _ = started_tx.send(());
                    let _ = held.await;
                    Ok::<_, anyhow::Error>(())
                })
            })
            .await
            .expect("the holding write commits");
    });
    started.await.expect("the holding write started");
    (release, handle)
}

/// Waits until `n` writes are queued behind the holder.
async fn until_queued(db: &Db, n: usize) {
    for _ in 0..2000 {
        if db.writer.queued() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("only {} of {n} writes queued", db.writer.queued());
}

async fn a_group_commits_each_write_with_its_own_answer(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    s.upload("orgs", "orgs.csv", ORGS).await;
    s.upload(
        "shadowserver",
        "seed.csv",
        format!(
            "{SS_HEADER}{}{}",
            ss_row("2021-03-01 00:00:00", "10.0.0.1", "exchange;cve-2021-26855", "A", ""),
            ss_row("2021-03-01 00:00:00", "10.0.1.1", "exchange;cve-2021-26855", "B", "")
        ),
    )
    .await;
    let org_of = |name: &'static str| {
        let pool = s.db.pool.clone();
        async move {
            sqlx::query("SELECT id FROM organisation WHERE name = $1")
                .bind(name)
                .fetch_one(&pool)
                .await
                .unwrap()
                .try_get::<i64, _>(0)
                .unwrap()
        }
    };
    let (org_a, org_b) = (org_of("Org A").await, org_of("Org B").await);
    assert_ne!(org_a, org_b);
    let host_b = s.host_id("10.0.1.1").await;
    let audit_before = s.count("audit_log").await;
    let before = s.db.writer.stats();

    let (release, holder) = hold_writer(&s.db).await;
    let mut writes = Vec::new();
    // 12 contacts, each its own address.
    for i in 0..12 {
        let db = s.db.clone();
        writes.push(tokio::spawn(async move {
            let v = records::contact(&db, &analyst(), org_a, &format!("soc{i}@a.example"), "security", None, None)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<Value, String>(v)
        }));
    }
    // A reporter of organisation A uploads a report about B's host: refused after its ingest row
    // was written, so its savepoint must roll back alone.
    let forbidden = {
        let db = s.db.clone();
        let dir = s.dir.path().to_path_buf();
        tokio::spawn(async move {
            let path = dir.join("foreign.json");
            std::fs::write(&path, hunt_report("B-HOST", "clean", "fixed")).unwrap();
            let uploader = Uploader { name: "token:rep".into(), reporter_org: Some(org_a) };
            let reporter = Principal { token_id: 0, name: "rep".into(), role: Role::Reporter, org_id: Some(org_a) };
            records::upload(
                &db,
                &reporter,
                &uploader,
                IngestKind::parse("hunt").unwrap(),
                &path,
                "foreign.json",
                Some("10.0.1.1".parse().unwrap()),
            )
            .await
        })
    };
    // A remediation and a feed upload in the same group.
    let remediation = {
        let db = s.db.clone();
        tokio::spawn(async move { records::remediation(&db, &analyst(), host_b, "rebuilt", None).await })
    };
    let upload = {
        let db = s.db.clone();
        let dir = s.dir.path().to_path_buf();
        tokio::spawn(async move {
            let path = dir.join("day2.csv");
            std::fs::write(
                &path,
                format!(
                    "{SS_HEADER}{}",
                    ss_row("2021-03-02 00:00:00", "10.0.0.2", "exchange;cve-2021-26855", "A2", "")
                ),
            )
            .unwrap();
            let uploader = Uploader { name: "token:ana".into(), reporter_org: None };
            records::upload(
                &db,
                &analyst(),
                &uploader,
                IngestKind::parse("shadowserver").unwrap(),
                &path,
                "day2.csv",
                None,
            )
            .await
        })
    };
    until_queued(&s.db, 15).await;
    release.send(()).unwrap();
    holder.await.unwrap();

    let mut ids = std::collections::BTreeSet::new();
    for (i, w) in writes.into_iter().enumerate() {
        let v = w.await.unwrap().expect("each contact lands");
        assert_eq!(v["email"], format!("soc{i}@a.example"), "each write gets its own answer: {v}");
        ids.insert(v["id"].as_i64().unwrap());
    }
    assert_eq!(ids.len(), 12, "twelve different contacts");
    match forbidden.await.unwrap() {
        Err(IngestError::Forbidden(m)) => assert!(m.contains("10.0.1.1"), "{m}"),
        other => panic!("a reporter's upload about another organisation's host is refused: {other:?}"),
    }
    let r = remediation.await.unwrap().expect("the remediation lands");
    assert_eq!(r["host"]["tech_state"], "remediated", "{r}");
    let u = serde_json::to_value(upload.await.unwrap().expect("the upload lands")).unwrap();
    assert_eq!(u["rows_ok"], 1, "{u}");

    // They were written together: one group of 15 after the holder.
    let after = s.db.writer.stats();
    assert!(after.largest_group >= 15, "{after:?}");
    assert_eq!(after.groups - before.groups, 2, "the holder's group and one more: {after:?}");
    assert_eq!(after.failed - before.failed, 1, "only the refused upload failed: {after:?}");

    // Everything of the others is there; nothing of the refused upload.
    let contacts: i64 = sqlx::query("SELECT COUNT(*) FROM contact WHERE org_id = $1 AND managed = 'manual'")
        .bind(org_a)
        .fetch_one(&s.db.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(contacts, 12);
    assert_eq!(s.count("ingest WHERE file_name = 'foreign.json'").await, 0, "the refused upload left nothing");
    assert_eq!(s.count("ingest WHERE file_name = 'day2.csv' AND status = 'done'").await, 1);
    assert_eq!(s.host_state("10.0.1.1").await, "remediated");
    assert_eq!(s.host_state("10.0.0.2").await, "vulnerable");
    // 12 contacts + 1 remediation + 1 upload audited, in the same transactions as their changes.
    assert_eq!(s.count("audit_log").await - audit_before, 14);
    // The roll-ups moved with the writes (B's host remediated, A's second host counted).
    let org: Value = s.get(&format!("/api/v1/organisations/{org_b}")).await;
    assert_eq!(org["tech_state"], "remediated", "{org}");
    let org: Value = s.get(&format!("/api/v1/organisations/{org_a}")).await;
    assert_eq!(org["hosts"], 2, "{org}");

    // A hunt report's answer lists its host (read in its own transaction), and so does the same
    // report sent again (a duplicate: its hosts are the earlier ingest's).
    for round in ["first", "again"] {
        let answer = s
            .ok(
                "POST",
                &format!("/api/v1/organisations/{org_a}/hunt-reports?ip=10.0.0.1&file_name=r.json"),
                hunt_report("A-HOST", "clean", "fixed"),
            )
            .await;
        assert_eq!(answer["hosts"].as_array().map(Vec::len), Some(1), "{round}: {answer}");
        assert_eq!(answer["hosts"][0]["ip"], "10.0.0.1", "{round}: {answer}");
        assert_eq!(answer["duplicate_file"], round == "again", "{round}: {answer}");
    }
}
on_both!(a_group_commits_each_write_with_its_own_answer);

async fn a_write_that_fails_after_writing_is_rolled_back_alone(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    s.upload("orgs", "orgs.csv", ORGS).await;
    let (release, holder) = hold_writer(&s.db).await;
    let mut writes = Vec::new();
    for i in 0..6 {
        let writer = s.db.writer.clone();
        writes.push(tokio::spawn(async move {
            writer
                .run(move |tx| {
                    Box::pin(async move {
                        sqlx::query("INSERT INTO audit_log (at, actor, action, object_type, object_id) VALUES ($1, 'test', 'probe', 'x', $2)")
                            .bind("2021-01-01T00:00:00Z")
                            .bind(i.to_string())
                            .execute(&mut **tx)
                            .await?;
                        // Every odd write fails after it wrote its row (and, on PostgreSQL, one
                        // fails with a database error, which aborts the transaction until the
                        // savepoint is rolled back).
                        match i {
                            1 => anyhow::bail!("write {i} fails"),
                            3 => {
                                sqlx::query("INSERT INTO no_such_table VALUES (1)").execute(&mut **tx).await?;
                                Ok(i)
                            }
                            5 => anyhow::bail!("write {i} fails"),
                            _ => Ok(i),
                        }
                    })
                })
                .await
        }));
    }
    until_queued(&s.db, 6).await;
    release.send(()).unwrap();
    holder.await.unwrap();
    for (i, w) in writes.into_iter().enumerate() {
        let r = w.await.unwrap();
        if i % 2 == 1 {
            assert!(r.is_err(), "write {i} fails");
        } else {
            assert_eq!(r.unwrap(), i, "write {i} answers its own result");
        }
    }
    let rows: Vec<String> = sqlx::query("SELECT object_id FROM audit_log WHERE actor = 'test' ORDER BY object_id")
        .fetch_all(&s.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get(0).unwrap())
        .collect();
    assert_eq!(rows, ["0", "2", "4"], "the failed writes left nothing, the others everything");
}
on_both!(a_write_that_fails_after_writing_is_rolled_back_alone);

async fn a_full_queue_or_a_long_wait_is_refused_with_503(kind: &str) {
    let Some(mut s) = svc(kind).await else { return };
    s.upload("orgs", "orgs.csv", ORGS).await;
    // A writer that lets 2 writes wait, each at most 300 ms (set before its first write).
    let mut writer = taskforce_service::writer::Writer::new(&s.url, s.db.dialect);
    writer.max_waiting = 2;
    writer.wait = Duration::from_millis(300);
    s.db.writer = writer;
    let config = Config { upload_dir: Some(s.dir.path().to_path_buf()), ..Config::default() };
    s.app = router(AppState { db: s.db.clone(), config: Arc::new(config) });

    let (release, holder) = hold_writer(&s.db).await;
    // Two wait; the third is refused at once.
    let waiting: Vec<_> = (0..2)
        .map(|i| {
            let app = s.app.clone();
            let analyst = s.analyst.clone();
            tokio::spawn(async move {
                use tower::ServiceExt;
                let req = axum::http::Request::builder()
                    .method("POST")
                    .uri("/api/v1/organisations/1/contacts")
                    .header("authorization", format!("Bearer {analyst}"))
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(format!(r#"{{"email":"w{i}@a.example"}}"#)))
                    .unwrap();
                app.oneshot(req).await.unwrap().status()
            })
        })
        .collect();
    until_queued(&s.db, 2).await;
    let (status, body) =
        s.call("POST", "/api/v1/organisations/1/contacts", Some(&s.analyst), r#"{"email":"x@a.example"}"#).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("busy"), "{}", String::from_utf8_lossy(&body));
    // The two waiting ones wait longer than 300 ms: refused when their turn comes, not run.
    tokio::time::sleep(Duration::from_millis(500)).await;
    release.send(()).unwrap();
    holder.await.unwrap();
    for w in waiting {
        assert_eq!(w.await.unwrap(), StatusCode::SERVICE_UNAVAILABLE, "a write that waited too long is refused");
    }
    assert_eq!(s.count("contact WHERE managed = 'manual'").await, 0, "no refused write was run");
    assert_eq!(s.db.writer.stats().refused, 3);
    // And the writer goes on.
    s.ok("POST", "/api/v1/organisations/1/contacts", r#"{"email":"later@a.example"}"#).await;
    assert_eq!(s.count("contact WHERE managed = 'manual'").await, 1);
}
on_both!(a_full_queue_or_a_long_wait_is_refused_with_503);
