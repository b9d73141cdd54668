//! Tickets and the outbox: a due notification becomes a ticket and a fully rendered message
//! stored with its Message-ID (`planned`) before anything is sent; the delivery moves it through
//! `sending` to `sent`, `deferred` or `failed`.

use std::collections::HashMap;

use anyhow::{Context, Result};
use serde::Serialize;
use sqlx::Row;
use taskforce_service::Db;
use taskforce_service::state::CommState;
use taskforce_service::tokens::{self, Role};

use crate::config::NotifyConfig;
use crate::message::{self, Part};
use crate::plan::{self, PlanItem, Recipient, RecipientKind};
use crate::templates::{MessageContext, Templates};

/// Builds and stores messages.
pub struct Composer<'a> {
    pub db: &'a Db,
    pub cfg: &'a NotifyConfig,
    pub templates: &'a Templates,
}

/// A message put in the outbox.
#[derive(Debug, Clone, Serialize)]
pub struct Enqueued {
    pub outbox_id: i64,
    pub ticket: String,
    pub org_id: i64,
    pub recipient: String,
    pub recipient_kind: RecipientKind,
    pub message_id: String,
}

fn plus_days(now: &str, days: i64) -> String {
    match now.parse::<jiff::Timestamp>() {
        Ok(t) => taskforce_service::time::format(t + jiff::SignedDuration::from_hours(24 * days)),
        Err(_) => now.to_string(),
    }
}

/// `TF-20210312-000042`: the ticket's creation day and its row number (unique, never reused).
pub fn ticket_number(created_at: &str, id: i64) -> String {
    let day: String = created_at.chars().take(10).filter(char::is_ascii_digit).collect();
    format!("TF-{day}-{id:06}")
}

/// What a message needs besides its text: the reporter token and the attachments.
struct Prepared {
    token_id: i64,
    secret: String,
    expires: String,
    parts: Vec<Part>,
}

/// Organisations rendered and enqueued together: one batch of export queries, rendering on every
/// core, and one transaction (one commit, one flush on PostgreSQL) for the batch's tickets and
/// messages. A crash leaves every ticket of the batch with its message, or none of them.
pub const ENQUEUE_CHUNK: usize = crate::plan::PLAN_BATCH;

/// A message to render: its ticket's context and the recipient (the token is in `prepared`).
struct Job {
    ticket_id: i64,
    ctx: MessageContext,
    recipient: Recipient,
    prepared: Prepared,
}

/// A rendered message, ready for the outbox.
struct Rendered {
    ticket_id: i64,
    ctx: MessageContext,
    recipient: Recipient,
    token_id: i64,
    expires: String,
    subject: String,
    built: message::Built,
}

/// Renders one message: templates, attachments (named after the ticket), X-ARF parts.
fn render(templates: &Templates, cfg: &NotifyConfig, job: Job) -> Result<Rendered> {
    let Job { ticket_id, mut ctx, recipient, prepared } = job;
    ctx.intermediary = recipient.kind == RecipientKind::Intermediary;
    ctx.recipient = recipient.clone();
    ctx.portal_url = format!("{}/portal?token={}", cfg.base_url.trim_end_matches('/'), prepared.secret);
    ctx.token_expires_at = prepared.expires.clone();
    let (subject, text, html) = templates.render(&recipient.lang, &ctx)?;
    let mut parts: Vec<Part> = prepared
        .parts
        .into_iter()
        .map(|p| Part { file_name: format!("{}-{}", ctx.ticket, p.file_name), ..p })
        .collect();
    if cfg.attach_xarf {
        parts.extend(xarf_parts(cfg, &ctx)?);
    }
    let built = message::build(&cfg.from, &recipient.email, &ctx.ticket, &subject, text, html, parts)?;
    Ok(Rendered { ticket_id, ctx, recipient, token_id: prepared.token_id, expires: prepared.expires, subject, built })
}

/// Renders a batch on a blocking thread, in parallel (rayon): templates and MIME encoding are
/// CPU work that must not stall the async runtime.
async fn render_all(templates: &Templates, cfg: &NotifyConfig, jobs: Vec<Job>) -> Result<Vec<Rendered>> {
    use rayon::prelude::*;
    let (templates, cfg) = (templates.clone(), cfg.clone());
    tokio::task::spawn_blocking(move || jobs.into_par_iter().map(|j| render(&templates, &cfg, j)).collect())
        .await
        .context("the rendering thread failed")?
}

