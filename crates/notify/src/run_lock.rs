//! One notification run (plan + send) at a time per database, across processes: `taskforce serve`'s
//! schedule, its API and a `taskforce notify send` from cron must never plan the same
//! organisation twice or pick the same outbox row together.
//!
//! The lock dies with its holder, so a run killed with SIGKILL never blocks the next one:
//! PostgreSQL holds a session-level advisory lock on a connection kept for the run (the server
//! drops it when the connection closes); SQLite holds an exclusive `flock` on a file beside the
//! database (the kernel drops it when the process ends).

use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::Row;
use taskforce_service::Db;
use taskforce_service::db::Dialect;

/// The advisory lock key of notification runs (7201 is the write lock of `Db::lock_for_write`).
const PG_KEY: i64 = 7202;

/// A held run lock; [`RunLock::release`] gives it back (dropping it does too).
pub struct RunLock {
    held: Held,
}

enum Held {
    Pg(Option<sqlx::pool::PoolConnection<sqlx::Any>>),
    File(#[allow(dead_code)] std::fs::File),
    /// An in-memory SQLite database: no other process can open it.
    Nothing,
}

/// The lock file of a SQLite database (`<database>.notify-lock`), or `None` in memory.
async fn sqlite_lock_path(db: &Db) -> Result<Option<std::path::PathBuf>> {
    let file: Option<String> = sqlx::query("SELECT file FROM pragma_database_list WHERE name = 'main'")
        .fetch_optional(&db.pool)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    Ok(file.filter(|f| !f.is_empty()).map(|f| std::path::PathBuf::from(format!("{f}.notify-lock"))))
}

/// Takes the lock if nobody holds it.
pub async fn try_acquire(db: &Db) -> Result<Option<RunLock>> {
    match db.dialect {
        Dialect::Postgres => {
            let mut conn = db.pool.acquire().await?;
            let got: bool =
                sqlx::query("SELECT pg_try_advisory_lock($1)").bind(PG_KEY).fetch_one(&mut *conn).await?.try_get(0)?;
            Ok(got.then(|| RunLock { held: Held::Pg(Some(conn)) }))
        }
        Dialect::Sqlite => {
            let Some(path) = sqlite_lock_path(db).await? else { return Ok(Some(RunLock { held: Held::Nothing })) };
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .with_context(|| format!("cannot open the notification lock file {}", path.display()))?;
            match file.try_lock() {
                Ok(()) => Ok(Some(RunLock { held: Held::File(file) })),
                Err(std::fs::TryLockError::WouldBlock) => Ok(None),
                Err(std::fs::TryLockError::Error(e)) => {
                    Err(e).with_context(|| format!("cannot lock {}", path.display()))
                }
            }
        }
    }
}

/// Waits for the lock (another run finishes first).
pub async fn acquire(db: &Db) -> Result<RunLock> {
    let mut told = false;
    loop {
        if let Some(l) = try_acquire(db).await? {
            return Ok(l);
        }
        if !told {
            tracing::info!("another notification run is in progress; waiting for it to finish");
            told = true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

impl RunLock {
    /// Gives the lock back (the PostgreSQL connection returns to the pool).
    pub async fn release(mut self) {
        if let Held::Pg(conn) = &mut self.held
            && let Some(mut c) = conn.take()
        {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)").bind(PG_KEY).execute(&mut *c).await;
            if unlocked.is_err() {
                // Closing the session releases it.
                drop(c.detach());
            }
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Not released (an error or a panic on the way): close the session, which drops the lock,
        // rather than return a connection that still holds it to the pool.
        if let Held::Pg(conn) = &mut self.held
            && let Some(c) = conn.take()
        {
            drop(c.detach());
        }
    }
}
