//! End-to-end in real headless Chromium, driven over WebDriver (fantoccini → chromedriver), on
//! loopback: the real application on a TcpListener at 127.0.0.1:0, a fresh browser profile.
//! Skipped when chromedriver is missing, unless `TASKFORCE_REQUIRE_BROWSER=1` (CI), which makes
//! that a failure. Screenshots go to `target/screenshots/` (the path is printed).

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use taskforce_service::api::AppState;
use taskforce_service::tokens::{self, Role};

const WAIT: Duration = Duration::from_secs(15);

/// chromedriver from `TASKFORCE_CHROMEDRIVER` or the PATH.
fn find_chromedriver() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("TASKFORCE_CHROMEDRIVER") {
        return Some(PathBuf::from(p));
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join("chromedriver")).find(|p| p.is_file())
}

/// A chromedriver process, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_driver() -> Option<Driver> {
    let Some(path) = find_chromedriver() else {
        if std::env::var("TASKFORCE_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!("TASKFORCE_REQUIRE_BROWSER=1 but chromedriver is not installed (Debian: chromium-driver)");
        }
        eprintln!(
            "skipped: chromedriver not found (install chromium and chromium-driver, or set TASKFORCE_CHROMEDRIVER)"
        );
        return None;
    };
    let port = free_port();
    let child = Command::new(&path)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
    let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Some(driver);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not listen on port {port}");
}

