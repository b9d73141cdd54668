//! One file through the sweep: names, then one streaming read that hashes and buffers (up to the
//! content limit), then YARA, the IIS configuration check and the ExSetup.exe version.

use std::io::{ErrorKind, Read};

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use taskforce_report::{Effect, Severity, Stage};

use crate::area::{Area, locate, web_path};
use crate::names::is_script_page;
use crate::{FileHit, FileResult, HitKind, RuleMeta, Sweep};

const CHUNK: usize = 256 << 10;

/// Scans files for one thread. Create with [`Sweep::scanner`]; reuse for many files.
pub struct FileScanner<'s> {
    sweep: &'s Sweep,
    buf: Vec<u8>,
    chunk: Vec<u8>,
    #[cfg(feature = "yara")]
    yara: Option<yara_x::Scanner<'s>>,
}

impl<'s> FileScanner<'s> {
    pub(crate) fn new(sweep: &'s Sweep) -> FileScanner<'s> {
        FileScanner {
            sweep,
            buf: Vec::new(),
            chunk: vec![0; CHUNK],
            #[cfg(feature = "yara")]
            yara: sweep.yara.as_ref().map(|y| y.scanner()),
        }
    }

    /// Sweeps one file.
    ///
    /// - `path`: the normalised evidence path (forward slashes, any root), as given to
    ///   [`Sweep::in_scope`]; `area`: what `in_scope` returned.
    /// - `size`: the declared size. Over `max_hash_size`, nothing is read (`skipped_for_size`);
    ///   the limits are also enforced on the bytes actually read, so a lying size cannot stall.
    /// - `modified`: the file time (Unix seconds) if known; reported in the hits' detail.
    /// - `content`: the file's bytes (a file, a zip member reader, …).
    ///
    /// Never panics on bad input; a read error is returned in `error` with the hits so far.
    pub fn scan(
        &mut self,
        path: &str,
        area: Area,
        size: u64,
        modified: Option<i64>,
        content: &mut dyn Read,
    ) -> FileResult {
        let sweep = self.sweep;
        let loc = locate(path).filter(|l| l.area == area);
        let rel = match &loc {
            Some(l) => l.rel,
            None => path.rsplit('/').next().unwrap_or(path),
        };
        let mut result = FileResult::default();
        let mut hits = sweep.names.check(path, area, rel);

        let mut content_ok = false;
        if size > sweep.max_hash_size {
            result.skipped_for_size = true;
        } else {
            let mut sha256 = Sha256::new();
            let mut md5 = sweep.hashes.wants_md5().then(Md5::new);
            let mut sha1 = sweep.hashes.wants_sha1().then(Sha1::new);
            self.buf.clear();
            let mut total: u64 = 0;
            // A declared size over the content limit: hash only (the limit is re-checked on the
            // bytes read, for sizes that lie).
            let mut buffering = size <= sweep.max_file_size;
            result.skipped_for_size = !buffering;
            let mut complete = true;
            loop {
                let n = match content.read(&mut self.chunk) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => {
                        result.error = Some(format!("read error after {total} bytes: {e}"));
                        complete = false;
                        break;
                    }
                };
                total += n as u64;
                if total > sweep.max_hash_size {
                    result.skipped_for_size = true;
                    complete = false;
                    buffering = false;
                    break;
                }
                let data = &self.chunk[..n];
                sha256.update(data);
                if let Some(h) = md5.as_mut() {
                    h.update(data);
                }
                if let Some(h) = sha1.as_mut() {
                    h.update(data);
                }
                if buffering {
                    if (self.buf.len() + n) as u64 <= sweep.max_file_size {
                        self.buf.extend_from_slice(data);
                    } else {
                        buffering = false;
                        result.skipped_for_size = true;
                    }
                }
            }
            content_ok = buffering;
            if complete {
                let sha256 = hex(&sha256.finalize());
                let mut digests = vec![sha256.clone()];
                digests.extend(md5.map(|h| hex(&h.finalize())));
                digests.extend(sha1.map(|h| hex(&h.finalize())));
                for digest in &digests {
                    if let Some(entry) = sweep.hashes.get(digest) {
                        hits.push(hash_hit(digest, entry, area, rel));
                    }
                }
                result.sha256 = Some(sha256);
            }
        }

        if content_ok {
            let data = &self.buf[..];
            #[cfg(feature = "yara")]
            if let (Some(set), Some(scanner)) = (sweep.yara.as_ref(), self.yara.as_mut()) {
                match set.scan(scanner, path, data) {
                    Ok(h) => hits.extend(h),
                    Err(e) => result.error = Some(result.error.take().map_or(e.clone(), |prev| format!("{prev}; {e}"))),
                }
            }
            if area == Area::IisConfig && rel.to_ascii_lowercase().ends_with(".config") {
                hits.extend(crate::iis::check_config(data));
            }
            if area == Area::ExchangeBin {
                result.exchange_build = crate::pe::file_version(data);
            }
        }
        if self.buf.capacity() > 4 << 20 {
            self.buf = Vec::new(); // do not keep a large buffer per thread after a big file
        }

        let web = web_path(path);
        for hit in &mut hits {
            if !hit.detail.iter().any(|(k, _)| k == "area") {
                hit.detail.insert(0, ("area".into(), area.as_str().into()));
            }
            if let Some(sha) = &result.sha256 {
                hit.detail.push(("sha256".into(), sha.clone()));
            }
            if let Some(w) = &web {
                hit.detail.push(("web_path".into(), w.clone()));
            }
            if let Some(t) = modified {
                hit.detail.push(("modified".into(), t.to_string()));
            }
        }
        hits.sort_by_key(|h| std::cmp::Reverse(h.severity));
        result.hits = hits;
        result
    }
}

