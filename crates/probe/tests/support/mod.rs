//! Fake servers on loopback for the probe's tests and its benchmark fleet: Exchange front ends
//! in each build style, ordinary web servers, and the misbehaving kinds (silent, garbage, slow,
//! redirect loop), over plain TCP or TLS with certificates made here by rcgen.
//!
//! Every request a fake receives is logged, so tests can check that the probe sent only the
//! ordinary GETs it is allowed to send.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// A request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Request {
    /// Whether it came over TLS (an Exchange redirects to its own scheme).
    pub tls: bool,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The Host header without its port.
    pub fn host(&self) -> String {
        let host = self.header("host").unwrap_or("");
        match host.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':') => h.to_owned(),
            _ => host.to_owned(),
        }
    }
}

/// A canned answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Seconds to wait before answering.
    pub delay: Duration,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply { status, headers: Vec::new(), body: body.into(), delay: Duration::ZERO }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn redirect(location: impl Into<String>) -> Reply {
        Reply::new(302, "").header("Location", location)
    }

    pub fn delayed(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

pub type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// How a fake behaves once a connection is accepted.
#[derive(Clone)]
pub enum Behaviour {
    /// Answers each request with the handler's reply (keep-alive).
    Http(Handler),
    /// Accepts and never answers.
    Silent,
    /// Answers every request with bytes that are not HTTP.
    Garbage,
    /// Sends a valid response head one byte every 200 ms.
    Drip,
    /// Closes the connection as soon as the request arrived.
    Close,
}

/// A running fake server; it stops when dropped.
pub struct Fake {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Request>>>,
    pub connections: Arc<AtomicUsize>,
    /// The most connections open at the same time.
    pub max_open: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Fake {
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn paths(&self) -> Vec<String> {
        self.requests.lock().unwrap().iter().map(|r| r.path.clone()).collect()
    }

    pub fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

/// Starts a fake on `bind` (use port 0 for a free one).
pub async fn start(bind: &str, behaviour: Behaviour, tls: Option<Arc<ServerConfig>>) -> Fake {
    let listener = TcpListener::bind(bind).await.unwrap_or_else(|e| panic!("bind {bind}: {e}"));
    serve(listener, behaviour, tls)
}

/// Serves an already bound listener (the benchmark fleet binds thousands).
pub fn serve(listener: TcpListener, behaviour: Behaviour, tls: Option<Arc<ServerConfig>>) -> Fake {
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicUsize::new(0));
    let max_open = Arc::new(AtomicUsize::new(0));
    let log = requests.clone();
    let (count, max) = (connections.clone(), max_open.clone());
    let task = tokio::spawn(async move {
        let acceptor = tls.map(TlsAcceptor::from);
        let mut handlers = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            while handlers.try_join_next().is_some() {}
            count.fetch_add(1, Ordering::SeqCst);
            let now = open.fetch_add(1, Ordering::SeqCst) + 1;
            max.fetch_max(now, Ordering::SeqCst);
            let (behaviour, log, acceptor, open) = (behaviour.clone(), log.clone(), acceptor.clone(), open.clone());
            handlers.spawn(async move {
                match acceptor {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            connection(stream, true, &behaviour, &log).await;
                        }
                    }
                    None => connection(stream, false, &behaviour, &log).await,
                }
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    Fake { addr, requests, connections, max_open, task }
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    tls: bool,
    behaviour: &Behaviour,
    log: &Mutex<Vec<Request>>,
) {
    let mut buf = Vec::new();
    if let Behaviour::Garbage = behaviour {
        // Whatever arrives (a request, a TLS hello), the answer is noise.
        let mut chunk = [0u8; 4096];
        if matches!(stream.read(&mut chunk).await, Ok(n) if n > 0) {
            let junk: Vec<u8> = (0..2048u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
            let _ = stream.write_all(b"\x16\x03\x01 SSH-2.0-OpenSSH_9.6\r\n\x00\xff").await;
            let _ = stream.write_all(&junk).await;
            let _ = stream.shutdown().await;
        }
        return;
    }
    loop {
        let Some(mut request) = read_request(&mut stream, &mut buf).await else {
            // A TLS hello on a plain HTTP port gets what nginx or IIS send: 400, then close.
            if buf.first() == Some(&0x16) {
                let _ = stream.write_all(&render(&Reply::new(400, "Bad Request"))).await;
            }
            return;
        };
        request.tls = tls;
        log.lock().unwrap().push(request.clone());
        match behaviour {
            Behaviour::Http(handler) => {
                let reply = handler(&request);
                if !reply.delay.is_zero() {
                    tokio::time::sleep(reply.delay).await;
                }
                if stream.write_all(&render(&reply)).await.is_err() {
                    return;
                }
            }
            Behaviour::Silent => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            Behaviour::Garbage => return,
            Behaviour::Drip => {
                for byte in b"HTTP/1.1 200 OK\r\nServer: slow\r\nContent-Length: 2\r\n\r\nok" {
                    if stream.write_all(&[*byte]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            Behaviour::Close => return,
        }
    }
}

/// Reads one request head; `None` at end of stream or on nonsense.
async fn read_request<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> Option<Request> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            let mut lines = head.split("\r\n");
            let mut first = lines.next()?.split(' ');
            let method = first.next()?.to_owned();
            let path = first.next()?.to_owned();
            let headers = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                .collect();
            return Some(Request { tls: false, method, path, headers });
        }
        if buf.len() > 64 * 1024 || buf.first() == Some(&0x16) {
            return None;
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn render(reply: &Reply) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (name, value) in &reply.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", reply.body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&reply.body);
    bytes
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        301 => "Moved Permanently",
        302 => "Found",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Status",
    }
}

// ---------------------------------------------------------------------------------------------
// Certificates

/// A self-signed certificate for `names`, valid from `not_before` to `not_after` (y, m, d).
pub fn tls_config(names: &[&str], not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> Arc<ServerConfig> {
    let mut params = rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, names.first().copied().unwrap_or("fake"));
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "Contoso Test");
    params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
    params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let chain = vec![CertificateDer::from(cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    Arc::new(config)
}

/// A certificate valid today.
pub fn valid_tls(names: &[&str]) -> Arc<ServerConfig> {
    tls_config(names, (2020, 1, 1), (2099, 1, 1))
}

/// A certificate that expired in 2021.
pub fn expired_tls(names: &[&str]) -> Arc<ServerConfig> {
    tls_config(names, (2019, 3, 1), (2021, 3, 1))
}

// ---------------------------------------------------------------------------------------------
// Exchange front ends

const EXPORT_TOOL: &str = "/exporttool/microsoft.exchange.ediscovery.exporttool.application";

/// How a fake Exchange shows its build.
#[derive(Debug, Clone)]
pub enum Style {
    /// `X-OWA-Version` on the OWA responses (4 parts), and the logon page's resource paths.
    FullHeader(String),
    /// Only the logon page's `/owa/auth/<cu>/` paths; the ECP export tool is blocked.
    PathOnly(String),
    /// OWA disabled (404 without a build); the export-tool manifest under /ecp/Current/.
    ManifestOnly(String),
    /// Logon page paths for the CU; /ecp/Current/ blocked, but /ecp/<folder>/ has the manifest.
    PathAndFolder { cu: String, folder: String },
}

pub fn cu_of(build: &str) -> String {
    build.split('.').take(3).collect::<Vec<_>>().join(".")
}

/// The head of an OWA logon page whose resource paths name `cu`.
pub fn logon_page(cu: &str) -> String {
    format!(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\">\n<html><head><title>Outlook</title>\n\
         <link rel=\"shortcut icon\" href=\"/owa/auth/{cu}/themes/resources/favicon.ico\" type=\"image/x-icon\">\n\
         <link rel=\"stylesheet\" href=\"/owa/auth/{cu}/themes/resources/logon.css\">\n\
         <script src=\"/owa/auth/{cu}/scripts/premium/flogon.js\"></script></head>\n\
         <body><form action=\"/owa/auth.owa\" method=\"POST\" name=\"logonForm\"></form></body></html>\n"
    )
}

/// The export tool's ClickOnce manifest for `build`.
pub fn manifest(build: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<asmv1:assembly manifestVersion=\"1.0\" \
         xmlns:asmv1=\"urn:schemas-microsoft-com:asm.v1\">\n  <assemblyIdentity \
         name=\"microsoft.exchange.ediscovery.exporttool.application\" version=\"{build}\" \
         publicKeyToken=\"b1d1a6c45aa418ce\" language=\"neutral\" processorArchitecture=\"msil\" />\n\
         </asmv1:assembly>\n"
    )
}

fn iis_404() -> Reply {
    Reply::new(404, "<html><body><h1>404 - File or directory not found.</h1></body></html>")
        .header("Server", "Microsoft-IIS/10.0")
}

/// What an Exchange front end of `style` answers to `request`.
pub fn exchange_reply(style: &Style, request: &Request) -> Reply {
    let host = request.header("host").unwrap_or("localhost").to_owned();
    let scheme = if request.tls { "https" } else { "http" };
    let path = request.path.split('?').next().unwrap_or("").to_ascii_lowercase();
    let with_version = |reply: Reply| match style {
        Style::FullHeader(build) => reply.header("X-OWA-Version", build.clone()),
        _ => reply,
    };
    let cu = match style {
        Style::FullHeader(b) | Style::PathOnly(b) => cu_of(b),
        Style::PathAndFolder { cu, .. } => cu.clone(),
        Style::ManifestOnly(_) => String::new(),
    };
    match path.as_str() {
        "/owa/" | "/owa" => match style {
            Style::ManifestOnly(_) => iis_404(),
            _ => with_version(
                Reply::redirect(format!(
                    "{scheme}://{host}/owa/auth/logon.aspx?url={scheme}%3a%2f%2f{host}%2fowa%2f&reason=0"
                ))
                .header("X-FEServer", "EXCH01")
                .header("Server", "Microsoft-IIS/10.0"),
            ),
        },
        "/owa/auth/logon.aspx" => match style {
            Style::ManifestOnly(_) => iis_404(),
            _ => with_version(
                Reply::new(200, logon_page(&cu))
                    .header("X-FEServer", "EXCH01")
                    .header("Server", "Microsoft-IIS/10.0")
                    .header("Content-Type", "text/html; charset=utf-8"),
            ),
        },
        other => {
            let Some(version) = other.strip_prefix("/ecp/").and_then(|rest| rest.strip_suffix(EXPORT_TOOL)) else {
                return iis_404();
            };
            let served = match style {
                Style::ManifestOnly(build) if version == "current" => Some(build.clone()),
                Style::FullHeader(build) if version == "current" || version == build => Some(build.clone()),
                Style::PathAndFolder { folder, .. } if version == folder => Some(folder.clone()),
                _ => None,
            };
            match served {
                Some(build) => Reply::new(200, manifest(&build)).header("Content-Type", "application/x-ms-application"),
                None => iis_404(),
            }
        }
    }
}

pub fn exchange(style: Style) -> Behaviour {
    Behaviour::Http(Arc::new(move |request| exchange_reply(&style, request)))
}

/// nginx's default 404 for everything.
pub fn nginx() -> Behaviour {
    Behaviour::Http(Arc::new(|_| {
        Reply::new(404, "<html><head><title>404 Not Found</title></head><body><center><h1>404 Not Found</h1></center><hr><center>nginx</center></body></html>")
            .header("Server", "nginx/1.24.0")
    }))
}

/// Apache's "It works!" for everything.
pub fn apache() -> Behaviour {
    Behaviour::Http(Arc::new(|_| {
        Reply::new(200, "<html><body><h1>It works!</h1></body></html>").header("Server", "Apache/2.4.62 (Debian)")
    }))
}

/// Redirects /owa/ to /owa/a, /owa/a to /owa/, forever.
pub fn redirect_loop() -> Behaviour {
    Behaviour::Http(Arc::new(|request| {
        if request.path.starts_with("/owa/a") {
            Reply::redirect("/owa/")
        } else if request.path.starts_with("/owa") {
            Reply::redirect("/owa/a")
        } else {
            Reply::new(404, "")
        }
    }))
}

/// Whether a request is one the probe may send: an ordinary GET of the OWA page (or a path the
/// server itself redirected to, given in `redirected`), or of the export-tool manifest under
/// `Current` or a 4-part build; no cookie, and a User-Agent that names the probe.
pub fn allowed(request: &Request, redirected: &[&str]) -> Result<(), String> {
    if request.method != "GET" {
        return Err(format!("method {}", request.method));
    }
    if request.header("cookie").is_some() {
        return Err(format!("cookie on {}", request.path));
    }
    if !request.header("user-agent").unwrap_or("").starts_with("taskforce-probe/") {
        return Err(format!("user agent {:?}", request.header("user-agent")));
    }
    let path = request.path.as_str();
    let lower = path.to_ascii_lowercase();
    for forbidden in ["autodiscover", "powershell", "x-beresource", "x-anonresource", "@", "~", "mapi", "ews"] {
        if lower.contains(forbidden) {
            return Err(format!("forbidden {forbidden:?} in {path}"));
        }
    }
    if path == "/owa/" || path.starts_with("/owa/auth/logon.aspx") || redirected.contains(&path) {
        return Ok(());
    }
    if let Some(version) = path.strip_prefix("/ecp/").and_then(|rest| rest.strip_suffix(EXPORT_TOOL))
        && (version == "Current"
            || (version.split('.').count() == 4 && version.split('.').all(|p| p.parse::<u32>().is_ok())))
    {
        return Ok(());
    }
    Err(format!("path {path}"))
}

/// Panics unless every request the fake saw is allowed.
pub fn assert_only_allowed(fake: &Fake, redirected: &[&str]) {
    for request in fake.requests.lock().unwrap().iter() {
        if let Err(why) = allowed(request, redirected) {
            panic!("the probe sent a request it must not send: {why}: {request:?}");
        }
    }
}

/// A loopback port with nothing listening (bound, then released).
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}
