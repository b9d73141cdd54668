//! Paging for the read models: page numbers and keyset cursors, the WHERE builder their
//! queries share, and list totals (kept tallies or counts).

use anyhow::Result;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::BadFilter;
use crate::db::Db;

/// A bound value of a dynamic query.
#[derive(Debug, Clone)]
pub(super) enum Bind {
    Text(String),
    Int(i64),
}

/// WHERE clauses with `$N` placeholders numbered as they are added.
#[derive(Debug, Default, Clone)]
pub(super) struct Where {
    pub(super) clauses: Vec<String>,
    binds: Vec<Bind>,
}

impl Where {
    /// Adds a clause; every `$?` in it is the same new placeholder.
    pub(super) fn add(&mut self, clause: &str, value: Bind) {
        self.binds.push(value);
        self.clauses.push(clause.replace("$?", &format!("${}", self.binds.len())));
    }

    pub(super) fn sql(&self) -> String {
        self.sql_and(&[])
    }

    /// The WHERE part with `extra` clauses added (for one statement only).
    pub(super) fn sql_and(&self, extra: &[&str]) -> String {
        let all: Vec<&str> = self.clauses.iter().map(String::as_str).chain(extra.iter().copied()).collect();
        if all.is_empty() { String::new() } else { format!(" WHERE {}", all.join(" AND ")) }
    }

    /// Binds one more value; returns its placeholder (`$N`).
    pub(super) fn push(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    pub(super) fn bind<'q>(
        &self,
        mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        for b in &self.binds {
            q = match b {
                Bind::Text(s) => q.bind(s.clone()),
                Bind::Int(i) => q.bind(*i),
            };
        }
        q
    }
}

/// `?page=&per_page=` (1-based; at most 1,000 per page).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default)]
pub struct PageParams {
    pub page: u32,
    pub per_page: u32,
}

impl Default for PageParams {
    fn default() -> Self {
        PageParams { page: 1, per_page: 50 }
    }
}

impl PageParams {
    /// `(LIMIT, OFFSET)`.
    pub fn limit_offset(&self) -> (i64, i64) {
        let per = self.per_page.clamp(1, 1000) as i64;
        let page = self.page.max(1) as i64;
        (per, (page - 1) * per)
    }
}

#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The page number asked for (0 when the page was asked by `cursor`).
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
    /// Where the next page starts (`?cursor=`), `None` on the last page. Lists that do not
    /// page by key leave it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Where a keyset page starts: just after this row in a list ordered worst first
/// (`tech_rank DESC`), then by id. Unlike `OFFSET`, a deep page costs what the first one does:
/// the database seeks to the key in the list's index instead of walking every row before it.
/// Written as `<rank>.<id>` (clients pass `next_cursor` back as it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub rank: i64,
    pub id: i64,
}

impl Cursor {
    pub fn parse(text: &str) -> Result<Cursor, BadFilter> {
        let bad = || BadFilter(format!("unreadable cursor {text:?}: pass back a next_cursor as it was given"));
        let (rank, id) = text.split_once('.').ok_or_else(bad)?;
        Ok(Cursor { rank: rank.parse().map_err(|_| bad())?, id: id.parse().map_err(|_| bad())? })
    }

    pub fn text(self) -> String {
        format!("{}.{}", self.rank, self.id)
    }
}

/// One page of a list ordered `rank DESC, id` (`rank`/`id`: the columns, `rank_index`: where
/// the rank is in `columns`): by `OFFSET` for `?page=`, by key for a cursor. Reads one row more
/// than the page to know whether a next page exists.
#[allow(clippy::too_many_arguments)]
pub(super) async fn keyset_page(
    db: &Db,
    columns: &str,
    from: &str,
    w: &Where,
    rank: &str,
    id: &str,
    cursor: Option<Cursor>,
    p: PageParams,
) -> Result<(Vec<AnyRow>, Option<Cursor>)> {
    let (limit, offset) = p.limit_offset();
    let fetch = limit + 1;
    let (sql, keyed) = match cursor {
        None => (
            format!("SELECT {columns} FROM {from}{} ORDER BY {rank} DESC, {id} LIMIT {fetch} OFFSET {offset}", w.sql()),
            None,
        ),
        Some(c) => {
            // Two index range seeks (the rest of the cursor's rank, then the lower ranks), each
            // at most a page long; an `OR` of both would make the database scan and filter.
            let mut w2 = w.clone();
            let r = w2.push(Bind::Int(c.rank));
            let i = w2.push(Bind::Int(c.id));
            let same = w2.sql_and(&[&format!("{rank} = {r}"), &format!("{id} > {i}")]);
            let lower = w2.sql_and(&[&format!("{rank} < {r}")]);
            let (out_rank, out_id) = (unqualified(rank), unqualified(id));
            (
                format!(
                    "SELECT * FROM (\
                     SELECT * FROM (SELECT {columns} FROM {from}{same} ORDER BY {id} LIMIT {fetch}) k1 \
                     UNION ALL \
                     SELECT * FROM (SELECT {columns} FROM {from}{lower} ORDER BY {rank} DESC, {id} LIMIT {fetch}) k2\
                     ) k ORDER BY {out_rank} DESC, {out_id} LIMIT {fetch}"
                ),
                Some(w2),
            )
        }
    };
    let w = keyed.as_ref().unwrap_or(w);
    let mut rows = w.bind(sqlx::query(AssertSqlSafe(sql))).fetch_all(&db.pool).await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        let last = rows.last().expect("a full page");
        // By convention the id is the first column and the rank the last.
        let n = last.columns().len();
        Some(Cursor { rank: last.try_get(n - 1)?, id: last.try_get(0)? })
    } else {
        None
    };
    Ok((rows, next))
}

/// `h.id` → `id`: how a column is named outside its subquery.
pub(super) fn unqualified(column: &str) -> &str {
    column.rsplit('.').next().unwrap_or(column)
}

/// The page's envelope.
pub(super) fn page_of<T>(
    items: Vec<T>,
    p: PageParams,
    cursor: Option<Cursor>,
    total: i64,
    next: Option<Cursor>,
) -> Page<T> {
    let (limit, _) = p.limit_offset();
    Page {
        items,
        page: if cursor.is_some() { 0 } else { p.page.max(1) },
        per_page: limit as u32,
        total,
        next_cursor: next.map(Cursor::text),
    }
}

/// A list's total kept by the write paths (`org_tally`, `host_tally`: see migration 0006).
pub(super) async fn tally_sum(db: &Db, table: &str, w: &Where) -> Result<i64> {
    let sql = format!("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM {table}{}", w.sql());
    Ok(w.bind(sqlx::query(AssertSqlSafe(sql))).fetch_one(&db.pool).await?.try_get(0)?)
}

/// A list's total by counting (filters the tallies do not keep).
pub(super) async fn count(db: &Db, from: &str, w: &Where) -> Result<i64> {
    let sql = format!("SELECT COUNT(*) FROM {from}{}", w.sql());
    Ok(w.bind(sqlx::query(AssertSqlSafe(sql))).fetch_one(&db.pool).await?.try_get(0)?)
}
