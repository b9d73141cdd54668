//! Background jobs: start a re-enrichment, read a job's progress, list recent jobs.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, AppState, Staff};
use crate::jobs::{self, JobInfo};

/// `POST /api/v1/jobs/reenrich`: looks every host up again with the current mappings, in the
/// background; answers 202 with the job (a job still waiting to start is reused).
pub async fn reenrich(State(s): State<AppState>, Staff(p): Staff) -> ApiResult<(StatusCode, Json<JobInfo>)> {
    let job = jobs::request_reenrich(&s.db, &super::actor_label(&p)).await?;
    jobs::spawn_worker(s.db.clone());
    Ok((StatusCode::ACCEPTED, Json(job)))
}

pub async fn detail(State(s): State<AppState>, Staff(_): Staff, Path(id): Path<i64>) -> ApiResult<Json<JobInfo>> {
    jobs::get(&s.db, id).await?.map(Json).ok_or_else(|| ApiError::not_found("job"))
}

/// The 100 newest jobs.
pub async fn list(State(s): State<AppState>, Staff(_): Staff) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"items": jobs::list(&s.db, 100).await?})))
}
