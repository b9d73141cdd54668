//! Organisations, their networks and ASNs and their abuse contacts from a CSV the task force
//! maintains or exports from a contact database (certbund-contact style "automatic" data: a
//! re-import updates it; manual entries made through the API always win).
//!
//! Header-driven; columns (case-insensitive): `org` (or `organisation`, `organization`, `name`,
//! required), `network` (or `cidr`), `asn`, `sector`, `cc` (or `country`), `abuse_email` (or
//! `email`, `abuse_contact`), `contact_name`, `phone`, `role`, `lang` (or `language`: the
//! language notifications to that contact are written in, one of [`MESSAGE_LANGUAGES`]; empty:
//! by the organisation's country). `network` and `asn` cells may list several values separated
//! by `;` or spaces.

use std::collections::HashMap;
use std::path::Path;

use ipnet::IpNet;
use sqlx::{AssertSqlSafe, Row};

use crate::db::{Db, values_list};
use crate::feeds::{FileError, RowError};
use crate::ingest::{IngestError, IngestKind, IngestSummary, finish_ingest, finished_ingest, start_ingest};
use crate::store::{self, Uploader};

const EXPECTED: &str = "organisations CSV";

/// One row of the file, checked.
#[derive(Debug, Clone, Default)]
pub struct OrgRow {
    pub line: u64,
    pub name: String,
    pub sector: Option<String>,
    pub cc: Option<String>,
    pub networks: Vec<String>,
    pub asns: Vec<i64>,
    pub email: Option<String>,
    pub contact_name: Option<String>,
    pub phone: Option<String>,
    pub role: String,
    pub lang: Option<String>,
}

/// The languages the notification templates are written in (`taskforce-notify` ships one set
/// of templates per entry and checks that it does); a contact's language must be one of them.
pub const MESSAGE_LANGUAGES: &[&str] = &["en", "de"];

/// A contact's language as stored (lower-case), or why it cannot be used.
pub fn check_lang(text: &str) -> Result<String, String> {
    let lang = text.trim().to_ascii_lowercase();
    if MESSAGE_LANGUAGES.contains(&lang.as_str()) {
        Ok(lang)
    } else {
        Err(format!(
            "unknown language {text:?}: the notification templates are written in {}",
            MESSAGE_LANGUAGES.join(", ")
        ))
    }
}

/// Canonical CIDR text (host bits cleared), or why not.
pub fn canonical_cidr(text: &str) -> Result<String, String> {
    let net: IpNet = text.trim().parse().map_err(|_| format!("bad network {text:?}"))?;
    Ok(net.trunc().to_string())
}

