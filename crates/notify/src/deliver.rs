//! Delivery over SMTP (lettre, rustls with ring): crash-safe through the outbox.
//!
//! A row is marked `sending` (and committed) before its SMTP transaction and `sent` after the
//! server accepted it, so a process killed in between re-sends only that row, with the same
//! bytes, Message-ID and ticket. Temporary failures (4xx, refused connection, timeout) are
//! retried with a doubling delay; a permanent refusal (5xx) marks the address as bouncing and
//! moves the ticket to the next contact, or the organisation to `unreachable`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use lettre::address::Envelope;
use lettre::transport::smtp::PoolConfig;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Serialize;
use sqlx::Row;
use taskforce_service::Db;
use taskforce_service::state::CommState;
use tokio::sync::{Mutex, Semaphore, mpsc};

use crate::config::NotifyConfig;
use crate::outbox::{Composer, Enqueued, record_bounce, record_communications_in};
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

impl SendReport {
    /// What the audit log keeps of a run: its counts and the numbers of the tickets it opened
    /// (the messages themselves are in the outbox).
    pub fn audit_summary(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(o) = v.as_object_mut() {
            o.remove("enqueued");
            o.insert("tickets_opened".into(), self.enqueued.len().into());
            o.insert("tickets".into(), self.enqueued.iter().map(|e| e.ticket.clone()).collect::<Vec<_>>().into());
        }
        v
    }
}

/// Spaces the starts of SMTP transactions so that neither the global nor the recipient
/// domain's rate is exceeded, however many connections send at once.
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

    /// When a message to `recipient` may start (and books that moment).
    fn slot(&mut self, recipient: &str) -> Instant {
        let domain = recipient.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
        let now = Instant::now();
        // Forget domains whose next slot has passed: the map holds only the domains being paced.
        if self.next_domain.len() > 4096 {
            self.next_domain.retain(|_, at| *at > now);
        }
        let at = self.next_domain.get(&domain).copied().unwrap_or(now).max(self.next_global).max(now);
        self.next_global = at + self.global_gap;
        self.next_domain.insert(domain, at + self.domain_gap);
        at
    }
}

fn retry_at(now: &str, base: i64, attempts: i64) -> String {
    let delay = base.saturating_mul(1i64 << (attempts - 1).clamp(0, 16)).min(6 * 3600);
    match now.parse::<jiff::Timestamp>() {
        Ok(t) => taskforce_service::time::format(t + jiff::SignedDuration::from_secs(delay)),
        Err(_) => now.to_string(),
    }
}

/// The SMTP transport: a pool of up to `connections` connections, each reused for many messages.
pub fn transport(cfg: &NotifyConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>> {
    let pool = PoolConfig::new().max_size(cfg.connections as u32).min_idle(0);
    Ok(AsyncSmtpTransport::<Tokio1Executor>::from_url(&cfg.smtp)
        .with_context(|| {
            format!("bad SMTP URL {:?} (smtp://HOST:PORT, smtp://…?tls=required, smtps://…)", redact(&cfg.smtp))
        })?
        .timeout(Some(Duration::from_secs(cfg.timeout_secs)))
        .pool_config(pool)
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
    // Plan and render a batch at a time: memory holds one batch, whatever the number of
    // organisations.
    let started = Instant::now();
    let mut planner = plan::Planner::new(db, cfg, &now).await?;
    let mut left = limit.unwrap_or(usize::MAX);
    loop {
        let step = Instant::now();
        let Some(batch) = planner.next_batch().await? else {
            report.plan_secs += step.elapsed().as_secs_f64();
            break;
        };
        report.plan_secs += step.elapsed().as_secs_f64();
        report.no_contact += batch.iter().filter(|i| i.decision == plan::Decision::NoContact).count();
        let due: Vec<&plan::PlanItem> =
            batch.iter().filter(|i| i.decision.is_due() && i.recipient.is_some()).take(left).collect();
        left -= due.len();
        if !due.is_empty() {
            report.enqueued.extend(composer.enqueue_batch(&due, &now).await?);
        }
    }
    report.enqueue_secs = started.elapsed().as_secs_f64() - report.plan_secs;
    let started = Instant::now();
    deliver(db, cfg, &composer, limit, &mut report).await?;
    report.deliver_secs = started.elapsed().as_secs_f64();
    Ok(report)
}

/// A row taken for delivery: marked `sending` (committed) before its SMTP transaction starts.
struct Claimed {
    id: i64,
    ticket_id: i64,
    org: i64,
    recipient: String,
    ticket: String,
    /// Counting this one.
    attempts: i64,
}

/// How an SMTP transaction ended.
enum Outcome {
    Sent,
    /// 4xx, a refused connection, a timeout: retried later.
    Temporary(String),
    /// 5xx or an unusable address: the address bounces.
    Permanent(String),
}

/// Rows in `sending` per connection, at most: a crash re-sends at most `connections × WINDOW`
/// messages (each with its stored bytes, Message-ID and ticket), and the marks are committed a
/// group at a time rather than one commit per message and state.
pub const WINDOW_PER_CONNECTION: usize = 2;

const CLAIM_COLUMNS: &str = "o.id, o.ticket_id, o.org_id, o.recipient, o.message, o.attempts, t.ticket";

/// Marks rows `sending` in one transaction, and returns them with their messages. On PostgreSQL
/// the commit does not wait for its flush: should the mark be lost in a server crash, the rows
/// are still `planned` and are sent again with the same bytes — what `sending` leads to anyway —
/// so they need no flush of their own (the `sent` marks after the server's answers do wait).
async fn claim(db: &Db, rows: Vec<sqlx::any::AnyRow>) -> Result<Vec<(Claimed, String)>> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push((
            Claimed {
                id: r.try_get(0)?,
                ticket_id: r.try_get(1)?,
                org: r.try_get(2)?,
                recipient: r.try_get(3)?,
                attempts: r.try_get::<i64, _>(5)? + 1,
                ticket: r.try_get(6)?,
            },
            r.try_get::<String, _>(4)?,
        ));
    }
    if out.is_empty() {
        return Ok(out);
    }
    let list = out.iter().map(|(c, _)| c.id.to_string()).collect::<Vec<_>>().join(",");
    let mut tx = db.pool.begin().await?;
    if db.dialect == taskforce_service::db::Dialect::Postgres {
        sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE notify_outbox SET status = 'sending', attempts = attempts + 1, updated_at = $1 WHERE id IN ({list})"
    )))
    .bind(taskforce_service::time::now())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(out)
}

