//! `/organisations` (the API's filters, sort, search, pagination) and `/organisations/{id}`
//! (hosts, findings, the timeline on both axes, contacts, networks, exports, and the forms
//! analysts use to record a communication step, a contact or — on a host — a remediation).

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use serde_json::json;
use taskforce_service::api::{self, AppState};
use taskforce_service::dashboard;
use taskforce_service::query::{self, HostFilter, OrgFilter};
use taskforce_service::records;
use taskforce_service::state::{CommState, TechState};

use super::{QueryPairs, keyset_pager, page_params, pager, param, seek_params};
use crate::auth::Viewer;
use crate::render::{PageError, PageResult, page};

fn org_filter(q: &QueryPairs) -> PageResult<OrgFilter> {
    let asn = match param(q, "asn") {
        Some(v) => Some(
            v.trim_start_matches("AS")
                .parse()
                .map_err(|_| PageError::BadRequest(format!("the ASN must be a number, not {v:?}")))?,
        ),
        None => None,
    };
    Ok(OrgFilter {
        state: param(q, "state"),
        comm_state: param(q, "comm_state"),
        sector: param(q, "sector"),
        asn,
        country: param(q, "country"),
        last_seen_after: param(q, "last_seen_after"),
        regressed: param(q, "regressed").map(|v| matches!(v.as_str(), "true" | "1" | "yes" | "on")),
        name: param(q, "name"),
    })
}

pub async fn list(State(s): State<AppState>, viewer: Viewer, Query(q): Query<QueryPairs>) -> PageResult {
    viewer.require_staff()?;
    let filter = org_filter(&q)?;
    let (p, seek) = seek_params(&q, "")?;
    let result = query::list_orgs_seek(&s.db, &filter, p, seek).await??;
    let pager = keyset_pager(&result, "/organisations", &q, "");
    Ok(page(
        "orgs.html",
        json!({
            "title": "Organisations",
            "viewer": viewer.context(),
            "orgs": result.items,
            "pager": pager,
            "filter": filter_context(&filter),
            "techs": TechState::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            "comms": CommState::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        }),
    )?
    .into_response())
}

fn filter_context(f: &OrgFilter) -> serde_json::Value {
    json!({
        "state": f.state, "comm_state": f.comm_state, "sector": f.sector, "asn": f.asn, "country": f.country,
        "last_seen_after": f.last_seen_after, "regressed": f.regressed.unwrap_or(false), "name": f.name,
    })
}

/// A reporter sees its own organisation in the portal; any other is refused.
fn staff_or_own(viewer: &Viewer, org_id: i64) -> PageResult<Option<axum::response::Response>> {
    if viewer.is_staff() {
        Ok(None)
    } else if viewer.principal.org_id == Some(org_id) {
        Ok(Some(Redirect::to("/portal").into_response()))
    } else {
        Err(PageError::forbidden())
    }
}

