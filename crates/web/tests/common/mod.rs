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

pub use svc::{SS_HEADER, hunt_report, ss_row};

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
    let app = taskforce_web::app(AppState { db: db.clone(), config: config.clone() });
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
        let body = fields.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
        let mut req = Request::builder()
            .method("POST")
            .uri(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = jar.header() {
            req = req.header(header::COOKIE, c);
        }
        let a = self.send(req.body(Body::from(body)).unwrap()).await;
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
