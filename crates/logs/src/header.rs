//! Log headers: the `#Software`, `#Version`, `#Log-type` and `#Fields` lines that Exchange and IIS
//! write at the top of every file (and IIS again after each restart).

use std::collections::HashMap;

/// How a file's rows are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Exchange CSV (`#Software: Microsoft Exchange Server`).
    ExchangeCsv,
    /// W3C extended log format, space-separated (IIS).
    W3c,
    /// Free text, one event per line (OABGenerator, or an Exchange log without a header).
    Lines,
}

/// Why a file's head could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// NUL bytes or other control bytes: not a text log.
    Binary,
    /// The file has no bytes.
    Empty,
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Binary => f.write_str("binary data, not a text log (control bytes in the first 8 KiB)"),
            HeaderError::Empty => f.write_str("empty file"),
        }
    }
}

/// The directives of a log's header, and the column map of its `#Fields` line.
#[derive(Debug, Clone, Default)]
pub struct Header {
    pub software: Option<String>,
    /// `#Version:`; for Exchange logs the server build (`15.01.2176.002`), for IIS the W3C version.
    pub version: Option<String>,
    pub log_type: Option<String>,
    pub date: Option<String>,
    pub fields: Vec<String>,
    index: HashMap<String, usize>,
}

impl Header {
    /// Reads the leading `#` lines of `head` (the first bytes of a file, BOM already removed).
    pub fn sniff(head: &[u8]) -> Result<Header, HeaderError> {
        if head.is_empty() {
            return Err(HeaderError::Empty);
        }
        // NUL bytes mean binary (or UTF-16 without a BOM); a few other control bytes are tolerated,
        // since attackers' user agents and payloads put them in otherwise good logs.
        let probe = &head[..head.len().min(8192)];
        let nul = probe.contains(&0);
        let control = probe.iter().filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c)).count();
        if nul || control * 100 > probe.len() {
            return Err(HeaderError::Binary);
        }
        let mut header = Header::default();
        for line in head.split(|&b| b == b'\n') {
            let line = crate::split::trim_eol(line);
            if line.first() != Some(&b'#') {
                if !line.is_empty() {
                    break;
                }
                continue;
            }
            header.apply_directive(line);
        }
        Ok(header)
    }

    /// Applies one `#Name: value` line; returns true when it was a `#Fields` line (the column map
    /// changed). IIS starts a new header block after every restart, mid-file.
    pub fn apply_directive(&mut self, line: &[u8]) -> bool {
        let text = String::from_utf8_lossy(crate::split::trim_eol(line));
        let Some(rest) = text.strip_prefix('#') else {
            return false;
        };
        let Some((name, value)) = rest.split_once(':') else {
            return false;
        };
        let value = value.trim().to_string();
        match name.trim().to_ascii_lowercase().as_str() {
            "software" => self.software = Some(value),
            "version" => self.version = Some(value),
            "log-type" => self.log_type = Some(value),
            "date" => self.date = Some(value),
            "fields" => {
                self.set_fields(&value);
                return true;
            }
            _ => {}
        }
        false
    }

    fn set_fields(&mut self, value: &str) {
        let sep = if self.format_hint() == Some(Format::W3c) || !value.contains(',') { ' ' } else { ',' };
        self.fields = value.split(sep).map(|f| f.trim().to_string()).collect();
        self.index.clear();
        for (i, name) in self.fields.iter().enumerate() {
            if name.is_empty() {
                continue; // Exchange 2013 writes an empty column name; it is kept as a position only.
            }
            // With duplicate names the first column wins, as a reader of the file would expect.
            self.index.entry(name.to_ascii_lowercase()).or_insert(i);
        }
    }

    fn format_hint(&self) -> Option<Format> {
        let software = self.software.as_deref().unwrap_or("");
        if software.contains("Internet Information Services") {
            Some(Format::W3c)
        } else if software.contains("Exchange") {
            Some(Format::ExchangeCsv)
        } else {
            None
        }
    }

    /// The layout of the rows under this header.
    pub fn format(&self) -> Format {
        match self.format_hint() {
            Some(f) => f,
            None if self.fields.len() > 1 && self.date.is_some() && self.version.as_deref() == Some("1.0") => {
                Format::W3c
            }
            None if self.fields.len() > 1 => Format::ExchangeCsv,
            None => Format::Lines,
        }
    }

    /// Column position of a field name, case-insensitively. `name` must be lower case.
    pub fn column(&self, lower_name: &str) -> Option<usize> {
        self.index.get(lower_name).copied()
    }

    /// True when the header named a column layout (rows can be mapped to names).
    pub fn has_fields(&self) -> bool {
        !self.fields.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_header_with_empty_and_duplicate_columns() {
        let head = b"#Software: Microsoft Exchange Server\r\n#Version: 15.00.0847.032\r\n#Log-type: HttpProxy Logs\r\n#Date: 2021-03-01T00:00:00.000Z\r\n#Fields: DateTime,RequestId,TargetServer,,TargetServerVersion,RequestId,AnchorMailbox\r\n2021-03-01T00:00:01.000Z,a,b,c,d,e,f\r\n";
        let h = Header::sniff(head).unwrap();
        assert_eq!(h.format(), Format::ExchangeCsv);
        assert_eq!(h.version.as_deref(), Some("15.00.0847.032"));
        assert_eq!(h.log_type.as_deref(), Some("HttpProxy Logs"));
        assert_eq!(h.column("requestid"), Some(1));
        assert_eq!(h.column("targetserverversion"), Some(4));
        assert_eq!(h.column("anchormailbox"), Some(6));
        assert_eq!(h.column(""), None);
    }

    #[test]
    fn iis_header() {
        let head = b"#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n#Date: 2021-03-04 00:00:00\n#Fields: date time cs-method cs-uri-stem\n";
        let h = Header::sniff(head).unwrap();
        assert_eq!(h.format(), Format::W3c);
        assert_eq!(h.column("cs-uri-stem"), Some(3));
    }

    #[test]
    fn binary_is_rejected() {
        assert_eq!(Header::sniff(b"MZ\x90\x00\x03").unwrap_err(), HeaderError::Binary);
        assert_eq!(Header::sniff(b"").unwrap_err(), HeaderError::Empty);
        let mut noisy = b"#Software: Microsoft Internet Information Services 10.0\n#Fields: date time\n".to_vec();
        noisy.extend_from_slice(&b"2021-03-03 04:00:00 GET /owa/ Mozilla/5.0\n".repeat(20));
        noisy.extend_from_slice(b"2021-03-03 04:00:00 GET /owa/ ua-with-\x1b-escape\n");
        assert!(Header::sniff(&noisy).is_ok(), "a stray control byte does not make a log binary");
    }

    #[test]
    fn headerless_text_is_lines() {
        let h = Header::sniff(b"2021-03-03T04:22:01.123Z,12,Info,hello\n").unwrap();
        assert_eq!(h.format(), Format::Lines);
        assert!(!h.has_fields());
    }
}
