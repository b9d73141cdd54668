//! One parsed line: its fields by column position, read on demand.

use std::borrow::Cow;

use crate::header::Format;
use crate::split::{self, Span};

/// A line of a log with its field spans. Building one costs a single split of the line; field
/// text is produced only for the fields a rule asks for.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// The line without its terminator.
    pub line: &'a [u8],
    pub line_no: u64,
    pub format: Format,
    spans: &'a [Span],
}

impl<'a> Record<'a> {
    /// Splits `line` according to `format` into `spans` (a buffer the caller reuses) and wraps it.
    pub fn parse(line: &'a [u8], line_no: u64, format: Format, spans: &'a mut Vec<Span>) -> Record<'a> {
        let line = split::trim_eol(line);
        match format {
            Format::ExchangeCsv => split::split_csv(line, spans),
            Format::W3c => split::split_w3c(line, spans),
            Format::Lines => spans.clear(),
        }
        Record { line, line_no, format, spans }
    }

    /// The text of column `index`, or `None` when the row is shorter (a truncated line).
    pub fn field(&self, index: usize) -> Option<Cow<'a, str>> {
        self.spans.get(index).map(|span| span.text(self.line))
    }

    /// The whole line as text.
    pub fn text(&self) -> Cow<'a, str> {
        String::from_utf8_lossy(self.line)
    }

    /// Number of fields in the row.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True for a row without fields (free-text formats).
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}
