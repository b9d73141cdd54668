//! Read models for the API: organisation and host lists with filters and pagination, detail
//! pages, the state on a past date, and dashboard counts.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::db::Db;
use crate::state::{CommState, TechState};

mod paging;

use paging::{Bind, Where, count, keyset_page, page_of, tally_sum};
pub use paging::{Cursor, Page, PageParams, Seek};

/// Organisation list filters.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OrgFilter {
    pub state: Option<String>,
    pub comm_state: Option<String>,
    pub sector: Option<String>,
    pub asn: Option<i64>,
    pub country: Option<String>,
    pub last_seen_after: Option<String>,
    pub regressed: Option<bool>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrgSummary {
    pub id: i64,
    pub name: String,
    pub sector: Option<String>,
    pub cc: Option<String>,
    pub managed: String,
    pub tech_state: Option<String>,
    pub comm_state: String,
    pub hosts: i64,
    pub hosts_compromised: i64,
    pub hosts_vulnerable: i64,
    pub hosts_regressed: i64,
    pub last_seen: Option<String>,
}

const ORG_COLUMNS: &str = "id, name, sector, cc, managed, tech_state, comm_state, hosts, hosts_compromised, hosts_vulnerable, regressed, last_seen";

fn org_from(row: &AnyRow) -> Result<OrgSummary> {
    Ok(OrgSummary {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        sector: row.try_get(2)?,
        cc: row.try_get(3)?,
        managed: row.try_get(4)?,
        tech_state: row.try_get(5)?,
        comm_state: row.try_get(6)?,
        hosts: row.try_get(7)?,
        hosts_compromised: row.try_get(8)?,
        hosts_vulnerable: row.try_get(9)?,
        hosts_regressed: row.try_get(10)?,
        last_seen: row.try_get(11)?,
    })
}

/// A filter value that is not valid.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadFilter(pub String);

fn state_filter(s: &str) -> Result<TechState, BadFilter> {
    TechState::parse(s).ok_or_else(|| BadFilter(format!("unknown state {s:?}")))
}

/// A user's text as a literal inside a LIKE pattern (`ESCAPE '\'`): `%`, `_` and the escape
/// character itself match only themselves.
pub fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn time_filter(s: &str) -> Result<String, BadFilter> {
    crate::time::parse(s).ok_or_else(|| BadFilter(format!("unreadable time {s:?}")))
}

/// Worst first, then by id: the urgent list is page 1.
pub async fn list_orgs(db: &Db, f: &OrgFilter, p: PageParams) -> Result<Result<Page<OrgSummary>, BadFilter>> {
    list_orgs_from(db, f, p, None).await
}

/// [`list_orgs`] from a cursor (`None`: by page number).
pub async fn list_orgs_from(
    db: &Db,
    f: &OrgFilter,
    p: PageParams,
    cursor: Option<Cursor>,
) -> Result<Result<Page<OrgSummary>, BadFilter>> {
    list_orgs_seek(db, f, p, Seek::after(cursor)).await
}

