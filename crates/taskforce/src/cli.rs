//! Command-line interface definition.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Incident response for mass exploitation of on-premises Microsoft Exchange
/// (ProxyLogon, ProxyShell, ProxyNotShell).
#[derive(Debug, Parser)]
#[command(name = "taskforce", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Judge one server per EVIDENCE (a directory or .zip of its collected files): verdict,
    /// evidence, timeline and patch status. Exit code 0 = clean or inconclusive, 1 = compromised
    /// or attempted, 2 = the run failed.
    Hunt(HuntArgs),
    /// Find exposed and unpatched Exchange servers without touching a flaw: one JSON line (or CSV
    /// row) per target. Exit code 0 = the run completed, 2 = bad arguments, 130 = interrupted.
    Probe(crate::probe_cmd::ProbeArgs),
    /// Run the task force's tracking service (API over HTTP; SQLite by default, PostgreSQL with
    /// --database postgres://…). Stops cleanly on Ctrl-C or SIGTERM.
    Serve(crate::service_cmd::ServeArgs),
    /// Load files into the tracking service's database: scan feeds, probe results, hunt
    /// reports, ASN mappings, organisations. Exit code 0 = every file taken, 2 = a file was refused.
    Ingest(crate::service_cmd::IngestArgs),
    /// Create, list or revoke the service's API tokens.
    Token(crate::service_cmd::TokenArgs),
    /// Notify the owners: plan what is due (changes nothing), send it through the outbox over
    /// SMTP, read bounces back.
    Notify(crate::notify_cmd::NotifyArgs),
    /// Create, list or disable the web dashboard's users (the password is read from stdin).
    User(crate::service_cmd::UserArgs),
    /// List, test or inspect the hunt rules.
    Rules(RulesArgs),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write synthetic sample evidence (for demos, tests and benchmarks).
    #[command(hide = true)]
    Sample(SampleArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Jsonl,
    Csv,
    /// One self-contained page (fleet summary, timeline, evidence); no external resources.
    Html,
    /// STIX 2.1 bundle of the indicators (addresses, web shells, hashes).
    Stix,
    /// MISP event JSON with the same indicators.
    Misp,
    /// Timesketch JSONL (one line per finding and timeline event).
    Timesketch,
    /// One CSV row per account the attacker touched (for a password-reset script).
    AccountsCsv,
}

#[derive(Debug, Args)]
pub struct HuntArgs {
    /// Directories or .zip files, one per server.
    #[arg(required = true, value_name = "EVIDENCE")]
    pub evidence: Vec<PathBuf>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value = "table")]
    pub format: Format,
    /// After the hunt, send the JSON report to the task force's tracking service: its
    /// organisation endpoint (`https://…/api/v1/organisations/ID/hunt-reports`, the link in the
    /// notification). The report is still written locally; a failed upload exits 2 and keeps it.
    #[arg(long, value_name = "URL", requires = "token")]
    pub upload: Option<String>,
    /// The token for --upload (the reporter token from the notification; or TASKFORCE_TOKEN).
    #[arg(long, value_name = "TOKEN", env = "TASKFORCE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The server's public address, for --upload when the service does not know its name.
    #[arg(long, value_name = "IP")]
    pub upload_ip: Option<String>,
    /// Write the report to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub rules: RuleSource,
    /// Parse every line instead of only lines holding a rule literal (slower). Literals hidden by
    /// percent escapes (`%61` for `a`) are found without it.
    #[arg(long)]
    pub thorough: bool,
    /// No progress bar or messages on standard error.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Print throughput figures (MB/s, events/s) on standard error, even when it is not a terminal.
    #[arg(long)]
    pub stats: bool,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Colour the table: auto (when standard output is a terminal), always or never.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,
    /// Go on when a --rules/--sigma/--yara/--iocs path is missing or some of its rules fail to
    /// load (the report's `rule_sets` still says what loaded). Without it such a run stops with
    /// exit code 2.
    #[arg(long)]
    pub allow_rule_errors: bool,
    /// Findings kept per rule and host; further hits are counted in one summary finding with
    /// their first and last time (bounds memory on logs flooded by scanners).
    #[arg(long, value_name = "N", default_value_t = taskforce_hunt::DEFAULT_MAX_FINDINGS_PER_RULE as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_findings_per_rule: u64,
    /// Only findings at or after this time (RFC 3339 or YYYY-MM-DD, UTC), in every source.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only findings at or before this time (RFC 3339 or YYYY-MM-DD, UTC).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Addresses or networks (one per line, `#` comments) whose requests are context, not
    /// attacks: the organisation's own scanners and monitoring. Their findings stay in the report,
    /// marked `allowlisted`, and never decide a verdict.
    #[arg(long, value_name = "FILE")]
    pub allowlist: Option<std::path::PathBuf>,
    /// Leave findings below this severity out of the output (the verdict still weighs them all).
    #[arg(long, value_name = "LEVEL", value_parser = ["info", "low", "medium", "high", "critical"])]
    pub severity_min: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args, Clone)]
