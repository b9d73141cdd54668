//! `taskforce serve`, `taskforce ingest`, `taskforce token` and `taskforce user`: wiring to
//! `taskforce-service` (and `taskforce-web`, whose pages `serve` adds to the API).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use taskforce_service::ingest::{IngestError, IngestKind, ingest_file};
use taskforce_service::store::Uploader;
use taskforce_service::tokens::{self, Role};
use taskforce_service::{Config, Db};

/// Options shared by the service commands.
#[derive(Debug, Args)]
pub struct ServiceOptions {
    /// Configuration file (TOML); environment variables TASKFORCE_* override it, flags override both.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// sqlite://PATH (created when missing) or postgres://USER:PASS@HOST/DB [default: sqlite://taskforce.db]
    #[arg(long, value_name = "URL", global = true)]
    pub database: Option<String>,
}

impl ServiceOptions {
    fn config(&self) -> Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(db) = &self.database {
            config.database = db.clone();
        }
        config.check()?;
        Ok(config)
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub options: ServiceOptions,
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// Log format: text or json [default: text]
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub options: ServiceOptions,
    /// shadowserver (scan_exchange / scan6_exchange CSV), intelmq (event JSON lines), probe
    /// (taskforce probe JSON lines), hunt (taskforce hunt JSON report), asn (iptoasn TSV or
    /// start,end,asn / network,asn CSV, .gz accepted), asn-mmdb (MaxMind ASN database), orgs
    /// (organisations, networks, ASNs and contacts CSV).
    #[arg(value_name = "KIND")]
    pub kind: String,
    /// Files to ingest; each is taken whole or refused with its reason, and the others go on.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// For hunt reports: the address of the host the report is about (otherwise the report's
    /// server name is matched against the names the feeds reported). A report holding several
    /// hosts is refused with an address (exit 2).
    #[arg(long, value_name = "ADDR")]
    pub ip: Option<std::net::IpAddr>,
    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub options: ServiceOptions,
    #[command(subcommand)]
    pub action: TokenAction,
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Create a token and print it (it is shown once; only its hash is stored).
    Create {
        /// A name that says whose token it is.
        #[arg(long)]
        name: String,
        /// admin, analyst or reporter.
        #[arg(long)]
        role: String,
        /// The organisation a reporter token is bound to.
        #[arg(long, value_name = "ID")]
        org: Option<i64>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id.
    Revoke { id: i64 },
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

pub fn serve(args: ServeArgs) -> Result<u8> {
    let mut config = args.options.config()?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(f) = args.log_format {
        config.log_format = f;
    }
    config.check()?;
    taskforce_service::config::init_logging(&config.log_format);
    let notify = crate::notify_cmd::ServeNotify::new(&config, args.options.config.as_deref())?;
    let build: taskforce_service::server::AppBuilder = Box::new(move |state| {
        notify.start_schedule(&state.db);
        taskforce_web::app(state, notify.state.clone())
    });
    runtime()?.block_on(taskforce_service::server::run_app(config, build))?;
    Ok(0)
}

pub fn ingest(args: IngestArgs) -> Result<u8> {
    let kind = IngestKind::parse(&args.kind)
        .with_context(|| format!("unknown kind {:?}: one of {}", args.kind, IngestKind::NAMES))?;
    let config = args.options.config()?;
    runtime()?.block_on(async move {
        let mut db = Db::connect(&config.database).await?;
        db.line_detail_days = config.line_detail_days;
        let uploader = Uploader { name: "cli".into(), reporter_org: None };
        let mut refused = 0;
        for path in &args.files {
            let name = path.display().to_string();
            let started = std::time::Instant::now();
            match ingest_file(&db, kind, path, &name, &uploader, args.ip).await {
                Ok(s) => {
                    println!("{}", serde_json::to_string(&s)?);
                    if !args.quiet {
                        let secs = started.elapsed().as_secs_f64();
                        if s.duplicate_file {
                            eprintln!("{name}: already ingested (ingest {}): nothing changed", s.ingest_id);
                        } else {
                            eprintln!(
                                "{name}: {} row(s): {} ingested, {} already known, {} rejected, {} ignored; {} state change(s) in {secs:.1} s ({:.0} rows/s)",
                                s.rows_total,
                                s.rows_ok,
                                s.rows_duplicate,
                                s.rows_rejected,
                                s.rows_ignored,
                                s.state_changes,
                                s.rows_total as f64 / secs.max(1e-9)
                            );
                        }
                    }
                    for w in &s.warnings {
                        eprintln!("{name}:{}: warning: {}", w.line, w.message);
                    }
                    for e in s.errors.iter().take(20) {
                        eprintln!("{name}:{}: skipped: {}", e.line, e.message);
                    }
                    if s.rows_rejected > 20 {
                        eprintln!("{name}: … {} more rejected row(s), listed with the ingest", s.rows_rejected - 20);
                    }
                }
                Err(IngestError::Other(e)) => return Err(e),
                Err(e) => {
                    refused += 1;
                    eprintln!("taskforce: skipped {e}; nothing was ingested from it");
                }
            }
        }
        db.pool.close().await;
        Ok(if refused > 0 { 2 } else { 0 })
    })
}

pub fn token(args: TokenArgs) -> Result<u8> {
    let config = args.options.config()?;
    runtime()?.block_on(async move {
        let db = Db::connect(&config.database).await?;
        match args.action {
            TokenAction::Create { name, role, org } => {
                let role =
                    Role::parse(&role).with_context(|| format!("unknown role {role:?}: admin, analyst or reporter"))?;
                let (id, secret) = tokens::create(&db, &name, role, org).await?;
                eprintln!("token {id} ({}) created; it is shown once:", role.as_str());
                println!("{secret}");
            }
            TokenAction::List => {
                for t in tokens::list(&db).await? {
                    println!("{}", serde_json::to_string(&t)?);
                }
            }
            TokenAction::Revoke { id } => {
                if !tokens::revoke(&db, id).await? {
                    anyhow::bail!("no active token {id}");
                }
                eprintln!("token {id} revoked");
            }
        }
        db.pool.close().await;
        Ok(0)
    })
}

#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(flatten)]
    pub options: ServiceOptions,
    #[command(subcommand)]
    pub action: UserAction,
}

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Create a user; the password is read from stdin (first line), never from the command line.
    Create {
        #[arg(long)]
        name: String,
        /// admin, analyst or reporter.
        #[arg(long)]
        role: String,
        /// The organisation a reporter is bound to.
        #[arg(long, value_name = "ID")]
        org: Option<i64>,
    },
    /// List users (never their password hashes).
    List,
    /// Disable a user by id (its sessions end).
    Disable { id: i64 },
}