/// [`list_orgs`] from a page number or either side of a row.
pub async fn list_orgs_seek(
    db: &Db,
    f: &OrgFilter,
    p: PageParams,
    seek: Seek,
) -> Result<Result<Page<OrgSummary>, BadFilter>> {
    let mut w = Where::default();
    // The same filters over `org_tally`, while only its keys are filtered on.
    let mut tally = Some(Where::default());
    if let Some(s) = &f.state {
        match state_filter(s) {
            Ok(s) => {
                w.add("tech_rank = $?", Bind::Int(s.rank()));
                if let Some(t) = &mut tally {
                    t.add("tech_rank = $?", Bind::Int(s.rank()));
                }
            }
            Err(e) => return Ok(Err(e)),
        }
    }
    if let Some(c) = &f.comm_state {
        if CommState::parse(c).is_none() {
            return Ok(Err(BadFilter(format!("unknown communication state {c:?}"))));
        }
        w.add("comm_state = $?", Bind::Text(c.clone()));
        if let Some(t) = &mut tally {
            t.add("comm_state = $?", Bind::Text(c.clone()));
        }
    }
    if let Some(s) = &f.sector {
        w.add("LOWER(sector) = LOWER($?)", Bind::Text(s.clone()));
        tally = None;
    }
    if let Some(c) = &f.country {
        w.add("cc = UPPER($?)", Bind::Text(c.clone()));
        tally = None;
    }
    if let Some(asn) = f.asn {
        w.add(
            "(id IN (SELECT org_id FROM org_asn WHERE asn = $?) OR id IN (SELECT org_id FROM host WHERE asn = $? AND org_id IS NOT NULL))",
            Bind::Int(asn),
        );
        tally = None;
    }
    if let Some(t) = &f.last_seen_after {
        match time_filter(t) {
            Ok(t) => w.add("last_seen >= $?", Bind::Text(t)),
            Err(e) => return Ok(Err(e)),
        }
        tally = None;
    }
    if let Some(r) = f.regressed {
        w.clauses.push(if r { "regressed > 0" } else { "regressed = 0" }.into());
        if let Some(t) = &mut tally {
            t.clauses.push(if r { "regressed = 1" } else { "regressed = 0" }.into());
        }
    }
    if let Some(n) = &f.name {
        w.add("LOWER(name) LIKE LOWER($?) ESCAPE '\\'", Bind::Text(format!("%{}%", like_escape(n))));
        tally = None;
    }
    let total = match &tally {
        Some(t) => tally_sum(db, "org_tally", t).await?,
        None => count(db, "organisation", &w).await?,
    };
    let columns = format!("{ORG_COLUMNS}, tech_rank");
    let k = keyset_page(db, &columns, "organisation", &w, "tech_rank", "id", seek, p).await?;
    let items = k.rows.iter().map(org_from).collect::<Result<_>>()?;
    Ok(Ok(page_of(items, p, seek, total, &k)))
}

#[derive(Debug, Serialize)]
pub struct ContactInfo {
    pub id: i64,
    pub email: String,
    pub role: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub managed: String,
    pub source: String,
    pub imported_at: String,
    /// The language notifications to it are written in; `None`: by the organisation's country.
    pub lang: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Mapping {
    pub value: String,
    pub managed: String,
    pub source: String,
    pub imported_at: String,
}

#[derive(Debug, Serialize)]
pub struct OrgDetail {
    #[serde(flatten)]
    pub summary: OrgSummary,
    /// The address notifications go to: a manual contact wins over imported ones; an abuse
    /// role wins over others.
    pub abuse_contact: Option<String>,
    pub contacts: Vec<ContactInfo>,
    pub networks: Vec<Mapping>,
    pub asns: Vec<Mapping>,
    /// Hosts per technical state.
    pub host_states: BTreeMap<String, i64>,
    /// Present when `?at=` asked for a past date.
    pub at: Option<PastState>,
}

/// The state of an organisation (or host) as known on a date.
#[derive(Debug, Serialize)]
pub struct PastState {
    pub at: String,
    pub tech_state: Option<String>,
    pub comm_state: String,
    pub host_states: BTreeMap<String, i64>,
}

pub async fn org_summary(db: &Db, id: i64) -> Result<Option<OrgSummary>> {
    let row = sqlx::query(AssertSqlSafe(format!("SELECT {ORG_COLUMNS} FROM organisation WHERE id = $1")))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(org_from).transpose()
}

pub async fn org_detail(db: &Db, id: i64, at: Option<&str>) -> Result<Option<OrgDetail>> {
    let Some(summary) = org_summary(db, id).await? else { return Ok(None) };
    let contacts: Vec<ContactInfo> = sqlx::query(
        "SELECT id, email, role, name, phone, managed, source, imported_at, lang FROM contact WHERE org_id = $1 \
         ORDER BY CASE managed WHEN 'manual' THEN 0 ELSE 1 END, CASE role WHEN 'abuse' THEN 0 ELSE 1 END, id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| {
        Ok(ContactInfo {
            id: r.try_get(0)?,
            email: r.try_get(1)?,
            role: r.try_get(2)?,
            name: r.try_get(3)?,
            phone: r.try_get(4)?,
            managed: r.try_get(5)?,
            source: r.try_get(6)?,
            imported_at: r.try_get(7)?,
            lang: r.try_get(8)?,
        })
    })
    .collect::<Result<_>>()?;
    let mapping = |sql: &'static str| async move {
        sqlx::query(sql)
            .bind(id)
            .fetch_all(&db.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(Mapping {
                    value: r.try_get(0)?,
                    managed: r.try_get(1)?,
                    source: r.try_get(2)?,
                    imported_at: r.try_get(3)?,
                })
            })
            .collect::<Result<Vec<_>>>()
    };
    let networks =
        mapping("SELECT cidr, managed, source, imported_at FROM org_network WHERE org_id = $1 ORDER BY cidr").await?;
    let asns =
        mapping("SELECT CAST(asn AS TEXT), managed, source, imported_at FROM org_asn WHERE org_id = $1 ORDER BY asn")
            .await?;
    let mut host_states = BTreeMap::new();
    for r in sqlx::query("SELECT tech_state, COUNT(*) FROM host WHERE org_id = $1 GROUP BY tech_state")
        .bind(id)
        .fetch_all(&db.pool)
        .await?
    {
        host_states.insert(r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?);
    }
    let past = match at {
        Some(at) => Some(org_state_at(db, id, at).await?),
        None => None,
    };
    Ok(Some(OrgDetail {
        abuse_contact: contacts.first().map(|c| c.email.clone()),
        summary,
        contacts,
        networks,
        asns,
        host_states,
        at: past,
    }))
}

