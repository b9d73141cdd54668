//! `taskforce probe`: find exposed and unpatched Exchange servers without touching a flaw.
//!
//! For each target (a name, an address, each address of a range, on each port) the probe asks
//! what a browser would ask an Exchange front end — the OWA logon page and, when its build is
//! still incomplete, the ECP export-tool manifest — and reports whether it is Exchange, its
//! build and how precise it is, the product and CU, and the patch status per vulnerability
//! family from the same build table `hunt` uses (`taskforce_builds`). The JSON line schema is
//! documented in this crate's `README.md`.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::sync::Arc;
//! use taskforce_probe::{Options, Prober, TargetList, run};
//!
//! let mut targets = TargetList::new(&[443]);
//! targets.add("192.0.2.0/28").unwrap();
//! let prober = Arc::new(Prober::new(Options::default()).unwrap());
//! let summary = run(&targets, prober, 64, |record| {
//!     println!("{} exchange={} build={:?}", record.target, record.exchange, record.build);
//!     Ok(())
//! }, std::future::pending()).await?;
//! assert_eq!(summary.done, 16);
//! # Ok(()) }
//! ```
//!
//! Modules, in the order a target meets them: [`targets`] (parse and de-duplicate), [`run`]
//! (concurrency and cancellation), [`probe`] (the requests of one target), [`client`] (one
//! HTTP/1.1 session), [`tls`] (certificates), [`limit`] (the global rate), [`fingerprint`]
//! (what the answers say), [`record`] (the result) and [`output`] (JSON lines or CSV).

pub mod client;
pub mod fingerprint;
pub mod limit;
pub mod output;
pub mod probe;
pub mod record;
pub mod run;
pub mod targets;
pub mod tls;

pub use client::{ErrorKind, ProbeError};
pub use output::{Format, RecordWriter};
pub use probe::{Options, Prober, SetupError, default_user_agent};
pub use record::{Record, SCHEMA};
pub use run::{Summary, run, run_until_ctrl_c};
pub use targets::{Host, Scheme, Target, TargetError, TargetList, parse_ports};
