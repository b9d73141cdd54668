//! Which rule sets a run used, for the report (`rule_sets`), and which of them failed to load.
//!
//! A hunt that silently ran without the rules it was given is worse than no hunt: the report
//! records every set (built-in content and each folder the user named) with how many rules
//! loaded, how many did not, and a hash of the files, and the run refuses to go on when a set
//! failed to load unless the user says so.

use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};
use sha2::{Digest, Sha256};
use taskforce_report::RuleSetUsed;
use taskforce_rules::RuleSet;
use taskforce_sigma::SigmaSet;

/// The built-in content, as embedded in the binary (hashed for the report).
static BUILTIN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../rules");

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct Requested {
    pub builtin: bool,
    pub hunt_dirs: Vec<PathBuf>,
    pub sigma_dirs: Vec<PathBuf>,
    pub yara_dirs: Vec<PathBuf>,
    pub ioc_dirs: Vec<PathBuf>,
}

/// What the loaders gave.
pub struct Loaded<'a> {
    pub rules: &'a RuleSet,
    pub sigma: &'a SigmaSet,
    /// The file sweep's rules and IOC entries per origin ([`taskforce_files::Sweep::loaded_by_origin`]).
    pub sweep_loaded: &'a std::collections::BTreeMap<String, usize>,
    pub sweep_problems: &'a [taskforce_files::LoadProblem],
}

/// The inventory of a run, and the load failures that should stop it.
#[derive(Debug, Default)]
pub struct Inventory {
    pub sets: Vec<RuleSetUsed>,
    /// `PATH: reason`, one per path that does not exist and per rule, file or line that failed.
    pub errors: Vec<String>,
}

/// Skips that are by design, not failures: content the hunt deliberately does not use.
fn by_design(reason: &str) -> bool {
    reason.starts_with("not used:")
        || reason.ends_with(": not used")
        || reason.ends_with("not used by the file sweep")
        || reason.contains("rules are not evaluated by hunt")
        || reason.contains("rules are not applied by hunt")
}

/// True when `origin` (a rule's file, or a problem's path) lies in `path`.
fn within(origin: &str, path: &str) -> bool {
    let path = path.trim_end_matches(['/', '\\']);
    origin == path || origin.strip_prefix(path).is_some_and(|rest| rest.starts_with(['/', '\\']))
}

pub fn inventory(requested: &Requested, loaded: &Loaded<'_>) -> Inventory {
    let mut inv = Inventory::default();
    let mut missing: Vec<String> = Vec::new();
    for dir in
        requested.hunt_dirs.iter().chain(&requested.sigma_dirs).chain(&requested.yara_dirs).chain(&requested.ioc_dirs)
    {
        if !dir.exists() {
            inv.errors.push(format!("{}: does not exist", dir.display()));
            missing.push(dir.display().to_string());
        }
    }
    let hunt_origins: Vec<&str> = loaded.rules.rules().iter().map(|r| r.meta.origin.as_str()).collect();
    let hunt_problems: Vec<(&str, &str)> =
        loaded.rules.problems.iter().map(|p| (p.path.as_str(), p.reason.as_str())).collect();
    let sigma_origins: Vec<&str> = loaded.sigma.rules().iter().map(|r| r.origin.as_str()).collect();
    let sigma_problems: Vec<(&str, &str)> =
        loaded.sigma.skipped.iter().map(|s| (s.path.as_str(), s.reason.as_str())).collect();
    let sweep_problems: Vec<(&str, &str)> =
        loaded.sweep_problems.iter().map(|p| (p.path.as_str(), p.reason.as_str())).collect();
    let sweep_count = |path: &str| -> u64 {
        loaded.sweep_loaded.iter().filter(|(o, _)| within(o, path)).map(|(_, n)| *n as u64).sum()
    };
    let count = |origins: &[&str], path: &str| origins.iter().filter(|o| within(o, path)).count() as u64;

    let mut add = |kind: &str, path: String, prefix: &str, loaded: u64, problems: &[(&str, &str)], sha256: String| {
        let mine: Vec<&(&str, &str)> = problems.iter().filter(|(p, _)| within(p, prefix)).collect();
        for (p, reason) in &mine {
            if !by_design(reason) && !missing.iter().any(|m| within(p, m)) {
                inv.errors.push(format!("{p}: {reason}"));
            }
        }
        inv.sets.push(RuleSetUsed { kind: kind.into(), path, loaded, skipped: mine.len() as u64, sha256 });
    };
    if requested.builtin {
        let b = |sub: &str| format!("builtin:rules/{sub}");
        add(
            "hunt",
            "builtin".into(),
            &b("hunt"),
            count(&hunt_origins, &b("hunt")),
            &hunt_problems,
            embedded_hash("hunt"),
        );
        add(
            "sigma",
            "builtin".into(),
            &b("sigma"),
            count(&sigma_origins, &b("sigma")),
            &sigma_problems,
            embedded_hash("sigma"),
        );
        if cfg!(feature = "yara") {
            add(
                "yara",
                "builtin".into(),
                &b("files/yara"),
                sweep_count(&b("files/yara")),
                &sweep_problems,
                embedded_hash("files/yara"),
            );
        }
        add(
            "names",
            "builtin".into(),
            &b("files/iocs"),
            sweep_count(&b("files/iocs")),
            &sweep_problems,
            embedded_hash("files/iocs"),
        );
    }
    for dir in &requested.hunt_dirs {
        let p = dir.display().to_string();
        add("hunt", p.clone(), &p, count(&hunt_origins, &p), &hunt_problems, disk_hash(dir, &["yml", "yaml"]));
    }
    for dir in &requested.sigma_dirs {
        let p = dir.display().to_string();
        add("sigma", p.clone(), &p, count(&sigma_origins, &p), &sigma_problems, disk_hash(dir, &["yml", "yaml"]));
    }
    for dir in &requested.yara_dirs {
        let p = dir.display().to_string();
        add("yara", p.clone(), &p, sweep_count(&p), &sweep_problems, disk_hash(dir, &["yar", "yara"]));
    }
    for dir in &requested.ioc_dirs {
        let p = dir.display().to_string();
        add("iocs", p.clone(), &p, sweep_count(&p), &sweep_problems, disk_hash(dir, &[]));
    }
    inv
}

