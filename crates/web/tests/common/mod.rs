//! The web tests' harness: the service's own (fresh SQLite and PostgreSQL databases, feed
//! helpers) plus the whole application (API and pages), a seeded campaign, and a small cookie
//! jar for driving forms without a browser.

#![allow(dead_code)]

#[path = "../../../service/tests/common.rs"]
pub mod svc;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use taskforce_service::api::AppState;
use taskforce_service::tokens::{self, Role};
use taskforce_service::{Config, Db};
use tower::ServiceExt;

#[allow(unused_imports)]
pub use svc::{SS_HEADER, hunt_report, ss_row};
use taskforce_notify::NotifyConfig;
use taskforce_notify::api::NotifyState;

/// Notification settings for tests: mail to `smtp` (a real SMTP sink on loopback) or, when
/// none is given, to the discard port on loopback (nothing listens: sending defers).
pub fn notify_state(smtp: Option<String>) -> NotifyState {
    NotifyState::new(NotifyConfig {
        smtp: smtp.unwrap_or_else(|| "smtp://127.0.0.1:9".into()),
        from: "cert@taskforce.example".into(),
        base_url: "https://taskforce.example".into(),
        rate_per_sec: 1000.0,
        domain_rate_per_sec: 1000.0,
        retry_base_secs: 0,
        timeout_secs: 10,
        ..NotifyConfig::default()
    })
    .unwrap()
}

