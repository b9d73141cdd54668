//! One target's HTTP/1.1 session: connect to the address chosen, TLS, send plain GETs on one
//! kept-alive connection, read bounded bodies, classify every failure.
//!
//! Built on hyper's connection API rather than a pooled client so that the probe controls
//! exactly which address is contacted (never another host a redirect names), records the
//! certificate of the connection it used, and bounds what a hostile responder can make it hold:
//! headers (hyper's buffer), body ([`Session::body_limit`]) and time (the target's budget).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{ACCEPT, ACCEPT_LANGUAGE, HOST, HeaderMap, USER_AGENT};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;

use crate::limit::RateLimiter;
use crate::targets::Scheme;
use crate::tls::{Captured, TlsInfo, TlsSetup, describe_certificate, describe_tls_error, version_name};

/// Why a target could not be (fully) fingerprinted; `kind` is a stable name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeError {
    pub kind: ErrorKind,
    pub message: String,
}

/// Stable error names of the `error.kind` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The name did not resolve.
    Dns,
    /// The port is closed (connection refused).
    Refused,
    /// No route to the address or network.
    Unreachable,
    /// No answer within the time budget (connect, TLS or HTTP).
    Timeout,
    /// TLS handshake failed (or `--verify-tls` rejected the certificate).
    Tls,
    /// The server closed or reset the connection before a complete answer.
    Closed,
    /// The answer is not valid HTTP (garbage, oversized headers).
    Http,
    /// The OWA redirects came back to a page already visited.
    RedirectLoop,
    /// More OWA redirects than a browser would follow.
    TooManyRedirects,
    /// Another socket error.
    Io,
    /// A bug in the probe (reported for the target, the run goes on).
    Internal,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Dns => "dns",
            ErrorKind::Refused => "refused",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Tls => "tls",
            ErrorKind::Closed => "closed",
            ErrorKind::Http => "http",
            ErrorKind::RedirectLoop => "redirect_loop",
            ErrorKind::TooManyRedirects => "too_many_redirects",
            ErrorKind::Io => "io",
            ErrorKind::Internal => "internal",
        }
    }

    /// Failures that may pass: worth another attempt (refusals and TLS or protocol errors are
    /// answers, and repeating them only adds load).
    pub fn is_transient(self) -> bool {
        matches!(self, ErrorKind::Timeout | ErrorKind::Closed | ErrorKind::Io)
    }
}

impl ProbeError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ProbeError {
        ProbeError { kind, message: message.into() }
    }
}

/// Where to connect and how to name the target in `Host` and SNI.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub scheme: Scheme,
    pub port: u16,
    /// `Host` header value: `name`, `192.0.2.1` or `[2001:db8::1]`, with `:port` when not the
    /// scheme's default.
    pub host_header: String,
    pub server_name: ServerName<'static>,
    /// Candidate addresses, tried in order until one accepts (names may have several).
    pub addrs: Vec<SocketAddr>,
}

/// A response with its body cut at the session's limit.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub truncated: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.get(name).map(|v| v.as_bytes())
    }
}

/// What the run shares with every session.
#[derive(Debug)]
pub struct ClientSettings {
    pub tls: TlsSetup,
    pub limiter: RateLimiter,
    pub user_agent: String,
    pub body_limit: usize,
}

/// Measurements of a session, copied into the record.
#[derive(Debug, Default, Clone)]
pub struct SessionStats {
    pub requests: u32,
    pub connections: u32,
    pub reachable: bool,
    pub address: Option<SocketAddr>,
    pub connect_ms: Option<u64>,
    pub tls_ms: Option<u64>,
    pub tls: Option<TlsInfo>,
}

/// An open HTTP/1.1 connection; dropping it stops its driver task.
struct Conn {
    sender: SendRequest<Empty<Bytes>>,
    driver: JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// One attempt at one target: connections are opened on demand and reused while the server
/// keeps them alive. Time spent waiting for the rate limit is not charged to the budget.
pub struct Session<'a> {
    settings: &'a ClientSettings,
    endpoint: &'a Endpoint,
    conn: Option<Conn>,
    budget: Duration,
    pub stats: SessionStats,
}