/// What was known about an organisation at `at`: each of its hosts' last event at or before
/// that time (hosts first seen later do not count), worst host wins.
pub async fn org_state_at(db: &Db, id: i64, at: &str) -> Result<PastState> {
    let rows = sqlx::query(
        "SELECT (SELECT e.to_state FROM state_event e WHERE e.host_id = h.id AND e.axis = 'technical' AND e.at <= $2 ORDER BY e.at DESC, e.id DESC LIMIT 1) FROM host h WHERE h.org_id = $1",
    )
    .bind(id)
    .bind(at.to_string())
    .fetch_all(&db.pool)
    .await?;
    let mut host_states = BTreeMap::new();
    let mut worst: Option<TechState> = None;
    for r in rows {
        let Some(s) = r.try_get::<Option<String>, _>(0)? else { continue };
        *host_states.entry(s.clone()).or_insert(0) += 1;
        if let Some(t) = TechState::parse(&s)
            && worst.is_none_or(|w| t.rank() > w.rank())
        {
            worst = Some(t);
        }
    }
    let comm = sqlx::query(
        "SELECT to_state FROM state_event WHERE org_id = $1 AND axis = 'communication' AND at <= $2 ORDER BY at DESC, id DESC LIMIT 1",
    )
    .bind(id)
    .bind(at.to_string())
    .fetch_optional(&db.pool)
    .await?
    .map(|r| r.try_get::<String, _>(0))
    .transpose()?
    .unwrap_or_else(|| CommState::NotContacted.as_str().to_string());
    Ok(PastState {
        at: at.to_string(),
        tech_state: worst.map(|w| w.as_str().to_string()),
        comm_state: comm,
        host_states,
    })
}

/// Host list filters.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HostFilter {
    pub state: Option<String>,
    pub asn: Option<i64>,
    pub country: Option<String>,
    pub org: Option<i64>,
    pub sector: Option<String>,
    pub last_seen_after: Option<String>,
    pub regressed: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct HostSummary {
    pub id: i64,
    pub ip: String,
    pub org_id: Option<i64>,
    pub org_via: Option<String>,
    pub asn: Option<i64>,
    pub asn_source: Option<String>,
    pub cc: Option<String>,
    pub hostname: Option<String>,
    pub servername: Option<String>,
    pub version: Option<String>,
    pub first_seen: String,
    pub last_seen: String,
    pub tech_state: String,
    pub state_at: String,
    pub regressed: bool,
    pub compromised_ever: bool,
}

const HOST_LIST_COLUMNS: &str = "h.id, h.ip, h.org_id, h.org_via, h.asn, h.asn_source, h.cc, h.hostname, h.servername, h.version, h.first_seen, h.last_seen, h.tech_state, h.state_at, h.regressed, h.compromised_ever";

