//! `taskforce serve`, `ingest` and `token` as a user runs them: exit codes, messages, graceful
//! shutdown on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_taskforce"))
}

const HEADER: &str = "\"timestamp\",\"ip\",\"port\",\"hostname\",\"tag\",\"asn\",\"geo\",\"region\",\"city\",\"naics\",\"sic\",\"sector\",\"version\",\"servername\",\"url\"\n";

#[test]
fn ingest_takes_good_files_and_names_refused_ones() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let good = dir.path().join("2021-03-15-scan_exchange.csv");
    std::fs::write(&good, format!("{HEADER}\"2021-03-15 02:14:07\",\"192.0.2.10\",443,,\"exchange;cve-2021-26855\",64496,\"US\",,,,,,,\"EXCH01\",\nbroken,row\n")).unwrap();
    let bad = dir.path().join("not-a-feed.csv");
    std::fs::write(&bad, "a,b\n1,2\n").unwrap();
    let out = bin().args(["ingest", "--database", &db, "shadowserver"]).arg(&good).arg(&bad).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not-a-feed.csv") && stderr.contains("nothing was ingested"), "{stderr}");
    assert!(stderr.contains("2021-03-15-scan_exchange.csv:3: skipped"), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["rows_ok"], 1);
    // Again: nothing changes, exit 0 for the good file alone.
    let out = bin().args(["ingest", "--database", &db, "shadowserver"]).arg(&good).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already ingested"));
    let out = bin().args(["ingest", "--database", &db, "tweets"]).arg(&good).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown kind"));
}

fn http_get(addr: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp.split(' ').nth(1).unwrap().parse().unwrap();
    (status, resp)
}

#[cfg(unix)]
#[test]
fn serve_answers_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("serve.db").display());
    let out =
        bin().args(["token", "create", "--database", &db, "--name", "ana", "--role", "analyst"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("tf_"));

    let mut child = bin()
        .args(["serve", "--database", &db, "--listen", "127.0.0.1:0", "--log-format", "json"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("serve exited early").unwrap();
        if let Some(a) = line.strip_prefix("listening on http://") {
            break a.to_string();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    let logs = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let (status, body) = http_get(&addr, "/health", None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"ok\""));
    assert_eq!(http_get(&addr, "/api/v1/stats", None).0, 401);
    assert_eq!(http_get(&addr, "/api/v1/stats", Some(&token)).0, 200);

    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "serve did not stop within 10 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let logs = logs.join().unwrap();
    // Structured logs: JSON lines, including the shutdown.
    assert!(logs.iter().any(|l| l.starts_with('{') && l.contains("shutting down")), "{logs:?}");
}

#[test]
fn serve_refuses_a_bad_database_url() {
    let out = bin().args(["serve", "--database", "mysql://x", "--listen", "127.0.0.1:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database URL"));
}

/// A real `taskforce hunt` report goes into the service: the loop from hunt to tracking.
#[test]
fn a_real_hunt_report_is_ingested() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out =
        bin().arg("hunt").arg(root.join("samples/exch01-compromised")).args(["--format", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = dir.path().join("exch01.json");
    std::fs::write(&report, &out.stdout).unwrap();
    let out = bin().args(["ingest", "--database", &db, "--ip", "192.0.2.10", "hunt"]).arg(&report).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((summary["rows_ok"].as_i64(), summary["state_changes"].as_i64()), (Some(1), Some(2)), "{summary}");
    // Without an address and with no feed naming EXCH01, the row is rejected with the reason.
    let other = dir.path().join("copy.json");
    std::fs::write(&other, std::fs::read(&report).unwrap().iter().chain(b"\n").copied().collect::<Vec<u8>>()).unwrap();
    let db2 = format!("sqlite://{}", dir.path().join("t2.db").display());
    let out = bin().args(["ingest", "--database", &db2, "hunt"]).arg(&other).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no known host has the server name \"EXCH01\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `--ip` names one host: a report holding several is refused (exit 2, the reason), nothing
/// is written; an undated clean report is taken with a warning that it cannot verify.
#[test]
fn ingest_refuses_one_address_for_several_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let host = |name: &str| {
        serde_json::json!({"name": name, "verdict": "clean", "reason": "no finding", "patch": [],
            "coverage": [{"source": "IIS", "files": 1, "first": "2021-03-01T00:00:00Z", "last": "2021-03-11T00:00:00Z"}],
            "findings": []})
    };
    let two = dir.path().join("two.json");
    std::fs::write(
        &two,
        serde_json::json!({"schema": "taskforce.hunt.v1", "hosts": [host("EXCH01"), host("EXCH02")]}).to_string(),
    )
    .unwrap();
    let out = bin().args(["ingest", "--database", &db, "--ip", "192.0.2.10", "hunt"]).arg(&two).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("two.json") && stderr.contains("holds 2 hosts") && stderr.contains("nothing was ingested"),
        "{stderr}"
    );
    // Nothing was written: the one-host report about the same address creates the host now.
    let mut undated = host("EXCH01");
    undated.as_object_mut().unwrap().remove("coverage");
    let one = dir.path().join("one.json");
    std::fs::write(&one, serde_json::json!({"schema": "taskforce.hunt.v1", "hosts": [undated]}).to_string()).unwrap();
    let out = bin().args(["ingest", "--database", &db, "--ip", "192.0.2.10", "hunt"]).arg(&one).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("one.json:1: warning:") && stderr.contains("cannot verify"), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((summary["rows_ok"].as_i64(), summary["state_changes"].as_i64()), (Some(1), Some(1)), "{summary}");
}

/// `taskforce user create` reads the password from stdin; `serve` serves the pages too.
#[cfg(unix)]
#[test]
fn user_create_and_the_pages_served() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("web.db").display());
    let create = |name: &str, password: &str| {
        let mut child = bin()
            .args(["user", "create", "--database", &db, "--name", name, "--role", "analyst"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = create("ana", "short");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12 characters"));
    let out = create("ana", "a long enough passphrase");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = bin().args(["user", "list", "--database", &db]).output().unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("\"name\":\"ana\"") && !listed.contains("argon2"), "{listed}");

    let mut child = bin()
        .args(["serve", "--database", &db, "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("serve exited early").unwrap();
        if let Some(a) = line.strip_prefix("listening on http://") {
            break a.to_string();
        }
    };
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).count());
    let (status, resp) = http_get(&addr, "/", None);
    assert_eq!(status, 303, "{resp}");
    assert!(resp.contains("location: /login?next=%2F"), "{resp}");
    let (status, resp) = http_get(&addr, "/login", None);
    assert_eq!(status, 200);
    assert!(
        resp.contains("content-security-policy: default-src 'self'")
            && resp.contains("<form method=\"post\" action=\"/login\"")
    );
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(child.wait().unwrap().success());
    drain.join().unwrap();
}
