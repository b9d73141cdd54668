//! Web shells in use seen from the request logs alone: the file is gone, only IIS logs remain.

mod fixtures;

use fixtures::*;
use serde_json::Value;
use taskforce_evidence::Evidence;
use taskforce_hunt::{Options, hunt_host};
use taskforce_report::{Severity, Verdict};
use taskforce_rules::RuleSet;

fn hunt(dir: &std::path::Path) -> taskforce_hunt::HostReport {
    let ev = Evidence::open(dir).expect("evidence opens");
    hunt_host(&ev, &RuleSet::builtin(), Options::default())
}

#[test]
fn a_lookalike_page_used_by_several_addresses_is_one_critical_finding_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "inetpub/logs/LogFiles/W3SVC1/u_ex210309.log",
        &iis(&[
            // Ordinary sign-ins: Exchange's own pages and static files, never findings.
            "2021-03-09 08:00:00 10.0.0.5 GET /owa/auth/logon.aspx url=https://mail.contoso.com/owa/&reason=0 443 - 10.0.0.7 Mozilla/5.0 - 200 0 0 15",
            "2021-03-09 08:00:01 10.0.0.5 GET /owa/auth/15.1.2176/themes/resources/logon.css - 443 - 10.0.0.7 Mozilla/5.0 - 200 0 0 3",
            "2021-03-09 08:00:05 10.0.0.5 POST /owa/auth.owa - 443 - 10.0.0.7 Mozilla/5.0 - 302 0 0 40",
            "2021-03-09 08:05:00 10.0.0.5 GET /ecp/auth/TimeoutLogout.aspx - 443 - 10.0.0.7 Mozilla/5.0 - 200 0 0 9",
            // The web shell, named one letter away from logon.aspx, used days after the exploit
            // by three addresses; a scanner's 404 for another name is not use.
            "2021-03-09 11:02:33 10.0.0.5 POST /owa/auth/logen.aspx - 443 - 192.0.2.77 Mozilla/5.0 - 200 0 0 120",
            "2021-03-09 11:02:40 10.0.0.5 POST /owa/auth/logen.aspx - 443 - 192.0.2.77 Mozilla/5.0 - 200 0 0 130",
            "2021-03-11 22:15:00 10.0.0.5 POST /owa/auth/Logen.aspx - 443 - 198.51.100.23 Mozilla/5.0 - 200 0 0 110",
            "2021-03-14 03:40:10 10.0.0.5 POST /owa/auth/logen.aspx - 443 - 203.0.113.99 Mozilla/5.0 - 200 0 0 90",
            "2021-03-14 03:41:00 10.0.0.5 GET /owa/auth/xyzzy.aspx - 443 - 203.0.113.50 zgrab/0.x - 404 0 2 1",
        ]),
    );
    let report = hunt(dir.path());
    let host = &report.host;
    let uses: Vec<_> = host.findings.iter().filter(|f| f.rule == "TF-IIS-UNKNOWN-PAGE").collect();
    assert_eq!(uses.len(), 1, "one finding per page: {:#?}", host.findings);
    let f = uses[0];
    assert_eq!(f.severity, Severity::Critical, "a look-alike of a stock page ranks higher");
    assert_eq!(f.detail["lookalike_of"], "logon.aspx");
    assert_eq!(f.detail["page"], "/owa/auth/logen.aspx");
    assert_eq!(f.detail["requests"], 4);
    let addresses: Vec<&str> =
        f.detail["addresses"].as_array().unwrap().iter().map(|a| a["address"].as_str().unwrap()).collect();
    assert_eq!(addresses, ["192.0.2.77", "198.51.100.23", "203.0.113.99"]);
    assert_eq!(f.detail["addresses"][0]["requests"], 2);
    assert_eq!(f.detail["last_request"], Value::from("2021-03-14T03:40:10Z"));
    assert!(f.title.contains("192.0.2.77, 198.51.100.23, 203.0.113.99"), "{}", f.title);
    assert_eq!(host.verdict, Verdict::Compromised, "{}", host.reason);
    assert!(!host.findings.iter().any(|f| f.excerpt.contains("logon.aspx") || f.excerpt.contains("TimeoutLogout")));
}

#[test]
fn an_unknown_page_that_is_not_a_lookalike_is_high_and_still_compromised() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "inetpub/logs/LogFiles/W3SVC1/u_ex210309.log",
        &iis(&[
            "2021-03-09 11:02:33 10.0.0.5 POST /ecp/auth/qwerty123.aspx - 443 - 192.0.2.77 Mozilla/5.0 - 200 0 0 120",
            "2021-03-09 12:00:00 10.0.0.5 POST /ecp/auth/qwerty123.aspx - 443 - 192.0.2.77 Mozilla/5.0 - 500 0 0 120",
        ]),
    );
    let host = hunt(dir.path()).host;
    let f = host.findings.iter().find(|f| f.rule == "TF-IIS-UNKNOWN-PAGE").expect("found");
    assert_eq!(f.severity, Severity::High);
    assert!(f.detail.get("lookalike_of").is_none());
    assert_eq!(f.detail["requests"], 1, "only answered requests are use");
    assert_eq!(host.verdict, Verdict::Compromised);
}