fn host_from(r: &AnyRow) -> Result<HostSummary> {
    Ok(HostSummary {
        id: r.try_get(0)?,
        ip: r.try_get(1)?,
        org_id: r.try_get(2)?,
        org_via: r.try_get(3)?,
        asn: r.try_get(4)?,
        asn_source: r.try_get(5)?,
        cc: r.try_get(6)?,
        hostname: r.try_get(7)?,
        servername: r.try_get(8)?,
        version: r.try_get(9)?,
        first_seen: r.try_get(10)?,
        last_seen: r.try_get(11)?,
        tech_state: r.try_get(12)?,
        state_at: r.try_get(13)?,
        regressed: r.try_get::<i64, _>(14)? != 0,
        compromised_ever: r.try_get::<i64, _>(15)? != 0,
    })
}

pub async fn list_hosts(db: &Db, f: &HostFilter, p: PageParams) -> Result<Result<Page<HostSummary>, BadFilter>> {
    list_hosts_from(db, f, p, None).await
}

/// [`list_hosts`] from a cursor (`None`: by page number).
pub async fn list_hosts_from(
    db: &Db,
    f: &HostFilter,
    p: PageParams,
    cursor: Option<Cursor>,
) -> Result<Result<Page<HostSummary>, BadFilter>> {
    list_hosts_seek(db, f, p, Seek::after(cursor)).await
}

/// [`list_hosts`] from a page number or either side of a row.
pub async fn list_hosts_seek(
    db: &Db,
    f: &HostFilter,
    p: PageParams,
    seek: Seek,
) -> Result<Result<Page<HostSummary>, BadFilter>> {
    let mut w = Where::default();
    // The same filters over `host_tally`, while only its keys are filtered on.
    let mut tally = Some(Where::default());
    if let Some(s) = &f.state {
        match state_filter(s) {
            Ok(s) => {
                w.add("h.tech_rank = $?", Bind::Int(s.rank()));
                if let Some(t) = &mut tally {
                    t.add("tech_rank = $?", Bind::Int(s.rank()));
                }
            }
            Err(e) => return Ok(Err(e)),
        }
    }
    if let Some(asn) = f.asn {
        w.add("h.asn = $?", Bind::Int(asn));
        tally = None;
    }
    if let Some(c) = &f.country {
        w.add("h.cc = UPPER($?)", Bind::Text(c.clone()));
        tally = None;
    }
    if let Some(org) = f.org {
        w.add("h.org_id = $?", Bind::Int(org));
        tally = None;
    }
    if let Some(s) = &f.sector {
        w.add("h.org_id IN (SELECT id FROM organisation WHERE LOWER(sector) = LOWER($?))", Bind::Text(s.clone()));
        tally = None;
    }
    if let Some(t) = &f.last_seen_after {
        match time_filter(t) {
            Ok(t) => w.add("h.last_seen >= $?", Bind::Text(t)),
            Err(e) => return Ok(Err(e)),
        }
        tally = None;
    }
    if let Some(r) = f.regressed {
        let clause = if r { "regressed = 1" } else { "regressed = 0" };
        w.clauses.push(format!("h.{clause}"));
        if let Some(t) = &mut tally {
            t.clauses.push(clause.into());
        }
    }
    let total = match &tally {
        Some(t) => tally_sum(db, "host_tally", t).await?,
        None => count(db, "host h", &w).await?,
    };
    let columns = format!("{HOST_LIST_COLUMNS}, h.tech_rank");
    let k = keyset_page(db, &columns, "host h", &w, "h.tech_rank", "h.id", seek, p).await?;
    let items = k.rows.iter().map(host_from).collect::<Result<_>>()?;
    Ok(Ok(page_of(items, p, seek, total, &k)))
}

pub async fn host_summary(db: &Db, id: i64) -> Result<Option<HostSummary>> {
    let row = sqlx::query(AssertSqlSafe(format!("SELECT {HOST_LIST_COLUMNS} FROM host h WHERE h.id = $1")))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(host_from).transpose()
}

#[derive(Debug, Serialize)]
pub struct FindingInfo {
    pub kind: String,
    pub first_seen: String,
    pub last_seen: String,
    pub count: i64,
    pub last_observation_id: i64,
}

#[derive(Debug, Serialize)]
pub struct ObservationInfo {
    pub id: i64,
    pub kind: String,
    pub observed_at: String,
    pub recorded_at: String,
    pub signals: String,
    pub tags: Option<String>,
    pub version: Option<String>,
    pub url: Option<String>,
    /// Provenance: the file and line, or the analyst.
    pub ingest_id: Option<i64>,
    pub file_name: Option<String>,
    pub line: Option<i64>,
    pub detail: serde_json::Value,
}

