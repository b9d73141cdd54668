//! The `taskforce.hunt.v1` report model and its renderers (table for people, JSON / JSONL / CSV
//! for machines).

pub mod model;
pub mod render;

pub use model::*;
pub use render::{OutputFormat, render};
