//! Delivery over SMTP (lettre, rustls with ring): crash-safe through the outbox.
//!
//! A row is marked `sending` (and committed) before its SMTP transaction and `sent` after the
//! server accepted it, so a process killed in between re-sends only that row, with the same
//! bytes, Message-ID and ticket. Temporary failures (4xx, refused connection, timeout) are
//! retried with a doubling delay; a permanent refusal (5xx) marks the address as bouncing and
//! moves the ticket to the next contact, or the organisation to `unreachable`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use lettre::address::Envelope;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Serialize;
use sqlx::Row;
use taskforce_service::Db;
use taskforce_service::state::CommState;

use crate::config::NotifyConfig;
use crate::outbox::{Composer, Enqueued, record_bounce, record_communication_in};
use crate::plan;
use crate::run_lock;
use crate::templates::Templates;

/// What one `send` run did.
#[derive(Debug, Default, Serialize)]
pub struct SendReport {
    /// Tickets opened by this run.
    pub enqueued: Vec<Enqueued>,
    /// Rows found in `sending` (a run was interrupted) and sent again.
    pub resumed: usize,
    pub sent: usize,
    pub deferred: usize,
    pub failed: usize,
    /// Permanent refusals: the address now bounces.
    pub bounced: usize,
    /// Messages re-addressed to the next contact after a refusal.
    pub next_contact: usize,
    /// Organisations left without any address that accepts mail.
    pub unreachable: usize,
    /// Organisations with hosts to report but no address at all.
    pub no_contact: usize,
    /// Seconds spent planning and rendering into the outbox, and delivering.
    pub plan_secs: f64,
    pub enqueue_secs: f64,
    pub deliver_secs: f64,
}

/// Waits so that neither the global nor the recipient domain's rate is exceeded.
struct Throttle {
    global_gap: Duration,
    domain_gap: Duration,
    next_global: Instant,
    next_domain: HashMap<String, Instant>,
}

impl Throttle {
    fn new(cfg: &NotifyConfig) -> Throttle {
        Throttle {
            global_gap: Duration::from_secs_f64(1.0 / cfg.rate_per_sec),
            domain_gap: Duration::from_secs_f64(1.0 / cfg.domain_rate_per_sec),
            next_global: Instant::now(),
            next_domain: HashMap::new(),
        }
    }

    async fn wait(&mut self, recipient: &str) {
        let domain = recipient.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
        let now = Instant::now();
        let at = self.next_domain.get(&domain).copied().unwrap_or(now).max(self.next_global).max(now);
        if at > now {
            tokio::time::sleep(at - now).await;
        }
        self.next_global = at + self.global_gap;
        self.next_domain.insert(domain, at + self.domain_gap);
    }
}

fn retry_at(now: &str, base: i64, attempts: i64) -> String {
    let delay = base.saturating_mul(1i64 << (attempts - 1).clamp(0, 16)).min(6 * 3600);
    match now.parse::<jiff::Timestamp>() {
        Ok(t) => taskforce_service::time::format(t + jiff::SignedDuration::from_secs(delay)),
        Err(_) => now.to_string(),
    }
}

