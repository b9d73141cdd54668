//! `taskforce ingest` without the rest of the binary, for scripts/bench-service.sh: the same
//! library call (`ingest::ingest_file`) and the same one-line report, but built with the service
//! crate alone (the `taskforce` binary pulls in yara-x and wasmtime, ~20 minutes of release build,
//! which play no part in ingestion). Not a test: it prints figures.
//!
//! ```text
//! cargo run --release -p taskforce-service --example ingest_bench -- DATABASE_URL KIND FILE...
//! ```
//!
//! Configuration as the binary reads it from the environment (`TASKFORCE_LINE_DETAIL_DAYS`).
//! Prints the ingest's progress every 100 batches (`rows=… secs=…`) on stderr.

use std::path::PathBuf;
use std::time::Instant;

use taskforce_service::Db;
use taskforce_service::ingest::{IngestKind, ingest_file};
use taskforce_service::store::Uploader;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, kind, files @ ..] = args.as_slice() else {
        anyhow::bail!("usage: ingest_bench DATABASE_URL KIND FILE...");
    };
    let kind = IngestKind::parse(kind).ok_or_else(|| anyhow::anyhow!("unknown kind {kind:?}"))?;
    // The ingest's progress every 100 batches (rows and seconds so far) on stderr: the script
    // prints the rate of each slice, to show whether it falls as the database grows.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("taskforce_service::ingest::progress=debug"))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .init();
    let mut config = taskforce_service::Config { database: url.clone(), ..Default::default() };
    config.apply_env(|k| std::env::var(k).ok().filter(|_| k != "TASKFORCE_DATABASE"))?;
    let mut db = Db::connect(url).await?;
    set_retention(&mut db, &config);
    let uploader = Uploader { name: "cli".into(), reporter_org: None };
    for file in files {
        let path = PathBuf::from(file);
        let started = Instant::now();
        let s = ingest_file(&db, kind, &path, file, &uploader, None).await?;
        let secs = started.elapsed().as_secs_f64();
        println!("{}", serde_json::to_string(&s)?);
        eprintln!(
            "{file}: {} row(s): {} ingested, {} already known, {} rejected, {} ignored; {} state change(s) in {secs:.1} s ({:.0} rows/s)",
            s.rows_total,
            s.rows_ok,
            s.rows_duplicate,
            s.rows_rejected,
            s.rows_ignored,
            s.state_changes,
            s.rows_total as f64 / secs.max(1e-9)
        );
    }
    db.pool.close().await;
    Ok(())
}

/// The provenance retention from the configuration.
fn set_retention(db: &mut Db, config: &taskforce_service::Config) {
    db.line_detail_days = config.line_detail_days;
}
