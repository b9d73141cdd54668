//! Shared harness: the same scenarios run on SQLite (always) and on a real PostgreSQL when
//! `TASKFORCE_TEST_PG` names one (`.ci/run` installs and starts it, and sets
//! `TASKFORCE_REQUIRE_PG=1` so a missing server fails instead of skipping).

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use taskforce_service::api::{AppState, router};
use taskforce_service::tokens::{self, Role};
use taskforce_service::{Config, Db};
use tower::ServiceExt;

pub struct Svc {
    pub db: Db,
    pub app: Router,
    pub admin: String,
    pub analyst: String,
    pub dir: tempfile::TempDir,
    /// The database's URL.
    pub url: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh, empty database of each kind available: `("sqlite", url)` and maybe `("postgres", url)`.
pub async fn fresh_database(kind: &str) -> Option<(String, Option<tempfile::TempDir>)> {
    match kind {
        "sqlite" => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("t.db").display());
            Some((url, Some(dir)))
        }
        _ => {
            let Ok(base) = std::env::var("TASKFORCE_TEST_PG") else {
                if std::env::var("TASKFORCE_REQUIRE_PG").is_ok() {
                    panic!("TASKFORCE_REQUIRE_PG is set but TASKFORCE_TEST_PG is not");
                }
                eprintln!("skipped: set TASKFORCE_TEST_PG=postgres://… to run the PostgreSQL case");
                return None;
            };
            sqlx::any::install_default_drivers();
            let admin = sqlx::AnyPool::connect(&base).await.unwrap_or_else(|e| panic!("cannot reach {base}: {e}"));
            let n = COUNTER.fetch_add(1, Ordering::SeqCst);
            if n == 0 {
                // Databases left by earlier runs (other processes) are dropped once per run.
                use sqlx::Row;
                let mine = format!("tf_test_{}_%", std::process::id());
                let stale = sqlx::query(
                    "SELECT CAST(datname AS TEXT) FROM pg_database WHERE datname LIKE 'tf_test_%' AND datname NOT LIKE $1",
                )
                .bind(mine)
                .fetch_all(&admin)
                .await
                .unwrap();
                for row in stale {
                    let name: String = row.try_get(0).unwrap();
                    // Another test process still running (a parallel run) keeps its databases.
                    let pid = name.trim_start_matches("tf_test_").split('_').next().unwrap_or("");
                    if !pid.is_empty() && std::path::Path::new("/proc").join(pid).exists() {
                        continue;
                    }
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
                        .execute(&admin)
                        .await;
                }
            }
            let name = format!("tf_test_{}_{n}", std::process::id());
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}"))).execute(&admin).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.unwrap();
            admin.close().await;
            let (prefix, _) = base.rsplit_once('/').expect("postgres URL with a database");
            Some((format!("{prefix}/{name}"), None))
        }
    }
}

pub async fn svc_with(kind: &str, tweak: impl FnOnce(&mut Config)) -> Option<Svc> {
    let (url, tmp) = fresh_database(kind).await?;
    let db = Db::connect(&url).await.unwrap();
    let dir = tmp.unwrap_or_else(|| tempfile::tempdir().unwrap());
    let mut config = Config { database: url.clone(), upload_dir: Some(dir.path().to_path_buf()), ..Config::default() };
    tweak(&mut config);
    let app = router(AppState { db: db.clone(), config: Arc::new(config) });
    let (_, admin) = tokens::create(&db, "root", Role::Admin, None).await.unwrap();
    let (_, analyst) = tokens::create(&db, "ana", Role::Analyst, None).await.unwrap();
    Some(Svc { db, app, admin, analyst, dir, url })
}

pub async fn svc(kind: &str) -> Option<Svc> {
    svc_with(kind, |_| {}).await
}

