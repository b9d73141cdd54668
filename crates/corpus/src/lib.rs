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
    match lookup(&location(), test, relative, required()) {
        Ok(found) => found,
        Err(message) => panic!("{message}"),
    }
}

/// `Ok(Some(path))` when present; `Ok(None)` after printing the skip; `Err` when it is absent
/// but required.
fn lookup(root: &Path, test: &str, relative: &str, required: bool) -> Result<Option<PathBuf>, String> {
    let path = if relative.is_empty() { root.to_path_buf() } else { root.join(relative) };
    if path.exists() {
        return Ok(Some(path));
    }
    let message = format!("{test}: {} not present", path.display());
    if required {
        return Err(format!("TASKFORCE_REQUIRE_CORPUS=1 but {message}"));
    }
    eprintln!("skipped: {message} (TASKFORCE_REQUIRE_CORPUS=1 makes this a failure)");
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_corpus_skips_or_fails_when_required() {
        let dir = std::env::temp_dir();
        let missing = dir.join("taskforce-corpus-that-does-not-exist");
        assert_eq!(lookup(&missing, "t", "x.evtx", false), Ok(None));
        let err = lookup(&missing, "some_test", "x.evtx", true).unwrap_err();
        assert!(
            err.contains("some_test") && err.contains("x.evtx") && err.contains("TASKFORCE_REQUIRE_CORPUS"),
            "{err}"
        );
        assert_eq!(lookup(&dir, "t", "", true), Ok(Some(dir.clone())));
    }
}