pub async fn detail(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<QueryPairs>,
) -> PageResult {
    if let Some(r) = staff_or_own(&viewer, id)? {
        return Ok(r);
    }
    let db = &s.db;
    let at = past_date(&q)?;
    let detail = query::org_detail(db, id, at.as_ref().map(|(_, bound)| bound.as_str()))
        .await?
        .ok_or(PageError::NotFound("organisation"))?;
    let path = format!("/organisations/{id}");
    let (hp, hseek) = seek_params(&q, "hosts_")?;
    let hosts = query::list_hosts_seek(db, &HostFilter { org: Some(id), ..HostFilter::default() }, hp, hseek).await??;
    let mut host_rows = Vec::with_capacity(hosts.items.len());
    for h in &hosts.items {
        let mut row = serde_json::to_value(h).map_err(anyhow::Error::from)?;
        if let Some((_, bound)) = &at {
            row["state_then"] = json!(query::host_state_at(db, h.id, bound).await?);
        }
        host_rows.push(row);
    }
    let findings = dashboard::org_findings(db, id, page_params(&q, "findings_")?).await?;
    let timeline = dashboard::org_timeline(db, id, page_params(&q, "events_")?).await?;
    let from = CommState::parse(&detail.summary.comm_state).unwrap_or(CommState::NotContacted);
    let next_steps: Vec<&str> = CommState::ALL.into_iter().filter(|c| from.can_go_to(*c)).map(|c| c.as_str()).collect();
    // What the notification service sent (the same reads as its API).
    let tp = page_params(&q, "tickets_")?;
    let (limit, offset) = tp.limit_offset();
    let (tickets, total) = taskforce_notify::api::ticket_page(db, Some(id), None, limit, offset).await?;
    let tickets = super::notifications::page_of(tickets, total, tp);
    let mp = page_params(&q, "messages_")?;
    let (limit, offset) = mp.limit_offset();
    let (messages, total) = taskforce_notify::api::outbox_page(db, None, Some(id), limit, offset).await?;
    let messages = super::notifications::page_of(messages, total, mp);
    Ok(page(
        "org.html",
        json!({
            "title": detail.summary.name,
            "viewer": viewer.context(),
            "past": detail.at,
            "at_day": at.as_ref().map(|(day, _)| day),
            "org": detail,
            "hosts": host_rows,
            "hosts_pager": keyset_pager(&hosts, &path, &q, "hosts_"),
            "findings": findings.items,
            "findings_pager": pager(&findings, &path, &q, "findings_"),
            "timeline": timeline.items,
            "timeline_pager": pager(&timeline, &path, &q, "events_"),
            "tickets": tickets.items,
            "tickets_pager": pager(&tickets, &path, &q, "tickets_"),
            "messages": messages.items,
            "messages_pager": pager(&messages, &path, &q, "messages_"),
            "next_steps": next_steps,
            "saved": param(&q, "saved"),
        }),
    )?
    .into_response())
}

/// `?at=YYYY-MM-DD` of the past-date views: the day as given and its end (the bound the
/// service's state model answers for), or `None` for today.
pub fn past_date(q: &QueryPairs) -> PageResult<Option<(String, String)>> {
    let Some(day) = param(q, "at") else { return Ok(None) };
    let valid = day.len() == 10 && day.parse::<jiff::civil::Date>().is_ok();
    if !valid {
        return Err(PageError::BadRequest(format!("not a date (YYYY-MM-DD): {day:?}")));
    }
    let bound = api::at_param(Some(&day)).map_err(PageError::from)?.unwrap_or_default();
    Ok(Some((day, bound)))
}

#[derive(Deserialize)]
pub struct CommForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    at: String,
}

pub async fn communication(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<CommForm>,
) -> PageResult {
    viewer.check_csrf(&f.csrf)?;
    viewer.require_staff()?;
    records::communication(&s.db, &viewer.principal, id, &f.state, f.note.trim(), Some(&f.at)).await?;
    Ok(Redirect::to(&format!("/organisations/{id}?saved=communication#timeline")).into_response())
}

#[derive(Deserialize)]
pub struct ContactForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    phone: String,
}

pub async fn contact(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<ContactForm>,
) -> PageResult {
    viewer.check_csrf(&f.csrf)?;
    viewer.require_staff()?;
    let role = if f.role.is_empty() { "abuse" } else { f.role.as_str() };
    records::contact(&s.db, &viewer.principal, id, &f.email, role, Some(&f.name), Some(&f.phone)).await?;
    Ok(Redirect::to(&format!("/organisations/{id}?saved=contact#contacts")).into_response())
}

/// The API's exports, opened with the session (same code, same access rule).
pub async fn export_csv(State(s): State<AppState>, viewer: Viewer, Path(id): Path<i64>) -> PageResult {
    Ok(api::export::csv(State(s), viewer.principal, Path(id)).await.map_err(PageError::from)?.into_response())
}

pub async fn export_jsonl(State(s): State<AppState>, viewer: Viewer, Path(id): Path<i64>) -> PageResult {
    Ok(api::export::intelmq(State(s), viewer.principal, Path(id)).await.map_err(PageError::from)?.into_response())
}
