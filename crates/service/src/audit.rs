//! The audit log's one writer. It takes any executor so a change and the audit row that records
//! it commit together (a transaction), or not at all.

use sqlx::{Any, Executor};

/// Appends one audit row: who (`role:name`), what, on which object, before and after.
pub async fn record<'e>(
    exec: impl Executor<'e, Database = Any>,
    actor: &str,
    action: &str,
    object_type: &str,
    object_id: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO audit_log (at, actor, action, object_type, object_id, before_json, after_json) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(crate::time::now())
        .bind(actor.to_string())
        .bind(action.to_string())
        .bind(object_type.to_string())
        .bind(object_id.to_string())
        .bind(before.map(|v| v.to_string()))
        .bind(after.map(|v| v.to_string()))
        .execute(exec)
        .await?;
    Ok(())
}
