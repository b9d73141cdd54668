//! Organisations: list, detail (with the state on a past date), their hosts, and the manual
//! entries analysts make (organisations, contacts, networks/ASNs, communication state).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row;

use super::{ApiError, ApiResult, AppState, AtParam, Staff, at_param, audit_in, require_org_access, require_staff};
use crate::orgs_import::canonical_cidr;
use crate::query::{self, HostFilter, OrgFilter, PageParams};
use crate::records;
use crate::tokens::Principal;

/// Page numbers (or a keyset cursor) as given, parsed with a clear error.
#[derive(Deserialize, Default)]
pub struct PageParamsRaw {
    page: Option<String>,
    per_page: Option<String>,
    cursor: Option<String>,
}

impl PageParamsRaw {
    pub fn parse(&self) -> ApiResult<PageParams> {
        let num = |s: &Option<String>, default: u32| -> ApiResult<u32> {
            match s {
                None => Ok(default),
                Some(s) => s.parse().map_err(|_| ApiError::bad_request(format!("not a page number: {s:?}"))),
            }
        };
        Ok(PageParams { page: num(&self.page, 1)?, per_page: num(&self.per_page, 50)? })
    }

    /// `?cursor=` (a `next_cursor` given back); with `page` too it is ambiguous, so refused.
    pub fn cursor(&self) -> ApiResult<Option<query::Cursor>> {
        match &self.cursor {
            None => Ok(None),
            Some(_) if self.page.is_some() => Err(ApiError::bad_request("give page or cursor, not both")),
            Some(c) => query::Cursor::parse(c).map(Some).map_err(|e| ApiError::bad_request(e.0)),
        }
    }
}

/// A list's filters and where its page starts.
pub struct ListParams<F> {
    pub filter: F,
    pub page: PageParams,
    pub cursor: Option<query::Cursor>,
}

pub async fn list(
    State(s): State<AppState>,
    p: Principal,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    require_staff(&p)?;
    let l = org_filter(&q)?;
    let result =
        query::list_orgs_from(&s.db, &l.filter, l.page, l.cursor).await?.map_err(|e| ApiError::bad_request(e.0))?;
    Ok(Json(serde_json::to_value(result).map_err(anyhow::Error::from)?))
}

/// Query strings by hand: numbers and booleans with clear errors.
fn org_filter(q: &[(String, String)]) -> ApiResult<ListParams<OrgFilter>> {
    let mut f = OrgFilter::default();
    let mut page = PageParamsRaw::default();
    for (k, v) in q {
        match k.as_str() {
            "state" => f.state = Some(v.clone()),
            "comm_state" => f.comm_state = Some(v.clone()),
            "sector" => f.sector = Some(v.clone()),
            "asn" => f.asn = Some(parse_num(k, v)?),
            "country" => f.country = Some(v.clone()),
            "last_seen_after" => f.last_seen_after = Some(v.clone()),
            "regressed" => f.regressed = Some(parse_bool(k, v)?),
            "name" => f.name = Some(v.clone()),
            "page" => page.page = Some(v.clone()),
            "per_page" => page.per_page = Some(v.clone()),
            "cursor" => page.cursor = Some(v.clone()),
            _ => return Err(ApiError::bad_request(format!("unknown parameter {k:?}"))),
        }
    }
    Ok(ListParams { filter: f, page: page.parse()?, cursor: page.cursor()? })
}

pub fn host_filter(q: &[(String, String)]) -> ApiResult<ListParams<HostFilter>> {
    let mut f = HostFilter::default();
    let mut page = PageParamsRaw::default();
    for (k, v) in q {
        match k.as_str() {
            "state" => f.state = Some(v.clone()),
            "asn" => f.asn = Some(parse_num(k, v)?),
            "country" => f.country = Some(v.clone()),
            "org" => f.org = Some(parse_num(k, v)?),
            "sector" => f.sector = Some(v.clone()),
            "last_seen_after" => f.last_seen_after = Some(v.clone()),
            "regressed" => f.regressed = Some(parse_bool(k, v)?),
            "page" => page.page = Some(v.clone()),
            "per_page" => page.per_page = Some(v.clone()),
            "cursor" => page.cursor = Some(v.clone()),
            _ => return Err(ApiError::bad_request(format!("unknown parameter {k:?}"))),
        }
    }
    Ok(ListParams { filter: f, page: page.parse()?, cursor: page.cursor()? })
}

