//! Test support: the service's database harness (SQLite and PostgreSQL), a real SMTP sink on
//! loopback (`smtp_sink.py`, Debian's python3-aiosmtpd), and a small world of organisations.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use taskforce_notify::NotifyConfig;

#[path = "../../../service/tests/common.rs"]
pub mod common;

pub use common::*;

/// The sink script's path.
pub fn sink_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_sink.py")
}

/// A running SMTP sink; stopped when dropped.
pub struct Sink {
    child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Sink {
    pub fn start(extra: &[&str]) -> Sink {
        let dir = tempfile::tempdir().unwrap();
        let python = if std::path::Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
        let mut child = Command::new(python)
            .arg(sink_script())
            .arg("--dir")
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 with aiosmtpd (apt-get install python3-aiosmtpd)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
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

    /// Every stored message, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A header's value in a raw message (first occurrence, unfolded).
pub fn header(msg: &str, name: &str) -> Option<String> {
    let mail = mailparse_lite(msg);
    mail.into_iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

fn mailparse_lite(msg: &str) -> Vec<(String, String)> {
    let head = msg.split("\r\n\r\n").next().unwrap_or("");
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// The decoded text of every part (quoted-printable and base64 undone), for content checks.
pub fn decoded_text(msg: &str) -> String {
    let body = msg.split_once("\r\n").map(|(_, rest)| rest).unwrap_or(msg); // drop X-Envelope-To
    fn walk(m: &mailparse::ParsedMail, out: &mut String) {
        if m.subparts.is_empty() {
            out.push_str(&String::from_utf8_lossy(&m.get_body_raw().unwrap_or_default()));
            out.push('\n');
        }
        for s in &m.subparts {
            walk(s, out);
        }
    }
    let parsed = mailparse::parse_mail(body.as_bytes()).unwrap();
    let mut out = String::new();
    for h in &parsed.headers {
        out.push_str(&h.get_key());
        out.push_str(": ");
        out.push_str(&h.get_value());
        out.push('\n');
    }
    walk(&parsed, &mut out);
    out
}

/// Test settings: the sink, no throttling, retries at once.
pub fn config(sink: &Sink) -> NotifyConfig {
    NotifyConfig {
        smtp: sink.url(),
        from: "cert@taskforce.example".into(),
        base_url: "https://taskforce.example".into(),
        rate_per_sec: 1000.0,
        domain_rate_per_sec: 1000.0,
        retry_base_secs: 0,
        timeout_secs: 10,
        ..NotifyConfig::default()
    }
}

/// Organisations: own contacts (Alpha; Beta in Germany, with a manual contact added later), one
/// reached through its provider's wider network (Gamma), one through its ASN's holder (Delta),
/// and one with nobody to write to (Epsilon).
pub const ORGS: &str = "org,network,asn,sector,cc,abuse_email,contact_name\n\
Alpha Town,192.0.2.0/28,,Public Administration,US,abuse@alpha.example,Alpha SOC\n\
Beta GmbH,192.0.2.16/28,,Manufacturing,DE,it@beta.example,\n\
Gamma LLC,198.51.100.16/28,,Retail,US,,\n\
Upstream ISP,198.51.100.0/24,,Hosting,US,noc@isp.example,\n\
Delta Inc,203.0.113.0/28,,Retail,US,,\n\
Transit AS,,64500,Hosting,US,abuse@transit.example,\n\
Epsilon Co,203.0.113.16/28,,Retail,US,,\n";

/// One Shadowserver row with its ASN.
/// Rows with a vulnerability tag carry an old build (2016 CU19 before the March 2021 update).
pub fn row(ts: &str, ip: &str, tag: &str, asn: u32, server: &str, url: &str) -> String {
    let version = if tag == "exchange" { "" } else { "15.1.2176.2" };
    format!(
        "\"{ts}\",\"{ip}\",443,\"mail.{server}.example\",\"{tag}\",{asn},\"US\",\"\",\"\",,,\"\",\"{version}\",\"{server}\",\"{url}\"\n"
    )
}

/// Hosts: Alpha has a vulnerable and a compromised server (one message for both) and an exposed
/// one; the others one vulnerable server each.
pub fn feed() -> String {
    let mut s = SS_HEADER.to_string();
    s += &row("2021-03-10 01:00:00", "192.0.2.1", "exchange;cve-2021-26855", 64496, "ALPHA1", "");
    s += &row("2021-03-10 01:00:01", "192.0.2.2", "exchange;webshell", 64496, "ALPHA2", "/owa/auth/x.aspx");
    s += &row("2021-03-10 01:00:02", "192.0.2.3", "exchange", 64496, "ALPHA3", "");
    s += &row("2021-03-10 01:00:03", "192.0.2.17", "exchange;cve-2021-26855", 64496, "BETA", "");
    s += &row("2021-03-10 01:00:04", "198.51.100.20", "exchange;cve-2021-26855", 64496, "GAMMA", "");
    s += &row("2021-03-10 01:00:05", "203.0.113.5", "exchange;cve-2021-26855", 64500, "DELTA", "");
    s += &row("2021-03-10 01:00:06", "203.0.113.20", "exchange;cve-2021-26855", 64511, "EPSILON", "");
    s
}

/// The world above, loaded through the API.
pub async fn world(kind: &str) -> Option<Svc> {
    let s = svc(kind).await?;
    s.upload("orgs", "orgs.csv", ORGS).await;
    s.upload("shadowserver", "2021-03-10-scan_exchange.csv", feed()).await;
    Some(s)
}

/// The id of an organisation by name.
pub async fn org_id(s: &Svc, name: &str) -> i64 {
    use sqlx::Row;
    sqlx::query("SELECT id FROM organisation WHERE name = $1")
        .bind(name.to_string())
        .fetch_one(&s.db.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap()
}
