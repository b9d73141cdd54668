//! API tokens: random, shown once, stored as SHA-256. Roles: `admin` (everything, including
//! tokens), `analyst` (everything else), `reporter` (bound to one organisation: upload its hunt
//! reports, read its own hosts and state).

use anyhow::{Result, bail};
use base64::Engine;
use ring::rand::SecureRandom;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::db::Db;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Analyst,
    Reporter,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "analyst" => Some(Role::Analyst),
            "reporter" => Some(Role::Reporter),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Reporter => "reporter",
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone, Serialize)]
pub struct Principal {
    pub token_id: i64,
    pub name: String,
    pub role: Role,
    pub org_id: Option<i64>,
}

impl Principal {
    /// admin or analyst.
    pub fn is_staff(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Analyst)
    }
}

fn digest(token: &str) -> String {
    crate::ingest::hex(&Sha256::digest(token.as_bytes()))
}

/// Creates a token; returns its id and the secret (shown once).
pub async fn create(db: &Db, name: &str, role: Role, org_id: Option<i64>) -> Result<(i64, String)> {
    create_expiring(db, name, role, org_id, None).await
}

/// Creates a token that stops working at `expires_at` (storage-form time; `None` = never), e.g.
/// the reporter token a notification carries.
pub async fn create_expiring(
    db: &Db,
    name: &str,
    role: Role,
    org_id: Option<i64>,
    expires_at: Option<&str>,
) -> Result<(i64, String)> {
    let mut tx = db.pool.begin().await?;
    // It reads (the organisation) before it writes: on SQLite a deferred transaction can then
    // fail to upgrade when another writer committed in between, so take the write lock first.
    db.lock_for_write(&mut tx).await?;
    let created = create_in(&mut tx, name, role, org_id, expires_at).await?;
    tx.commit().await?;
    Ok(created)
}

/// Creates a token inside the caller's transaction (the API adds the audit row to it).
pub async fn create_in(
    conn: &mut sqlx::AnyConnection,
    name: &str,
    role: Role,
    org_id: Option<i64>,
    expires_at: Option<&str>,
) -> Result<(i64, String)> {
    if name.trim().is_empty() {
        bail!("a token needs a name");
    }
    match (role, org_id) {
        (Role::Reporter, None) => bail!("a reporter token must be bound to an organisation"),
        (Role::Admin | Role::Analyst, Some(_)) => bail!("only reporter tokens are bound to an organisation"),
        _ => {}
    }
    if let Some(org) = org_id
        && sqlx::query("SELECT id FROM organisation WHERE id = $1")
            .bind(org)
            .fetch_optional(&mut *conn)
            .await?
            .is_none()
    {
        bail!("no organisation {org}");
    }
    let mut raw = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut raw).map_err(|_| anyhow::anyhow!("no randomness"))?;
    let secret = format!("tf_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw));
    let row = sqlx::query(
        "INSERT INTO api_token (name, token_sha256, role, org_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(name.to_string())
    .bind(digest(&secret))
    .bind(role.as_str())
    .bind(org_id)
    .bind(crate::time::now())
    .bind(expires_at.map(str::to_string))
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.message().to_ascii_lowercase().contains("unique") => {
            anyhow::anyhow!("a token named {name:?} exists already")
        }
        _ => e.into(),
    })?;
    Ok((row.try_get(0)?, secret))
}

/// Reporter tokens for many organisations (what a batch of notifications hands out), one
/// statement per 100 tokens instead of two per token: `(id, secret)` in the order asked. Each
/// `(name, organisation)` must name an existing organisation and a name not taken yet.
pub async fn create_reporters_in(
    conn: &mut sqlx::AnyConnection,
    wanted: &[(String, i64)],
    expires_at: &str,
) -> Result<Vec<(i64, String)>> {
    let now = crate::time::now();
    let mut out = Vec::with_capacity(wanted.len());
    for chunk in wanted.chunks(100) {
        let mut secrets = Vec::with_capacity(chunk.len());
        for _ in chunk {
            let mut raw = [0u8; 32];
            ring::rand::SystemRandom::new().fill(&mut raw).map_err(|_| anyhow::anyhow!("no randomness"))?;
            secrets.push(format!("tf_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)));
        }
        let values = (0..chunk.len())
            .map(|i| {
                format!("(${}, ${}, 'reporter', ${}, ${}, ${})", i * 5 + 1, i * 5 + 2, i * 5 + 3, i * 5 + 4, i * 5 + 5)
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO api_token (name, token_sha256, role, org_id, created_at, expires_at) VALUES {values} RETURNING id, name"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for ((name, org), secret) in chunk.iter().zip(&secrets) {
            if name.trim().is_empty() {
                bail!("a token needs a name");
            }
            q = q.bind(name.clone()).bind(digest(secret)).bind(*org).bind(now.clone()).bind(expires_at.to_string());
        }
        let mut ids = std::collections::HashMap::new();
        for r in q.fetch_all(&mut *conn).await? {
            ids.insert(r.try_get::<String, _>(1)?, r.try_get::<i64, _>(0)?);
        }
        for ((name, _), secret) in chunk.iter().zip(secrets) {
            let id = *ids.get(name).ok_or_else(|| anyhow::anyhow!("token {name:?} was not created"))?;
            out.push((id, secret));
        }
    }
    Ok(out)
}

/// The principal of a presented token, unless unknown, revoked or expired.
pub async fn authenticate(db: &Db, secret: &str) -> Result<Option<Principal>> {
    let row = sqlx::query(
        "SELECT id, name, role, org_id FROM api_token WHERE token_sha256 = $1 AND revoked_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(digest(secret))
    .bind(crate::time::now())
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let role: String = row.try_get(2)?;
    Ok(Role::parse(&role).map(|role| Principal {
        token_id: row.try_get(0).unwrap_or_default(),
        name: row.try_get(1).unwrap_or_default(),
        role,
        org_id: row.try_get(3).ok().flatten(),
    }))
}

#[derive(Debug, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub org_id: Option<i64>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

pub async fn list(db: &Db) -> Result<Vec<TokenInfo>> {
    let rows = sqlx::query("SELECT id, name, role, org_id, created_at, revoked_at FROM api_token ORDER BY id")
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(TokenInfo {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                role: r.try_get(2)?,
                org_id: r.try_get(3)?,
                created_at: r.try_get(4)?,
                revoked_at: r.try_get(5)?,
            })
        })
        .collect()
}

/// Revokes a token; false when there was no such active token.
pub async fn revoke(db: &Db, id: i64) -> Result<bool> {
    let mut conn = db.pool.acquire().await?;
    revoke_in(&mut conn, id).await
}

/// Revokes a token inside the caller's transaction.
pub async fn revoke_in(conn: &mut sqlx::AnyConnection, id: i64) -> Result<bool> {
    let done = sqlx::query("UPDATE api_token SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(crate::time::now())
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn expired_tokens_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}", dir.path().join("t.db").display())).await.unwrap();
        let (_, live) = create_expiring(&db, "live", Role::Analyst, None, Some("2999-01-01T00:00:00Z")).await.unwrap();
        let (_, old) = create_expiring(&db, "old", Role::Analyst, None, Some("2000-01-01T00:00:00Z")).await.unwrap();
        let (_, never) = create(&db, "never", Role::Analyst, None).await.unwrap();
        assert!(authenticate(&db, &live).await.unwrap().is_some());
        assert!(authenticate(&db, &old).await.unwrap().is_none(), "an expired token is refused");
        assert!(authenticate(&db, &never).await.unwrap().is_some());
    }
}
