//! The self-service portal: an organisation's people (a reporter user, or the link from their
//! notification carrying a reporter token) see only their organisation — its hosts, what was seen
//! and when, what to do — and upload a `taskforce hunt` report through the same ingest path as
//! the API. After an upload they see the host's new state and what is still missing for
//! `verified_clean`.

use axum::extract::{Multipart, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use serde_json::{Value, json};
use taskforce_service::api::AppState;
use taskforce_service::feeds::FeedKind;
use taskforce_service::ingest::IngestKind;
use taskforce_service::query::{self, HostFilter};
use taskforce_service::store::Uploader;
use taskforce_service::tokens::Role;
use taskforce_service::{dashboard, records};

use super::ingests::uploader_name;
use super::upload::{ingest_refused, spool};
use super::{QueryPairs, keyset_pager, page_params, pager, param, seek_params};
use crate::auth::{Viewer, session_redirect};
use crate::render::{PageError, PageResult, page as render_page};
use crate::sessions::{self, Owner};

pub async fn page(
    State(s): State<AppState>,
    headers: HeaderMap,
    viewer: Result<Viewer, PageError>,
    Query(q): Query<QueryPairs>,
) -> PageResult {
    if let Some(token) = param(&q, "token") {
        // The notification's link: a live reporter token opens a session, then the token leaves
        // the URL (and the browser history) at once.
        let principal = taskforce_service::tokens::authenticate(&s.db, &token).await?;
        let Some(p) = principal.filter(|p| p.role == Role::Reporter && p.org_id.is_some()) else {
            return Err(PageError::Forbidden(
                "This link is not valid (unknown, revoked or expired). Ask the task force for a new one.".into(),
            ));
        };
        let secret = sessions::create(&s.db, Owner::Token(p.token_id), s.config.session_hours).await?;
        return Ok(session_redirect(&s, &headers, &secret, "/portal"));
    }
    let viewer = viewer?;
    let Some(org_id) = viewer.principal.org_id.filter(|_| !viewer.is_staff()) else {
        return Ok(Redirect::to("/").into_response());
    };
    let db = &s.db;
    let org = query::org_summary(db, org_id).await?.ok_or(PageError::NotFound("organisation"))?;
    let (hp, hseek) = seek_params(&q, "hosts_")?;
    let hosts =
        query::list_hosts_seek(db, &HostFilter { org: Some(org_id), ..HostFilter::default() }, hp, hseek).await??;
    let mut host_rows = Vec::with_capacity(hosts.items.len());
    for h in &hosts.items {
        let v = dashboard::verification(db, h.id).await?;
        host_rows.push(json!({"host": h, "verification": v}));
    }
    let findings = dashboard::org_findings(db, org_id, page_params(&q, "findings_")?).await?;
    let uploaded = match param(&q, "uploaded").and_then(|v| v.parse::<i64>().ok()) {
        Some(id) => upload_result(&s, &viewer, org_id, id).await?,
        None => Value::Null,
    };
    Ok(render_page(
        "portal.html",
        json!({
            "title": format!("{} — self-service", org.name),
            "viewer": viewer.context(),
            "org": org,
            "hosts": host_rows,
            "hosts_pager": keyset_pager(&hosts, "/portal", &q, "hosts_"),
            "findings": findings.items,
            "findings_pager": pager(&findings, "/portal", &q, "findings_"),
            "uploaded": uploaded,
        }),
    )?
    .into_response())
}

/// What an upload of this viewer did: its counts and, per host it touched, the new state and
/// what is still missing. Another uploader's ingest shows nothing.
async fn upload_result(s: &AppState, viewer: &Viewer, org_id: i64, ingest_id: i64) -> PageResult<Value> {
    let Some(ingest) = dashboard::ingest(&s.db, ingest_id).await? else { return Ok(Value::Null) };
    if ingest.uploader != uploader_name(viewer) {
        return Ok(Value::Null);
    }
    let mut hosts = Vec::new();
    for id in dashboard::ingest_hosts_of_org(&s.db, ingest_id, org_id).await? {
        let Some(h) = query::host_summary(&s.db, id).await? else { continue };
        if h.org_id != Some(org_id) {
            continue;
        }
        let v = dashboard::verification(&s.db, id).await?;
        hosts.push(json!({"host": h, "verification": v}));
    }
    Ok(json!({"ingest": ingest, "hosts": hosts}))
}

pub async fn upload(State(s): State<AppState>, viewer: Viewer, form: Multipart) -> PageResult {
    let Some(org_id) = viewer.principal.org_id.filter(|_| !viewer.is_staff()) else {
        return Err(PageError::Forbidden("The portal's upload is for an organisation's own people.".into()));
    };
    let form = spool(&s, form).await?;
    viewer.check_csrf(form.field("csrf"))?;
    let ip = match form.field("ip").trim() {
        "" => None,
        v => Some(v.parse().map_err(|_| PageError::BadRequest(format!("not an IP address: {v:?}")))?),
    };
    let (tmp, file_name) =
        form.file.as_ref().ok_or_else(|| PageError::BadRequest("choose the report file (report.json)".into()))?;
    // The file is on disk: now wait for the turn to write (`service::api::gate`).
    let _admitted = s.db.write_gate.enter().await.map_err(PageError::from)?;
    let summary = records::upload(
        &s.db,
        &viewer.principal,
        &Uploader { name: uploader_name(&viewer), reporter_org: Some(org_id) },
        IngestKind::Feed(FeedKind::Hunt),
        tmp.path(),
        file_name,
        ip,
    )
    .await
    .map_err(ingest_refused)?;
    if summary.rows_ok == 0 && summary.rows_duplicate == 0 && !summary.duplicate_file {
        let why = summary
            .errors
            .first()
            .map(|e| e.message.clone())
            .unwrap_or_else(|| "no host in it could be matched".into());
        return Err(PageError::BadRequest(format!(
            "The report was not taken: {why}. Choose the server's address in the form and send it again."
        )));
    }
    Ok(Redirect::to(&format!("/portal?uploaded={}#result", summary.ingest_id)).into_response())
}
