//! Target lists: host names, addresses, CIDR ranges, address ranges and URLs, with ports,
//! de-duplicated without expanding the ranges.
//!
//! A national CERT probes whole address blocks, so a `/16` (or a file of 65,536 lines) must not
//! cost memory per address. Ranges are therefore kept as intervals: a new range is reduced to
//! the parts no earlier range covered (per scheme and port), and addresses are only produced
//! when [`TargetList::iter`] is walked. Memory is proportional to the number of specs given,
//! never to the number of addresses.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io::BufRead;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use serde::Serialize;

/// The largest single range accepted (2^24 addresses, an IPv4 /8 or an IPv6 /104): beyond that
/// a typo (`/64` for `/120`) would start a run that never ends.
pub const MAX_RANGE: u128 = 1 << 24;

/// The port used when a target names none and no `--ports` were given.
pub const DEFAULT_PORT: u16 = 443;

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    /// Plain HTTP on port 80, HTTPS everywhere else: Exchange front ends answer on 443.
    pub fn for_port(port: u16) -> Scheme {
        if port == 80 { Scheme::Http } else { Scheme::Https }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to connect to: a name (resolved when probed) or an address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Name(Arc<str>),
    Ip(IpAddr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// One thing to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: Host,
    pub port: u16,
    pub scheme: Scheme,
    /// The argument or file line this target came from (a CIDR for each of its addresses).
    pub input: Arc<str>,
}

/// A target spec that could not be read; the message names the input and, for files, the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TargetError {
    pub message: String,
}

fn error(message: impl Into<String>) -> TargetError {
    TargetError { message: message.into() }
}

/// Parses a port list such as `443`, `443,8443` or `20000-20079` (ranges inclusive).
pub fn parse_ports(text: &str) -> Result<Vec<u16>, TargetError> {
    let mut ports = Vec::new();
    let mut seen = HashSet::new();
    for part in text.split(',').map(str::trim) {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (port_number(lo, text)?, port_number(hi, text)?),
            None => {
                let p = port_number(part, text)?;
                (p, p)
            }
        };
        if lo > hi {
            return Err(error(format!("bad port range {part:?} in {text:?}")));
        }
        ports.extend((lo..=hi).filter(|p| seen.insert(*p)));
    }
    Ok(ports)
}

fn port_number(text: &str, whole: &str) -> Result<u16, TargetError> {
    match text.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(error(format!("bad port {text:?} in {whole:?} (expected 1-65535)"))),
    }
}

/// A parsed spec before port expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Spec {
    Name { name: Arc<str>, port: Option<u16>, scheme: Option<Scheme> },
    Range { lo: u128, hi: u128, v6: bool, port: Option<u16>, scheme: Option<Scheme> },
}

/// Reads one target spec (see the crate README for the forms).
fn parse_spec(text: &str) -> Result<Spec, TargetError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(error("empty target"));
    }
    if let Some((scheme, rest)) = text.split_once("://") {
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "https" => Scheme::Https,
            "http" => Scheme::Http,
            other => return Err(error(format!("{text:?}: unsupported scheme {other:?} (http or https)"))),
        };
        // The path, query and user info of a URL are not used: Exchange's paths are fixed.
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let authority = authority.rsplit('@').next().unwrap_or("");
        let (host, port) = split_host_port(authority, text)?;
        let port = port.unwrap_or(scheme.default_port());
        return host_spec(host, Some(port), Some(scheme), text);
    }
    // A bare IPv6 address or range (`::1`, `2001:db8::/120`) has colons and no brackets.
    if !text.starts_with('[') && text.matches(':').count() > 1 {
        return host_spec(text, None, None, text);
    }
    let (host, port) = split_host_port(text, text)?;
    host_spec(host, port, None, text)
}

