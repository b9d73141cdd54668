//! Taking in a file, by CLI or API alike: hash it (the same file twice changes nothing), then
//! stream it through the parser in bounded batches, all written in one transaction with the
//! ingest row and the audit row: a refusal, a malformed file (found anywhere in it) or a failure
//! anywhere leaves nothing behind.

use std::collections::BTreeSet;
use std::io::Read;
use std::net::IpAddr;
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{Any, AssertSqlSafe, Row, Transaction};

use crate::db::{Db, values_list};
use crate::enrich::{self, AsnRange, BadLine, Enricher};
use crate::feeds::{self, FeedKind, FileError, Item, Observed, RowError};
use crate::store::{self, Uploader};

/// Rows per transaction: large enough to amortise round trips, small enough to bound memory.
pub const BATCH_ROWS: usize = 1000;

/// Everything `ingest` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IngestKind {
    Feed(FeedKind),
    /// iptoasn TSV or `start,end,asn` / `network,asn` CSV.
    AsnText,
    /// MaxMind ASN database.
    AsnMmdb,
    /// Organisations with their networks, ASNs and contacts (CSV).
    Orgs,
}

impl IngestKind {
    pub fn parse(s: &str) -> Option<IngestKind> {
        Some(match s {
            "shadowserver" => IngestKind::Feed(FeedKind::Shadowserver),
            "intelmq" => IngestKind::Feed(FeedKind::Intelmq),
            "probe" => IngestKind::Feed(FeedKind::Probe),
            "hunt" => IngestKind::Feed(FeedKind::Hunt),
            "asn" | "asn-tsv" | "asn-csv" => IngestKind::AsnText,
            "asn-mmdb" | "mmdb" => IngestKind::AsnMmdb,
            "orgs" => IngestKind::Orgs,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IngestKind::Feed(f) => f.as_str(),
            IngestKind::AsnText => "asn",
            IngestKind::AsnMmdb => "asn-mmdb",
            IngestKind::Orgs => "orgs",
        }
    }

    pub const NAMES: &'static str = "shadowserver, intelmq, probe, hunt, asn, asn-mmdb, orgs";
}

/// The result of one file.
#[derive(Debug, Clone, Serialize)]
pub struct IngestSummary {
    pub ingest_id: i64,
    pub kind: &'static str,
    pub file_name: String,
    pub sha256: String,
    /// The same file was ingested before: nothing changed.
    pub duplicate_file: bool,
    pub rows_total: u64,
    pub rows_ok: u64,
    /// Facts already known from an earlier file.
    pub rows_duplicate: u64,
    pub rows_rejected: u64,
    /// Rows that say nothing about a tracked host (a non-Exchange probe answer).
    pub rows_ignored: u64,
    pub state_changes: u64,
    /// The first rejected rows with their line numbers (all are stored with the ingest).
    pub errors: Vec<RowError>,
    /// Rows taken with a caveat (e.g. an undated hunt report, which cannot verify a host).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<RowError>,
}

/// Why a file was not taken.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file is malformed: the API answers 4xx.
    #[error("{file}: {error}")]
    File { file: String, error: FileError },
    /// A reporter sent data about hosts that are not theirs: 403, nothing written.
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for IngestError {
    fn from(e: sqlx::Error) -> Self {
        IngestError::Other(e.into())
    }
}

/// SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Ingests one file. `file_name` is what provenance records (the upload's name or the path).
pub async fn ingest_file(
    db: &Db,
    kind: IngestKind,
    path: &Path,
    file_name: &str,
    uploader: &Uploader,
    ip: Option<IpAddr>,
) -> Result<IngestSummary, IngestError> {
    ingest_file_audited(db, kind, path, file_name, uploader, ip, None).await
}

/// Ingests one file as one transaction: the ingest row, its rows, state events, roll-ups and,
/// when `audit_actor` (`role:name`) is given, the audit row commit together, or nothing does.
pub async fn ingest_file_audited(
    db: &Db,
    kind: IngestKind,
    path: &Path,
    file_name: &str,
    uploader: &Uploader,
    ip: Option<IpAddr>,
    audit_actor: Option<&str>,
) -> Result<IngestSummary, IngestError> {
    let sha256 = {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || sha256_file(&path)).await.map_err(anyhow::Error::from)??
    };
    // A hunt report is identified by its content and, when given, the address it is about.
    let identity = match ip {
        Some(ip) => format!("{sha256}@{ip}"),
        None => sha256.clone(),
    };
    if let Some(done) = finished_ingest(&db.pool, kind, &identity).await? {
        if let Some(actor) = audit_actor {
            audit_ingest(&db.pool, actor, &done).await?;
        }
        return Ok(done);
    }
    match kind {
        IngestKind::Feed(feed) => {
            let ctx = feeds::Context {
                file_name: file_name.to_string(),
                sha256: identity.clone(),
                received_at: crate::time::now(),
                ip,
            };
            // A malformed file is refused whole all the same: it is parsed once, streamed into
            // the upload's one transaction, and a file error anywhere (wrong format, not UTF-8,
            // truncated) rolls that transaction back. (A separate checking pass over the whole
            // file first cost a second parse: a tenth of the ingest's CPU time.)
            ingest_feed(db, feed, path, file_name, &identity, uploader, ctx, audit_actor).await
        }
        IngestKind::AsnText | IngestKind::AsnMmdb => {
            ingest_asn(db, kind, path, file_name, &identity, uploader, audit_actor).await
        }
        IngestKind::Orgs => {
            crate::orgs_import::ingest_orgs(db, path, file_name, &identity, uploader, audit_actor).await
        }
    }
}