/// Sends the outbox over up to `connections` SMTP connections at once: rows left in `sending`
/// by an interrupted run first, then planned and due deferred ones, oldest first.
///
/// At most `connections × WINDOW_PER_CONNECTION` rows are in `sending` at any time: taken (one
/// commit for the group) before their SMTP transactions start, and settled (`sent`, `deferred`,
/// `failed`: one commit for every answer that arrived meanwhile) after. A process killed at any
/// point leaves every message either settled, or in `sending` and sent again by the next run
/// with the same bytes, Message-ID and ticket.
pub async fn deliver(
    db: &Db,
    cfg: &NotifyConfig,
    composer: &Composer<'_>,
    limit: Option<usize>,
    report: &mut SendReport,
) -> Result<()> {
    let mailer = transport(cfg)?;
    let from: Address = cfg.from.parse().with_context(|| format!("not a sender address: {:?}", cfg.from))?;
    let connections = cfg.connections.max(1);
    let window = connections * WINDOW_PER_CONNECTION;
    let throttle = Arc::new(Mutex::new(Throttle::new(cfg)));
    let slots = Arc::new(Semaphore::new(connections));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(Claimed, Outcome)>();
    // Rows a previous run left in `sending`: (we hold the run lock) nobody is sending them now.
    let mut resumed: VecDeque<i64> = sqlx::query("SELECT id FROM notify_outbox WHERE status = 'sending' ORDER BY id")
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let mut left = limit.unwrap_or(usize::MAX);
    let mut in_flight = 0usize;
    // The last outbox id claimed in id order (see the claim query below).
    let mut cursor: i64 = 0;
    let mut exhausted = false;
    loop {
        let room = window.saturating_sub(in_flight).min(left);
        if room > 0 && !(exhausted && resumed.is_empty()) {
            let rows = if !resumed.is_empty() {
                let ids: Vec<String> = resumed.drain(..room.min(resumed.len())).map(|i| i.to_string()).collect();
                report.resumed += ids.len();
                let sql = format!(
                    "SELECT {CLAIM_COLUMNS} FROM notify_outbox o JOIN notify_ticket t ON t.id = o.ticket_id WHERE o.id IN ({}) ORDER BY o.id",
                    ids.join(",")
                );
                sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&db.pool).await?
            } else {
                // Walk the outbox in id order from the last row claimed: each claim then reads
                // only the rows it takes. (Filtered by the status index and sorted instead, every
                // claim read every due row with its message: at 100,000 messages that made
                // delivery fall from 135 to 40 per second as the run went on.) `status || ''`
                // keeps both databases off the status index; a row deferred behind the cursor is
                // found by the pass from the start that ends every run.
                let sql = format!(
                    "SELECT {CLAIM_COLUMNS} FROM notify_outbox o JOIN notify_ticket t ON t.id = o.ticket_id \
                     WHERE o.id > $2 AND o.status || '' IN ('planned', 'deferred') AND o.next_attempt_at <= $1 \
                     ORDER BY o.id LIMIT {room}"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(taskforce_service::time::now())
                    .bind(cursor)
                    .fetch_all(&db.pool)
                    .await?;
                if rows.is_empty() && cursor > 0 {
                    cursor = 0;
                    continue;
                }
                if let Some(last) = rows.last() {
                    cursor = last.try_get(0)?;
                }
                rows
            };
            exhausted = rows.is_empty();
            for (row, raw) in claim(db, rows).await? {
                in_flight += 1;
                left -= 1;
                let (mailer, from, throttle, slots, done_tx) =
                    (mailer.clone(), from.clone(), throttle.clone(), slots.clone(), done_tx.clone());
                tokio::spawn(async move {
                    let outcome = match slots.acquire_owned().await {
                        Ok(_slot) => {
                            let at = throttle.lock().await.slot(&row.recipient);
                            tokio::time::sleep_until(at.into()).await;
                            transmit(&mailer, &from, &row.recipient, raw.as_bytes()).await
                        }
                        Err(_) => Outcome::Temporary("delivery stopped".into()),
                    };
                    let _ = done_tx.send((row, outcome));
                });
            }
            if !exhausted && in_flight < window && left > 0 {
                continue; // more room: take more before waiting for answers
            }
        }
        if in_flight == 0 {
            break;
        }
        // Every answer that arrived, settled in one transaction.
        let Some(first) = done_rx.recv().await else { break };
        let mut group = vec![first];
        while let Ok(more) = done_rx.try_recv() {
            group.push(more);
        }
        in_flight -= group.len();
        if settle(db, cfg, composer, group, report).await? {
            exhausted = false; // a refusal queued the next contact's message
        }
        // Deferred rows may have come due meanwhile.
        exhausted = exhausted && in_flight > 0;
    }
    Ok(())
}

