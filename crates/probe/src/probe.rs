//! Probing one target: resolve, ask the OWA page, then the export-tool manifest when the build is
//! still incomplete, and turn what was seen into a [`Record`].
//!
//! The requests are exactly those of detections.md section D, in order of cost: `GET /owa/`
//! (following the server's own redirects on the same connection), `GET /ecp/Current/exporttool/…`
//! only when no 4-part build was seen, and `GET /ecp/<build>/exporttool/…` only for the build
//! table's candidates of the CU seen. Nothing else is ever sent: no cookies, no other paths, no
//! method but GET.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rustls::pki_types::ServerName;
use taskforce_builds::{Build, BuildTable};
use tokio::time::Instant;

use crate::client::{ClientSettings, Endpoint, ErrorKind, ProbeError, Response, Session, SessionStats};
use crate::fingerprint::{
    MAX_BUILD_LOOKUPS, Method, OWA_PATH, Signal, assess, export_tool_path, header_build, is_full, is_logon_location,
    manifest_build, resource_path_build,
};
use crate::limit::RateLimiter;
use crate::record::{Record, Timings};
use crate::targets::{Host, Scheme, Target};
use crate::tls::TlsSetup;

/// Redirects followed from `/owa/` (a real server needs one, to the logon page).
pub const MAX_REDIRECTS: usize = 8;

/// Addresses tried for a name that resolves to several.
const MAX_ADDRESSES: usize = 4;

/// How a run probes; the defaults are the CLI's.
#[derive(Debug, Clone)]
pub struct Options {
    /// Requests per second over the whole run; 0 = unlimited.
    pub rate: f64,
    /// Time budget of one attempt at one target: connecting, TLS and every answer together
    /// (waiting for the rate limit is not counted). Also bounds name resolution.
    pub timeout: Duration,
    /// Further attempts after a transient failure (timeout, reset) that taught nothing.
    pub retries: u32,
    /// Reject certificates that do not verify against the Mozilla roots.
    pub verify_tls: bool,
    pub user_agent: String,
    /// Names answered without DNS (like curl's `--resolve`).
    pub resolve: HashMap<String, IpAddr>,
    /// Bytes of a body read at most; the logon page's resource paths are in its first KiB.
    pub body_limit: usize,
}

/// Says what the probe is and where to read about it, so an administrator who sees it in a log
/// knows it is a version check and not an attack.
pub fn default_user_agent() -> String {
    format!(
        "taskforce-probe/{} (non-intrusive Exchange version check; +{})",
        env!("CARGO_PKG_VERSION"),
        env!("CARGO_PKG_REPOSITORY")
    )
}

impl Default for Options {
    fn default() -> Options {
        Options {
            rate: 100.0,
            timeout: Duration::from_secs(10),
            retries: 1,
            verify_tls: false,
            user_agent: default_user_agent(),
            resolve: HashMap::new(),
            body_limit: 128 * 1024,
        }
    }
}

