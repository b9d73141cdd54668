//! X-ARF v4 reports attached to a notification (`attach_xarf`), one per host, for recipients
//! whose abuse desks file reports automatically. X-ARF v4 wants one report per incident (no
//! bundling), so a message carries one JSON document per host of its own organisation, written
//! from the host lines the message itself tells — never another organisation's.
//!
//! Written from the public X-ARF v4 description (the core fields every report carries, and the
//! `vulnerability`/`cve` and `infrastructure`/`compromised_server` types):
//! - core: `xarf_version`, `report_id` (a random UUID), `timestamp` (when the host was last
//!   seen in that state), `reporter` and `sender` (the task force: `reporter_org`, the `from`
//!   address and its domain), `source_identifier` (the host's address), `category`, `type`;
//! - a compromised host: `infrastructure`/`compromised_server` with `compromise_type`
//!   (`webshell` when a web shell was found, else `backdoor`), the web shells' paths and when
//!   the compromise was first seen;
//! - a vulnerable host: `vulnerability`/`cve` with the service, its build, the port (443: the
//!   HTTPS front end every one of these families is reached through), the first open CVE as
//!   `cve_id` and all of them as `cve_ids`, and the build that fixes it.
//!
//! A host whose build names no open CVE (no build reported) and a patched host (a reminder) are
//! no incident X-ARF can describe: they get no report; the CSV beside it lists every host.

use anyhow::Result;
use ring::rand::SecureRandom;
use serde_json::{Map, Value, json};

use crate::plan::HostLine;

pub const XARF_VERSION: &str = "4.0.0";

/// The product every report is about.
const SERVICE: &str = "Microsoft Exchange Server";

/// The port the vulnerable front end answers on.
const SERVICE_PORT: u16 = 443;

/// A random (version 4) UUID.
pub fn uuid_v4() -> Result<String> {
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut b).map_err(|_| anyhow::anyhow!("no randomness"))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]))
}

/// Who reports: the task force, by name, address and the address's domain.
pub struct Reporter<'a> {
    pub org: &'a str,
    pub email: &'a str,
}

impl Reporter<'_> {
    fn contact_info(&self) -> Value {
        let domain = self.email.rsplit_once('@').map(|(_, d)| d.trim_end_matches('>')).unwrap_or("localhost");
        json!({"org": self.org, "contact": self.email, "domain": domain})
    }
}

/// A tag in X-ARF's `namespace:value` form (lower-case; other characters become `-`).
fn tag(namespace: &str, value: &str) -> String {
    let v: String = value
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "_+-.".contains(c) { c } else { '-' })
        .collect();
    format!("{namespace}:{}", v.trim_start_matches(|c: char| !c.is_ascii_alphanumeric()))
}

/// The open CVEs of a host's build (vulnerable or undecided families), in family order.
fn open_cves(h: &HostLine) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in &h.fixes {
        for c in &f.cves {
            if !out.contains(c) {
                out.push(c.clone());
            }
        }
    }
    out
}