fn hash_hit(digest: &str, entry: &crate::hashes::HashEntry, area: Area, rel: &str) -> FileHit {
    let stage = if is_script_page(rel) || area.is_web_folder() { Stage::Webshell } else { Stage::Execution };
    let (id, title, cves, reference) = if entry.builtin {
        (
            "TF-FS-03-KNOWN-BAD-HASH",
            format!("Known-bad file hash: {}", entry.comment),
            vec!["CVE-2021-26855".to_string(), "CVE-2021-27065".to_string()],
            "detections.md A.3 FS-03".to_string(),
        )
    } else {
        let title = if entry.comment.is_empty() {
            "File hash on an IOC list".to_string()
        } else {
            format!("File hash on an IOC list: {}", entry.comment)
        };
        ("USER-HASH-IOC", title, Vec::new(), String::new())
    };
    let meta = RuleMeta {
        id: id.into(),
        title,
        severity: Severity::Critical,
        stage,
        effect: Effect::Compromised,
        cves,
        reference,
        all_sessions: None,
    };
    let mut detail = vec![("ioc_comment".to_string(), entry.comment.clone())];
    if !entry.builtin {
        detail.push(("ioc_list".into(), entry.list.clone()));
    }
    meta.hit(HitKind::Hash, digest.to_string(), detail)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SweepConfig;

    /// The built-in list's hashes belong to real web shells, which are not in this repository;
    /// the built-in code path is exercised with a harmless file's hash added as a built-in entry.
    #[test]
    fn builtin_hash_hit_and_miss() {
        let (mut sweep, problems) = Sweep::load(&SweepConfig::default());
        assert!(problems.is_empty());
        let content = b"taskforce test fixture: EICAR-style harmless stand-in for a listed web shell";
        let digest = hex(&Sha256::digest(content));
        sweep.hashes.add_entries(vec![(digest.clone(), "test entry".into())], "builtin:test", true);
        let path = "C/inetpub/wwwroot/aspnet_client/note.txt";
        let r = sweep.scanner().scan(path, Area::AspnetClient, content.len() as u64, None, &mut &content[..]);
        assert_eq!(r.sha256.as_deref(), Some(digest.as_str()));
        let hit = r.hits.iter().find(|h| h.rule == "TF-FS-03-KNOWN-BAD-HASH").expect("built-in hash hit");
        assert_eq!((hit.severity, hit.effect, hit.stage), (Severity::Critical, Effect::Compromised, Stage::Webshell));
        assert_eq!(hit.excerpt, digest);
        let other = b"taskforce test fixture: harmless content that is on no list";
        let r = sweep.scanner().scan(path, Area::AspnetClient, other.len() as u64, None, &mut &other[..]);
        assert!(r.hits.is_empty());
    }
}
