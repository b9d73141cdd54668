//! `/hosts/{id}`: what was seen about one server and where it came from (file and line, probe,
//! hunt report, analyst), its findings, probe history, hunt reports received, its state events,
//! and the analyst's remediation form.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use serde_json::json;
use taskforce_service::api::AppState;
use taskforce_service::{dashboard, query, records};

use super::{QueryPairs, page_params, pager, param};
use crate::auth::Viewer;
use crate::render::{PageError, PageResult, page};

pub async fn detail(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<QueryPairs>,
) -> PageResult {
    let db = &s.db;
    let host = query::host_summary(db, id).await?;
    // A reporter learns nothing about hosts outside its organisation, not even that they exist.
    match &host {
        Some(h) if viewer.is_staff() || (viewer.principal.org_id.is_some() && h.org_id == viewer.principal.org_id) => {}
        _ if !viewer.is_staff() => return Err(PageError::forbidden()),
        _ => return Err(PageError::NotFound("host")),
    }
    let detail = query::host_detail(db, id, None).await?.ok_or(PageError::NotFound("host"))?;
    let path = format!("/hosts/{id}");
    let observations = dashboard::host_observations(db, id, None, page_params(&q, "obs_")?).await?;
    let probes = dashboard::host_observations(db, id, Some("probe"), page_params(&q, "probes_")?).await?;
    let hunts = dashboard::host_observations(db, id, Some("hunt"), page_params(&q, "hunts_")?).await?;
    let verification = dashboard::verification(db, id).await?;
    let org = match detail.summary.org_id {
        Some(org) => query::org_summary(db, org).await?,
        None => None,
    };
    Ok(page(
        "host.html",
        json!({
            "title": format!("Host {}", detail.summary.ip),
            "viewer": viewer.context(),
            "host": detail,
            "org": org,
            "verification": verification,
            "observations": observations.items,
            "obs_pager": pager(&observations, &path, &q, "obs_"),
            "probes": probes.items,
            "probes_pager": pager(&probes, &path, &q, "probes_"),
            "hunts": hunts.items,
            "hunts_pager": pager(&hunts, &path, &q, "hunts_"),
            "saved": param(&q, "saved"),
        }),
    )?
    .into_response())
}

#[derive(Deserialize)]
pub struct RemediationForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    at: String,
}

pub async fn remediation(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<RemediationForm>,
) -> PageResult {
    viewer.check_csrf(&f.csrf)?;
    viewer.require_staff()?;
    records::remediation(&s.db, &viewer.principal, id, &f.note, Some(&f.at)).await?;
    Ok(Redirect::to(&format!("/hosts/{id}?saved=remediation")).into_response())
}
