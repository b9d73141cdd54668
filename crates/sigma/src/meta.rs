//! What a Sigma rule's hit means for the report: severity from `level`, stage and verdict effect
//! from our `taskforce:` block (built-in rules) or from the rule's ATT&CK tags (user rules).

use rsigma_parser::{Level, LogSource, SigmaRule};
use taskforce_report::{Effect, Severity, Stage};

/// A loaded rule's metadata.
#[derive(Debug, Clone)]
pub struct RuleInfo {
    /// The rule's `id`, or its title when it has none.
    pub key: String,
    pub id: Option<String>,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    pub stage: Stage,
    pub effect: Effect,
    pub cves: Vec<String>,
    pub references: Vec<String>,
    pub tags: Vec<String>,
    pub logsource: LogSource,
    /// `builtin:rules/sigma/…` or the file path.
    pub origin: String,
    /// Accounts a hit names (`taskforce.accounts`), see [`AccountSpec`].
    pub accounts: Vec<AccountSpec>,
}

/// Where a hit names an account, and what the hit did to it: a named event data field (or
/// `Data`, the unnamed values joined as the event's message reads them), optionally narrowed by a
/// regex whose first group is the account; or every account with a session on the server.
#[derive(Debug, Clone)]
pub struct AccountSpec {
    pub field: Option<String>,
    pub regex: Option<regex::Regex>,
    pub action: taskforce_report::AccountAction,
    pub all_sessions: bool,
}

fn account_specs(ours: Option<&serde_json::Value>) -> Result<Vec<AccountSpec>, String> {
    let Some(list) = ours.and_then(|o| o.get("accounts")) else { return Ok(Vec::new()) };
    let list = list.as_array().ok_or("taskforce.accounts must be a list")?;
    list.iter()
        .map(|item| {
            let text = |k: &str| item.get(k).and_then(|v| v.as_str());
            let action = text("action")
                .ok_or("taskforce.accounts: each entry needs an action")?
                .parse::<taskforce_report::AccountAction>()
                .map_err(|e| format!("taskforce.accounts: {e}"))?;
            let all_sessions = item.get("all_sessions").and_then(|v| v.as_bool()).unwrap_or(false);
            let field = text("field").map(str::to_string);
            if field.is_none() && !all_sessions {
                return Err("taskforce.accounts: an entry needs a field or all_sessions: true".into());
            }
            let regex = text("regex")
                .map(regex::Regex::new)
                .transpose()
                .map_err(|e| format!("taskforce.accounts: bad regex: {e}"))?;
            Ok(AccountSpec { field, regex, action, all_sessions })
        })
        .collect()
}

pub(crate) fn key(id: Option<&str>, title: &str) -> String {
    id.map(str::to_string).unwrap_or_else(|| format!("title:{title}"))
}

impl RuleInfo {
    pub(crate) fn from_rule(rule: &SigmaRule, origin: &str, builtin: bool) -> Result<RuleInfo, String> {
        let severity = match rule.level {
            Some(Level::Critical) => Severity::Critical,
            Some(Level::High) => Severity::High,
            Some(Level::Medium) => Severity::Medium,
            Some(Level::Low) => Severity::Low,
            Some(Level::Informational) | None => Severity::Info,
        };
        let ours = rule.custom_attributes.get("taskforce").and_then(|v| serde_json::to_value(v).ok());
        let field = |name: &str| ours.as_ref().and_then(|o| o.get(name)).and_then(|v| v.as_str()).map(str::to_string);
        if builtin && ours.is_none() {
            return Err("built-in Sigma rules need a `taskforce:` block with stage and verdict".into());
        }
        let stage = match field("stage") {
            Some(s) => s.parse().map_err(|e: String| format!("taskforce.stage: {e}"))?,
            None => stage_from_tags(&rule.tags),
        };
        let effect = match field("verdict") {
            Some(s) => s.parse().map_err(|e: String| format!("taskforce.verdict: {e}"))?,
            None => effect_from_level(severity),
        };
        if effect == Effect::None && severity > Severity::Low {
            return Err("verdict none needs level informational or low (clean means nothing above low)".into());
        }
        let mut cves: Vec<String> = rule
            .tags
            .iter()
            .filter_map(|t| t.strip_prefix("cve."))
            .map(|c| format!("CVE-{}", c.trim_start_matches("CVE-").trim_start_matches("cve-")))
            .collect();
        if let Some(list) = ours.as_ref().and_then(|o| o.get("cves")).and_then(|v| v.as_array()) {
            cves.extend(list.iter().filter_map(|c| c.as_str()).map(str::to_string));
        }
        cves.sort();
        cves.dedup();
        let accounts = account_specs(ours.as_ref())?;
        Ok(RuleInfo {
            key: key(rule.id.as_deref(), &rule.title),
            id: rule.id.clone(),
            title: rule.title.clone(),
            description: rule.description.clone().unwrap_or_default(),
            severity,
            stage,
            effect,
            cves,
            references: rule.references.clone(),
            tags: rule.tags.clone(),
            logsource: rule.logsource.clone(),
            origin: origin.to_string(),
            accounts,
        })
    }
}

/// User rules carry no verdict: a critical rule is read as evidence of success, high and medium
/// as an attempt (to be reviewed), low and informational as context.
fn effect_from_level(severity: Severity) -> Effect {
    match severity {
        Severity::Critical => Effect::Compromised,
        Severity::High | Severity::Medium => Effect::Attempted,
        Severity::Low | Severity::Info => Effect::None,
    }
}

/// The stage from ATT&CK tags: web shell technique first, then the tactic.
fn stage_from_tags(tags: &[String]) -> Stage {
    let has = |t: &str| tags.iter().any(|x| x.eq_ignore_ascii_case(t));
    if has("attack.t1505.003") {
        return Stage::Webshell;
    }
    for (tag, stage) in [
        ("attack.credential-access", Stage::CredentialAccess),
        ("attack.collection", Stage::Collection),
        ("attack.exfiltration", Stage::Collection),
        ("attack.persistence", Stage::Persistence),
        ("attack.initial-access", Stage::Exploit),
        ("attack.privilege-escalation", Stage::Exploit),
        ("attack.execution", Stage::Execution),
        ("attack.lateral-movement", Stage::Execution),
        ("attack.discovery", Stage::Recon),
        ("attack.reconnaissance", Stage::Recon),
        ("attack.defense-evasion", Stage::Cleanup),
    ] {
        if has(tag) {
            return stage;
        }
    }
    Stage::Execution
}
