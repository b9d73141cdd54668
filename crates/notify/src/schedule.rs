//! Scheduled sending inside `taskforce serve` (`schedule_secs` in the `[notify]` table): every
//! tick plans and sends what is due, exactly like `taskforce notify send`. A tick never overlaps
//! another run — the API's send in this process, or a `notify send` elsewhere on the same
//! database — it is skipped instead. A failing run (the SMTP server down, the database away) is
//! logged and audited, and the next tick tries again; temporary SMTP failures wait in the outbox
//! for their retry time.

use std::time::Duration;

use serde_json::json;
use taskforce_service::Db;

use crate::api::NotifyState;
use crate::deliver;

/// Who scheduled runs are in the audit log.
pub const ACTOR: &str = "system:notify-schedule";

/// What one tick did.
#[derive(Debug)]
pub enum Tick {
    Ran(Box<deliver::SendReport>),
    /// Another run held the lock (named: `this process` or `another process`).
    Skipped(&'static str),
    Failed(String),
}

/// One scheduled run, if nothing else is running.
pub async fn tick(db: &Db, n: &NotifyState) -> Tick {
    let Ok(_one) = n.sending.try_lock() else { return Tick::Skipped("this process") };
    let outcome = match deliver::send_if_idle(db, &n.config, &n.templates, None).await {
        Ok(Some(r)) => Tick::Ran(Box::new(r)),
        Ok(None) => Tick::Skipped("another process"),
        Err(e) => Tick::Failed(format!("{e:#}")),
    };
    let audited = match &outcome {
        Tick::Ran(r) => {
            tracing::info!(
                tickets = r.enqueued.len(),
                sent = r.sent,
                deferred = r.deferred,
                failed = r.failed,
                no_contact = r.no_contact,
                "scheduled notification run"
            );
            taskforce_service::audit::record(
                &db.pool,
                ACTOR,
                "send",
                "notification",
                "schedule",
                None,
                Some(r.audit_summary()),
            )
            .await
        }
        Tick::Skipped(by) => {
            tracing::info!("scheduled notification run skipped: a run is in progress in {by}");
            Ok(())
        }
        Tick::Failed(error) => {
            tracing::warn!(%error, "scheduled notification run failed; the next tick tries again");
            taskforce_service::audit::record(
                &db.pool,
                ACTOR,
                "send_failed",
                "notification",
                "schedule",
                None,
                Some(json!({"error": error})),
            )
            .await
        }
    };
    if let Err(e) = audited {
        tracing::warn!(error = %format!("{e:#}"), "could not audit the scheduled notification run");
    }
    outcome
}

/// Runs [`tick`] every `every` (the first at once) until the task is dropped with the server.
pub fn spawn(db: Db, n: NotifyState, every: Duration) -> tokio::task::JoinHandle<()> {
    tracing::info!(every_secs = every.as_secs_f64(), "notifications are sent on a schedule");
    tokio::spawn(async move {
        let mut timer = tokio::time::interval(every);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            timer.tick().await;
            tick(&db, &n).await;
        }
    })
}
