//! Timestamps as the logs write them, normalised to UTC.

use jiff::Timestamp;
use jiff::civil::DateTime;

/// Parses `2021-03-03T04:21:12.345Z` (Exchange), `2021-03-03 04:21:12` (IIS date and time
/// joined by a space; IIS logs in UTC) and RFC 3339 with an offset.
pub fn parse(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if text.len() < 19 {
        return None;
    }
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Some(ts);
    }
    let civil = text.trim_end_matches('Z').replace(' ', "T");
    let dt: DateTime = civil.parse().ok()?;
    dt.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp())
}

/// Finds the first ISO-8601 timestamp near the start of a free-text line (OABGenerator lines).
pub fn find_in_line(line: &[u8]) -> Option<Timestamp> {
    let window = &line[..line.len().min(96)];
    let mut i = 0;
    while i + 19 <= window.len() {
        let w = &window[i..];
        let looks_like_date = w[..4].iter().all(u8::is_ascii_digit)
            && w[4] == b'-'
            && w[7] == b'-'
            && (w[10] == b'T' || w[10] == b' ')
            && w[13] == b':';
        if looks_like_date {
            let end = w.iter().position(|&b| !(b.is_ascii_digit() || b"-:.TZ +".contains(&b))).unwrap_or(w.len());
            let candidate = String::from_utf8_lossy(&w[..end]);
            // Try the longest form first, then the bare `YYYY-MM-DDTHH:MM:SS`.
            if let Some(ts) = parse(candidate.trim_end()).or_else(|| parse(&String::from_utf8_lossy(&w[..19]))) {
                return Some(ts);
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(parse("2021-03-03T04:21:12.345Z").unwrap().to_string(), "2021-03-03T04:21:12.345Z");
        assert_eq!(parse("2021-03-04 02:11:09").unwrap().to_string(), "2021-03-04T02:11:09Z");
        assert!(parse("garbage").is_none());
        assert!(parse("2021-13-04 02:11:09").is_none());
    }

    #[test]
    fn finds_timestamp_in_free_text() {
        let line = b"2021-03-03T04:22:01.123Z,12,Info,Download failed";
        assert_eq!(find_in_line(line).unwrap().to_string(), "2021-03-03T04:22:01.123Z");
        assert!(find_in_line(b"no time here").is_none());
    }
}
