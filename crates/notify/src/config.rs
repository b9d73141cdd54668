//! Notification settings: defaults, then a TOML file (`--notify-config FILE`) or the `[notify]`
//! table of the service's configuration, then flags.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// An address mailed instead of the organisation's own contacts for a country or an ASN (a
/// national CERT, an upstream provider). Marked as such in the plan, the outbox and the message.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Intermediary {
    pub name: String,
    pub email: String,
    /// ISO country code of the organisations it stands for.
    pub country: Option<String>,
    /// Or the ASN of their hosts.
    pub asn: Option<i64>,
    pub lang: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// Messages are grouped per recipient and campaign; intervals count per campaign.
    pub campaign: String,
    /// Nothing is sent again to a recipient inside this many seconds unless the situation got worse.
    pub interval_secs: i64,
    /// Also remind organisations whose hosts are patched but not yet verified clean.
    pub remind_patched: bool,
    pub intermediaries: Vec<Intermediary>,
    /// Where the self-service link points (`{base_url}/portal?token=…`).
    pub base_url: String,
    /// Days a notification's reporter token stays valid.
    pub token_days: i64,
    /// `smtp://HOST:PORT` (plain), `smtp://…?tls=required` (STARTTLS), `smtps://…` (TLS); user:pass@ for AUTH.
    pub smtp: String,
    pub from: String,
    /// Messages per second, all recipients together.
    pub rate_per_sec: f64,
    /// Messages per second to one recipient domain.
    pub domain_rate_per_sec: f64,
    /// SMTP connections sending at once (each reused for many messages); the rates above
    /// still hold across all of them.
    pub connections: usize,
    /// Tries before a temporary failure becomes `failed`.
    pub max_attempts: i64,
    /// First retry delay; doubles per attempt (capped at 6 h).
    pub retry_base_secs: i64,
    /// SMTP command timeout.
    pub timeout_secs: u64,
    /// Attach the IntelMQ events (JSON lines) besides the CSV.
    pub attach_intelmq: bool,
    /// Attach one X-ARF v4 report (JSON) per host besides the CSV.
    pub attach_xarf: bool,
    /// The task force's name as the X-ARF reporter and sender (their address is `from`).
    pub reporter_org: String,
    /// `taskforce serve` plans and sends every this many seconds; 0: never on its own.
    pub schedule_secs: u64,
    /// Templates overriding the shipped ones (same file names).
    pub templates: Option<PathBuf>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            campaign: "exchange".into(),
            interval_secs: 24 * 3600,
            remind_patched: false,
            intermediaries: Vec::new(),
            base_url: "http://127.0.0.1:8080".into(),
            token_days: 30,
            smtp: "smtp://127.0.0.1:25".into(),
            from: "taskforce@localhost.localdomain".into(),
            rate_per_sec: 20.0,
            domain_rate_per_sec: 5.0,
            connections: 4,
            max_attempts: 8,
            retry_base_secs: 300,
            timeout_secs: 30,
            attach_intelmq: false,
            attach_xarf: false,
            reporter_org: "Taskforce".into(),
            schedule_secs: 0,
            templates: None,
        }
    }
}

impl NotifyConfig {
    pub fn load(file: Option<&Path>) -> Result<NotifyConfig> {
        let cfg: NotifyConfig = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("bad notification settings in {}", p.display()))?
            }
            None => NotifyConfig::default(),
        };
        cfg.check()?;
        Ok(cfg)
    }

    /// The `[notify]` table of the service's configuration (`origin` names it in errors).
    pub fn from_table(table: toml::Table, origin: &str) -> Result<NotifyConfig> {
        let cfg: NotifyConfig = toml::Value::Table(table)
            .try_into()
            .with_context(|| format!("bad notification settings in the [notify] table of {origin}"))?;
        cfg.check().with_context(|| format!("the [notify] table of {origin}"))?;
        Ok(cfg)
    }

    pub fn check(&self) -> Result<()> {
        if self.interval_secs < 0 || self.token_days <= 0 || self.max_attempts <= 0 {
            bail!("interval_secs must be ≥ 0, token_days and max_attempts > 0");
        }
        if !(self.rate_per_sec > 0.0 && self.domain_rate_per_sec > 0.0) {
            bail!("rate_per_sec and domain_rate_per_sec must be > 0");
        }
        if !(1..=64).contains(&self.connections) {
            bail!("connections must be between 1 and 64");
        }
        if self.reporter_org.trim().is_empty() {
            bail!("reporter_org must not be empty");
        }
        for i in &self.intermediaries {
            if i.country.is_none() && i.asn.is_none() {
                bail!("intermediary {:?} needs a country or an asn", i.name);
            }
            if !i.email.contains('@') {
                bail!("intermediary {:?}: not an e-mail address: {:?}", i.name, i.email);
            }
        }
        Ok(())
    }
}