async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    let mut args = vec![
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--window-size=1280,1000".into(),
        format!("--user-data-dir={}", profile.display()),
    ];
    if std::env::var("TASKFORCE_BROWSER_DEBUG").is_ok() {
        args.push("--enable-logging=stderr".into());
    }
    let mut options = json!({"args": args});
    let binary = std::env::var("TASKFORCE_CHROMIUM").ok().or_else(|| {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .iter()
            .find(|p| std::path::Path::new(p).exists())
            .map(|p| p.to_string())
    });
    if let Some(b) = binary {
        options["binary"] = json!(b);
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session with headless Chromium")
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, kind: &str, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let path = screenshot_dir().join(format!("{kind}-{name}.png"));
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

async fn text_of(c: &Client, css: &str) -> String {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn click(c: &Client, css: &str) {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

async fn path_of(c: &Client) -> String {
    let u = c.current_url().await.unwrap();
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    }
}

async fn dashboard_in_chromium(kind: &str) {
    let Some(driver) = start_driver().await else { return };
    let Some(w) = common::web(kind).await else { return };
    let password = "a long enough passphrase";
    taskforce_web::users::create(&w.db, "ana", Role::Analyst, None, password).await.unwrap();
    let (_, link_token) = tokens::create(&w.db, "clinic-link", Role::Reporter, Some(w.clinic)).await.unwrap();
    // The real application on loopback.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = taskforce_web::app(AppState { db: w.db.clone(), config: w.config.clone() }, common::notify_state(None));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;

    // An anonymous visitor is sent to the login page, and back after logging in.
    c.goto(&format!("{base}/organisations")).await.unwrap();
    assert!(path_of(&c).await.starts_with("/login?next="), "{}", path_of(&c).await);
    assert_eq!(c.title().await.unwrap(), "Log in · taskforce");
    c.find(Locator::Css("#name")).await.unwrap().send_keys("ana").await.unwrap();
    c.find(Locator::Css("#password")).await.unwrap().send_keys(password).await.unwrap();
    click(&c, "form.card button[type=submit]").await;
    c.wait().at_most(WAIT).for_element(Locator::Css("table#orgs")).await.unwrap();
    assert_eq!(path_of(&c).await, "/organisations");

    // Filter the organisations: only the compromised county remains.
    c.find(Locator::Css("select[name=state]")).await.unwrap().select_by_value("compromised").await.unwrap();
    click(&c, "form.filters button[type=submit]").await;
    c.wait()
        .at_most(WAIT)
        .for_url(&url(
            &base,
            "/organisations?name=&state=compromised&comm_state=&sector=&country=&asn=&last_seen_after=",
        ))
        .await
        .unwrap();
    let rows = c.find_all(Locator::Css("table#orgs tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].text().await.unwrap().contains("County of Example"));

    // The overview.
    c.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(c.title().await.unwrap(), "Overview · taskforce");
    assert!(c.find(Locator::Css("figure.chart svg polyline")).await.is_ok(), "the trend chart");
    // The script that puts local times in the tooltips ran (CSP allows it: it is ours).
    let title = c.find(Locator::Css("time")).await.unwrap().attr("title").await.unwrap().unwrap_or_default();
    assert!(title.ends_with("(local time)"), "{title}");
    shot(&c, kind, "overview").await;

    // Open the county from the filtered list; the hostile hostname is shown as text.
    c.goto(&format!("{base}/organisations?state=compromised")).await.unwrap();
    click(&c, "table#orgs tbody tr a").await;
    c.wait().at_most(WAIT).for_element(Locator::Css("#comm-form")).await.unwrap();
    assert_eq!(c.title().await.unwrap(), "County of Example · taskforce");
    let hosts = text_of(&c, "table#hosts tbody").await;
    assert!(hosts.contains(common::HOSTILE), "the markup is visible as text: {hosts}");
    let pwned = c.execute("return typeof window.pwned", vec![]).await.unwrap();
    assert_eq!(pwned, json!("undefined"), "the hostname's script never ran");

    // Record a communication step and see it in the timeline.
    c.find(Locator::Css("#comm-state")).await.unwrap().select_by_value("notified").await.unwrap();
    c.find(Locator::Css("#comm-note")).await.unwrap().send_keys("letter 1 to abuse@county.example").await.unwrap();
    click(&c, "#comm-form button[type=submit]").await;
    c.wait().at_most(WAIT).for_element(Locator::Css("p.ok")).await.unwrap();
    let timeline = text_of(&c, "table#events tbody").await;
    assert!(timeline.contains("letter 1 to abuse@county.example") && timeline.contains("notified"), "{timeline}");
    shot(&c, kind, "organisation").await;

    // The same form without its CSRF token is refused, and nothing changes.
    c.execute("document.querySelector('#comm-form input[name=csrf]').remove()", vec![]).await.unwrap();
    c.find(Locator::Css("#comm-state")).await.unwrap().select_by_value("acknowledged").await.unwrap();
    click(&c, "#comm-form button[type=submit]").await;
    let refusal = text_of(&c, "p.error").await;
    assert!(refusal.contains("CSRF"), "{refusal}");
    assert_eq!(c.title().await.unwrap(), "Not allowed · taskforce");
    assert_eq!(w.comm_state(w.county).await, "notified");

    // Log out.
    c.goto(&format!("{base}/")).await.unwrap();
    click(&c, "form.logout button").await;
    c.wait().at_most(WAIT).for_element(Locator::Css("#password")).await.unwrap();

    // The clinic's link from its notification: the token leaves the URL at once.
    c.goto(&format!("{base}/portal?token={link_token}")).await.unwrap();
    c.wait().at_most(WAIT).for_element(Locator::Css("#hunt-form")).await.unwrap();
    assert_eq!(path_of(&c).await, "/portal");
    assert!(text_of(&c, "table#portal-hosts").await.contains("198.51.100.7"));
    shot(&c, kind, "portal").await;

    // Upload a hunt report through the portal and see the host's new state.
    let report = tempfile::Builder::new().prefix("report-").suffix(".json").tempfile().unwrap();
    std::fs::write(report.path(), common::hunt_report("CLINIC", "clean", "fixed")).unwrap();
    c.find(Locator::Css("#ip")).await.unwrap().select_by_value("198.51.100.7").await.unwrap();
    c.find(Locator::Css("#file")).await.unwrap().send_keys(&report.path().display().to_string()).await.unwrap();
    click(&c, "#hunt-form button[type=submit]").await;
    let result = text_of(&c, "#result").await;
    assert!(result.contains("Your report was received"), "{result}");
    assert!(result.contains("198.51.100.7 is now patched"), "{result}");
    assert!(result.contains("a probe showing a fixed build after the fix"), "{result}");
    shot(&c, kind, "portal-after-upload").await;

    // The reporter opening another organisation is refused.
    c.goto(&format!("{base}/organisations/{}", w.county)).await.unwrap();
    assert_eq!(c.title().await.unwrap(), "Not allowed · taskforce");
    assert!(!c.source().await.unwrap().contains("County of Example"));

    c.close().await.unwrap();
    server.abort();
}

/// The real application on loopback, with each connection's address (as `taskforce serve`
/// runs it), mailing to `sink`.
async fn serve(w: &common::Web, sink: &common::Sink) -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = taskforce_web::app(
        AppState { db: w.db.clone(), config: w.config.clone() },
        common::notify_state(Some(sink.url())),
    );
    let server = tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await
    });
    (base, server)
}

async fn log_in(c: &Client, base: &str, name: &str, password: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    c.find(Locator::Css("#name")).await.unwrap().send_keys(name).await.unwrap();
    c.find(Locator::Css("#password")).await.unwrap().send_keys(password).await.unwrap();
    click(c, "form.card button[type=submit]").await;
}

/// Notifications in the browser: the plan preview with its "no contact" organisation, a send
/// (real SMTP sink), the outbox, a ticket found by number and acknowledged, the organisation's
/// tickets, the past-date field; a reporter is refused; failed logins are throttled.
async fn notifications_history_and_throttling_in_chromium(kind: &str) {
    let Some(driver) = start_driver().await else { return };
    let Some(w) = common::web(kind).await else { return };
    w.add_quiet_org().await;
    let sink = common::Sink::start();
    let password = "a long enough passphrase";
    taskforce_web::users::create(&w.db, "ana", Role::Analyst, None, password).await.unwrap();
    taskforce_web::users::create(&w.db, "clinic-it", Role::Reporter, Some(w.clinic), password).await.unwrap();
    let (base, server) = serve(&w, &sink).await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;

    log_in(&c, &base, "ana", password).await;
    c.wait().at_most(WAIT).for_element(Locator::Css("#at-form")).await.unwrap();
    click(&c, "nav a[href='/notifications']").await;
    c.wait().at_most(WAIT).for_element(Locator::Css("table#plan-due")).await.unwrap();
    assert_eq!(c.title().await.unwrap(), "Notifications · taskforce");
    let due = text_of(&c, "table#plan-due tbody").await;
    assert!(due.contains("County of Example") && due.contains("abuse@county.example"), "{due}");
    let none = text_of(&c, "table#plan-no-contact tbody").await;
    assert!(none.contains("Quiet Example Ltd"), "{none}");
    shot(&c, kind, "notifications-plan").await;

    // Send what is due; the outbox shows the messages as sent.
    click(&c, "#send-form button[type=submit]").await;
    let done = text_of(&c, "p.ok").await;
    assert!(done.contains("2 new ticket(s), 2 sent"), "{done}");
    assert_eq!(sink.count(), 2);
    let outbox = text_of(&c, "table#outbox-rows tbody").await;
    assert!(outbox.contains("abuse@county.example") && outbox.contains("sent"), "{outbox}");

    // Filter the outbox by status.
    c.find(Locator::Css("#f-status")).await.unwrap().select_by_value("failed").await.unwrap();
    click(&c, "#outbox-filter button[type=submit]").await;
    c.wait().at_most(WAIT).for_url(&url(&base, "/notifications?status=failed&org=")).await.unwrap();
    assert!(text_of(&c, "table#outbox-rows tbody").await.contains("No messages."));

    // Find the county's ticket by its number and record the acknowledgement.
    let ticket: String = {
        use sqlx::Row;
        sqlx::query("SELECT ticket FROM notify_ticket WHERE org_id = $1")
            .bind(w.county)
            .fetch_one(&w.db.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    };
    c.find(Locator::Css("#ticket")).await.unwrap().send_keys(&ticket).await.unwrap();
    click(&c, "#ticket-search button[type=submit]").await;
    c.wait().at_most(WAIT).for_element(Locator::Css("#ack-form")).await.unwrap();
    assert_eq!(c.title().await.unwrap(), format!("Ticket {ticket} · taskforce"));
    assert!(text_of(&c, "table#ticket-hosts").await.contains("192.0.2.10"));
    assert!(text_of(&c, "table#ticket-messages").await.contains("abuse@county.example"));
    shot(&c, kind, "ticket").await;
    click(&c, "#ack-form button[type=submit]").await;
    assert!(text_of(&c, "p.ok").await.contains("acknowledged"));
    assert_eq!(w.comm_state(w.county).await, "acknowledged");

    // The organisation's page lists the ticket; its date field shows the past.
    click(&c, "#ticket-facts a").await;
    c.wait().at_most(WAIT).for_element(Locator::Css("table#org-tickets")).await.unwrap();
    assert!(text_of(&c, "table#org-tickets tbody").await.contains(&ticket));
    c.execute("document.querySelector('#at').value = '2021-03-02'", vec![]).await.unwrap();
    click(&c, "#at-form button[type=submit]").await;
    c.wait().at_most(WAIT).for_element(Locator::Css("#past")).await.unwrap();
    assert_eq!(path_of(&c).await, format!("/organisations/{}?at=2021-03-02", w.county));
    let past = text_of(&c, "#past").await;
    assert!(past.contains("As known on 2021-03-02") && past.contains("not contacted"), "{past}");
    // The overview's date field.
    c.goto(&format!("{base}/")).await.unwrap();
    c.execute("document.querySelector('#at').value = '2021-03-03'", vec![]).await.unwrap();
    click(&c, "#at-form button[type=submit]").await;
    let past = text_of(&c, "#past").await;
    assert!(past.contains("As known on 2021-03-03"), "{past}");
    shot(&c, kind, "overview-past").await;
    click(&c, "form.logout button").await;
    c.wait().at_most(WAIT).for_element(Locator::Css("#password")).await.unwrap();

    // A reporter is refused the notification pages.
    log_in(&c, &base, "clinic-it", password).await;
    c.wait().at_most(WAIT).for_element(Locator::Css("#hunt-form")).await.unwrap();
    c.goto(&format!("{base}/notifications")).await.unwrap();
    assert_eq!(c.title().await.unwrap(), "Not allowed · taskforce");
    assert!(!c.source().await.unwrap().contains("County of Example"));
    c.goto(&format!("{base}/notifications/tickets/{ticket}")).await.unwrap();
    assert_eq!(c.title().await.unwrap(), "Not allowed · taskforce");
    c.goto(&format!("{base}/")).await.unwrap();
    click(&c, "form.logout button").await;
    c.wait().at_most(WAIT).for_element(Locator::Css("#password")).await.unwrap();

    // Five wrong passwords, then even the right one is refused with a clear message.
    for _ in 0..5 {
        log_in(&c, &base, "ana", "wrong password").await;
        let e = text_of(&c, "p.error").await;
        assert!(e.contains("Unknown name or wrong password"), "{e}");
    }
    log_in(&c, &base, "ana", password).await;
    let e = text_of(&c, "p.error").await;
    assert!(e.contains("Too many failed logins") && e.contains("Try again in"), "{e}");
    assert!(path_of(&c).await.starts_with("/login"));
    shot(&c, kind, "login-throttled").await;

    c.close().await.unwrap();
    server.abort();
}

crate::on_both!(notifications_history_and_throttling_in_chromium);

fn url(base: &str, path: &str) -> url::Url {
    url::Url::parse(&format!("{base}{path}")).unwrap()
}

crate::on_both!(dashboard_in_chromium);
