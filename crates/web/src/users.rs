//! People who log in to the dashboard: a name, a role as in the API (admin, analyst, reporter
//! bound to one organisation) and an argon2id password hash. Created by an admin (`taskforce user
//! create` or the users page); disabled rather than deleted, so the audit log keeps its meaning.

use anyhow::{Result, bail};
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use ring::rand::SecureRandom;
use serde::Serialize;
use sqlx::Row;
use taskforce_service::Db;
use taskforce_service::tokens::Role;

/// Shortest password accepted (long passphrases beat complexity rules).
pub const MIN_PASSWORD_CHARS: usize = 12;

fn hash(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut salt).map_err(|_| anyhow::anyhow!("no randomness"))?;
    let h = Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
    Ok(h.to_string())
}

/// Creates a user; returns its id.
pub async fn create(db: &Db, name: &str, role: Role, org_id: Option<i64>, password: &str) -> Result<i64> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        bail!("a user needs a name (1 to 100 printable characters)");
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        bail!("the password must have at least {MIN_PASSWORD_CHARS} characters");
    }
    match (role, org_id) {
        (Role::Reporter, None) => bail!("a reporter must be bound to an organisation"),
        (Role::Admin | Role::Analyst, Some(_)) => bail!("only reporters are bound to an organisation"),
        _ => {}
    }
    if let Some(org) = org_id
        && taskforce_service::query::org_summary(db, org).await?.is_none()
    {
        bail!("no organisation {org}");
    }
    let row = sqlx::query(
        "INSERT INTO web_user (name, password_hash, role, org_id, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(name.to_string())
    .bind(hash(password)?)
    .bind(role.as_str())
    .bind(org_id)
    .bind(taskforce_service::time::now())
    .fetch_one(&db.pool)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.message().to_ascii_lowercase().contains("unique") => {
            anyhow::anyhow!("a user named {name:?} exists already")
        }
        _ => e.into(),
    })?;
    Ok(row.try_get(0)?)
}

/// The id of an enabled user whose password matches. An unknown name costs the same hashing
/// time as a wrong password, so timing does not tell which names exist.
pub async fn verify(db: &Db, name: &str, password: &str) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT id, password_hash FROM web_user WHERE name = $1 AND disabled_at IS NULL")
        .bind(name.trim().to_string())
        .fetch_optional(&db.pool)
        .await?;
    let (id, stored) = match row {
        Some(r) => (Some(r.try_get::<i64, _>(0)?), r.try_get::<String, _>(1)?),
        None => (None, dummy_hash().to_string()),
    };
    let password = password.to_string();
    let ok = tokio::task::spawn_blocking(move || {
        Argon2::default().verify_password(password.as_bytes(), stored.as_str()).is_ok()
    })
    .await?;
    Ok(if ok { id } else { None })
}

fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("not a password anyone has").unwrap_or_default())
}

#[derive(Debug, Serialize)]
pub struct UserInfo {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub org_id: Option<i64>,
    pub created_at: String,
    pub disabled_at: Option<String>,
}

pub async fn list(db: &Db) -> Result<Vec<UserInfo>> {
    sqlx::query("SELECT id, name, role, org_id, created_at, disabled_at FROM web_user ORDER BY id")
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(UserInfo {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                role: r.try_get(2)?,
                org_id: r.try_get(3)?,
                created_at: r.try_get(4)?,
                disabled_at: r.try_get(5)?,
            })
        })
        .collect()
}

/// Disables a user and ends its sessions; false when there was no such enabled user.
pub async fn disable(db: &Db, id: i64) -> Result<bool> {
    let done = sqlx::query("UPDATE web_user SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL")
        .bind(taskforce_service::time::now())
        .bind(id)
        .execute(&db.pool)
        .await?;
    sqlx::query("DELETE FROM web_session WHERE user_id = $1").bind(id).execute(&db.pool).await?;
    Ok(done.rows_affected() == 1)
}
