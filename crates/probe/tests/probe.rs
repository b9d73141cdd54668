//! The probe against fake servers started on 127.0.0.1 / ::1 by each test: every build style,
//! non-Exchange servers, every kind of misbehaving responder, TLS certificates, redirects,
//! concurrency, rate, cancellation, and every decision of the build table end to end.
//!
//! No test sends traffic anywhere but loopback, and none resolves an external name.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{Behaviour, Fake, Reply, Style};
use taskforce_builds::{Build, BuildTable, Family, Status};
use taskforce_probe::fingerprint::{Method, Signal};
use taskforce_probe::{ErrorKind, Options, Prober, Record, Summary, TargetList, run};

fn base() -> Options {
    Options { rate: 0.0, timeout: Duration::from_secs(5), retries: 0, ..Options::default() }
}

/// Probes `specs` with `options` and returns the records in input order of targets.
async fn probe_with(options: Options, specs: &[String]) -> Vec<Record> {
    let (records, summary) = probe_run(options, specs, 16, std::future::pending()).await;
    assert!(!summary.interrupted);
    records
}

async fn probe_run(
    options: Options,
    specs: &[String],
    concurrency: usize,
    cancel: impl Future<Output = ()>,
) -> (Vec<Record>, Summary) {
    let mut targets = TargetList::new(&[]);
    for spec in specs {
        targets.add(spec).unwrap();
    }
    let order: HashMap<(String, u16), usize> =
        targets.iter().enumerate().map(|(i, t)| ((t.host.to_string(), t.port), i)).collect();
    let prober = Arc::new(Prober::new(options).unwrap());
    let mut records = Vec::new();
    let summary = run(
        &targets,
        prober,
        concurrency,
        |r| {
            records.push(r.clone());
            Ok(())
        },
        cancel,
    )
    .await
    .unwrap();
    records.sort_by_key(|r| order[&(r.target.clone(), r.port)]);
    (records, summary)
}

async fn probe_one(options: Options, spec: String) -> Record {
    let mut records = probe_with(options, &[spec]).await;
    assert_eq!(records.len(), 1);
    records.remove(0)
}

fn https(fake: &Fake) -> String {
    format!("127.0.0.1:{}", fake.port())
}

fn http(fake: &Fake) -> String {
    format!("http://127.0.0.1:{}", fake.port())
}

fn b(s: &str) -> Build {
    s.parse().unwrap()
}

fn statuses(r: &Record) -> Vec<(Family, Status)> {
    r.patch.iter().map(|p| (p.family, p.status)).collect()
}

const EXPORT_TOOL: &str = "exporttool/microsoft.exchange.ediscovery.exporttool.application";

