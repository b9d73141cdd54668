//! Times as the service stores them: UTC text `YYYY-MM-DDTHH:MM:SSZ`, which sorts correctly as
//! text in SQLite and PostgreSQL alike (the Any driver has no portable timestamp type).

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// The current time in storage form.
pub fn now() -> String {
    format(Timestamp::now())
}

/// A timestamp in storage form (seconds precision).
pub fn format(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses the time forms feeds use: RFC 3339 with any offset (`2021-03-15T02:14:09+00:00`,
/// `…Z`, fractions), Shadowserver's zone-less `2021-05-14 00:11:30` (UTC), and a bare date
/// (`2021-03-12`, midnight UTC). Returns the storage form.
pub fn parse(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(t) = text.parse::<Timestamp>() {
        return Some(format(t));
    }
    let civil = text.replace(' ', "T");
    if let Ok(dt) = civil.parse::<DateTime>() {
        return dt.to_zoned(TimeZone::UTC).ok().map(|z| format(z.timestamp()));
    }
    if let Ok(d) = text.parse::<jiff::civil::Date>() {
        return d.to_zoned(TimeZone::UTC).ok().map(|z| format(z.timestamp()));
    }
    None
}

/// A query's `at` bound: a date means the end of that day (what did we know on 12 March).
pub fn parse_bound(text: &str) -> Option<String> {
    let text = text.trim();
    if let Ok(d) = text.parse::<jiff::civil::Date>() {
        return Some(format!("{d}T23:59:59Z"));
    }
    parse(text)
}

/// The later of two storage-form times.
pub fn max<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a >= b { a } else { b }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_feed_time_forms() {
        assert_eq!(parse("2021-05-14 00:11:30").unwrap(), "2021-05-14T00:11:30Z");
        assert_eq!(parse("2021-03-15T02:14:09+00:00").unwrap(), "2021-03-15T02:14:09Z");
        assert_eq!(parse("2021-03-15T04:14:09+02:00").unwrap(), "2021-03-15T02:14:09Z");
        assert_eq!(parse("2026-11-26T05:44:40.966945624Z").unwrap(), "2026-11-26T05:44:40Z");
        assert_eq!(parse("2021-03-12").unwrap(), "2021-03-12T00:00:00Z");
        assert_eq!(parse_bound("2021-03-12").unwrap(), "2021-03-12T23:59:59Z");
        assert!(parse("yesterday").is_none());
        assert!(parse("").is_none());
    }
}
