//! The organisation list's deep page at the database, before and after issue 14: the queries
//! one `GET /api/v1/organisations` ran for a page, timed through the service's own driver on a
//! database `taskforce ingest` filled. Not a test: it prints figures.
//!
//! ```text
//! cargo run --release -p taskforce-service --example page_queries -- DATABASE_URL [REPEATS] [PER_PAGE]
//! ```
//!
//! Before: `SELECT COUNT(*)` over the table, then `ORDER BY tech_rank DESC, id LIMIT n OFFSET k`
//! (the database walks the k rows before the page). After: the total from `org_tally`, then the
//! page by key from the cursor (two index seeks, `query::list_orgs_from`). Each is timed for the
//! first page and for the last page, `REPEATS` times [200], and printed as p50/p99/max.

use std::time::Instant;

use sqlx::{AssertSqlSafe, Row};
use taskforce_service::Db;
use taskforce_service::query::{self, Cursor, OrgFilter, PageParams};

const COLUMNS: &str = "id, name, sector, cc, managed, tech_state, comm_state, hosts, hosts_compromised, hosts_vulnerable, regressed, last_seen";

fn quantiles(mut us: Vec<u64>) -> String {
    us.sort_unstable();
    let q = |p: f64| us[((p * us.len() as f64).ceil() as usize).clamp(1, us.len()) - 1] as f64 / 1000.0;
    format!("{:>8.2} {:>8.2} {:>8.2}", q(0.5), q(0.99), *us.last().unwrap() as f64 / 1000.0)
}

/// The queries of the list before issue 14 (as they were in src/query.rs).
async fn before(db: &Db, per_page: i64, offset: i64) -> anyhow::Result<usize> {
    let total: i64 = sqlx::query("SELECT COUNT(*) FROM organisation").fetch_one(&db.pool).await?.try_get(0)?;
    let sql =
        format!("SELECT {COLUMNS} FROM organisation ORDER BY tech_rank DESC, id LIMIT {per_page} OFFSET {offset}");
    let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(&db.pool).await?;
    Ok(rows.len() + (total < 0) as usize)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or_else(|| anyhow::anyhow!("usage: page_queries DATABASE_URL [REPEATS] [PER_PAGE]"))?;
    let repeats: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(200);
    let per_page: u32 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(50);
    let db = Db::connect(&url).await?;
    let total: i64 = sqlx::query("SELECT COUNT(*) FROM organisation").fetch_one(&db.pool).await?.try_get(0)?;
    let last_page = ((total.max(1) - 1) / per_page as i64 + 1) as u32;
    // The cursor that starts the last page: the key of the row just before it.
    let p = PageParams { page: last_page - 1, per_page };
    let before_last = query::list_orgs(&db, &OrgFilter::default(), p).await?.map_err(|e| anyhow::anyhow!(e.0))?;
    let cursor = before_last.next_cursor.as_deref().map(Cursor::parse).transpose().map_err(|e| anyhow::anyhow!(e.0))?;
    println!(
        "{} organisations, {per_page} per page, last page {last_page}; {repeats} runs each ({})",
        total,
        db.dialect.name()
    );
    println!("{:44} {:>8} {:>8} {:>8}", "query (ms)", "p50", "p99", "max");
    for (label, offset) in [("first page", 0i64), ("last page", (last_page as i64 - 1) * per_page as i64)] {
        let mut us = Vec::with_capacity(repeats);
        for _ in 0..repeats {
            let t = Instant::now();
            before(&db, per_page as i64, offset).await?;
            us.push(t.elapsed().as_micros() as u64);
        }
        println!("{:44} {}", format!("before: COUNT(*) + OFFSET, {label}"), quantiles(us));
    }
    for (label, from) in [("first page", None), ("last page", cursor)] {
        let mut us = Vec::with_capacity(repeats);
        let mut items = 0;
        for _ in 0..repeats {
            let t = Instant::now();
            let page = query::list_orgs_from(&db, &OrgFilter::default(), PageParams { page: 1, per_page }, from)
                .await?
                .map_err(|e| anyhow::anyhow!(e.0))?;
            us.push(t.elapsed().as_micros() as u64);
            items = page.items.len();
        }
        anyhow::ensure!(items > 0, "the {label} by cursor is empty");
        println!("{:44} {}", format!("after: tally + cursor, {label}"), quantiles(us));
    }
    Ok(())
}