#[tokio::test]
async fn full_header_build_over_tls() {
    let fake = support::start(
        "127.0.0.1:0",
        support::exchange(Style::FullHeader("15.1.2176.2".into())),
        Some(support::valid_tls(&["mail.contoso.test"])),
    )
    .await;
    let r = probe_one(base(), https(&fake)).await;
    assert_eq!(r.schema, "taskforce.probe.v1");
    assert!(r.reachable && r.exchange, "{r:?}");
    assert_eq!(r.address, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(r.build, Some(b("15.1.2176.2")));
    assert_eq!(r.precision.map(|p| p.to_string()).as_deref(), Some("full"));
    assert_eq!(r.method, Some(Method::XOwaVersion));
    assert_eq!((r.product.as_deref(), r.cu.as_deref()), (Some("Exchange Server 2016"), Some("CU19")));
    assert_eq!(
        statuses(&r),
        [
            (Family::ProxyLogon, Status::Vulnerable),
            (Family::ProxyShell, Status::Vulnerable),
            (Family::ProxyNotShell, Status::Vulnerable)
        ]
    );
    assert_eq!(r.patch[0].fixed_in, Some(b("15.1.2176.9")));
    for signal in [Signal::XOwaVersion, Signal::XFeServer, Signal::OwaLogonRedirect, Signal::OwaResourcePath] {
        assert!(r.signals.contains(&signal), "{signal:?} missing from {:?}", r.signals);
    }
    assert_eq!(r.http_status, Some(200));
    assert_eq!(r.server.as_deref(), Some("Microsoft-IIS/10.0"));
    let tls = r.tls.as_ref().expect("certificate recorded");
    assert!(tls.subject.contains("CN=mail.contoso.test") && tls.subject.contains("O=Contoso Test"), "{}", tls.subject);
    assert_eq!(tls.subject, tls.issuer);
    assert!(tls.self_signed && !tls.expired && !tls.verified);
    assert!(tls.verify_error.as_deref().unwrap().contains("unknown issuer"), "{:?}", tls.verify_error);
    assert_eq!(tls.san, ["mail.contoso.test"]);
    assert_eq!(tls.not_after.as_deref(), Some("2099-01-01T00:00:00Z"));
    assert_eq!(tls.version, Some("TLSv1.3"));
    assert!(r.timings.connect_ms.is_some() && r.timings.tls_ms.is_some());
    assert!(r.error.is_none(), "{:?}", r.error);
    // The OWA page and its redirect, on one connection; a 4-part header needs no ECP request.
    assert_eq!(r.requests, 2);
    assert_eq!(fake.connections.load(std::sync::atomic::Ordering::SeqCst), 1);
    let paths = fake.paths();
    assert_eq!(paths[0], "/owa/");
    assert!(paths[1].starts_with("/owa/auth/logon.aspx?url="), "{paths:?}");
    support::assert_only_allowed(&fake, &[]);
}

#[tokio::test]
async fn three_part_path_only_gives_the_cu_and_unknown_where_the_su_decides() {
    let fake = support::start("127.0.0.1:0", support::exchange(Style::PathOnly("15.1.2176".into())), None).await;
    let r = probe_one(base(), http(&fake)).await;
    assert!(r.exchange);
    assert_eq!(r.build, Some(b("15.1.2176")));
    assert_eq!(r.precision.map(|p| p.to_string()).as_deref(), Some("cu"));
    assert_eq!(r.method, Some(Method::OwaResourcePath));
    assert_eq!(r.cu.as_deref(), Some("CU19"));
    // CU19 got SUs for ProxyLogon and ProxyShell (the path cannot say which is installed), and
    // none for ProxyNotShell (so no SU can have fixed it).
    assert_eq!(
        statuses(&r),
        [
            (Family::ProxyLogon, Status::Unknown),
            (Family::ProxyShell, Status::Unknown),
            (Family::ProxyNotShell, Status::Vulnerable)
        ]
    );
    // The manifest under Current, then only the table's builds of this CU, newest first.
    let expected: Vec<String> = ["Current", "15.1.2176.14", "15.1.2176.12", "15.1.2176.9", "15.1.2176.2"]
        .iter()
        .map(|v| format!("/ecp/{v}/{EXPORT_TOOL}"))
        .collect();
    let paths = fake.paths();
    assert_eq!(paths[2..], expected[..], "{paths:?}");
    assert_eq!(r.requests, 7);
    support::assert_only_allowed(&fake, &[]);
}

#[tokio::test]
async fn manifest_only_gives_the_full_build() {
    let fake = support::start("127.0.0.1:0", support::exchange(Style::ManifestOnly("15.2.986.36".into())), None).await;
    let r = probe_one(base(), http(&fake)).await;
    assert!(r.exchange);
    assert_eq!(r.signals, [Signal::EcpExporttool]);
    assert_eq!(r.build, Some(b("15.2.986.36")));
    assert_eq!(r.method, Some(Method::EcpExporttool));
    assert_eq!((r.product.as_deref(), r.cu.as_deref()), (Some("Exchange Server 2019"), Some("CU11")));
    assert!(r.patch.iter().all(|p| p.status == Status::Fixed), "{:?}", r.patch);
    assert_eq!(r.http_status, Some(404), "OWA itself was not found");
    assert_eq!(r.requests, 2);
    support::assert_only_allowed(&fake, &[]);
}

#[tokio::test]
async fn build_folder_lookup_finds_the_su_when_current_is_blocked() {
    let style = Style::PathAndFolder { cu: "15.1.2375".into(), folder: "15.1.2375.37".into() };
    let fake = support::start("127.0.0.1:0", support::exchange(style), None).await;
    let r = probe_one(base(), http(&fake)).await;
    assert_eq!(r.build, Some(b("15.1.2375.37")));
    assert_eq!(r.method, Some(Method::EcpBuildPath));
    assert!(r.patch.iter().all(|p| p.status == Status::Fixed), "{:?}", r.patch);
    // Owa + redirect, Current, then the newest candidate answered at once.
    assert_eq!(r.requests, 4);

    // The folder of the CU's RTM only: below the November 2022 SU.
    let style = Style::PathAndFolder { cu: "15.1.2375".into(), folder: "15.1.2375.7".into() };
    let fake = support::start("127.0.0.1:0", support::exchange(style), None).await;
    let r = probe_one(base(), http(&fake)).await;
    assert_eq!(r.build, Some(b("15.1.2375.7")));
    assert_eq!(r.status_of(Family::ProxyNotShell), Some(Status::Vulnerable));
    assert_eq!(r.requests, 5);
    support::assert_only_allowed(&fake, &[]);
}

#[tokio::test]
async fn ordinary_web_servers_are_not_exchange() {
    let nginx = support::start("127.0.0.1:0", support::nginx(), None).await;
    let apache =
        support::start("127.0.0.1:0", support::apache(), Some(support::valid_tls(&["www.example.test"]))).await;
    let records = probe_with(base(), &[http(&nginx), https(&apache)]).await;
    for r in &records {
        assert!(r.reachable && !r.exchange, "{r:?}");
        assert!(r.build.is_none() && r.patch.is_empty() && r.signals.is_empty());
        assert!(r.error.is_none(), "{:?}", r.error);
        assert_eq!(r.requests, 2, "the OWA page and the export tool, nothing more");
    }
    assert_eq!((records[0].http_status, records[0].server.as_deref()), (Some(404), Some("nginx/1.24.0")));
    assert_eq!((records[1].http_status, records[1].server.as_deref()), (Some(200), Some("Apache/2.4.62 (Debian)")));
    assert!(records[1].tls.as_ref().unwrap().subject.contains("www.example.test"));
    support::assert_only_allowed(&nginx, &[]);
    support::assert_only_allowed(&apache, &[]);
}

#[tokio::test]
async fn a_closed_port_is_refused_and_not_retried() {
    let port = support::closed_port().await;
    let r = probe_one(Options { retries: 3, ..base() }, format!("127.0.0.1:{port}")).await;
    assert!(!r.reachable && !r.exchange);
    assert_eq!(r.error.as_ref().unwrap().kind, ErrorKind::Refused);
    assert_eq!(r.attempts, 1);
    assert_eq!(r.address, Some("127.0.0.1".parse().unwrap()));
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_after_each_retry() {
    let fake = support::start("127.0.0.1:0", Behaviour::Silent, None).await;
    let started = Instant::now();
    let options = Options { timeout: Duration::from_millis(400), retries: 1, ..base() };
    let r = probe_one(options, http(&fake)).await;
    assert!(r.reachable && !r.exchange);
    assert_eq!(r.error.as_ref().unwrap().kind, ErrorKind::Timeout);
    assert_eq!(r.attempts, 2);
    assert_eq!(fake.request_count(), 2, "one GET per attempt");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

    // The same over TLS: the handshake itself never completes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let r = probe_one(Options { timeout: Duration::from_millis(300), ..base() }, format!("127.0.0.1:{port}")).await;
    assert_eq!(r.error.as_ref().unwrap().kind, ErrorKind::Timeout, "{:?}", r.error);
    assert!(r.reachable && r.tls.is_none());
    drop(listener);
}

#[tokio::test]
async fn a_slow_drip_is_cut_by_the_timeout() {
    let fake = support::start("127.0.0.1:0", Behaviour::Drip, None).await;
    let started = Instant::now();
    let r = probe_one(Options { timeout: Duration::from_secs(1), ..base() }, http(&fake)).await;
    assert_eq!(r.error.as_ref().unwrap().kind, ErrorKind::Timeout);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn garbage_and_hangups_are_described() {
    let garbage = support::start("127.0.0.1:0", Behaviour::Garbage, None).await;
    let close = support::start("127.0.0.1:0", Behaviour::Close, None).await;
    let tls_garbage = support::start("127.0.0.1:0", Behaviour::Garbage, None).await;
    let records =
        probe_with(Options { retries: 1, ..base() }, &[http(&garbage), http(&close), https(&tls_garbage)]).await;
    let kinds: Vec<ErrorKind> = records.iter().map(|r| r.error.as_ref().unwrap().kind).collect();
    assert_eq!(kinds, [ErrorKind::Http, ErrorKind::Closed, ErrorKind::Tls]);
    assert!(records.iter().all(|r| r.reachable && !r.exchange));
    assert_eq!(records[0].attempts, 1, "garbage is an answer, not retried");
    assert_eq!(records[1].attempts, 2, "a hang-up may pass, retried");
}

#[tokio::test]
async fn a_huge_body_is_read_only_up_to_the_limit() {
    let page = format!("{}{}", support::logon_page("15.2.1118"), "x".repeat(20 << 20));
    let fake = support::start(
        "127.0.0.1:0",
        Behaviour::Http(Arc::new(move |request| {
            if request.path == "/owa/" { Reply::new(200, page.clone()) } else { Reply::new(404, "") }
        })),
        None,
    )
    .await;
    let r = probe_one(base(), http(&fake)).await;
    assert_eq!(r.build, Some(b("15.2.1118")));
    assert!(r.error.is_none(), "{:?}", r.error);
    // The connection holding the rest of the body is dropped; the next request opens another.
    assert_eq!(fake.connections.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_redirect_loop_is_reported_and_bounded() {
    let fake = support::start("127.0.0.1:0", support::redirect_loop(), None).await;
    let r = probe_one(base(), http(&fake)).await;
    assert!(r.reachable && !r.exchange);
    assert_eq!(r.error.as_ref().unwrap().kind, ErrorKind::RedirectLoop);
    assert_eq!(fake.paths()[..2], ["/owa/", "/owa/a"]);
    assert_eq!(r.requests, 3, "two OWA requests, then the export tool");
    support::assert_only_allowed(&fake, &["/owa/a"]);

    // A chain that never repeats stops at the limit.
    let fake = support::start(
        "127.0.0.1:0",
        Behaviour::Http(Arc::new(|request| {
            let n: u32 = request.path.trim_start_matches("/owa/").trim_start_matches('r').parse().unwrap_or(0);
            if request.path.starts_with("/owa/") {
                Reply::redirect(format!("/owa/r{}", n + 1))
            } else {
                Reply::new(404, "")
            }
        })),
        None,
    )
    .await;
    let r = probe_one(base(), http(&fake)).await;
    assert_eq!(r.error.as_ref().unwrap().kind, ErrorKind::TooManyRedirects);
    assert!(r.requests <= 11, "{}", r.requests);
}

#[tokio::test]
async fn a_redirect_off_the_target_is_recorded_not_followed() {
    let elsewhere = support::start("127.0.0.1:0", support::apache(), None).await;
    let location = format!("http://127.0.0.1:{}/owa/", elsewhere.port());
    let target_location = location.clone();
    let fake = support::start(
        "127.0.0.1:0",
        Behaviour::Http(Arc::new(move |_| Reply::redirect(target_location.clone()))),
        None,
    )
    .await;
    let r = probe_one(base(), http(&fake)).await;
    assert_eq!(r.redirect.as_deref(), Some(location.as_str()));
    assert_eq!(r.http_status, Some(302));
    assert_eq!(elsewhere.connections.load(std::sync::atomic::Ordering::SeqCst), 0, "never contacted");
    // An Exchange that redirects its address to its public name over the same scheme and port
    // is followed on the same connection, with the target's own Host header.
    let fake = support::start("127.0.0.1:0", support::exchange(Style::PathOnly("15.2.1118".into())), None).await;
    let r = probe_one(base(), http(&fake)).await;
    assert!(r.redirect.is_none() && r.exchange);
    let host = format!("127.0.0.1:{}", fake.port());
    assert!(fake.requests.lock().unwrap().iter().all(|q| q.header("host") == Some(host.as_str())));
}

#[tokio::test]
async fn an_expired_certificate_is_recorded_and_only_refused_with_verify_tls() {
    let fake = support::start(
        "127.0.0.1:0",
        support::exchange(Style::FullHeader("15.2.792.3".into())),
        Some(support::expired_tls(&["owa.expired.test"])),
    )
    .await;
    let r = probe_one(base(), https(&fake)).await;
    assert!(r.exchange && r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.build, Some(b("15.2.792.3")));
    let tls = r.tls.as_ref().unwrap();
    assert!(tls.expired && !tls.verified);
    assert_eq!(tls.not_after.as_deref(), Some("2021-03-01T00:00:00Z"));
    assert_eq!(tls.not_before.as_deref(), Some("2019-03-01T00:00:00Z"));

    let r = probe_one(Options { verify_tls: true, ..base() }, https(&fake)).await;
    assert!(r.reachable && !r.exchange);
    let error = r.error.as_ref().unwrap();
    assert_eq!(error.kind, ErrorKind::Tls);
    assert!(error.message.contains("certificate"), "{}", error.message);
    let tls = r.tls.as_ref().expect("the rejected certificate is still described");
    assert!(tls.expired && tls.subject.contains("owa.expired.test"));
    assert_eq!(r.requests, 0, "no request is sent over a rejected handshake");
    assert_eq!(r.attempts, 1, "a TLS refusal is an answer, not retried");
}

#[tokio::test]
async fn plain_http_on_an_https_target_says_so() {
    let fake = support::start("127.0.0.1:0", support::nginx(), None).await;
    let r = probe_one(base(), https(&fake)).await;
    let error = r.error.as_ref().unwrap();
    assert_eq!(error.kind, ErrorKind::Tls);
    assert!(error.message.contains("plain HTTP"), "{}", error.message);
}

#[tokio::test]
async fn ipv6_loopback() {
    let fake = support::start(
        "[::1]:0",
        support::exchange(Style::FullHeader("15.0.1497.44".into())),
        Some(support::valid_tls(&["::1"])),
    )
    .await;
    let r = probe_one(base(), format!("[::1]:{}", fake.port())).await;
    assert_eq!(r.address, Some("::1".parse().unwrap()));
    assert_eq!(r.target, "::1");
    assert_eq!(r.build, Some(b("15.0.1497.44")));
    assert_eq!((r.product.as_deref(), r.cu.as_deref()), (Some("Exchange Server 2013"), Some("CU23")));
    assert_eq!(r.tls.as_ref().unwrap().san, ["::1"]);
    let host = format!("[::1]:{}", fake.port());
    assert_eq!(fake.requests.lock().unwrap()[0].header("host"), Some(host.as_str()));
}

#[tokio::test]
async fn names_are_sent_as_host_and_sni_and_resolved_locally() {
    let fake = support::start(
        "127.0.0.1:0",
        support::exchange(Style::FullHeader("15.2.1118.20".into())),
        Some(support::valid_tls(&["owa.contoso.test"])),
    )
    .await;
    let mut options = base();
    options.resolve.insert("OWA.contoso.test".into(), IpAddr::from([127, 0, 0, 1]));
    let r = probe_one(options, format!("https://owa.contoso.test:{}/owa/", fake.port())).await;
    assert_eq!(r.target, "owa.contoso.test");
    assert_eq!(r.input, format!("https://owa.contoso.test:{}/owa/", fake.port()));
    assert_eq!(r.address, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(r.build, Some(b("15.2.1118.20")));
    let host = format!("owa.contoso.test:{}", fake.port());
    assert_eq!(fake.requests.lock().unwrap()[0].header("host"), Some(host.as_str()));
    // SNI carried the name: the certificate verifies for it but for the self-signed issuer.
    let tls = r.tls.as_ref().unwrap();
    assert!(tls.verify_error.as_deref().unwrap().contains("unknown issuer"), "{:?}", tls.verify_error);

    // `localhost` comes from the hosts file (no DNS query). It may give ::1 first, where
    // nothing listens: the next address is tried.
    let fake = support::start("127.0.0.1:0", support::nginx(), None).await;
    let r = probe_one(base(), format!("http://localhost:{}", fake.port())).await;
    assert!(r.reachable, "{r:?}");
    assert_eq!(r.address, Some("127.0.0.1".parse().unwrap()));
}

#[tokio::test]
async fn each_target_gets_its_own_single_kept_alive_connection() {
    // Eight listeners on eight loopback addresses, probed three at a time.
    let mut fakes = Vec::new();
    let mut specs = Vec::new();
    for i in 1..=8u8 {
        let fake =
            support::start(&format!("127.0.0.{i}:0"), support::exchange(Style::PathOnly("15.2.1118".into())), None)
                .await;
        specs.push(format!("http://127.0.0.{i}:{}", fake.port()));
        fakes.push(fake);
    }
    let (records, summary) = probe_run(base(), &specs, 3, std::future::pending()).await;
    assert_eq!(summary.done, 8);
    assert_eq!(summary.exchange, 8);
    for (i, (r, fake)) in records.iter().zip(&fakes).enumerate() {
        assert_eq!(r.address, Some(IpAddr::from([127, 0, 0, i as u8 + 1])));
        assert!(r.exchange && r.error.is_none(), "{r:?}");
        assert_eq!(fake.connections.load(std::sync::atomic::Ordering::SeqCst), 1, "requests share one connection");
        assert_eq!(fake.request_count() as u32, r.requests);
    }
}

#[tokio::test]
async fn at_most_n_targets_are_probed_at_once() {
    // One listener answering slowly, probed under 12 names that all resolve to it.
    let fake = support::start(
        "127.0.0.1:0",
        Behaviour::Http(Arc::new(|_| Reply::new(404, "").delayed(Duration::from_millis(50)))),
        None,
    )
    .await;
    let mut options = base();
    let specs: Vec<String> = (0..12)
        .map(|i| {
            options.resolve.insert(format!("site{i}.test"), IpAddr::from([127, 0, 0, 1]));
            format!("http://site{i}.test:{}", fake.port())
        })
        .collect();
    let (_, summary) = probe_run(options, &specs, 4, std::future::pending()).await;
    assert_eq!(summary.done, 12);
    let peak = fake.max_open.load(std::sync::atomic::Ordering::SeqCst);
    assert!((2..=4).contains(&peak), "peak open connections {peak}");
}

#[tokio::test]
async fn the_rate_limit_spaces_requests() {
    let fake = support::start("127.0.0.1:0", support::nginx(), None).await;
    let mut options = Options { rate: 20.0, ..base() };
    let specs: Vec<String> = (0..5)
        .map(|i| {
            options.resolve.insert(format!("r{i}.test"), IpAddr::from([127, 0, 0, 1]));
            format!("http://r{i}.test:{}", fake.port())
        })
        .collect();
    let started = Instant::now();
    let (_, summary) = probe_run(options, &specs, 5, std::future::pending()).await;
    // 5 targets x 2 requests at 20/s: the 10th request waits 9 intervals.
    assert_eq!(fake.request_count(), 10);
    assert!(started.elapsed() >= Duration::from_millis(440), "{:?}", started.elapsed());
    assert_eq!(summary.done, 5);
}

#[tokio::test]
async fn cancelling_stops_new_probes_and_reports_what_was_done() {
    let quick = support::start("127.0.0.1:0", support::nginx(), None).await;
    let silent = support::start("127.0.0.1:0", Behaviour::Silent, None).await;
    let mut options = Options { timeout: Duration::from_secs(30), ..base() };
    let mut specs = vec![http(&quick)];
    for i in 0..20 {
        options.resolve.insert(format!("s{i}.test"), IpAddr::from([127, 0, 0, 1]));
        specs.push(format!("http://s{i}.test:{}", silent.port()));
    }
    let started = Instant::now();
    let (records, summary) = probe_run(options, &specs, 4, tokio::time::sleep(Duration::from_millis(500))).await;
    assert!(summary.interrupted);
    assert_eq!(summary.total, 21);
    assert_eq!(summary.done, 1);
    assert_eq!(records.len(), 1);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    // Only the first four targets were ever started.
    assert!(silent.connections.load(std::sync::atomic::Ordering::SeqCst) <= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_closed_ports_complete_quickly() {
    // 4,096 loopback addresses where nothing listens on this port.
    let port = support::closed_port().await;
    let started = Instant::now();
    let (records, summary) = probe_run(base(), &[format!("127.77.0.0/20:{port}")], 256, std::future::pending()).await;
    assert_eq!(summary.done, 4096);
    assert_eq!(records.iter().filter(|r| r.error.as_ref().unwrap().kind == ErrorKind::Refused).count(), 4096);
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
}

/// Every row of the build table, read from the same data file `hunt` uses: for each fix cell,
/// the fix build and the build just below it; each row's RTM; and each row's CU as a 3-part
/// build. Served as X-OWA-Version and as the export-tool manifest (4 parts) and as logon-page
/// paths (3 parts), probed, and checked against the cell's meaning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_of_the_build_table_end_to_end() {
    let csv =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../builds/data/exchange-builds.csv")).unwrap();
    let table = BuildTable::builtin();
    let families_of_column =
        [vec![Family::ProxyLogon], vec![Family::ProxyShell], vec![Family::ProxyShell], vec![Family::ProxyNotShell]];
    struct Row {
        name: String,
        rtm: Build,
        cells: Vec<String>,
    }
    let mut rows = Vec::new();
    for line in csv.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).skip(1) {
        let fields: Vec<&str> = line.splitn(10, ',').map(str::trim).collect();
        let name = if fields[1].is_empty() { fields[0].to_owned() } else { format!("{} {}", fields[0], fields[1]) };
        rows.push(Row { name, rtm: b(fields[2]), cells: fields[4..8].iter().map(|c| c.to_string()).collect() });
    }
    assert!(rows.len() >= 30, "{} rows", rows.len());

    // The cases: (style, build served, the build the probe must report).
    let mut cases: Vec<(Style, Build)> = Vec::new();
    for row in &rows {
        // The RTM, every build the table knows for the CU (its SUs and listed updates), and
        // each fix build and the build just below it.
        let mut builds = table.known_builds(&row.rtm);
        builds.push(row.rtm);
        for cell in &row.cells {
            if let Ok(fix) = cell.trim_end_matches('?').parse::<Build>() {
                builds.push(fix);
                builds.push(just_below(fix));
            }
        }
        builds.sort();
        builds.dedup();
        for &build in &builds {
            cases.push((Style::FullHeader(build.to_string()), build));
            cases.push((Style::ManifestOnly(build.to_string()), build));
        }
        let cu = Build::new(row.rtm.major, row.rtm.minor, row.rtm.build, None);
        cases.push((Style::PathOnly(cu.to_string()), cu));
    }

    // One listener; each case is a name resolved to it, and the Host header picks the case.
    let styles: Arc<HashMap<String, Style>> =
        Arc::new(cases.iter().enumerate().map(|(i, (style, _))| (format!("case{i}.test"), style.clone())).collect());
    let lookup = styles.clone();
    let fake = support::start(
        "127.0.0.1:0",
        Behaviour::Http(Arc::new(move |request| match lookup.get(&request.host()) {
            Some(style) => support::exchange_reply(style, request),
            None => Reply::new(500, "unknown case"),
        })),
        None,
    )
    .await;
    let mut options = base();
    let specs: Vec<String> = (0..cases.len())
        .map(|i| {
            options.resolve.insert(format!("case{i}.test"), IpAddr::from([127, 0, 0, 1]));
            format!("http://case{i}.test:{}", fake.port())
        })
        .collect();
    let (records, summary) = probe_run(options, &specs, 32, std::future::pending()).await;
    assert_eq!(summary.done as usize, cases.len());
    let by_build: HashMap<(String, Build), &Record> = records
        .iter()
        .zip(&cases)
        .map(|(r, (style, build))| ((format!("{style:?}").split('(').next().unwrap().to_owned(), *build), r))
        .collect();

    // Every record: the build as served, its method, and the table's product and judgement.
    for (r, (style, build)) in records.iter().zip(&cases) {
        let context = format!("{style:?}: {r:?}");
        assert!(r.exchange && r.error.is_none(), "{context}");
        assert_eq!(r.build, Some(*build), "{context}");
        let method = match style {
            Style::FullHeader(_) => Method::XOwaVersion,
            Style::ManifestOnly(_) => Method::EcpExporttool,
            _ => Method::OwaResourcePath,
        };
        assert_eq!(r.method, Some(method), "{context}");
        assert_eq!(r.patch, table.patch_status(build), "{context}");
        let shown = [r.product.clone(), r.cu.clone()].into_iter().flatten().collect::<Vec<_>>().join(" ");
        assert_eq!(Some(shown), table.product(build).map(|p| p.name), "{context}");
        support::assert_only_allowed(&fake, &[]);
    }

    // Every cell's decision, from what the cell says rather than from the table's code.
    let mut decisions = BTreeSet::new();
    for row in &rows {
        let at = |build: Build| by_build[&("FullHeader".to_owned(), build)];
        let manifest_at = |build: Build| by_build[&("ManifestOnly".to_owned(), build)];
        for (column, cell) in row.cells.iter().enumerate() {
            for &family in &families_of_column[column] {
                let status = |r: &Record| r.status_of(family);
                let rtm = at(row.rtm);
                match cell.as_str() {
                    "n/a" => assert_eq!(status(rtm), None, "{} {family}: n/a", row.name),
                    "in-cu" => assert_eq!(status(rtm), Some(Status::Fixed), "{} {family}: in-cu", row.name),
                    "none" => assert_eq!(status(rtm), Some(Status::Vulnerable), "{} {family}: none", row.name),
                    fix => {
                        let fix = b(fix.trim_end_matches('?'));
                        assert_eq!(
                            status(at(just_below(fix))),
                            Some(Status::Vulnerable),
                            "{} {family} below {fix}",
                            row.name
                        );
                        assert_eq!(status(manifest_at(just_below(fix))), Some(Status::Vulnerable));
                        // ProxyShell needs both of its SUs: at the later one it is fixed.
                        let last_fix = families_of_column
                            .iter()
                            .zip(&row.cells)
                            .filter(|(families, _)| families.contains(&family))
                            .filter_map(|(_, c)| c.trim_end_matches('?').parse::<Build>().ok())
                            .max()
                            .unwrap();
                        if fix == last_fix {
                            assert_eq!(status(at(fix)), Some(Status::Fixed), "{} {family} at {fix}", row.name);
                            assert_eq!(status(manifest_at(fix)), Some(Status::Fixed));
                        }
                    }
                }
                decisions.insert((row.name.clone(), column, family));
            }
        }
        // The 3-part CU: a family is unknown exactly when the CU's own builds disagree on it.
        let cu = Build::new(row.rtm.major, row.rtm.minor, row.rtm.build, None);
        let three = by_build[&("PathOnly".to_owned(), cu)];
        let highest = table.known_builds(&row.rtm).into_iter().max().unwrap();
        for family in Family::ALL {
            let (low, high) = (at(row.rtm).status_of(family), at(highest).status_of(family));
            let expected = if low == high { low } else { Some(Status::Unknown) };
            assert_eq!(three.status_of(family), expected, "{} {family} from the 3-part {cu}", row.name);
        }
        assert_eq!(three.precision.map(|p| p.to_string()).as_deref(), Some("cu"));
    }
    assert_eq!(decisions.len(), rows.len() * 4, "every cell of every row was checked");
    let statuses_seen: BTreeSet<String> =
        records.iter().flat_map(|r| r.patch.iter().map(|p| p.status.to_string())).collect();
    assert_eq!(statuses_seen.into_iter().collect::<Vec<_>>(), ["fixed", "unknown", "vulnerable"]);
}

/// The build just below a fix: one revision lower, or the previous build number for a fix
/// with revision 0.
fn just_below(fix: Build) -> Build {
    match fix.revision {
        Some(r) if r > 0 => Build::new(fix.major, fix.minor, fix.build, Some(r - 1)),
        _ => Build::new(fix.major, fix.minor, fix.build - 1, fix.revision),
    }
}
