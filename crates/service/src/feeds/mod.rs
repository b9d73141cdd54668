//! Feed parsers: each turns one file into `Observed` rows (one per input row), rejected rows with
//! their line numbers, or a file-level error (wrong format, not UTF-8, truncated) that rejects
//! the whole file before anything is written.

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::Path;

use serde::Serialize;

use crate::state::Signal;

pub mod hunt;
pub mod intelmq;
pub mod probe;
pub mod shadowserver;

/// The kinds of observation files `ingest` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedKind {
    /// Shadowserver `scan_exchange` / `scan6_exchange` CSV.
    Shadowserver,
    /// IntelMQ events, one flat JSON object per line.
    Intelmq,
    /// `taskforce probe` JSON lines (`taskforce.probe.v1`).
    Probe,
    /// A `taskforce hunt` JSON report (`taskforce.hunt.v1`).
    Hunt,
}

impl FeedKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedKind::Shadowserver => "shadowserver",
            FeedKind::Intelmq => "intelmq",
            FeedKind::Probe => "probe",
            FeedKind::Hunt => "hunt",
        }
    }
}

/// Which host a row is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Ip(IpAddr),
    /// A hunt report names its server, not its address: matched against the servername the
    /// feeds reported (must be unique, within the uploader's organisation for a reporter).
    Servername(String),
}

/// One input row, normalised.
#[derive(Debug, Clone)]
pub struct Observed {
    pub line: u64,
    pub target: Target,
    pub observed_at: String,
    /// Applied in order (a hunt report can say "vulnerable build" and "clean").
    pub signals: Vec<Signal>,
    pub port: Option<i64>,
    pub tags: Option<String>,
    pub version: Option<String>,
    pub url: Option<String>,
    pub hostname: Option<String>,
    pub servername: Option<String>,
    pub asn_reported: Option<i64>,
    pub cc_reported: Option<String>,
    /// Finding kinds this row supports (`vulnerable:cve-2021-26855`, `webshell:/path`, `hunt:TF-PL-09`).
    pub findings: Vec<String>,
    /// De-duplication key across files (same fact from two files is stored once).
    pub natural_key: String,
    /// The source row, as JSON.
    pub detail: String,
}

impl Observed {
    /// The stream a daily-feed row belongs to (`shadowserver|443`, `intelmq|<feed>|443`): a row
    /// whose [`fact`](Self::fact) equals the stream's current one extends that observation
    /// instead of adding a row. `None` (probe results, hunt reports): every row is its own.
    pub fn stream(&self) -> Option<String> {
        let mut parts = self.natural_key.split('|');
        let port = self.port.unwrap_or(0);
        match parts.next()? {
            "shadowserver" => Some(format!("shadowserver|{port}")),
            "intelmq" => Some(format!("intelmq|{}|{port}", parts.next()?)),
            _ => None,
        }
    }

    /// What the row says about its host in its stream: signals, tags, version, url, findings.
    /// Names and times are not part of it (a new name is kept on the host, not as a new fact).
    pub fn fact(&self) -> String {
        let signals: Vec<&str> = self.signals.iter().map(|s| s.as_str()).collect();
        format!(
            "{}|{}|{}|{}|{}",
            signals.join(","),
            self.tags.as_deref().unwrap_or(""),
            self.version.as_deref().unwrap_or(""),
            self.url.as_deref().unwrap_or(""),
            self.findings.join(",")
        )
    }

    /// Replaces NUL characters (valid UTF-8 that PostgreSQL's text type refuses) with U+FFFD in
    /// every stored field, so a hostile row is kept, inert, on both databases. `detail` is JSON,
    /// whose writer escapes NUL already; it is scrubbed too in case a parser wrote it by hand.
    pub fn scrub_nul(&mut self) {
        for field in [
            Some(&mut self.observed_at),
            self.tags.as_mut(),
            self.version.as_mut(),
            self.url.as_mut(),
            self.hostname.as_mut(),
            self.servername.as_mut(),
            self.cc_reported.as_mut(),
            Some(&mut self.natural_key),
            Some(&mut self.detail),
        ]
        .into_iter()
        .flatten()
        {
            scrub_nul(field);
        }
        if let Target::Servername(name) = &mut self.target {
            scrub_nul(name);
        }
        self.findings.iter_mut().for_each(scrub_nul);
    }
}

