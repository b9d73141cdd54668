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
    /// The key the previous page ends before (the pages' `?before=`), `None` on the first page
    /// or where the list does not page by key. Not part of the API's answer.
    #[serde(skip)]
    pub prev_cursor: Option<String>,
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

/// Where a page of a keyed list starts: by page number (`OFFSET`: cheap only near the start),
/// just after a row (the API's `?cursor=`, the pages' "next"), or just before one (the pages'
/// "previous"; [`Cursor::END`] gives the last page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seek {
    Page,
    After(Cursor),
    Before(Cursor),
}

impl Seek {
    /// The API's `?cursor=`: after it, or by page number.
    pub fn after(cursor: Option<Cursor>) -> Seek {
        cursor.map_or(Seek::Page, Seek::After)
    }
}

impl Cursor {
    /// Below every row of a list (rank -1 is the lowest a list holds): `Before(END)` is the
    /// last page.
    pub const END: Cursor = Cursor { rank: i64::MIN, id: i64::MAX };
}

/// A keyset page's rows and its neighbours: where the next page starts (`None` on the last)
/// and the key to seek before for the previous page (`None` on the first).
pub(super) struct KeysetRows {
    pub(super) rows: Vec<AnyRow>,
    pub(super) next: Option<Cursor>,
    pub(super) prev: Option<Cursor>,
}

/// One page of a list ordered `rank DESC, id` (`rank`/`id`: the columns; by convention the id
/// is the first of `columns` and the rank the last): by `OFFSET` for a page number, by key for
/// a cursor either way. Reads one row more than the page to know whether the list goes on.
#[allow(clippy::too_many_arguments)]
pub(super) async fn keyset_page(
    db: &Db,
    columns: &str,
    from: &str,
    w: &Where,
    rank: &str,
    id: &str,
    seek: Seek,
    p: PageParams,
) -> Result<KeysetRows> {
    let (limit, offset) = p.limit_offset();
    let fetch = limit + 1;
    let (out_rank, out_id) = (unqualified(rank), unqualified(id));
    // Two index range seeks (the rest of the cursor's rank, then the other ranks), each at most a
    // page long; an `OR` of both would make the database scan and filter. Both are ordered by
    // the whole key, so even a generic plan (PostgreSQL's, for a reused prepared statement)
    // seeks the (rank, id) index instead of walking the primary key and filtering the rank.
    let seek_sql = |w2: &mut Where, c: Cursor, backward: bool| {
        let r = w2.push(Bind::Int(c.rank));
        let i = w2.push(Bind::Int(c.id));
        let (id_cmp, rank_cmp, id_dir, rank_dir, out_rank_dir, out_id_dir) =
            if backward { ("<", ">", "DESC", "", "", " DESC") } else { (">", "<", "", " DESC", " DESC", "") };
        let same = w2.sql_and(&[&format!("{rank} = {r}"), &format!("{id} {id_cmp} {i}")]);
        let other = w2.sql_and(&[&format!("{rank} {rank_cmp} {r}")]);
        format!(
            "SELECT * FROM (\
             SELECT * FROM (SELECT {columns} FROM {from}{same} ORDER BY {rank}{rank_dir}, {id} {id_dir} LIMIT {fetch}) k1 \
             UNION ALL \
             SELECT * FROM (SELECT {columns} FROM {from}{other} ORDER BY {rank}{rank_dir}, {id} {id_dir} LIMIT {fetch}) k2\
             ) k ORDER BY {out_rank}{out_rank_dir}, {out_id}{out_id_dir} LIMIT {fetch}"
        )
    };
    let mut w2 = w.clone();
    let sql = match seek {
        Seek::Page => {
            format!("SELECT {columns} FROM {from}{} ORDER BY {rank} DESC, {id} LIMIT {fetch} OFFSET {offset}", w.sql())
        }
        Seek::After(c) => seek_sql(&mut w2, c, false),
        Seek::Before(c) => seek_sql(&mut w2, c, true),
    };
    let mut rows = w2.bind(sqlx::query(AssertSqlSafe(sql))).fetch_all(&db.pool).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    if matches!(seek, Seek::Before(_)) {
        // Read nearest first; shown in the list's order.
        rows.reverse();
    }
    let key = |r: &AnyRow| -> Result<Cursor> {
        let n = r.columns().len();
        Ok(Cursor { rank: r.try_get(n - 1)?, id: r.try_get(0)? })
    };
    let first = rows.first().map(key).transpose()?;
    let last = rows.last().map(key).transpose()?;
    let (next, prev) = match seek {
        Seek::Page => (if more { last } else { None }, if offset > 0 { first } else { None }),
        Seek::After(_) => (if more { last } else { None }, first),
        Seek::Before(c) => (if c == Cursor::END { None } else { last }, if more { first } else { None }),
    };
    Ok(KeysetRows { rows, next, prev })
}

/// `h.id` → `id`: how a column is named outside its subquery.
pub(super) fn unqualified(column: &str) -> &str {
    column.rsplit('.').next().unwrap_or(column)
}

/// The page's envelope.
pub(super) fn page_of<T>(items: Vec<T>, p: PageParams, seek: Seek, total: i64, k: &KeysetRows) -> Page<T> {
    let (limit, _) = p.limit_offset();
    Page {
        items,
        page: if seek == Seek::Page { p.page.max(1) } else { 0 },
        per_page: limit as u32,
        total,
        next_cursor: k.next.map(Cursor::text),
        prev_cursor: k.prev.map(Cursor::text),
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
