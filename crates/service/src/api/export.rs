//! Per-organisation exports: CSV with Shadowserver's column names (plus our state columns) and
//! IntelMQ events (JSON lines), ready to attach to a notification.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use sqlx::Row;
use tokio::sync::mpsc;

use super::{ApiError, ApiResult, AppState, require_org_access};
use crate::db::Db;
use crate::query;
use crate::tokens::Principal;

/// One host with what an export needs.
struct ExportRow {
    ip: String,
    port: Option<i64>,
    hostname: Option<String>,
    asn: Option<i64>,
    cc: Option<String>,
    version: Option<String>,
    servername: Option<String>,
    tech_state: String,
    regressed: bool,
    first_seen: String,
    last_seen: String,
    tags: Vec<String>,
    webshell_url: Option<String>,
}

/// The organisation's columns of an export.
struct ExportOrg {
    name: String,
    sector: Option<String>,
    /// The first contact in notification order (manual, then abuse role, then as imported).
    abuse_contact: Option<String>,
}

/// What every row of an organisation's export repeats: its name, sector, abuse address, and
/// per host address the accounts its hunt reports named (`account (action, action)`).
struct OrgContext {
    org: ExportOrg,
    accounts: HashMap<String, Vec<String>>,
    /// How many accounts (personal data) the export names: its read is audited when > 0.
    named: usize,
    /// When the export was made (IntelMQ's `time.observation`).
    now: String,
}

async fn context(db: &Db, id: i64) -> ApiResult<OrgContext> {
    let detail = query::org_detail(db, id, None).await?.ok_or_else(|| ApiError::not_found("organisation"))?;
    let org =
        ExportOrg { name: detail.summary.name, sector: detail.summary.sector, abuse_contact: detail.abuse_contact };
    let (accounts, named) = accounts_by_ip(db, id).await?;
    Ok(OrgContext { org, accounts, named, now: crate::time::now() })
}

/// Per host address, the accounts the organisation's hunt reports named (`account (action, …)`),
/// and how many accounts that is.
async fn accounts_by_ip(db: &Db, id: i64) -> anyhow::Result<(HashMap<String, Vec<String>>, usize)> {
    let list = query::org_accounts(db, id).await?;
    let mut accounts: HashMap<String, Vec<String>> = HashMap::new();
    for a in &list {
        for h in &a.hosts {
            if let Some(ip) = h.get("ip").and_then(|v| v.as_str()) {
                accounts.entry(ip.to_string()).or_default().push(format!("{} ({})", a.account, a.actions.join(", ")));
            }
        }
    }
    Ok((accounts, list.len()))
}

/// Rows in flight between the reader and the writer of an export.
const EXPORT_QUEUE: usize = 256;