/// NUL → U+FFFD, in place (no allocation when there is none).
pub fn scrub_nul(text: &mut String) {
    if text.contains('\0') {
        *text = text.replace('\0', "\u{fffd}");
    }
}

/// A row that was skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub line: u64,
    pub message: String,
}

/// A file that cannot be taken at all (the API answers 4xx; nothing is written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("not a {expected} file: {why}")]
    WrongFormat { expected: &'static str, why: String },
    #[error("line {line} is not valid UTF-8")]
    NotUtf8 { line: u64 },
    #[error("the file is truncated: line {line} ends in the middle of a record")]
    Truncated { line: u64 },
    #[error("the file is empty")]
    Empty,
    #[error("cannot read the file: {0}")]
    Io(String),
    /// Well-formed, but not acceptable as sent (e.g. one address for a report of several hosts).
    #[error("{0}")]
    Refused(String),
}

/// What a parser yields per row.
pub enum Item {
    Row(Box<Observed>),
    Bad(RowError),
    /// Taken, with a caveat the answer must carry (e.g. an undated hunt report cannot verify).
    Warning(RowError),
}

/// What a parser needs besides the file.
#[derive(Debug, Clone)]
pub struct Context {
    pub file_name: String,
    pub sha256: String,
    pub received_at: String,
    /// For hunt reports: the host's address, when the uploader gives it.
    pub ip: Option<IpAddr>,
}

/// Runs the parser of `kind` over `path`, calling `each` per row; stops at a file-level error.
pub fn parse(kind: FeedKind, path: &Path, ctx: &Context, each: &mut dyn FnMut(Item)) -> Result<(), FileError> {
    match kind {
        FeedKind::Shadowserver => shadowserver::parse(path, each),
        FeedKind::Intelmq => intelmq::parse(path, each),
        FeedKind::Probe => probe::parse(path, each),
        FeedKind::Hunt => hunt::parse(path, ctx, each),
    }
}

/// JSON-lines reading shared by IntelMQ and probe files: UTF-8 (a BOM is dropped), blank lines
/// skipped, an unterminated last line that does not parse reported as truncation.
pub(crate) fn for_each_json_line(
    path: &Path,
    expected: &'static str,
    mut convert: impl FnMut(u64, serde_json::Map<String, serde_json::Value>) -> Result<Item, FileError>,
    each: &mut dyn FnMut(Item),
) -> Result<(), FileError> {
    let file = std::fs::File::open(path).map_err(|e| FileError::Io(e.to_string()))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let mut objects = 0u64;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(|e| FileError::Io(e.to_string()))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let terminated = buf.ends_with(b"\n");
        let text = std::str::from_utf8(&buf).map_err(|_| FileError::NotUtf8 { line: line_no })?;
        let text = text.trim_start_matches('\u{feff}').trim();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(map)) => {
                objects += 1;
                each(convert(line_no, map)?);
            }
            Ok(_) => each(Item::Bad(RowError { line: line_no, message: "not a JSON object".into() })),
            Err(e) => {
                if !terminated {
                    return Err(FileError::Truncated { line: line_no });
                }
                if objects == 0 {
                    return Err(FileError::WrongFormat { expected, why: format!("line {line_no} is not JSON ({e})") });
                }
                each(Item::Bad(RowError { line: line_no, message: format!("not JSON: {e}") }));
            }
        }
    }
    if line_no == 0 {
        return Err(FileError::Empty);
    }
    Ok(())
}

/// Findings and signal implied by a reported Exchange build (3-part builds rarely decide).
pub(crate) fn build_signal(version: Option<&str>) -> Option<(Signal, Vec<String>)> {
    let build: taskforce_builds::Build = version?.parse().ok()?;
    let statuses = taskforce_builds::BuildTable::builtin().patch_status(&build);
    let vulnerable: Vec<String> = statuses
        .iter()
        .filter(|s| s.status == taskforce_builds::Status::Vulnerable)
        .map(|s| format!("build:{}", s.family).to_ascii_lowercase())
        .collect();
    if !vulnerable.is_empty() {
        return Some((Signal::Vulnerable, vulnerable));
    }
    None
}

/// `Some(text)` unless empty.
pub(crate) fn nonempty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}
