//! End-to-end tests of `taskforce probe` against fake servers these tests start on 127.0.0.1:
//! both output formats, target files, exit codes 0 / 2 / 130 and the Ctrl-C summary.
//! No traffic leaves the machine and no name is resolved.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde_json::Value;

fn taskforce() -> Command {
    Command::new(env!("CARGO_BIN_EXE_taskforce"))
}

/// A plain-HTTP fake on 127.0.0.1 answering each request with `answer(path)` (keep-alive).
fn serve(answer: fn(&str) -> String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || answer_requests(stream, answer));
        }
    });
    port
}

fn answer_requests(stream: TcpStream, answer: fn(&str) -> String) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                break;
            }
        }
        let path = request_line.split(' ').nth(1).unwrap_or("").to_owned();
        if writer.write_all(answer(&path).as_bytes()).is_err() {
            return;
        }
    }
}

fn response(status: &str, extra: &str, body: &str) -> String {
    format!("HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\n\r\n{body}", body.len())
}

/// Exchange 2016 CU19 showing only its CU on the logon page and its SU in the export tool.
fn exchange(path: &str) -> String {
    if path == "/owa/" {
        return response("302 Found", "Location: /owa/auth/logon.aspx?url=x&reason=0\r\nX-FEServer: EXCH01\r\n", "");
    }
    if path.starts_with("/owa/auth/logon.aspx") {
        return response("200 OK", "", "<link href=\"/owa/auth/15.1.2176/themes/resources/logon.css\">");
    }
    if path == "/ecp/Current/exporttool/microsoft.exchange.ediscovery.exporttool.application" {
        return response(
            "200 OK",
            "",
            "<assemblyIdentity name=\"microsoft.exchange.ediscovery.exporttool.application\" version=\"15.1.2176.9\" />",
        );
    }
    response("404 Not Found", "", "")
}

fn nginx(_: &str) -> String {
    response("404 Not Found", "Server: nginx\r\n", "not found")
}

