//! `/notifications` (staff only): the plan preview (what would be sent, to whom, why; the
//! organisations nobody can be written to), the outbox, tickets and bounces, and the forms to
//! send and to record an acknowledgement. Reads and writes go through `taskforce_notify::api`,
//! the functions behind the notification API: one set of rules, one audit log.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::{Extension, Form};
use serde::Deserialize;
use serde_json::{Value, json};
use taskforce_notify::api::{self as notify_api, NotifyState};
use taskforce_notify::plan::{self, Decision, PlanItem};
use taskforce_service::api::AppState;
use taskforce_service::query::{Page, PageParams};

use super::{QueryPairs, page_params, pager, param};
use crate::auth::Viewer;
use crate::render::{PageError, PageResult, page as render_page};

/// One page of rows already read, as the pager wants it.
pub fn page_of(items: Vec<Value>, total: i64, p: PageParams) -> Page<Value> {
    Page {
        items,
        page: p.page.max(1),
        per_page: p.per_page.clamp(1, 1000),
        total,
        next_cursor: None,
        prev_cursor: None,
    }
}

/// A page cut out of a list held in memory (the plan is computed whole).
fn slice<T: Clone>(all: &[T], p: PageParams) -> Page<T> {
    let (limit, offset) = p.limit_offset();
    let items = all.iter().skip(offset as usize).take(limit as usize).cloned().collect();
    Page {
        items,
        page: p.page.max(1),
        per_page: p.per_page.clamp(1, 1000),
        total: all.len() as i64,
        next_cursor: None,
        prev_cursor: None,
    }
}

/// A plan row as the table shows it.
fn plan_row(i: &PlanItem) -> Value {
    json!({
        "org_id": i.org_id, "org_name": i.org_name, "comm_state": i.comm_state, "worst_state": i.worst_state,
        "decision": i.decision.as_str(), "why": i.why, "recipient": i.recipient,
        "fallbacks": i.fallbacks.len(), "last_notified_at": i.last_notified_at,
        "hosts": i.hosts.len(),
        "ips": i.hosts.iter().take(5).map(|h| h.ip.as_str()).collect::<Vec<_>>(),
    })
}

pub async fn page(
    State(s): State<AppState>,
    Extension(n): Extension<NotifyState>,
    viewer: Viewer,
    Query(q): Query<QueryPairs>,
) -> PageResult {
    viewer.require_staff()?;
    // The ticket search box: straight to the ticket.
    if let Some(t) = param(&q, "ticket") {
        let t = t.to_ascii_uppercase();
        let enc = percent_encoding::utf8_percent_encode(&t, super::COMPONENT);
        return Ok(Redirect::to(&format!("/notifications/tickets/{enc}")).into_response());
    }
    let db = &s.db;
    let now = taskforce_service::time::now();
    let plan = plan::plan(db, &n.config, &now).await?;
    let due: Vec<Value> = plan.due().map(plan_row).collect();
    let no_contact: Vec<Value> =
        plan.items.iter().filter(|i| i.decision == Decision::NoContact).map(plan_row).collect();
    let count = |d: Decision| plan.items.iter().filter(|i| i.decision == d).count();
    let decisions = json!({
        "first": count(Decision::First), "reminder": count(Decision::Reminder), "escalation": count(Decision::Escalation),
        "within_interval": count(Decision::WithinInterval), "queued": count(Decision::Queued), "no_contact": no_contact.len(),
    });
    let due_page = slice(&due, page_params(&q, "plan_")?);
    let none_page = slice(&no_contact, page_params(&q, "nocontact_")?);

    let status = param(&q, "status");
    let org = match param(&q, "org") {
        Some(v) => {
            Some(v.parse::<i64>().map_err(|_| PageError::BadRequest(format!("not an organisation number: {v:?}")))?)
        }
        None => None,
    };
    let op = page_params(&q, "")?;
    let (limit, offset) = op.limit_offset();
    let (outbox, outbox_total) = notify_api::outbox_page(db, status.as_deref(), org, limit, offset).await?;
    let outbox = page_of(outbox, outbox_total, op);
    let tp = page_params(&q, "tickets_")?;
    let (limit, offset) = tp.limit_offset();
    let (tickets, tickets_total) = notify_api::ticket_page(db, org, None, limit, offset).await?;
    let tickets = page_of(tickets, tickets_total, tp);
    let bp = page_params(&q, "bounces_")?;
    let (limit, offset) = bp.limit_offset();
    let (bounces, bounces_total) = notify_api::bounce_page(db, limit, offset).await?;
    let bounces = page_of(bounces, bounces_total, bp);

    let path = "/notifications";
    Ok(render_page(
        "notifications.html",
        json!({
            "title": "Notifications",
            "viewer": viewer.context(),
            "campaign": plan.campaign,
            "generated_at": plan.generated_at,
            "decisions": decisions,
            "due": due_page.items, "due_pager": pager(&due_page, path, &q, "plan_"),
            "no_contact": none_page.items, "no_contact_pager": pager(&none_page, path, &q, "nocontact_"),
            "outbox": outbox.items, "outbox_pager": pager(&outbox, path, &q, ""),
            "tickets": tickets.items, "tickets_pager": pager(&tickets, path, &q, "tickets_"),
            "bounces": bounces.items, "bounces_pager": pager(&bounces, path, &q, "bounces_"),
            "filter": {"status": status, "org": org},
            "statuses": notify_api::OUTBOX_STATUSES,
            "sent": sent_summary(&q),
        }),
    )?
    .into_response())
}

