//! Linking a path the attacker wrote (an OABGenerator temp file, a virtual directory reset, a
//! mailbox export) with later requests to that path in the IIS and HttpProxy logs.
//!
//! The link is made with the same engine as everything else: for each written path the hunt
//! writes two small rules (one per log source) that match requests whose URL ends with the
//! path's web address, and runs them over the request logs a second time. The second pass only
//! happens when something was written, so a clean host costs nothing extra.

use serde_norway::{Mapping, Value};
use taskforce_rules::RuleSet;

/// Rule id of a request to an attacker-written file.
pub const RULE_ID: &str = "TF-COR-01";

/// A file the attacker wrote, as a web address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenPath {
    /// As the log wrote it (`\\127.0.0.1\c$\inetpub\wwwroot\aspnet_client\x.aspx`).
    pub path: String,
    /// The end of the URL that serves it, lower case (`/aspnet_client/x.aspx`).
    pub url_suffix: String,
    /// True when the path is under a folder IIS serves (`inetpub\wwwroot`, the front end's
    /// virtual directories). Otherwise only the file name can be compared, and a request with
    /// that name is context, never proof of use.
    pub in_web_folder: bool,
}

const WEB_ANCHORS: [&str; 2] = ["/inetpub/wwwroot/", "/frontend/httpproxy/"];

fn lower_path(path: &str) -> String {
    path.trim().trim_matches(['\'', '"']).replace('\\', "/").to_ascii_lowercase()
}

/// True when `path` is under a folder IIS serves, so a request's URL can name that very file.
pub fn in_web_folder(path: &str) -> bool {
    let p = lower_path(path);
    WEB_ANCHORS.iter().any(|a| p.contains(a))
}

/// The URL under which IIS would serve `path`, as far as it can be told: the part after
/// `inetpub\wwwroot` or `FrontEnd\HttpProxy` (the Exchange front-end virtual directories), else
/// the file name alone.
pub fn web_suffix(path: &str) -> Option<String> {
    let p = lower_path(path);
    let name = p.rsplit('/').next().filter(|n| n.contains('.'))?;
    for anchor in WEB_ANCHORS {
        if let Some(at) = p.find(anchor) {
            return Some(format!("/{}", &p[at + anchor.len()..]));
        }
    }
    Some(format!("/{name}"))
}

/// The correlation rules for a set of written paths, one IIS and one HttpProxy rule per path.
pub fn rules_for(paths: &[WrittenPath]) -> RuleSet {
    let mut texts = Vec::new();
    for (i, wp) in paths.iter().enumerate() {
        for (source, stem, status, keep) in [
            (
                "IIS",
                "cs-uri-stem",
                "sc-status",
                &["c-ip", "cs-method", "cs-uri-stem", "sc-status", "cs(User-Agent)"][..],
            ),
            (
                "HttpProxy",
                "UrlStem",
                "HttpStatus",
                &["ClientIpAddress", "Method", "UrlStem", "HttpStatus", "UserAgent"][..],
            ),
        ] {
            let mut detection = Mapping::new();
            detection
                .insert("request".into(), map(&[(&format!("{stem}|endswith"), Value::from(wp.url_suffix.clone()))]));
            detection.insert("served".into(), map(&[(&format!("{status}|startswith"), Value::from("2"))]));
            detection.insert("condition".into(), "request".into());
            let mut rule = Mapping::new();
            rule.insert("id".into(), format!("{RULE_ID}#{i}-{source}").into());
            rule.insert("source".into(), source.into());
            rule.insert("detection".into(), Value::Mapping(detection));
            if wp.in_web_folder {
                rule.insert("title".into(), "Request to a file the attacker wrote".into());
                rule.insert(
                    "description".into(),
                    "A request, after the write, for a path that an earlier finding shows the attacker writing: web shell use when it was served."
                        .into(),
                );
                rule.insert("severity".into(), "high".into());
                rule.insert("stage".into(), "webshell".into());
                rule.insert("verdict".into(), "attempted".into());
                rule.insert(
                    "escalate".into(),
                    map(&[
                        ("condition", "request and served".into()),
                        ("severity", "critical".into()),
                        ("verdict", "compromised".into()),
                    ]),
                );
            } else {
                // Only the file name matches: another page of that name may be what was served.
                rule.insert(
                    "title".into(),
                    "Request for the name of a file the attacker wrote outside the web folders".into(),
                );
                rule.insert(
                    "description".into(),
                    "A request whose URL ends with the name of a file an earlier finding shows the attacker writing outside any folder IIS serves: context for the analyst, not proof of use."
                        .into(),
                );
                rule.insert("severity".into(), "low".into());
                rule.insert("stage".into(), "webshell".into());
                rule.insert("verdict".into(), "none".into());
            }
            rule.insert("keep".into(), Value::Sequence(keep.iter().map(|k| Value::from(*k)).collect()));
            let text = serde_norway::to_string(&Value::Mapping(rule)).expect("a mapping always serialises");
            texts.push((format!("correlation:{}", wp.path), text));
        }
    }
    RuleSet::from_texts(texts)
}

fn map(pairs: &[(&str, Value)]) -> Value {
    let mut m = Mapping::new();
    for (k, v) in pairs {
        m.insert(Value::from(*k), v.clone());
    }
    Value::Mapping(m)
}

/// Which written path a correlation rule index stands for (two rules per path).
pub fn path_index(rule_id: &str) -> Option<usize> {
    rule_id.strip_prefix(RULE_ID)?.strip_prefix('#')?.split('-').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_suffixes() {
        assert_eq!(
            web_suffix(r"\\127.0.0.1\c$\inetpub\wwwroot\aspnet_client\supp0rt.aspx").unwrap(),
            "/aspnet_client/supp0rt.aspx"
        );
        assert_eq!(
            web_suffix(r"'C:\Program Files\Microsoft\Exchange Server\V15\FrontEnd\HttpProxy\owa\auth\x.aspx'").unwrap(),
            "/owa/auth/x.aspx"
        );
        assert_eq!(web_suffix(r"D:\odd\place\shell.aspx").unwrap(), "/shell.aspx");
        assert_eq!(web_suffix(r"C:\no-extension"), None);
        assert!(in_web_folder(r"\\127.0.0.1\c$\inetpub\wwwroot\aspnet_client\supp0rt.aspx"));
        assert!(!in_web_folder(r"D:\odd\place\shell.aspx"));
    }

    #[test]
    fn a_bare_name_match_is_context_only() {
        let paths =
            vec![WrittenPath { path: "D:/x/s.aspx".into(), url_suffix: "/s.aspx".into(), in_web_folder: false }];
        let set = rules_for(&paths);
        assert!(set.problems.is_empty(), "{:?}", set.problems);
        for rule in set.rules() {
            assert_eq!(rule.meta.effect, taskforce_report::Effect::None);
            assert!(rule.meta.severity <= taskforce_report::Severity::Low);
        }
    }

    #[test]
    fn generated_rules_load_and_hostile_paths_stay_data() {
        let paths =
            vec![WrittenPath { path: "x".into(), url_suffix: "/a'b\"c: d\n- e.aspx".into(), in_web_folder: true }];
        let set = rules_for(&paths);
        assert!(set.problems.is_empty(), "{:?}", set.problems);
        assert_eq!(set.len(), 2);
        assert_eq!(path_index(&set.rules()[1].meta.id), Some(0));
    }
}
