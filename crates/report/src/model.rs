//! The `taskforce.hunt.v1` report: the contract that other tools and the tracking service read.
//! Field names and enum spellings here are the schema in `design.md`; change them only with a new
//! schema version.

use serde::{Deserialize, Serialize};

pub const SCHEMA: &str = "taskforce.hunt.v1";

/// How bad a finding is, from the scale in `detections.md` section A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

/// Where in an attack a finding sits; the timeline is told in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Scan,
    Recon,
    Exploit,
    Persistence,
    Webshell,
    Execution,
    CredentialAccess,
    Collection,
    Cleanup,
}

/// The verdict for one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Clean,
    Inconclusive,
    Attempted,
    Compromised,
}

/// What a rule's hit does to the verdict of its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Context only (scanner probes, legitimate-looking changes): never changes a verdict.
    None,
    /// Something a person has to look at (an unknown page where pages do not belong, a suspicious
    /// but unproven file): keeps the host from `clean`, and the verdict's reason says "needs review".
    Review,
    /// An exploitation attempt without evidence of success.
    Attempted,
    /// Evidence that an attack succeeded.
    Compromised,
}

macro_rules! display_via_serde {
    ($($t:ty),*) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let v = serde_json::to_value(self).map_err(|_| std::fmt::Error)?;
                f.pad(v.as_str().unwrap_or_default())
            }
        }
        impl std::str::FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                serde_json::from_value(serde_json::Value::String(s.to_ascii_lowercase()))
                    .map_err(|_| format!("invalid {}: {s:?}", stringify!($t).to_ascii_lowercase()))
            }
        }
    )*};
}
display_via_serde!(Severity, Stage, Verdict, Effect, AccountAction);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub tool: Tool,
    /// When the report was made (RFC 3339, UTC). Not the time of the evidence: see
    /// [`Host::evidence_window`].
    #[serde(default)]
    pub generated_at: Option<String>,
    /// The rule sets this run used, so a report alone tells how complete the hunt was.
    #[serde(default)]
    pub rule_sets: Vec<RuleSetUsed>,
    pub hosts: Vec<Host>,
    pub skipped: Vec<Skipped>,
}

/// One rule set a run loaded: built-in content or a folder the user named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSetUsed {
    /// `hunt` (line rules), `sigma`, `yara`, `iocs` (user IOC lists) or `names` (built-in name
    /// and hash lists).
    pub kind: String,
    /// `builtin`, or the path as given.
    pub path: String,
    /// Rules (or IOC entries) that loaded.
    pub loaded: u64,
    /// Rules, files or lines that did not load.
    pub skipped: u64,
    /// SHA-256 over the rule files read, in path order (each file's relative path, a NUL, its
    /// length and its bytes), so two reports can tell whether they used the same content.
    pub sha256: String,
}

/// The oldest and newest time of the log rows and events a host's hunt actually read (never the
/// file times of the collected copies): how far the evidence reaches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceWindow {
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Host {
    pub name: String,
    pub evidence: String,
    pub verdict: Verdict,
    pub reason: String,
    pub exchange_build: Option<String>,
    pub patch: Vec<Patch>,
    pub coverage: Vec<Coverage>,
    /// From the rows and events read; `null`s when none had a readable time.
    #[serde(default)]
    pub evidence_window: EvidenceWindow,
    /// Files of this host that look like logs or events but could not be read (listed in the
    /// report's `skipped` with the reason).
    #[serde(default)]
    pub unreadable_files: u64,
    pub findings: Vec<Finding>,
    /// Whose mailboxes and credentials the attacker touched, one entry per account (additive
    /// to v1: absent in older reports).
    #[serde(default)]
    pub accounts: Vec<Account>,
}

/// What an attacker did to or with an account, from a fixed vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountAction {
    MailboxExported,
    MailboxAccessed,
    MailboxSearched,
    ForwardingSet,
    InboxRuleSet,
    RoleGranted,
    Created,
    AddedToGroup,
    PasswordReset,
    UsedByAttacker,
    CredentialsExposed,
}