/// One file into the digest: its path relative to the set, a NUL, its length, its bytes.
fn feed(hasher: &mut Sha256, rel: &str, bytes: &[u8]) {
    hasher.update(rel.as_bytes());
    hasher.update([0u8]);
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The embedded folder `rules/<sub>`, every file, in path order.
fn embedded_hash(sub: &str) -> String {
    fn walk<'a>(dir: &'a Dir<'a>, out: &mut Vec<&'a include_dir::File<'a>>) {
        out.extend(dir.files());
        for d in dir.dirs() {
            walk(d, out);
        }
    }
    let mut files = Vec::new();
    if let Some(dir) = BUILTIN.get_dir(sub) {
        walk(dir, &mut files);
    }
    files.sort_by_key(|f| f.path());
    let mut hasher = Sha256::new();
    for f in files {
        let rel = f.path().strip_prefix(sub).unwrap_or(f.path());
        feed(&mut hasher, &rel.to_string_lossy().replace('\\', "/"), f.contents());
    }
    hex(&hasher.finalize())
}

/// The files of a user folder (or the file itself) with one of `extensions` (all files when
/// empty), in path order; unreadable files count by name only.
fn disk_hash(path: &Path, extensions: &[&str]) -> String {
    let mut files = Vec::new();
    if path.is_file() {
        files.push(path.to_path_buf());
    } else {
        let mut stack = vec![path.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let p = entry.path();
                match entry.file_type() {
                    Ok(t) if t.is_dir() => stack.push(p),
                    Ok(t) if t.is_file() => files.push(p),
                    _ => {}
                }
            }
        }
    }
    files.retain(|f| {
        extensions.is_empty()
            || f.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.iter().any(|x| e.eq_ignore_ascii_case(x)))
    });
    files.sort();
    let mut hasher = Sha256::new();
    for f in &files {
        let rel = f.strip_prefix(path).unwrap_or(f).to_string_lossy().replace('\\', "/");
        feed(&mut hasher, &rel, &std::fs::read(f).unwrap_or_default());
    }
    hex(&hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_origins() {
        assert!(within("/r/a.yml", "/r"));
        assert!(!within("/r2/a.yml", "/r"));
        assert!(within("r/a.yml", "r/"));
        assert!(within("builtin:rules/hunt/IIS/x.yml", "builtin:rules/hunt"));
        assert!(by_design("not used: network/keyword IOC list"));
        assert!(by_design("correlation rules are not evaluated by hunt (one event at a time)"));
        assert!(!by_design("these filename IOCs did not compile together and are not used: x"));
        assert!(!by_design("invalid rule YAML: x"));
    }

    #[test]
    fn the_hash_follows_the_content_not_the_clock() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.yml"), "id: b").unwrap();
        std::fs::write(dir.path().join("a.yml"), "id: a").unwrap();
        std::fs::write(dir.path().join("notes.md"), "ignored").unwrap();
        let first = disk_hash(dir.path(), &["yml"]);
        assert_eq!(first, disk_hash(dir.path(), &["yml"]));
        std::fs::write(dir.path().join("notes.md"), "still ignored").unwrap();
        assert_eq!(first, disk_hash(dir.path(), &["yml"]));
        std::fs::write(dir.path().join("a.yml"), "id: A").unwrap();
        assert_ne!(first, disk_hash(dir.path(), &["yml"]));
        assert_eq!(embedded_hash("hunt").len(), 64);
        assert_ne!(embedded_hash("hunt"), embedded_hash("sigma"));
    }
}
