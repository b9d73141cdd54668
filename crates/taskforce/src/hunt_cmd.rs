//! `taskforce hunt`: open each evidence, hunt it, render the report, exit 0 / 1 / 2.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use taskforce_evidence::Evidence;
use taskforce_hunt::{Options, hunt_host, rule_sets, scope, worth_reading};
use taskforce_report::stream::Stream;
use taskforce_report::{OutputFormat, Report, render};

use crate::cli::{ColorChoice, Format, HuntArgs};

pub fn run(args: HuntArgs) -> Result<u8> {
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build_global().ok();
    }
    let rules = crate::rules_cmd::load(&args.rules, args.quiet);
    let sigma = crate::rules_cmd::load_sigma(&args.rules, args.quiet);
    let (files, sweep_problems) = crate::rules_cmd::load_sweep_with_problems(&args.rules, args.quiet);
    let sweep_loaded = files.loaded_by_origin();
    let inventory = rule_sets::inventory(
        &rule_sets::Requested {
            builtin: !args.rules.no_builtin_rules,
            hunt_dirs: args.rules.dirs.clone(),
            sigma_dirs: args.rules.sigma_dirs.clone(),
            yara_dirs: args.rules.yara_dirs.clone(),
            ioc_dirs: args.rules.ioc_dirs.clone(),
        },
        &rule_sets::Loaded {
            rules: &rules,
            sigma: &sigma,
            sweep_loaded: &sweep_loaded,
            sweep_problems: &sweep_problems,
        },
    );
    if !inventory.errors.is_empty() {
        let shown: Vec<&str> = inventory.errors.iter().take(10).map(String::as_str).collect();
        let more = inventory.errors.len().saturating_sub(shown.len());
        let list = format!(
            "{}{}",
            shown.join("\n  "),
            if more > 0 { format!("\n  … and {more} more") } else { String::new() }
        );
        if !args.allow_rule_errors {
            anyhow::bail!(
                "{} rule path(s) or rule(s) could not be loaded, so this hunt would not be the one asked for:\n  {list}\n(fix them, or pass --allow-rule-errors to go on without them; the report then lists what loaded)",
                inventory.errors.len()
            );
        }
        if !args.quiet {
            eprintln!(
                "taskforce: warning: going on without {} rule path(s) or rule(s) that did not load (--allow-rule-errors):\n  {list}",
                inventory.errors.len()
            );
        }
    }
    if rules.is_empty() {
        anyhow::bail!("no hunt rules loaded (check --rules and --no-builtin-rules)");
    }
    let time = |s: &Option<String>, flag: &str| -> Result<Option<jiff::Timestamp>> {
        s.as_deref().map(|t| scope::parse_time(t).map_err(|e| anyhow::anyhow!("{flag}: {e}"))).transpose()
    };
    let (since, until) = (time(&args.since, "--since")?, time(&args.until, "--until")?);
    let allowlist = args
        .allowlist
        .as_deref()
        .map(scope::Allowlist::load)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--allowlist {e}"))?;
    let severity_min: Option<taskforce_report::Severity> =
        args.severity_min.as_deref().map(|s| s.parse().map_err(|e: String| anyhow::anyhow!(e))).transpose()?;
    // An unreadable evidence root fails the whole run (exit 2) before any work is done.
    let evidence: Vec<Evidence> = args
        .evidence
        .iter()
        .map(|p| Evidence::open(p).with_context(|| "cannot open evidence".to_string()))
        .collect::<Result<_>>()?;

    let total: u64 = evidence.iter().flat_map(|e| e.items.iter()).filter(|i| worth_reading(i)).map(|i| i.size).sum();
    let format = match args.format {
        Format::Table => OutputFormat::Table,
        Format::Json => OutputFormat::Json,
        Format::Jsonl => OutputFormat::Jsonl,
        Format::Csv => OutputFormat::Csv,
        Format::Html => OutputFormat::Html,
        Format::Stix => OutputFormat::Stix,
        Format::Misp => OutputFormat::Misp,
        Format::Timesketch => OutputFormat::Timesketch,
        Format::AccountsCsv => OutputFormat::AccountsCsv,
    };
    let to_terminal = args.output.is_none() && io::stdout().is_terminal();
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => to_terminal && std::env::var_os("NO_COLOR").is_none(),
    };
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => {
            Box::new(BufWriter::new(File::create(path).with_context(|| format!("cannot write {}", path.display()))?))
        }
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };
    let mut context = Report::new(Vec::new(), Vec::new());
    context.rule_sets = inventory.sets;
    // Formats that can be written host by host are: a fleet run then holds one host in memory
    // and shows each server's result as soon as it is judged. The whole report is kept only
    // for the formats that need it (JSON, HTML, STIX, MISP, accounts) and for --upload.
    let mut stream =
        (Stream::supports(format) && args.upload.is_none()).then(|| Stream::new(format, color, context.clone()));

    let bar = progress_bar(total, args.quiet);
    let on_bytes = |n: u64| bar.inc(n);
    let started = Instant::now();
    let mut hosts = Vec::new();
    let mut skipped = Vec::new();
    let mut scanned = 0u64;
    let mut events = 0u64;
    let count = evidence.len();
    for (i, ev) in evidence.iter().enumerate() {
        bar.set_message(format!("[{}/{count}] {}", i + 1, ev.display));
        let result = hunt_host(
            ev,
            &rules,
            Options {
                thorough: args.thorough,
                sigma: Some(&sigma),
                files: Some(&files),
                progress: Some(&on_bytes),
                max_findings_per_rule: Some(usize::try_from(args.max_findings_per_rule).unwrap_or(usize::MAX)),
                since,
                until,
                allowlist: allowlist.as_ref(),
            },
        );
        let mut result = result;
        if let Some(min) = severity_min {
            result.host.findings.retain(|f| f.severity >= min);
        }
        scanned += result.bytes_scanned;
        events += result.events_read;
        skipped.extend(result.skipped);
        match stream.as_mut() {
            Some(s) => {
                let written = bar.suspend(|| s.host(result.host, &mut out));
                match written {
                    // A reader that stops early (`| head`) is not an error of the run.
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(s.exit_code() as u8),
                    other => other.context("cannot write the report")?,
                }
            }
            None => hosts.push(result.host),
        }
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    let (host_count, exit_code, report) = match stream {
        Some(s) => {
            let n = s.hosts();
            match s.finish(skipped, &mut out) {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(0),
                other => (n, other.context("cannot write the report")?, None),
            }
        }
        None => {
            let mut report = context;
            report.hosts = hosts;
            report.skipped = skipped;
            // A reader that stops early (`| head`) is not an error of the run.
            let written = render(&report, format, color, &mut out).and_then(|_| out.flush());
            match written {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(report.exit_code() as u8),
                other => other.context("cannot write the report")?,
            }
            (report.hosts.len(), report.exit_code(), Some(report))
        }
    };
    if args.stats || (!args.quiet && io::stderr().is_terminal()) {
        let secs = elapsed.as_secs_f64().max(1e-9);
        eprintln!(
            "taskforce: {} host(s), {:.1} MB of logs and {} events in {:.2} s ({:.0} MB/s, {:.0} events/s), {} Sigma rules",
            host_count,
            scanned as f64 / 1e6,
            events,
            secs,
            scanned as f64 / 1e6 / secs,
            events as f64 / secs,
            sigma.len()
        );
    }
    if let (Some(url), Some(token), Some(report)) = (&args.upload, &args.token, &report) {
        return Ok(upload_report(report, url, token, args.upload_ip.as_deref(), &args));
    }
    Ok(exit_code as u8)
}

