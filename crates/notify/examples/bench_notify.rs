//! `notify plan` and `notify send` for `scripts/bench-notify.sh` (`NOTIFY_BIN=`), built from this
//! crate alone so a release benchmark does not compile the rest of the binary (YARA, wasmtime):
//!
//!   cargo build --release -p taskforce-notify --example bench_notify
//!   bench_notify --database URL plan
//!   bench_notify --database URL send --smtp smtp://127.0.0.1:PORT --from ADDR [--connections N]
//!
//! Prints the plan's size (plan) or the send report (send) as JSON on stdout, with the rate
//! limits lifted.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use taskforce_notify::NotifyConfig;
use taskforce_notify::templates::Templates;

fn value(args: &[String], flag: &str) -> Option<String> {
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = value(&args, "--database").context("--database URL")?;
    let db = taskforce_service::Db::connect(&url).await?;
    let mut cfg = NotifyConfig { rate_per_sec: 1e9, domain_rate_per_sec: 1e9, ..NotifyConfig::default() };
    let now = taskforce_service::time::now();
    if args.iter().any(|a| a == "plan") {
        // A batch at a time, as `taskforce notify plan` does: the whole plan is never in memory.
        let started = Instant::now();
        let mut planner = taskforce_notify::plan::Planner::new(&db, &cfg, &now).await?;
        let (mut organisations, mut due, mut json_bytes) = (0usize, 0usize, 0usize);
        while let Some(batch) = planner.next_batch().await? {
            organisations += batch.len();
            due += batch.iter().filter(|i| i.decision.is_due()).count();
            json_bytes += batch.iter().map(|i| serde_json::to_string(i).map(|j| j.len())).sum::<Result<usize, _>>()?;
        }
        println!(
            "{{\"organisations\": {organisations}, \"due\": {due}, \"plan_secs\": {:.3}, \"json_bytes\": {json_bytes}}}",
            started.elapsed().as_secs_f64()
        );
    } else if args.iter().any(|a| a == "send") {
        cfg.smtp = value(&args, "--smtp").context("--smtp URL")?;
        cfg.from = value(&args, "--from").context("--from ADDR")?;
        if let Some(n) = value(&args, "--connections") {
            cfg.connections = n.parse().context("--connections N")?;
        }
        let templates = Templates::load(None)?;
        let report = taskforce_notify::deliver::send(&db, &cfg, &templates, None).await?;
        println!("{}", serde_json::to_string(&report)?);
    } else {
        bail!("plan or send");
    }
    db.pool.close().await;
    Ok(())
}