#[derive(Debug, Serialize)]
pub struct EventInfo {
    pub id: i64,
    pub axis: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub at: String,
    pub recorded_at: String,
    pub source: String,
    pub observation_id: Option<i64>,
    pub regressed: bool,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct HostDetail {
    #[serde(flatten)]
    pub summary: HostSummary,
    pub findings: Vec<FindingInfo>,
    pub events: Vec<EventInfo>,
    /// The most recent 100 observations, newest first.
    pub observations: Vec<ObservationInfo>,
    pub at: Option<HostPast>,
}

#[derive(Debug, Serialize)]
pub struct HostPast {
    pub at: String,
    pub tech_state: Option<String>,
}

pub async fn host_events(db: &Db, id: i64) -> Result<Vec<EventInfo>> {
    sqlx::query("SELECT id, axis, from_state, to_state, at, recorded_at, source, observation_id, regressed, reason FROM state_event WHERE host_id = $1 ORDER BY at, id")
        .bind(id)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(EventInfo {
                id: r.try_get(0)?,
                axis: r.try_get(1)?,
                from_state: r.try_get(2)?,
                to_state: r.try_get(3)?,
                at: r.try_get(4)?,
                recorded_at: r.try_get(5)?,
                source: r.try_get(6)?,
                observation_id: r.try_get(7)?,
                regressed: r.try_get::<i64, _>(8)? != 0,
                reason: r.try_get(9)?,
            })
        })
        .collect()
}

pub async fn host_detail(db: &Db, id: i64, at: Option<&str>) -> Result<Option<HostDetail>> {
    let Some(summary) = host_summary(db, id).await? else { return Ok(None) };
    let findings = sqlx::query(
        "SELECT kind, first_seen, last_seen, count, last_observation_id FROM finding WHERE host_id = $1 ORDER BY kind",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| {
        Ok(FindingInfo {
            kind: r.try_get(0)?,
            first_seen: r.try_get(1)?,
            last_seen: r.try_get(2)?,
            count: r.try_get(3)?,
            last_observation_id: r.try_get(4)?,
        })
    })
    .collect::<Result<_>>()?;
    let observations = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {OBSERVATION_COLUMNS} FROM observation o LEFT JOIN ingest i ON i.id = o.ingest_id \
             WHERE o.host_id = $1 ORDER BY o.observed_at DESC, o.id DESC LIMIT 100"
    )))
    .bind(id)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(observation_info)
    .collect::<Result<_>>()?;
    let events = host_events(db, id).await?;
    let past = match at {
        Some(at) => Some(HostPast { at: at.to_string(), tech_state: host_state_at(db, id, at).await? }),
        None => None,
    };
    Ok(Some(HostDetail { summary, findings, events, observations, at: past }))
}

/// The host's technical state at `at` (`None`: not yet known then).
pub async fn host_state_at(db: &Db, id: i64, at: &str) -> Result<Option<String>> {
    Ok(sqlx::query("SELECT to_state FROM state_event WHERE host_id = $1 AND axis = 'technical' AND at <= $2 ORDER BY at DESC, id DESC LIMIT 1")
        .bind(id)
        .bind(at.to_string())
        .fetch_optional(&db.pool)
        .await?
        .map(|r| r.try_get::<String, _>(0))
        .transpose()?)
}

#[derive(Debug, Serialize)]
pub struct Stats {
    pub at: Option<String>,
    pub hosts: BTreeMap<String, i64>,
    pub organisations: BTreeMap<String, i64>,
    pub communication: BTreeMap<String, i64>,
    /// Organisations with a compromised host that nobody has contacted yet.
    pub urgent: i64,
    pub regressed_hosts: i64,
}

