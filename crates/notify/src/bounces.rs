//! Delivery status notifications (RFC 3464) read back from a Maildir or an mbox file: each is
//! matched to its message by Message-ID (or ticket and recipient) and a permanent failure counts
//! as a bounce, exactly like a 5xx answer. Files that are not DSNs, or cannot be read, are listed
//! as skipped with the reason; the run goes on.

use std::path::{Path, PathBuf};

use anyhow::Result;
use mailparse::{MailHeaderMap, ParsedMail};
use serde::Serialize;
use sqlx::Row;
use taskforce_service::Db;

use crate::outbox::{Composer, record_bounce};

/// One recipient's status in one notification.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Dsn {
    /// The file (and, for an mbox, the message number) it came from.
    pub source: String,
    pub original_message_id: Option<String>,
    pub ticket: Option<String>,
    pub recipient: Option<String>,
    /// failed | delayed | delivered | relayed | expanded
    pub action: String,
    pub status: Option<String>,
    pub diagnostic: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub source: String,
    pub reason: String,
}

#[derive(Debug, Default, Serialize)]
pub struct BounceReport {
    pub read: usize,
    pub bounced: usize,
    pub delayed: usize,
    pub already_counted: usize,
    pub next_contact: usize,
    pub unreachable: usize,
    pub unmatched: Vec<Dsn>,
    pub skipped: Vec<Skipped>,
}

/// A message read from a mailbox: where it came from, and its bytes.
pub type RawMessage = (String, Vec<u8>);

/// The messages under `path`: a Maildir (its `new/` and `cur/`), a folder of message files, or an
/// mbox file (one file, messages separated by `From ` lines).
pub fn messages(path: &Path) -> Result<(Vec<RawMessage>, Vec<Skipped>)> {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    if path.is_dir() {
        let mut dirs: Vec<PathBuf> = ["new", "cur"].iter().map(|d| path.join(d)).filter(|d| d.is_dir()).collect();
        if dirs.is_empty() {
            dirs.push(path.to_path_buf());
        }
        for dir in dirs {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
            files.sort();
            for f in files.into_iter().filter(|f| f.is_file()) {
                match std::fs::read(&f) {
                    Ok(bytes) => out.push((f.display().to_string(), bytes)),
                    Err(e) => {
                        skipped.push(Skipped { source: f.display().to_string(), reason: format!("unreadable: {e}") })
                    }
                }
            }
        }
    } else {
        let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        if bytes.starts_with(b"From ") {
            let mut start = 0usize;
            let mut n = 0;
            let mut i = 0usize;
            while i <= bytes.len() {
                let at_sep = i == bytes.len() || (i > 0 && bytes[i - 1] == b'\n' && bytes[i..].starts_with(b"From "));
                if at_sep && i > start {
                    n += 1;
                    let chunk = &bytes[start..i];
                    // Drop the separator line.
                    let body = chunk.iter().position(|&b| b == b'\n').map(|p| &chunk[p + 1..]).unwrap_or(&[]);
                    out.push((format!("{}#{n}", path.display()), body.to_vec()));
                    start = i;
                }
                i += 1;
            }
        } else {
            out.push((path.display().to_string(), bytes));
        }
    }
    Ok((out, skipped))
}

fn walk<'a>(m: &'a ParsedMail<'a>, out: &mut Vec<&'a ParsedMail<'a>>) {
    out.push(m);
    for s in &m.subparts {
        walk(s, out);
    }
}

