//! Server-side sessions. The cookie carries 32 random bytes; the database keeps only their
//! SHA-256, the owner (a user, or the reporter token of a self-service link), a per-session CSRF
//! token and the expiry. Disabling a user or revoking a token ends its sessions at the next
//! request.

use anyhow::Result;
use base64::Engine;
use ring::rand::SecureRandom;
use sha2::{Digest, Sha256};
use sqlx::Row;
use taskforce_service::Db;
use taskforce_service::tokens::{Principal, Role};

/// Who opened a session.
#[derive(Debug, Clone, Copy)]
pub enum Owner {
    User(i64),
    Token(i64),
}

/// A live session.
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    pub csrf: String,
}

pub fn random_secret() -> Result<String> {
    let mut raw = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut raw).map_err(|_| anyhow::anyhow!("no randomness"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
}

fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn expiry(hours: u64) -> String {
    let secs = i64::try_from(hours.saturating_mul(3600)).unwrap_or(i64::MAX / 2);
    let t = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_secs(secs)).unwrap_or(jiff::Timestamp::MAX);
    taskforce_service::time::format(t)
}

/// Opens a session; returns the cookie secret. Expired sessions are swept on the way.
pub async fn create(db: &Db, owner: Owner, hours: u64) -> Result<String> {
    let now = taskforce_service::time::now();
    sqlx::query("DELETE FROM web_session WHERE expires_at <= $1").bind(now.clone()).execute(&db.pool).await?;
    let secret = random_secret()?;
    let (user_id, token_id) = match owner {
        Owner::User(id) => (Some(id), None),
        Owner::Token(id) => (None, Some(id)),
    };
    sqlx::query(
        "INSERT INTO web_session (id_sha256, user_id, token_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(digest(&secret))
    .bind(user_id)
    .bind(token_id)
    .bind(random_secret()?)
    .bind(now)
    .bind(expiry(hours))
    .execute(&db.pool)
    .await?;
    Ok(secret)
}

/// The session of a cookie secret, unless unknown, expired, or its owner is disabled or revoked.
pub async fn lookup(db: &Db, secret: &str) -> Result<Option<Session>> {
    let Some(row) =
        sqlx::query("SELECT user_id, token_id, csrf_token FROM web_session WHERE id_sha256 = $1 AND expires_at > $2")
            .bind(digest(secret))
            .bind(taskforce_service::time::now())
            .fetch_optional(&db.pool)
            .await?
    else {
        return Ok(None);
    };
    let user_id: Option<i64> = row.try_get(0)?;
    let token_id: Option<i64> = row.try_get(1)?;
    let csrf: String = row.try_get(2)?;
    let owner = match (user_id, token_id) {
        (Some(id), _) => {
            sqlx::query("SELECT name, role, org_id FROM web_user WHERE id = $1 AND disabled_at IS NULL")
                .bind(id)
                .fetch_optional(&db.pool)
                .await?
                // Users are named `user:<name>` in the audit log and provenance, tokens by their name.
                .map(|r| -> Result<_> {
                    Ok((0, format!("user:{}", r.try_get::<String, _>(0)?), r.try_get::<String, _>(1)?, r.try_get(2)?))
                })
                .transpose()?
        }
        (None, Some(id)) => {
            // A portal session ends with its reporter token: revoked or expired.
            sqlx::query(
                "SELECT name, role, org_id FROM api_token WHERE id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
            )
            .bind(id)
            .bind(taskforce_service::time::now())
                .fetch_optional(&db.pool)
                .await?
                .map(|r| -> Result<_> {
                    Ok((id, r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?, r.try_get(2)?))
                })
                .transpose()?
        }
        (None, None) => None,
    };
    let Some((token_id, name, role, org_id)) = owner else { return Ok(None) };
    let Some(role) = Role::parse(&role) else { return Ok(None) };
    Ok(Some(Session { principal: Principal { token_id, name, role, org_id }, csrf }))
}

/// Ends a session (logout).
pub async fn delete(db: &Db, secret: &str) -> Result<()> {
    sqlx::query("DELETE FROM web_session WHERE id_sha256 = $1").bind(digest(secret)).execute(&db.pool).await?;
    Ok(())
}
