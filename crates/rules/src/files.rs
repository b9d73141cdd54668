//! Finding rule files: in a folder embedded in the binary, and in the folders (or single files)
//! a user names. Shared by the line rules and the Sigma rules.

use std::io;
use std::path::{Path, PathBuf};

use include_dir::{Dir, File};

/// `*.yml` and `*.yaml`.
pub fn is_rule_file(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"))
}

/// Rule files of an embedded folder, recursively, sorted by path.
pub fn embedded<'a>(dir: &'a Dir<'a>) -> Vec<&'a File<'a>> {
    fn walk<'a>(dir: &'a Dir<'a>, out: &mut Vec<&'a File<'a>>) {
        out.extend(dir.files().filter(|f| is_rule_file(f.path())));
        for sub in dir.dirs() {
            walk(sub, out);
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort_by_key(|f| f.path());
    out
}

/// Rule files under `path` (recursively), sorted; a file path is taken as it is.
pub fn on_disk(path: &Path) -> io::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if is_rule_file(&path) {
                out.push(path);
            }
        }
        Ok(())
    }
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    walk(path, &mut out)?;
    out.sort();
    Ok(out)
}
