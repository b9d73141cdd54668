//! Configuration: defaults, then a TOML file (`--config`), then `TASKFORCE_*` environment
//! variables, then command-line flags (applied by the binary). The server binds to 127.0.0.1
//! unless told otherwise.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `sqlite://PATH` (created when missing) or `postgres://USER:PASS@HOST/DB`.
    pub database: String,
    /// Address the API listens on.
    pub listen: SocketAddr,
    /// Largest file an upload may carry (bytes); larger ones get 413 and nothing is written.
    pub max_upload_bytes: u64,
    /// Largest JSON request body (bytes).
    pub max_json_bytes: usize,
    /// `text` or `json` (one JSON object per log line).
    pub log_format: String,
    /// Where uploads are spooled while they are checked and ingested (default: the system's temp dir).
    pub upload_dir: Option<PathBuf>,
    /// Seconds a request may take before the server answers 408.
    pub request_timeout_secs: u64,
    /// Web dashboard: mark session cookies `Secure` (set it when TLS is terminated in front;
    /// a request with `X-Forwarded-Proto: https` gets them too).
    pub secure_cookies: bool,
    /// Web dashboard: hours a login session lasts.
    pub session_hours: u64,
    /// Notification settings (the `[notify]` table: SMTP URL, sender, limits, `schedule_secs`
    /// for sending on a schedule, …). The service keeps it as written; `taskforce serve` hands it
    /// to the notification crate, which checks its keys.
    pub notify: Option<toml::Table>,
    /// Days the line-by-line provenance of feed files is kept (which line of which file went to
    /// which observation); the files' hashes and counts, and each observation's first and last
    /// file and line, are kept forever. 0 keeps only the current ingest's lines.
    pub line_detail_days: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database: "sqlite://taskforce.db".into(),
            listen: "127.0.0.1:8080".parse().expect("valid"),
            max_upload_bytes: 512 * 1024 * 1024,
            max_json_bytes: 1024 * 1024,
            log_format: "text".into(),
            upload_dir: None,
            request_timeout_secs: 600,
            secure_cookies: false,
            session_hours: 12,
            notify: None,
            line_detail_days: crate::provenance::DEFAULT_LINE_DETAIL_DAYS,
        }
    }
}

impl Config {
    /// Defaults ← file ← environment.
    pub fn load(file: Option<&Path>) -> Result<Config> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("bad configuration in {}", path.display()))?
            }
            None => Config::default(),
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        config.check()?;
        Ok(config)
    }

    /// Applies `TASKFORCE_DATABASE`, `TASKFORCE_LISTEN`, `TASKFORCE_MAX_UPLOAD_BYTES`,
    /// `TASKFORCE_LOG_FORMAT`, `TASKFORCE_UPLOAD_DIR`, `TASKFORCE_LINE_DETAIL_DAYS`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<()> {
        if let Some(v) = get("TASKFORCE_DATABASE") {
            self.database = v;
        }
        if let Some(v) = get("TASKFORCE_LISTEN") {
            self.listen = v.parse().with_context(|| format!("TASKFORCE_LISTEN={v:?} is not ADDR:PORT"))?;
        }
        if let Some(v) = get("TASKFORCE_MAX_UPLOAD_BYTES") {
            self.max_upload_bytes =
                v.parse().with_context(|| format!("TASKFORCE_MAX_UPLOAD_BYTES={v:?} is not a number"))?;
        }
        if let Some(v) = get("TASKFORCE_LOG_FORMAT") {
            self.log_format = v;
        }
        if let Some(v) = get("TASKFORCE_UPLOAD_DIR") {
            self.upload_dir = Some(v.into());
        }
        if let Some(v) = get("TASKFORCE_LINE_DETAIL_DAYS") {
            self.line_detail_days =
                v.parse().with_context(|| format!("TASKFORCE_LINE_DETAIL_DAYS={v:?} is not a number of days"))?;
        }
        Ok(())
    }

    pub fn check(&self) -> Result<()> {
        crate::db::Dialect::of(&self.database)?;
        if !matches!(self.log_format.as_str(), "text" | "json") {
            bail!("log_format must be \"text\" or \"json\", not {:?}", self.log_format);
        }
        if self.max_upload_bytes == 0 {
            bail!("max_upload_bytes must be above 0");
        }
        Ok(())
    }
}

/// Sets up structured logging (`RUST_LOG` filters; default `info`).
pub fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if format == "json" { builder.json().try_init() } else { builder.try_init() };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_bind_loopback_and_env_overrides() {
        let mut c = Config::default();
        assert!(c.listen.ip().is_loopback());
        c.apply_env(|k| match k {
            "TASKFORCE_DATABASE" => Some("postgres://tf@127.0.0.1/tf".into()),
            "TASKFORCE_LISTEN" => Some("127.0.0.1:9999".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.listen.port(), 9999);
        assert!(c.database.starts_with("postgres"));
        assert!(c.apply_env(|k| (k == "TASKFORCE_LISTEN").then(|| "nope".into())).is_err());
        assert_eq!(c.line_detail_days, crate::provenance::DEFAULT_LINE_DETAIL_DAYS);
        c.apply_env(|k| (k == "TASKFORCE_LINE_DETAIL_DAYS").then(|| "7".into())).unwrap();
        assert_eq!(c.line_detail_days, 7);
        assert!(c.apply_env(|k| (k == "TASKFORCE_LINE_DETAIL_DAYS").then(|| "a week".into())).is_err());
    }

    #[test]
    fn file_values_and_unknown_keys() {
        let c: Config = toml::from_str("database = \"sqlite://x.db\"\nmax_upload_bytes = 10\n").unwrap();
        assert_eq!(c.max_upload_bytes, 10);
        assert_eq!(c.listen.port(), 8080);
        assert!(toml::from_str::<Config>("databse = \"x\"").is_err());
    }

    #[test]
    fn the_notify_table_is_kept_for_the_notification_crate() {
        let c: Config = toml::from_str(
            "database = \"sqlite://x.db\"\n[notify]\nschedule_secs = 60\nsmtp = \"smtp://127.0.0.1:2525\"\n",
        )
        .unwrap();
        let n = c.notify.expect("the [notify] table");
        assert_eq!(n["schedule_secs"].as_integer(), Some(60));
        assert_eq!(n["smtp"].as_str(), Some("smtp://127.0.0.1:2525"));
        assert!(Config::default().notify.is_none());
        // Other unknown tables are still refused.
        assert!(toml::from_str::<Config>("[notfy]\nx = 1\n").is_err());
    }
}
