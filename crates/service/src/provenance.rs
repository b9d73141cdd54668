//! Where a fact came from when daily reports repeat it: an observation keeps its first sighting
//! (`ingest_id`, `line`) and its last (`last_ingest_id`, `last_line`) forever, and every line of
//! every ingest in between is kept row by row in `ingest_lines` for `line_detail_days` days
//! (runs of consecutive lines with one observation id per line: a few bytes a row, no index).
//! The ingest rows themselves (file name, SHA-256, counts) are never pruned.

use anyhow::Result;
use serde::Serialize;
use sqlx::{Any, Row, Transaction};

use crate::db::Db;

/// Row-level detail is kept this many days unless configured (`line_detail_days`).
pub const DEFAULT_LINE_DETAIL_DAYS: u64 = 30;

/// Lines further apart than this start a new run (a run stores one entry per line between).
const MAX_GAP: u64 = 16;
/// Lines per run at most (bounds one stored text).
const MAX_RUN: u64 = 2000;

/// Consecutive lines of one ingest and the observation each went to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub first_line: u64,
    pub last_line: u64,
    /// One entry per line from `first_line` to `last_line`, comma-separated; empty: no observation.
    pub ids: String,
}

/// Runs from `(line, observation id)` pairs sorted by line (one pair per line).
pub fn encode_runs(lines: &[(u64, i64)]) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for &(line, id) in lines {
        match runs.last_mut() {
            Some(run) if line > run.last_line && line - run.last_line <= MAX_GAP && line - run.first_line < MAX_RUN => {
                for _ in run.last_line + 1..line {
                    run.ids.push(',');
                }
                run.ids.push(',');
                run.ids.push_str(&id.to_string());
                run.last_line = line;
            }
            _ => runs.push(Run { first_line: line, last_line: line, ids: id.to_string() }),
        }
    }
    runs
}

/// The lines of a run that went to `observation_id`.
pub fn lines_of(first_line: u64, ids: &str, observation_id: i64) -> Vec<u64> {
    let wanted = observation_id.to_string();
    ids.split(',').enumerate().filter(|(_, id)| *id == wanted).map(|(i, _)| first_line + i as u64).collect()
}

/// One file an observation was seen in, with the lines (when still kept).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Sighting {
    pub ingest_id: i64,
    pub file_name: String,
    pub sha256: String,
    pub received_at: String,
    pub lines: Vec<u64>,
}

/// Every ingest and line an observation was seen in, oldest ingest first, as far as row-level
/// detail is kept; its first and last sighting are always listed (from the observation row).
pub async fn sightings(db: &Db, observation_id: i64) -> Result<Vec<Sighting>> {
    let Some(obs) = sqlx::query(
        "SELECT ingest_id, line, COALESCE(last_ingest_id, ingest_id), COALESCE(last_line, line) FROM observation WHERE id = $1",
    )
    .bind(observation_id)
    .fetch_optional(&db.pool)
    .await?
    else {
        return Ok(Vec::new());
    };
    let first: Option<i64> = obs.try_get(0)?;
    let Some(first) = first else { return Ok(Vec::new()) };
    let last: i64 = obs.try_get::<Option<i64>, _>(2)?.unwrap_or(first);
    let mut by_ingest: std::collections::BTreeMap<i64, Vec<u64>> = std::collections::BTreeMap::new();
    by_ingest.entry(first).or_default().extend(obs.try_get::<Option<i64>, _>(1)?.map(|l| l as u64));
    by_ingest.entry(last).or_default().extend(obs.try_get::<Option<i64>, _>(3)?.map(|l| l as u64));
    // The id as a whole entry of the list: `,id,` inside, or at either end.
    let id = observation_id.to_string();
    let rows = sqlx::query(
        "SELECT ingest_id, first_line, observation_ids FROM ingest_lines \
         WHERE ingest_id BETWEEN $1 AND $2 AND (',' || observation_ids || ',') LIKE $3 ORDER BY ingest_id, first_line",
    )
    .bind(first)
    .bind(last)
    .bind(format!("%,{id},%"))
    .fetch_all(&db.pool)
    .await?;
    for r in rows {
        let ingest_id: i64 = r.try_get(0)?;
        let first_line: i64 = r.try_get(1)?;
        let ids: String = r.try_get(2)?;
        by_ingest.entry(ingest_id).or_default().extend(lines_of(first_line as u64, &ids, observation_id));
    }
    let mut out = Vec::with_capacity(by_ingest.len());
    for (ingest_id, mut lines) in by_ingest {
        lines.sort_unstable();
        lines.dedup();
        let i = sqlx::query("SELECT file_name, sha256, received_at FROM ingest WHERE id = $1")
            .bind(ingest_id)
            .fetch_one(&db.pool)
            .await?;
        out.push(Sighting {
            ingest_id,
            file_name: i.try_get(0)?,
            sha256: i.try_get(1)?,
            received_at: i.try_get(2)?,
            lines,
        });
    }
    Ok(out)
}

/// Drops the row-level detail of ingests received more than `days` days before `now` (storage
/// form); the ingests' hashes and counts and every observation stay. Returns the runs dropped.
pub async fn prune_line_detail(tx: &mut Transaction<'_, Any>, days: u64, now: &str) -> Result<u64> {
    let Some(cutoff) = days_before(now, days) else { return Ok(0) };
    let done =
        sqlx::query("DELETE FROM ingest_lines WHERE ingest_id IN (SELECT id FROM ingest WHERE received_at < $1)")
            .bind(cutoff)
            .execute(&mut **tx)
            .await?;
    Ok(done.rows_affected())
}

/// `now` minus `days` days, in storage form.
fn days_before(now: &str, days: u64) -> Option<String> {
    let t: jiff::Timestamp = now.parse().ok()?;
    let back = jiff::SignedDuration::from_hours(24 * i64::try_from(days).ok()?);
    Some(crate::time::format(t.checked_sub(back).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_round_trip_with_gaps_and_breaks() {
        let lines = [(2, 10), (3, 11), (5, 10), (40, 12), (41, 12)];
        let runs = encode_runs(&lines);
        assert_eq!(
            runs,
            vec![
                Run { first_line: 2, last_line: 5, ids: "10,11,,10".into() },
                Run { first_line: 40, last_line: 41, ids: "12,12".into() },
            ]
        );
        assert_eq!(lines_of(2, &runs[0].ids, 10), vec![2, 5]);
        assert_eq!(lines_of(2, &runs[0].ids, 1), Vec::<u64>::new());
        assert_eq!(lines_of(40, &runs[1].ids, 12), vec![40, 41]);
    }

    #[test]
    fn a_run_is_bounded() {
        let lines: Vec<(u64, i64)> = (1..=5000).map(|l| (l, 7)).collect();
        let runs = encode_runs(&lines);
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[0].last_line, 2000);
        assert_eq!(runs[1].first_line, 2001);
        let total: usize = runs.iter().map(|r| lines_of(r.first_line, &r.ids, 7).len()).sum();
        assert_eq!(total, 5000);
    }

    #[test]
    fn cutoff_is_days_before() {
        assert_eq!(days_before("2021-04-30T12:00:00Z", 30).as_deref(), Some("2021-03-31T12:00:00Z"));
        assert_eq!(days_before("garbage", 30), None);
    }
}
