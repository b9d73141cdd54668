//! What people record by hand — a communication step, a contact, a remediation — and the upload
//! of a file on someone's behalf. The JSON API and the web pages both call these functions, so
//! there is one set of rules and one audit log whichever door a change comes through.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};
use sqlx::Row;

use crate::api::{actor_label, audit_in};
use crate::db::Db;
use crate::enrich::Enricher;
use crate::feeds::{Observed, Target};
use crate::ingest::{IngestError, IngestKind, IngestSummary, ingest_file_audited};
use crate::orgs_import::plausible_email;
use crate::query;
use crate::state::{CommState, Signal};
use crate::store::{self, Uploader};
use crate::tokens::Principal;

/// Why a record was refused; each maps to one HTTP status in the API and the pages.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{0}")]
    BadRequest(String),
    #[error("no such {0}")]
    NotFound(&'static str),
    /// An illegal step (e.g. back to `not_contacted`).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for RecordError {
    fn from(e: sqlx::Error) -> Self {
        RecordError::Other(e.into())
    }
}

pub type RecordResult<T> = Result<T, RecordError>;

/// A step on the communication axis (`notified`, `acknowledged`, `unreachable`), dated `at`
/// (RFC 3339 or a date; default now). Events never go back in time: a back-dated step is placed
/// after the organisation's last one.
pub async fn communication(
    db: &Db,
    actor: &Principal,
    org_id: i64,
    state: &str,
    note: &str,
    at: Option<&str>,
) -> RecordResult<Value> {
    let to = CommState::parse(state)
        .ok_or_else(|| RecordError::BadRequest(format!("unknown communication state {state:?}")))?;
    let at = match at.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => crate::time::parse(t).ok_or_else(|| RecordError::BadRequest(format!("unreadable time {t:?}")))?,
        None => crate::time::now(),
    };
    let (actor, note, dialect) = (actor.clone(), note.to_string(), db.dialect);
    db.writer
        .run(move |tx| {
            Box::pin(async move {
                let row = sqlx::query("SELECT comm_state FROM organisation WHERE id = $1")
                    .bind(org_id)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(RecordError::NotFound("organisation"))?;
                let from = CommState::parse(&row.try_get::<String, _>(0)?).unwrap_or(CommState::NotContacted);
                if !from.can_go_to(to) {
                    return Err(RecordError::Conflict(format!(
                        "cannot go from {} to {}",
                        from.as_str(),
                        to.as_str()
                    )));
                }
                let last: Option<String> =
                    sqlx::query("SELECT MAX(at) FROM state_event WHERE org_id = $1 AND axis = 'communication'")
                        .bind(org_id)
                        .fetch_one(&mut **tx)
                        .await?
                        .try_get(0)?;
                let at = match last {
                    Some(last) if last > at => last,
                    _ => at,
                };
                sqlx::query("INSERT INTO state_event (host_id, org_id, axis, from_state, to_state, at, recorded_at, observation_id, source, regressed, reason) VALUES (NULL, $1, 'communication', $2, $3, $4, $5, NULL, $6, 0, $7)")
                    .bind(org_id)
                    .bind(from.as_str())
                    .bind(to.as_str())
                    .bind(at.clone())
                    .bind(crate::time::now())
                    .bind(format!("analyst:{}", actor.name))
                    .bind(if note.is_empty() { format!("set by {}", actor.name) } else { note.clone() })
                    .execute(&mut **tx)
                    .await?;
                sqlx::query("UPDATE organisation SET comm_state = $1 WHERE id = $2")
                    .bind(to.as_str())
                    .bind(org_id)
                    .execute(&mut **tx)
                    .await?;
                let after = json!({"org_id": org_id, "comm_state": to.as_str(), "at": at, "note": note});
                // The audit row and the organisation's roll-up commit with the change.
                audit_in(
                    tx,
                    &actor,
                    "communication",
                    "organisation",
                    org_id,
                    Some(json!({"comm_state": from.as_str()})),
                    Some(after.clone()),
                )
                .await?;
                store::roll_up(tx, dialect, &BTreeSet::from([org_id])).await?;
                Ok(after)
            })
        })
        .await
}

