//! FS-09: an IIS virtual directory (or application) whose physical path is in `ProgramData` or
//! `Users\All Users`, as ProxyShell intrusions configured to serve a web shell folder.

use std::sync::LazyLock;

use regex::Regex;
use taskforce_report::{Effect, Severity, Stage};

use crate::{FileHit, HitKind, RuleMeta};

static ELEMENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?is)<\s*(site|application|virtualDirectory)\b([^>]*)>"#).expect("valid regex"));
static ATTR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"(?i)\b([a-z]+)\s*=\s*"([^"]*)""#).expect("valid regex"));

fn meta() -> RuleMeta {
    RuleMeta {
        id: "TF-FS-09-IIS-VDIR-PROGRAMDATA".into(),
        title: "IIS virtual directory served from ProgramData (ProxyShell web shell folder)".into(),
        severity: Severity::Critical,
        stage: Stage::Persistence,
        effect: Effect::Compromised,
        cves: vec!["CVE-2021-34473".into(), "CVE-2021-34523".into(), "CVE-2021-31207".into()],
        reference: "detections.md A.3 FS-09".into(),
        all_sessions: None,
    }
}

/// Whether a physical path points into ProgramData or its `Users\All Users` alias.
fn into_program_data(physical: &str) -> bool {
    let p = physical.replace('/', "\\").to_ascii_lowercase();
    p.contains("\\programdata\\")
        || p.ends_with("\\programdata")
        || p.contains("\\users\\all users\\")
        || p.starts_with("%programdata%")
        || p.starts_with("%allusersprofile%")
}

/// Checks an `applicationHost.config` (or any IIS `.config`) for such virtual directories.
pub(crate) fn check_config(content: &[u8]) -> Vec<FileHit> {
    let text = decode(content);
    let mut hits = Vec::new();
    let (mut site, mut app) = (String::new(), String::from("/"));
    for el in ELEMENT.captures_iter(&text) {
        let kind = el[1].to_ascii_lowercase();
        let attrs: Vec<(String, String)> =
            ATTR.captures_iter(&el[2]).map(|a| (a[1].to_ascii_lowercase(), a[2].to_string())).collect();
        let attr = |name: &str| attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        match kind.as_str() {
            "site" => {
                site = attr("name").unwrap_or_default().to_string();
                app = "/".into();
            }
            "application" => app = attr("path").unwrap_or("/").to_string(),
            _ => {}
        }
        if kind == "site" {
            continue;
        }
        let Some(physical) = attr("physicalpath") else { continue };
        if !into_program_data(physical) {
            continue;
        }
        let vdir = attr("path").unwrap_or("/");
        let url = if kind == "application" {
            vdir.to_string()
        } else {
            format!("{}/{}", app.trim_end_matches('/'), vdir.trim_start_matches('/'))
        };
        let detail = vec![
            ("site".to_string(), site.clone()),
            ("virtual_path".to_string(), url),
            ("physical_path".to_string(), physical.to_string()),
        ];
        let excerpt: String = el[0].chars().take(300).collect();
        hits.push(meta().hit(HitKind::IisConfig, excerpt, detail));
    }
    hits
}

/// UTF-8 (with or without BOM) or UTF-16LE text.
fn decode(content: &[u8]) -> String {
    if content.starts_with(&[0xff, 0xfe]) {
        let units: Vec<u16> = content[2..].chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        return String::from_utf16_lossy(&units);
    }
    String::from_utf8_lossy(content.strip_prefix(&[0xef, 0xbb, 0xbf]).unwrap_or(content)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"<configuration>
  <system.applicationHost>
    <sites>
      <site name="Default Web Site" id="1">
        <application path="/" applicationPool="DefaultAppPool">
          <virtualDirectory path="/" physicalPath="%SystemDrive%\inetpub\wwwroot" />
          <virtualDirectory path="/COM" physicalPath="C:\ProgramData\COM" />
        </application>
        <application path="/owa" applicationPool="MSExchangeOWAAppPool">
          <virtualDirectory path="/" physicalPath="C:\Program Files\Microsoft\Exchange Server\V15\FrontEnd\HttpProxy\owa" />
          <virtualDirectory path="/x" physicalPath="C:\Users\All Users\ZING" />
        </application>
      </site>
    </sites>
  </system.applicationHost>
</configuration>"#;

    #[test]
    fn flags_program_data_vdirs_only() {
        let hits = check_config(CONFIG.as_bytes());
        let paths: Vec<_> = hits
            .iter()
            .map(|h| {
                let d = |k: &str| h.detail.iter().find(|(n, _)| n == k).unwrap().1.clone();
                (d("virtual_path"), d("physical_path"), d("site"))
            })
            .collect();
        assert_eq!(
            paths,
            [
                ("/COM".to_string(), "C:\\ProgramData\\COM".to_string(), "Default Web Site".to_string()),
                ("/owa/x".to_string(), "C:\\Users\\All Users\\ZING".to_string(), "Default Web Site".to_string()),
            ]
        );
        assert!(hits.iter().all(|h| h.effect == Effect::Compromised && h.severity == Severity::Critical));
    }

    #[test]
    fn stock_config_is_clean() {
        let clean = CONFIG
            .replace(r#"<virtualDirectory path="/COM" physicalPath="C:\ProgramData\COM" />"#, "")
            .replace(r#"<virtualDirectory path="/x" physicalPath="C:\Users\All Users\ZING" />"#, "");
        assert!(check_config(clean.as_bytes()).is_empty());
    }
}
