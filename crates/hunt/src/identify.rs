//! Deciding what a file is: its path hint, confirmed or overridden by its header.

use taskforce_evidence::PathHint;
use taskforce_logs::{Format, Header, LogSource};

/// What to do with a file after reading its head.
#[derive(Debug)]
pub enum Identity {
    /// A log the rules read, with the row layout to parse it with.
    Log(LogSource, Format),
    /// Not a log the checks use (configuration, binaries, other logs): left alone. With the
    /// program that wrote it when the header names one (another product's W3C log).
    NotALog(Option<String>),
    /// Looks like one of our logs by its path but cannot be parsed: reported as skipped.
    Unreadable(String),
}

/// The source named by an Exchange `#Log-type` or an IIS `#Software` line.
fn source_from_header(header: &Header) -> Option<LogSource> {
    let software = header.software.as_deref().unwrap_or("");
    if software.contains("Internet Information Services") {
        return Some(LogSource::Iis);
    }
    let log_type = header.log_type.as_deref()?.to_ascii_lowercase();
    if log_type.contains("httpproxy") {
        Some(LogSource::HttpProxy)
    } else if log_type.contains("ecp") {
        Some(LogSource::Ecp)
    } else if log_type.contains("cmdlet") {
        Some(LogSource::CmdletLog)
    } else if log_type.contains("oab") {
        Some(LogSource::OabGenerator)
    } else {
        None
    }
}

fn source_from_hint(hint: PathHint) -> Option<LogSource> {
    match hint {
        PathHint::HttpProxy => Some(LogSource::HttpProxy),
        PathHint::Ecp => Some(LogSource::Ecp),
        PathHint::OabGenerator => Some(LogSource::OabGenerator),
        PathHint::Iis => Some(LogSource::Iis),
        PathHint::CmdletLog => Some(LogSource::CmdletLog),
        PathHint::EventLog => None,
        PathHint::Other => None,
    }
}

/// Combines the path hint with the header. The header wins: a renamed or moved log is still
/// recognised, and a file in a log folder that is not a log is reported rather than misread.
pub fn identify(hint: PathHint, head: Result<&Header, String>) -> Identity {
    let header = match head {
        Ok(h) => h,
        Err(reason) => {
            return match source_from_hint(hint) {
                Some(src) => Identity::Unreadable(format!("{src} log expected from its path, but {reason}")),
                None => Identity::NotALog(None),
            };
        }
    };
    let source = match (source_from_header(header), source_from_hint(hint)) {
        (Some(s), _) | (None, Some(s)) => s,
        (None, None) => {
            let writer = header.software.as_deref().map(str::trim).filter(|s| !s.is_empty());
            return Identity::NotALog(writer.map(|s| format!("a log written by {s:?}, which no check reads")));
        }
    };
    let format = match source {
        LogSource::OabGenerator => Format::Lines,
        LogSource::Iis => Format::W3c,
        _ => Format::ExchangeCsv,
    };
    if format != Format::Lines && !header.has_fields() {
        return Identity::Unreadable(format!(
            "{source} log expected, but the file has no #Fields header to name its columns"
        ));
    }
    Identity::Log(source, format)
}
