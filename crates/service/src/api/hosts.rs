//! Hosts: list, detail (findings, observations with provenance, state events, the state on a
//! past date), and the analyst's remediation record.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row;

use super::orgs::host_filter;
use super::{ApiError, ApiResult, AppState, AtParam, Staff, at_param, audit_in, require_staff};
use crate::enrich::Enricher;
use crate::feeds::{Observed, Target};
use crate::query;
use crate::state::Signal;
use crate::store::{self, Uploader};
use crate::tokens::Principal;

pub async fn list(
    State(s): State<AppState>,
    p: Principal,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    require_staff(&p)?;
    let (filter, page) = host_filter(&q)?;
    let result = query::list_hosts(&s.db, &filter, page).await?.map_err(|e| ApiError::bad_request(e.0))?;
    Ok(Json(serde_json::to_value(result).map_err(anyhow::Error::from)?))
}

pub async fn detail(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    Query(q): Query<AtParam>,
) -> ApiResult<Json<query::HostDetail>> {
    let at = at_param(q.at.as_deref())?;
    let host = query::host_summary(&s.db, id).await?;
    // A reporter learns nothing about hosts outside its organisation, not even that they exist.
    match &host {
        Some(h) if p.is_staff() || (p.org_id.is_some() && h.org_id == p.org_id) => {}
        _ if !p.is_staff() => return Err(ApiError::forbidden()),
        _ => return Err(ApiError::not_found("host")),
    }
    query::host_detail(&s.db, id, at.as_deref()).await?.map(Json).ok_or_else(|| ApiError::not_found("host"))
}

#[derive(Deserialize)]
pub struct Remediation {
    note: String,
    at: Option<String>,
}

/// Records that the host was cleaned up: the only way out of `compromised`.
pub async fn remediation(
    State(s): State<AppState>,
    Staff(p): Staff,
    Path(id): Path<i64>,
    Json(body): Json<Remediation>,
) -> ApiResult<Json<Value>> {
    if body.note.trim().is_empty() {
        return Err(ApiError::bad_request("a remediation record needs a note (what was done, by whom)"));
    }
    let at = match &body.at {
        Some(t) => crate::time::parse(t).ok_or_else(|| ApiError::bad_request(format!("unreadable time {t:?}")))?,
        None => crate::time::now(),
    };
    let host = query::host_summary(&s.db, id).await?.ok_or_else(|| ApiError::not_found("host"))?;
    let before = json!({"tech_state": host.tech_state});
    let ip: std::net::IpAddr = host.ip.parse().map_err(anyhow::Error::from)?;
    let recorded = crate::time::now();
    let observed = Observed {
        line: 0,
        target: Target::Ip(ip),
        observed_at: at.clone(),
        signals: vec![Signal::Remediation],
        port: None,
        tags: Some("analyst;remediation".into()),
        version: None,
        url: None,
        hostname: None,
        servername: None,
        asn_reported: None,
        cc_reported: None,
        findings: Vec::new(),
        natural_key: format!(
            "analyst|remediation|{}|{recorded}|{}|{}",
            host.ip,
            p.name,
            crate::ingest::hex(&rand_suffix())
        ),
        detail: json!({"note": body.note, "analyst": p.name}).to_string(),
    };
    let enricher = Enricher::load(&s.db).await?;
    let uploader = Uploader { name: format!("analyst:{}", p.name), reporter_org: None };
    let (stats, mut tx, orgs) = store::write_batch(
        &s.db,
        &enricher,
        None,
        &format!("analyst:{}", p.name),
        &uploader,
        vec![observed],
        Vec::new(),
    )
    .await?;
    store::roll_up(&mut tx, s.db.dialect, &orgs).await?;
    // The audit row commits with the change it records.
    let state: String =
        sqlx::query("SELECT tech_state FROM host WHERE id = $1").bind(id).fetch_one(&mut *tx).await?.try_get(0)?;
    let after = Some(json!({"tech_state": state, "note": body.note, "at": at}));
    audit_in(&mut tx, &p, "remediation", "host", id, Some(before), after.clone()).await?;
    tx.commit().await?;
    let mut answer = json!({"host_id": id, "state_changes": stats.state_changes, "host": after});
    if stats.state_changes == 0 && host.tech_state != "remediated" && host.tech_state != "verified_clean" {
        answer["note"] = json!(format!(
            "recorded in the host's history only: the host's current state ({}) rests on evidence newer than {at}",
            host.tech_state
        ));
    }
    Ok(Json(answer))
}

fn rand_suffix() -> [u8; 8] {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 8];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    b
}
