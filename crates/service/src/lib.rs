//! The task force's tracking service: storage (SQLite or PostgreSQL), ingestion of feeds,
//! probe results and hunt reports, enrichment from offline files, the two-axis state model
//! with its history, and the HTTP API.
//!
//! Data flow: `ingest` (file → `feeds` parser → `store` batches, enriched by `enrich`, states
//! from `state`) → database (`db`) ← `api` (axum) reads it and records analysts' changes.

pub mod api;
pub mod audit;
pub mod bulk;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod enrich;
pub mod feeds;
pub mod ingest;
pub mod jobs;
pub mod orgs_import;
pub mod provenance;
pub mod query;
pub mod records;
pub mod server;
pub mod state;
pub mod store;
pub mod summary;
pub mod time;
pub mod tokens;
pub mod writer;

pub use config::Config;
pub use db::Db;
