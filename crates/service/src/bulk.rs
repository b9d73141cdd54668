//! Bulk helpers for the batch writer (`store`): many rows read as one value, and ids handed out
//! before an insert, so a batch never streams thousands of rows back through the driver.
//!
//! Why: the profile of a 200,000-row ingest (ARCHITECTURE.md, "How a file is ingested") showed
//! most of its wall time in rows coming back from the database one by one — each row is a
//! message from sqlx's SQLite worker thread (a channel of 50 rows: a context switch every 50) and
//! a conversion to `AnyRow` with a copy of every value. Reading the hosts, heads and known keys
//! of a batch as one JSON array built by the database, and inserting with ids reserved up front
//! instead of `RETURNING`, turns a batch's ~4,000 returned rows into a handful.

use anyhow::{Context as _, Result};
use serde::de::DeserializeOwned;
use sqlx::{Any, AssertSqlSafe, Row, Transaction};

use crate::db::Dialect;

/// `SELECT <one JSON array of [columns…] per row> <rest>`: the rows of `rest` (a `FROM … WHERE
/// …` clause) as one text value, an empty array when there is none. Both databases build it
/// natively (SQLite's JSON functions, PostgreSQL's `json_agg`).
pub fn json_rows_sql(d: Dialect, columns: &str, rest: &str) -> String {
    match d {
        Dialect::Sqlite => format!("SELECT json_group_array(json_array({columns})) {rest}"),
        Dialect::Postgres => {
            format!("SELECT COALESCE(json_agg(json_build_array({columns})), '[]'::json)::text {rest}")
        }
    }
}

/// Runs a query made by [`json_rows_sql`] (its parameters bound by `bind`) and decodes each row
/// into `T` (a struct or tuple whose fields follow the column order).
pub async fn fetch_json_rows<T: DeserializeOwned>(
    tx: &mut Transaction<'_, Any>,
    sql: String,
    bind: impl FnOnce(
        sqlx::query::Query<'_, Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'_, Any, sqlx::any::AnyArguments>,
) -> Result<Vec<T>> {
    let q = bind(sqlx::query(AssertSqlSafe(sql)));
    let text: String = q.fetch_one(&mut **tx).await?.try_get(0)?;
    serde_json::from_str(&text).context("decoding rows the database aggregated")
}

/// `n` fresh ids for `table`'s auto-numbered `id`, to insert with explicit ids (no `RETURNING`).
///
/// SQLite: the caller holds the database's write lock (`Db::lock_for_write`) for the whole
/// transaction, so nobody else can insert meanwhile, and the next ids are `MAX(id) + 1…` (what
/// SQLite itself would pick). PostgreSQL: taken from the column's identity sequence in one
/// statement, so concurrent writers (and later inserts without an id) never collide (the sequence
/// looked up once, not once per id: that was 3 % of the server's CPU in an ingest).
pub async fn reserve_ids(tx: &mut Transaction<'_, Any>, d: Dialect, table: &str, n: usize) -> Result<Vec<i64>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    match d {
        Dialect::Sqlite => {
            let sql = format!("SELECT COALESCE(MAX(id), 0) FROM {table}");
            let max: i64 = sqlx::query(AssertSqlSafe(sql)).fetch_one(&mut **tx).await?.try_get(0)?;
            Ok((1..=n as i64).map(|i| max + i).collect())
        }
        Dialect::Postgres => {
            let sql = format!(
                "SELECT json_agg(nextval((SELECT pg_get_serial_sequence('{table}', 'id')::regclass)))::text FROM generate_series(1, $1)"
            );
            let text: String = sqlx::query(AssertSqlSafe(sql)).bind(n as i64).fetch_one(&mut **tx).await?.try_get(0)?;
            let ids: Vec<i64> = serde_json::from_str(&text).context("decoding reserved ids")?;
            anyhow::ensure!(ids.len() == n, "asked for {n} ids of {table}, got {}", ids.len());
            Ok(ids)
        }
    }
}

/// A column's SQL type, as a row set written with [`JsonRows`] is read back by the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Int,
    Text,
}

