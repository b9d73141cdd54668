//! The targets, one module per parser family. Each `run` function feeds one input to the parser
//! the way the product does and checks what can be checked of the answer (errors carry a reason,
//! skipped rows a line and a message).

#[cfg(feature = "service")]
mod enrich;
mod events;
mod evidence;
#[cfg(feature = "service")]
mod feeds;
mod logs;

use std::cell::RefCell;
use std::path::PathBuf;

use crate::Target;

const MIB: usize = 1 << 20;

/// Every target, in the order `docs/fuzzing.md` lists them.
pub static TARGETS: &[Target] = &[
    logs::W3C,
    logs::EXCHANGE_CSV,
    events::EVENT_JSONL,
    events::EVTX,
    evidence::ZIP,
    evidence::GZ,
    #[cfg(feature = "service")]
    feeds::SHADOWSERVER,
    #[cfg(feature = "service")]
    feeds::INTELMQ,
    #[cfg(feature = "service")]
    feeds::PROBE,
    #[cfg(feature = "service")]
    feeds::HUNT_REPORT,
    #[cfg(feature = "service")]
    enrich::ORGS_CSV,
    #[cfg(feature = "service")]
    enrich::ASN_TEXT,
    #[cfg(feature = "service")]
    enrich::MMDB,
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

thread_local! {
    /// One scratch directory per thread: the service's parsers read files by path.
    static SCRATCH: RefCell<Option<tempfile::TempDir>> = const { RefCell::new(None) };
}

/// Writes `data` to `name` in this thread's scratch directory (replacing the previous case's).
fn scratch_file(name: &str, data: &[u8]) -> PathBuf {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        let dir = s.get_or_insert_with(|| tempfile::tempdir().expect("a scratch directory"));
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("scratch subdirectory");
        }
        std::fs::write(&path, data).expect("writing a scratch file");
        path
    })
}

/// A fresh empty directory in this thread's scratch directory.
fn scratch_dir(name: &str) -> PathBuf {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        let dir = s.get_or_insert_with(|| tempfile::tempdir().expect("a scratch directory"));
        let path = dir.path().join(name);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("scratch subdirectory");
        path
    })
}

/// Lines of text shared by the generators: real-format rows with the odd cells evidence holds.
const ODD_CELLS: &[&str] = &[
    "",
    "\"",
    "\"\"",
    "\"a,b\"",
    "-",
    "=1+2",
    "\u{feff}",
    "\u{0}",
    "é",
    "\u{202e}gpj.aspx",
    "%2e%2e%2f",
    "%",
    "2021-03-03T04:21:12.345Z",
    "9999-99-99T99:99:99Z",
    "1970-01-01 00:00:00",
    "203.0.113.7",
    "::ffff:203.0.113.7",
    "2001:db8::1",
    "999.1.1.1",
    "15.1.2176.2",
    "15.02.1118.040",
    "18446744073709551616",
    "-1",
    "AS64496",
    "/owa/auth/x.js",
    "/ecp/DDI/DDIService.svc/SetObject",
    "autodiscover/autodiscover.json?@evil.example/mapi/nspi",
    "X-BEResource=localhost~1942062522",
];
