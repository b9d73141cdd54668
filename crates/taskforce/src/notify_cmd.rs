//! `taskforce notify plan | send | bounces | templates`: wiring to `taskforce-notify`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use taskforce_notify::NotifyConfig;
use taskforce_notify::outbox::Composer;
use taskforce_notify::templates::Templates;
use taskforce_service::{Config, Db};

#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// sqlite://PATH or postgres://USER:PASS@HOST/DB [default: sqlite://taskforce.db]
    #[arg(long, value_name = "URL", global = true)]
    pub database: Option<String>,
    /// The service's configuration file (for its database).
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Notification settings (TOML: campaign, interval_secs, intermediaries, rates, …); also
    /// TASKFORCE_NOTIFY_CONFIG. Flags override it.
    #[arg(long, value_name = "FILE", global = true)]
    pub notify_config: Option<PathBuf>,
    /// Templates overriding the shipped ones (`en/subject.txt`, `en/body.txt`, `en/body.html`, `de/…`).
    #[arg(long, value_name = "DIR", global = true)]
    pub templates: Option<PathBuf>,
    /// Also remind organisations whose hosts are patched but not yet verified clean.
    #[arg(long, global = true)]
    pub remind_patched: bool,
    /// Hours before a recipient is reminded again (an escalation is sent at once) [default: 24]
    #[arg(long, value_name = "HOURS", global = true)]
    pub interval: Option<f64>,
    #[command(subcommand)]
    pub action: NotifyAction,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PlanFormat {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum NotifyAction {
    /// What would be sent, to whom and why; organisations without a contact are listed. Changes nothing.
    Plan {
        #[arg(long, value_enum, default_value = "table")]
        format: PlanFormat,
    },
    /// Send what is due and exit (for cron): tickets, outbox, SMTP with retries and bounces.
    Send {
        /// smtp://HOST:PORT (plain), smtp://HOST:PORT?tls=required (STARTTLS), smtps://HOST:PORT
        /// (TLS); USER:PASS@ before the host for AUTH.
        #[arg(long, value_name = "URL")]
        smtp: Option<String>,
        /// Sender address.
        #[arg(long, value_name = "ADDR")]
        from: Option<String>,
        /// Base of the self-service link (`{base_url}/portal?token=…`).
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
        /// At most N messages in this run.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Messages per second overall.
        #[arg(long, value_name = "N")]
        rate: Option<f64>,
        /// Messages per second to one recipient domain.
        #[arg(long, value_name = "N")]
        domain_rate: Option<f64>,
        /// SMTP connections sending at once, each reused for many messages [default: 4]
        #[arg(long, value_name = "N")]
        connections: Option<usize>,
        /// Attach the IntelMQ events (JSON lines) besides the CSV.
        #[arg(long)]
        intelmq: bool,
        /// Attach one X-ARF v4 report (JSON) per host besides the CSV.
        #[arg(long)]
        xarf: bool,
    },
    /// Read delivery status notifications (RFC 3464) from a Maildir or mbox and count them as bounces.
    Bounces {
        #[arg(value_name = "PATH")]
        path: PathBuf,
    },
    /// Write the shipped templates into DIR, to start a customisation (`--templates DIR`).
    Templates {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

/// Settings: a file (flag or TASKFORCE_NOTIFY_CONFIG), else the `[notify]` table of the
/// service's configuration, else the defaults; flags are applied by the caller.
pub fn notify_config(file: Option<PathBuf>, service: &Config, service_file: Option<&Path>) -> Result<NotifyConfig> {
    let file = file.or_else(|| std::env::var_os("TASKFORCE_NOTIFY_CONFIG").map(PathBuf::from));
    match (&file, &service.notify) {
        (None, Some(table)) => {
            let origin = service_file.map(|p| p.display().to_string()).unwrap_or_else(|| "the configuration".into());
            NotifyConfig::from_table(table.clone(), &origin)
        }
        _ => NotifyConfig::load(file.as_deref()),
    }
}

/// What `serve` adds for notifications: the settings and templates the notification API and
/// pages share, and the schedule when `schedule_secs` is set (started with the server).
pub struct ServeNotify {
    pub state: taskforce_notify::api::NotifyState,
}

impl ServeNotify {
    pub fn new(service: &Config, service_file: Option<&Path>) -> Result<ServeNotify> {
        let cfg = notify_config(None, service, service_file)?;
        if cfg.schedule_secs > 0 {
            // Refuse a schedule that could never deliver before the server starts.
            taskforce_notify::deliver::check_sending(&cfg)?;
        }
        Ok(ServeNotify { state: taskforce_notify::api::NotifyState::new(cfg)? })
    }

    /// Starts the schedule, if configured (inside the server's runtime).
    pub fn start_schedule(&self, db: &Db) {
        let every = self.state.config.schedule_secs;
        if every > 0 {
            taskforce_notify::schedule::spawn(db.clone(), self.state.clone(), std::time::Duration::from_secs(every));
        }
    }
}

pub fn run(args: NotifyArgs) -> Result<u8> {
    let mut service = Config::load(args.config.as_deref())?;
    if let Some(db) = &args.database {
        service.database = db.clone();
    }
    service.check()?;
    let mut cfg = notify_config(args.notify_config.clone(), &service, args.config.as_deref())?;
    if args.templates.is_some() {
        cfg.templates = args.templates.clone();
    }
    if args.remind_patched {
        cfg.remind_patched = true;
    }
    if let Some(h) = args.interval {
        cfg.interval_secs = (h * 3600.0) as i64;
    }
    if let NotifyAction::Templates { dir } = &args.action {
        for p in taskforce_notify::templates::export(dir)? {
            eprintln!("wrote {}", p.display());
        }
        return Ok(0);
    }
    let templates = Templates::load(cfg.templates.as_deref())?;
    runtime()?.block_on(async move {
        let db = Db::connect(&service.database).await?;
        let code = match args.action {
            NotifyAction::Plan { format } => {
                let now = taskforce_service::time::now();
                let planner = taskforce_notify::plan::Planner::new(&db, &cfg, &now).await?;
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                match format {
                    PlanFormat::Json => write_plan_json(planner, &cfg.campaign, &mut out).await?,
                    PlanFormat::Table => write_plan_table(planner, &mut out).await?,
                }
                std::io::Write::flush(&mut out)?;
                0
            }
            NotifyAction::Send { smtp, from, base_url, limit, rate, domain_rate, connections, intelmq, xarf } => {
                if let Some(s) = smtp {
                    cfg.smtp = s;
                }
                if let Some(f) = from {
                    cfg.from = f;
                }
                if let Some(b) = base_url {
                    cfg.base_url = b;
                }
                if let Some(r) = rate {
                    cfg.rate_per_sec = r;
                }
                if let Some(r) = domain_rate {
                    cfg.domain_rate_per_sec = r;
                }
                if let Some(n) = connections {
                    cfg.connections = n;
                }
                cfg.attach_intelmq |= intelmq;
                cfg.attach_xarf |= xarf;
                cfg.check()?;
                let report = taskforce_notify::deliver::send(&db, &cfg, &templates, limit).await?;
                println!("{}", serde_json::to_string(&report)?);
                eprintln!(
                    "{} ticket(s) opened; {} sent, {} deferred, {} failed ({} bounced, {} moved to the next contact, {} organisation(s) unreachable); {} resumed after an interruption; {} organisation(s) without a contact",
                    report.enqueued.len(),
                    report.sent,
                    report.deferred,
                    report.failed,
                    report.bounced,
                    report.next_contact,
                    report.unreachable,
                    report.resumed,
                    report.no_contact
                );
                0
            }
            NotifyAction::Bounces { path } => {
                let composer = Composer { db: &db, cfg: &cfg, templates: &templates };
                let report = taskforce_notify::bounces::apply(&composer, &path).await?;
                for s in &report.skipped {
                    eprintln!("taskforce: skipped {}: {}", s.source, s.reason);
                }
                for u in &report.unmatched {
                    eprintln!("taskforce: {}: no message of ours matches this notification ({:?})", u.source, u.original_message_id);
                }
                println!("{}", serde_json::to_string(&report)?);
                eprintln!(
                    "{} notification(s) read: {} bounce(s), {} moved to the next contact, {} organisation(s) unreachable, {} delayed, {} already counted, {} skipped",
                    report.read,
                    report.bounced,
                    report.next_contact,
                    report.unreachable,
                    report.delayed,
                    report.already_counted,
                    report.skipped.len()
                );
                0
            }
            NotifyAction::Templates { .. } => 0,
        };
        db.pool.close().await;
        Ok(code)
    })
}

/// The plan as one JSON document (`{generated_at, campaign, items: [...]}`), written a batch at
/// a time: the whole plan is never in memory.
async fn write_plan_json(
    mut planner: taskforce_notify::plan::Planner<'_>,
    campaign: &str,
    out: &mut impl std::io::Write,
) -> Result<()> {
    writeln!(out, "{{")?;
    writeln!(out, "  \"generated_at\": {},", serde_json::to_string(planner.generated_at())?)?;
    writeln!(out, "  \"campaign\": {},", serde_json::to_string(campaign)?)?;
    write!(out, "  \"items\": [")?;
    let mut first = true;
    while let Some(batch) = planner.next_batch().await? {
        for item in &batch {
            let text = serde_json::to_string_pretty(item)?;
            write!(out, "{}\n    {}", if first { "" } else { "," }, text.replace('\n', "\n    "))?;
            first = false;
        }
    }
    writeln!(out, "{}]", if first { "" } else { "\n  " })?;
    writeln!(out, "}}")?;
    Ok(())
}

/// The plan as a table, a batch at a time; the totals go to stderr at the end.
async fn write_plan_table(
    mut planner: taskforce_notify::plan::Planner<'_>,
    out: &mut impl std::io::Write,
) -> Result<()> {
    use taskforce_notify::plan::Decision;
    writeln!(
        out,
        "{:<8} {:<30} {:<12} {:<16} {:<34} {:<13} WHY",
        "ORG", "NAME", "STATE", "DECISION", "RECIPIENT", "VIA"
    )?;
    let (mut total, mut due, mut none) = (0usize, 0usize, 0usize);
    while let Some(batch) = planner.next_batch().await? {
        for i in &batch {
            let (to, via) = match &i.recipient {
                Some(r) => (r.email.clone(), r.kind.as_str().to_string()),
                None => ("-".into(), "-".into()),
            };
            let name: String = i.org_name.chars().take(30).collect();
            writeln!(
                out,
                "{:<8} {:<30} {:<12} {:<16} {:<34} {:<13} {} ({} host(s))",
                i.org_id,
                name,
                i.worst_state,
                i.decision.as_str(),
                to,
                via,
                i.why,
                i.hosts.len()
            )?;
            total += 1;
            due += usize::from(i.decision.is_due());
            none += usize::from(i.decision == Decision::NoContact);
        }
    }
    out.flush()?;
    eprintln!("{total} organisation(s) need action: {due} due now, {none} without a contact");
    Ok(())
}
