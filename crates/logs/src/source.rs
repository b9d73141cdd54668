//! The kinds of log the hunt reads, shared by the evidence classifier, the rules and the report.

use std::fmt;
use std::str::FromStr;

/// A log source: what produced a file, which fixes how it is parsed and which rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogSource {
    /// Front-end proxy logs, `Logging\HttpProxy\<Protocol>\*.LOG` (CSV with `#Fields`).
    HttpProxy,
    /// ECP server and activity logs, `Logging\ECP\Server\*.LOG` (CSV with `#Fields`).
    Ecp,
    /// OAB generator logs, `Logging\OABGeneratorLog\*` (lines; format not documented).
    OabGenerator,
    /// IIS W3C logs, `inetpub\logs\LogFiles\W3SVC*\u_ex*.log`.
    Iis,
    /// Remote and local PowerShell cmdlet logs under `Logging\CmdletInfra` (CSV with `#Fields`).
    CmdletLog,
    /// Windows event logs: `.evtx` files and JSON-lines exports of them (read by `events`, judged
    /// by Sigma rules, not by the line rules).
    EventLog,
}

impl LogSource {
    pub const ALL: [LogSource; 6] = [
        LogSource::HttpProxy,
        LogSource::Ecp,
        LogSource::OabGenerator,
        LogSource::Iis,
        LogSource::CmdletLog,
        LogSource::EventLog,
    ];

    /// The name used in rule files and in the report's `coverage[].source`.
    pub fn name(self) -> &'static str {
        match self {
            LogSource::HttpProxy => "HttpProxy",
            LogSource::Ecp => "ECP",
            LogSource::OabGenerator => "OABGenerator",
            LogSource::Iis => "IIS",
            LogSource::CmdletLog => "CmdletLog",
            LogSource::EventLog => "EventLog",
        }
    }
}

impl fmt::Display for LogSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LogSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LogSource::ALL.into_iter().find(|src| src.name().eq_ignore_ascii_case(s)).ok_or_else(|| {
            format!("unknown log source {s:?} (expected HttpProxy, ECP, OABGenerator, IIS, CmdletLog or EventLog)")
        })
    }
}