/// Streams the organisation's hosts, worst first, each with its finding kinds: ONE query (the
/// hosts joined to their findings, grouped back per host as they arrive), never one per host,
/// and never the whole list in memory: the reader task waits while the writer (the response
/// body) is behind.
fn spawn_rows(db: &Db, org: i64) -> mpsc::Receiver<anyhow::Result<ExportRow>> {
    let (tx, rx) = mpsc::channel(EXPORT_QUEUE);
    let pool = db.pool.clone();
    tokio::spawn(async move {
        let sql = "SELECT h.id, h.ip, h.hostname, h.asn, h.cc, h.version, h.servername, h.tech_state, h.regressed, h.first_seen, h.last_seen, \
             (SELECT o.port FROM observation o WHERE o.host_id = h.id AND o.port IS NOT NULL ORDER BY o.observed_at DESC LIMIT 1), f.kind \
             FROM host h LEFT JOIN finding f ON f.host_id = h.id WHERE h.org_id = $1 ORDER BY h.tech_rank DESC, h.ip, h.id, f.kind";
        let mut rows = sqlx::query(sql).bind(org).fetch(&pool);
        let mut current: Option<(i64, ExportRow)> = None;
        while let Some(row) = rows.next().await {
            let step = row.map_err(anyhow::Error::from).and_then(|r| {
                let id: i64 = r.try_get(0)?;
                let kind: Option<String> = r.try_get(12)?;
                let finished = match &current {
                    Some((open, _)) if *open == id => None,
                    _ => current.replace((id, export_row(&r)?)).map(|(_, done)| done),
                };
                if let (Some(kind), Some((_, open))) = (kind, current.as_mut()) {
                    add_finding(open, &kind);
                }
                Ok(finished)
            });
            match step {
                Ok(None) => {}
                Ok(Some(done)) => {
                    if tx.send(Ok(done)).await.is_err() {
                        return; // the client went away
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
        }
        if let Some((_, last)) = current {
            let _ = tx.send(Ok(last)).await;
        }
    });
    rx
}

fn export_row(h: &sqlx::any::AnyRow) -> anyhow::Result<ExportRow> {
    Ok(ExportRow {
        ip: h.try_get(1)?,
        hostname: h.try_get(2)?,
        asn: h.try_get(3)?,
        cc: h.try_get(4)?,
        version: h.try_get(5)?,
        servername: h.try_get(6)?,
        tech_state: h.try_get(7)?,
        regressed: h.try_get::<i64, _>(8)? != 0,
        first_seen: h.try_get(9)?,
        last_seen: h.try_get(10)?,
        port: h.try_get(11)?,
        tags: vec!["exchange".to_string()],
        webshell_url: None,
    })
}

/// A finding kind as the export's tags (in kind order: CVEs, then webshell, hunt).
fn add_finding(r: &mut ExportRow, kind: &str) {
    if let Some(cve) = kind.strip_prefix("vulnerable:") {
        r.tags.push(cve.to_string());
    } else if let Some(url) = kind.strip_prefix("webshell:") {
        if !r.tags.iter().any(|t| t == "webshell") {
            r.tags.push("webshell".into());
        }
        if url != "unknown" {
            r.webshell_url = Some(url.to_string());
        }
    } else if kind.starts_with("hunt:") && !r.tags.iter().any(|t| t == "hunt-finding") {
        r.tags.push("hunt-finding".into());
    }
}

/// An export as a response body: `header`, then one piece per host as the rows arrive.
fn stream_body(
    header: Vec<u8>,
    rows: mpsc::Receiver<anyhow::Result<ExportRow>>,
    ctx: OrgContext,
    line: fn(&OrgContext, &ExportRow) -> anyhow::Result<Vec<u8>>,
) -> Body {
    let first = futures_util::stream::once(async move { Ok::<Bytes, anyhow::Error>(Bytes::from(header)) });
    let rest = futures_util::stream::unfold((rows, ctx), move |(mut rows, ctx)| async move {
        let item = rows.recv().await?;
        let piece = item.and_then(|r| line(&ctx, &r)).map(Bytes::from).inspect_err(|e| {
            // Headers are gone: the client sees a cut transfer; the log says why.
            tracing::error!(error = format!("{e:#}"), "export stopped");
        });
        Some((piece, (rows, ctx)))
    });
    Body::from_stream(first.chain(rest).map(|r| r.map_err(|e| std::io::Error::other(format!("{e:#}")))))
}

/// Shadowserver `scan_exchange` columns first (same names and order), then ours.
const CSV_HEADER: [&str; 22] = [
    "timestamp",
    "ip",
    "port",
    "hostname",
    "tag",
    "asn",
    "geo",
    "region",
    "city",
    "naics",
    "sic",
    "sector",
    "version",
    "servername",
    "url",
    "state",
    "regressed",
    "first_seen",
    "last_seen",
    "organisation",
    "abuse_contact",
    // Ours, after Shadowserver's: the accounts the host's hunt reports say were touched.
    "accounts",
];

pub async fn csv(State(s): State<AppState>, p: Principal, Path(id): Path<i64>) -> ApiResult<impl IntoResponse> {
    require_org_access(&p, id)?;
    let ctx = context(&s.db, id).await?;
    // Account names are personal data: a read of an export that holds them is audited.
    if ctx.named > 0 {
        super::audit(
            &s.db,
            &p,
            "read",
            "accounts",
            id,
            None,
            Some(serde_json::json!({"accounts": ctx.named, "via": "export.csv"})),
        )
        .await?;
    }
    let body = stream_body(csv_header()?, spawn_rows(&s.db, id), ctx, csv_line);
    let name = format!("attachment; filename=\"taskforce-org-{id}.csv\"");
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, name)], body))
}

/// The CSV export of one organisation's hosts (also attached to its notifications).
pub async fn csv_bytes(db: &Db, id: i64) -> ApiResult<Vec<u8>> {
    let ctx = context(db, id).await?;
    let mut out = csv_header()?;
    let mut rows = spawn_rows(db, id);
    while let Some(row) = rows.recv().await {
        out.extend(csv_line(&ctx, &row?)?);
    }
    Ok(out)
}

/// The exports a batch of notifications attaches, per organisation.
pub struct OrgExports {
    pub csv: Vec<u8>,
    /// Only when asked for.
    pub intelmq: Option<String>,
}