/// Sends the report home; on failure keeps it and exits 2 (the run did not do all it was asked).
fn upload_report(report: &Report, url: &str, token: &str, ip: Option<&str>, args: &HuntArgs) -> u8 {
    let json = match serde_json::to_vec(report) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("taskforce: cannot serialise the report for upload: {e}");
            return 2;
        }
    };
    let failed = |why: String| {
        eprintln!("taskforce: upload failed: {why}");
        let written = args.output.as_deref().filter(|_| args.format == Format::Json);
        match crate::upload::keep(&json, written) {
            Ok(path) => eprintln!(
                "taskforce: the report is kept in {}; send it again with the same --upload and --token, or give it to the task force",
                path.display()
            ),
            Err(e) => eprintln!("taskforce: could not keep the report on disk either: {e}"),
        }
        2
    };
    match crate::upload::send(url, token, ip, &json) {
        Err(why) => failed(why),
        Ok(answer) if !(200..300).contains(&answer.status) => failed(crate::upload::describe(&answer).join("; ")),
        Ok(answer) => {
            for line in crate::upload::describe(&answer) {
                eprintln!("taskforce: {line}");
            }
            report.exit_code() as u8
        }
    }
}

/// A byte-based progress bar on standard error; hidden when stderr is not a terminal or with
/// `--quiet`, and drawn at most a few times a second so it never slows the hunt.
fn progress_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(4));
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bar:40} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}")
            .expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}
