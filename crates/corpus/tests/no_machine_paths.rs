//! No committed file names a path of one machine (a home directory, a build box's work tree, a
//! temp file): the repository must build, test and read the same in any clone. Windows paths in
//! evidence examples (`C/Users/...`, `C:\root\...`) are data, not machine paths, and are allowed.

use std::path::{Path, PathBuf};

const MACHINE_PREFIXES: &[&str] = &["/work/", "/home/", "/root/", "/tmp/", "/Users/", "/var/folders/", "/mnt/"];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if matches!(name.as_str(), "target" | ".git" | "node_modules") {
            continue; // build output; git's own data (a worktree's `.git` is a file naming its path)
        }
        if path.is_dir() {
            files(&path, out);
        } else if !path.ends_with("crates/corpus/tests/no_machine_paths.rs") {
            out.push(path);
        }
    }
}

/// The offending prefix if `line` holds an absolute path starting at a word boundary (after a
/// space, a quote, `=`, `(` or the start of the line), so `C/Users/...` does not count.
fn machine_path(line: &str) -> Option<&'static str> {
    MACHINE_PREFIXES.iter().copied().find(|prefix| {
        line.match_indices(prefix).any(|(at, _)| {
            at == 0 || matches!(line.as_bytes()[at - 1], b' ' | b'\t' | b'"' | b'\'' | b'=' | b'(' | b'`' | b'[' | b',')
        })
    })
}

#[test]
fn no_absolute_machine_paths_in_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut all = Vec::new();
    files(&root, &mut all);
    let mut found = Vec::new();
    for path in &all {
        let Ok(bytes) = std::fs::read(path) else { continue };
        if bytes.contains(&0) {
            continue; // binary (seeds, samples)
        }
        let text = String::from_utf8_lossy(&bytes);
        for (i, line) in text.lines().enumerate() {
            if let Some(prefix) = machine_path(line) {
                found.push(format!("{}:{}: {prefix}", path.strip_prefix(&root).unwrap_or(path).display(), i + 1));
            }
        }
    }
    assert!(all.len() > 100, "the walk found only {} files", all.len());
    assert!(found.is_empty(), "absolute machine paths in committed files:\n{}", found.join("\n"));
}

#[test]
fn the_check_sees_machine_paths_but_not_windows_evidence_paths() {
    // The examples are assembled at run time, so this file holds no machine path itself.
    let root = |dir: &str| format!("/{dir}/");
    assert_eq!(machine_path(&format!("see {}shared/x", root("work"))), Some(root("work").as_str()));
    assert_eq!(machine_path(&format!("out=\"{}x.json\"", root("tmp"))), Some(root("tmp").as_str()));
    assert_eq!(machine_path(&format!("{}me/x", root("home"))), Some(root("home").as_str()));
    assert_eq!(machine_path("C/Users/Public/x.exe"), None);
    assert_eq!(machine_path("C/root/lsass.dmp"), None);
    assert_eq!(machine_path("../shared/corpus"), None);
}