/// A contact entered by hand (manual: wins over imported ones). The same address again updates it.
pub async fn contact(
    db: &Db,
    actor: &Principal,
    org_id: i64,
    email: &str,
    role: &str,
    name: Option<&str>,
    phone: Option<&str>,
) -> RecordResult<Value> {
    contact_with_lang(db, actor, org_id, email, role, name, phone, None).await
}

/// [`contact`] with the language notifications to it are written in (one of
/// [`MESSAGE_LANGUAGES`](crate::orgs_import::MESSAGE_LANGUAGES); `None`: by the country).
#[allow(clippy::too_many_arguments)]
pub async fn contact_with_lang(
    db: &Db,
    actor: &Principal,
    org_id: i64,
    email: &str,
    role: &str,
    name: Option<&str>,
    phone: Option<&str>,
    lang: Option<&str>,
) -> RecordResult<Value> {
    if query::org_summary(db, org_id).await?.is_none() {
        return Err(RecordError::NotFound("organisation"));
    }
    let email_norm = email.trim().to_ascii_lowercase();
    if !plausible_email(&email_norm) {
        return Err(RecordError::BadRequest(format!("not an e-mail address: {email:?}")));
    }
    if !matches!(role, "abuse" | "security" | "tech" | "executive") {
        return Err(RecordError::BadRequest("role must be abuse, security, tech or executive".into()));
    }
    let lang = match lang.map(str::trim).filter(|s| !s.is_empty()) {
        Some(l) => Some(crate::orgs_import::check_lang(l).map_err(RecordError::BadRequest)?),
        None => None,
    };
    let name = name.map(str::trim).filter(|s| !s.is_empty());
    let phone = phone.map(str::trim).filter(|s| !s.is_empty());
    let role = role.to_string();
    let actor = actor.clone();
    let (name, phone) = (name.map(str::to_string), phone.map(str::to_string));
    db.writer
        .run(move |tx| {
            Box::pin(async move {
                let row = sqlx::query(
                    "INSERT INTO contact (org_id, email, role, name, phone, managed, source, imported_at, lang) VALUES ($1, $2, $3, $4, $5, 'manual', $6, $7, $8) \
                     ON CONFLICT (org_id, email, managed) DO UPDATE SET role = excluded.role, name = excluded.name, phone = excluded.phone, source = excluded.source, imported_at = excluded.imported_at, lang = excluded.lang RETURNING id",
                )
                .bind(org_id)
                .bind(email_norm.clone())
                .bind(role.clone())
                .bind(name.clone())
                .bind(phone.clone())
                .bind(format!("analyst:{}", actor.name))
                .bind(crate::time::now())
                .bind(lang.clone())
                .fetch_one(&mut **tx)
                .await?;
                let cid: i64 = row.try_get(0)?;
                let after = json!({"id": cid, "org_id": org_id, "email": email_norm, "role": role, "name": name, "phone": phone, "managed": "manual", "lang": lang});
                audit_in(tx, &actor, "create", "contact", cid, None, Some(after.clone())).await?;
                Ok(after)
            })
        })
        .await
}