/// What the last send did, carried in the redirect's query.
fn sent_summary(q: &QueryPairs) -> Option<Value> {
    param(q, "saved").filter(|s| s == "send")?;
    let n = |k: &str| param(q, k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    Some(json!({
        "enqueued": n("enqueued"), "sent": n("sent"), "deferred": n("deferred"), "failed": n("failed"),
        "no_contact": n("no_contact"),
    }))
}

#[derive(Deserialize)]
pub struct SendForm {
    #[serde(default)]
    csrf: String,
    /// At most this many new tickets (empty = all that are due).
    #[serde(default)]
    limit: String,
}

pub async fn send(
    State(s): State<AppState>,
    Extension(n): Extension<NotifyState>,
    viewer: Viewer,
    Form(f): Form<SendForm>,
) -> PageResult {
    viewer.check_csrf(&f.csrf)?;
    viewer.require_staff()?;
    let limit = match f.limit.trim() {
        "" => None,
        v => Some(v.parse::<usize>().map_err(|_| PageError::BadRequest(format!("not a number of messages: {v:?}")))?),
    };
    let report = notify_api::send_audited(&s.db, &n, &viewer.principal, limit).await?;
    let count = |k: &str| report[k].as_u64().unwrap_or(0);
    let enqueued = report["enqueued"].as_array().map_or(0, Vec::len);
    Ok(Redirect::to(&format!(
        "/notifications?saved=send&enqueued={enqueued}&sent={}&deferred={}&failed={}&no_contact={}#outbox",
        count("sent"),
        count("deferred"),
        count("failed"),
        count("no_contact"),
    ))
    .into_response())
}

pub async fn ticket(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(ticket): Path<String>,
    Query(q): Query<QueryPairs>,
) -> PageResult {
    viewer.require_staff()?;
    let t = notify_api::ticket_with_messages(&s.db, &ticket).await?.ok_or(PageError::NotFound("ticket"))?;
    Ok(render_page(
        "ticket.html",
        json!({
            "title": format!("Ticket {}", t["ticket"].as_str().unwrap_or(&ticket)),
            "viewer": viewer.context(),
            "t": t,
            "saved": param(&q, "saved"),
        }),
    )?
    .into_response())
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn acknowledge(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(ticket): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> PageResult {
    viewer.check_csrf(&f.csrf)?;
    viewer.require_staff()?;
    notify_api::acknowledge_audited(&s.db, &viewer.principal, &ticket).await?;
    let enc = percent_encoding::utf8_percent_encode(&ticket, super::COMPONENT);
    Ok(Redirect::to(&format!("/notifications/tickets/{enc}?saved=acknowledged")).into_response())
}
