//! The Exchange build table and the patch status per vulnerability family.
//!
//! `hunt` (build from the logs), `probe` (build from a remote fingerprint) and the tracking
//! service all have to answer the same question: given an Exchange build, is it fixed for
//! ProxyLogon, ProxyShell and ProxyNotShell? This crate answers it once, from a table that is
//! data (`data/exchange-builds.csv`, transcribed from detections.md section C, and for 2019 CU13
//! through Subscription Edition from Microsoft's release posts and CSS-Exchange; with the SUs and
//! HUs of those releases in `data/exchange-updates.csv`) rather than code.
//!
//! ```
//! use taskforce_builds::{Build, BuildTable, Family, Status};
//!
//! let build: Build = "15.01.2176.009".parse().unwrap();
//! let table = BuildTable::builtin();
//! assert_eq!(table.product(&build).unwrap().name, "Exchange Server 2016 CU19");
//! let patch = table.patch_status(&build);
//! assert_eq!((patch[0].family, patch[0].status), (Family::ProxyLogon, Status::Fixed));
//! assert_eq!(patch[1].status, Status::Vulnerable); // ProxyShell needs 15.1.2176.14
//! ```
//!
//! Rules (section C): a build belongs to its CU by major.minor.build, and an SU only raises the
//! 4th part, so within a CU a family is fixed when the CU contains the fix or the revision
//! reaches that CU's SU build. A CU for which no SU was released stays vulnerable until upgraded.
//! A 3-part build cannot show the SU, so such a threshold gives `unknown`.

mod build;
mod family;
mod table;

pub use build::{Build, ParseBuildError, Precision};
pub use family::{Family, FamilyStatus, Status};
pub use table::{BuildTable, Product, TableError, Update};