/// One SMTP transaction.
async fn transmit(mailer: &AsyncSmtpTransport<Tokio1Executor>, from: &Address, recipient: &str, raw: &[u8]) -> Outcome {
    let to: Address = match recipient.parse() {
        Ok(to) => to,
        Err(e) => return Outcome::Permanent(format!("not an address: {e}")),
    };
    let envelope = match Envelope::new(Some(from.clone()), vec![to]) {
        Ok(e) => e,
        Err(e) => return Outcome::Permanent(format!("envelope: {e}")),
    };
    match mailer.send_raw(&envelope, raw).await {
        Ok(_) => Outcome::Sent,
        Err(e) if e.is_permanent() => Outcome::Permanent(e.to_string()),
        Err(e) => Outcome::Temporary(e.to_string()),
    }
}

/// Records a group of answers: `sent` (and the organisation `notified`) and temporary failures in
/// one transaction; then each permanent refusal, which moves its ticket to the next contact.
/// Returns whether a refusal queued a new message.
async fn settle(
    db: &Db,
    cfg: &NotifyConfig,
    composer: &Composer<'_>,
    group: Vec<(Claimed, Outcome)>,
    report: &mut SendReport,
) -> Result<bool> {
    let now = taskforce_service::time::now();
    let mut refused = Vec::new();
    let mut sent: Vec<Claimed> = Vec::new();
    let mut tx = db.pool.begin().await?;
    db.lock_for_write(&mut tx).await?;
    for (row, outcome) in group {
        match outcome {
            Outcome::Sent => sent.push(row),
            Outcome::Temporary(error) => {
                let (status, next) = if row.attempts >= cfg.max_attempts {
                    report.failed += 1;
                    ("failed", now.clone())
                } else {
                    report.deferred += 1;
                    ("deferred", retry_at(&now, cfg.retry_base_secs, row.attempts))
                };
                tracing::warn!(ticket = %row.ticket, recipient = %row.recipient, %error, status, "temporary failure");
                sqlx::query("UPDATE notify_outbox SET status = $1, last_error = $2, next_attempt_at = $3, updated_at = $4 WHERE id = $5")
                    .bind(status)
                    .bind(error)
                    .bind(next)
                    .bind(now.clone())
                    .bind(row.id)
                    .execute(&mut *tx)
                    .await?;
            }
            Outcome::Permanent(error) => refused.push((row, error)),
        }
    }
    if !sent.is_empty() {
        // Sent, and the organisations told: a few statements for the whole group.
        let ids = sent.iter().map(|r| r.id.to_string()).collect::<Vec<_>>().join(",");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE notify_outbox SET status = 'sent', sent_at = $1, updated_at = $1, last_error = NULL WHERE id IN ({ids})"
        )))
        .bind(now.clone())
        .execute(&mut *tx)
        .await?;
        let steps: Vec<(i64, String, String)> = sent
            .iter()
            .map(|r| (r.org, format!("notify:{}", r.ticket), format!("notification sent to {}", r.recipient)))
            .collect();
        record_communications_in(&mut tx, &steps, CommState::Notified, &now).await?;
        report.sent += sent.len();
    }
    tx.commit().await?;
    let requeued = !refused.is_empty();
    for (row, error) in refused {
        tracing::warn!(ticket = %row.ticket, recipient = %row.recipient, %error, "permanent refusal");
        sqlx::query("UPDATE notify_outbox SET status = 'failed', last_error = $1, updated_at = $2 WHERE id = $3")
            .bind(error.clone())
            .bind(now.clone())
            .bind(row.id)
            .execute(&db.pool)
            .await?;
        record_bounce(db, &row.recipient, "smtp", &error, &now).await?;
        report.failed += 1;
        report.bounced += 1;
        match composer.next_contact(row.ticket_id, &now).await? {
            Some(_) => report.next_contact += 1,
            None => report.unreachable += 1,
        }
    }
    Ok(requeued)
}
