//! `taskforce probe`: read the targets, probe them, stream one result per target, exit 0 / 2 /
//! 130.
//!
//! Wiring only; the work is in `taskforce_probe`. Exit codes: 0 when the run completed, whatever
//! it found (unreachable targets and non-Exchange servers are results, not failures); 2 for bad
//! arguments or an unreadable target file; 130 when interrupted by Ctrl-C, after the results so
//! far were written and flushed.

use std::fs::File;
use std::io::{self, BufReader, IsTerminal, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use taskforce_probe::{Format, Options, Record, RecordWriter, Summary, TargetList, default_user_agent, parse_ports};

/// Exit status after Ctrl-C (128 + SIGINT, the shell's convention).
const INTERRUPTED: u8 = 130;

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Host names, IP addresses, CIDR ranges (192.0.2.0/24), address ranges
    /// (192.0.2.10-192.0.2.20) or URLs (https://mail.example.org:8443/); IPv4 or IPv6, with
    /// :PORT or [v6]:PORT to override --ports.
    #[arg(value_name = "TARGETS")]
    pub targets: Vec<String>,
    /// Also read targets from FILE, one per line; `#` starts a comment. `-` reads standard input.
    #[arg(long, short = 'i', value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Ports for targets that name none, e.g. 443,8443 or 20000-20099. Port 80 is plain HTTP,
    /// every other port HTTPS (a URL's scheme decides for URLs).
    #[arg(long, short = 'p', value_name = "PORTS", default_value = "443")]
    pub ports: String,
    /// Targets probed at the same time.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub concurrency: u32,
    /// Requests per second over the whole run; 0 = unlimited.
    #[arg(long, value_name = "RPS", default_value_t = 100.0)]
    pub rate: f64,
    /// Seconds one attempt at one target may take (connect, TLS and every answer; waiting for
    /// the rate limit does not count).
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub timeout: f64,
    /// Further attempts after a timeout or reset that taught nothing.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub retries: u32,
    /// `jsonl`: one taskforce.probe.v1 JSON object per line; `csv`: one row per target.
    #[arg(long, short = 'f', value_enum, default_value = "jsonl")]
    pub format: ProbeFormat,
    /// Write the results to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Refuse certificates that do not verify (by default every certificate is accepted and
    /// recorded, with whether it verifies).
    #[arg(long)]
    pub verify_tls: bool,
    /// Use ADDR for NAME instead of resolving it (repeatable), e.g. mail.example.org=192.0.2.7.
    #[arg(long, value_name = "NAME=ADDR")]
    pub resolve: Vec<String>,
    /// The User-Agent header; the default names the tool and its purpose. Put your team's
    /// contact in it when probing others' networks.
    #[arg(long, value_name = "TEXT")]
    pub user_agent: Option<String>,
    /// No progress or summary on standard error (an interruption is still reported).
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProbeFormat {
    Jsonl,
    Csv,
}

pub fn run(args: ProbeArgs) -> Result<u8> {
    let targets = read_targets(&args)?;
    if !args.rate.is_finite() || args.rate < 0.0 {
        bail!("--rate must be a number of requests per second, 0 for unlimited");
    }
    if !args.timeout.is_finite() || args.timeout <= 0.0 || args.timeout > 86_400.0 {
        bail!("--timeout must be a number of seconds above 0");
    }
    let options = Options {
        rate: args.rate,
        timeout: Duration::from_secs_f64(args.timeout),
        retries: args.retries,
        verify_tls: args.verify_tls,
        user_agent: args.user_agent.clone().unwrap_or_else(default_user_agent),
        resolve: resolve_overrides(&args.resolve)?,
        ..Options::default()
    };
    let format = match args.format {
        ProbeFormat::Jsonl => Format::Jsonl,
        ProbeFormat::Csv => Format::Csv,
    };
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(File::create(path).with_context(|| format!("cannot write {}", path.display()))?),
        None => Box::new(io::stdout().lock()),
    };
    let mut writer = RecordWriter::new(out, format).context("cannot write the results")?;
    let mut progress = Progress::new(targets.len(), args.quiet);
    let summary = taskforce_probe::run_until_ctrl_c(&targets, options, args.concurrency as usize, |record| {
        writer.write(record)?;
        progress.update(record);
        Ok(())
    })
    .context("cannot write the results")?;
    writer.flush().context("cannot write the results")?;
    progress.finish();
    if summary.interrupted {
        eprintln!("{}", interrupted_line(&summary));
        return Ok(INTERRUPTED);
    }
    if !args.quiet {
        eprintln!("{}", summary_line(&summary));
    }
    Ok(0)
}

