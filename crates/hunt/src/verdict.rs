//! The verdict for one host and the one sentence that explains it.

use taskforce_builds::Build;
use taskforce_report::{Coverage, Effect, Patch, Verdict};

use crate::Judged;

/// Logs a `clean` verdict needs: without them the attacks of 2021 leave no trace we could see.
pub const REQUIRED: [&str; 3] = ["HttpProxy", "IIS", "ECP"];
/// Logs that widen what is checked; their absence is named in the reason but does not block `clean`.
pub const OPTIONAL: [&str; 3] = ["OABGenerator", "CmdletLog", "EventLog"];

/// Addresses of the clients behind the findings that count (not scanner probes), first seen first.
/// Internal addresses (the front end proxying to the back end shows up as the client in the
/// back-end IIS log) are listed only when no external address was seen.
pub fn attacker_addresses(judged: &[Judged]) -> Vec<String> {
    let all = client_addresses(judged);
    let external: Vec<String> = all.iter().filter(|ip| !is_internal(ip)).cloned().collect();
    if external.is_empty() { all } else { external }
}

fn is_internal(ip: &str) -> bool {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        Ok(std::net::IpAddr::V6(v6)) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
        Err(_) => false,
    }
}

fn client_addresses(judged: &[Judged]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for j in judged.iter().filter(|j| effective(j) != Effect::None) {
        for key in ["ClientIpAddress", "c-ip"] {
            let ip = j.finding.detail.get(key).and_then(|v| v.as_str()).unwrap_or("");
            if !ip.is_empty() && ip != "-" && !out.iter().any(|o| o == ip) {
                out.push(ip.to_string());
            }
        }
    }
    out
}

fn covered(coverage: &[Coverage], source: &str) -> bool {
    coverage.iter().any(|c| c.source == source && c.first.is_some())
}

/// What a finding does to the verdict. `clean` means no finding above `low` (design.md), so a
/// context-only finding of medium severity or more (a suspicious file, a user rule without a
/// verdict) still keeps the host from `clean`: it counts as an attempt to review.
pub fn effective(j: &Judged) -> Effect {
    match j.effect {
        Effect::None if j.finding.severity > taskforce_report::Severity::Low => Effect::Attempted,
        e => e,
    }
}

/// Judges a host. `judged` is sorted by time.
pub fn judge(judged: &[Judged], coverage: &[Coverage], build: Option<&Build>, patch: &[Patch]) -> (Verdict, String) {
    let addresses = attacker_addresses(judged);
    let from = if addresses.is_empty() {
        String::new()
    } else {
        let shown: Vec<&str> = addresses.iter().take(5).map(String::as_str).collect();
        format!(" from {}", shown.join(", "))
    };
    let at = |t: &Option<String>| t.as_deref().map(|t| format!(" at {t}")).unwrap_or_default();

    if let Some(first) = judged.iter().find(|j| effective(j) == Effect::Compromised) {
        let n = judged.iter().filter(|j| effective(j) == Effect::Compromised).count();
        let more = if n > 1 { format!(" and {} more signs of success", n - 1) } else { String::new() };
        return (
            Verdict::Compromised,
            format!(
                "The attack succeeded: {}{}{more}{from}. Isolate the server, keep the evidence, rebuild it and reset the credentials it held.",
                first.finding.title,
                at(&first.finding.time)
            ),
        );
    }
    if let Some(first) = judged.iter().find(|j| effective(j) == Effect::Attempted) {
        let n = judged.iter().filter(|j| effective(j) == Effect::Attempted).count();
        return (
            Verdict::Attempted,
            format!(
                "Exploitation was attempted ({n} finding{}, first: {}{}){from}, with no sign in these logs that it succeeded; make sure the server is patched and check the findings.",
                if n == 1 { "" } else { "s" },
                first.finding.title,
                at(&first.finding.time)
            ),
        );
    }
    let missing: Vec<&str> = REQUIRED.iter().copied().filter(|s| !covered(coverage, s)).collect();
    if !missing.is_empty() {
        return (
            Verdict::Inconclusive,
            format!(
                "No attack found, but the evidence has no readable {} logs, which the checks need: collect them (see README) and run again.",
                missing.join(", ")
            ),
        );
    }
    let first = coverage.iter().filter_map(|c| c.first.as_deref()).min().unwrap_or("?");
    let last = coverage.iter().filter_map(|c| c.last.as_deref()).max().unwrap_or("?");
    let mut reason = format!("No signs of attack in the logs from {first} to {last}");
    let gaps: Vec<&str> = OPTIONAL.iter().copied().filter(|s| !covered(coverage, s)).collect();
    if !gaps.is_empty() {
        reason.push_str(&format!(" (no {} logs were in the evidence)", gaps.join(", ")));
    }
    let vulnerable: Vec<&str> = patch.iter().filter(|p| p.status == "vulnerable").map(|p| p.family.as_str()).collect();
    if !vulnerable.is_empty() {
        reason.push_str(&format!(
            "; but build {} is vulnerable to {}: patch it now",
            build.map(|b| b.to_string()).unwrap_or_default(),
            vulnerable.join(", ")
        ));
    } else if build.is_none() {
        reason.push_str("; the Exchange build could not be read from these logs");
    }
    reason.push('.');
    (Verdict::Clean, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskforce_report::{Finding, Severity, Stage};

    fn judged(severity: Severity, effect: Effect) -> Judged {
        Judged {
            finding: Finding {
                rule: "R".into(),
                title: "t".into(),
                severity,
                stage: Stage::Persistence,
                cves: vec![],
                time: None,
                source: "s".into(),
                line: None,
                excerpt: String::new(),
                detail: Default::default(),
            },
            effect,
            timestamp: None,
        }
    }

    fn covered_all() -> Vec<Coverage> {
        REQUIRED
            .iter()
            .map(|s| Coverage {
                source: s.to_string(),
                files: 1,
                first: Some("2021-03-01T00:00:00Z".into()),
                last: Some("2021-03-02T00:00:00Z".into()),
            })
            .collect()
    }

    #[test]
    fn clean_means_nothing_above_low() {
        let cov = covered_all();
        assert_eq!(judge(&[judged(Severity::Low, Effect::None)], &cov, None, &[]).0, Verdict::Clean);
        assert_eq!(judge(&[judged(Severity::Info, Effect::None)], &cov, None, &[]).0, Verdict::Clean);
        assert_eq!(judge(&[judged(Severity::Medium, Effect::None)], &cov, None, &[]).0, Verdict::Attempted);
        assert_eq!(judge(&[judged(Severity::High, Effect::Compromised)], &cov, None, &[]).0, Verdict::Compromised);
        assert_eq!(judge(&[], &cov[..1], None, &[]).0, Verdict::Inconclusive);
    }
}
