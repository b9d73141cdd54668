//! Message templates as data (minijinja): the shipped ones are embedded in the binary; a folder
//! given with `--templates DIR` overrides them file by file. Every template is compiled and
//! rendered once against a sample message at load, so a broken one is refused before anything is
//! sent, with its file and line.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use minijinja::{Environment, UndefinedBehavior, Value};
use serde::Serialize;

use crate::plan::{FindingLine, FixLine, HostLine, Recipient, RecipientKind};

/// The languages shipped: the list the service validates a contact's `lang` against (imports and
/// the contacts API), so a contact can only name a language these templates are written in.
pub const LANGUAGES: &[&str] = taskforce_service::orgs_import::MESSAGE_LANGUAGES;

/// The parts of one message.
pub const PARTS: &[&str] = &["subject.txt", "body.txt", "body.html"];

const SHIPPED: &[(&str, &str)] = &[
    ("en/subject.txt", include_str!("../templates/en/subject.txt")),
    ("en/body.txt", include_str!("../templates/en/body.txt")),
    ("en/body.html", include_str!("../templates/en/body.html")),
    ("de/subject.txt", include_str!("../templates/de/subject.txt")),
    ("de/body.txt", include_str!("../templates/de/body.txt")),
    ("de/body.html", include_str!("../templates/de/body.html")),
];

/// What a template sees (also stored with the ticket, without the link's secret).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct MessageContext {
    pub ticket: String,
    pub campaign: String,
    pub org_id: i64,
    pub org_name: String,
    pub org_cc: Option<String>,
    pub recipient: Recipient,
    /// The recipient is an intermediary (a CERT, a provider) who passes it on.
    pub intermediary: bool,
    pub hosts: Vec<HostLine>,
    pub compromised: usize,
    pub vulnerable: usize,
    pub regressed: usize,
    /// `first`, `reminder` or `escalation`.
    pub reason: String,
    pub why: String,
    pub portal_url: String,
    pub token_expires_at: String,
    pub sender: String,
    pub generated_at: String,
}

/// A template that could not be loaded or rendered: file and line.
#[derive(Debug)]
pub struct TemplateError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "template {}:{l}: {}", self.file, self.message),
            None => write!(f, "template {}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for TemplateError {}

#[derive(Clone)]
pub struct Templates {
    env: Environment<'static>,
    /// Where each template came from (shipped or a file), for error messages.
    origins: Vec<(String, String)>,
}

fn template_error(file: &str, e: &minijinja::Error) -> TemplateError {
    let mut message = e.kind().to_string();
    if let Some(d) = e.detail() {
        message.push_str(": ");
        message.push_str(d);
    }
    TemplateError { file: file.to_string(), line: e.line(), message }
}

impl Templates {
    /// The shipped templates, each replaced by `dir/<lang>/<part>` when that file exists.
    pub fn load(dir: Option<&Path>) -> Result<Templates, TemplateError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let mut origins = Vec::new();
        for (name, shipped) in SHIPPED {
            let (origin, source) = match dir.map(|d| d.join(name)) {
                Some(path) if path.exists() => {
                    let text = std::fs::read_to_string(&path).map_err(|e| TemplateError {
                        file: path.display().to_string(),
                        line: None,
                        message: format!("cannot read: {e}"),
                    })?;
                    (path.display().to_string(), text)
                }
                _ => (format!("(shipped) {name}"), shipped.to_string()),
            };
            env.add_template_owned(name.to_string(), source).map_err(|e| template_error(&origin, &e))?;
            origins.push((name.to_string(), origin));
        }
        let t = Templates { env, origins };
        // Render every template once: unknown variables and filters fail here, not mid-batch.
        let sample = sample_context();
        for lang in LANGUAGES {
            t.render(lang, &sample)?;
        }
        Ok(t)
    }

    fn origin(&self, name: &str) -> String {
        self.origins.iter().find(|(n, _)| n == name).map(|(_, o)| o.clone()).unwrap_or_else(|| name.to_string())
    }

    /// Subject, text and HTML of one message.
    pub fn render(&self, lang: &str, ctx: &MessageContext) -> Result<(String, String, String), TemplateError> {
        let lang = if LANGUAGES.contains(&lang) { lang } else { "en" };
        let value = Value::from(minijinja::value::Serde(ctx));
        let mut out = Vec::with_capacity(3);
        for part in PARTS {
            let name = format!("{lang}/{part}");
            let tmpl = self.env.get_template(&name).map_err(|e| template_error(&self.origin(&name), &e))?;
            out.push(tmpl.render(&value).map_err(|e| template_error(&self.origin(&name), &e))?);
        }
        let html = out.pop().unwrap_or_default();
        let text = out.pop().unwrap_or_default();
        // A subject is one line.
        let subject = out.pop().unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ");
        Ok((subject, text, html))
    }
}

/// The templates a user may copy to start from.
pub fn shipped() -> &'static [(&'static str, &'static str)] {
    SHIPPED
}

/// A message with every field filled, for the load-time check.
fn sample_context() -> MessageContext {
    MessageContext {
        ticket: "TF-20210312-000001".into(),
        campaign: "exchange".into(),
        org_id: 1,
        org_name: "Example".into(),
        org_cc: Some("DE".into()),
        recipient: Recipient {
            email: "abuse@example.org".into(),
            name: Some("Abuse desk".into()),
            kind: RecipientKind::Intermediary,
            via: Some("CERT".into()),
            lang: "en".into(),
        },
        intermediary: true,
        hosts: vec![HostLine {
            host_id: 1,
            ip: "192.0.2.1".into(),
            asn: Some(64496),
            hostname: Some("mail.example.org".into()),
            servername: Some("EXCH01".into()),
            version: Some("15.1.2176.2".into()),
            state: "compromised".into(),
            regressed: true,
            since: "2021-03-03T00:00:00Z".into(),
            first_seen: "2021-03-01T00:00:00Z".into(),
            last_seen: "2021-03-10T00:00:00Z".into(),
            findings: vec![FindingLine {
                kind: "webshell:/owa/auth/x.aspx".into(),
                first_seen: "2021-03-03T00:00:00Z".into(),
                last_seen: "2021-03-10T00:00:00Z".into(),
                count: 2,
            }],
            fixes: vec![FixLine {
                family: "ProxyLogon".into(),
                status: "vulnerable".into(),
                fixed_in: Some("15.1.2176.9".into()),
                cves: vec!["CVE-2021-26855".into()],
            }],
        }],
        compromised: 1,
        vulnerable: 0,
        regressed: 1,
        reason: "escalation".into(),
        why: "192.0.2.1 is now compromised".into(),
        portal_url: "http://127.0.0.1:8080/portal?token=tf_x".into(),
        token_expires_at: "2021-04-11T00:00:00Z".into(),
        sender: "taskforce@example.org".into(),
        generated_at: "2021-03-12T00:00:00Z".into(),
    }
}

/// Writes the shipped templates into `dir` (to start a customisation from).
pub fn export(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (name, text) in SHIPPED {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| anyhow!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| anyhow!("cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every language a contact may be given has all its parts shipped, and nothing else is.
    #[test]
    fn the_languages_contacts_may_name_are_the_ones_shipped() {
        for lang in LANGUAGES {
            for part in PARTS {
                let name = format!("{lang}/{part}");
                assert!(SHIPPED.iter().any(|(n, _)| *n == name), "{name} is not shipped");
            }
        }
        for (name, _) in SHIPPED {
            let lang = name.split('/').next().unwrap();
            assert!(LANGUAGES.contains(&lang), "{name} is shipped for a language contacts cannot choose");
        }
    }
}
