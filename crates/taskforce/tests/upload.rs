//! `taskforce hunt … --upload URL --token TOKEN` against a real `taskforce serve` on loopback:
//! accepted, refused (403: another organisation's endpoint), and the server down. The report is
//! never lost: a failed upload exits 2 and keeps the JSON on disk.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_taskforce"))
}

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples").join(name)
}

fn token(db: &str, args: &[&str]) -> String {
    let out = bin().args(["token", "create", "--database", db]).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn get(addr: &str, path: &str, token: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.split("\r\n\r\n").nth(1).unwrap_or("").to_string()
}

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(db: &str) -> Server {
    let mut child = bin()
        .args(["serve", "--database", db, "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("serve exited early").unwrap();
        if let Some(a) = line.split("listening on http://").nth(1) {
            break a.trim().to_string();
        }
    };
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    Server { child, addr }
}

fn org_id(addr: &str, admin: &str, name: &str) -> i64 {
    let body = get(addr, &format!("/api/v1/organisations?name={name}"), admin);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let items = v.get("items").or_else(|| v.get("organisations")).and_then(|i| i.as_array()).expect("a list");
    items[0]["id"].as_i64().unwrap()
}

fn hunt_upload(cwd: &Path, url: &str, token: &str, extra: &[&str]) -> (i32, String) {
    let out = bin()
        .current_dir(cwd)
        .args(["hunt", "--quiet", "--upload", url, "--token", token, "--upload-ip", "192.0.2.10"])
        .args(extra)
        .arg(sample("exch03-clean"))
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn kept(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("taskforce-hunt-"))
        .collect()
}

#[test]
fn upload_accepted_refused_and_server_down() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("tf.db").display());
    let orgs = dir.path().join("orgs.csv");
    std::fs::write(
        &orgs,
        "org,network,abuse_email\nTown of Example,192.0.2.0/24,abuse@town.example\nOther Org,198.51.100.0/24,abuse@other.example\n",
    )
    .unwrap();
    let out = bin().args(["ingest", "--database", &db, "orgs"]).arg(&orgs).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let admin = token(&db, &["--name", "admin", "--role", "admin"]);
    let server = serve(&db);
    let town = org_id(&server.addr, &admin, "Town");
    let other = org_id(&server.addr, &admin, "Other");
    let reporter = token(&db, &["--name", "town-it", "--role", "reporter", "--org", &town.to_string()]);
    let work = tempfile::tempdir().unwrap();

    // Accepted: the clean sample's report, for the town's server.
    let url = format!("http://{}/api/v1/organisations/{town}/hunt-reports", server.addr);
    let (code, stderr) = hunt_upload(work.path(), &url, &reporter, &[]);
    assert_eq!(code, 0, "a clean host and a successful upload: {stderr}");
    assert!(stderr.contains("the service took the report"), "{stderr}");
    assert!(stderr.contains("192.0.2.10: now "), "the host's new state is shown: {stderr}");
    assert!(stderr.contains("still missing for verified_clean"), "and what verification still needs: {stderr}");
    assert!(kept(work.path()).is_empty(), "nothing to keep after a successful upload");
    let hosts = get(&server.addr, &format!("/api/v1/organisations/{town}/hosts"), &admin);
    assert!(hosts.contains("192.0.2.10"), "the host is now tracked: {hosts}");

    // Refused: the town's token on another organisation's endpoint.
    let url = format!("http://{}/api/v1/organisations/{other}/hunt-reports", server.addr);
    let (code, stderr) = hunt_upload(work.path(), &url, &reporter, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("HTTP 403"), "{stderr}");
    let saved = kept(work.path());
    assert_eq!(saved.len(), 1, "the report is kept: {stderr}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&saved[0]).unwrap()).unwrap();
    assert_eq!(v["schema"], "taskforce.hunt.v1");
    std::fs::remove_file(&saved[0]).unwrap();

    // Server down: nothing listens on the port any more.
    let addr = server.addr.clone();
    drop(server);
    let url = format!("http://{addr}/api/v1/organisations/{town}/hunt-reports");
    let json_out = work.path().join("exch03.json");
    let (code, stderr) =
        hunt_upload(work.path(), &url, &reporter, &["--format", "json", "--output", json_out.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cannot reach"), "{stderr}");
    assert!(stderr.contains("exch03.json"), "the report the user wrote is the one kept: {stderr}");
    assert!(json_out.exists());
    assert!(kept(work.path()).is_empty(), "no second copy when the user already wrote the JSON");
}