/// The CSV (and, when asked, IntelMQ) exports of many organisations, byte for byte what
/// [`csv_bytes`] and [`intelmq_lines`] make for each: four queries for the whole batch (the
/// organisations, their first contacts, which of them have hunt reports, their hosts joined to
/// their findings), plus the accounts of the few organisations whose hunt reports name some —
/// never a query per organisation for the others. Organisations that do not exist are left out.
pub async fn exports_batch(db: &Db, orgs: &[i64], intelmq: bool) -> anyhow::Result<HashMap<i64, OrgExports>> {
    if orgs.is_empty() {
        return Ok(HashMap::new());
    }
    // Integers only: safe to write into the statement, and one statement text per batch size.
    let list = orgs.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let now = crate::time::now();
    let mut contexts: HashMap<i64, OrgContext> = HashMap::with_capacity(orgs.len());
    let sql = format!("SELECT id, name, sector FROM organisation WHERE id IN ({list})");
    for r in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&db.pool).await? {
        let org = ExportOrg { name: r.try_get(1)?, sector: r.try_get(2)?, abuse_contact: None };
        contexts.insert(r.try_get(0)?, OrgContext { org, accounts: HashMap::new(), named: 0, now: now.clone() });
    }
    // The same order as `query::org_detail`'s contacts: its first one is the abuse contact.
    let sql = format!(
        "SELECT org_id, email FROM contact WHERE org_id IN ({list}) \
         ORDER BY org_id, CASE managed WHEN 'manual' THEN 0 ELSE 1 END, CASE role WHEN 'abuse' THEN 0 ELSE 1 END, id"
    );
    for r in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&db.pool).await? {
        if let Some(c) = contexts.get_mut(&r.try_get::<i64, _>(0)?)
            && c.org.abuse_contact.is_none()
        {
            c.org.abuse_contact = Some(r.try_get(1)?);
        }
    }
    let sql = format!(
        "SELECT DISTINCT h.org_id FROM observation o JOIN host h ON h.id = o.host_id WHERE h.org_id IN ({list}) AND o.kind = 'hunt'"
    );
    for r in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&db.pool).await? {
        let org: i64 = r.try_get(0)?;
        if let Some(c) = contexts.get_mut(&org) {
            (c.accounts, c.named) = accounts_by_ip(db, org).await?;
        }
    }
    let mut out: HashMap<i64, OrgExports> = HashMap::with_capacity(contexts.len());
    for &org in contexts.keys() {
        out.insert(org, OrgExports { csv: csv_header()?, intelmq: intelmq.then(String::new) });
    }
    let sql = format!(
        "SELECT h.id, h.ip, h.hostname, h.asn, h.cc, h.version, h.servername, h.tech_state, h.regressed, h.first_seen, h.last_seen, \
         (SELECT o.port FROM observation o WHERE o.host_id = h.id AND o.port IS NOT NULL ORDER BY o.observed_at DESC LIMIT 1), f.kind, h.org_id \
         FROM host h LEFT JOIN finding f ON f.host_id = h.id WHERE h.org_id IN ({list}) ORDER BY h.org_id, h.tech_rank DESC, h.ip, h.id, f.kind"
    );
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&db.pool);
    let mut current: Option<(i64, i64, ExportRow)> = None;
    let mut write = |org: i64, row: &ExportRow| -> anyhow::Result<()> {
        if let (Some(ctx), Some(e)) = (contexts.get(&org), out.get_mut(&org)) {
            e.csv.extend(csv_line(ctx, row)?);
            if let Some(lines) = &mut e.intelmq {
                lines.push_str(std::str::from_utf8(&intelmq_line(ctx, row)?)?);
            }
        }
        Ok(())
    };
    while let Some(r) = rows.next().await {
        let r = r?;
        let id: i64 = r.try_get(0)?;
        let kind: Option<String> = r.try_get(12)?;
        if current.as_ref().is_none_or(|(open, _, _)| *open != id)
            && let Some((_, org, done)) = current.replace((id, r.try_get(13)?, export_row(&r)?))
        {
            write(org, &done)?;
        }
        if let (Some(kind), Some((_, _, open))) = (kind, current.as_mut()) {
            add_finding(open, &kind);
        }
    }
    if let Some((_, org, last)) = current {
        write(org, &last)?;
    }
    Ok(out)
}

fn csv_header() -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_HEADER)?;
    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