/// A plausible e-mail address (one `@`, a dot in the domain, no spaces).
pub fn plausible_email(s: &str) -> bool {
    let mut parts = s.split('@');
    matches!((parts.next(), parts.next(), parts.next()), (Some(l), Some(d), None)
        if !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.') && !s.contains(char::is_whitespace))
}

pub fn read(path: &Path) -> Result<(Vec<OrgRow>, Vec<RowError>), FileError> {
    let bytes = std::fs::read(path).map_err(|e| FileError::Io(e.to_string()))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(FileError::Empty);
    }
    if let Err(e) = std::str::from_utf8(&bytes) {
        let line = bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() as u64 + 1;
        return Err(FileError::NotUtf8 { line });
    }
    let terminated = bytes.ends_with(b"\n");
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes.as_slice());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| FileError::Io(e.to_string()))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    let find = |names: &[&str]| names.iter().find_map(|n| header.iter().position(|h| h == n));
    let org_col = find(&["org", "organisation", "organization", "name"]).ok_or_else(|| FileError::WrongFormat {
        expected: EXPECTED,
        why: format!("the header has no org column (found: {})", header.join(",")),
    })?;
    let (net_col, asn_col) = (find(&["network", "cidr", "networks"]), find(&["asn", "asns"]));
    let sector_col = find(&["sector"]);
    let cc_col = find(&["cc", "country"]);
    let email_col = find(&["abuse_email", "email", "abuse_contact", "abuse-mailbox"]);
    let cname_col = find(&["contact_name"]);
    let phone_col = find(&["phone"]);
    let role_col = find(&["role"]);
    let lang_col = find(&["lang", "language"]);
    let records: Vec<csv::StringRecord> =
        reader.records().collect::<Result<_, _>>().map_err(|e| FileError::Io(e.to_string()))?;
    let (mut rows, mut bad) = (Vec::new(), Vec::new());
    for (i, rec) in records.iter().enumerate() {
        let line = rec.position().map(|p| p.line()).unwrap_or(i as u64 + 2);
        if i + 1 == records.len() && !terminated && rec.len() < header.len() {
            return Err(FileError::Truncated { line });
        }
        // NUL → U+FFFD: PostgreSQL's text type refuses NUL.
        let get = |c: Option<usize>| {
            c.and_then(|c| rec.get(c)).map(str::trim).filter(|s| !s.is_empty()).map(|s| s.replace('\0', "\u{fffd}"))
        };
        let Some(name) = get(Some(org_col)) else {
            if rec.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            bad.push(RowError { line, message: "no organisation name".into() });
            continue;
        };
        let mut row =
            OrgRow { line, name, role: get(role_col).unwrap_or_else(|| "abuse".into()), ..Default::default() };
        row.sector = get(sector_col);
        row.cc = get(cc_col).map(|c| c.to_ascii_uppercase());
        row.contact_name = get(cname_col);
        row.phone = get(phone_col);
        let mut problem = None;
        for n in get(net_col).unwrap_or_default().split([';', ' ']).filter(|s| !s.is_empty()) {
            match canonical_cidr(n) {
                Ok(c) => row.networks.push(c),
                Err(e) => problem = Some(e),
            }
        }
        for a in get(asn_col).unwrap_or_default().split([';', ' ']).filter(|s| !s.is_empty()) {
            let digits = a.trim_start_matches(['A', 'S', 'a', 's']);
            match digits.parse::<i64>() {
                Ok(n) if n > 0 && n <= u32::MAX as i64 => row.asns.push(n),
                _ => problem = Some(format!("bad ASN {a:?}")),
            }
        }
        if let Some(lang) = get(lang_col) {
            match (check_lang(&lang), get(email_col)) {
                (Ok(l), Some(_)) => row.lang = Some(l),
                (Ok(_), None) => problem = Some(format!("a language ({lang:?}) but no e-mail address to write to")),
                (Err(e), _) => problem = Some(e),
            }
        }
        if let Some(email) = get(email_col) {
            if plausible_email(&email) {
                row.email = Some(email.to_ascii_lowercase());
            } else {
                problem = Some(format!("bad e-mail address {email:?}"));
            }
        }
        match problem {
            Some(message) => bad.push(RowError { line, message }),
            None => rows.push(row),
        }
    }
    Ok((rows, bad))
}