/// A real SMTP server on loopback (the notification crate's sink, Debian's python3-aiosmtpd)
/// that stores each message it accepts; stopped when dropped.
pub struct Sink {
    child: std::process::Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Sink {
    pub fn start() -> Sink {
        use std::io::BufRead;
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../notify/tests/smtp_sink.py");
        let dir = tempfile::tempdir().unwrap();
        let python = if std::path::Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
        let mut child = std::process::Command::new(python)
            .arg(script)
            .arg("--dir")
            .arg(dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("python3 with aiosmtpd (apt-get install python3-aiosmtpd)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .unwrap_or_else(|| panic!("the SMTP sink did not start (is python3-aiosmtpd installed?): {line:?}"))
            .parse()
            .unwrap();
        Sink { child, dir, port }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// How many messages the sink stored.
    pub fn count(&self) -> usize {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .count()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An organisation with a host to report and no address at all.
pub const QUIET_ORG: &str = "org,network,asn,sector,cc,abuse_email\nQuiet Example Ltd,203.0.113.0/28,,Retail,US,\n";

/// Organisations: a county (192.0.2.0/24), a clinic (198.51.100.0/25) and a hoster (AS64511).
pub const ORGS: &str = "org,network,asn,sector,cc,abuse_email\n\
County of Example,192.0.2.0/24,,Public Administration,US,abuse@county.example\n\
Example Clinic,198.51.100.0/25,,Health Care,US,security@clinic.example\n\
Hosting Example,,64511,Hosting,US,abuse@hosting.example\n";

/// A hostname an attacker controls, as a feed reports it.
pub const HOSTILE: &str = "<script>window.pwned=1</script>";

pub struct Web {
    pub db: Db,
    pub app: Router,
    pub admin: String,
    pub analyst: String,
    pub config: Arc<Config>,
    pub dir: tempfile::TempDir,
    /// Organisation ids by name.
    pub county: i64,
    pub clinic: i64,
}

/// A fresh database with the campaign seeded: the county has a compromised host (whose
/// hostname is hostile markup), the clinic a vulnerable one.
pub async fn web(kind: &str) -> Option<Web> {
    let (url, tmp) = svc::fresh_database(kind).await?;
    let db = Db::connect(&url).await.unwrap();
    let dir = tmp.unwrap_or_else(|| tempfile::tempdir().unwrap());
    let config = Arc::new(Config { database: url, upload_dir: Some(dir.path().to_path_buf()), ..Config::default() });
    let app = taskforce_web::app(AppState { db: db.clone(), config: config.clone() }, notify_state(None));
    let (_, admin) = tokens::create(&db, "root", Role::Admin, None).await.unwrap();
    let (_, analyst) = tokens::create(&db, "ana-token", Role::Analyst, None).await.unwrap();
    let mut w = Web { db, app, admin, analyst, config, dir, county: 0, clinic: 0 };
    w.api_upload("orgs", "orgs.csv", ORGS).await;
    let feed = format!(
        "{SS_HEADER}{}{}",
        ss_row("2021-03-03 00:00:00", "192.0.2.10", "exchange;webshell", "EXCH01", "/aspnet_client/x.aspx"),
        ss_row("2021-03-04 00:00:00", "198.51.100.7", "exchange;cve-2021-26855", "CLINIC", ""),
    )
    .replace("mail.EXCH01.example", HOSTILE);
    w.api_upload("shadowserver", "2021-03-04-scan_exchange.csv", feed).await;
    w.county = w.org_id("County of Example").await;
    w.clinic = w.org_id("Example Clinic").await;
    Some(w)
}

/// One answer: status, headers, body text.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> &str {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_string()).collect()
    }
    /// The value of the first hidden `csrf` field.
    pub fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").expect("a form with a csrf field") + 19;
        self.body[at..].split('"').next().unwrap().to_string()
    }
}

/// A browser-less session: the cookies a browser would keep.
#[derive(Default, Clone)]
pub struct Jar {
    pub cookies: Vec<(String, String)>,
}

impl Jar {
    fn header(&self) -> Option<String> {
        (!self.cookies.is_empty())
            .then(|| self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; "))
    }
    fn absorb(&mut self, a: &Answer) {
        for c in a.set_cookies() {
            let pair = c.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != k);
            if !v.is_empty() && !c.contains("Max-Age=0") {
                self.cookies.push((k.to_string(), v.to_string()));
            }
        }
    }
}

impl Web {
    /// Rebuilds the application so that notifications go to `sink`.
    pub fn mail_to(&mut self, sink: &Sink) {
        self.app = taskforce_web::app(
            AppState { db: self.db.clone(), config: self.config.clone() },
            notify_state(Some(sink.url())),
        );
    }

    /// Adds [`QUIET_ORG`] and a compromised host of it.
    pub async fn add_quiet_org(&self) {
        self.api_upload("orgs", "quiet.csv", QUIET_ORG).await;
        let feed = format!(
            "{SS_HEADER}{}",
            ss_row("2021-03-05 00:00:00", "203.0.113.5", "exchange;webshell", "QUIET", "/aspnet_client/y.aspx")
        );
        self.api_upload("shadowserver", "2021-03-05-scan_exchange.csv", feed).await;
    }

    pub async fn send(&self, req: Request<Body>) -> Answer {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = String::from_utf8_lossy(&resp.into_body().collect().await.unwrap().to_bytes()).to_string();
        Answer { status, headers, body }
    }

    /// GET with the jar's cookies (and keep what the server sets).
    pub async fn get(&self, jar: &mut Jar, path: &str) -> Answer {
        let mut req = Request::builder().uri(path);
        if let Some(c) = jar.header() {
            req = req.header(header::COOKIE, c);
        }
        let a = self.send(req.body(Body::empty()).unwrap()).await;
        jar.absorb(&a);
        a
    }

    /// POST an urlencoded form with the jar's cookies.
    pub async fn post_form(&self, jar: &mut Jar, path: &str, fields: &[(&str, &str)]) -> Answer {
        self.post_form_from(jar, path, fields, None).await
    }

    /// [`Web::post_form`] from a client address, as the server sees it on a connection.
    pub async fn post_form_from(
        &self,
        jar: &mut Jar,
        path: &str,
        fields: &[(&str, &str)],
        from: Option<std::net::SocketAddr>,
    ) -> Answer {
        let body = fields.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
        let mut req = Request::builder()
            .method("POST")
            .uri(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = jar.header() {
            req = req.header(header::COOKIE, c);
        }
        let mut req = req.body(Body::from(body)).unwrap();
        if let Some(addr) = from {
            req.extensions_mut().insert(axum::extract::ConnectInfo(addr));
        }
        let a = self.send(req).await;
        jar.absorb(&a);
        a
    }

    /// POST a multipart form with one file.
    pub async fn post_multipart(
        &self,
        jar: &mut Jar,
        path: &str,
        fields: &[(&str, &str)],
        file: (&str, &str),
    ) -> Answer {
        let boundary = "----taskforce-test-boundary";
        let mut body = String::new();
        for (k, v) in fields {
            body += &format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n");
        }
        body += &format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: application/json\r\n\r\n{}\r\n--{boundary}--\r\n",
            file.0, file.1
        );
        let mut req = Request::builder()
            .method("POST")
            .uri(path)
            .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"));
        if let Some(c) = jar.header() {
            req = req.header(header::COOKIE, c);
        }
        let a = self.send(req.body(Body::from(body)).unwrap()).await;
        jar.absorb(&a);
        a
    }

    /// A request with a bearer token and no cookie.
    pub async fn bearer(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: impl Into<Body>,
        content_type: &str,
    ) -> Answer {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(body.into())
            .unwrap();
        self.send(req).await
    }

    pub async fn api_upload(&self, kind: &str, name: &str, content: impl Into<Vec<u8>>) {
        let a = self
            .bearer(
                "POST",
                &format!("/api/v1/ingest/{kind}?file_name={name}"),
                &self.analyst,
                content.into(),
                "text/csv",
            )
            .await;
        assert!(a.status.is_success(), "{kind} {name}: {} {}", a.status, a.body);
    }

    pub async fn org_id(&self, name: &str) -> i64 {
        use sqlx::Row;
        sqlx::query("SELECT id FROM organisation WHERE name = $1")
            .bind(name.to_string())
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    }

    pub async fn scalar(&self, sql: &'static str) -> i64 {
        use sqlx::Row;
        sqlx::query(sql).fetch_one(&self.db.pool).await.unwrap().try_get(0).unwrap()
    }

    pub async fn comm_state(&self, org: i64) -> String {
        use sqlx::Row;
        sqlx::query("SELECT comm_state FROM organisation WHERE id = $1")
            .bind(org)
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    }

    /// Creates a user and logs it in through the form; returns its cookie jar.
    pub async fn login_as(&self, name: &str, role: Role, org: Option<i64>) -> Jar {
        let password = format!("{name}-correct-horse-battery");
        taskforce_web::users::create(&self.db, name, role, org, &password).await.unwrap();
        self.login(name, &password).await
    }

    pub async fn login(&self, name: &str, password: &str) -> Jar {
        let mut jar = Jar::default();
        let form = self.get(&mut jar, "/login").await;
        let csrf = form.csrf();
        let a = self
            .post_form(&mut jar, "/login", &[("csrf", &csrf), ("name", name), ("password", password), ("next", "/")])
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "login of {name}: {}", a.body);
        assert!(jar.cookies.iter().any(|(k, _)| k == "tf_session"), "no session cookie");
        jar
    }
}

pub fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