impl<'a> Session<'a> {
    pub fn new(settings: &'a ClientSettings, endpoint: &'a Endpoint, budget: Duration) -> Session<'a> {
        Session { settings, endpoint, conn: None, budget, stats: SessionStats::default() }
    }

    pub fn endpoint(&self) -> &'a Endpoint {
        self.endpoint
    }

    /// Whether any time is left for another request.
    pub fn has_budget(&self) -> bool {
        !self.budget.is_zero()
    }

    /// `GET path` with the probe's ordinary browser headers.
    pub async fn get(&mut self, path: &str) -> Result<Response, ProbeError> {
        if !self.has_budget() {
            return Err(ProbeError::new(ErrorKind::Timeout, "no time left for this target"));
        }
        self.settings.limiter.acquire().await;
        let start = Instant::now();
        let deadline = start + self.budget;
        let result = timeout_at(deadline, self.exchange(path)).await;
        self.budget = self.budget.saturating_sub(start.elapsed());
        match result {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => {
                self.conn = None;
                Err(e)
            }
            Err(_) => {
                let stage = if self.conn.is_none() { "connecting" } else { "waiting for the answer" };
                self.conn = None;
                Err(ProbeError::new(ErrorKind::Timeout, format!("timed out {stage} (GET {path})")))
            }
        }
    }

    async fn exchange(&mut self, path: &str) -> Result<Response, ProbeError> {
        let reusable = match self.conn.as_mut() {
            Some(conn) => conn.sender.ready().await.is_ok(),
            None => false,
        };
        if !reusable {
            self.conn = None;
            self.conn = Some(self.connect().await?);
        }
        let request = hyper::Request::get(path)
            .header(HOST, &self.endpoint.host_header)
            .header(USER_AGENT, &self.settings.user_agent)
            .header(ACCEPT, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
            .header(ACCEPT_LANGUAGE, "en")
            .body(Empty::<Bytes>::new())
            .map_err(|e| ProbeError::new(ErrorKind::Http, format!("cannot request {path:?}: {e}")))?;
        self.stats.requests += 1;
        let conn = self.conn.as_mut().expect("connected above");
        let response = conn.sender.send_request(request).await.map_err(|e| hyper_error(&e))?;
        let (parts, mut body) = response.into_parts();
        let mut collected: Vec<u8> = Vec::new();
        let mut truncated = false;
        let mut complete = true;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                // The head arrived; a body cut short still carries headers worth reading.
                complete = false;
                break;
            };
            if let Ok(data) = frame.into_data() {
                let room = self.settings.body_limit - collected.len();
                if data.len() > room {
                    collected.extend_from_slice(&data[..room]);
                    truncated = true;
                    break;
                }
                collected.extend_from_slice(&data);
            }
        }
        if truncated || !complete {
            // The rest of the body is still on the wire: this connection cannot carry another
            // request.
            self.conn = None;
        }
        Ok(Response { status: parts.status.as_u16(), headers: parts.headers, body: collected.into(), truncated })
    }

    /// Opens a connection to the first candidate address that accepts, then TLS for `https`.
    async fn connect(&mut self) -> Result<Conn, ProbeError> {
        let mut last_error = None;
        for &addr in &self.endpoint.addrs {
            if self.stats.address.is_none() {
                self.stats.address = Some(addr);
            }
            let started = Instant::now();
            match TcpStream::connect(addr).await {
                Ok(tcp) => {
                    self.stats.address = Some(addr);
                    self.stats.reachable = true;
                    self.stats.connections += 1;
                    self.stats.connect_ms.get_or_insert(millis(started.elapsed()));
                    let _ = tcp.set_nodelay(true);
                    return match self.endpoint.scheme {
                        Scheme::Http => handshake(tcp).await,
                        Scheme::Https => self.tls(tcp).await,
                    };
                }
                Err(e) => {
                    let error = io_error(&e, "connect");
                    // A refusal or no route on one address of a name: try the next one.
                    let try_next = matches!(error.kind, ErrorKind::Refused | ErrorKind::Unreachable);
                    last_error = Some(error);
                    if !try_next {
                        break;
                    }
                }
            }
        }
        Err(last_error.unwrap_or_else(|| ProbeError::new(ErrorKind::Dns, "no address to connect to")))
    }

    async fn tls(&mut self, tcp: TcpStream) -> Result<Conn, ProbeError> {
        let slot = Arc::new(Mutex::new(Captured::default()));
        let connector = TlsConnector::from(self.settings.tls.config_for_connection(slot.clone()));
        let started = Instant::now();
        let result = connector.connect(self.endpoint.server_name.clone(), tcp).await;
        let captured = std::mem::take(&mut *slot.lock().unwrap_or_else(|p| p.into_inner()));
        match result {
            Ok(stream) => {
                self.stats.tls_ms.get_or_insert(millis(started.elapsed()));
                let (_, connection) = stream.get_ref();
                let version = version_name(connection.protocol_version());
                // Resumption is off, so the verifier saw the certificate; the connection's copy
                // is a fallback that was not verified.
                let seen = match captured.end_entity {
                    Some(der) => Some((der, captured.verify_error)),
                    None => connection
                        .peer_certificates()
                        .and_then(|certs| certs.first())
                        .map(|c| (c.clone().into_owned(), Some("not verified".to_owned()))),
                };
                if self.stats.tls.is_none()
                    && let Some((der, verify_error)) = seen
                {
                    self.stats.tls = Some(describe_certificate(&der, verify_error, version));
                }
                handshake(stream).await
            }
            Err(e) => {
                // Under --verify-tls the certificate was seen before it was rejected: keep it.
                if let Some(der) = captured.end_entity
                    && self.stats.tls.is_none()
                {
                    self.stats.tls = Some(describe_certificate(&der, captured.verify_error.clone(), None));
                }
                let message = match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
                    Some(tls) => describe_tls_error(tls),
                    None => e.to_string(),
                };
                let kind = match e.kind() {
                    std::io::ErrorKind::InvalidData => ErrorKind::Tls,
                    _ => io_error(&e, "tls").kind,
                };
                let kind = if kind == ErrorKind::Closed || kind == ErrorKind::Io { ErrorKind::Tls } else { kind };
                Err(ProbeError::new(kind, format!("TLS handshake failed: {message}")))
            }
        }
    }
}

