//! The service's part of the `taskforce` binary, for benchmarks: `ingest`, `token create` and
//! `serve` (the API alone, without the web pages), with the same arguments as `taskforce`. A
//! release build of it skips the hunting side (YARA, wasmtime), about 20 minutes of a build on
//! the project's machines; `scripts/bench-service.sh` uses it when `TASKFORCE_BIN` names it.
//!
//! ```text
//! service_bench ingest --database URL KIND FILE
//! service_bench token create --name NAME --role ROLE --database URL
//! service_bench serve --database URL --listen 127.0.0.1:PORT
//! ```

use std::path::Path;

use anyhow::{Context, Result, bail};
use taskforce_service::ingest::{self, IngestKind};
use taskforce_service::store::Uploader;
use taskforce_service::tokens::{self, Role};
use taskforce_service::{Config, Db};

/// `--flag value` options and the positional arguments, in order.
fn split(args: &[String]) -> (Vec<(String, String)>, Vec<String>) {
    let (mut flags, mut rest) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < args.len() {
        if let Some(flag) = args[i].strip_prefix("--") {
            flags.push((flag.to_string(), args.get(i + 1).cloned().unwrap_or_default()));
            i += 2;
        } else {
            rest.push(args[i].clone());
            i += 1;
        }
    }
    (flags, rest)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (flags, rest) = split(&args);
    let flag = |name: &str| flags.iter().find(|(f, _)| f == name).map(|(_, v)| v.clone());
    let database = flag("database").unwrap_or_else(|| "sqlite://taskforce.db".into());
    match rest.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["ingest", kind, file] => {
            let db = Db::connect(&database).await?;
            let kind = IngestKind::parse(kind).with_context(|| format!("unknown kind {kind:?}"))?;
            let uploader = Uploader { name: "cli".into(), reporter_org: None };
            let summary = ingest::ingest_file(&db, kind, Path::new(file), file, &uploader, None)
                .await
                .map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
            eprintln!(
                "{file}: {} rows, {} ok, {} duplicate, {} rejected",
                summary.rows_total, summary.rows_ok, summary.rows_duplicate, summary.rows_rejected
            );
        }
        ["token", "create"] => {
            let db = Db::connect(&database).await?;
            let role = flag("role").and_then(|r| Role::parse(&r)).context("--role admin|analyst|reporter")?;
            let (_, secret) = tokens::create(&db, &flag("name").context("--name")?, role, None).await?;
            println!("{secret}");
        }
        ["serve"] => {
            taskforce_service::config::init_logging("text");
            let mut config = Config { database, ..Config::default() };
            if let Some(listen) = flag("listen") {
                config.listen = listen.parse().with_context(|| format!("--listen {listen}"))?;
            }
            taskforce_service::server::run(config).await?;
        }
        _ => bail!(
            "usage: service_bench (ingest --database URL KIND FILE | token create --name N --role R --database URL | serve --database URL --listen ADDR)"
        ),
    }
    Ok(())
}