/// Dashboard counts, now or as known at `at`.
pub async fn stats(db: &Db, at: Option<&str>) -> Result<Stats> {
    let mut hosts = BTreeMap::new();
    let mut organisations = BTreeMap::new();
    let mut communication = BTreeMap::new();
    let (urgent, regressed_hosts);
    match at {
        None => {
            // From the tallies the write paths keep (migration 0006): no scan of the tables.
            let name = |rank: i64| TechState::from_rank(rank).map(|t| t.as_str().to_string());
            for r in sqlx::query(
                "SELECT tech_rank, CAST(SUM(n) AS BIGINT) FROM host_tally GROUP BY tech_rank HAVING SUM(n) > 0",
            )
            .fetch_all(&db.pool)
            .await?
            {
                if let Some(state) = name(r.try_get(0)?) {
                    hosts.insert(state, r.try_get(1)?);
                }
            }
            for r in sqlx::query(
                "SELECT tech_rank, CAST(SUM(n) AS BIGINT) FROM org_tally WHERE tech_rank >= 0 GROUP BY tech_rank HAVING SUM(n) > 0",
            )
            .fetch_all(&db.pool)
            .await?
            {
                if let Some(state) = name(r.try_get(0)?) {
                    organisations.insert(state, r.try_get(1)?);
                }
            }
            for r in sqlx::query(
                "SELECT comm_state, CAST(SUM(n) AS BIGINT) FROM org_tally WHERE tech_rank >= 0 GROUP BY comm_state HAVING SUM(n) > 0",
            )
            .fetch_all(&db.pool)
            .await?
            {
                communication.insert(r.try_get(0)?, r.try_get(1)?);
            }
            urgent = sqlx::query(
                "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM org_tally WHERE tech_rank = $1 AND comm_state = 'not_contacted'",
            )
            .bind(TechState::Compromised.rank())
            .fetch_one(&db.pool)
            .await?
            .try_get(0)?;
            regressed_hosts =
                sqlx::query("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM host_tally WHERE regressed = 1")
                    .fetch_one(&db.pool)
                    .await?
                    .try_get(0)?;
        }
        Some(at) => {
            // Each host's last technical event at or before `at` (events are ordered per host).
            let rows = sqlx::query(
                "SELECT h.org_id, e.to_state, e.regressed FROM state_event e JOIN host h ON h.id = e.host_id \
                 WHERE e.axis = 'technical' AND e.id = (SELECT MAX(e2.id) FROM state_event e2 WHERE e2.host_id = e.host_id AND e2.axis = 'technical' AND e2.at <= $1)",
            )
            .bind(at.to_string())
            .fetch_all(&db.pool)
            .await?;
            let mut worst: BTreeMap<i64, TechState> = BTreeMap::new();
            let mut regressed = 0;
            for r in rows {
                let org: Option<i64> = r.try_get(0)?;
                let state: String = r.try_get(1)?;
                regressed += r.try_get::<i64, _>(2)?;
                *hosts.entry(state.clone()).or_insert(0) += 1;
                if let (Some(org), Some(t)) = (org, TechState::parse(&state)) {
                    let w = worst.entry(org).or_insert(t);
                    if t.rank() > w.rank() {
                        *w = t;
                    }
                }
            }
            let comm_rows = sqlx::query(
                "SELECT e.org_id, e.to_state FROM state_event e WHERE e.axis = 'communication' AND e.id = (SELECT MAX(e2.id) FROM state_event e2 WHERE e2.org_id = e.org_id AND e2.axis = 'communication' AND e2.at <= $1)",
            )
            .bind(at.to_string())
            .fetch_all(&db.pool)
            .await?;
            let comm: BTreeMap<i64, String> =
                comm_rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<Result<_>>()?;
            let mut urgent_count = 0;
            for (org, t) in &worst {
                *organisations.entry(t.as_str().to_string()).or_insert(0) += 1;
                let c = comm.get(org).map(String::as_str).unwrap_or("not_contacted");
                *communication.entry(c.to_string()).or_insert(0) += 1;
                if *t == TechState::Compromised && c == "not_contacted" {
                    urgent_count += 1;
                }
            }
            urgent = urgent_count;
            regressed_hosts = regressed;
        }
    }
    Ok(Stats { at: at.map(str::to_string), hosts, organisations, communication, urgent, regressed_hosts })
}

/// One account of an organisation's hunt reports, rolled up over its hosts and reports.
#[derive(Debug, Serialize)]
pub struct OrgAccount {
    pub account: String,
    pub kind: String,
    pub actions: Vec<String>,
    pub first: Option<String>,
    pub last: Option<String>,
    pub rules: Vec<String>,
    /// The hosts whose reports named it: `{host_id, ip}`.
    pub hosts: Vec<serde_json::Value>,
    /// The reports it came from: `{ingest_id, file, evidence_at}`.
    pub reports: Vec<serde_json::Value>,
}