/// Records that a host was cleaned up: the only way out of `compromised`.
pub async fn remediation(
    db: &Db,
    actor: &Principal,
    host_id: i64,
    note: &str,
    at: Option<&str>,
) -> RecordResult<Value> {
    if note.trim().is_empty() {
        return Err(RecordError::BadRequest("a remediation record needs a note (what was done, by whom)".into()));
    }
    let at = match at.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => crate::time::parse(t).ok_or_else(|| RecordError::BadRequest(format!("unreadable time {t:?}")))?,
        None => crate::time::now(),
    };
    let host = query::host_summary(db, host_id).await?.ok_or(RecordError::NotFound("host"))?;
    let before = json!({"tech_state": host.tech_state});
    let ip: std::net::IpAddr = host.ip.parse().map_err(anyhow::Error::from)?;
    let recorded = crate::time::now();
    let (note_text, at_text) = (note.to_string(), at.clone());
    let observed = Observed {
        line: 0,
        target: Target::Ip(ip),
        observed_at: at.clone(),
        signals: vec![Signal::Remediation],
        port: None,
        tags: Some("analyst;remediation".into()),
        version: None,
        url: None,
        hostname: None,
        servername: None,
        asn_reported: None,
        cc_reported: None,
        findings: Vec::new(),
        natural_key: format!(
            "analyst|remediation|{}|{recorded}|{}|{}",
            host.ip,
            actor.name,
            crate::ingest::hex(&rand_suffix())
        ),
        detail: json!({"note": note, "analyst": actor.name}).to_string(),
    };
    // Read and prepared outside the write: the mapping (kept in memory), the observation.
    let enricher = Enricher::load(db).await?;
    let (actor, note, dialect) = (actor.clone(), note.to_string(), db.dialect);
    let (stats, state) = db
        .writer
        .run(move |tx| {
            Box::pin(async move {
                let label = format!("analyst:{}", actor.name);
                let uploader = Uploader { name: label.clone(), reporter_org: None };
                let (stats, orgs) =
                    store::write_batch_in(tx, dialect, &enricher, None, &label, &uploader, vec![observed], Vec::new())
                        .await?;
                store::roll_up(tx, dialect, &orgs).await?;
                // The audit row commits with the change it records.
                let state: String = sqlx::query("SELECT tech_state FROM host WHERE id = $1")
                    .bind(host_id)
                    .fetch_one(&mut **tx)
                    .await?
                    .try_get(0)?;
                let after = Some(json!({"tech_state": state, "note": note, "at": at}));
                audit_in(tx, &actor, "remediation", "host", host_id, Some(before), after).await?;
                Ok::<_, RecordError>((stats, state))
            })
        })
        .await?;
    let after = json!({"tech_state": state, "note": note_text, "at": at_text});
    let mut answer = json!({"host_id": host_id, "state_changes": stats.state_changes, "host": after});
    if stats.state_changes == 0 && host.tech_state != "remediated" && host.tech_state != "verified_clean" {
        answer["note"] = json!(format!(
            "recorded in the host's history only: the host's current state ({}) rests on evidence newer than {at_text}",
            host.tech_state
        ));
    }
    Ok(answer)
}

/// Creates an API token with its audit row in the same transaction; returns its id and the
/// secret (shown once, never stored).
pub async fn create_token(
    db: &Db,
    actor: &Principal,
    name: &str,
    role: crate::tokens::Role,
    org_id: Option<i64>,
) -> RecordResult<(i64, String)> {
    let mut tx = db.pool.begin().await?;
    db.lock_for_write(&mut tx).await?;
    let (id, secret) = crate::tokens::create_in(&mut tx, name, role, org_id, None)
        .await
        .map_err(|e| RecordError::BadRequest(format!("{e:#}")))?;
    let after = json!({"id": id, "name": name, "role": role.as_str(), "org_id": org_id});
    audit_in(&mut tx, actor, "create", "token", id, None, Some(after)).await?;
    tx.commit().await?;
    Ok((id, secret))
}

/// Revokes an API token with its audit row in the same transaction; `false` when no active token
/// has that id.
pub async fn revoke_token(db: &Db, actor: &Principal, id: i64) -> RecordResult<bool> {
    let mut tx = db.pool.begin().await?;
    if !crate::tokens::revoke_in(&mut tx, id).await? {
        return Ok(false);
    }
    audit_in(&mut tx, actor, "revoke", "token", id, None, None).await?;
    tx.commit().await?;
    Ok(true)
}

fn rand_suffix() -> [u8; 8] {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 8];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    b
}

