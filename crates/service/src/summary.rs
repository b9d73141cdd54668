//! The overview's summaries, read from what the database keeps up to date itself (migration
//! 0007: `org_matrix`, `state_daily`, maintained by triggers in every writer's transaction), so
//! the overview costs a few small reads whatever the number of organisations, hosts or events.
//! `dashboard::trend_from_history` is the same trend computed from the state history: the
//! reference the tests hold the summary to.

use std::collections::BTreeMap;

use anyhow::Result;
use sqlx::Row;

use crate::dashboard::{MatrixCell, TrendPoint};
use crate::db::Db;
use crate::state::TechState;

/// Organisations (with at least one host) and their hosts per technical × communication state.
pub async fn matrix(db: &Db) -> Result<Vec<MatrixCell>> {
    let rows = sqlx::query(
        "SELECT tech_rank, comm_state, orgs, hosts FROM org_matrix WHERE tech_rank >= 0 AND orgs > 0 ORDER BY tech_rank DESC, comm_state",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut cells = Vec::with_capacity(rows.len());
    for r in rows {
        let Some(state) = TechState::from_rank(r.try_get(0)?) else { continue };
        cells.push(MatrixCell {
            tech_state: state.as_str().to_string(),
            comm_state: r.try_get(1)?,
            organisations: r.try_get(2)?,
            hosts: r.try_get(3)?,
        });
    }
    Ok(cells)
}

/// Hosts per technical state at the end of each of the last `days` days that have technical
/// events: the running sum of each day's net moves (one row per day and state).
pub async fn trend(db: &Db, days: usize) -> Result<Vec<TrendPoint>> {
    let rows = sqlx::query("SELECT day, tech_state, n FROM state_daily ORDER BY day").fetch_all(&db.pool).await?;
    let mut running: BTreeMap<String, i64> = TechState::ALL.iter().map(|t| (t.as_str().to_string(), 0)).collect();
    let mut points: Vec<TrendPoint> = Vec::new();
    for r in rows {
        let day: String = r.try_get(0)?;
        let state: String = r.try_get(1)?;
        let n: i64 = r.try_get(2)?;
        *running.entry(state).or_insert(0) += n;
        match points.last_mut() {
            Some(last) if last.day == day => last.counts = running.clone(),
            _ => points.push(TrendPoint { day, counts: running.clone() }),
        }
    }
    let skip = points.len().saturating_sub(days);
    Ok(points.into_iter().skip(skip).collect())
}

/// Hosts per technical state at the end of `day` (`YYYY-MM-DD`), from the summary: what the
/// state history says for `?at=day` (`query::stats`), without reading the history.
pub async fn hosts_at_end_of(db: &Db, day: &str) -> Result<BTreeMap<String, i64>> {
    let rows = sqlx::query(
        "SELECT tech_state, CAST(SUM(n) AS BIGINT) FROM state_daily WHERE day <= $1 GROUP BY tech_state HAVING SUM(n) <> 0",
    )
    .bind(day.to_string())
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}