pub fn transport(cfg: &NotifyConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>> {
    Ok(AsyncSmtpTransport::<Tokio1Executor>::from_url(&cfg.smtp)
        .with_context(|| {
            format!("bad SMTP URL {:?} (smtp://HOST:PORT, smtp://…?tls=required, smtps://…)", redact(&cfg.smtp))
        })?
        .timeout(Some(Duration::from_secs(cfg.timeout_secs)))
        .build())
}

/// The SMTP URL and the sender address are usable (checked before a schedule starts; outside
/// the runtime, so the transport is not built: its connection pool starts a task).
pub fn check_sending(cfg: &NotifyConfig) -> Result<()> {
    AsyncSmtpTransport::<Tokio1Executor>::from_url(&cfg.smtp).with_context(|| {
        format!("bad SMTP URL {:?} (smtp://HOST:PORT, smtp://…?tls=required, smtps://…)", redact(&cfg.smtp))
    })?;
    cfg.from.parse::<Address>().with_context(|| format!("not a sender address: {:?}", cfg.from))?;
    Ok(())
}

fn redact(url: &str) -> String {
    taskforce_service::db::redact(url)
}

/// Plans, enqueues what is due, then delivers up to `limit` messages; waits first for a run
/// in progress elsewhere (the schedule, the API, another `notify send`) to finish.
pub async fn send(db: &Db, cfg: &NotifyConfig, templates: &Templates, limit: Option<usize>) -> Result<SendReport> {
    let lock = run_lock::acquire(db).await?;
    let report = send_locked(db, cfg, templates, limit).await;
    lock.release().await;
    report
}

/// [`send`], or `None` at once when another run holds the database's notification lock.
pub async fn send_if_idle(
    db: &Db,
    cfg: &NotifyConfig,
    templates: &Templates,
    limit: Option<usize>,
) -> Result<Option<SendReport>> {
    let Some(lock) = run_lock::try_acquire(db).await? else { return Ok(None) };
    let report = send_locked(db, cfg, templates, limit).await;
    lock.release().await;
    report.map(Some)
}

async fn send_locked(db: &Db, cfg: &NotifyConfig, templates: &Templates, limit: Option<usize>) -> Result<SendReport> {
    let mut report = SendReport::default();
    let now = taskforce_service::time::now();
    let composer = Composer { db, cfg, templates };
    let started = Instant::now();
    let plan = plan::plan(db, cfg, &now).await?;
    report.plan_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    report.no_contact = plan.items.iter().filter(|i| i.decision == plan::Decision::NoContact).count();
    let due: Vec<&plan::PlanItem> =
        plan.due().filter(|i| i.recipient.is_some()).take(limit.unwrap_or(usize::MAX)).collect();
    for chunk in due.chunks(crate::outbox::ENQUEUE_CHUNK) {
        report.enqueued.extend(composer.enqueue_batch(chunk, &now).await?);
    }
    report.enqueue_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    deliver(db, cfg, &composer, limit, &mut report).await?;
    report.deliver_secs = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Marks a row `sending` before its SMTP transaction. On PostgreSQL the commit does not wait
/// for its flush: should the mark be lost in a server crash, the row is still `planned` and is
/// sent again with the same bytes — what `sending` leads to anyway — so it needs no flush of its
/// own (the `sent` mark after the server's answer does wait for one).
async fn mark_sending(db: &Db, id: i64, attempts: i64) -> Result<()> {
    let mut tx = db.pool.begin().await?;
    if db.dialect == taskforce_service::db::Dialect::Postgres {
        sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
    }
    sqlx::query("UPDATE notify_outbox SET status = 'sending', attempts = $1, updated_at = $2 WHERE id = $3")
        .bind(attempts)
        .bind(taskforce_service::time::now())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Sends the outbox: interrupted rows first, then planned and due deferred ones, oldest first.
pub async fn deliver(
    db: &Db,
    cfg: &NotifyConfig,
    composer: &Composer<'_>,
    limit: Option<usize>,
    report: &mut SendReport,
) -> Result<()> {
    let mailer = transport(cfg)?;
    let from: Address = cfg.from.parse().with_context(|| format!("not a sender address: {:?}", cfg.from))?;
    let mut throttle = Throttle::new(cfg);
    let mut done = 0usize;
    loop {
        let now = taskforce_service::time::now();
        let batch = sqlx::query(
            "SELECT o.id, o.ticket_id, o.org_id, o.recipient, o.message, o.attempts, o.status, t.ticket FROM notify_outbox o \
             JOIN notify_ticket t ON t.id = o.ticket_id \
             WHERE o.status = 'sending' OR (o.status IN ('planned', 'deferred') AND o.next_attempt_at <= $1) \
             ORDER BY CASE o.status WHEN 'sending' THEN 0 ELSE 1 END, o.id LIMIT 200",
        )
        .bind(now.clone())
        .fetch_all(&db.pool)
        .await?;
        if batch.is_empty() {
            break;
        }
        let mut progressed = false;
        for r in batch {
            if limit.is_some_and(|l| done >= l) {
                return Ok(());
            }
            let id: i64 = r.try_get(0)?;
            let ticket_id: i64 = r.try_get(1)?;
            let org: i64 = r.try_get(2)?;
            let recipient: String = r.try_get(3)?;
            let raw: String = r.try_get(4)?;
            let attempts: i64 = r.try_get::<i64, _>(5)? + 1;
            let status: String = r.try_get(6)?;
            let ticket: String = r.try_get(7)?;
            if status == "sending" {
                report.resumed += 1;
            }
            throttle.wait(&recipient).await;
            mark_sending(db, id, attempts).await?;
            done += 1;
            progressed = true;
            let to: Result<Address, _> = recipient.parse();
            let result = match to {
                Ok(to) => {
                    let envelope = Envelope::new(Some(from.clone()), vec![to]).context("envelope")?;
                    mailer.send_raw(&envelope, raw.as_bytes()).await.map(|_| ()).map_err(|e| {
                        let permanent = e.is_permanent();
                        (permanent, e.to_string())
                    })
                }
                Err(e) => Err((true, format!("not an address: {e}"))),
            };
            let now = taskforce_service::time::now();
            match result {
                Ok(()) => {
                    // Sent and told, in one transaction.
                    let mut tx = db.pool.begin().await?;
                    db.lock_for_write(&mut tx).await?;
                    sqlx::query("UPDATE notify_outbox SET status = 'sent', sent_at = $1, updated_at = $1, last_error = NULL WHERE id = $2")
                        .bind(now.clone())
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    record_communication_in(
                        &mut tx,
                        org,
                        CommState::Notified,
                        &now,
                        &format!("notify:{ticket}"),
                        &format!("notification sent to {recipient}"),
                    )
                    .await?;
                    tx.commit().await?;
                    report.sent += 1;
                }
                Err((true, error)) => {
                    tracing::warn!(%ticket, %recipient, %error, "permanent refusal");
                    sqlx::query(
                        "UPDATE notify_outbox SET status = 'failed', last_error = $1, updated_at = $2 WHERE id = $3",
                    )
                    .bind(error.clone())
                    .bind(now.clone())
                    .bind(id)
                    .execute(&db.pool)
                    .await?;
                    record_bounce(db, &recipient, "smtp", &error, &now).await?;
                    report.failed += 1;
                    report.bounced += 1;
                    match composer.next_contact(ticket_id, &now).await? {
                        Some(_) => report.next_contact += 1,
                        None => report.unreachable += 1,
                    }
                }
                Err((false, error)) => {
                    let (status, next) = if attempts >= cfg.max_attempts {
                        report.failed += 1;
                        ("failed", now.clone())
                    } else {
                        report.deferred += 1;
                        ("deferred", retry_at(&now, cfg.retry_base_secs, attempts))
                    };
                    tracing::warn!(%ticket, %recipient, %error, status, "temporary failure");
                    sqlx::query("UPDATE notify_outbox SET status = $1, last_error = $2, next_attempt_at = $3, updated_at = $4 WHERE id = $5")
                        .bind(status)
                        .bind(error)
                        .bind(next)
                        .bind(now)
                        .bind(id)
                        .execute(&db.pool)
                        .await?;
                }
            }
        }
        if !progressed {
            break;
        }
    }
    Ok(())
}
