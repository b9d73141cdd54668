//! Background jobs: work too long for a request, queued in the `job` table and run by one
//! worker at a time, with progress the API reports (`GET /api/v1/jobs/{id}`).
//!
//! The one job today is re-enrichment after a mapping change (networks, ASNs, organisations):
//! every host's owner and ASN looked up again. It walks the hosts by id in chunks; each chunk is
//! one transaction that takes the write lock (`Db::lock_for_write`), so it is serialised with
//! ingests and analyst records, never holds the lock for long, and commits the hosts, their
//! organisations' roll-ups and the job's progress together. A re-run repeats the same result,
//! so a job interrupted by a crash is simply run again at the next start.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::atomic::Ordering;

use anyhow::Result;
use serde::Serialize;
use sqlx::Row;

use crate::db::Db;
use crate::enrich::Enricher;

/// Hosts per transaction: the write lock is held for one chunk at a time.
const CHUNK: i64 = 2000;

/// One job as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct JobInfo {
    pub id: i64,
    pub kind: String,
    /// pending | running | done | failed
    pub status: String,
    pub requested_at: String,
    pub requested_by: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Hosts processed so far, of `total`.
    pub done: i64,
    pub total: i64,
    /// Hosts whose owner or ASN changed.
    pub changed: i64,
    pub message: Option<String>,
}

const JOB_COLUMNS: &str =
    "id, kind, status, requested_at, requested_by, started_at, finished_at, done, total, changed, message";

fn job_from(r: &sqlx::any::AnyRow) -> Result<JobInfo> {
    Ok(JobInfo {
        id: r.try_get(0)?,
        kind: r.try_get(1)?,
        status: r.try_get(2)?,
        requested_at: r.try_get(3)?,
        requested_by: r.try_get(4)?,
        started_at: r.try_get(5)?,
        finished_at: r.try_get(6)?,
        done: r.try_get(7)?,
        total: r.try_get(8)?,
        changed: r.try_get(9)?,
        message: r.try_get(10)?,
    })
}

pub async fn get(db: &Db, id: i64) -> Result<Option<JobInfo>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM job WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&db.pool).await?;
    row.as_ref().map(job_from).transpose()
}

/// The newest jobs first.
pub async fn list(db: &Db, limit: i64) -> Result<Vec<JobInfo>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM job ORDER BY id DESC LIMIT $1");
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit).fetch_all(&db.pool).await?.iter().map(job_from).collect()
}

/// Queues a re-enrichment; a job still waiting to start is reused (it will read the newest
/// mappings when it starts), so a burst of mapping changes costs one pass.
pub async fn request_reenrich(db: &Db, requested_by: &str) -> Result<JobInfo> {
    let mut tx = db.pool.begin().await?;
    db.lock_for_write(&mut tx).await?;
    let waiting = sqlx::query("SELECT id FROM job WHERE kind = 'reenrich' AND status = 'pending' ORDER BY id LIMIT 1")
        .fetch_optional(&mut *tx)
        .await?;
    let id: i64 = match waiting {
        Some(r) => r.try_get(0)?,
        None => sqlx::query(
            "INSERT INTO job (kind, status, requested_at, requested_by) VALUES ('reenrich', 'pending', $1, $2) RETURNING id",
        )
        .bind(crate::time::now())
        .bind(requested_by.to_string())
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?,
    };
    tx.commit().await?;
    get(db, id).await?.ok_or_else(|| anyhow::anyhow!("job {id} vanished"))
}

/// After a mapping change: queues a re-enrichment and, in the server, hands it to a background
/// task (the request answers at once); elsewhere (the CLI) runs it before returning.
pub async fn after_mapping_change(db: &Db, requested_by: &str) -> Result<JobInfo> {
    let job = request_reenrich(db, requested_by).await?;
    if db.background_jobs.load(Ordering::SeqCst) {
        spawn_worker(db.clone());
        Ok(job)
    } else {
        run_pending(db).await?;
        Ok(get(db, job.id).await?.unwrap_or(job))
    }
}

/// One worker per process at a time; a worker started while another runs waits, then finds
/// whatever is still pending.
static WORKER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs the pending jobs in a background task.
pub fn spawn_worker(db: Db) {
    tokio::spawn(async move {
        if let Err(e) = run_pending(&db).await {
            tracing::error!(error = format!("{e:#}"), "background job failed");
        }
    });
}

