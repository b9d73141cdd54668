//! The verdict for one host and the one sentence that explains it.

use taskforce_builds::Build;
use taskforce_report::{Coverage, Effect, EvidenceWindow, Patch, Verdict};

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

/// What a finding does to the verdict: exactly its effect. A context finding (`none`) never
/// decides anything, whatever its severity; a finding that needs a person says so with `review`.
pub fn effective(j: &Judged) -> Effect {
    j.effect
}

/// What the verdict is judged on besides the findings.
pub struct Context<'a> {
    pub coverage: &'a [Coverage],
    /// From the rows and events read, never from file times.
    pub window: &'a EvidenceWindow,
    /// Evidence files that look like logs or events but could not be read.
    pub unreadable: &'a [String],
    pub build: Option<&'a Build>,
    pub patch: &'a [Patch],
}

/// `TITLE (RULE) at TIME`: the finding that decided, named so a reader can find it.
fn named(j: &Judged) -> String {
    let at = j.finding.time.as_deref().map(|t| format!(" at {t}")).unwrap_or_default();
    let place = if j.finding.time.is_none() { format!(" in {}", j.finding.source) } else { String::new() };
    format!("{} ({}){at}{place}", j.finding.title, j.finding.rule)
}

/// Judges a host. `judged` is sorted by time.
pub fn judge(judged: &[Judged], cx: &Context<'_>) -> (Verdict, String) {
    let (verdict, mut reason) = decide(judged, cx);
    if !cx.unreadable.is_empty() {
        let first = cx.unreadable[0].as_str();
        let more =
            if cx.unreadable.len() > 1 { format!(" and {} more", cx.unreadable.len() - 1) } else { String::new() };
        reason.push_str(&format!(
            " {} file(s) that look like logs or event logs could not be read and were not judged ({first}{more}; see skipped).",
            cx.unreadable.len()
        ));
    }
    (verdict, reason)
}