/// Ingests an uploaded (already spooled) file on someone's behalf and audits it. The uploader's
/// name (`token:<name>` or `user:<name>`) is kept as the ingest's provenance; its
/// `reporter_org` binds a reporter's upload to its organisation: a row about another
/// organisation's host refuses the whole file.
pub async fn upload(
    db: &Db,
    actor: &Principal,
    uploader: &Uploader,
    kind: IngestKind,
    path: &Path,
    file_name: &str,
    ip: Option<std::net::IpAddr>,
) -> Result<IngestSummary, IngestError> {
    Ok(upload_with_hosts(db, actor, uploader, kind, path, file_name, ip, false).await?.0)
}

/// [`upload`], and with `want_hosts` the hosts the file's rows went to (at most 1,000; what a
/// hunt report's answer lists). They are read in the upload's own transaction from the
/// observations it added (ids above the largest before it: a range of the primary key; there is
/// no index by ingest, and a scan of every observation per report was the cost of the answer).
#[allow(clippy::too_many_arguments)]
pub async fn upload_with_hosts(
    db: &Db,
    actor: &Principal,
    uploader: &Uploader,
    kind: IngestKind,
    path: &Path,
    file_name: &str,
    ip: Option<std::net::IpAddr>,
    want_hosts: bool,
) -> Result<(IngestSummary, Vec<i64>), IngestError> {
    let label = actor_label(actor);
    let IngestKind::Feed(feed) = kind else {
        // Mapping files (ASN, organisations): rare, large, followed by a re-enrichment job; in
        // a transaction of their own. The audit row is written in it.
        let summary = ingest_file_audited(db, kind, path, file_name, uploader, ip, Some(&label)).await?;
        return Ok((summary, Vec::new()));
    };
    // Prepared outside the write: the file's hash (and so whether it is known already).
    let sha256 = {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || crate::ingest::sha256_file(&path)).await.map_err(anyhow::Error::from)??
    };
    // A hunt report is identified by its content and, when given, the address it is about.
    let identity = match ip {
        Some(ip) => format!("{sha256}@{ip}"),
        None => sha256,
    };
    let (path, file_name, uploader) = (path.to_path_buf(), file_name.to_string(), uploader.clone());
    let db2 = db.clone();
    let (summary, hosts) = db
        .writer
        .run(move |tx| {
            Box::pin(async move {
                // The same file again changes nothing; the audit row records that it was sent.
                if let Some(done) = crate::ingest::finished_ingest(&mut **tx, kind, &identity).await? {
                    crate::ingest::audit_ingest(&mut **tx, &label, &done).await?;
                    return Ok::<_, IngestError>((done, None));
                }
                let last_before: i64 = if want_hosts {
                    sqlx::query("SELECT COALESCE(MAX(id), 0) FROM observation").fetch_one(&mut **tx).await?.try_get(0)?
                } else {
                    0
                };
                let ctx = crate::feeds::Context {
                    file_name: file_name.clone(),
                    sha256: identity.clone(),
                    received_at: crate::time::now(),
                    ip,
                };
                let summary = crate::ingest::ingest_feed_in(
                    tx,
                    &db2,
                    feed,
                    &path,
                    &file_name,
                    &identity,
                    &uploader,
                    ctx,
                    Some(&label),
                )
                .await?;
                if !want_hosts {
                    return Ok((summary, Some(Vec::new())));
                }
                let hosts = sqlx::query(
                    "SELECT DISTINCT host_id FROM observation WHERE id > $1 AND ingest_id = $2 ORDER BY host_id LIMIT 1000",
                )
                .bind(last_before)
                .bind(summary.ingest_id)
                .fetch_all(&mut **tx)
                .await?
                .iter()
                .map(|r| r.try_get::<i64, _>(0))
                .collect::<Result<Vec<_>, _>>()?;
                Ok((summary, Some(hosts)))
            })
        })
        .await?;
    let hosts = match hosts {
        Some(hosts) => hosts,
        // A file sent before: its hosts are those of the earlier ingest (rare: read them all).
        None if want_hosts => crate::dashboard::ingest_hosts(db, summary.ingest_id).await?,
        None => Vec::new(),
    };
    Ok((summary, hosts))
}