/// One X-ARF v4 report per host the message tells (only this organisation's hosts).
fn xarf_parts(cfg: &NotifyConfig, ctx: &MessageContext) -> Result<Vec<Part>> {
    let reporter = crate::xarf::Reporter { org: &cfg.reporter_org, email: &cfg.from };
    let mut out = Vec::new();
    for h in &ctx.hosts {
        if let Some(report) = crate::xarf::report(h, &reporter, &ctx.ticket, &ctx.campaign)? {
            out.push(Part {
                file_name: format!("{}-xarf-{}.json", ctx.ticket, h.ip.replace(':', "-")),
                content_type: "application/json",
                content: serde_json::to_vec_pretty(&report)?,
            });
        }
    }
    Ok(out)
}

impl Composer<'_> {
    /// The exports attached to each organisation's message, for a batch of organisations.
    async fn parts_batch(&self, orgs: &[i64]) -> Result<HashMap<i64, Vec<Part>>> {
        let exports = taskforce_service::api::export::exports_batch(self.db, orgs, self.cfg.attach_intelmq)
            .await
            .context("exporting the organisations' hosts")?;
        let mut out = HashMap::with_capacity(exports.len());
        for (org, e) in exports {
            let mut parts =
                vec![Part { file_name: "hosts.csv".into(), content_type: "text/csv; charset=utf-8", content: e.csv }];
            if let Some(lines) = e.intelmq {
                parts.push(Part {
                    file_name: "events.jsonl".into(),
                    content_type: "application/x-ndjson",
                    content: lines.into_bytes(),
                });
            }
            out.insert(org, parts);
        }
        Ok(out)
    }

    /// A fresh reporter token for the organisation, inside the caller's transaction.
    async fn prepare_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        org: i64,
        parts: Vec<Part>,
        now: &str,
    ) -> Result<Prepared> {
        let expires = plus_days(now, self.cfg.token_days);
        let mut raw = [0u8; 6];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw)
            .map_err(|_| anyhow::anyhow!("no randomness"))?;
        let token_name = format!("notify:org{org}:{}", raw.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let (token_id, secret) = tokens::create_in(tx, &token_name, Role::Reporter, Some(org), Some(&expires)).await?;
        Ok(Prepared { token_id, secret, expires, parts })
    }

    /// Creates the ticket and its first message, in one transaction: a crash leaves either both
    /// or neither.
    pub async fn enqueue(&self, item: &PlanItem, now: &str) -> Result<Option<Enqueued>> {
        Ok(self.enqueue_batch(&[item], now).await?.into_iter().next())
    }

    /// [`Composer::enqueue`] for several organisations in one transaction (those without a
    /// recipient are left out): their exports in one batch of queries, their messages rendered
    /// in parallel, and a few multi-row statements for the whole batch (tickets, tokens,
    /// messages) rather than several statements per organisation.
    pub async fn enqueue_batch(&self, items: &[&PlanItem], now: &str) -> Result<Vec<Enqueued>> {
        let work: Vec<(&PlanItem, &Recipient)> =
            items.iter().filter_map(|i| i.recipient.as_ref().map(|r| (*i, r))).collect();
        if work.is_empty() {
            return Ok(Vec::new());
        }
        let orgs: Vec<i64> = work.iter().map(|(i, _)| i.org_id).collect();
        let mut parts = self.parts_batch(&orgs).await?;
        let mut tx = self.db.pool.begin().await?;
        self.db.lock_for_write(&mut tx).await?;
        let ids = reserve_ticket_ids(&mut tx, self.db.dialect, work.len()).await?;
        let expires = plus_days(now, self.cfg.token_days);
        let mut names = Vec::with_capacity(work.len());
        for (item, _) in &work {
            let mut raw = [0u8; 6];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw)
                .map_err(|_| anyhow::anyhow!("no randomness"))?;
            let suffix: String = raw.iter().map(|b| format!("{b:02x}")).collect();
            names.push((format!("notify:org{}:{suffix}", item.org_id), item.org_id));
        }
        let tokens = tokens::create_reporters_in(&mut tx, &names, &expires).await?;
        let mut jobs = Vec::with_capacity(work.len());
        let mut tickets = Vec::with_capacity(work.len());
        for (((item, recipient), id), (token_id, secret)) in work.into_iter().zip(ids).zip(tokens) {
            let parts = parts
                .remove(&item.org_id)
                .with_context(|| format!("exporting organisation {}: not found", item.org_id))?;
            let ctx = self.context(item, recipient, ticket_number(now, id), now);
            // The stored summary keeps no token.
            tickets.push(NewTicket { id, item, summary: serde_json::to_string(&ctx)?, token_id });
            let prepared = Prepared { token_id, secret, expires: expires.clone(), parts };
            jobs.push(Job { ticket_id: id, ctx, recipient: recipient.clone(), prepared });
        }
        self.insert_tickets_in(&mut tx, &tickets, &expires, now).await?;
        drop(tickets);
        let rendered = render_all(self.templates, self.cfg, jobs).await?;
        let out = insert_messages_in(&mut tx, rendered, now).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// What a ticket's messages are rendered from.
    fn context(&self, item: &PlanItem, recipient: &Recipient, ticket: String, now: &str) -> MessageContext {
        MessageContext {
            ticket,
            campaign: self.cfg.campaign.clone(),
            org_id: item.org_id,
            org_name: item.org_name.clone(),
            org_cc: item.cc.clone(),
            recipient: recipient.clone(),
            intermediary: recipient.kind == RecipientKind::Intermediary,
            compromised: item.hosts.iter().filter(|h| h.state == "compromised").count(),
            vulnerable: item.hosts.iter().filter(|h| h.state == "vulnerable").count(),
            regressed: item.hosts.iter().filter(|h| h.regressed).count(),
            hosts: item.hosts.clone(),
            reason: item.decision.as_str().to_string(),
            why: item.why.clone(),
            portal_url: String::new(),
            token_expires_at: String::new(),
            sender: self.cfg.from.clone(),
            generated_at: now.to_string(),
        }
    }

    /// The batch's tickets, with their reserved ids, numbers, summaries and tokens.
    async fn insert_tickets_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        tickets: &[NewTicket<'_>],
        expires: &str,
        now: &str,
    ) -> Result<()> {
        const COLS: usize = 11;
        for chunk in tickets.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO notify_ticket (id, ticket, org_id, campaign, created_at, reason, worst_state, hosts_json, summary_json, token_id, token_expires_at) VALUES {}",
                values_clause(chunk.len(), COLS, |_, p| p.join(", "))
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for t in chunk {
                q = q
                    .bind(t.id)
                    .bind(ticket_number(now, t.id))
                    .bind(t.item.org_id)
                    .bind(self.cfg.campaign.clone())
                    .bind(now.to_string())
                    .bind(t.item.decision.as_str())
                    .bind(t.item.worst_state.clone())
                    .bind(serde_json::to_string(&plan::told(&t.item.hosts))?)
                    .bind(t.summary.clone())
                    .bind(t.token_id)
                    .bind(expires.to_string());
            }
            q.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// The ticket's message for another recipient (after a refusal), with a fresh reporter token.
    pub async fn add_message(
        &self,
        ticket_id: i64,
        ctx: MessageContext,
        recipient: Recipient,
        now: &str,
    ) -> Result<Enqueued> {
        let org = ctx.org_id;
        let parts = self
            .parts_batch(&[org])
            .await?
            .remove(&org)
            .with_context(|| format!("exporting organisation {org}: not found"))?;
        let mut tx = self.db.pool.begin().await?;
        let prepared = self.prepare_in(&mut tx, org, parts, now).await?;
        let rendered = render(self.templates, self.cfg, Job { ticket_id, ctx, recipient, prepared })?;
        let e = store_in(&mut tx, rendered, now).await?;
        tx.commit().await?;
        Ok(e)
    }

    /// After a permanent refusal: the ticket's message to the next address, or, with none left,
    /// the organisation becomes `unreachable`. Returns the new message, if any.
    pub async fn next_contact(&self, ticket_id: i64, now: &str) -> Result<Option<Enqueued>> {
        let row = sqlx::query("SELECT ticket, org_id, summary_json FROM notify_ticket WHERE id = $1")
            .bind(ticket_id)
            .fetch_one(&self.db.pool)
            .await?;
        let ticket: String = row.try_get(0)?;
        let org: i64 = row.try_get(1)?;
        let ctx: MessageContext =
            serde_json::from_str(&row.try_get::<String, _>(2)?).context("reading the ticket's stored message")?;
        let plan = plan::plan_for(self.db, self.cfg, now, Some(org)).await?;
        let tried: Vec<String> = sqlx::query("SELECT recipient FROM notify_outbox WHERE ticket_id = $1")
            .bind(ticket_id)
            .fetch_all(&self.db.pool)
            .await?
            .iter()
            .filter_map(|r| r.try_get(0).ok())
            .collect();
        let next = plan
            .items
            .first()
            .into_iter()
            .flat_map(|i| i.recipient.iter().chain(i.fallbacks.iter()))
            .find(|r| !tried.contains(&r.email))
            .cloned();
        match next {
            Some(r) => self.add_message(ticket_id, ctx, r, now).await.map(Some),
            None => {
                sqlx::query("UPDATE notify_ticket SET status = 'unreachable' WHERE id = $1")
                    .bind(ticket_id)
                    .execute(&self.db.pool)
                    .await?;
                record_communication(
                    self.db,
                    org,
                    CommState::Unreachable,
                    now,
                    &format!("notify:{ticket}"),
                    "every contact refused the notification permanently",
                )
                .await?;
                Ok(None)
            }
        }
    }
}