pub async fn ingest_orgs(
    db: &Db,
    path: &Path,
    file_name: &str,
    sha256: &str,
    uploader: &Uploader,
    audit_actor: Option<&str>,
) -> Result<IngestSummary, IngestError> {
    let (rows, bad) = {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || read(&path))
            .await
            .map_err(anyhow::Error::from)?
            .map_err(|error| IngestError::File { file: file_name.to_string(), error })?
    };
    let kind = IngestKind::Orgs;
    let now = crate::time::now();
    let d = db.dialect;
    // One transaction for the file: a failure leaves nothing behind.
    let mut tx = db.pool.begin().await?;
    db.lock_for_write(&mut tx).await?;
    if let Some(done) = finished_ingest(&mut *tx, kind, sha256).await? {
        return Ok(done);
    }
    let ingest_id = start_ingest(&mut tx, kind, file_name, sha256, uploader).await?;
    for chunk in rows.chunks(1000) {
        // Organisations (one per name in this chunk).
        let mut by_name: HashMap<&str, &OrgRow> = HashMap::new();
        for r in chunk {
            by_name.insert(r.name.as_str(), r);
        }
        let names: Vec<&OrgRow> = by_name.values().copied().collect();
        let mut sql = String::from("INSERT INTO organisation (name, sector, cc, managed, source, imported_at) VALUES ");
        sql.push_str(&values_list(d, names.len(), 6));
        sql.push_str(" ON CONFLICT (name, managed) DO UPDATE SET sector = COALESCE(excluded.sector, organisation.sector), cc = COALESCE(excluded.cc, organisation.cc), source = excluded.source, imported_at = excluded.imported_at RETURNING id, name");
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for r in &names {
            q = q
                .bind(r.name.clone())
                .bind(r.sector.clone())
                .bind(r.cc.clone())
                .bind("automatic")
                .bind(file_name.to_string())
                .bind(now.clone());
        }
        let mut ids: HashMap<String, i64> = HashMap::new();
        for row in q.fetch_all(&mut *tx).await? {
            ids.insert(row.try_get(1)?, row.try_get(0)?);
        }
        // Networks, ASNs, contacts: last row wins within the file.
        let mut nets: HashMap<&str, i64> = HashMap::new();
        let mut asns: HashMap<i64, i64> = HashMap::new();
        let mut contacts: HashMap<(i64, &str), &OrgRow> = HashMap::new();
        for r in chunk {
            let id = ids[&r.name];
            for n in &r.networks {
                nets.insert(n, id);
            }
            for a in &r.asns {
                asns.insert(*a, id);
            }
            if let Some(e) = &r.email {
                contacts.insert((id, e), r);
            }
        }
        let nets: Vec<_> = nets.into_iter().collect();
        for part in nets.chunks(1000) {
            let mut sql = String::from("INSERT INTO org_network (org_id, cidr, managed, source, imported_at) VALUES ");
            sql.push_str(&values_list(d, part.len(), 5));
            sql.push_str(" ON CONFLICT (cidr, managed) DO UPDATE SET org_id = excluded.org_id, source = excluded.source, imported_at = excluded.imported_at");
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (cidr, id) in part {
                q = q.bind(*id).bind(cidr.to_string()).bind("automatic").bind(file_name.to_string()).bind(now.clone());
            }
            q.execute(&mut *tx).await?;
        }
        let asns: Vec<_> = asns.into_iter().collect();
        for part in asns.chunks(1000) {
            let mut sql = String::from("INSERT INTO org_asn (org_id, asn, managed, source, imported_at) VALUES ");
            sql.push_str(&values_list(d, part.len(), 5));
            sql.push_str(" ON CONFLICT (asn, managed) DO UPDATE SET org_id = excluded.org_id, source = excluded.source, imported_at = excluded.imported_at");
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (asn, id) in part {
                q = q.bind(*id).bind(*asn).bind("automatic").bind(file_name.to_string()).bind(now.clone());
            }
            q.execute(&mut *tx).await?;
        }
        let contacts: Vec<_> = contacts.into_iter().collect();
        for part in contacts.chunks(1000) {
            let mut sql = String::from(
                "INSERT INTO contact (org_id, email, role, name, phone, managed, source, imported_at, lang) VALUES ",
            );
            sql.push_str(&values_list(d, part.len(), 9));
            sql.push_str(" ON CONFLICT (org_id, email, managed) DO UPDATE SET role = excluded.role, name = excluded.name, phone = excluded.phone, source = excluded.source, imported_at = excluded.imported_at, lang = excluded.lang");
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for ((id, email), r) in part {
                q = q
                    .bind(*id)
                    .bind(email.to_string())
                    .bind(r.role.clone())
                    .bind(r.contact_name.clone())
                    .bind(r.phone.clone())
                    .bind("automatic")
                    .bind(file_name.to_string())
                    .bind(now.clone())
                    .bind(r.lang.clone());
            }
            q.execute(&mut *tx).await?;
        }
    }
    store::write_errors(&mut tx, db.dialect, ingest_id, &bad).await?;
    let summary = IngestSummary {
        ingest_id,
        kind: kind.as_str(),
        file_name: file_name.to_string(),
        sha256: sha256.to_string(),
        duplicate_file: false,
        rows_total: (rows.len() + bad.len()) as u64,
        rows_ok: rows.len() as u64,
        rows_duplicate: 0,
        rows_rejected: bad.len() as u64,
        rows_ignored: 0,
        state_changes: 0,
        errors: bad.iter().take(100).cloned().collect(),
        warnings: Vec::new(),
    };
    finish_ingest(&mut tx, &summary).await?;
    if let Some(actor) = audit_actor {
        crate::ingest::audit_ingest(&mut *tx, actor, &summary).await?;
    }
    tx.commit().await?;
    // Derived data, recomputed from what was committed.
    // In the server a background job (`jobs`); in the CLI, before the command returns.
    crate::jobs::after_mapping_change(db, &format!("ingest:{ingest_id}")).await?;
    Ok(summary)
}
