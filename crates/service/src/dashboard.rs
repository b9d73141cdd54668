//! Read models the web pages need beyond the API's (`query`): the state matrix and trend of the
//! overview, an organisation's timeline and findings, a host's observations by kind, what a host
//! still lacks for `verified_clean`, and the ingest list. Every list is one page at a time.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;
use sqlx::Row;

use crate::db::Db;
use crate::query::{Cursor, EventInfo, ObservationInfo, Page, PageParams, Seek};
use crate::state::TechState;

/// Organisations and their hosts for one (technical, communication) pair.
#[derive(Debug, Serialize)]
pub struct MatrixCell {
    pub tech_state: String,
    pub comm_state: String,
    pub organisations: i64,
    pub hosts: i64,
}

/// Organisations (with at least one host) per technical × communication state: one GROUP BY
/// over the organisation roll-ups. The overview reads the kept `summary::matrix` instead; this
/// is its reference.
pub async fn state_matrix_from_organisations(db: &Db) -> Result<Vec<MatrixCell>> {
    sqlx::query(
        "SELECT tech_state, comm_state, COUNT(*), CAST(SUM(hosts) AS BIGINT) FROM organisation WHERE tech_state IS NOT NULL GROUP BY tech_state, comm_state",
    )
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| {
        Ok(MatrixCell {
            tech_state: r.try_get(0)?,
            comm_state: r.try_get(1)?,
            organisations: r.try_get(2)?,
            hosts: r.try_get::<Option<i64>, _>(3)?.unwrap_or(0),
        })
    })
    .collect()
}

/// Hosts per technical state at the end of one day.
#[derive(Debug, Serialize)]
pub struct TrendPoint {
    pub day: String,
    pub counts: BTreeMap<String, i64>,
}