/// Rows per multi-row INSERT: binds stay far below SQLite's (32,766) and PostgreSQL's (65,535)
/// limits.
const ROWS_PER_INSERT: usize = 100;

/// `(…), (…)`: `rows` rows of `cols` numbered placeholders, each row's list written by `row`
/// (which may repeat or add to them).
fn values_clause(rows: usize, cols: usize, row: impl Fn(usize, &[String]) -> String) -> String {
    (0..rows)
        .map(|r| {
            let p: Vec<String> = (1..=cols).map(|c| format!("${}", r * cols + c)).collect();
            format!("({})", row(r, &p))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A ticket of a batch, before it is written.
struct NewTicket<'a> {
    id: i64,
    item: &'a PlanItem,
    summary: String,
    token_id: i64,
}

/// The ids the next `n` tickets get, taken inside the caller's write-locked transaction so their
/// numbers (`TF-day-id`) are known before anything is rendered: PostgreSQL hands them out from
/// the column's sequence; on SQLite (one writer, holding the lock) they follow the largest id,
/// exactly as SQLite would number them.
async fn reserve_ticket_ids(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    dialect: taskforce_service::db::Dialect,
    n: usize,
) -> Result<Vec<i64>> {
    if dialect == taskforce_service::db::Dialect::Postgres {
        let sql = format!("SELECT nextval(pg_get_serial_sequence('notify_ticket', 'id')) FROM generate_series(1, {n})");
        let mut ids: Vec<i64> = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut **tx)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        ids.sort_unstable();
        return Ok(ids);
    }
    let max: i64 =
        sqlx::query("SELECT COALESCE(MAX(id), 0) FROM notify_ticket").fetch_one(&mut **tx).await?.try_get(0)?;
    Ok((1..=n as i64).map(|i| max + i).collect())
}

/// The batch's rendered messages as `planned` rows, a multi-row statement per 100.
async fn insert_messages_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    rendered: Vec<Rendered>,
    now: &str,
) -> Result<Vec<Enqueued>> {
    const COLS: usize = 10;
    let mut out = Vec::with_capacity(rendered.len());
    let mut rendered = rendered.into_iter().peekable();
    while rendered.peek().is_some() {
        let chunk: Vec<Rendered> = rendered.by_ref().take(ROWS_PER_INSERT).collect();
        // The tenth placeholder (now) is also the creation and update time.
        let sql = format!(
            "INSERT INTO notify_outbox (ticket_id, org_id, recipient, recipient_kind, via, lang, message_id, subject, message, next_attempt_at, status, attempts, created_at, updated_at) VALUES {} RETURNING id, message_id",
            values_clause(chunk.len(), COLS, |_, p| format!("{}, 'planned', 0, {}, {}", p.join(", "), p[9], p[9]))
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in &chunk {
            q = q
                .bind(r.ticket_id)
                .bind(r.ctx.org_id)
                .bind(r.recipient.email.clone())
                .bind(r.recipient.kind.as_str())
                .bind(r.recipient.via.clone())
                .bind(r.recipient.lang.clone())
                .bind(r.built.message_id.clone())
                .bind(r.subject.clone())
                .bind(r.built.raw.clone())
                .bind(now.to_string());
        }
        let mut ids: HashMap<String, i64> = HashMap::with_capacity(chunk.len());
        for row in q.fetch_all(&mut **tx).await? {
            ids.insert(row.try_get(1)?, row.try_get(0)?);
        }
        for r in chunk {
            let outbox_id = *ids.get(&r.built.message_id).context("a message was not stored")?;
            out.push(Enqueued {
                outbox_id,
                ticket: r.ctx.ticket,
                org_id: r.ctx.org_id,
                recipient: r.recipient.email,
                recipient_kind: r.recipient.kind,
                message_id: r.built.message_id,
            });
        }
    }
    Ok(out)
}

/// Stores a rendered message as `planned` with its ticket's token, inside the caller's
/// transaction.
async fn store_in(tx: &mut sqlx::Transaction<'_, sqlx::Any>, r: Rendered, now: &str) -> Result<Enqueued> {
    let Rendered { ticket_id, ctx, recipient, token_id, expires, subject, built } = r;
    let id: i64 = sqlx::query(
        "INSERT INTO notify_outbox (ticket_id, org_id, recipient, recipient_kind, via, lang, status, message_id, subject, message, attempts, next_attempt_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'planned', $7, $8, $9, 0, $10, $10, $10) RETURNING id",
    )
    .bind(ticket_id)
    .bind(ctx.org_id)
    .bind(recipient.email.clone())
    .bind(recipient.kind.as_str())
    .bind(recipient.via.clone())
    .bind(recipient.lang.clone())
    .bind(built.message_id.clone())
    .bind(subject)
    .bind(built.raw)
    .bind(now.to_string())
    .fetch_one(&mut **tx)
    .await?
    .try_get(0)?;
    sqlx::query("UPDATE notify_ticket SET token_id = $1, token_expires_at = $2 WHERE id = $3")
        .bind(token_id)
        .bind(expires)
        .bind(ticket_id)
        .execute(&mut **tx)
        .await?;
    Ok(Enqueued {
        outbox_id: id,
        ticket: ctx.ticket,
        org_id: ctx.org_id,
        recipient: recipient.email,
        recipient_kind: recipient.kind,
        message_id: built.message_id,
    })
}

/// A step on the organisation's communication axis, as an event with its source (the ticket),
/// when the step is legal; returns whether it was recorded.
pub async fn record_communication(
    db: &Db,
    org: i64,
    to: CommState,
    at: &str,
    source: &str,
    reason: &str,
) -> Result<bool> {
    let mut tx = db.pool.begin().await?;
    db.lock_for_write(&mut tx).await?;
    let done = record_communication_in(&mut tx, org, to, at, source, reason).await?;
    tx.commit().await?;
    Ok(done)
}

/// `record_communication` inside the caller's (write-locked) transaction.
pub async fn record_communication_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    org: i64,
    to: CommState,
    at: &str,
    source: &str,
    reason: &str,
) -> Result<bool> {
    let Some(row) =
        sqlx::query("SELECT comm_state FROM organisation WHERE id = $1").bind(org).fetch_optional(&mut **tx).await?
    else {
        return Ok(false);
    };
    let from = CommState::parse(&row.try_get::<String, _>(0)?).unwrap_or(CommState::NotContacted);
    if !from.can_go_to(to) {
        return Ok(false);
    }
    // Events never go back in time.
    let last: Option<String> =
        sqlx::query("SELECT MAX(at) FROM state_event WHERE org_id = $1 AND axis = 'communication'")
            .bind(org)
            .fetch_one(&mut **tx)
            .await?
            .try_get(0)?;
    let at = match last {
        Some(last) if last.as_str() > at => last,
        _ => at.to_string(),
    };
    sqlx::query("INSERT INTO state_event (host_id, org_id, axis, from_state, to_state, at, recorded_at, observation_id, source, regressed, reason) VALUES (NULL, $1, 'communication', $2, $3, $4, $5, NULL, $6, 0, $7)")
        .bind(org)
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(at)
        .bind(taskforce_service::time::now())
        .bind(source.to_string())
        .bind(reason.to_string())
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE organisation SET comm_state = $1 WHERE id = $2")
        .bind(to.as_str())
        .bind(org)
        .execute(&mut **tx)
        .await?;
    Ok(true)
}