/// Splits `host:port`, `[v6]:port`, `[v6]` or `host`.
fn split_host_port<'a>(authority: &'a str, whole: &str) -> Result<(&'a str, Option<u16>), TargetError> {
    if let Some(rest) = authority.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err(error(format!("{whole:?}: missing ']'")));
        };
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port_number(port, whole)?))),
                None => Err(error(format!("{whole:?}: unexpected {after:?} after ']'"))),
            },
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Ok((host, Some(port_number(port, whole)?))),
        None => Ok((authority, None)),
    }
}

fn host_spec(host: &str, port: Option<u16>, scheme: Option<Scheme>, whole: &str) -> Result<Spec, TargetError> {
    if host.is_empty() {
        return Err(error(format!("{whole:?}: no host")));
    }
    if let Some((addr, prefix)) = host.split_once('/') {
        let addr: IpAddr = addr.parse().map_err(|_| error(format!("{whole:?}: {addr:?} is not an IP address")))?;
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u32 = match prefix.parse() {
            Ok(p) if p <= bits => p,
            _ => return Err(error(format!("{whole:?}: bad prefix length /{prefix} (0-{bits})"))),
        };
        let size_bits = bits - prefix;
        let (value, v6) = to_u128(addr);
        // Host bits are ignored (10.0.0.5/24 is 10.0.0.0/24), as nmap and masscan do.
        let lo = if size_bits == 128 { 0 } else { value >> size_bits << size_bits };
        let hi = lo | if size_bits == 128 { u128::MAX } else { (1u128 << size_bits) - 1 };
        return range_spec(lo, hi, v6, port, scheme, whole);
    }
    if let Some((first, last)) = host.split_once('-')
        && let (Ok(first), Ok(last)) = (first.trim().parse::<IpAddr>(), last.trim().parse::<IpAddr>())
    {
        let ((lo, v6), (hi, v6_last)) = (to_u128(first), to_u128(last));
        if v6 != v6_last || lo > hi {
            return Err(error(format!("{whole:?}: bad address range")));
        }
        return range_spec(lo, hi, v6, port, scheme, whole);
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        let (value, v6) = to_u128(ip);
        return range_spec(value, value, v6, port, scheme, whole);
    }
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    // A dotted all-digit name (`999.1.1.1`) is a mistyped address, not a host name.
    if !valid || name.split('.').all(|label| label.bytes().all(|b| b.is_ascii_digit())) {
        return Err(error(format!("{whole:?}: not a host name, IP address, CIDR range or URL")));
    }
    Ok(Spec::Name { name: name.into(), port, scheme })
}

fn range_spec(
    lo: u128,
    hi: u128,
    v6: bool,
    port: Option<u16>,
    scheme: Option<Scheme>,
    whole: &str,
) -> Result<Spec, TargetError> {
    if hi - lo >= MAX_RANGE {
        return Err(error(format!(
            "{whole:?}: range of {} addresses is larger than the limit of {MAX_RANGE}; split it",
            (hi - lo).saturating_add(1)
        )));
    }
    Ok(Spec::Range { lo, hi, v6, port, scheme })
}

fn to_u128(ip: IpAddr) -> (u128, bool) {
    match ip {
        IpAddr::V4(v4) => (u32::from(v4) as u128, false),
        IpAddr::V6(v6) => (u128::from(v6), true),
    }
}

fn from_u128(value: u128, v6: bool) -> IpAddr {
    if v6 { IpAddr::V6(Ipv6Addr::from(value)) } else { IpAddr::V4(Ipv4Addr::from(value as u32)) }
}

/// Disjoint, non-adjacent-merged inclusive intervals, keyed by start.
#[derive(Debug, Default)]
struct IntervalSet {
    by_start: BTreeMap<u128, u128>,
}