/// A TLS setup that could not be built (never expected with the built-in roots).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up TLS: {0}")]
pub struct SetupError(#[from] rustls::Error);

/// Probes targets; one per run, shared by every probe.
#[derive(Debug)]
pub struct Prober {
    settings: ClientSettings,
    timeout: Duration,
    retries: u32,
    resolve: HashMap<String, IpAddr>,
    table: &'static BuildTable,
}

impl Prober {
    pub fn new(options: Options) -> Result<Prober, SetupError> {
        let resolve = options.resolve.into_iter().map(|(name, ip)| (name.to_ascii_lowercase(), ip)).collect();
        Ok(Prober {
            settings: ClientSettings {
                tls: TlsSetup::new(options.verify_tls)?,
                limiter: RateLimiter::new(options.rate),
                user_agent: options.user_agent,
                body_limit: options.body_limit.max(1024),
            },
            timeout: options.timeout,
            retries: options.retries,
            resolve,
            table: BuildTable::builtin(),
        })
    }

    /// Probes one target. Never fails: every problem is described in the record.
    pub async fn probe(&self, target: &Target) -> Record {
        let started = Instant::now();
        let mut record = Record::new(target);
        let endpoint = match self.endpoint(target).await {
            Ok(endpoint) => endpoint,
            Err(e) => {
                record.error = Some(e);
                record.timings.total_ms = millis(started.elapsed());
                return record;
            }
        };
        record.address = endpoint.addrs.first().map(SocketAddr::ip);
        let mut stats = SessionStats::default();
        let (findings, error) = loop {
            record.attempts += 1;
            let mut session = Session::new(&self.settings, &endpoint, self.timeout);
            let mut findings = Findings::default();
            let outcome = fingerprint(&mut session, &mut findings, self.table).await;
            merge(&mut stats, session.stats);
            match outcome {
                Err(e) if e.kind.is_transient() && findings.responses == 0 && record.attempts <= self.retries => {
                    tokio::time::sleep(Duration::from_millis(250) * record.attempts).await;
                }
                Err(e) => break (findings, Some(e)),
                Ok(()) => break (findings, None),
            }
        };
        record.address = stats.address.map(|a| a.ip()).or(record.address);
        record.reachable = stats.reachable;
        record.requests = stats.requests;
        record.tls = stats.tls;
        record.timings = Timings { connect_ms: stats.connect_ms, tls_ms: stats.tls_ms, total_ms: 0 };
        record.exchange = !findings.signals.is_empty();
        let (build, method) = findings.best().unzip();
        let assessment = assess(record.exchange, build.as_ref(), self.table);
        record.precision = build.map(|b| b.precision());
        record.build = build;
        record.method = method;
        record.product = assessment.product;
        record.cu = assessment.cu;
        record.patch = assessment.patch;
        record.signals = findings.signals;
        record.http_status = findings.http_status;
        record.server = findings.server;
        record.redirect = findings.redirect;
        // A problem met on the way (a redirect loop) counts as much as the one that stopped us.
        record.error = findings.soft_error.or(error);
        record.timings.total_ms = millis(started.elapsed());
        record
    }

    /// Where to connect: the address itself, or the name's addresses.
    async fn endpoint(&self, target: &Target) -> Result<Endpoint, ProbeError> {
        let port = target.port;
        let (addrs, server_name, host) = match &target.host {
            Host::Ip(ip) => {
                let shown = match ip {
                    IpAddr::V4(v4) => v4.to_string(),
                    IpAddr::V6(v6) => format!("[{v6}]"),
                };
                (vec![SocketAddr::new(*ip, port)], ServerName::IpAddress((*ip).into()), shown)
            }
            Host::Name(name) => {
                let addrs = match self.resolve.get(name.as_ref()) {
                    Some(ip) => vec![SocketAddr::new(*ip, port)],
                    None => self.lookup(name, port).await?,
                };
                let server_name = ServerName::try_from(name.to_string())
                    .unwrap_or_else(|_| ServerName::IpAddress(addrs[0].ip().into()));
                (addrs, server_name, name.to_string())
            }
        };
        let host_header = if port == target.scheme.default_port() { host } else { format!("{host}:{port}") };
        Ok(Endpoint { scheme: target.scheme, port, host_header, server_name, addrs })
    }

    async fn lookup(&self, name: &str, port: u16) -> Result<Vec<SocketAddr>, ProbeError> {
        let found = tokio::time::timeout(self.timeout, tokio::net::lookup_host((name, port)))
            .await
            .map_err(|_| ProbeError::new(ErrorKind::Dns, format!("resolving {name} timed out")))?
            .map_err(|e| ProbeError::new(ErrorKind::Dns, format!("cannot resolve {name}: {e}")))?;
        let mut addrs: Vec<SocketAddr> = Vec::new();
        for addr in found {
            if !addrs.contains(&addr) && addrs.len() < MAX_ADDRESSES {
                addrs.push(addr);
            }
        }
        if addrs.is_empty() {
            return Err(ProbeError::new(ErrorKind::Dns, format!("{name} has no address")));
        }
        Ok(addrs)
    }
}

/// Counts add up over attempts; the first connection's figures and certificate are kept.
fn merge(into: &mut SessionStats, from: SessionStats) {
    into.requests += from.requests;
    into.connections += from.connections;
    into.reachable |= from.reachable;
    into.address = into.address.or(from.address);
    if from.reachable {
        into.address = from.address;
    }
    into.connect_ms = into.connect_ms.or(from.connect_ms);
    into.tls_ms = into.tls_ms.or(from.tls_ms);
    into.tls = into.tls.take().or(from.tls);
}

fn millis(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

/// What one attempt has seen so far.
#[derive(Debug, Default)]
struct Findings {
    responses: u32,
    signals: Vec<Signal>,
    /// The first 4-part build, from the most trusted source asked first.
    full: Option<(Build, Method)>,
    /// The CU from the logon page's resource paths.
    cu: Option<Build>,
    http_status: Option<u16>,
    server: Option<String>,
    redirect: Option<String>,
    soft_error: Option<ProbeError>,
}

impl Findings {
    fn signal(&mut self, signal: Signal) {
        if !self.signals.contains(&signal) {
            self.signals.push(signal);
        }
    }

    fn offer(&mut self, build: Build, method: Method) {
        if self.full.is_none() && is_full(&build) {
            self.full = Some((build, method));
        }
    }

    fn best(&self) -> Option<(Build, Method)> {
        self.full.or(self.cu.map(|b| (b, Method::OwaResourcePath)))
    }

    /// Headers that identify Exchange on any response.
    fn observe_headers(&mut self, response: &Response) {
        self.responses += 1;
        if let Some(build) = response.header("x-owa-version").and_then(header_build) {
            self.signal(Signal::XOwaVersion);
            self.offer(build, Method::XOwaVersion);
        }
        if response.header("x-feserver").is_some() {
            self.signal(Signal::XFeServer);
        }
    }

    fn observe_owa(&mut self, response: &Response) {
        self.observe_headers(response);
        self.http_status = Some(response.status);
        self.server = response.header("server").map(|s| String::from_utf8_lossy(s).into_owned());
        if let Some(build) = resource_path_build(&response.body) {
            self.signal(Signal::OwaResourcePath);
            self.cu = self.cu.max(Some(build));
        }
    }

    /// Whether an export-tool manifest answered; offers its build.
    fn observe_manifest(&mut self, response: &Response, method: Method) -> bool {
        self.observe_headers(response);
        if !(200..300).contains(&response.status) {
            return false;
        }
        match manifest_build(&response.body) {
            Some(build) => {
                self.signal(Signal::EcpExporttool);
                self.offer(build, method);
                true
            }
            None => false,
        }
    }
}

/// The requests of one attempt. Errors end the attempt; what was seen stays in `findings`.
async fn fingerprint(session: &mut Session<'_>, findings: &mut Findings, table: &BuildTable) -> Result<(), ProbeError> {
    let mut path = OWA_PATH.to_owned();
    let mut visited = vec![path.clone()];
    loop {
        let response = session.get(&path).await?;
        findings.observe_owa(&response);
        let Some(location) = redirect_location(&response) else {
            break;
        };
        if is_logon_location(&location) {
            findings.signal(Signal::OwaLogonRedirect);
        }
        let Some(next) = follow(&location, &path, session.endpoint().scheme, session.endpoint().port) else {
            findings.redirect = Some(location);
            break;
        };
        if visited.contains(&next) {
            findings.soft_error =
                Some(ProbeError::new(ErrorKind::RedirectLoop, format!("redirect loop: {path} -> {next}")));
            break;
        }
        if visited.len() > MAX_REDIRECTS {
            findings.soft_error = Some(ProbeError::new(
                ErrorKind::TooManyRedirects,
                format!("more than {MAX_REDIRECTS} redirects from {OWA_PATH}"),
            ));
            break;
        }
        visited.push(next.clone());
        path = next;
    }
    if findings.full.is_none() {
        let response = session.get(&export_tool_path("Current")).await?;
        findings.observe_manifest(&response, Method::EcpExporttool);
    }
    if findings.full.is_none()
        && let Some(cu) = findings.cu
    {
        // Newest first: a server keeps the folder of each build it ran, so the highest folder
        // present is the build it runs now.
        for candidate in table.known_builds(&cu).into_iter().rev().take(MAX_BUILD_LOOKUPS) {
            let response = session.get(&export_tool_path(&candidate.to_string())).await?;
            if findings.observe_manifest(&response, Method::EcpBuildPath) {
                findings.full = None;
                findings.offer(candidate, Method::EcpBuildPath);
                break;
            }
        }
    }
    Ok(())
}

/// The `Location` of a redirect response.
fn redirect_location(response: &Response) -> Option<String> {
    if !matches!(response.status, 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = std::str::from_utf8(response.header("location")?).ok()?.trim();
    (!location.is_empty()).then(|| location.to_owned())
}

/// The path to request next for a redirect, when it stays on this target: same scheme and port.
/// Its host is not contacted; the path is asked of the target itself (Exchange redirects to its
/// configured external name, which may not be the name or address probed). `None` when the
/// redirect leaves the target or is not a usable path.
fn follow(location: &str, current: &str, scheme: Scheme, port: u16) -> Option<String> {
    let location = location.split('#').next().unwrap_or("");
    let path = if let Some((given, rest)) = location.split_once("://") {
        let given = match given.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return None,
        };
        same_endpoint(rest, given, scheme, port)?
    } else if let Some(rest) = location.strip_prefix("//") {
        same_endpoint(rest, scheme, scheme, port)?
    } else if location.starts_with('/') {
        location.to_owned()
    } else {
        let base = current.split('?').next().unwrap_or("/");
        let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
        format!("{dir}{location}")
    };
    let path = if path.is_empty() { "/".to_owned() } else { path };
    // Only what can go on a request line as is.
    (path.starts_with('/') && path.bytes().all(|b| b.is_ascii_graphic())).then_some(path)
}

/// The path of `authority/path` when the authority's port (or the scheme's default) and the
/// scheme are the target's.
fn same_endpoint(rest: &str, given: Scheme, scheme: Scheme, port: u16) -> Option<String> {
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let authority = authority.rsplit('@').next().unwrap_or("");
    let given_port = match authority.rsplit_once(':') {
        Some((host, p)) if host.starts_with('[') == host.ends_with(']') => p.parse::<u16>().ok()?,
        _ => given.default_port(),
    };
    if given != scheme || given_port != port {
        return None;
    }
    Some(if path.starts_with('?') { format!("/{path}") } else { path.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_are_followed_only_on_the_same_scheme_and_port() {
        let https = Scheme::Https;
        let logon = "https://mail.example.org/owa/auth/logon.aspx?url=https%3a%2f%2fmail.example.org%2fowa%2f&reason=0";
        assert_eq!(
            follow(logon, "/owa/", https, 443).as_deref(),
            Some("/owa/auth/logon.aspx?url=https%3a%2f%2fmail.example.org%2fowa%2f&reason=0")
        );
        assert_eq!(follow("https://10.0.0.1:8443/owa/", "/owa", https, 8443).as_deref(), Some("/owa/"));
        assert_eq!(follow("https://[2001:db8::1]:8443/x", "/owa", https, 8443).as_deref(), Some("/x"));
        assert_eq!(follow("https://[2001:db8::1]/x", "/owa", https, 443).as_deref(), Some("/x"));
        assert_eq!(follow("//other.example/owa/", "/owa/", https, 443).as_deref(), Some("/owa/"));
        assert_eq!(follow("/owa/auth/logon.aspx", "/owa/", https, 443).as_deref(), Some("/owa/auth/logon.aspx"));
        assert_eq!(follow("auth/logon.aspx#top", "/owa/", https, 443).as_deref(), Some("/owa/auth/logon.aspx"));
        assert_eq!(follow("logon.aspx", "/owa/auth/x?y=/z", https, 443).as_deref(), Some("/owa/auth/logon.aspx"));
        assert_eq!(follow("https://h.example?x=1", "/owa/", https, 443).as_deref(), Some("/?x=1"));
        assert_eq!(follow("https://h.example", "/owa/", https, 443).as_deref(), Some("/"));
        // Leaving the target: another scheme or port, or an unusable path.
        assert_eq!(follow("https://mail.example.org/owa/", "/owa/", Scheme::Http, 80), None);
        assert_eq!(follow("http://mail.example.org/owa/", "/owa/", https, 443), None);
        assert_eq!(follow("https://mail.example.org:444/owa/", "/owa/", https, 443), None);
        assert_eq!(follow("ftp://x/", "/owa/", https, 443), None);
        assert_eq!(follow("/a b", "/owa/", https, 443), None);
    }
}