/// Hosts per technical state at the end of each of the last `days` days that have events,
/// drawn from the state history: each event moves one host from `from_state` to `to_state`, so
/// a running sum of the per-day moves gives the counts (one aggregate over every event). The
/// overview reads the kept `summary::trend` instead; this is its reference.
pub async fn trend_from_history(db: &Db, days: usize) -> Result<Vec<TrendPoint>> {
    let rows = sqlx::query(
        "SELECT SUBSTR(at, 1, 10), from_state, to_state, COUNT(*) FROM state_event WHERE axis = 'technical' \
         GROUP BY SUBSTR(at, 1, 10), from_state, to_state ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut running: BTreeMap<String, i64> = TechState::ALL.iter().map(|t| (t.as_str().to_string(), 0)).collect();
    let mut points: Vec<TrendPoint> = Vec::new();
    for r in rows {
        let day: String = r.try_get(0)?;
        let from: Option<String> = r.try_get(1)?;
        let to: String = r.try_get(2)?;
        let n: i64 = r.try_get(3)?;
        if points.last().is_some_and(|p| p.day != day) || points.is_empty() {
            points.push(TrendPoint { day: day.clone(), counts: BTreeMap::new() });
        }
        if let Some(from) = from {
            *running.entry(from).or_insert(0) -= n;
        }
        *running.entry(to).or_insert(0) += n;
        if let Some(last) = points.last_mut() {
            last.counts = running.clone();
        }
    }
    let skip = points.len().saturating_sub(days);
    Ok(points.into_iter().skip(skip).collect())
}

/// A state event with the address of its host (technical axis).
#[derive(Debug, Serialize)]
pub struct TimelineEvent {
    #[serde(flatten)]
    pub event: EventInfo,
    pub host_ip: Option<String>,
}

/// Both axes of an organisation's history, newest first.
pub async fn org_timeline(db: &Db, org_id: i64, p: PageParams) -> Result<Page<TimelineEvent>> {
    let (limit, offset) = p.limit_offset();
    let total: i64 = sqlx::query("SELECT COUNT(*) FROM state_event WHERE org_id = $1")
        .bind(org_id)
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?;
    let items = sqlx::query(
        "SELECT e.id, e.axis, e.from_state, e.to_state, e.at, e.recorded_at, e.source, e.observation_id, e.regressed, e.reason, h.ip \
         FROM state_event e LEFT JOIN host h ON h.id = e.host_id WHERE e.org_id = $1 ORDER BY e.at DESC, e.id DESC LIMIT $2 OFFSET $3",
    )
    .bind(org_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| {
        Ok(TimelineEvent {
            event: EventInfo {
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
            },
            host_ip: r.try_get(10)?,
        })
    })
    .collect::<Result<_>>()?;
    Ok(Page { items, page: p.page.max(1), per_page: limit as u32, total, next_cursor: None, prev_cursor: None })
}

/// A finding of one of an organisation's hosts.
#[derive(Debug, Serialize)]
pub struct OrgFinding {
    pub host_id: i64,
    pub ip: String,
    pub kind: String,
    pub first_seen: String,
    pub last_seen: String,
    pub count: i64,
}

pub async fn org_findings(db: &Db, org_id: i64, p: PageParams) -> Result<Page<OrgFinding>> {
    let (limit, offset) = p.limit_offset();
    let total: i64 = sqlx::query("SELECT COUNT(*) FROM finding f JOIN host h ON h.id = f.host_id WHERE h.org_id = $1")
        .bind(org_id)
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?;
    let items = sqlx::query(
        "SELECT h.id, h.ip, f.kind, f.first_seen, f.last_seen, f.count FROM finding f JOIN host h ON h.id = f.host_id \
         WHERE h.org_id = $1 ORDER BY f.last_seen DESC, f.id DESC LIMIT $2 OFFSET $3",
    )
    .bind(org_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| {
        Ok(OrgFinding {
            host_id: r.try_get(0)?,
            ip: r.try_get(1)?,
            kind: r.try_get(2)?,
            first_seen: r.try_get(3)?,
            last_seen: r.try_get(4)?,
            count: r.try_get(5)?,
        })
    })
    .collect::<Result<_>>()?;
    Ok(Page { items, page: p.page.max(1), per_page: limit as u32, total, next_cursor: None, prev_cursor: None })
}

/// A host's observations, newest first, optionally of one kind (`probe`, `hunt`, …), with their
/// provenance (ingest file and line, or the analyst in `detail`).
pub async fn host_observations(
    db: &Db,
    host_id: i64,
    kind: Option<&str>,
    p: PageParams,
) -> Result<Page<ObservationInfo>> {
    let (limit, offset) = p.limit_offset();
    // The kind is one of a fixed set chosen by the page; it is still bound, never spliced.
    let (kind_clause, kind) = match kind {
        Some(k) => (" AND o.kind = $2", k.to_string()),
        None => (" AND $2 = ''", String::new()),
    };
    let total: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM observation o WHERE o.host_id = $1{kind_clause}"
    )))
    .bind(host_id)
    .bind(kind.clone())
    .fetch_one(&db.pool)
    .await?
    .try_get(0)?;
    let sql = format!(
        "SELECT {cols} FROM observation o LEFT JOIN ingest i ON i.id = o.ingest_id WHERE o.host_id = $1{kind_clause} \
         ORDER BY o.observed_at DESC, o.id DESC LIMIT $3 OFFSET $4",
        cols = crate::query::OBSERVATION_COLUMNS
    );
    let items = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(host_id)
        .bind(kind)
        .bind(limit)
        .bind(offset)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(crate::query::observation_info)
        .collect::<Result<_>>()?;
    Ok(Page { items, page: p.page.max(1), per_page: limit as u32, total, next_cursor: None, prev_cursor: None })
}

/// Where a host stands on the way to `verified_clean`, in words an owner can act on.
#[derive(Debug, Serialize)]
pub struct Verification {
    pub tech_state: String,
    pub fixed_at: Option<String>,
    pub clean_hunt_at: Option<String>,
    pub clean_probe_at: Option<String>,
    /// What is still missing (empty once verified clean).
    pub missing: Vec<String>,
}

pub async fn verification(db: &Db, host_id: i64) -> Result<Option<Verification>> {
    let Some(r) = sqlx::query("SELECT tech_state, fixed_at, clean_hunt_at, clean_probe_at FROM host WHERE id = $1")
        .bind(host_id)
        .fetch_optional(&db.pool)
        .await?
    else {
        return Ok(None);
    };
    let v = Verification {
        tech_state: r.try_get(0)?,
        fixed_at: r.try_get(1)?,
        clean_hunt_at: r.try_get(2)?,
        clean_probe_at: r.try_get(3)?,
        missing: Vec::new(),
    };
    Ok(Some(Verification { missing: missing_for_clean(&v), ..v }))
}