/// A port on 127.0.0.1 with nothing listening.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn jsonl_one_line_per_target_with_the_documented_fields() {
    let exch = serve(exchange);
    let web = serve(nginx);
    let closed = closed_port();
    let out = taskforce()
        .args(["probe", "--rate", "0", "--timeout", "5"])
        .arg(format!("http://127.0.0.1:{exch}"))
        .arg(format!("http://127.0.0.1:{web}"))
        .arg(format!("127.0.0.1:{closed}"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let mut lines = lines(&out);
    lines.sort_by_key(|v| v["port"].as_u64());
    assert_eq!(lines.len(), 3);
    let by_port = |port: u16| lines.iter().find(|v| v["port"] == port).unwrap();
    for v in &lines {
        assert_eq!(v["schema"], "taskforce.probe.v1");
        for field in [
            "time",
            "target",
            "input",
            "scheme",
            "address",
            "port",
            "reachable",
            "exchange",
            "build",
            "precision",
            "method",
            "product",
            "cu",
            "patch",
            "signals",
            "http_status",
            "server",
            "redirect",
            "tls",
            "requests",
            "attempts",
            "timings",
            "error",
        ] {
            assert!(v.get(field).is_some(), "{field} missing from {v}");
        }
    }
    let e = by_port(exch);
    assert_eq!((e["exchange"].as_bool(), e["build"].as_str()), (Some(true), Some("15.1.2176.9")));
    assert_eq!((e["precision"].as_str(), e["method"].as_str()), (Some("full"), Some("ecp-exporttool")));
    assert_eq!((e["product"].as_str(), e["cu"].as_str()), (Some("Exchange Server 2016"), Some("CU19")));
    let patch: Vec<(&str, &str)> = e["patch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["family"].as_str().unwrap(), p["status"].as_str().unwrap()))
        .collect();
    assert_eq!(patch, [("ProxyLogon", "fixed"), ("ProxyShell", "vulnerable"), ("ProxyNotShell", "vulnerable")]);
    assert_eq!(e["patch"][1]["fixed_in"], "15.1.2176.14");
    assert_eq!(e["error"], Value::Null);
    let w = by_port(web);
    assert_eq!((w["reachable"].as_bool(), w["exchange"].as_bool()), (Some(true), Some(false)));
    assert_eq!(w["server"], "nginx");
    let c = by_port(closed);
    assert_eq!((c["reachable"].as_bool(), c["scheme"].as_str()), (Some(false), Some("https")));
    assert_eq!(c["error"]["kind"], "refused");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("3 target(s)") && stderr.contains("1 Exchange"), "{stderr}");
}

#[test]
fn csv_to_a_file_from_a_target_file_with_comments_and_duplicates() {
    let exch = serve(exchange);
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("targets.txt");
    std::fs::write(
        &list,
        format!("# head office\n127.0.0.1   # the front end\n\n127.0.0.1\n127.0.0.0/31  # overlaps\nhttp://127.0.0.1:{exch}/owa/\n"),
    )
    .unwrap();
    let csv_path = dir.path().join("out.csv");
    let closed = closed_port();
    let out = taskforce()
        .args(["probe", "-q", "--rate", "0", "-f", "csv", "-p", &closed.to_string(), "-i"])
        .arg(&list)
        .arg("-o")
        .arg(&csv_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "quiet, and the results went to the file");
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(headers[..3], ["time", "target", "input"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    // 127.0.0.1 once, 127.0.0.0 from the /31, and the URL.
    assert_eq!(rows.len(), 3, "{rows:?}");
    let exchange_row = rows.iter().find(|r| r[column("port")] == exch.to_string()).unwrap();
    assert_eq!(&exchange_row[column("build")], "15.1.2176.9");
    assert_eq!(&exchange_row[column("proxylogon")], "fixed");
    assert_eq!(&exchange_row[column("proxynotshell")], "vulnerable");
    assert!(
        rows.iter().filter(|r| r[column("port")] == closed.to_string()).all(|r| &r[column("error_kind")] == "refused")
    );
}

#[test]
fn bad_arguments_and_unreadable_files_exit_2() {
    let cases: Vec<Vec<&str>> = vec![
        vec!["probe"],
        vec!["probe", "-i", "/nonexistent/targets.txt"],
        vec!["probe", "999.1.1.1"],
        vec!["probe", "10.0.0.0/33"],
        vec!["probe", "-p", "0", "127.0.0.1"],
        vec!["probe", "-p", "443-80", "127.0.0.1"],
        vec!["probe", "--rate", "-1", "127.0.0.1"],
        vec!["probe", "--timeout", "0", "127.0.0.1"],
        vec!["probe", "--concurrency", "0", "127.0.0.1"],
        vec!["probe", "--format", "xml", "127.0.0.1"],
        vec!["probe", "--resolve", "name-without-address", "127.0.0.1"],
    ];
    for args in cases {
        let out = taskforce().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout.is_empty(), "{args:?}: nothing probed");
        assert!(!out.stderr.is_empty(), "{args:?}: says why");
    }
    let help = taskforce().args(["probe", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for option in
        ["--input", "--ports", "--concurrency", "--rate", "--timeout", "--retries", "--format", "--verify-tls"]
    {
        assert!(help.contains(option), "{option} missing from --help");
    }
}

#[test]
fn ctrl_c_writes_what_was_done_and_exits_130() {
    let web = serve(nginx);
    // Accepts and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let held = thread::spawn(move || silent.incoming().take(8).flatten().collect::<Vec<_>>());
    let mut child = taskforce()
        .args(["probe", "--rate", "0", "--timeout", "60", "--concurrency", "2"])
        .arg(format!("http://127.0.0.1:{web}"))
        .args((1..=6).flat_map(|i| {
            [format!("http://s{i}.test:{silent_port}"), "--resolve".into(), format!("s{i}.test=127.0.0.1")]
        }))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (first_line, lines) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut all = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let _ = first_line.send(());
            all.push(line);
        }
        all
    });
    lines.recv_timeout(Duration::from_secs(20)).expect("the quick target's line is streamed before the end");
    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted") && stderr.contains("1 of 7 target(s) done"), "{stderr}");
    let written = reader.join().unwrap();
    assert_eq!(written.len(), 1);
    let v: Value = serde_json::from_str(&written[0]).unwrap();
    assert_eq!(v["port"], web);
    drop(held);
}
