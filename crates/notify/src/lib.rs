//! `taskforce notify`: decide what is due and to whom (`plan`), render it from templates
//! (`templates`, `message`), keep it in a crash-safe outbox with tickets (`outbox`), deliver it
//! over SMTP (`deliver`), and read delivery status notifications back (`bounces`). The API routes
//! are in `api`.

pub mod api;
pub mod bounces;
pub mod config;
pub mod deliver;
pub mod message;
pub mod outbox;
pub mod plan;
pub mod templates;

pub use config::NotifyConfig;