impl AccountAction {
    pub const ALL: [AccountAction; 11] = [
        AccountAction::MailboxExported,
        AccountAction::MailboxAccessed,
        AccountAction::MailboxSearched,
        AccountAction::ForwardingSet,
        AccountAction::InboxRuleSet,
        AccountAction::RoleGranted,
        AccountAction::Created,
        AccountAction::AddedToGroup,
        AccountAction::PasswordReset,
        AccountAction::UsedByAttacker,
        AccountAction::CredentialsExposed,
    ];

    /// How much it matters for the owner: accounts are listed worst first.
    pub fn weight(self) -> u8 {
        match self {
            AccountAction::CredentialsExposed | AccountAction::UsedByAttacker => 9,
            AccountAction::Created | AccountAction::RoleGranted | AccountAction::AddedToGroup => 8,
            AccountAction::MailboxExported | AccountAction::ForwardingSet | AccountAction::PasswordReset => 7,
            AccountAction::InboxRuleSet | AccountAction::MailboxSearched => 6,
            AccountAction::MailboxAccessed => 5,
        }
    }

    /// True when the account's password (and sessions) must be reset.
    pub fn needs_reset(self) -> bool {
        matches!(
            self,
            AccountAction::CredentialsExposed
                | AccountAction::UsedByAttacker
                | AccountAction::Created
                | AccountAction::RoleGranted
                | AccountAction::AddedToGroup
                | AccountAction::PasswordReset
        )
    }

    /// True when the mailbox's owner must be told their mail was read or copied.
    pub fn mailbox_exposed(self) -> bool {
        matches!(
            self,
            AccountAction::MailboxExported
                | AccountAction::MailboxAccessed
                | AccountAction::MailboxSearched
                | AccountAction::ForwardingSet
                | AccountAction::InboxRuleSet
        )
    }
}

/// The account name meaning "every account with a session on this server" (an LSASS dump or a
/// credential-theft tool was found: no single name can be given).
pub const ALL_SESSIONS: &str = "*";

/// One account the attacker touched.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    /// As written in the evidence: UPN, e-mail address, `DOMAIN\user`, SID, or `*` for every
    /// account with a session on the server.
    pub account: String,
    /// `upn | email | domain_user | sid | name | all_sessions`.
    pub kind: String,
    pub actions: Vec<AccountAction>,
    pub first: Option<String>,
    pub last: Option<String>,
    /// The findings behind it (rule, file, line).
    pub findings: Vec<AccountEvidence>,
    /// A sentence for people (what was done, what to do).
    pub note: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountEvidence {
    pub rule: String,
    pub action: AccountAction,
    pub source: String,
    pub line: Option<u64>,
    pub time: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Patch {
    pub family: String,
    pub cves: Vec<String>,
    pub status: String,
    pub fixed_in: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Coverage {
    pub source: String,
    pub files: u64,
    pub first: Option<String>,
    pub last: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    pub rule: String,
    pub title: String,
    pub severity: Severity,
    pub stage: Stage,
    pub cves: Vec<String>,
    pub time: Option<String>,
    pub source: String,
    pub line: Option<u64>,
    pub excerpt: String,
    pub detail: serde_json::Map<String, serde_json::Value>,
}

impl Finding {
    /// The client address of the request behind the finding: IIS's `c-ip` or HttpProxy's
    /// `ClientIpAddress` (empty and `-` mean none).
    pub fn client_address(&self) -> Option<&str> {
        ["c-ip", "ClientIpAddress"]
            .iter()
            .find_map(|k| self.detail.get(*k).and_then(serde_json::Value::as_str))
            .filter(|a| !a.is_empty() && *a != "-")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

impl Report {
    /// A report made now, by this build.
    pub fn new(hosts: Vec<Host>, skipped: Vec<Skipped>) -> Report {
        Report {
            schema: SCHEMA.to_string(),
            tool: Tool { name: "taskforce".into(), version: env!("CARGO_PKG_VERSION").into() },
            generated_at: Some(
                jiff::Timestamp::now().round(jiff::Unit::Second).unwrap_or(jiff::Timestamp::now()).to_string(),
            ),
            rule_sets: Vec::new(),
            hosts,
            skipped,
        }
    }

    /// ClamAV's convention: 1 when any host is compromised or attempted, else 0.
    pub fn exit_code(&self) -> i32 {
        let hit = self.hosts.iter().any(|h| matches!(h.verdict, Verdict::Compromised | Verdict::Attempted));
        i32::from(hit)
    }
}