pub struct RuleSource {
    /// Also load hunt rules from DIR (*.yml, recursively); a rule with a built-in rule's id replaces it.
    #[arg(long = "rules", value_name = "DIR", global = true)]
    pub dirs: Vec<PathBuf>,
    /// Do not load the rules built into the binary (line rules and Sigma rules).
    #[arg(long, global = true)]
    pub no_builtin_rules: bool,
    /// Also load Sigma rules from DIR (e.g. a SigmaHQ checkout, as is): they run over event logs
    /// (.evtx, JSON-lines exports) by log source, and `webserver` rules over IIS logs.
    #[arg(long = "sigma", value_name = "DIR", global = true)]
    pub sigma_dirs: Vec<PathBuf>,
    /// Also load YARA rules from DIR (*.yar, recursively; e.g. signature-base's yara/ folder, as
    /// is) for the files in the web folders and staging places.
    #[arg(long = "yara", value_name = "DIR", global = true)]
    pub yara_dirs: Vec<PathBuf>,
    /// Also load IOC lists from DIR: `hash;comment` and `regex;score` files (signature-base's
    /// format), Microsoft's MSTIC CSV feed, and name rules (*.yml).
    #[arg(long = "iocs", value_name = "DIR", global = true)]
    pub ioc_dirs: Vec<PathBuf>,
    /// Largest file whose content is scanned by YARA, in MiB (bigger files get name and hash checks).
    #[arg(long, value_name = "MIB", default_value_t = 20, global = true)]
    pub max_file_size: u64,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    pub action: RulesAction,
    #[command(flatten)]
    pub rules: RuleSource,
}

#[derive(Debug, Subcommand)]
pub enum RulesAction {
    /// List the loaded rules (id, source, severity, stage, verdict, title).
    List {
        /// JSON instead of a table (same as --format json).
        #[arg(long)]
        json: bool,
        /// table (default) or json.
        #[arg(long, value_enum)]
        format: Option<ListFormat>,
    },
    /// Run every rule's own examples (tests.match / tests.nomatch) and check its prefilter.
    Test,
    /// Load the Sigma rules (built-in and --sigma DIR) and report what loaded and what was skipped, with reasons.
    Sigma {
        /// List every skipped rule with its reason.
        #[arg(long)]
        skipped: bool,
    },
    /// Load the file sweep's YARA rules and IOC lists (built-in, --yara, --iocs) and report what
    /// compiled and what was skipped, with reasons.
    Files {
        /// List every skipped rule or line with its reason.
        #[arg(long)]
        skipped: bool,
    },
    /// Print the prefilter literals, one per line (e.g. for `rg -F -i -f`).
    Literals {
        /// Only this log source (HttpProxy, ECP, OABGenerator, IIS, CmdletLog).
        #[arg(long)]
        source: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    Compromised,
    Attempted,
    Clean,
    Inconclusive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Layout {
    Exchange,
    Kape,
    Velociraptor,
    Loose,
}

#[derive(Debug, Args)]
pub struct SampleArgs {
    /// Output directory (or .zip file with --zip). With --bulk, a directory of large logs.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value = "compromised")]
    pub scenario: Scenario,
    #[arg(long, value_enum, default_value = "exchange")]
    pub layout: Layout,
    /// Host name written into the logs.
    #[arg(long, default_value = "EXCH01")]
    pub host: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Benign lines per log file.
    #[arg(long, default_value_t = 200)]
    pub lines: usize,
    /// Days of logs.
    #[arg(long, default_value_t = 3)]
    pub days: u32,
    /// Write a .zip instead of a directory.
    #[arg(long)]
    pub zip: bool,
    /// Benchmark corpus: at least this many MB of HttpProxy and IIS logs with a few attack lines.
    #[arg(long, value_name = "MB")]
    pub bulk: Option<u64>,
    /// With --bulk: one line in ten is an internet scanner's probe (lines the rules match).
    #[arg(long, requires = "bulk")]
    pub dense: bool,
}