fn field(block: &str, name: &str) -> Option<String> {
    block.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// `rfc822; a@b` → `a@b`.
fn address(v: &str) -> String {
    v.split_once(';').map(|(_, a)| a).unwrap_or(v).trim().trim_matches(['<', '>']).to_ascii_lowercase()
}

/// The ticket number in a text (`TF-YYYYMMDD-NNNNNN`).
pub fn find_ticket(text: &str) -> Option<String> {
    let b = text.as_bytes();
    (0..b.len().saturating_sub(17)).find_map(|i| {
        let t = text.get(i..i + 18)?;
        let t_bytes = t.as_bytes();
        let ok = t.starts_with("TF-")
            && t_bytes[3..11].iter().all(u8::is_ascii_digit)
            && t_bytes[11] == b'-'
            && t_bytes[12..18].iter().all(u8::is_ascii_digit);
        ok.then(|| t.to_string())
    })
}

/// The DSN fields of one message; an error says why it is not one.
pub fn parse_dsn(source: &str, bytes: &[u8]) -> Result<Vec<Dsn>, String> {
    let mail = mailparse::parse_mail(bytes).map_err(|e| format!("not a readable message: {e}"))?;
    let mut parts = Vec::new();
    walk(&mail, &mut parts);
    let status_part = parts
        .iter()
        .find(|p| p.ctype.mimetype.eq_ignore_ascii_case("message/delivery-status"))
        .ok_or("not a delivery status notification (no message/delivery-status part)")?;
    let status_text =
        String::from_utf8_lossy(&status_part.get_body_raw().map_err(|e| e.to_string())?).replace("\r\n", "\n");
    // The returned original: full message or its headers.
    let mut original_id = None;
    let mut ticket = None;
    for p in &parts {
        let mt = p.ctype.mimetype.to_ascii_lowercase();
        if mt == "message/rfc822" || mt == "text/rfc822-headers" {
            let raw = p.get_body_raw().unwrap_or_default();
            if let Ok((headers, _)) = mailparse::parse_headers(&raw) {
                original_id = headers.get_first_value("Message-ID").map(|v| v.trim().to_string());
                ticket = headers
                    .get_first_value(crate::message::TICKET_HEADER)
                    .map(|v| v.trim().to_string())
                    .or_else(|| headers.get_first_value("Subject").and_then(|s| find_ticket(&s)));
            }
        }
    }
    if ticket.is_none() {
        ticket = mail.headers.get_first_value("Subject").and_then(|s| find_ticket(&s));
    }
    let mut out = Vec::new();
    // Per-message fields, then one block per recipient.
    for block in status_text.split("\n\n").skip(1) {
        let Some(action) = field(block, "Action") else { continue };
        out.push(Dsn {
            source: source.to_string(),
            original_message_id: original_id.clone(),
            ticket: ticket.clone(),
            recipient: field(block, "Final-Recipient")
                .or_else(|| field(block, "Original-Recipient"))
                .map(|v| address(&v)),
            action: action.to_ascii_lowercase(),
            status: field(block, "Status"),
            diagnostic: field(block, "Diagnostic-Code"),
        });
    }
    if out.is_empty() {
        return Err("a delivery status notification without any recipient block (Action:)".into());
    }
    Ok(out)
}

/// Reads `path` and counts its permanent failures as bounces. Waits first for a notification run
/// in progress (a send, the schedule) to finish: a bounce moves a ticket to its next contact,
/// which must not race a run choosing recipients and sending.
pub async fn apply(composer: &Composer<'_>, path: &Path) -> Result<BounceReport> {
    let lock = crate::run_lock::acquire(composer.db).await?;
    let report = apply_locked(composer, path).await;
    lock.release().await;
    report
}

async fn apply_locked(composer: &Composer<'_>, path: &Path) -> Result<BounceReport> {
    let db: &Db = composer.db;
    let (msgs, skipped) = messages(path)?;
    let mut report = BounceReport { skipped, ..Default::default() };
    for (source, bytes) in msgs {
        let dsns = match parse_dsn(&source, &bytes) {
            Ok(d) => d,
            Err(reason) => {
                report.skipped.push(Skipped { source, reason });
                continue;
            }
        };
        report.read += 1;
        for dsn in dsns {
            match dsn.action.as_str() {
                "failed" => {}
                "delayed" => {
                    report.delayed += 1;
                    continue;
                }
                _ => continue,
            }
            let row = match (&dsn.original_message_id, &dsn.ticket, &dsn.recipient) {
                (Some(id), _, _) => sqlx::query("SELECT id, ticket_id, recipient, status FROM notify_outbox WHERE message_id = $1")
                    .bind(id.clone())
                    .fetch_optional(&db.pool)
                    .await?,
                (None, Some(t), Some(r)) => sqlx::query(
                    "SELECT o.id, o.ticket_id, o.recipient, o.status FROM notify_outbox o JOIN notify_ticket t ON t.id = o.ticket_id \
                     WHERE t.ticket = $1 AND o.recipient = $2 ORDER BY o.id DESC LIMIT 1",
                )
                .bind(t.clone())
                .bind(r.clone())
                .fetch_optional(&db.pool)
                .await?,
                _ => None,
            };
            let Some(row) = row else {
                report.unmatched.push(dsn);
                continue;
            };
            let id: i64 = row.try_get(0)?;
            let ticket_id: i64 = row.try_get(1)?;
            let recipient: String = row.try_get(2)?;
            let status: String = row.try_get(3)?;
            if status == "failed" {
                report.already_counted += 1;
                continue;
            }
            let now = taskforce_service::time::now();
            let reason = format!(
                "bounced ({}): {} {}",
                dsn.source,
                dsn.status.clone().unwrap_or_default(),
                dsn.diagnostic.clone().unwrap_or_default()
            );
            sqlx::query("UPDATE notify_outbox SET status = 'failed', last_error = $1, updated_at = $2 WHERE id = $3")
                .bind(reason.trim().to_string())
                .bind(now.clone())
                .bind(id)
                .execute(&db.pool)
                .await?;
            record_bounce(
                db,
                dsn.recipient.as_deref().unwrap_or(&recipient),
                &format!("dsn:{}", dsn.source),
                &reason,
                &now,
            )
            .await?;
            if dsn.recipient.as_deref().is_some_and(|r| r != recipient) {
                record_bounce(db, &recipient, &format!("dsn:{}", dsn.source), &reason, &now).await?;
            }
            report.bounced += 1;
            match composer.next_contact(ticket_id, &now).await? {
                Some(_) => report.next_contact += 1,
                None => report.unreachable += 1,
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_ticket_numbers() {
        assert_eq!(find_ticket("Re: [TF-20210312-000042] Compromised").as_deref(), Some("TF-20210312-000042"));
        assert_eq!(find_ticket("TF-2021031-000042"), None);
        assert_eq!(find_ticket(""), None);
    }

    #[test]
    fn non_dsn_is_refused_with_a_reason() {
        let err = parse_dsn("x", b"Subject: hi\r\n\r\nhello").unwrap_err();
        assert!(err.contains("not a delivery status notification"), "{err}");
    }
}
