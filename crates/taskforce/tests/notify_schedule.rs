//! `taskforce serve` sending on the schedule of its `[notify]` table, against the loopback SMTP
//! sink: the due messages arrive once, later ticks inside the notification interval send
//! nothing, an SMTP server that is down at first only delays them; and one notification run at a
//! time per database across processes. On SQLite and PostgreSQL.

#[path = "../../service/tests/common.rs"]
mod common;
mod sink;

use sink::Sink;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::Row;

const ORGS: usize = 12;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_taskforce")
}

/// A loopback port nothing listens on (yet).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn run(args: &[&str], db: &str) {
    let out = Command::new(bin()).args(args).args(["--database", db]).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// ORGS organisations with one vulnerable server and an abuse contact each, ingested.
fn world(db: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut orgs = String::from("org,network,asn,sector,cc,abuse_email\n");
    let mut feed = common::SS_HEADER.to_string();
    for i in 0..ORGS {
        orgs += &format!("Org {i},10.9.{i}.0/28,,Retail,US,abuse@org{i}.example\n");
        feed += &common::ss_row(
            "2021-03-10 01:00:00",
            &format!("10.9.{i}.1"),
            "exchange;cve-2021-26855",
            &format!("S{i}"),
            "",
        );
    }
    let (o, f) = (dir.path().join("orgs.csv"), dir.path().join("2021-03-10-scan_exchange.csv"));
    std::fs::write(&o, orgs).unwrap();
    std::fs::write(&f, feed).unwrap();
    run(&["ingest", "-q", "orgs", o.to_str().unwrap()], db);
    run(&["ingest", "-q", "shadowserver", f.to_str().unwrap()], db);
    dir
}

/// `taskforce serve` with its stderr (JSON log lines) collected line by line.
struct Serve {
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    fn start(config: &Path, db: &str) -> Serve {
        let mut child = Command::new(bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--database", db, "--config"])
            .arg(config)
            .env("RUST_LOG", "info,sqlx=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Serve { child, logs }
    }

    fn lines_with(&self, needle: &str) -> Vec<String> {
        self.logs.lock().unwrap().iter().filter(|l| l.contains(needle)).cloned().collect()
    }

    fn wait_for(&mut self, what: &str, cond: impl Fn(&Serve) -> bool) {
        let started = Instant::now();
        while !cond(self) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("serve exited ({status}) before {what}: {:#?}", self.logs.lock().unwrap());
            }
            assert!(started.elapsed() < Duration::from_secs(90), "{what}: {:#?}", self.logs.lock().unwrap());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn scheduled_sending(kind: &str) {
    let Some((db, _keep)) = common::fresh_database(kind).await else { return };
    let _data = world(&db);
    let port = free_port();
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("taskforce.toml");
    std::fs::write(
        &config,
        format!(
            "[notify]\nschedule_secs = 1\nsmtp = \"smtp://127.0.0.1:{port}\"\nfrom = \"cert@taskforce.example\"\n\
             rate_per_sec = 1000.0\ndomain_rate_per_sec = 1000.0\nretry_base_secs = 1\ntimeout_secs = 5\n"
        ),
    )
    .unwrap();
    let mut serve = Serve::start(&config, &db);
    // The SMTP server is down: the first run keeps every message for a retry, and serve goes on.
    serve.wait_for("a run against the missing SMTP server", |s| {
        s.lines_with("scheduled notification run").iter().any(|l| l.contains(&format!("\"deferred\":{ORGS},")))
    });
    let sink = Sink::start(&["--port", &port.to_string()]);
    let started = Instant::now();
    while sink.ids().len() < ORGS {
        assert!(started.elapsed() < Duration::from_secs(90), "only {} message(s) arrived", sink.ids().len());
        assert!(serve.child.try_wait().unwrap().is_none(), "serve stopped");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Later ticks, inside the notification interval, send nothing.
    let runs_then = serve.lines_with("scheduled notification run").len();
    serve.wait_for("two more ticks", |s| s.lines_with("scheduled notification run").len() >= runs_then + 2);
    let ids = sink.ids();
    assert_eq!(ids.len(), ORGS, "each message once");
    assert_eq!(ids.iter().map(|(_, t)| t.as_str()).collect::<BTreeSet<_>>().len(), ORGS, "one ticket per organisation");
    assert_eq!(ids.iter().map(|(m, _)| m.as_str()).collect::<BTreeSet<_>>().len(), ORGS);
    let last = serve.lines_with("scheduled notification run").pop().unwrap();
    assert!(last.contains("\"tickets\":0,") && last.contains("\"sent\":0,"), "{last}");
    // Every run is audited under the schedule's name.
    let store = taskforce_service::Db::connect(&db).await.unwrap();
    let runs: i64 = sqlx::query("SELECT COUNT(*) FROM audit_log WHERE actor = $1 AND action = 'send'")
        .bind(taskforce_notify::schedule::ACTOR)
        .fetch_one(&store.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert!(runs >= 3, "{runs} audited run(s)");
    let sent: i64 = sqlx::query("SELECT COUNT(*) FROM notify_outbox WHERE status = 'sent'")
        .fetch_one(&store.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(sent, ORGS as i64);
    store.pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_sending_sqlite() {
    scheduled_sending("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_sending_postgres() {
    scheduled_sending("postgres").await;
}

/// A `notify send` waits while another process holds the database's notification run, then sends.
async fn one_run_at_a_time(kind: &str) {
    let Some((db, _keep)) = common::fresh_database(kind).await else { return };
    let _data = world(&db);
    let port = free_port();
    let sink = Sink::start(&["--port", &port.to_string()]);
    let store = taskforce_service::Db::connect(&db).await.unwrap();
    let held = taskforce_notify::run_lock::try_acquire(&store).await.unwrap().expect("nobody holds the lock yet");
    assert!(taskforce_notify::run_lock::try_acquire(&store).await.unwrap().is_none(), "held once");
    let smtp = format!("smtp://127.0.0.1:{port}");
    let mut child = Command::new(bin())
        .args(["notify", "send", "--smtp", &smtp, "--from", "cert@taskforce.example", "--rate", "1000"])
        .args(["--domain-rate", "1000", "--database", &db])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert!(child.try_wait().unwrap().is_none(), "the send waits for the run in progress");
    assert_eq!(sink.ids().len(), 0);
    held.release().await;
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the send did not finish after the lock was released");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    assert_eq!(sink.ids().len(), ORGS);
    // Released again by the finished process.
    let again = taskforce_notify::run_lock::try_acquire(&store).await.unwrap();
    assert!(again.is_some(), "the lock was released");
    again.unwrap().release().await;
    store.pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_at_a_time_sqlite() {
    one_run_at_a_time("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_at_a_time_postgres() {
    one_run_at_a_time("postgres").await;
}
