//! Fresh planner statistics for a long upload on PostgreSQL.
//!
//! An upload is one transaction, and its tables may grow from nothing to millions of rows inside
//! it, unseen by autovacuum (the rows are not committed). Without statistics PostgreSQL guesses
//! that a batch's `fact_head.host_id IN (…500 ids…)` matches most of the table and joins the heads
//! to their observations by hashing the whole `observation` table: 47 ms a batch at 30,000
//! observations, growing with the table (so the rate fell as the database grew). `ANALYZE`
//! inside the transaction counts the transaction's own rows, so the lookups go back to index
//! probes. It runs only when a table at least doubled since its last statistics: a few times
//! per upload of millions of rows, never on a daily file that adds a fraction of what is stored.

use anyhow::Result;
use sqlx::{Any, Row, Transaction};

use crate::db::Dialect;

/// The tables a batch reads by key while it writes them.
const GROWING: &str = "'host', 'observation', 'fact_head'";

/// Below this many pages (4 MB) a table is not worth new statistics: any plan reads it fast.
/// (At 16 pages, ANALYZE ran seven times in a 50,000-row upload: 9.5 % of the server's CPU.)
const SMALL_PAGES: i64 = 512;

/// Whether to look at the tables' growth after this many batches of an upload (cheap, but
/// not every batch: 1, 2, 4, 8, 16, then every 16th).
pub fn due(batches: u64) -> bool {
    batches.is_power_of_two() || batches.is_multiple_of(16)
}

/// Analyzes the growing tables that doubled (in pages) since their statistics were taken.
pub async fn refresh_if_grown(tx: &mut Transaction<'_, Any>, d: Dialect) -> Result<()> {
    if d != Dialect::Postgres {
        return Ok(());
    }
    let sql = format!(
        "SELECT COALESCE(string_agg(quote_ident(t), ', '), '') FROM unnest(ARRAY[{GROWING}]) AS t \
         JOIN pg_class c ON c.oid = to_regclass(t) \
         WHERE pg_relation_size(c.oid) > 2 * GREATEST(c.relpages, {SMALL_PAGES})::bigint * current_setting('block_size')::bigint"
    );
    let grown: String = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_one(&mut **tx).await?.try_get(0)?;
    if !grown.is_empty() {
        tracing::debug!(tables = grown, "refreshing planner statistics");
        sqlx::query(sqlx::AssertSqlSafe(format!("ANALYZE {grown}"))).execute(&mut **tx).await?;
    }
    Ok(())
}