/// At server start: jobs left `running` by a stopped process are queued again (a re-run
/// repeats the same result), then run in the background.
pub async fn resume(db: &Db) -> Result<()> {
    sqlx::query("UPDATE job SET status = 'pending', message = 'restarted' WHERE status = 'running'")
        .execute(&db.pool)
        .await?;
    spawn_worker(db.clone());
    Ok(())
}

/// Runs pending jobs, oldest first, until none is left.
pub async fn run_pending(db: &Db) -> Result<()> {
    let _one_at_a_time = WORKER.lock().await;
    while let Some(id) = claim(db).await? {
        if let Err(e) = run_reenrich(db, id).await {
            // The chunks done so far are committed and correct; the next run starts over.
            sqlx::query("UPDATE job SET status = 'failed', finished_at = $1, message = $2 WHERE id = $3")
                .bind(crate::time::now())
                .bind(format!("{e:#}"))
                .bind(id)
                .execute(&db.pool)
                .await?;
            return Err(e);
        }
    }
    Ok(())
}

/// Takes the oldest pending job (another process may race for it: only one update wins).
async fn claim(db: &Db) -> Result<Option<i64>> {
    loop {
        let Some(row) = sqlx::query("SELECT id FROM job WHERE status = 'pending' ORDER BY id LIMIT 1")
            .fetch_optional(&db.pool)
            .await?
        else {
            return Ok(None);
        };
        let id: i64 = row.try_get(0)?;
        let taken =
            sqlx::query("UPDATE job SET status = 'running', started_at = $1 WHERE id = $2 AND status = 'pending'")
                .bind(crate::time::now())
                .bind(id)
                .execute(&db.pool)
                .await?
                .rows_affected();
        if taken == 1 {
            return Ok(Some(id));
        }
    }
}

/// Re-enrichment: every host's owner and ASN looked up with the mappings as they are when the
/// job starts; changed hosts updated and their old and new organisations rolled up, chunk by
/// chunk.
async fn run_reenrich(db: &Db, job: i64) -> Result<()> {
    let enricher = Enricher::load(db).await?;
    let total: i64 = sqlx::query("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM host_tally")
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?;
    sqlx::query("UPDATE job SET total = $1, done = 0, changed = 0 WHERE id = $2")
        .bind(total)
        .bind(job)
        .execute(&db.pool)
        .await?;
    let (mut after, mut done, mut changed) = (0i64, 0i64, 0i64);
    loop {
        let mut tx = db.pool.begin().await?;
        db.lock_for_write(&mut tx).await?;
        let rows = sqlx::query(
            "SELECT id, ip, org_id, org_via, asn, asn_source, cc FROM host WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(CHUNK)
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.try_get(0)?;
        let mut orgs = BTreeSet::new();
        for row in &rows {
            let id: i64 = row.try_get(0)?;
            let ip: String = row.try_get(1)?;
            let org: Option<i64> = row.try_get(2)?;
            let via: Option<String> = row.try_get(3)?;
            let asn: Option<i64> = row.try_get(4)?;
            let asn_source: Option<String> = row.try_get(5)?;
            let cc: Option<String> = row.try_get(6)?;
            let Ok(addr) = ip.parse::<IpAddr>() else { continue };
            let reported = asn.filter(|_| asn_source.as_deref() == Some("feed"));
            let e = enricher.lookup(addr, reported, cc.as_deref());
            if e.org_id == org && e.org_via == via && e.asn == asn && e.asn_source == asn_source {
                continue;
            }
            orgs.extend(org);
            orgs.extend(e.org_id);
            sqlx::query("UPDATE host SET org_id = $1, org_via = $2, asn = $3, asn_source = $4, cc = $5 WHERE id = $6")
                .bind(e.org_id)
                .bind(e.org_via.clone())
                .bind(e.asn)
                .bind(e.asn_source.clone())
                .bind(e.cc.clone())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            changed += 1;
        }
        crate::store::roll_up(&mut tx, db.dialect, &orgs).await?;
        done += rows.len() as i64;
        sqlx::query("UPDATE job SET done = $1, changed = $2 WHERE id = $3")
            .bind(done)
            .bind(changed)
            .bind(job)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    sqlx::query("UPDATE job SET status = 'done', finished_at = $1, done = $2, total = $3, changed = $4 WHERE id = $5")
        .bind(crate::time::now())
        .bind(done)
        .bind(total.max(done))
        .bind(changed)
        .bind(job)
        .execute(&db.pool)
        .await?;
    tracing::info!(job, hosts = done, changed, "re-enrichment done");
    Ok(())
}