/// The audit row of an upload (its summary as the "after").
pub(crate) async fn audit_ingest<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    actor: &str,
    summary: &IngestSummary,
) -> Result<()> {
    let after = serde_json::to_value(summary)?;
    crate::audit::record(exec, actor, "ingest", "ingest", &summary.ingest_id.to_string(), None, Some(after)).await
}

/// The summary of an earlier, completed ingest of the same file.
pub(crate) async fn finished_ingest<'e>(
    exec: impl sqlx::Executor<'e, Database = Any>,
    kind: IngestKind,
    sha256: &str,
) -> Result<Option<IngestSummary>> {
    let row = sqlx::query(
        "SELECT id, file_name, rows_total, rows_ok, rows_duplicate, rows_rejected, rows_ignored FROM ingest WHERE kind = $1 AND sha256 = $2 AND status = 'done'",
    )
    .bind(kind.as_str())
    .bind(sha256.to_string())
    .fetch_optional(exec)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let n = |i: usize| -> Result<u64> { Ok(row.try_get::<i64, _>(i)? as u64) };
    Ok(Some(IngestSummary {
        ingest_id: row.try_get(0)?,
        kind: kind.as_str(),
        file_name: row.try_get(1)?,
        sha256: sha256.to_string(),
        duplicate_file: true,
        rows_total: n(2)?,
        rows_ok: n(3)?,
        rows_duplicate: n(4)?,
        rows_rejected: n(5)?,
        rows_ignored: n(6)?,
        state_changes: 0,
        errors: Vec::new(),
        warnings: Vec::new(),
    }))
}

/// Creates (or, after an interrupted run of an older version, reuses) the ingest row, inside
/// the upload's transaction.
pub(crate) async fn start_ingest(
    tx: &mut Transaction<'static, Any>,
    kind: IngestKind,
    file_name: &str,
    sha256: &str,
    uploader: &Uploader,
) -> Result<i64> {
    if let Some(row) = sqlx::query("SELECT id FROM ingest WHERE kind = $1 AND sha256 = $2")
        .bind(kind.as_str())
        .bind(sha256.to_string())
        .fetch_optional(&mut **tx)
        .await?
    {
        let id: i64 = row.try_get(0)?;
        sqlx::query("UPDATE ingest SET status = 'running', rows_total = 0, rows_ok = 0, rows_duplicate = 0, rows_rejected = 0, rows_ignored = 0 WHERE id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
        sqlx::query("DELETE FROM ingest_error WHERE ingest_id = $1").bind(id).execute(&mut **tx).await?;
        sqlx::query("DELETE FROM ingest_lines WHERE ingest_id = $1").bind(id).execute(&mut **tx).await?;
        return Ok(id);
    }
    let row = sqlx::query(
        "INSERT INTO ingest (kind, file_name, sha256, received_at, uploader, status) VALUES ($1, $2, $3, $4, $5, 'running') RETURNING id",
    )
    .bind(kind.as_str())
    .bind(file_name.to_string())
    .bind(sha256.to_string())
    .bind(crate::time::now())
    .bind(uploader.name.clone())
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get(0)?)
}

