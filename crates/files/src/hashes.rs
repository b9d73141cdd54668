//! Hash IOCs: the built-in list (`rules/files/iocs/hashes.txt`) and user lists in
//! signature-base's `hash;comment` format (MD5, SHA-1 or SHA-256) or Microsoft's MSTIC feed CSV.

use std::collections::HashMap;

use crate::LoadProblem;

pub(crate) const BUILTIN_HASHES: &str = include_str!("../../../rules/files/iocs/hashes.txt");

#[derive(Debug, Clone)]
pub(crate) struct HashEntry {
    pub comment: String,
    /// `builtin:…` or the user file.
    pub list: String,
    pub builtin: bool,
}

#[derive(Debug, Default)]
pub(crate) struct HashIocs {
    /// Lowercase hex → entry (the first list naming a hash wins).
    map: HashMap<String, HashEntry>,
    md5: bool,
    sha1: bool,
}

impl HashIocs {
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The list each hash IOC came from, one entry per hash.
    pub(crate) fn origins(&self) -> impl Iterator<Item = &str> {
        self.map.values().map(|e| e.list.as_str())
    }

    /// Whether any MD5 (32 hex) or SHA-1 (40 hex) IOC is loaded, so those digests are computed.
    pub(crate) fn wants_md5(&self) -> bool {
        self.md5
    }

    pub(crate) fn wants_sha1(&self) -> bool {
        self.sha1
    }

    pub(crate) fn get(&self, hex: &str) -> Option<&HashEntry> {
        self.map.get(hex)
    }

    /// Adds a `HASH;COMMENT` list (`#` comment lines, blank lines ignored; the comment is optional).
    pub(crate) fn add_list(&mut self, text: &str, source: &str, builtin: bool, problems: &mut Vec<LoadProblem>) {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim().trim_start_matches('\u{feff}');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (hash, comment) = line.split_once(';').unwrap_or((line, ""));
            let hash = hash.trim().to_ascii_lowercase();
            if !is_hash(&hash) {
                problems.push(LoadProblem {
                    path: source.into(),
                    rule: Some(format!("line {}", i + 1)),
                    reason: format!("not an MD5, SHA-1 or SHA-256 hex digest: {:?}", truncate(&hash, 80)),
                });
                continue;
            }
            entries.push((hash, comment.trim().to_string()));
        }
        self.add_entries(entries, source, builtin);
    }

    pub(crate) fn add_entries(&mut self, entries: Vec<(String, String)>, source: &str, builtin: bool) {
        for (hash, comment) in entries {
            match hash.len() {
                32 => self.md5 = true,
                40 => self.sha1 = true,
                _ => {}
            }
            self.map.entry(hash).or_insert_with(|| HashEntry { comment, list: source.into(), builtin });
        }
    }
}

/// `(value, note)` pairs: (hash, comment) or (file path, date added).
pub(crate) type Pairs = Vec<(String, String)>;

/// Splits an MSTIC feed CSV (`DateAdded,FirstSeen,Indicator,IndicatorType,TLP`) into hash entries
/// (hash, comment) and file paths (path, date added).
pub(crate) fn split_mstic_csv(text: &str, source: &str, problems: &mut Vec<LoadProblem>) -> (Pairs, Pairs) {
    let mut hashes = Vec::new();
    let mut paths = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        // The indicator may be a path with commas; the type and TLP are the last two fields.
        let mut tail = line.rsplitn(3, ',');
        let _tlp = tail.next();
        let kind = tail.next().unwrap_or_default().trim().to_ascii_lowercase();
        let head = tail.next().unwrap_or_default();
        let mut head = head.splitn(3, ',');
        let date = head.next().unwrap_or_default().trim().to_string();
        let _first_seen = head.next();
        let indicator = head.next().unwrap_or_default().trim().trim_matches('"').to_string();
        match kind.as_str() {
            "sha256" | "md5" | "sha1" if is_hash(&indicator.to_ascii_lowercase()) => {
                hashes.push((indicator.to_ascii_lowercase(), format!("MSTIC feed, added {date}")))
            }
            "filepath" => paths.push((indicator, date)),
            _ => problems.push(LoadProblem {
                path: source.into(),
                rule: Some(format!("line {}", i + 1)),
                reason: format!("indicator type {kind:?} not used by the file sweep"),
            }),
        }
    }
    (hashes, paths)
}

fn is_hash(s: &str) -> bool {
    matches!(s.len(), 32 | 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_list_parses_cleanly() {
        let mut set = HashIocs::default();
        let mut problems = Vec::new();
        set.add_list(BUILTIN_HASHES, "builtin", true, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(set.len(), 20);
        assert!(!set.wants_md5() && !set.wants_sha1());
        let e = set.get("b75f163ca9b9240bf4b37ad92bc7556b40a17e27c2b8ed5c8991385fe07d17d0").unwrap();
        assert!(e.builtin && e.comment.contains("HAFNIUM"));
    }

    #[test]
    fn bad_lines_are_reported_not_fatal() {
        let mut set = HashIocs::default();
        let mut problems = Vec::new();
        set.add_list(
            "# c\nxyz;bad\nd41d8cd98f00b204e9800998ecf8427e;empty file md5\n\n",
            "u.txt",
            false,
            &mut problems,
        );
        assert_eq!(set.len(), 1);
        assert!(set.wants_md5());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].rule.as_deref(), Some("line 2"));
    }
}
