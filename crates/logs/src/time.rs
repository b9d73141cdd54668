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
    if let Some(ts) = parse_common(text.as_bytes()) {
        return Some(ts);
    }
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Some(ts);
    }
    let civil = text.trim_end_matches('Z').replace(' ', "T");
    let dt: DateTime = civil.parse().ok()?;
    dt.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp())
}

/// An IIS row's `date` and `time` fields (`2021-03-03`, `04:21:12`), read as one UTC time
/// without joining them into a new string first.
pub fn parse_date_time(date: &str, time: &str) -> Option<Timestamp> {
    let (date, time) = (date.trim(), time.trim());
    let mut joined = [0u8; 48];
    let n = date.len() + 1 + time.len();
    if n <= joined.len() {
        joined[..date.len()].copy_from_slice(date.as_bytes());
        joined[date.len()] = b' ';
        joined[date.len() + 1..n].copy_from_slice(time.as_bytes());
        if let Some(ts) = parse_common(&joined[..n]) {
            return Some(ts);
        }
    }
    parse(&format!("{date} {time}"))
}

/// The forms Exchange and IIS write, `YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z]`, read without
/// allocating (the general parser builds an error value for every IIS time it tries first).
/// `None` for anything else, which the general parser then reads; where both read a text they
/// give the same time (`parse_common_agrees_with_jiff`).
fn parse_common(b: &[u8]) -> Option<Timestamp> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i32> {
        b[from..to].iter().try_fold(0i32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + i32::from(c - b'0')))
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let mut rest = &b[19..];
    let mut nanos = 0i32;
    if let Some(frac) = rest.strip_prefix(b".") {
        let digits = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        nanos = num(20, 20 + digits)? * 10i32.pow(9 - digits as u32);
        rest = &frac[digits..];
    }
    if !matches!(rest, [] | [b'Z']) {
        return None;
    }
    let dt = DateTime::new(year as i16, month as i8, day as i8, hour as i8, minute as i8, second as i8, nanos).ok()?;
    jiff::tz::TimeZone::UTC.to_timestamp(dt).ok()
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

    /// The general parser, as `parse` was before the fast path.
    fn general(text: &str) -> Option<Timestamp> {
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

    #[test]
    fn parse_common_agrees_with_jiff() {
        let texts = [
            "2021-03-03T04:21:12.345Z",
            "2021-03-03T04:21:12Z",
            "2021-03-03 04:21:12",
            "2021-03-03T04:21:12",
            "2021-03-03 04:21:12.1",
            "2021-03-03T04:21:12.123456789Z",
            "2021-03-03T04:21:12.1234567891Z",
            "2021-03-03T04:21:12.Z",
            "2020-02-29 23:59:59",
            "2021-02-29 10:00:00",
            "2021-12-31 24:00:00",
            "2021-12-31 23:60:00",
            "2016-12-31 23:59:60",
            "2021-13-04 02:11:09",
            "0000-01-01 00:00:00",
            "2021-03-03 04:21:12 ",
            "2021-03-03 04:21:12x",
            "2021-03-03T04:21:12+02:00",
            "2021-03-03T04:21:12.5+02:00",
            "2021-3-03 04:21:12",
            "+2021-03-03 04:21:12",
            "2021-03-03 4:21:12",
            "2021-03-03 04:21:1",
        ];
        for t in texts {
            assert_eq!(parse(t), general(t), "{t}");
            if let Some(fast) = parse_common(t.trim().as_bytes()) {
                assert_eq!(Some(fast), general(t), "{t}");
            }
        }
        assert!(parse_common(b"2021-03-03 04:21:12").is_some(), "the IIS form takes the fast path");
        assert!(parse_common(b"2021-03-03T04:21:12.345Z").is_some(), "the Exchange form too");
        assert_eq!(parse_date_time("2021-03-04", "02:11:09"), parse("2021-03-04 02:11:09"));
        assert_eq!(parse_date_time(" 2021-03-04", "02:11:09.5 "), general("2021-03-04 02:11:09.5"));
        assert_eq!(parse_date_time("garbage", "02:11:09"), None);
        let long = "9".repeat(60);
        assert_eq!(parse_date_time(&long, "02:11:09"), None);
    }

    #[test]
    fn finds_timestamp_in_free_text() {
        let line = b"2021-03-03T04:22:01.123Z,12,Info,Download failed";
        assert_eq!(find_in_line(line).unwrap().to_string(), "2021-03-03T04:22:01.123Z");
        assert!(find_in_line(b"no time here").is_none());
    }
}