/// The report for one host, or `None` when it is no incident X-ARF can describe.
pub fn report(h: &HostLine, reporter: &Reporter, ticket: &str, campaign: &str) -> Result<Option<Value>> {
    let mut r = Map::new();
    r.insert("xarf_version".into(), json!(XARF_VERSION));
    r.insert("report_id".into(), json!(uuid_v4()?));
    r.insert("timestamp".into(), json!(h.last_seen));
    r.insert("reporter".into(), reporter.contact_info());
    r.insert("sender".into(), reporter.contact_info());
    r.insert("source_identifier".into(), json!(h.ip));
    r.insert("source_port".into(), json!(SERVICE_PORT));
    let name = h.hostname.as_deref().or(h.servername.as_deref()).unwrap_or("");
    let mut tags = vec![tag("ticket", ticket), tag("campaign", campaign)];
    if h.state == "compromised" {
        let shells: Vec<String> =
            h.findings.iter().filter_map(|f| f.kind.strip_prefix("webshell:").map(str::to_string)).collect();
        let any_shell = h.findings.iter().any(|f| f.kind.starts_with("webshell"));
        let first = h.findings.iter().map(|f| f.first_seen.as_str()).min().unwrap_or(h.since.as_str());
        r.insert("category".into(), json!("infrastructure"));
        r.insert("type".into(), json!("compromised_server"));
        r.insert("evidence_source".into(), json!("automated_scan"));
        r.insert("compromise_type".into(), json!(if any_shell { "webshell" } else { "backdoor" }));
        r.insert("service".into(), json!(SERVICE));
        if let Some(v) = &h.version {
            r.insert("service_version".into(), json!(v));
        }
        if !shells.is_empty() {
            r.insert("malicious_files".into(), json!(shells));
        }
        r.insert("first_seen".into(), json!(first));
        r.insert(
            "description".into(),
            json!(format!(
                "Exchange server {} {name} shows signs of compromise ({}). Patching alone does not remove an attacker: collect evidence, run `taskforce hunt`, remediate.",
                h.ip,
                h.findings.iter().map(|f| f.kind.as_str()).collect::<Vec<_>>().join(", ")
            )),
        );
        tags.push("state:compromised".into());
    } else if h.state == "vulnerable" || (h.regressed && h.state != "patched") {
        let cves = open_cves(h);
        let Some(first) = cves.first() else { return Ok(None) };
        r.insert("category".into(), json!("vulnerability"));
        r.insert("type".into(), json!("cve"));
        r.insert("evidence_source".into(), json!("vulnerability_scan"));
        r.insert("service".into(), json!(SERVICE));
        if let Some(v) = &h.version {
            r.insert("service_version".into(), json!(v));
        }
        r.insert("service_port".into(), json!(SERVICE_PORT));
        r.insert("cve_id".into(), json!(first));
        r.insert("cve_ids".into(), json!(cves.iter().take(10).collect::<Vec<_>>()));
        r.insert("severity".into(), json!("critical"));
        let fix = h.fixes.iter().find_map(|f| f.fixed_in.clone());
        r.insert("patch_available".into(), json!(fix.is_some()));
        if let Some(f) = fix {
            r.insert("patch_version".into(), json!(f));
        }
        r.insert(
            "description".into(),
            json!(format!(
                "Exchange server {} {name} runs build {} which is open to {}.",
                h.ip,
                h.version.as_deref().unwrap_or("?"),
                h.fixes.iter().map(|f| f.family.as_str()).collect::<Vec<_>>().join(", ")
            )),
        );
        for f in &h.fixes {
            tags.push(tag("family", &f.family));
        }
        tags.push(tag("state", &h.state));
    } else {
        return Ok(None);
    }
    tags.truncate(20);
    r.insert("tags".into(), json!(tags));
    Ok(Some(Value::Object(r)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{FindingLine, FixLine};

    fn host(state: &str, version: Option<&str>, fixes: Vec<FixLine>) -> HostLine {
        HostLine {
            host_id: 1,
            ip: "192.0.2.7".into(),
            asn: None,
            hostname: Some("mail.example.org".into()),
            servername: None,
            version: version.map(str::to_string),
            state: state.into(),
            regressed: false,
            since: "2021-03-03T00:00:00Z".into(),
            first_seen: "2021-03-01T00:00:00Z".into(),
            last_seen: "2021-03-10T00:00:00Z".into(),
            findings: vec![FindingLine {
                kind: "webshell:/owa/auth/x.aspx".into(),
                first_seen: "2021-03-04T00:00:00Z".into(),
                last_seen: "2021-03-10T00:00:00Z".into(),
                count: 1,
            }],
            fixes,
        }
    }

    fn proxylogon() -> FixLine {
        FixLine {
            family: "ProxyLogon".into(),
            status: "vulnerable".into(),
            fixed_in: Some("15.1.2176.9".into()),
            cves: vec!["CVE-2021-26855".into(), "CVE-2021-27065".into()],
        }
    }

    const REPORTER: Reporter = Reporter { org: "CERT", email: "cert@cert.example" };

    #[test]
    fn core_fields_and_types() {
        let v = report(
            &host("vulnerable", Some("15.1.2176.2"), vec![proxylogon()]),
            &REPORTER,
            "TF-20210312-000001",
            "exchange",
        )
        .unwrap()
        .unwrap();
        for k in
            ["xarf_version", "report_id", "timestamp", "reporter", "sender", "source_identifier", "category", "type"]
        {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert_eq!(v["reporter"]["domain"], "cert.example");
        assert_eq!((v["category"].as_str(), v["type"].as_str()), (Some("vulnerability"), Some("cve")));
        assert_eq!(v["cve_id"], "CVE-2021-26855");
        assert_eq!(v["service_port"], 443);
        assert_eq!(v["patch_version"], "15.1.2176.9");
        let id = v["report_id"].as_str().unwrap();
        assert_eq!((id.len(), &id[14..15]), (36, "4"), "a version-4 UUID: {id}");
        for t in v["tags"].as_array().unwrap() {
            let t = t.as_str().unwrap();
            let (ns, val) = t.split_once(':').unwrap();
            assert!(!ns.is_empty() && !val.is_empty() && t == t.to_ascii_lowercase(), "{t}");
        }
        let c = report(&host("compromised", None, vec![]), &REPORTER, "TF-1", "exchange").unwrap().unwrap();
        assert_eq!((c["category"].as_str(), c["type"].as_str()), (Some("infrastructure"), Some("compromised_server")));
        assert_eq!(c["compromise_type"], "webshell");
        assert_eq!(c["malicious_files"][0], "/owa/auth/x.aspx");
        assert_eq!(c["first_seen"], "2021-03-04T00:00:00Z");
    }

    #[test]
    fn no_report_without_an_incident_to_describe() {
        assert!(report(&host("vulnerable", None, vec![]), &REPORTER, "TF-1", "x").unwrap().is_none());
        assert!(report(&host("patched", Some("15.1.2176.9"), vec![]), &REPORTER, "TF-1", "x").unwrap().is_none());
    }
}