fn parse_num(k: &str, v: &str) -> ApiResult<i64> {
    v.trim()
        .trim_start_matches("AS")
        .parse()
        .map_err(|_| ApiError::bad_request(format!("{k} must be a number, not {v:?}")))
}

fn parse_bool(k: &str, v: &str) -> ApiResult<bool> {
    match v {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ApiError::bad_request(format!("{k} must be true or false, not {v:?}"))),
    }
}

pub async fn detail(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    Query(q): Query<AtParam>,
) -> ApiResult<Json<query::OrgDetail>> {
    require_org_access(&p, id)?;
    let at = at_param(q.at.as_deref())?;
    query::org_detail(&s.db, id, at.as_deref()).await?.map(Json).ok_or_else(|| ApiError::not_found("organisation"))
}

pub async fn hosts(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    require_org_access(&p, id)?;
    let mut l = host_filter(&q)?;
    l.filter.org = Some(id);
    if query::org_summary(&s.db, id).await?.is_none() {
        return Err(ApiError::not_found("organisation"));
    }
    let result =
        query::list_hosts_from(&s.db, &l.filter, l.page, l.cursor).await?.map_err(|e| ApiError::bad_request(e.0))?;
    Ok(Json(serde_json::to_value(result).map_err(anyhow::Error::from)?))
}

/// `GET /api/v1/organisations/{id}/accounts`: the accounts the organisation's hunt reports say
/// the attacker touched. Personal data: only the organisation's reporters and staff may read it,
/// and every read is written to the audit log.
pub async fn accounts(State(s): State<AppState>, p: Principal, Path(id): Path<i64>) -> ApiResult<Json<Value>> {
    require_org_access(&p, id)?;
    if query::org_summary(&s.db, id).await?.is_none() {
        return Err(ApiError::not_found("organisation"));
    }
    let list = query::org_accounts(&s.db, id).await?;
    super::audit(&s.db, &p, "read", "accounts", id, None, Some(json!({"accounts": list.len()}))).await?;
    Ok(Json(json!({"organisation": id, "count": list.len(), "accounts": list})))
}

#[derive(Deserialize)]
pub struct NewOrg {
    name: String,
    sector: Option<String>,
    cc: Option<String>,
}

pub async fn create(
    State(s): State<AppState>,
    Staff(p): Staff,
    Json(body): Json<NewOrg>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let name = body.name.trim();
    if name.is_empty() {
        return Err(ApiError::bad_request("an organisation needs a name"));
    }
    let exists = sqlx::query("SELECT id FROM organisation WHERE name = $1 AND managed = 'manual'")
        .bind(name.to_string())
        .fetch_optional(&s.db.pool)
        .await?;
    if exists.is_some() {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("an organisation named {name:?} exists already")));
    }
    let mut tx = s.db.pool.begin().await?;
    let row = sqlx::query("INSERT INTO organisation (name, sector, cc, managed, source, imported_at) VALUES ($1, $2, $3, 'manual', $4, $5) RETURNING id")
        .bind(name.to_string())
        .bind(body.sector.clone())
        .bind(body.cc.as_ref().map(|c| c.to_ascii_uppercase()))
        .bind(format!("analyst:{}", p.name))
        .bind(crate::time::now())
        .fetch_one(&mut *tx)
        .await?;
    let id: i64 = row.try_get(0)?;
    let after = json!({"id": id, "name": name, "sector": body.sector, "cc": body.cc});
    audit_in(&mut tx, &p, "create", "organisation", id, None, Some(after.clone())).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(after)))
}

async fn org_exists(s: &AppState, id: i64) -> ApiResult<()> {
    match query::org_summary(&s.db, id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found("organisation")),
    }
}

#[derive(Deserialize)]
pub struct NewContact {
    email: String,
    #[serde(default = "abuse")]
    role: String,
    name: Option<String>,
    phone: Option<String>,
    /// The language notifications to it are written in (`en`, `de`); absent: by the country.
    lang: Option<String>,
}

