//! Percent escapes that could hide a rule literal: `%6A` for `j`, `%2F` for `/`. Only escapes of
//! the characters literals are made of (letters, digits, `/ . _ - ~ : \`, see
//! `taskforce_rules::prefilter::is_stable`) matter; a line without one is never decoded.

use taskforce_rules::prefilter::is_stable;

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The byte an escape at `data[i]` (a `%`) stands for, when it is one literals are made of.
fn stable_escape(data: &[u8], i: usize) -> Option<u8> {
    let (hi, lo) = (hex(*data.get(i + 1)?)?, hex(*data.get(i + 2)?)?);
    let byte = hi << 4 | lo;
    is_stable(byte as char).then_some(byte)
}

/// Position of the next escape of a literal character at or after `from`.
pub(crate) fn next_escape(data: &[u8], from: usize) -> Option<usize> {
    memchr::memchr_iter(b'%', &data[from..]).map(|i| from + i).find(|&i| stable_escape(data, i).is_some())
}

/// Writes `line` into `out` with the escapes of literal characters decoded (others kept as
/// written, so a literal that is in the raw line is in the decoded one too, unless it overlaps an
/// escape). False when the line has no such escape.
pub(crate) fn decode_into(line: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let Some(first) = next_escape(line, 0) else {
        return false;
    };
    let mut copied = 0;
    let mut i = first;
    while let Some(at) = memchr::memchr(b'%', &line[i..]).map(|k| i + k) {
        match stable_escape(line, at) {
            Some(byte) => {
                out.extend_from_slice(&line[copied..at]);
                out.push(byte);
                copied = at + 3;
                i = at + 3;
            }
            None => i = at + 1,
        }
    }
    out.extend_from_slice(&line[copied..]);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(s: &str) -> Option<String> {
        let mut out = Vec::new();
        decode_into(s.as_bytes(), &mut out).then(|| String::from_utf8(out).unwrap())
    }

    #[test]
    fn only_escapes_of_literal_characters_are_decoded() {
        assert_eq!(decoded("GET /owa/auth/%78.j%73 - 443").as_deref(), Some("GET /owa/auth/x.js - 443"));
        assert_eq!(decoded("/ecp%2Fy.js%3f%20a").as_deref(), Some("/ecp/y.js%3f%20a"));
        assert_eq!(decoded("a=%3D%20%zz%4"), None);
        assert_eq!(decoded("%%41"), Some("%A".into()));
        assert_eq!(decoded("x%41"), Some("xA".into()));
    }

    #[test]
    fn next_escape_skips_others() {
        let line = b"q=%20%3D&r=%2Fecp %41";
        assert_eq!(next_escape(line, 0), Some(11));
        assert_eq!(next_escape(line, 12), Some(18));
        assert_eq!(next_escape(line, 19), None);
        assert_eq!(next_escape(b"abc%4", 0), None);
    }
}