/// One value of a row written with [`JsonRows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Val<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
}

/// Rows as one JSON array of arrays: a batch bound as ONE parameter of a statement whose text
/// never changes (prepared once per connection), instead of a `VALUES` list of thousands of
/// parameters that is parsed again for every batch size and bound value by value.
pub struct JsonRows {
    buf: Vec<u8>,
    rows: usize,
}

impl Default for JsonRows {
    fn default() -> Self {
        JsonRows { buf: b"[".to_vec(), rows: 0 }
    }
}

impl JsonRows {
    pub fn push(&mut self, values: &[Val<'_>]) {
        if self.rows > 0 {
            self.buf.push(b',');
        }
        self.rows += 1;
        self.buf.push(b'[');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            match v {
                Val::Int(Some(n)) => self.buf.extend_from_slice(n.to_string().as_bytes()),
                Val::Text(Some(s)) => serde_json::to_writer(&mut self.buf, s).expect("writing to memory"),
                Val::Int(None) | Val::Text(None) => self.buf.extend_from_slice(b"null"),
            }
        }
        self.buf.push(b']');
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn finish(mut self) -> String {
        self.buf.push(b']');
        String::from_utf8(self.buf).expect("JSON text is UTF-8")
    }
}

/// `SELECT <the columns of each row of the JSON parameter, named c0, c1, …> WHERE true`: the source of an
/// `INSERT … SELECT` (the `WHERE` lets SQLite parse a following `ON CONFLICT`) or of a join.
/// SQLite: `jsonb_each`, values by `->>` (typed as stored: integer, text, NULL). PostgreSQL:
/// `jsonb_array_elements` with a cast per integer column.
///
/// Binary JSON on both: with PostgreSQL's text `json` every `->> i` parses its element again from
/// the start, once per column (20 columns of an observation, its `detail` a JSON text itself):
/// 85 % of a 500-row observation INSERT's server time was that expansion (EXPLAIN ANALYZE: the
/// function scan 117 ms of 135). `jsonb` parses the parameter once; `->> i` is then an index.
pub fn json_source_sql(d: Dialect, columns: &[Ty]) -> String {
    let list: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, ty)| match (d, ty) {
            (Dialect::Sqlite, _) => format!("value ->> {i} AS c{i}"),
            (Dialect::Postgres, Ty::Text) => format!("v ->> {i} AS c{i}"),
            (Dialect::Postgres, Ty::Int) => format!("(v ->> {i})::bigint AS c{i}"),
        })
        .collect();
    match d {
        // jsonb_each: each element comes as a binary JSON value `->>` reads directly
        // (json_each would turn it into text for `->>` to parse again: 16 % of the CPU).
        Dialect::Sqlite => format!("SELECT {} FROM jsonb_each(?) WHERE true", list.join(", ")),
        Dialect::Postgres => {
            format!("SELECT {} FROM jsonb_array_elements($1::jsonb) AS j(v) WHERE true", list.join(", "))
        }
    }
}

/// `INSERT INTO table (columns…) SELECT … FROM <the JSON parameter>` (and `rest`, e.g. an
/// `ON CONFLICT` clause): one statement text whatever the batch size, so it is prepared once per
/// connection and its rows are bound as one value.
pub fn insert_json_sql(d: Dialect, table: &str, columns: &[(&str, Ty)], rest: &str) -> String {
    let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
    let types: Vec<Ty> = columns.iter().map(|(_, t)| *t).collect();
    let sql = format!("INSERT INTO {table} ({}) {}", names.join(", "), json_source_sql(d, &types));
    if rest.is_empty() { sql } else { format!("{sql} {rest}") }
}

/// Runs `sql` (built around [`json_source_sql`]) with `rows` as its one parameter.
pub async fn execute_json(tx: &mut Transaction<'_, Any>, sql: &str, rows: JsonRows) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(AssertSqlSafe(sql.to_string())).bind(rows.finish()).execute(&mut **tx).await?;
    Ok(())
}
