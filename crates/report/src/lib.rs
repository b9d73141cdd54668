//! The `taskforce.hunt.v1` report model and its renderers: a table and a self-contained HTML page
//! for people; JSON / JSONL / CSV for machines; STIX 2.1, MISP and Timesketch for the tools
//! responders share indicators and timelines with.

pub mod accounts;
pub mod html;
pub mod indicators;
pub mod misp;
pub mod model;
pub mod render;
pub mod stix;
pub mod stream;
mod time;
pub mod timesketch;

pub use model::*;
pub use render::{OutputFormat, render};