/// Starts HTTP/1.1 on a stream; the connection is driven by its own task until dropped.
async fn handshake<S>(stream: S) -> Result<Conn, ProbeError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::Builder::new()
        // Bounds what a responder can make the probe buffer for a response head.
        .max_buf_size(64 * 1024)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| hyper_error(&e))?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(Conn { sender, driver })
}

fn millis(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

fn io_error(e: &std::io::Error, during: &str) -> ProbeError {
    use std::io::ErrorKind as Io;
    let kind = match e.kind() {
        Io::ConnectionRefused => ErrorKind::Refused,
        Io::HostUnreachable | Io::NetworkUnreachable | Io::AddrNotAvailable | Io::NetworkDown => ErrorKind::Unreachable,
        Io::TimedOut => ErrorKind::Timeout,
        Io::ConnectionReset | Io::ConnectionAborted | Io::BrokenPipe | Io::UnexpectedEof => ErrorKind::Closed,
        _ => ErrorKind::Io,
    };
    let what = match kind {
        ErrorKind::Refused => "connection refused".to_owned(),
        ErrorKind::Unreachable => format!("unreachable: {e}"),
        _ => e.to_string(),
    };
    ProbeError::new(kind, format!("{during}: {what}"))
}

/// hyper's errors by what they mean for the operator.
fn hyper_error(e: &hyper::Error) -> ProbeError {
    if e.is_parse() || e.is_parse_status() {
        return ProbeError::new(ErrorKind::Http, format!("not a valid HTTP answer: {e}"));
    }
    if e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
        return ProbeError::new(ErrorKind::Closed, "the server closed the connection without a complete answer");
    }
    if e.is_timeout() {
        return ProbeError::new(ErrorKind::Timeout, e.to_string());
    }
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            return io_error(io, "http");
        }
        source = inner.source();
    }
    ProbeError::new(ErrorKind::Io, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_classified() {
        use std::io::{Error, ErrorKind as Io};
        assert_eq!(io_error(&Error::from(Io::ConnectionRefused), "connect").kind, ErrorKind::Refused);
        assert_eq!(io_error(&Error::from(Io::HostUnreachable), "connect").kind, ErrorKind::Unreachable);
        assert_eq!(io_error(&Error::from(Io::NetworkUnreachable), "connect").kind, ErrorKind::Unreachable);
        assert_eq!(io_error(&Error::from(Io::ConnectionReset), "http").kind, ErrorKind::Closed);
        assert_eq!(io_error(&Error::from(Io::PermissionDenied), "connect").kind, ErrorKind::Io);
        assert!(ErrorKind::Timeout.is_transient() && !ErrorKind::Refused.is_transient());
    }
}
