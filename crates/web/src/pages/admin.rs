//! Admin pages: API tokens (create — the secret is shown once — and revoke) and dashboard users
//! (create, disable). Every change is in the audit log, as through the API.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use serde_json::json;
use taskforce_service::api::{AppState, audit};
use taskforce_service::tokens::{self, Role};

use crate::auth::Viewer;
use crate::render::{PageError, PageResult, page};
use crate::users;

#[derive(Deserialize)]
pub struct NewCredential {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    org_id: String,
    #[serde(default)]
    password: String,
}

impl NewCredential {
    fn role(&self) -> PageResult<Role> {
        Role::parse(&self.role)
            .ok_or_else(|| PageError::BadRequest(format!("unknown role {:?}: admin, analyst or reporter", self.role)))
    }
    fn org(&self) -> PageResult<Option<i64>> {
        match self.org_id.trim() {
            "" => Ok(None),
            v => v.parse().map(Some).map_err(|_| PageError::BadRequest(format!("not an organisation id: {v:?}"))),
        }
    }
}

async fn tokens_page(s: &AppState, viewer: &Viewer, created: Option<serde_json::Value>) -> PageResult {
    let list = tokens::list(&s.db).await?;
    Ok(page(
        "tokens.html",
        json!({"title": "API tokens", "viewer": viewer.context(), "tokens": list, "created": created}),
    )?
    .into_response())
}

pub async fn tokens(State(s): State<AppState>, viewer: Viewer) -> PageResult {
    viewer.require_admin()?;
    tokens_page(&s, &viewer, None).await
}

pub async fn create_token(State(s): State<AppState>, viewer: Viewer, Form(f): Form<NewCredential>) -> PageResult {
    viewer.check_csrf(&f.csrf)?;
    viewer.require_admin()?;
    let (role, org) = (f.role()?, f.org()?);
    let (id, secret) = taskforce_service::records::create_token(&s.db, &viewer.principal, &f.name, role, org).await?;
    // Shown once, in this answer only (never stored, never in a URL).
    tokens_page(&s, &viewer, Some(json!({"id": id, "name": f.name, "secret": secret}))).await
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn revoke_token(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> PageResult {
    viewer.check_csrf(&f.csrf)?;
    viewer.require_admin()?;
    if !taskforce_service::records::revoke_token(&s.db, &viewer.principal, id).await? {
        return Err(PageError::NotFound("active token"));
    }
    Ok(Redirect::to("/admin/tokens").into_response())
}

pub async fn users(State(s): State<AppState>, viewer: Viewer) -> PageResult {
    viewer.require_admin()?;
    let list = users::list(&s.db).await?;
    Ok(page(
        "users.html",
        json!({"title": "Users", "viewer": viewer.context(), "users": list, "min_password": users::MIN_PASSWORD_CHARS}),
    )?
    .into_response())
}

pub async fn create_user(State(s): State<AppState>, viewer: Viewer, Form(f): Form<NewCredential>) -> PageResult {
    viewer.check_csrf(&f.csrf)?;
    viewer.require_admin()?;
    let (role, org) = (f.role()?, f.org()?);
    let id = users::create(&s.db, &f.name, role, org, &f.password)
        .await
        .map_err(|e| PageError::BadRequest(format!("{e:#}")))?;
    let after = json!({"id": id, "name": f.name.trim(), "role": role.as_str(), "org_id": org});
    audit(&s.db, &viewer.principal, "create", "user", id, None, Some(after)).await?;
    Ok(Redirect::to("/admin/users").into_response())
}

pub async fn disable_user(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> PageResult {
    viewer.check_csrf(&f.csrf)?;
    viewer.require_admin()?;
    if !users::disable(&s.db, id).await? {
        return Err(PageError::NotFound("enabled user"));
    }
    audit(&s.db, &viewer.principal, "disable", "user", id, None, None).await?;
    Ok(Redirect::to("/admin/users").into_response())
}