/// The first line of stdin (a prompt first when it is a terminal; the password is echoed there,
/// so prefer a pipe: `printf '%s\n' "$PW" | taskforce user create …`).
fn read_password() -> Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    if std::io::stdin().is_terminal() {
        eprint!("password (echoed; prefer a pipe): ");
        std::io::stderr().flush().ok();
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("reading the password from stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub fn user(args: UserArgs) -> Result<u8> {
    let config = args.options.config()?;
    let password = match &args.action {
        UserAction::Create { .. } => Some(read_password()?),
        _ => None,
    };
    runtime()?.block_on(async move {
        let db = Db::connect(&config.database).await?;
        match args.action {
            UserAction::Create { name, role, org } => {
                let role =
                    Role::parse(&role).with_context(|| format!("unknown role {role:?}: admin, analyst or reporter"))?;
                let id = taskforce_web::users::create(&db, &name, role, org, &password.unwrap_or_default()).await?;
                eprintln!("user {id} ({name}, {}) created", role.as_str());
            }
            UserAction::List => {
                for u in taskforce_web::users::list(&db).await? {
                    println!("{}", serde_json::to_string(&u)?);
                }
            }
            UserAction::Disable { id } => {
                if !taskforce_web::users::disable(&db, id).await? {
                    anyhow::bail!("no enabled user {id}");
                }
                eprintln!("user {id} disabled");
            }
        }
        db.pool.close().await;
        Ok(0)
    })
}
