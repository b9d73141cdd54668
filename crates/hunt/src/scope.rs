//! What the responder scoped the hunt to: a time window (`--since`/`--until`) and an allowlist of
//! addresses (the organisation's own scanners and monitoring), whose requests stay in the report
//! as context, never as attacks.

use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use jiff::Timestamp;
use taskforce_report::{Effect, Severity};

use crate::Judged;

/// Addresses and networks whose requests are not attacks.
#[derive(Debug, Default, Clone)]
pub struct Allowlist {
    nets: Vec<IpNet>,
    /// Where it came from, for the findings' detail.
    pub origin: String,
}

impl Allowlist {
    /// One address or CIDR per line; `#` starts a comment. A line that is neither is an error
    /// naming the file and line (the run must not silently allow less than asked).
    pub fn load(path: &Path) -> Result<Allowlist, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Allowlist, String> {
        let mut nets = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let item = line.split('#').next().unwrap_or("").trim().trim_start_matches('\u{feff}');
            if item.is_empty() {
                continue;
            }
            let net = item
                .parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{origin}:{}: not an address or network: {item:?}", i + 1))?;
            nets.push(net);
        }
        Ok(Allowlist { nets, origin: origin.to_string() })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(&ip))
    }

    pub fn len(&self) -> usize {
        self.nets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

/// Findings from allowlisted addresses become context (effect `none`, at most `low`), marked as
/// such and kept in the report.
pub fn apply_allowlist(judged: &mut [Judged], allow: &Allowlist) {
    for j in judged.iter_mut() {
        if j.finding.client_address().and_then(|v| v.trim().parse::<IpAddr>().ok()).is_some_and(|ip| allow.contains(ip))
        {
            j.effect = Effect::None;
            j.finding.severity = j.finding.severity.min(Severity::Low);
            j.finding.detail.insert("effect".into(), "none".into());
            j.finding.detail.insert("allowlisted".into(), allow.origin.clone().into());
            j.finding.title = format!("Allowlisted address: {}", j.finding.title);
        }
    }
}

/// Keeps the findings inside `[since, until]`; undated findings (a file on disk without a time)
/// are kept, since nothing says they are outside.
pub fn apply_window(judged: &mut Vec<Judged>, since: Option<Timestamp>, until: Option<Timestamp>) {
    judged.retain(|j| in_window(j.timestamp, since, until));
}

/// Whether a time is inside `[since, until]`; undated is inside.
pub fn in_window(time: Option<Timestamp>, since: Option<Timestamp>, until: Option<Timestamp>) -> bool {
    match time {
        Some(t) => since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u),
        None => true,
    }
}

/// Parses `--since`/`--until`: RFC 3339, or a date (`2021-03-01`, midnight UTC).
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    let s = s.trim();
    s.parse::<Timestamp>()
        .or_else(|_| {
            s.parse::<jiff::civil::Date>()
                .map_err(|e| e.to_string())
                .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).map(|z| z.timestamp()).map_err(|e| e.to_string()))
        })
        .map_err(|_| format!("{s:?} is neither an RFC 3339 time nor a date (YYYY-MM-DD)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_lines() {
        let a = Allowlist::parse("# our scanners\n192.0.2.10\n198.51.100.0/24  # monitoring\n\n2001:db8::/32\n", "x")
            .unwrap();
        assert_eq!(a.len(), 3);
        assert!(a.contains("192.0.2.10".parse().unwrap()));
        assert!(a.contains("198.51.100.77".parse().unwrap()));
        assert!(a.contains("2001:db8::5".parse().unwrap()));
        assert!(!a.contains("192.0.2.11".parse().unwrap()));
        let e = Allowlist::parse("192.0.2.1\nnot-an-ip\n", "list.txt").unwrap_err();
        assert!(e.contains("list.txt:2"), "{e}");
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("2021-03-01").unwrap().to_string(), "2021-03-01T00:00:00Z");
        assert_eq!(parse_time("2021-03-01T04:00:00Z").unwrap().to_string(), "2021-03-01T04:00:00Z");
        assert!(parse_time("yesterday").is_err());
    }
}