impl Svc {
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: impl Into<Body>,
    ) -> (StatusCode, Vec<u8>) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = req.header("content-type", "application/json").body(body.into()).unwrap();
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes().to_vec();
        (status, bytes)
    }

    /// A call that must succeed; returns its JSON.
    pub async fn ok(&self, method: &str, path: &str, body: impl Into<Body>) -> Value {
        let (status, bytes) = self.call(method, path, Some(&self.analyst), body).await;
        assert!(status.is_success(), "{method} {path}: {status} {}", String::from_utf8_lossy(&bytes));
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }

    pub async fn get(&self, path: &str) -> Value {
        self.ok("GET", path, Body::empty()).await
    }

    pub async fn upload(&self, kind: &str, name: &str, content: impl Into<Vec<u8>>) -> Value {
        let answer = self.ok("POST", &format!("/api/v1/ingest/{kind}?file_name={name}"), content.into()).await;
        // A mapping file (ASN ranges, organisations) queues a background re-enrichment: the
        // scenarios read hosts after it, so they wait for it as a client would.
        if kind.starts_with("asn") || kind == "orgs" {
            self.jobs_done().await;
        }
        answer
    }

    /// Waits (at most 60 s) until no background job is pending or running; fails on a failed one.
    pub async fn jobs_done(&self) {
        use sqlx::Row;
        for _ in 0..3000 {
            let open: i64 = sqlx::query("SELECT COUNT(*) FROM job WHERE status IN ('pending', 'running')")
                .fetch_one(&self.db.pool)
                .await
                .unwrap()
                .try_get(0)
                .unwrap();
            if open == 0 {
                let failed = self.count("job WHERE status = 'failed'").await;
                assert_eq!(failed, 0, "a background job failed: {}", self.get("/api/v1/jobs").await);
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("background jobs still open after 60 s: {}", self.get("/api/v1/jobs").await);
    }

    pub async fn count(&self, table: &str) -> i64 {
        use sqlx::Row;
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    }

    /// The host id of an address.
    pub async fn host_id(&self, ip: &str) -> i64 {
        use sqlx::Row;
        sqlx::query("SELECT id FROM host WHERE ip = $1")
            .bind(ip.to_string())
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    }

    pub async fn host_state(&self, ip: &str) -> String {
        let id = self.host_id(ip).await;
        self.get(&format!("/api/v1/hosts/{id}")).await["tech_state"].as_str().unwrap().to_string()
    }
}

pub const SS_HEADER: &str = "\"timestamp\",\"ip\",\"port\",\"hostname\",\"tag\",\"asn\",\"geo\",\"region\",\"city\",\"naics\",\"sic\",\"sector\",\"version\",\"servername\",\"url\"\n";

/// One Shadowserver row.
pub fn ss_row(ts: &str, ip: &str, tag: &str, server: &str, url: &str) -> String {
    format!(
        "\"{ts}\",\"{ip}\",443,\"mail.{server}.example\",\"{tag}\",64496,\"US\",\"OHIO\",\"COLUMBUS\",921190,,\"Public Administration\",\"\",\"{server}\",\"{url}\"\n"
    )
}

pub fn probe_line(time: &str, ip: &str, statuses: &[&str]) -> String {
    let patch: Vec<Value> = statuses.iter().map(|s| serde_json::json!({"family": "ProxyLogon", "status": s})).collect();
    serde_json::json!({"schema": "taskforce.probe.v1", "time": time, "target": ip, "address": ip, "port": 443, "reachable": true,
        "exchange": true, "build": "15.1.2176.9", "precision": "full", "patch": patch})
    .to_string()
        + "\n"
}

/// A one-host hunt report whose evidence ends on 11 March 2021.
pub fn hunt_report(name: &str, verdict: &str, patch_status: &str) -> String {
    hunt_report_at(name, verdict, patch_status, Some("2021-03-11T00:00:00Z"))
}

/// A one-host hunt report whose evidence ends at `evidence_to` (`None`: an undated report, as
/// older versions wrote them, with no evidence window and no coverage times).
pub fn hunt_report_at(name: &str, verdict: &str, patch_status: &str, evidence_to: Option<&str>) -> String {
    let mut host = serde_json::json!({"name": name, "evidence": "x", "verdict": verdict, "reason": "test",
        "exchange_build": "15.1.2176.9", "patch": [{"family": "ProxyLogon", "status": patch_status}], "coverage": [],
        "findings": [{"rule": "TF-PL-09", "severity": "high"}]});
    if let Some(to) = evidence_to {
        host["evidence_window"] = serde_json::json!({"from": "2021-01-01T00:00:00Z", "to": to});
        host["coverage"] =
            serde_json::json!([{"source": "IIS", "files": 1, "first": "2021-01-01T00:00:00Z", "last": to}]);
    }
    serde_json::json!({"schema": "taskforce.hunt.v1", "tool": {"name": "taskforce", "version": "0.1.0"},
        "generated_at": "2026-01-01T00:00:00Z", "hosts": [host], "skipped": []})
    .to_string()
}

/// Runs a scenario on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name("sqlite").await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name("postgres").await;
            }
        }
    };
}