fn abuse() -> String {
    "abuse".into()
}

pub async fn add_contact(
    State(s): State<AppState>,
    Staff(p): Staff,
    Path(id): Path<i64>,
    Json(body): Json<NewContact>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let after = records::contact_with_lang(
        &s.db,
        &p,
        id,
        &body.email,
        &body.role,
        body.name.as_deref(),
        body.phone.as_deref(),
        body.lang.as_deref(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(after)))
}

#[derive(Deserialize)]
pub struct NewMapping {
    cidr: Option<String>,
    asn: Option<i64>,
}

/// Assigns a network or an ASN to the organisation (manual: wins over imported mappings), then
/// queues the re-mapping of every host.
pub async fn add_mapping(
    State(s): State<AppState>,
    Staff(p): Staff,
    Path(id): Path<i64>,
    Json(body): Json<NewMapping>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    org_exists(&s, id).await?;
    let mut tx = s.db.pool.begin().await?;
    s.db.lock_for_write(&mut tx).await?;
    let (table, value, before) = match (&body.cidr, body.asn) {
        (Some(cidr), None) => {
            let cidr = canonical_cidr(cidr).map_err(ApiError::bad_request)?;
            let before = sqlx::query("SELECT org_id FROM org_network WHERE cidr = $1 AND managed = 'manual'")
                .bind(cidr.clone())
                .fetch_optional(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO org_network (org_id, cidr, managed, source, imported_at) VALUES ($1, $2, 'manual', $3, $4) ON CONFLICT (cidr, managed) DO UPDATE SET org_id = excluded.org_id, source = excluded.source, imported_at = excluded.imported_at")
                .bind(id)
                .bind(cidr.clone())
                .bind(format!("analyst:{}", p.name))
                .bind(crate::time::now())
                .execute(&mut *tx)
                .await?;
            ("network", cidr, before)
        }
        (None, Some(asn)) if asn > 0 && asn <= u32::MAX as i64 => {
            let before = sqlx::query("SELECT org_id FROM org_asn WHERE asn = $1 AND managed = 'manual'")
                .bind(asn)
                .fetch_optional(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO org_asn (org_id, asn, managed, source, imported_at) VALUES ($1, $2, 'manual', $3, $4) ON CONFLICT (asn, managed) DO UPDATE SET org_id = excluded.org_id, source = excluded.source, imported_at = excluded.imported_at")
                .bind(id)
                .bind(asn)
                .bind(format!("analyst:{}", p.name))
                .bind(crate::time::now())
                .execute(&mut *tx)
                .await?;
            ("asn", asn.to_string(), before)
        }
        _ => return Err(ApiError::bad_request("give exactly one of cidr (a network) or asn (a number)")),
    };
    let before = before.map(|r| r.try_get::<i64, _>(0)).transpose()?.map(|org| json!({"org_id": org}));
    let mut after = json!({"org_id": id, table: value, "managed": "manual"});
    audit_in(&mut tx, &p, "assign", table, &value, before, Some(after.clone())).await?;
    tx.commit().await?;
    // Every host is looked up again by a background job (a request never waits for that);
    // the answer names the job, whose progress `GET /api/v1/jobs/{id}` reports.
    let job = crate::jobs::request_reenrich(&s.db, &super::actor_label(&p)).await?;
    crate::jobs::spawn_worker(s.db.clone());
    after["reenrich_job"] = json!(job.id);
    Ok((StatusCode::CREATED, Json(after)))
}

#[derive(Deserialize)]
pub struct CommChange {
    state: String,
    #[serde(default)]
    note: String,
    at: Option<String>,
}

/// Records a step on the communication axis (`notified`, `acknowledged`, `unreachable`).
pub async fn communication(
    State(s): State<AppState>,
    Staff(p): Staff,
    Path(id): Path<i64>,
    Json(body): Json<CommChange>,
) -> ApiResult<Json<Value>> {
    Ok(Json(records::communication(&s.db, &p, id, &body.state, &body.note, body.at.as_deref()).await?))
}