/// [`record_communication_in`] for many organisations at once (the organisations of a group of
/// sent messages): five statements for the group, whatever its size, with the same rules (a
/// step only where it is legal; never back in time). `steps` are (organisation, source,
/// reason); an organisation named twice takes its first step only. Returns how many were
/// recorded.
pub async fn record_communications_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    steps: &[(i64, String, String)],
    to: CommState,
    at: &str,
) -> Result<usize> {
    if steps.is_empty() {
        return Ok(0);
    }
    let list = steps.iter().map(|(o, _, _)| o.to_string()).collect::<Vec<_>>().join(",");
    let mut from: HashMap<i64, CommState> = HashMap::new();
    let sql = format!("SELECT id, comm_state FROM organisation WHERE id IN ({list})");
    for r in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&mut **tx).await? {
        from.insert(r.try_get(0)?, CommState::parse(&r.try_get::<String, _>(1)?).unwrap_or(CommState::NotContacted));
    }
    let mut last: HashMap<i64, String> = HashMap::new();
    let sql = format!(
        "SELECT org_id, MAX(at) FROM state_event WHERE org_id IN ({list}) AND axis = 'communication' GROUP BY org_id"
    );
    for r in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&mut **tx).await? {
        if let Some(at) = r.try_get::<Option<String>, _>(1)? {
            last.insert(r.try_get(0)?, at);
        }
    }
    let mut recorded: Vec<(i64, CommState, String, &str, &str)> = Vec::new();
    for (org, source, reason) in steps {
        let Some(state) = from.get(org).copied() else { continue };
        if recorded.iter().any(|r| r.0 == *org) || !state.can_go_to(to) {
            continue;
        }
        // Events never go back in time.
        let when = match last.get(org) {
            Some(l) if l.as_str() > at => l.clone(),
            _ => at.to_string(),
        };
        recorded.push((*org, state, when, source, reason));
    }
    let recorded_at = taskforce_service::time::now();
    for chunk in recorded.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO state_event (host_id, org_id, axis, from_state, to_state, at, recorded_at, observation_id, source, regressed, reason) VALUES {}",
            values_clause(chunk.len(), 7, |_, p| format!(
                "NULL, {}, 'communication', {}, {}, {}, {}, NULL, {}, 0, {}",
                p[0], p[1], p[2], p[3], p[4], p[5], p[6]
            ))
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (org, state, when, source, reason) in chunk {
            q = q
                .bind(*org)
                .bind(state.as_str())
                .bind(to.as_str())
                .bind(when.clone())
                .bind(recorded_at.clone())
                .bind(source.to_string())
                .bind(reason.to_string());
        }
        q.execute(&mut **tx).await?;
    }
    if !recorded.is_empty() {
        let ids = recorded.iter().map(|r| r.0.to_string()).collect::<Vec<_>>().join(",");
        sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE organisation SET comm_state = $1 WHERE id IN ({ids})")))
            .bind(to.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(recorded.len())
}

/// Marks an address as refusing mail permanently.
pub async fn record_bounce(db: &Db, email: &str, source: &str, reason: &str, now: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO notify_bounce (email, first_at, last_at, count, source, reason) VALUES ($1, $2, $2, 1, $3, $4) \
         ON CONFLICT (email) DO UPDATE SET last_at = excluded.last_at, count = notify_bounce.count + 1, source = excluded.source, reason = excluded.reason",
    )
    .bind(email.to_ascii_lowercase())
    .bind(now.to_string())
    .bind(source.to_string())
    .bind(reason.to_string())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// A ticket answered by its organisation: `acknowledged`.
pub async fn acknowledge(db: &Db, ticket: &str, actor: &str, now: &str) -> Result<Option<bool>> {
    let Some(row) = sqlx::query("SELECT id, org_id FROM notify_ticket WHERE ticket = $1")
        .bind(ticket.to_string())
        .fetch_optional(&db.pool)
        .await?
    else {
        return Ok(None);
    };
    let id: i64 = row.try_get(0)?;
    let org: i64 = row.try_get(1)?;
    let recorded = record_communication(
        db,
        org,
        CommState::Acknowledged,
        now,
        &format!("notify:{ticket}"),
        &format!("ticket answered, recorded by {actor}"),
    )
    .await?;
    if recorded {
        sqlx::query("UPDATE notify_ticket SET status = 'acknowledged', acknowledged_at = $1, acknowledged_by = $2 WHERE id = $3")
            .bind(now.to_string())
            .bind(actor.to_string())
            .bind(id)
            .execute(&db.pool)
            .await?;
    }
    Ok(Some(recorded))
}
