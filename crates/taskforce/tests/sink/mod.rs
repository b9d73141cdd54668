//! The loopback SMTP sink the notification tests deliver to (crates/notify/tests/smtp_sink.py,
//! Debian's python3-aiosmtpd): started per test, stopped when dropped.
#![allow(dead_code)] // each test binary uses part of it

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct Sink {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl Sink {
    /// Starts the sink with its options (`--port N`, `--delay S`) and waits for its port.
    pub fn start(options: &[&str]) -> Sink {
        let dir = tempfile::tempdir().unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../notify/tests/smtp_sink.py");
        let python = if Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
        let mut child = Command::new(python)
            .arg(script)
            .arg("--dir")
            .arg(dir.path())
            .args(options)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with aiosmtpd");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("PORT ").expect("the SMTP sink did not start").parse().unwrap();
        Sink { child, dir, port }
    }

    /// How many messages it stored.
    pub fn count(&self) -> usize {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "eml"))
            .count()
    }

    /// The most messages it was receiving at once (over as many connections).
    pub fn max_active(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join(".max-active"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// (Message-ID, ticket) of every stored message.
    pub fn ids(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(self.dir.path()).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_none_or(|x| x != "eml") {
                continue;
            }
            let bytes = std::fs::read(&p).unwrap();
            let (headers, _) = mailparse::parse_headers(&bytes).unwrap();
            use mailparse::MailHeaderMap;
            out.push((
                headers.get_first_value("Message-ID").unwrap(),
                headers.get_first_value("X-Taskforce-Ticket").unwrap(),
            ));
        }
        out
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