/// One host's CSV record (with its line end).
fn csv_line(ctx: &OrgContext, r: &ExportRow) -> anyhow::Result<Vec<u8>> {
    let org = &ctx.org;
    let ts = r.last_seen.replace('T', " ").trim_end_matches('Z').to_string();
    // Feed data (host names, server names, URLs, organisation names) is attacker-reachable:
    // every cell goes out neutralised for spreadsheets.
    let cells: [String; 22] = [
        ts,
        r.ip.clone(),
        r.port.map(|p| p.to_string()).unwrap_or_default(),
        r.hostname.clone().unwrap_or_default(),
        r.tags.join(";"),
        r.asn.map(|a| a.to_string()).unwrap_or_default(),
        r.cc.clone().unwrap_or_default(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        org.sector.clone().unwrap_or_default(),
        r.version.clone().unwrap_or_default(),
        r.servername.clone().unwrap_or_default(),
        r.webshell_url.clone().unwrap_or_default(),
        r.tech_state.clone(),
        r.regressed.to_string(),
        r.first_seen.clone(),
        r.last_seen.clone(),
        org.name.clone(),
        org.abuse_contact.clone().unwrap_or_default(),
        ctx.accounts.get(&r.ip).map(|list| list.join("; ")).unwrap_or_default(),
    ];
    let mut w = csv::Writer::from_writer(Vec::with_capacity(256));
    w.write_record(cells.iter().map(|c| spreadsheet_safe(c).into_owned()))?;
    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

/// OWASP's rule against CSV (formula) injection: a cell starting with `=`, `+`, `-`, `@`, a tab
/// or a carriage return is prefixed with `'`, so a spreadsheet shows it as text.
pub fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// IntelMQ classification for a technical state.
fn classification(state: &str) -> (&'static str, &'static str, &'static str) {
    match state {
        "compromised" => ("intrusions", "system-compromise", "exchange-server-webshell"),
        "vulnerable" => ("vulnerable", "vulnerable-system", "vulnerable-exchange-server"),
        "exposed" => ("vulnerable", "potentially-unwanted-accessible", "exposed-exchange-server"),
        _ => ("other", "other", "exchange-server-remediation"),
    }
}

pub async fn intelmq(State(s): State<AppState>, p: Principal, Path(id): Path<i64>) -> ApiResult<impl IntoResponse> {
    require_org_access(&p, id)?;
    let ctx = context(&s.db, id).await?;
    let body = stream_body(Vec::new(), spawn_rows(&s.db, id), ctx, intelmq_line);
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body))
}

/// The IntelMQ events (JSON lines) of one organisation's hosts.
pub async fn intelmq_lines(db: &Db, id: i64) -> ApiResult<String> {
    let ctx = context(db, id).await?;
    let mut out = Vec::new();
    let mut rows = spawn_rows(db, id);
    while let Some(row) = rows.recv().await {
        out.extend(intelmq_line(&ctx, &row?)?);
    }
    String::from_utf8(out).map_err(|e| ApiError::from(anyhow::Error::from(e)))
}

/// One host's IntelMQ event (with its line end).
fn intelmq_line(ctx: &OrgContext, r: &ExportRow) -> anyhow::Result<Vec<u8>> {
    let (org, now) = (&ctx.org, &ctx.now);
    let (taxonomy, ctype, ident) = classification(&r.tech_state);
    let mut e = Map::new();
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            e.insert(k.to_string(), v);
        }
    };
    put("__type", json!("Event"));
    put("feed.provider", json!("taskforce"));
    put("feed.name", json!("exchange-tracking"));
    put("time.source", json!(r.last_seen.replace('Z', "+00:00")));
    put("time.observation", json!(now.replace('Z', "+00:00")));
    put("source.ip", json!(r.ip));
    put("source.port", json!(r.port));
    put("source.asn", json!(r.asn));
    put("source.reverse_dns", json!(r.hostname));
    put("source.geolocation.cc", json!(r.cc));
    put("source.abuse_contact", json!(org.abuse_contact));
    put("classification.taxonomy", json!(taxonomy));
    put("classification.type", json!(ctype));
    put("classification.identifier", json!(ident));
    put("destination.url", json!(r.webshell_url.as_ref().map(|u| format!("https://{}{u}", r.ip))));
    put("extra.tag", json!(r.tags.join(";")));
    put("extra.version", json!(r.version));
    put("extra.servername", json!(r.servername));
    put("extra.state", json!(r.tech_state));
    put("extra.regressed", json!(r.regressed));
    put("extra.first_seen", json!(r.first_seen));
    put("extra.organisation", json!(org.name));
    put("extra.source.sector", json!(org.sector));
    put("tlp", json!("AMBER"));
    let mut line = serde_json::to_vec(&Value::Object(e))?;
    line.push(b'\n');
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::spreadsheet_safe;

    #[test]
    fn formula_cells_are_neutralised() {
        for bad in ["=HYPERLINK(\"x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(spreadsheet_safe(bad), format!("'{bad}"));
        }
        for ok in ["", "mail.example", "192.0.2.1", "2021-03-15 02:14:07", "a=b"] {
            assert_eq!(spreadsheet_safe(ok), ok);
        }
    }
}
