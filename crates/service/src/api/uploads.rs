//! Uploads: feed files and hunt reports are streamed to a temporary file (bounded by
//! `max_upload_bytes`, 413 beyond), checked whole, then ingested by the same code as the CLI.

use std::net::IpAddr;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::{ApiError, ApiResult, AppState, Staff, require_org_access};
use crate::feeds::{FeedKind, FileError};
use crate::ingest::{IngestError, IngestKind, IngestSummary};
use crate::tokens::Principal;

#[derive(Deserialize)]
pub struct UploadParams {
    /// The name provenance records (default: `upload`).
    file_name: Option<String>,
    /// For hunt reports: the address of the host the report is about.
    ip: Option<String>,
}

/// Streams the body to a temporary file; refuses it (413) once it passes the limit.
async fn spool(s: &AppState, headers: &HeaderMap, body: Body) -> ApiResult<tempfile::NamedTempFile> {
    let limit = s.config.max_upload_bytes;
    let too_large = || {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("the upload is larger than the limit of {limit} bytes"))
    };
    if let Some(len) =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
        && len > limit
    {
        return Err(too_large());
    }
    let dir = s.config.upload_dir.clone().unwrap_or_else(std::env::temp_dir);
    let tmp = tempfile::Builder::new().prefix("taskforce-upload-").tempfile_in(&dir).map_err(anyhow::Error::from)?;
    let mut file = tokio::fs::File::from_std(tmp.reopen().map_err(anyhow::Error::from)?);
    let mut body = body;
    let mut total = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::bad_request(format!("the upload was interrupted: {e}")))?;
        if let Ok(data) = frame.into_data() {
            total += data.len() as u64;
            if total > limit {
                return Err(too_large());
            }
            file.write_all(&data).await.map_err(anyhow::Error::from)?;
        }
    }
    file.flush().await.map_err(anyhow::Error::from)?;
    if total == 0 {
        return Err(ApiError::bad_request("the upload is empty"));
    }
    Ok(tmp)
}

fn parse_ip(ip: &Option<String>) -> ApiResult<Option<IpAddr>> {
    ip.as_deref()
        .map(|s| s.trim().parse().map_err(|_| ApiError::bad_request(format!("not an IP address: {s:?}"))))
        .transpose()
}

pub fn ingest_error(e: IngestError) -> ApiError {
    match e {
        IngestError::File { file, error } => {
            let status = match error {
                FileError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::BAD_REQUEST,
            };
            ApiError::new(status, format!("{file}: {error}; nothing was ingested"))
        }
        IngestError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, format!("{m}; nothing was ingested")),
        IngestError::Other(e) => ApiError::from(e),
    }
}

async fn run(
    s: &AppState,
    p: &Principal,
    kind: IngestKind,
    tmp: &tempfile::NamedTempFile,
    params: &UploadParams,
    org: Option<i64>,
) -> ApiResult<(IngestSummary, Vec<i64>)> {
    let file_name = params.file_name.clone().unwrap_or_else(|| "upload".into());
    let uploader = crate::store::Uploader { name: format!("token:{}", p.name), reporter_org: org };
    // The body is on disk: now wait for the turn to write. Feed files and hunt reports queue at
    // the group-commit writer (`writer`); mapping files (rare, large) take turns at the gate.
    let _admitted = match kind {
        IngestKind::Feed(_) => None,
        _ => Some(s.db.write_gate.enter().await?),
    };
    // A hunt report's answer lists its hosts: read in the upload's transaction (`records`).
    let want_hosts = org.is_some();
    crate::records::upload_with_hosts(
        &s.db,
        p,
        &uploader,
        kind,
        tmp.path(),
        &file_name,
        parse_ip(&params.ip)?,
        want_hosts,
    )
    .await
    .map_err(ingest_error)
}

/// `POST /api/v1/ingest/{kind}`: any feed, ASN or organisation file (analysts).
pub async fn ingest(
    State(s): State<AppState>,
    Staff(p): Staff,
    Path(kind): Path<String>,
    Query(params): Query<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<IngestSummary>> {
    let kind = IngestKind::parse(&kind)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("unknown kind {kind:?}: {}", IngestKind::NAMES)))?;
    parse_ip(&params.ip)?;
    let tmp = spool(&s, &headers, body).await?;
    Ok(Json(run(&s, &p, kind, &tmp, &params, None).await?.0))
}

/// `POST /api/v1/organisations/{id}/hunt-reports`: an organisation's own hunt report. Every
/// host in it must be one of the organisation's (403 otherwise, nothing written); a report
/// whose hosts cannot be matched is refused with 422.
pub async fn hunt_report(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    Query(params): Query<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    require_org_access(&p, id)?;
    if crate::query::org_summary(&s.db, id).await?.is_none() {
        return Err(ApiError::not_found("organisation"));
    }
    parse_ip(&params.ip)?;
    let tmp = spool(&s, &headers, body).await?;
    let (summary, host_ids) = run(&s, &p, IngestKind::Feed(FeedKind::Hunt), &tmp, &params, Some(id)).await?;
    let status = if summary.rows_ok == 0 && summary.rows_duplicate == 0 && !summary.duplicate_file {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut answer = serde_json::to_value(&summary).map_err(anyhow::Error::from)?;
    // Per host the report was about: its state now and what is still missing for
    // `verified_clean`, so `taskforce hunt --upload` can tell the owner what comes next.
    let mut hosts = Vec::new();
    for host_id in host_ids {
        let Some(h) = crate::query::host_summary(&s.db, host_id).await? else { continue };
        if h.org_id != Some(id) {
            continue;
        }
        let v = crate::dashboard::verification(&s.db, host_id).await?;
        hosts.push(serde_json::json!({
            "id": h.id,
            "ip": h.ip,
            "name": h.servername,
            "tech_state": v.as_ref().map(|v| v.tech_state.clone()),
            "missing_for_verified_clean": v.map(|v| v.missing).unwrap_or_default(),
        }));
    }
    answer["hosts"] = Value::Array(hosts);
    Ok((status, Json(answer)))
}
