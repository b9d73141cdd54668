//! `taskforce hunt … --upload URL --token TOKEN`: the JSON report sent home to the task force's
//! tracking service (the organisation's `hunt-reports` endpoint, the link its notification
//! gave), and the service's answer shown. An upload that fails never loses the report: it is
//! kept on disk and the way to send it again is printed.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

/// What the service answered.
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// Posts `report` (the `taskforce.hunt.v1` JSON) to `url`; `ip` is the server's address when the
/// report's server name is not known to the service.
pub fn send(url: &str, token: &str, ip: Option<&str>, report: &[u8]) -> Result<Answer, String> {
    let mut url = url.to_string();
    if let Some(ip) = ip {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str("ip=");
        url.push_str(&percent_encoding::utf8_percent_encode(ip, percent_encoding::NON_ALPHANUMERIC).to_string());
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_global(Some(Duration::from_secs(300)))
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent
        .post(&url)
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(report)
        .map_err(|e| format!("cannot reach {url}: {e}"))?;
    let status = response.status().as_u16();
    let mut text = String::new();
    response
        .into_body()
        .into_reader()
        .take(4 << 20)
        .read_to_string(&mut text)
        .map_err(|e| format!("reading the answer from {url}: {e}"))?;
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok(Answer { status, body })
}

/// A few lines for people: what the service did with the report.
pub fn describe(answer: &Answer) -> Vec<String> {
    let b = &answer.body;
    let mut lines = Vec::new();
    let ok = (200..300).contains(&answer.status);
    if !ok {
        let why = b.get("error").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| b.to_string());
        lines.push(format!("the service refused the report (HTTP {}): {why}", answer.status));
        return lines;
    }
    if b.get("duplicate_file").and_then(Value::as_bool) == Some(true) {
        lines.push("the service already had this exact report".into());
    }
    if let Some(n) = b.get("rows_ok").and_then(Value::as_u64) {
        lines.push(format!("the service took the report: {n} host(s) recorded (ingest {})", b["ingest_id"]));
    }
    for host in b.get("hosts").and_then(Value::as_array).into_iter().flatten() {
        let name = host.get("ip").or_else(|| host.get("name")).and_then(Value::as_str).unwrap_or("?");
        let state = host.get("tech_state").or_else(|| host.get("state")).and_then(Value::as_str).unwrap_or("?");
        lines.push(format!("{name}: now {state}"));
        for missing in host.get("missing_for_verified_clean").and_then(Value::as_array).into_iter().flatten() {
            if let Some(m) = missing.as_str() {
                lines.push(format!("  still missing for verified_clean: {m}"));
            }
        }
    }
    for e in b.get("errors").and_then(Value::as_array).into_iter().flatten().take(5) {
        lines.push(format!("  not taken: {e}"));
    }
    lines
}

/// Keeps the JSON report on disk after a failed upload (unless the user already wrote it as
/// JSON), in the current directory, and says how to send it again.
pub fn keep(report: &[u8], written_json: Option<&Path>) -> std::io::Result<PathBuf> {
    if let Some(p) = written_json {
        return Ok(p.to_path_buf());
    }
    let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ").to_string();
    let path = PathBuf::from(format!("taskforce-hunt-{stamp}.json"));
    std::fs::write(&path, report)?;
    Ok(path)
}