impl IntervalSet {
    /// Adds `[lo, hi]` and returns the parts that were not already present, ascending.
    fn insert_new(&mut self, lo: u128, hi: u128) -> Vec<(u128, u128)> {
        let mut fresh = Vec::new();
        let mut cursor = lo;
        // Covered intervals that may overlap [lo, hi]: the one starting at or before lo, and
        // every one starting inside.
        let first = self.by_start.range(..=lo).next_back().map(|(&s, &e)| (s, e));
        let inside: Vec<(u128, u128)> = self.by_start.range(lo..=hi).map(|(&s, &e)| (s, e)).collect();
        for (s, e) in first.into_iter().chain(inside) {
            if e < cursor {
                continue;
            }
            if s > cursor {
                fresh.push((cursor, s - 1));
            }
            if e >= hi {
                return self.finish(lo, hi, fresh);
            }
            cursor = e + 1;
        }
        fresh.push((cursor, hi));
        self.finish(lo, hi, fresh)
    }

    /// Merges `[lo, hi]` with everything it overlaps or touches.
    fn finish(&mut self, lo: u128, hi: u128, fresh: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
        let mut start = lo;
        let mut end = hi;
        if let Some((&s, &e)) = self.by_start.range(..=lo).next_back()
            && e.saturating_add(1) >= lo
        {
            start = s;
            end = end.max(e);
        }
        let touching: Vec<u128> = self.by_start.range(start..=hi.saturating_add(1)).map(|(&s, _)| s).collect();
        for s in touching {
            if let Some(e) = self.by_start.remove(&s) {
                end = end.max(e);
            }
        }
        self.by_start.insert(start, end);
        fresh
    }
}

/// One piece of work: a name, or an address interval, on one port.
#[derive(Debug, Clone)]
enum Item {
    Name { name: Arc<str>, port: u16, scheme: Scheme, input: Arc<str> },
    Range { lo: u128, hi: u128, v6: bool, port: u16, scheme: Scheme, input: Arc<str> },
}

/// The de-duplicated targets of a run, in the order given (addresses ascending within a range).
#[derive(Debug, Default)]
pub struct TargetList {
    items: Vec<Item>,
    total: u64,
    names: HashSet<(Arc<str>, u16, Scheme)>,
    ranges: BTreeMap<(bool, u16, Scheme), IntervalSet>,
    ports: Vec<u16>,
}

impl TargetList {
    /// An empty list whose specs without a port get each of `ports` (`[443]` when empty).
    pub fn new(ports: &[u16]) -> TargetList {
        let ports = if ports.is_empty() { vec![DEFAULT_PORT] } else { ports.to_vec() };
        TargetList { ports, ..TargetList::default() }
    }

