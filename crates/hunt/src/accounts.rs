//! Whose mailboxes and credentials the attacker touched: the `account:<action>` values that rules
//! extract into their findings (see `docs/rule-format.md`), gathered into one entry per account
//! with what was done, when, and the findings behind it. No rule-specific code: which field names
//! an account, and what the rule's hit did to it, is data in the rules.

use std::collections::BTreeMap;

use serde_json::Value;
use taskforce_report::{ALL_SESSIONS, Account, AccountAction, AccountEvidence};

use crate::Judged;

/// The detail key prefix rules extract accounts under: `account:mailbox_exported`.
pub const PREFIX: &str = "account:";

/// Cleans a value as written: quotes and trailing punctuation from command lines go, the
/// spelling stays.
fn clean(raw: &str) -> Option<String> {
    let v = raw.trim().trim_matches(|c| c == '"' || c == '\'' || c == ',' || c == ';').trim();
    let v = v.strip_prefix("SMTP:").or_else(|| v.strip_prefix("smtp:")).unwrap_or(v);
    // The system's own principals run the services; they are not accounts to reset or tell.
    let lower = v.to_ascii_lowercase();
    if lower.starts_with("nt authority\\") || lower == "system" || lower.starts_with("s-1-5-18") {
        return None;
    }
    (!v.is_empty() && v != "-" && v.len() <= 256).then(|| v.to_string())
}

/// What kind of name it is.
pub fn kind(account: &str) -> &'static str {
    if account == ALL_SESSIONS {
        "all_sessions"
    } else if account.len() > 4 && account[..4].eq_ignore_ascii_case("S-1-") {
        "sid"
    } else if account.contains('\\') {
        "domain_user"
    } else if account.contains('@') {
        "address"
    } else if account.contains('/') {
        "canonical_name"
    } else {
        "name"
    }
}

fn note(actions: &[AccountAction], account: &str) -> String {
    let mut done: Vec<&str> = actions
        .iter()
        .map(|a| match a {
            AccountAction::MailboxExported => "its mailbox was exported",
            AccountAction::MailboxAccessed => "its mailbox was accessed",
            AccountAction::MailboxSearched => "its mailbox was searched",
            AccountAction::ForwardingSet => "its mail was forwarded",
            AccountAction::InboxRuleSet => "an inbox rule was set on it",
            AccountAction::RoleGranted => "it was granted a management role",
            AccountAction::Created => "it was created",
            AccountAction::AddedToGroup => "it was added to a group",
            AccountAction::PasswordReset => "its password was reset",
            AccountAction::UsedByAttacker => "the attacker acted as it",
            AccountAction::CredentialsExposed => "its credentials were exposed",
        })
        .collect();
    done.dedup();
    let mut todo = Vec::new();
    if account == ALL_SESSIONS {
        return "Credentials of every account with a session on this server were exposed (memory dump or \
                credential-theft tool): reset them all, including service and machine accounts, and \
                revoke their sessions."
            .into();
    }
    if actions.iter().any(|a| a.needs_reset()) {
        todo.push("reset its password and revoke its sessions");
    }
    if actions.contains(&AccountAction::Created) {
        todo.push("disable or remove it if nobody asked for it");
    }
    if actions.iter().any(|a| matches!(a, AccountAction::RoleGranted | AccountAction::AddedToGroup)) {
        todo.push("remove the role or group membership");
    }
    if actions.iter().any(|a| matches!(a, AccountAction::ForwardingSet | AccountAction::InboxRuleSet)) {
        todo.push("remove the forwarding and inbox rules");
    }
    if actions.iter().any(|a| a.mailbox_exposed()) {
        todo.push("tell the mailbox's owner that their mail was exposed");
    }
    let mut s = done.join("; ");
    if let Some(first) = s.get(..1) {
        s = first.to_uppercase() + &s[1..];
    }
    if !todo.is_empty() {
        s.push_str(". Next: ");
        s.push_str(&todo.join("; "));
    }
    s.push('.');
    s
}

/// One entry per account (names compared case-insensitively), worst first.
pub fn collect(judged: &[Judged]) -> Vec<Account> {
    let mut by_name: BTreeMap<String, Account> = BTreeMap::new();
    for j in judged {
        let f = &j.finding;
        for (key, value) in &f.detail {
            // `account:<action>` or `account:<action>/<label>` (several extractions of one action).
            let Some(action) = key.strip_prefix(PREFIX).map(|a| a.split('/').next().unwrap_or(a)) else { continue };
            let Ok(action) = action.parse::<AccountAction>() else { continue };
            let values: Vec<&str> = match value {
                Value::String(s) => vec![s.as_str()],
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                _ => continue,
            };
            for raw in values {
                let Some(name) = clean(raw) else { continue };
                // The server's own computer account acting (SYSTEM) is not a user the attacker
                // chose; a created or group-added `name$` is (hidden accounts end with `$`).
                if action == AccountAction::UsedByAttacker && name.ends_with('$') {
                    continue;
                }
                let entry = by_name.entry(name.to_ascii_lowercase()).or_insert_with(|| Account {
                    kind: kind(&name).to_string(),
                    account: name.clone(),
                    actions: Vec::new(),
                    first: None,
                    last: None,
                    findings: Vec::new(),
                    note: String::new(),
                });
                if !entry.actions.contains(&action) {
                    entry.actions.push(action);
                }
                if let Some(t) = &f.time {
                    if entry.first.as_ref().is_none_or(|x| t < x) {
                        entry.first = Some(t.clone());
                    }
                    if entry.last.as_ref().is_none_or(|x| t > x) {
                        entry.last = Some(t.clone());
                    }
                }
                if entry.findings.len() < 50 {
                    entry.findings.push(AccountEvidence {
                        rule: f.rule.clone(),
                        action,
                        source: f.source.clone(),
                        line: f.line,
                        time: f.time.clone(),
                    });
                }
            }
        }
    }
    let mut accounts: Vec<Account> = by_name
        .into_values()
        .map(|mut a| {
            a.actions.sort_by_key(|x| std::cmp::Reverse(x.weight()));
            a.note = note(&a.actions, &a.account);
            a
        })
        .collect();
    accounts.sort_by(|a, b| {
        let w = |x: &Account| x.actions.iter().map(|a| a.weight()).max().unwrap_or(0);
        (w(b), b.actions.len(), &a.account).cmp(&(w(a), a.actions.len(), &b.account))
    });
    accounts
}
