//! Hosts: list, detail (findings, observations with provenance, state events, the state on a
//! past date), and the analyst's remediation record.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::Value;

use super::orgs::host_filter;
use super::{ApiError, ApiResult, AppState, AtParam, Staff, at_param, require_staff};
use crate::query;
use crate::tokens::Principal;

pub async fn list(
    State(s): State<AppState>,
    p: Principal,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    require_staff(&p)?;
    let l = host_filter(&q)?;
    let result =
        query::list_hosts_from(&s.db, &l.filter, l.page, l.cursor).await?.map_err(|e| ApiError::bad_request(e.0))?;
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
    Ok(Json(crate::records::remediation(&s.db, &p, id, &body.note, body.at.as_deref()).await?))
}
