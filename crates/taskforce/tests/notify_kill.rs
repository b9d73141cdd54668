//! `taskforce notify send` killed with SIGKILL in the middle of a batch sent over several SMTP
//! connections at once, then run again: the SMTP sink holds every message exactly once, except
//! those that were in flight (left `sending` by the kill, at most connections × window), which
//! may arrive twice, with the same Message-ID and ticket. On SQLite and PostgreSQL.

#[path = "../../service/tests/common.rs"]
mod common;
mod sink;

use sink::Sink;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ORGS: usize = 40;
/// SMTP connections of the killed run.
const CONNECTIONS: usize = 4;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_taskforce")
}

fn run(args: &[&str], db: &str) {
    let out = Command::new(bin()).args(args).args(["--database", db]).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn write_world(dir: &Path) -> (PathBuf, PathBuf) {
    let mut orgs = String::from("org,network,asn,sector,cc,abuse_email\n");
    let mut feed = common::SS_HEADER.to_string();
    for i in 0..ORGS {
        orgs += &format!("Org {i},10.{}.{}.0/28,,Retail,US,abuse@org{i}.example\n", i / 200, i % 200);
        feed += &common::ss_row(
            "2021-03-10 01:00:00",
            &format!("10.{}.{}.1", i / 200, i % 200),
            "exchange;cve-2021-26855",
            &format!("S{i}"),
            "",
        );
    }
    let (o, f) = (dir.join("orgs.csv"), dir.join("2021-03-10-scan_exchange.csv"));
    std::fs::write(&o, orgs).unwrap();
    std::fs::write(&f, feed).unwrap();
    (o, f)
}

async fn kill_mid_batch(kind: &str) {
    let Some((db, _keep)) = common::fresh_database(kind).await else { return };
    let work = tempfile::tempdir().unwrap();
    let (orgs, feed) = write_world(work.path());
    run(&["ingest", "-q", "orgs", orgs.to_str().unwrap()], &db);
    run(&["ingest", "-q", "shadowserver", feed.to_str().unwrap()], &db);
    // Each message takes the sink 40 ms: the batch takes long enough to be killed in the middle.
    let sink = Sink::start(&["--delay", "0.04"]);
    let smtp = format!("smtp://127.0.0.1:{}", sink.port);
    let send = [
        "notify",
        "send",
        "--smtp",
        &smtp,
        "--from",
        "cert@taskforce.example",
        "--rate",
        "1000",
        "--domain-rate",
        "1000",
        "--connections",
        "4",
    ];
    let mut child = Command::new(bin())
        .args(send)
        .args(["--database", &db])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while sink.count() < ORGS / 4 {
        assert!(started.elapsed() < Duration::from_secs(60), "the first run sent nothing");
        assert!(child.try_wait().unwrap().is_none(), "the first run ended before it could be killed");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let after_kill = sink.count();
    assert!(after_kill < ORGS, "killed mid-batch ({after_kill} of {ORGS})");
    assert!(sink.max_active() >= 2, "the run sent over one connection at a time ({})", sink.max_active());
    // What the kill left in flight: the only messages that may arrive twice.
    let in_flight = {
        let d = taskforce_service::Db::connect(&db).await.unwrap();
        let ids: BTreeSet<String> = sqlx::query_scalar("SELECT message_id FROM notify_outbox WHERE status = 'sending'")
            .fetch_all(&d.pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
        d.pool.close().await;
        ids
    };
    let window = CONNECTIONS * taskforce_notify::deliver::WINDOW_PER_CONNECTION;
    assert!(in_flight.len() <= window, "{} rows in flight, more than the window of {window}", in_flight.len());
    run(&send, &db);
    let ids = sink.ids();
    let mut per_id: BTreeMap<&str, usize> = BTreeMap::new();
    let mut ticket_of: BTreeMap<&str, &str> = BTreeMap::new();
    for (id, ticket) in &ids {
        *per_id.entry(id).or_default() += 1;
        if let Some(t) = ticket_of.insert(id, ticket) {
            assert_eq!(t, ticket, "one Message-ID, one ticket");
        }
    }
    let tickets: BTreeSet<&str> = ids.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(tickets.len(), ORGS, "every organisation's message arrived");
    assert_eq!(per_id.len(), ORGS, "one Message-ID per organisation");
    let twice: Vec<_> = per_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.iter().all(|(id, n)| **n == 2 && in_flight.contains(**id)),
        "only messages in flight at the kill may arrive twice, once more: {twice:?} (in flight: {in_flight:?})"
    );
    assert_eq!(ids.len(), ORGS + twice.len());
    // A third run has nothing to do.
    run(&send, &db);
    assert_eq!(sink.ids().len(), ids.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_mid_batch_sqlite() {
    kill_mid_batch("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_mid_batch_postgres() {
    kill_mid_batch("postgres").await;
}
