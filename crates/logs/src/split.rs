//! Splitting one line into field spans, without allocating per field.

use std::borrow::Cow;

/// A field's position in its line. `escaped` marks a quoted CSV field that contains `""`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub end: u32,
    pub escaped: bool,
}

impl Span {
    /// The field's text: quotes already removed, `""` turned back into `"`, invalid UTF-8 replaced.
    pub fn text<'a>(&self, line: &'a [u8]) -> Cow<'a, str> {
        let raw = &line[self.start as usize..self.end as usize];
        if self.escaped {
            let unescaped = String::from_utf8_lossy(raw).replace("\"\"", "\"");
            Cow::Owned(unescaped)
        } else {
            String::from_utf8_lossy(raw)
        }
    }
}

/// Strips the line terminator (`\n`, `\r\n`) that a chunk leaves on a line.
pub fn trim_eol(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &line[..end]
}

/// Splits an Exchange CSV row: comma-separated, fields with commas double-quoted, `""` for a
/// quote. An unterminated quote (a truncated line) runs to the end of the line.
pub fn split_csv(line: &[u8], out: &mut Vec<Span>) {
    out.clear();
    let n = line.len();
    let mut i = 0;
    loop {
        if i < n && line[i] == b'"' {
            let start = i + 1;
            let mut j = start;
            let mut escaped = false;
            let end;
            loop {
                match memchr::memchr(b'"', &line[j..]) {
                    Some(k) => {
                        let q = j + k;
                        if q + 1 < n && line[q + 1] == b'"' {
                            escaped = true;
                            j = q + 2;
                        } else {
                            end = q;
                            break;
                        }
                    }
                    None => {
                        end = n;
                        break;
                    }
                }
            }
            out.push(Span { start: start as u32, end: end as u32, escaped });
            // Skip anything between the closing quote and the next comma (malformed input).
            let after = (end + 1).min(n);
            match memchr::memchr(b',', &line[after..]) {
                Some(k) => i = after + k + 1,
                None => return,
            }
        } else {
            match memchr::memchr(b',', &line[i.min(n)..]) {
                Some(k) => {
                    out.push(Span { start: i as u32, end: (i + k) as u32, escaped: false });
                    i += k + 1;
                }
                None => {
                    out.push(Span { start: i.min(n) as u32, end: n as u32, escaped: false });
                    return;
                }
            }
        }
    }
}

/// Splits a W3C row: fields separated by single spaces (IIS writes spaces inside values as `+`).
pub fn split_w3c(line: &[u8], out: &mut Vec<Span>) {
    out.clear();
    let mut start = 0;
    for pos in memchr::memchr_iter(b' ', line) {
        out.push(Span { start: start as u32, end: pos as u32, escaped: false });
        start = pos + 1;
    }
    out.push(Span { start: start as u32, end: line.len() as u32, escaped: false });
}

/// The readable form of a W3C value: `%xx` decoded and `+` as a space. IIS writes `-` for an
/// empty value; that is kept as is.
pub fn url_decode(value: &str) -> Cow<'_, str> {
    if !value.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(value);
    }
    // One pass into one buffer: `+` is a space, `%XX` a byte (so `%2B` stays a `+`), any other
    // `%` kept; invalid UTF-8 replaced.
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // Plain runs are copied whole.
        let Some(k) = memchr::memchr2(b'%', b'+', &bytes[i..]) else {
            out.extend_from_slice(&bytes[i..]);
            break;
        };
        out.extend_from_slice(&bytes[i..i + k]);
        i += k;
        let escaped = match bytes.get(i + 1..i + 3) {
            Some(&[hi, lo]) if bytes[i] == b'%' => hex(hi).zip(hex(lo)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Vec<String> {
        let mut spans = Vec::new();
        split_csv(line.as_bytes(), &mut spans);
        spans.iter().map(|s| s.text(line.as_bytes()).into_owned()).collect()
    }

    #[test]
    fn csv_plain_quoted_and_doubled_quotes() {
        assert_eq!(fields("a,b,,c"), ["a", "b", "", "c"]);
        assert_eq!(fields(r#"a,"b,c",d"#), ["a", "b,c", "d"]);
        assert_eq!(fields(r#"x,"say ""hi"", ok",y"#), ["x", r#"say "hi", ok"#, "y"]);
        assert_eq!(fields("a,"), ["a", ""]);
        assert_eq!(fields(""), [""]);
    }

    #[test]
    fn csv_truncated_quote_runs_to_end() {
        assert_eq!(fields(r#"a,"unterminated, still here"#), ["a", "unterminated, still here"]);
    }

    #[test]
    fn w3c_split_and_decode() {
        let line = b"2021-03-04 02:11:09 POST /aspnet_client/x.aspx - 443";
        let mut spans = Vec::new();
        split_w3c(line, &mut spans);
        assert_eq!(spans.len(), 6);
        assert_eq!(spans[3].text(line), "/aspnet_client/x.aspx");
        assert_eq!(url_decode("python-requests/2.25.1"), "python-requests/2.25.1");
        assert_eq!(url_decode("Mozilla/5.0+(compatible;+Bingbot/2.0)"), "Mozilla/5.0 (compatible; Bingbot/2.0)");
        assert_eq!(url_decode("autodiscover.json%3F@evil.com"), "autodiscover.json?@evil.com");
        assert_eq!(url_decode("%ZZ"), "%ZZ");
        assert_eq!(url_decode("a%2Bb+c%2"), "a+b c%2");
        assert_eq!(url_decode("%41%4a%%41%C3%A9%FF+"), "AJ%Aé\u{FFFD} ");
        for v in ["%", "%4", "100%", "x%e9y", "%2f%2F+%20", "%E2%82"] {
            let expected = percent_encoding::percent_decode_str(&v.replace('+', " ")).decode_utf8_lossy().into_owned();
            assert_eq!(url_decode(v), expected, "{v}");
        }
    }

    #[test]
    fn trims_crlf() {
        assert_eq!(trim_eol(b"abc\r\n"), b"abc");
        assert_eq!(trim_eol(b"abc"), b"abc");
    }
}
