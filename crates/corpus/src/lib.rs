//! Tests that read the shared test corpus (`../shared/corpus` beside the repository: real logs,
//! EVTX samples, SigmaHQ and signature-base, which are never copied into the project) use this
//! crate to find it. A clean clone has no corpus, so such a test cannot run there; it must say
//! so instead of passing in silence:
//!
//! * without the corpus it prints `skipped: <test>: <path> not present` and returns `None`;
//! * with `TASKFORCE_REQUIRE_CORPUS=1` (set by `.ci/run`) it panics instead, so a CI run where
//!   the corpus went missing fails rather than reports tests that tested nothing.
//!
//! `TASKFORCE_TEST_CORPUS=/elsewhere` points at another copy.

use std::path::{Path, PathBuf};

/// Where the corpus is expected: `TASKFORCE_TEST_CORPUS`, else `../shared/corpus` from the
/// workspace root.
pub fn location() -> PathBuf {
    match std::env::var_os("TASKFORCE_TEST_CORPUS") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
    }
}

/// True when `TASKFORCE_REQUIRE_CORPUS=1`.
pub fn required() -> bool {
    std::env::var_os("TASKFORCE_REQUIRE_CORPUS").is_some_and(|v| v == "1")
}

/// The corpus directory, or `None` after printing why `test` is skipped.
///
/// # Panics
///
/// When the corpus is absent and `TASKFORCE_REQUIRE_CORPUS=1`.
pub fn dir(test: &str) -> Option<PathBuf> {
    path(test, "")
}

/// `relative` inside the corpus (a file or a folder), or `None` after printing why `test` is
/// skipped.
///
/// # Panics
///
/// When it is absent and `TASKFORCE_REQUIRE_CORPUS=1`.
pub fn path(test: &str, relative: &str) -> Option<PathBuf> {
    let root = location();
    let path = if relative.is_empty() { root } else { root.join(relative) };
    if path.exists() {
        return Some(path);
    }
    let message = format!("{test}: {} not present", path.display());
    if required() {
        panic!("TASKFORCE_REQUIRE_CORPUS=1 but {message}");
    }
    eprintln!("skipped: {message} (TASKFORCE_REQUIRE_CORPUS=1 makes this a failure)");
    None
}
