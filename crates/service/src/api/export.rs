//! Per-organisation exports: CSV with Shadowserver's column names (plus our state columns) and
//! IntelMQ events (JSON lines), ready to attach to a notification.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};
use sqlx::Row;

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

async fn rows(db: &Db, org: i64) -> ApiResult<(query::OrgDetail, Vec<ExportRow>)> {
    let detail = query::org_detail(db, org, None).await?.ok_or_else(|| ApiError::not_found("organisation"))?;
    let hosts = sqlx::query(
        "SELECT h.id, h.ip, h.hostname, h.asn, h.cc, h.version, h.servername, h.tech_state, h.regressed, h.first_seen, h.last_seen, \
         (SELECT o.port FROM observation o WHERE o.host_id = h.id AND o.port IS NOT NULL ORDER BY o.observed_at DESC LIMIT 1) \
         FROM host h WHERE h.org_id = $1 ORDER BY h.tech_rank DESC, h.ip",
    )
    .bind(org)
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::with_capacity(hosts.len());
    for h in hosts {
        let id: i64 = h.try_get(0)?;
        let kinds: Vec<String> = sqlx::query("SELECT kind FROM finding WHERE host_id = $1 ORDER BY kind")
            .bind(id)
            .fetch_all(&db.pool)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<_, _>>()?;
        let mut tags = vec!["exchange".to_string()];
        let mut webshell_url = None;
        for k in &kinds {
            if let Some(cve) = k.strip_prefix("vulnerable:") {
                tags.push(cve.to_string());
            } else if let Some(url) = k.strip_prefix("webshell:") {
                if !tags.iter().any(|t| t == "webshell") {
                    tags.push("webshell".into());
                }
                if url != "unknown" {
                    webshell_url = Some(url.to_string());
                }
            } else if k.starts_with("hunt:") && !tags.iter().any(|t| t == "hunt-finding") {
                tags.push("hunt-finding".into());
            }
        }
        out.push(ExportRow {
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
            tags,
            webshell_url,
        });
    }
    Ok((detail, out))
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
    let body = csv_bytes(&s.db, id).await?;
    // Account names are personal data: a read of an export that holds them is audited.
    let named = crate::query::org_accounts(&s.db, id).await?.len();
    if named > 0 {
        super::audit(
            &s.db,
            &p,
            "read",
            "accounts",
            id,
            None,
            Some(serde_json::json!({"accounts": named, "via": "export.csv"})),
        )
        .await?;
    }
    let name = format!("attachment; filename=\"taskforce-org-{id}.csv\"");
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, name)], body))
}

/// The CSV export of one organisation's hosts (also attached to its notifications).
pub async fn csv_bytes(db: &Db, id: i64) -> ApiResult<Vec<u8>> {
    let (org, rows) = rows(db, id).await?;
    // Per host: "account (action, action)" for each account its hunt reports named.
    let mut accounts: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    for a in crate::query::org_accounts(db, id).await? {
        for h in &a.hosts {
            if let Some(ip) = h.get("ip").and_then(|v| v.as_str()) {
                accounts.entry(ip.to_string()).or_default().push(format!("{} ({})", a.account, a.actions.join(", ")));
            }
        }
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| ApiError::from(anyhow::Error::from(e));
    w.write_record(CSV_HEADER).map_err(io)?;
    for r in &rows {
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
            org.summary.sector.clone().unwrap_or_default(),
            r.version.clone().unwrap_or_default(),
            r.servername.clone().unwrap_or_default(),
            r.webshell_url.clone().unwrap_or_default(),
            r.tech_state.clone(),
            r.regressed.to_string(),
            r.first_seen.clone(),
            r.last_seen.clone(),
            org.summary.name.clone(),
            org.abuse_contact.clone().unwrap_or_default(),
            accounts.get(&r.ip).map(|list| list.join("; ")).unwrap_or_default(),
        ];
        w.write_record(cells.iter().map(|c| spreadsheet_safe(c).into_owned())).map_err(io)?;
    }
    w.into_inner().map_err(|e| ApiError::from(anyhow::anyhow!("{e}")))
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
    let out = intelmq_lines(&s.db, id).await?;
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], out))
}

/// The IntelMQ events (JSON lines) of one organisation's hosts.
pub async fn intelmq_lines(db: &Db, id: i64) -> ApiResult<String> {
    let (org, rows) = rows(db, id).await?;
    let now = crate::time::now();
    let mut out = String::new();
    for r in &rows {
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
        put("extra.organisation", json!(org.summary.name));
        put("extra.source.sector", json!(org.summary.sector));
        put("tlp", json!("AMBER"));
        out.push_str(&Value::Object(e).to_string());
        out.push('\n');
    }
    Ok(out)
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
