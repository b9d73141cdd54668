//! The other shapes collectors and datasets give the same Windows events, told apart by content
//! (never by file name): flat JSON lines (NXLog, OTRF Security-Datasets), Velociraptor's EVTX
//! artifact rows, EvtxECmd CSV (KAPE) and Windows' own XML export (`wevtutil qe /f:xml`, Event
//! Viewer's "Save as XML"). Each reader streams: one event at a time, bad records reported with
//! their line or position and skipped.

mod csv;
pub(crate) mod flat;
mod xml;

use std::io::Read;

pub use self::csv::{looks_like_evtxecmd_csv, read_evtxecmd_csv};
pub use self::flat::parse_flat_or_velociraptor;
pub use self::xml::{looks_like_event_xml, read_event_xml};

use crate::{EventFile, WinEvent};

/// An event export format, as [`sniff`] recognises it from a file's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFormat {
    /// A binary `.evtx` file (`ElfFile` signature).
    Evtx,
    /// One JSON object per line: evtx_dump, winlogbeat, NXLog/OTRF flat events, Velociraptor rows.
    JsonLines,
    /// EvtxECmd's CSV (KAPE's usual event-log output).
    EvtxECmdCsv,
    /// Windows' XML rendering of events.
    Xml,
}

impl EventFormat {
    pub fn name(self) -> &'static str {
        match self {
            EventFormat::Evtx => "EVTX",
            EventFormat::JsonLines => "event JSON lines",
            EventFormat::EvtxECmdCsv => "EvtxECmd CSV",
            EventFormat::Xml => "Windows event XML",
        }
    }
}

/// The format of an event export from its first bytes (a few KiB are enough), or `None` when it
/// is not one taskforce reads. UTF-16 heads (PowerShell's `>` writes UTF-16LE) are decoded first.
pub fn sniff(head: &[u8]) -> Option<EventFormat> {
    if head.starts_with(crate::EVTX_MAGIC) {
        return Some(EventFormat::Evtx);
    }
    let text = head_text(head);
    let text = text.trim_start_matches('\u{feff}').trim_start();
    if crate::jsonl::looks_like_event_json_text(text) {
        Some(EventFormat::JsonLines)
    } else if looks_like_evtxecmd_csv(text) {
        Some(EventFormat::EvtxECmdCsv)
    } else if looks_like_event_xml(text) {
        Some(EventFormat::Xml)
    } else {
        None
    }
}

/// The head as text: UTF-16 (by BOM, or by the NUL pattern of ASCII in UTF-16LE) or UTF-8 (lossy).
pub(crate) fn head_text(head: &[u8]) -> String {
    let utf16 = |bytes: &[u8], le: bool| {
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| if le { u16::from_le_bytes([c[0], c[1]]) } else { u16::from_be_bytes([c[0], c[1]]) })
            .collect();
        String::from_utf16_lossy(&units)
    };
    match head {
        [0xFF, 0xFE, rest @ ..] => utf16(rest, true),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, false),
        [a, 0, b, 0, ..] if a.is_ascii() && b.is_ascii() => utf16(head, true),
        _ => String::from_utf8_lossy(head).into_owned(),
    }
}

/// A reader that yields UTF-8 whatever the file's encoding (UTF-8 with or without BOM, UTF-16
/// with BOM, or UTF-16LE without one), so every text reader sees one encoding.
pub(crate) fn utf8_reader<'a, R: Read + 'a>(mut reader: R) -> Box<dyn Read + 'a> {
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < head.len() {
        match reader.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    let replay = std::io::Cursor::new(head[..n].to_vec()).chain(reader);
    let bare_utf16le = n == 4 && head[0].is_ascii() && head[0] != 0 && head[1] == 0 && head[3] == 0;
    let encoding = if bare_utf16le { Some(encoding_rs::UTF_16LE) } else { None };
    Box::new(
        encoding_rs_io::DecodeReaderBytesBuilder::new()
            .encoding(encoding)
            .bom_sniffing(true)
            .strip_bom(true)
            .build(replay),
    )
}

/// Reads a non-EVTX export of `format` (see [`sniff`]).
pub fn read_export<R: Read>(reader: R, format: EventFormat, on_event: &mut dyn FnMut(WinEvent)) -> EventFile {
    let reader = utf8_reader(reader);
    match format {
        EventFormat::JsonLines => crate::jsonl::read_jsonl(reader, on_event),
        EventFormat::EvtxECmdCsv => read_evtxecmd_csv(reader, on_event),
        EventFormat::Xml => read_event_xml(reader, on_event),
        EventFormat::Evtx => EventFile {
            events: Vec::new(),
            damage: vec!["an EVTX file is read with read_evtx, not as an export".into()],
        },
    }
}

/// Parses the timestamps these exports write: RFC 3339 (`2021-03-03T04:05:06.1234567Z`), a
/// civil UTC time with a space (`2021-03-03 04:05:06.1234567`, EvtxECmd, NXLog), or Unix
/// seconds with a fraction (Velociraptor's `SystemTime`).
pub(crate) fn parse_time(s: &str) -> Option<jiff::Timestamp> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Some(t);
    }
    if let Ok(dt) = s.replacen(' ', "T", 1).parse::<jiff::civil::DateTime>() {
        return dt.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp());
    }
    if let Ok(secs) = s.parse::<f64>()
        && secs.is_finite()
        && secs > 0.0
        && secs < 32_503_680_000.0
    {
        let whole = secs.trunc() as i64;
        let nanos = ((secs - secs.trunc()) * 1e9) as i32;
        return jiff::Timestamp::new(whole, nanos).ok();
    }
    None
}