/// The accounts the organisation's hunt reports name (the `accounts` of each host of each report,
/// kept with the report's observation), one entry per account name (case-insensitive), worst
/// first by the number of actions, then by name.
pub async fn org_accounts(db: &Db, org_id: i64) -> Result<Vec<OrgAccount>> {
    let rows = sqlx::query(
        "SELECT o.ingest_id, o.observed_at, o.detail, h.id, h.ip FROM observation o JOIN host h ON h.id = o.host_id \
         WHERE h.org_id = $1 AND o.kind = 'hunt' ORDER BY o.observed_at, o.id",
    )
    .bind(org_id)
    .fetch_all(&db.pool)
    .await?;
    let mut by_name: std::collections::BTreeMap<String, OrgAccount> = std::collections::BTreeMap::new();
    for r in rows {
        let ingest_id: i64 = r.try_get(0)?;
        let observed_at: String = r.try_get(1)?;
        let detail: Option<String> = r.try_get(2)?;
        let host_id: i64 = r.try_get(3)?;
        let ip: String = r.try_get(4)?;
        let Some(detail) = detail.and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok()) else { continue };
        let file = detail.get("file").cloned().unwrap_or(serde_json::Value::Null);
        for a in detail.get("accounts").and_then(|v| v.as_array()).into_iter().flatten() {
            let Some(name) = a.get("account").and_then(|v| v.as_str()).filter(|s| !s.is_empty()) else { continue };
            let text = |k: &str| a.get(k).and_then(|v| v.as_str()).map(str::to_string);
            let e = by_name.entry(name.to_ascii_lowercase()).or_insert_with(|| OrgAccount {
                account: name.to_string(),
                kind: text("kind").unwrap_or_default(),
                actions: Vec::new(),
                first: None,
                last: None,
                rules: Vec::new(),
                hosts: Vec::new(),
                reports: Vec::new(),
            });
            let strings = |k: &str| -> Vec<String> {
                a.get(k)
                    .and_then(|v| v.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            };
            for action in strings("actions") {
                if !e.actions.contains(&action) {
                    e.actions.push(action);
                }
            }
            for rule in strings("rules") {
                if !e.rules.contains(&rule) {
                    e.rules.push(rule);
                }
            }
            if let Some(f) = text("first").filter(|f| e.first.as_ref().is_none_or(|x| f < x)) {
                e.first = Some(f);
            }
            if let Some(l) = text("last").filter(|l| e.last.as_ref().is_none_or(|x| l > x)) {
                e.last = Some(l);
            }
            let host = serde_json::json!({"host_id": host_id, "ip": ip});
            if !e.hosts.contains(&host) {
                e.hosts.push(host);
            }
            let report = serde_json::json!({"ingest_id": ingest_id, "file": file, "evidence_at": observed_at});
            if !e.reports.contains(&report) {
                e.reports.push(report);
            }
        }
    }
    let mut list: Vec<OrgAccount> = by_name.into_values().collect();
    list.sort_by(|a, b| b.actions.len().cmp(&a.actions.len()).then_with(|| a.account.cmp(&b.account)));
    Ok(list)
}

/// The columns [`observation_info`] reads, from `observation o LEFT JOIN ingest i`.
pub(crate) const OBSERVATION_COLUMNS: &str = "o.id, o.kind, o.observed_at, o.recorded_at, o.signals, o.tags, o.version, o.url, o.ingest_id, i.file_name, o.line, o.detail";

/// One observation row (selected with [`OBSERVATION_COLUMNS`]) with its provenance.
pub(crate) fn observation_info(r: &sqlx::any::AnyRow) -> Result<ObservationInfo> {
    let detail: String = r.try_get(11)?;
    Ok(ObservationInfo {
        id: r.try_get(0)?,
        kind: r.try_get(1)?,
        observed_at: r.try_get(2)?,
        recorded_at: r.try_get(3)?,
        signals: r.try_get(4)?,
        tags: r.try_get(5)?,
        version: r.try_get(6)?,
        url: r.try_get(7)?,
        ingest_id: r.try_get(8)?,
        file_name: r.try_get(9)?,
        line: r.try_get(10)?,
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
    })
}