fn read_targets(args: &ProbeArgs) -> Result<TargetList> {
    let ports = parse_ports(&args.ports).map_err(|e| anyhow!("--ports: {e}"))?;
    let mut targets = TargetList::new(&ports);
    for spec in &args.targets {
        targets.add(spec)?;
    }
    if let Some(path) = &args.input {
        if path == Path::new("-") {
            targets.add_lines(io::stdin().lock(), "standard input")?;
        } else {
            let file = File::open(path).with_context(|| format!("cannot read the target file {}", path.display()))?;
            targets.add_lines(BufReader::new(file), &path.display().to_string())?;
        }
    }
    if targets.is_empty() {
        bail!("no targets: give TARGETS or --input FILE");
    }
    Ok(targets)
}

fn resolve_overrides(entries: &[String]) -> Result<std::collections::HashMap<String, IpAddr>> {
    entries
        .iter()
        .map(|entry| {
            let (name, addr) =
                entry.split_once('=').ok_or_else(|| anyhow!("--resolve {entry:?}: expected NAME=ADDR"))?;
            let addr = addr.trim().trim_start_matches('[').trim_end_matches(']');
            let ip: IpAddr = addr.parse().map_err(|_| anyhow!("--resolve {entry:?}: {addr:?} is not an IP address"))?;
            Ok((name.trim().to_ascii_lowercase(), ip))
        })
        .collect()
}

fn summary_line(s: &Summary) -> String {
    let secs = s.elapsed.as_secs_f64().max(1e-9);
    format!(
        "taskforce probe: {} target(s) in {:.1} s ({:.0}/s): {} reachable, {} Exchange ({} with a vulnerable family), {} with an error",
        s.done,
        secs,
        s.done as f64 / secs,
        s.reachable,
        s.exchange,
        s.vulnerable,
        s.errors
    )
}

fn interrupted_line(s: &Summary) -> String {
    format!(
        "taskforce probe: interrupted after {:.1} s: {} of {} target(s) done ({} Exchange, {} with a vulnerable family); their results were written",
        s.elapsed.as_secs_f64(),
        s.done,
        s.total,
        s.exchange,
        s.vulnerable
    )
}

/// Progress on standard error: a bar on a terminal, a line every 10 s otherwise (a log file),
/// nothing with `--quiet`.
struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    total: u64,
    done: u64,
    exchange: u64,
    vulnerable: u64,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    fn new(total: u64, quiet: bool) -> Progress {
        let bar = (!quiet && io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(4));
            bar.set_style(
                ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} targets {per_sec} ETA {eta} {msg}")
                    .expect("valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        let now = Instant::now();
        Progress { bar, quiet, total, done: 0, exchange: 0, vulnerable: 0, started: now, last_line: now }
    }

    fn update(&mut self, record: &Record) {
        self.done += 1;
        self.exchange += u64::from(record.exchange);
        self.vulnerable += u64::from(record.vulnerable());
        if let Some(bar) = &self.bar {
            bar.inc(1);
            if record.exchange {
                bar.set_message(format!("{} Exchange, {} vulnerable", self.exchange, self.vulnerable));
            }
        } else if !self.quiet && self.last_line.elapsed() >= Duration::from_secs(10) {
            self.last_line = Instant::now();
            let secs = self.started.elapsed().as_secs_f64().max(1e-9);
            eprintln!(
                "taskforce probe: {}/{} done ({:.0}/s), {} Exchange, {} vulnerable",
                self.done,
                self.total,
                self.done as f64 / secs,
                self.exchange,
                self.vulnerable
            );
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