pub(crate) async fn finish_ingest(tx: &mut Transaction<'static, Any>, s: &IngestSummary) -> Result<()> {
    sqlx::query("UPDATE ingest SET status = 'done', rows_total = $1, rows_ok = $2, rows_duplicate = $3, rows_rejected = $4, rows_ignored = $5 WHERE id = $6")
        .bind(s.rows_total as i64)
        .bind(s.rows_ok as i64)
        .bind(s.rows_duplicate as i64)
        .bind(s.rows_rejected as i64)
        .bind(s.rows_ignored as i64)
        .bind(s.ingest_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn summary(ingest_id: i64, kind: IngestKind, file_name: &str, sha256: &str) -> IngestSummary {
    IngestSummary {
        ingest_id,
        kind: kind.as_str(),
        file_name: file_name.to_string(),
        sha256: sha256.to_string(),
        duplicate_file: false,
        rows_total: 0,
        rows_ok: 0,
        rows_duplicate: 0,
        rows_rejected: 0,
        rows_ignored: 0,
        state_changes: 0,
        errors: Vec::new(),
        warnings: Vec::new(),
    }
}

fn keep_errors(summary: &mut IngestSummary, errors: &[RowError]) {
    let room = 100usize.saturating_sub(summary.errors.len());
    summary.errors.extend(errors.iter().take(room).cloned());
    summary.rows_rejected += errors.len() as u64;
}

#[allow(clippy::too_many_arguments)]
async fn ingest_feed(
    db: &Db,
    feed: FeedKind,
    path: &Path,
    file_name: &str,
    sha256: &str,
    uploader: &Uploader,
    ctx: feeds::Context,
    audit_actor: Option<&str>,
) -> Result<IngestSummary, IngestError> {
    // One transaction for the whole upload: a refusal or a failure in any batch rolls back
    // everything before it (dropping `txn` rolls back). PostgreSQL plans each statement for its
    // values (`db::prepare_connection`); migration 0009 dropped the foreign-key checks that this
    // made it plan anew for every inserted row.
    let mut txn = crate::db::begin_bulk_write(&db.pool, db.dialect).await?;
    let summary = ingest_feed_in(&mut txn, db, feed, path, file_name, sha256, uploader, ctx, audit_actor).await?;
    txn.commit().await?;
    Ok(summary)
}

/// [`ingest_feed`] inside the caller's transaction, already locked for writing (the server's
/// group commit, `writer`, runs many uploads in one transaction).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn ingest_feed_in(
    txn: &mut Transaction<'static, Any>,
    db: &Db,
    feed: FeedKind,
    path: &Path,
    file_name: &str,
    sha256: &str,
    uploader: &Uploader,
    ctx: feeds::Context,
    audit_actor: Option<&str>,
) -> Result<IngestSummary, IngestError> {
    let kind = IngestKind::Feed(feed);
    let label = format!("{}:{}", feed.as_str(), file_name);

    // The parser runs on a blocking thread and hands over bounded batches (backpressure: at
    // most two batches wait in the channel).
    type Batch = (Vec<Observed>, Vec<RowError>, Vec<RowError>);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(2);
    let parse_path = path.to_path_buf();
    let parser = tokio::task::spawn_blocking(move || {
        let mut rows = Vec::with_capacity(BATCH_ROWS);
        let (mut bad, mut warnings) = (Vec::new(), Vec::new());
        let mut receiver_gone = false;
        let result = feeds::parse(feed, &parse_path, &ctx, &mut |item| {
            match item {
                Item::Row(mut o) => {
                    o.scrub_nul();
                    rows.push(*o)
                }
                Item::Bad(mut b) => {
                    feeds::scrub_nul(&mut b.message);
                    bad.push(b)
                }
                Item::Warning(mut w) => {
                    feeds::scrub_nul(&mut w.message);
                    warnings.push(w)
                }
            }
            if rows.len() + bad.len() >= BATCH_ROWS && !receiver_gone {
                let batch = (std::mem::take(&mut rows), std::mem::take(&mut bad), std::mem::take(&mut warnings));
                receiver_gone = tx.blocking_send(batch).is_err();
            }
        });
        if !rows.is_empty() || !bad.is_empty() || !warnings.is_empty() {
            let _ = tx.blocking_send((rows, bad, warnings));
        }
        result
    });

    // The same file sent twice at once: the second waited for the lock and finds the first done.
    if let Some(done) = finished_ingest(&mut **txn, kind, sha256).await? {
        return Ok(done);
    }
    // The owners' mapping is read under the write lock: a mapping change that committed while
    // this ingest waited is seen, and none can commit during it.
    let enricher = Enricher::load_in(db, txn).await?;
    let ingest_id = start_ingest(txn, kind, file_name, sha256, uploader).await?;
    let mut summary = summary(ingest_id, kind, file_name, sha256);
    let mut orgs = std::collections::BTreeSet::new();
    let mut batches = 0u64;
    let started = std::time::Instant::now();
    while let Some((rows, bad, warnings)) = rx.recv().await {
        summary.rows_total += (rows.len() + bad.len()) as u64;
        let (stats, batch_orgs) =
            store::write_batch_in(txn, db.dialect, &enricher, Some(ingest_id), &label, uploader, rows, bad).await?;
        if !stats.forbidden.is_empty() {
            let lines: Vec<String> =
                stats.forbidden.iter().map(|e| format!("line {}: {}", e.line, e.message)).collect();
            return Err(IngestError::Forbidden(lines.join("; ")));
        }
        orgs.extend(batch_orgs);
        summary.rows_ok += stats.ok;
        summary.rows_duplicate += stats.duplicate;
        summary.rows_ignored += stats.ignored;
        summary.state_changes += stats.state_changes;
        keep_errors(&mut summary, &stats.rejected);
        let room = 100usize.saturating_sub(summary.warnings.len());
        summary.warnings.extend(warnings.into_iter().take(room));
        batches += 1;
        // Every 100 batches: whether a long upload keeps its rate as the tables grow.
        if batches.is_multiple_of(100) {
            let secs = started.elapsed().as_secs_f64();
            tracing::debug!(target: "taskforce_service::ingest::progress", rows = summary.rows_total, secs, "ingest progress");
        }
        if store::planner::due(batches) {
            store::planner::refresh_if_grown(txn, db.dialect).await?;
        }
        #[cfg(feature = "fault-injection")]
        {
            let after = db.fail_ingest_after_batches.load(std::sync::atomic::Ordering::SeqCst);
            if after > 0 && batches >= after {
                return Err(anyhow::anyhow!("injected failure after batch {batches}").into());
            }
        }
    }
    // The file was checked whole before; a change since then is reported, not hidden.
    if let Err(error) = parser.await.map_err(anyhow::Error::from)? {
        return Err(IngestError::File { file: file_name.to_string(), error });
    }
    tracing::debug!(file = file_name, batches, "ingested");
    store::roll_up(txn, db.dialect, &orgs).await?;
    finish_ingest(txn, &summary).await?;
    if let Some(actor) = audit_actor {
        audit_ingest(&mut **txn, actor, &summary).await?;
    }
    crate::provenance::prune_line_detail(txn, db.line_detail_days, &crate::time::now()).await?;
    Ok(summary)
}

async fn ingest_asn(
    db: &Db,
    kind: IngestKind,
    path: &Path,
    file_name: &str,
    sha256: &str,
    uploader: &Uploader,
    audit_actor: Option<&str>,
) -> Result<IngestSummary, IngestError> {
    // Read (and so check) the whole file first: ASN files are at most a few hundred thousand
    // ranges (≈50 MB in memory for the full Internet), and a bad file must not half-replace data.
    let (ranges, bad) = {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || -> Result<(Vec<AsnRange>, Vec<BadLine>)> {
            let (mut ranges, mut bad) = (Vec::new(), Vec::new());
            let sink = |r: Result<AsnRange, BadLine>| match r {
                Ok(r) => ranges.push(r),
                Err(b) => bad.push(b),
            };
            if kind == IngestKind::AsnMmdb {
                enrich::read_asn_mmdb(&path, sink)?;
            } else {
                enrich::read_asn_text(&path, sink)?;
            }
            Ok((ranges, bad))
        })
        .await
        .map_err(anyhow::Error::from)?
        .map_err(|e| IngestError::File {
            file: file_name.to_string(),
            error: FileError::WrongFormat { expected: "ASN mapping", why: format!("{e:#}") },
        })?
    };
    if ranges.is_empty() {
        let why = match bad.first() {
            Some(b) => format!("no readable range (line {}: {})", b.line, b.message),
            None => "no range in the file".to_string(),
        };
        return Err(IngestError::File {
            file: file_name.to_string(),
            error: FileError::WrongFormat { expected: "ASN mapping", why },
        });
    }
    let d = db.dialect;
    let mut tx = db.pool.begin().await?;
    db.lock_for_write(&mut tx).await?;
    if let Some(done) = finished_ingest(&mut *tx, kind, sha256).await? {
        return Ok(done);
    }
    let ingest_id = start_ingest(&mut tx, kind, file_name, sha256, uploader).await?;
    let mut summary = summary(ingest_id, kind, file_name, sha256);
    sqlx::query("DELETE FROM ip_asn WHERE ingest_id = $1").bind(ingest_id).execute(&mut *tx).await?;
    for chunk in ranges.chunks(2000) {
        let mut sql = String::from("INSERT INTO ip_asn (start_key, end_key, asn, as_name, cc, ingest_id) VALUES ");
        sql.push_str(&values_list(d, chunk.len(), 6));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for r in chunk {
            q = q
                .bind(enrich::key_hex(r.start))
                .bind(enrich::key_hex(r.end))
                .bind(r.asn)
                .bind(r.as_name.clone())
                .bind(r.cc.clone())
                .bind(ingest_id);
        }
        q.execute(&mut *tx).await?;
    }
    let errors: Vec<RowError> = bad.iter().map(|b| RowError { line: b.line, message: b.message.clone() }).collect();
    store::write_errors(&mut tx, db.dialect, ingest_id, &errors).await?;
    summary.rows_total = (ranges.len() + errors.len()) as u64;
    summary.rows_ok = ranges.len() as u64;
    keep_errors(&mut summary, &errors);
    summary.state_changes = 0;
    finish_ingest(&mut tx, &summary).await?;
    if let Some(actor) = audit_actor {
        audit_ingest(&mut *tx, actor, &summary).await?;
    }
    tx.commit().await?;
    // Derived data, recomputed from what was committed (a re-run repeats it).
    // In the server a background job (`jobs`); in the CLI, before the command returns.
    crate::jobs::after_mapping_change(db, &format!("ingest:{ingest_id}")).await?;
    Ok(summary)
}

/// Organisations whose roll-up needs recomputing after manual edits.
pub async fn refresh_orgs(db: &Db, orgs: BTreeSet<i64>) -> Result<()> {
    let mut tx = db.pool.begin().await?;
    db.lock_for_write(&mut tx).await?;
    store::roll_up(&mut tx, db.dialect, &orgs).await?;
    tx.commit().await?;
    Ok(())
}