    /// Adds one spec (a command-line argument or a file line without its comment).
    pub fn add(&mut self, spec: &str) -> Result<(), TargetError> {
        let parsed = parse_spec(spec)?;
        let input: Arc<str> = spec.trim().into();
        let ports = |port: Option<u16>| -> Vec<u16> { port.map_or_else(|| self.ports.clone(), |p| vec![p]) };
        match parsed {
            Spec::Name { name, port, scheme } => {
                for port in ports(port) {
                    let scheme = scheme.unwrap_or(Scheme::for_port(port));
                    if self.names.insert((name.clone(), port, scheme)) {
                        self.total += 1;
                        self.items.push(Item::Name { name: name.clone(), port, scheme, input: input.clone() });
                    }
                }
            }
            Spec::Range { lo, hi, v6, port, scheme } => {
                for port in ports(port) {
                    let scheme = scheme.unwrap_or(Scheme::for_port(port));
                    let set = self.ranges.entry((v6, port, scheme)).or_default();
                    for (lo, hi) in set.insert_new(lo, hi) {
                        self.total += (hi - lo + 1) as u64;
                        self.items.push(Item::Range { lo, hi, v6, port, scheme, input: input.clone() });
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds every line of a target file: one spec per line, blank lines and `#` comments
    /// (whole-line or trailing) ignored. Errors name the line.
    pub fn add_lines(&mut self, reader: impl BufRead, origin: &str) -> Result<(), TargetError> {
        for (index, line) in reader.lines().enumerate() {
            let line = line.map_err(|e| error(format!("{origin}: cannot read: {e}")))?;
            let content = line.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            self.add(content).map_err(|e| error(format!("{origin}:{}: {}", index + 1, e.message)))?;
        }
        Ok(())
    }

    /// How many targets [`TargetList::iter`] yields.
    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The targets, produced lazily: walking a /16 allocates one target at a time.
    pub fn iter(&self) -> impl Iterator<Item = Target> + '_ {
        self.items.iter().flat_map(|item| -> Box<dyn Iterator<Item = Target> + '_> {
            match item {
                Item::Name { name, port, scheme, input } => Box::new(std::iter::once(Target {
                    host: Host::Name(name.clone()),
                    port: *port,
                    scheme: *scheme,
                    input: input.clone(),
                })),
                Item::Range { lo, hi, v6, port, scheme, input } => Box::new((*lo..=*hi).map(move |value| Target {
                    host: Host::Ip(from_u128(value, *v6)),
                    port: *port,
                    scheme: *scheme,
                    input: input.clone(),
                })),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(ports: &[u16], specs: &[&str]) -> TargetList {
        let mut list = TargetList::new(ports);
        for spec in specs {
            list.add(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
        }
        list
    }

    fn shown(list: &TargetList) -> Vec<String> {
        list.iter()
            .map(|t| match t.host {
                Host::Ip(IpAddr::V6(ip)) => format!("{}://[{ip}]:{}", t.scheme, t.port),
                host => format!("{}://{host}:{}", t.scheme, t.port),
            })
            .collect()
    }

    #[test]
    fn every_form_of_spec() {
        let l = list(
            &[],
            &[
                "mail.Example.org.",
                "10.0.0.1",
                "10.0.0.2:8443",
                "::1",
                "[::2]:444",
                "[::3]",
                "https://owa.example.org/owa/",
                "http://10.0.0.3",
                "HTTPS://user@[2001:db8::1]:9443/x?y",
                "192.0.2.0/31",
                "198.51.100.7-198.51.100.8",
                "80.1.2.3:80",
            ],
        );
        assert_eq!(
            shown(&l),
            [
                "https://mail.example.org:443",
                "https://10.0.0.1:443",
                "https://10.0.0.2:8443",
                "https://[::1]:443",
                "https://[::2]:444",
                "https://[::3]:443",
                "https://owa.example.org:443",
                "http://10.0.0.3:80",
                "https://[2001:db8::1]:9443",
                "https://192.0.2.0:443",
                "https://192.0.2.1:443",
                "https://198.51.100.7:443",
                "https://198.51.100.8:443",
                "http://80.1.2.3:80",
            ]
        );
        assert_eq!(l.len(), 14);
        assert_eq!(l.iter().nth(9).unwrap().input.as_ref(), "192.0.2.0/31");
    }

    #[test]
    fn ports_apply_to_specs_without_one() {
        let l = list(&[443, 80, 8443], &["10.0.0.1", "10.0.0.2:1234", "https://h.example:4443"]);
        assert_eq!(
            shown(&l),
            [
                "https://10.0.0.1:443",
                "http://10.0.0.1:80",
                "https://10.0.0.1:8443",
                "https://10.0.0.2:1234",
                "https://h.example:4443"
            ]
        );
        assert_eq!(parse_ports("443, 8443,20000-20003,443").unwrap(), [443, 8443, 20000, 20001, 20002, 20003]);
        for bad in ["0", "65536", "x", "10-5", "", "443,"] {
            assert!(parse_ports(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn duplicates_and_overlapping_ranges_are_probed_once() {
        let l = list(
            &[443],
            &[
                "10.0.0.0/30",
                "10.0.0.1",
                "10.0.0.2-10.0.0.6",
                "10.0.0.0/29",
                "https://10.0.0.3:443",
                "http://10.0.0.3:443",
                "MAIL.example.org",
                "mail.example.org:443",
                "https://mail.example.org/",
                "10.0.0.7:8443",
            ],
        );
        assert_eq!(
            shown(&l),
            [
                "https://10.0.0.0:443",
                "https://10.0.0.1:443",
                "https://10.0.0.2:443",
                "https://10.0.0.3:443",
                "https://10.0.0.4:443",
                "https://10.0.0.5:443",
                "https://10.0.0.6:443",
                "https://10.0.0.7:443",
                "http://10.0.0.3:443",
                "https://mail.example.org:443",
                "https://10.0.0.7:8443",
            ]
        );
        assert_eq!(l.len(), 11);
        // Covering an existing hole fills only the hole.
        let l = list(&[], &["10.0.0.10", "10.0.0.12", "10.0.0.8/29", "10.0.0.0/28"]);
        assert_eq!(l.len(), 16);
        let all: HashSet<String> = shown(&l).into_iter().collect();
        assert_eq!(all.len(), 16);
    }

    #[test]
    fn a_slash_16_is_kept_as_one_interval_and_walked_lazily() {
        let l = list(&[], &["10.20.0.0/16", "10.20.7.7", "10.20.255.255/32"]);
        assert_eq!(l.len(), 65_536);
        assert_eq!(l.items.len(), 1, "ranges are not expanded when added");
        let mut count = 0u64;
        let mut last = None;
        for t in l.iter() {
            count += 1;
            last = Some(t.host);
        }
        assert_eq!(count, 65_536);
        assert_eq!(last, Some(Host::Ip("10.20.255.255".parse().unwrap())));
        let l = list(&[], &["fd00::/112"]);
        assert_eq!(l.len(), 65_536);
    }

    #[test]
    fn bad_specs_are_refused_with_the_reason() {
        for bad in [
            "",
            "999.1.1.1",
            "10.0.0.0/33",
            "::/64",
            "10.0.0.0/7",
            "ftp://x.example",
            "[::1",
            "[::1]x",
            "bad host",
            "host:0",
            "host:99999",
            "10.0.0.9-10.0.0.1",
            "::1-10.0.0.1",
            "exa mple.org",
            "https://",
        ] {
            let mut l = TargetList::new(&[]);
            assert!(l.add(bad).is_err(), "{bad:?} was accepted");
        }
        let mut l = TargetList::new(&[]);
        assert!(l.add("10.0.0.0/8").is_ok(), "a /8 is within the limit");
    }

    #[test]
    fn target_files_allow_comments_and_blank_lines() {
        let text = "# our sites\n\n10.0.0.1   # head office\n  mail.example.org\n#10.9.9.9\n10.0.0.1\n";
        let mut l = TargetList::new(&[]);
        l.add_lines(text.as_bytes(), "sites.txt").unwrap();
        assert_eq!(shown(&l), ["https://10.0.0.1:443", "https://mail.example.org:443"]);
        let err = TargetList::new(&[]).add_lines("10.0.0.1\n\nnot a host!\n".as_bytes(), "sites.txt").unwrap_err();
        assert!(err.message.starts_with("sites.txt:3: "), "{err}");
    }

    #[test]
    fn interval_set_returns_only_new_parts() {
        let mut s = IntervalSet::default();
        assert_eq!(s.insert_new(10, 20), [(10, 20)]);
        assert_eq!(s.insert_new(15, 25), [(21, 25)]);
        assert_eq!(s.insert_new(0, 5), [(0, 5)]);
        assert_eq!(s.insert_new(0, 30), [(6, 9), (26, 30)]);
        assert_eq!(s.insert_new(3, 28), Vec::<(u128, u128)>::new());
        assert_eq!(s.by_start.len(), 1);
        assert_eq!(s.insert_new(u128::MAX - 1, u128::MAX), [(u128::MAX - 1, u128::MAX)]);
        assert_eq!(s.insert_new(u128::MAX, u128::MAX), Vec::<(u128, u128)>::new());
    }
}