/// The steps the state model still needs: a fix (patch or remediation), then a clean hunt report
/// and a probe showing a fixed build, both dated at or after the fix.
fn missing_for_clean(v: &Verification) -> Vec<String> {
    let mut missing = Vec::new();
    match v.tech_state.as_str() {
        "verified_clean" => return missing,
        "compromised" => missing
            .push("a remediation record: the compromise must be cleaned up and recorded by the task force".to_string()),
        "vulnerable" | "exposed" => {
            missing.push("the security updates: a probe or your hunt report must show a fixed build".to_string())
        }
        _ => {}
    }
    let after_fix = |t: &Option<String>| match (t, &v.fixed_at) {
        (Some(t), Some(fix)) => t >= fix,
        _ => false,
    };
    if !after_fix(&v.clean_hunt_at) {
        missing.push("a clean `taskforce hunt` report made after the fix".to_string());
    }
    if !after_fix(&v.clean_probe_at) {
        missing.push("a probe showing a fixed build after the fix (the task force probes again)".to_string());
    }
    missing
}

/// One ingest (file or upload).
#[derive(Debug, Serialize)]
pub struct IngestRow {
    pub id: i64,
    pub kind: String,
    pub file_name: String,
    pub sha256: String,
    pub received_at: String,
    pub uploader: String,
    pub status: String,
    pub rows_total: i64,
    pub rows_ok: i64,
    pub rows_duplicate: i64,
    pub rows_rejected: i64,
    pub rows_ignored: i64,
}

const INGEST_COLUMNS: &str = "id, kind, file_name, sha256, received_at, uploader, status, rows_total, rows_ok, rows_duplicate, rows_rejected, rows_ignored";

fn ingest_from(r: &sqlx::any::AnyRow) -> Result<IngestRow> {
    Ok(IngestRow {
        id: r.try_get(0)?,
        kind: r.try_get(1)?,
        file_name: r.try_get(2)?,
        sha256: r.try_get(3)?,
        received_at: r.try_get(4)?,
        uploader: r.try_get(5)?,
        status: r.try_get(6)?,
        rows_total: r.try_get(7)?,
        rows_ok: r.try_get(8)?,
        rows_duplicate: r.try_get(9)?,
        rows_rejected: r.try_get(10)?,
        rows_ignored: r.try_get(11)?,
    })
}

/// Newest first.
pub async fn ingests(db: &Db, p: PageParams) -> Result<Page<IngestRow>> {
    ingests_seek(db, p, Seek::Page).await
}

/// Newest first, from a page number or either side of an ingest (cursors `0.<id>`): a seek on
/// the primary key, so the last page costs what the first does; the total is the kept tally.
pub async fn ingests_seek(db: &Db, p: PageParams, seek: Seek) -> Result<Page<IngestRow>> {
    let (limit, offset) = p.limit_offset();
    let fetch = limit + 1;
    let total: i64 = sqlx::query("SELECT CAST(COALESCE(MAX(n), 0) AS BIGINT) FROM row_tally WHERE name = 'ingest'")
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?;
    let (clause, order, off, key) = match seek {
        Seek::Page => ("", "DESC", offset, None),
        Seek::After(c) => (" WHERE id < $1", "DESC", 0, Some(c.id)),
        Seek::Before(c) if c == Cursor::END => ("", "ASC", 0, None),
        Seek::Before(c) => (" WHERE id > $1", "ASC", 0, Some(c.id)),
    };
    let sql = format!("SELECT {INGEST_COLUMNS} FROM ingest{clause} ORDER BY id {order} LIMIT {fetch} OFFSET {off}");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    if let Some(id) = key {
        q = q.bind(id);
    }
    let mut items: Vec<IngestRow> = q.fetch_all(&db.pool).await?.iter().map(ingest_from).collect::<Result<_>>()?;
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    if matches!(seek, Seek::Before(_)) {
        items.reverse();
    }
    let key = |r: Option<&IngestRow>| r.map(|r| Cursor { rank: 0, id: r.id }.text());
    let (next_cursor, prev_cursor) = match seek {
        Seek::Page => (more.then(|| key(items.last())).flatten(), (offset > 0).then(|| key(items.first())).flatten()),
        Seek::After(_) => (more.then(|| key(items.last())).flatten(), key(items.first())),
        Seek::Before(c) => {
            ((c != Cursor::END).then(|| key(items.last())).flatten(), more.then(|| key(items.first())).flatten())
        }
    };
    let page = if seek == Seek::Page { p.page.max(1) } else { 0 };
    Ok(Page { items, page, per_page: limit as u32, total, next_cursor, prev_cursor })
}

