//! `taskforce notify`: decide what is due and to whom (`plan`), render it from templates
//! (`templates`, `message`), keep it in a crash-safe outbox with tickets (`outbox`), deliver it
//! over SMTP (`deliver`, one run at a time per database: `run_lock`), and read delivery status
//! notifications back (`bounces`). The API routes are in `api`; `schedule` sends from inside
//! `taskforce serve`; `xarf` writes the X-ARF v4 attachments.

pub mod api;
pub mod bounces;
pub mod config;
pub mod deliver;
pub mod message;
pub mod outbox;
pub mod plan;
pub mod run_lock;
pub mod schedule;
pub mod templates;
pub mod xarf;

pub use config::NotifyConfig;