fn decide(judged: &[Judged], cx: &Context<'_>) -> (Verdict, String) {
    let addresses = attacker_addresses(judged);
    let from = if addresses.is_empty() {
        String::new()
    } else {
        let shown: Vec<&str> = addresses.iter().take(5).map(String::as_str).collect();
        format!(" from {}", shown.join(", "))
    };
    let with = |effect: Effect| judged.iter().filter(move |j| effective(j) == effect);

    if let Some(first) = with(Effect::Compromised).next() {
        let n = with(Effect::Compromised).count();
        let more = if n > 1 { format!(" and {} more signs of success", n - 1) } else { String::new() };
        return (
            Verdict::Compromised,
            format!(
                "The attack succeeded: {}{more}{from}. Isolate the server, keep the evidence, rebuild it and reset the credentials it held.",
                named(first)
            ),
        );
    }
    if let Some(first) = with(Effect::Attempted).next() {
        let n = with(Effect::Attempted).count();
        let review = with(Effect::Review).count();
        let also = if review > 0 { format!(" {review} more finding(s) need review.") } else { String::new() };
        return (
            Verdict::Attempted,
            format!(
                "Exploitation was attempted ({n} finding{}, first: {}){from}, with no sign in these logs that it succeeded; make sure the server is patched and check the findings.{also}",
                if n == 1 { "" } else { "s" },
                named(first)
            ),
        );
    }
    if let Some(first) = with(Effect::Review).next() {
        let n = with(Effect::Review).count();
        return (
            Verdict::Attempted,
            format!(
                "Needs review: {}{}; nothing shows an attack succeeded, but this cannot be called clean until a person has checked {}.",
                named(first),
                if n > 1 { format!(" and {} more finding(s) to review", n - 1) } else { String::new() },
                if n > 1 { "them" } else { "it" }
            ),
        );
    }
    let missing: Vec<&str> = REQUIRED.iter().copied().filter(|s| !covered(cx.coverage, s)).collect();
    if !missing.is_empty() {
        return (
            Verdict::Inconclusive,
            format!(
                "No attack found, but the evidence has no readable {} logs, which the checks need: collect them (see README) and run again.",
                missing.join(", ")
            ),
        );
    }
    let first = cx.window.from.as_deref().unwrap_or("?");
    let last = cx.window.to.as_deref().unwrap_or("?");
    let mut reason = format!("No signs of attack in the logs from {first} to {last}");
    let gaps: Vec<&str> = OPTIONAL.iter().copied().filter(|s| !covered(cx.coverage, s)).collect();
    if !gaps.is_empty() {
        reason.push_str(&format!(" (no {} logs were in the evidence)", gaps.join(", ")));
    }
    let vulnerable: Vec<&str> =
        cx.patch.iter().filter(|p| p.status == "vulnerable").map(|p| p.family.as_str()).collect();
    if !vulnerable.is_empty() {
        reason.push_str(&format!(
            "; but build {} is vulnerable to {}: patch it now",
            cx.build.map(|b| b.to_string()).unwrap_or_default(),
            vulnerable.join(", ")
        ));
    } else if cx.build.is_none() {
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

    fn judge_on(findings: &[Judged], coverage: &[Coverage]) -> (Verdict, String) {
        let window =
            EvidenceWindow { from: Some("2021-03-01T00:00:00Z".into()), to: Some("2021-03-02T00:00:00Z".into()) };
        judge(findings, &Context { coverage, window: &window, unreadable: &[], build: None, patch: &[] })
    }

    #[test]
    fn clean_means_nothing_above_low() {
        let cov = covered_all();
        assert_eq!(judge_on(&[judged(Severity::Low, Effect::None)], &cov).0, Verdict::Clean);
        assert_eq!(judge_on(&[judged(Severity::Info, Effect::None)], &cov).0, Verdict::Clean);
        assert_eq!(judge_on(&[judged(Severity::High, Effect::Compromised)], &cov).0, Verdict::Compromised);
        assert_eq!(judge_on(&[], &cov[..1]).0, Verdict::Inconclusive);
    }

    #[test]
    fn effect_none_never_decides_whatever_its_severity() {
        let cov = covered_all();
        for severity in [Severity::Medium, Severity::High, Severity::Critical] {
            let (verdict, reason) = judge_on(&[judged(severity, Effect::None)], &cov);
            assert_eq!(verdict, Verdict::Clean, "{severity}: {reason}");
        }
        // Without the logs it stays inconclusive, never attempted.
        assert_eq!(judge_on(&[judged(Severity::High, Effect::None)], &cov[..1]).0, Verdict::Inconclusive);
    }

    #[test]
    fn review_keeps_a_host_from_clean_and_every_reason_names_the_deciding_rule() {
        let cov = covered_all();
        let mut review = judged(Severity::Medium, Effect::Review);
        review.finding.rule = "TF-FS-01-PROGRAMDATA-PAGE".into();
        let (verdict, reason) = judge_on(&[review], &cov);
        assert_eq!(verdict, Verdict::Attempted);
        assert!(reason.starts_with("Needs review"), "{reason}");
        assert!(reason.contains("TF-FS-01-PROGRAMDATA-PAGE"), "{reason}");
        for effect in [Effect::Attempted, Effect::Compromised] {
            let mut j = judged(Severity::High, effect);
            j.finding.rule = "TF-DECIDES".into();
            let (_, reason) = judge_on(&[judged(Severity::Low, Effect::None), j], &cov);
            assert!(reason.contains("TF-DECIDES"), "{effect}: {reason}");
        }
    }

    #[test]
    fn clean_reason_dates_come_from_the_window_and_unreadable_files_are_named() {
        let cov = covered_all();
        let window =
            EvidenceWindow { from: Some("2021-02-27T10:00:00Z".into()), to: Some("2021-03-05T09:00:00Z".into()) };
        let unreadable = vec!["ev/Security.evtx".to_string()];
        let (verdict, reason) =
            judge(&[], &Context { coverage: &cov, window: &window, unreadable: &unreadable, build: None, patch: &[] });
        assert_eq!(verdict, Verdict::Clean);
        assert!(reason.contains("from 2021-02-27T10:00:00Z to 2021-03-05T09:00:00Z"), "{reason}");
        assert!(reason.contains("ev/Security.evtx"), "{reason}");
    }
}
