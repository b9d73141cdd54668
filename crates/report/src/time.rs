//! Time formats of the output formats: STIX wants `YYYY-MM-DDTHH:MM:SS[.fff]Z`, Timesketch
//! microseconds since the epoch.

use jiff::Timestamp;

use crate::model::Report;

/// When the report was made: its `generated_at` when it has one, else now.
pub fn report_time(report: &Report) -> Timestamp {
    report.generated_at.as_deref().and_then(|t| t.parse().ok()).unwrap_or_else(Timestamp::now)
}

/// An RFC 3339 time in UTC with a `Z` and millisecond precision, or `None` when unparsable.
pub fn stix_time(t: &str) -> Option<String> {
    let ts: Timestamp = t.parse().ok()?;
    Some(ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

pub fn stix_time_of(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Microseconds since the Unix epoch.
pub fn micros(t: &str) -> Option<i64> {
    let ts: Timestamp = t.parse().ok()?;
    Some(ts.as_microsecond())
}
