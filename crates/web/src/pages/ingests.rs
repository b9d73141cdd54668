//! `/ingests`: the files taken in (newest first), an upload form for analysts, and each
//! ingest's counts and rejected rows with their line numbers.

use axum::extract::{Multipart, Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use serde_json::json;
use taskforce_service::api::AppState;
use taskforce_service::dashboard;
use taskforce_service::ingest::IngestKind;
use taskforce_service::store::Uploader;

use super::upload::{ingest_refused, spool};
use super::{QueryPairs, keyset_pager, page_params, pager, seek_params};
use crate::auth::Viewer;
use crate::render::{PageError, PageResult, page};

/// The kinds an analyst may upload here, as the API names them.
const KINDS: &[&str] = &["shadowserver", "intelmq", "probe", "hunt", "orgs", "asn", "asn-mmdb"];

pub async fn list(State(s): State<AppState>, viewer: Viewer, Query(q): Query<QueryPairs>) -> PageResult {
    viewer.require_staff()?;
    let (p, seek) = seek_params(&q, "")?;
    let result = dashboard::ingests_seek(&s.db, p, seek).await?;
    Ok(page(
        "ingests.html",
        json!({
            "title": "Ingests",
            "viewer": viewer.context(),
            "ingests": result.items,
            "pager": keyset_pager(&result, "/ingests", &q, ""),
            "kinds": KINDS,
        }),
    )?
    .into_response())
}

pub async fn upload(State(s): State<AppState>, viewer: Viewer, form: Multipart) -> PageResult {
    viewer.require_staff()?;
    let form = spool(&s, form).await?;
    viewer.check_csrf(form.field("csrf"))?;
    let kind = IngestKind::parse(form.field("kind")).ok_or_else(|| {
        PageError::BadRequest(format!("unknown kind {:?}: {}", form.field("kind"), IngestKind::NAMES))
    })?;
    let ip = match form.field("ip").trim() {
        "" => None,
        v => Some(v.parse().map_err(|_| PageError::BadRequest(format!("not an IP address: {v:?}")))?),
    };
    let (tmp, file_name) = form.file.as_ref().ok_or_else(|| PageError::BadRequest("choose a file to upload".into()))?;
    let uploader = Uploader { name: uploader_name(&viewer), reporter_org: None };
    // The file is on disk: now wait for the turn to write (`service::api::gate`).
    let _admitted = s.db.write_gate.enter().await.map_err(PageError::from)?;
    let summary =
        taskforce_service::records::upload(&s.db, &viewer.principal, &uploader, kind, tmp.path(), file_name, ip)
            .await
            .map_err(ingest_refused)?;
    Ok(Redirect::to(&format!("/ingests/{}", summary.ingest_id)).into_response())
}

/// The provenance name of an upload made from the pages.
pub fn uploader_name(viewer: &Viewer) -> String {
    if viewer.principal.name.starts_with("user:") {
        viewer.principal.name.clone()
    } else {
        format!("token:{}", viewer.principal.name)
    }
}

pub async fn detail(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<QueryPairs>,
) -> PageResult {
    viewer.require_staff()?;
    let ingest = dashboard::ingest(&s.db, id).await?.ok_or(PageError::NotFound("ingest"))?;
    let rejected = dashboard::rejected_rows(&s.db, id, page_params(&q, "")?).await?;
    Ok(page(
        "ingest.html",
        json!({
            "title": format!("Ingest {id}: {}", ingest.file_name),
            "viewer": viewer.context(),
            "ingest": ingest,
            "rejected": rejected.items,
            "pager": pager(&rejected, &format!("/ingests/{id}"), &q, ""),
        }),
    )?
    .into_response())
}
