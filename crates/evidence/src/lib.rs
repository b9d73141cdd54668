//! One host's collected files, whatever the container: a directory (the Exchange tree as is, a
//! KAPE target output, a Velociraptor collection, loose files) or a `.zip` of the same.
//!
//! Files are listed with their path as stored, and a hint of what they are from their path
//! *suffix* (normalised: forward slashes, Velociraptor's `%3A` drive colons decoded), never from
//! a drive letter or a fixed root, so `D:\Exchange\Logging\…` installs are recognised too. Zip
//! members are read in place, never extracted, behind size and ratio limits. Nothing here writes.

mod classify;
mod shared_file;
mod zipped;

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use classify::{PathHint, classify, normalise};
pub use zipped::Limits;

/// A file inside the evidence.
#[derive(Debug, Clone)]
pub struct Item {
    /// Path relative to the evidence root as stored there (a zip member's name, or the
    /// directory path with `/` separators), so an analyst can find the file.
    pub path: String,
    pub size: u64,
    pub hint: PathHint,
    /// Last modification time, Unix seconds: from the file system, or a zip member's DOS time
    /// (which has no time zone: it is the collecting machine's local time, read as UTC).
    pub modified: Option<i64>,
    locator: Locator,
}

impl Item {
    /// True for a gzip-compressed file (read through a decoder, classified without `.gz`).
    pub fn is_gzip(&self) -> bool {
        has_extension(Path::new(&self.path), "gz")
    }

    /// True for an archive inside the evidence, which is not opened (pass it as its own evidence).
    pub fn is_nested_archive(&self) -> bool {
        ["zip", "7z", "rar", "tar", "tgz", "cab"].iter().any(|ext| has_extension(Path::new(&self.path), ext))
    }
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

#[derive(Debug, Clone)]
enum Locator {
    File(PathBuf),
    ZipMember(usize),
}

/// A file that is listed in the evidence but cannot be read, and why.
#[derive(Debug, Clone)]
pub struct Problem {
    pub path: String,
    pub reason: String,
}

/// Why the evidence as a whole cannot be opened (the run fails with exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: not a directory or a .zip file")]
    Unsupported { path: String },
    #[error("{path}: not a readable zip archive: {reason}")]
    BadZip { path: String, reason: String },
}

/// One host's evidence, listed.
pub struct Evidence {
    /// The path as the user gave it.
    pub display: String,
    pub items: Vec<Item>,
    /// Files that were seen but cannot be read (odd names, bomb guards, I/O errors).
    pub problems: Vec<Problem>,
    zip: Option<zipped::ZipSource>,
    /// The same limits guard zip members and `.gz` items.
    limits: Limits,
}

impl Evidence {
    /// Lists a directory or a zip file with the default limits.
    pub fn open(path: &Path) -> Result<Evidence, EvidenceError> {
        Evidence::open_with(path, Limits::default())
    }

    pub fn open_with(path: &Path, limits: Limits) -> Result<Evidence, EvidenceError> {
        let display = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|source| EvidenceError::Io { path: display.clone(), source })?;
        if meta.is_dir() {
            let (items, problems) = list_dir(path);
            return Ok(Evidence { display, items, problems, zip: None, limits });
        }
        let mut magic = [0u8; 4];
        let is_zip = File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .map(|_| magic == *b"PK\x03\x04" || magic == *b"PK\x05\x06")
            .unwrap_or(false);
        if meta.is_file() && is_zip {
            let file = File::open(path).map_err(|source| EvidenceError::Io { path: display.clone(), source })?;
            let source = zipped::ZipSource::open(Arc::new(file), meta.len(), limits)
                .map_err(|reason| EvidenceError::BadZip { path: display.clone(), reason })?;
            let (items, problems) = source.list();
            return Ok(Evidence { display, items, problems, zip: Some(source), limits });
        }
        if meta.is_file() && has_extension(path, "zip") {
            return Err(EvidenceError::BadZip { path: display, reason: "no zip signature at the start".into() });
        }
        if meta.is_file() {
            // A single log handed over on its own: a host of one file.
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let item = Item {
                hint: classify(&normalise(&name)),
                path: name,
                modified: unix_seconds(meta.modified().ok()),
                size: meta.len(),
                locator: Locator::File(path.to_path_buf()),
            };
            return Ok(Evidence { display, items: vec![item], problems: Vec::new(), zip: None, limits });
        }
        Err(EvidenceError::Unsupported { path: display })
    }

    /// True when the evidence is a zip archive.
    pub fn is_zip(&self) -> bool {
        self.zip.is_some()
    }

    /// Opens an item for reading, decompressing `.gz` files (rotated logs) on the fly behind the
    /// zip members' size and ratio limits (a read past them fails with the reason). Safe to call
    /// from many threads at once.
    pub fn open_item(&self, item: &Item) -> io::Result<Box<dyn Read + Send + '_>> {
        let raw: Box<dyn Read + Send + '_> = match &item.locator {
            Locator::File(path) => Box::new(File::open(path)?),
            Locator::ZipMember(index) => {
                let zip = self.zip.as_ref().ok_or_else(|| io::Error::other("zip member without an archive"))?;
                zip.open_member(*index)?
            }
        };
        if item.is_gzip() {
            let inner = Box::new(flate2::read::MultiGzDecoder::new(raw));
            return Ok(Box::new(zipped::Inflated::new(inner, item.size, self.limits)));
        }
        Ok(raw)
    }

    /// The item's path on the local file system, when it is a plain file (not a zip member).
    pub fn local_path<'a>(&self, item: &'a Item) -> Option<&'a Path> {
        match &item.locator {
            Locator::File(p) if !item.is_gzip() => Some(p),
            _ => None,
        }
    }

    /// The file name of the evidence, without extension (the host name when the logs have none).
    pub fn stem(&self) -> String {
        Path::new(&self.display)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.display.clone())
    }
}

fn list_dir(root: &Path) -> (Vec<Item>, Vec<Problem>) {
    let mut items = Vec::new();
    let mut problems = Vec::new();
    for entry in walkdir::WalkDir::new(root).follow_links(false).sort_by_file_name() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = e.path().map(|p| rel(root, p)).unwrap_or_default();
                problems.push(Problem { path, reason: format!("cannot list: {e}") });
                continue;
            }
        };
        let ft = entry.file_type();
        if ft.is_dir() {
            continue;
        }
        let path = rel(root, entry.path());
        if ft.is_symlink() {
            problems.push(Problem { path, reason: "symbolic link not followed".into() });
            continue;
        }
        if !ft.is_file() {
            continue;
        }
        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
        let hint = classify(&normalise(&path));
        let modified = unix_seconds(entry.metadata().ok().and_then(|m| m.modified().ok()));
        items.push(Item {
            hint,
            path: path.replace('\\', "/"),
            size,
            modified,
            locator: Locator::File(entry.into_path()),
        });
    }
    (items, problems)
}

fn unix_seconds(t: Option<std::time::SystemTime>) -> Option<i64> {
    let t = t?;
    Some(match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    })
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).to_string_lossy().into_owned()
}