pub async fn ingest(db: &Db, id: i64) -> Result<Option<IngestRow>> {
    let sql = format!("SELECT {INGEST_COLUMNS} FROM ingest WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&db.pool).await?.as_ref().map(ingest_from).transpose()
}

/// A rejected row of an ingest.
#[derive(Debug, Serialize)]
pub struct RejectedRow {
    pub line: i64,
    pub message: String,
}

pub async fn rejected_rows(db: &Db, ingest_id: i64, p: PageParams) -> Result<Page<RejectedRow>> {
    let (limit, offset) = p.limit_offset();
    let total: i64 = sqlx::query("SELECT COUNT(*) FROM ingest_error WHERE ingest_id = $1")
        .bind(ingest_id)
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?;
    let items =
        sqlx::query("SELECT line, message FROM ingest_error WHERE ingest_id = $1 ORDER BY line, id LIMIT $2 OFFSET $3")
            .bind(ingest_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(&db.pool)
            .await?
            .iter()
            .map(|r| Ok(RejectedRow { line: r.try_get(0)?, message: r.try_get(1)? }))
            .collect::<Result<_>>()?;
    Ok(Page { items, page: p.page.max(1), per_page: limit as u32, total, next_cursor: None, prev_cursor: None })
}

/// The hosts an ingest wrote observations about (what an uploaded report changed).
pub async fn ingest_hosts(db: &Db, ingest_id: i64) -> Result<Vec<i64>> {
    sqlx::query("SELECT DISTINCT host_id FROM observation WHERE ingest_id = $1 ORDER BY host_id LIMIT 1000")
        .bind(ingest_id)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
}

/// The hosts of one organisation that an ingest observed: walks that organisation's hosts
/// (`host_org`) and their observations (`observation_host`), so a portal page after an upload
/// does not scan every observation of the database for the ingest id.
pub async fn ingest_hosts_of_org(db: &Db, ingest_id: i64, org_id: i64) -> Result<Vec<i64>> {
    sqlx::query(
        "SELECT h.id FROM host h WHERE h.org_id = $1 \
         AND EXISTS (SELECT 1 FROM observation o WHERE o.host_id = h.id AND o.ingest_id = $2) \
         ORDER BY h.id LIMIT 1000",
    )
    .bind(org_id)
    .bind(ingest_id)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| Ok(r.try_get(0)?))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(state: &str, fixed: Option<&str>, hunt: Option<&str>, probe: Option<&str>) -> Verification {
        Verification {
            tech_state: state.into(),
            fixed_at: fixed.map(Into::into),
            clean_hunt_at: hunt.map(Into::into),
            clean_probe_at: probe.map(Into::into),
            missing: Vec::new(),
        }
    }

    #[test]
    fn what_is_missing_for_verified_clean() {
        assert!(missing_for_clean(&v("verified_clean", None, None, None)).is_empty());
        let m = missing_for_clean(&v("compromised", None, None, None));
        assert_eq!(m.len(), 3);
        assert!(m[0].contains("remediation"));
        // A clean report from before the fix does not count; the later probe does.
        let m = missing_for_clean(&v(
            "patched",
            Some("2021-03-10T00:00:00Z"),
            Some("2021-03-09T00:00:00Z"),
            Some("2021-03-11T00:00:00Z"),
        ));
        assert_eq!(m, vec!["a clean `taskforce hunt` report made after the fix".to_string()]);
    }
}
