//! The hunt's engine alone, for benchmarks that must not wait for the whole `taskforce` binary
//! (its server and mail dependencies): the built-in line rules, built-in Sigma rules plus
//! `--sigma DIR`s, the built-in file sweep (without YARA unless the `yara` feature is on), one
//! host. Prints what `hunt --stats` prints, and with `--list FILE` one line per finding
//! (`rule`, `source`, `line`, sorted) so two builds' findings can be compared with `diff`.
//!
//!   cargo build --release -p taskforce-hunt --no-default-features --example hunt_bench
//!   target/release/examples/hunt_bench [--sigma DIR]... [--thorough] [--list FILE] EVIDENCE
//!   target/release/examples/hunt_bench --literals    (as `taskforce rules literals`)

use std::path::PathBuf;
use std::time::Instant;

use taskforce_evidence::Evidence;
use taskforce_files::{Sweep, SweepConfig};
use taskforce_hunt::{Options, hunt_host};
use taskforce_rules::RuleSet;
use taskforce_sigma::SigmaSet;

fn main() {
    let mut sigma_dirs = Vec::new();
    let mut thorough = false;
    let mut list = None;
    let mut evidence = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--sigma" => sigma_dirs.push(PathBuf::from(args.next().expect("--sigma DIR"))),
            "--thorough" => thorough = true,
            "--list" => list = Some(PathBuf::from(args.next().expect("--list FILE"))),
            "--literals" => return print_literals(),
            _ => evidence = Some(PathBuf::from(a)),
        }
    }
    let evidence = evidence.expect("usage: hunt_bench [--sigma DIR]... [--thorough] [--list FILE] EVIDENCE");
    let started = Instant::now();
    let rules = RuleSet::load(true, &[]);
    let sigma = SigmaSet::load(true, &sigma_dirs);
    let (files, _) = Sweep::load(&SweepConfig { builtin: true, ..SweepConfig::default() });
    let loaded = started.elapsed().as_secs_f64();
    let ev = Evidence::open(&evidence).expect("evidence opens");
    let report =
        hunt_host(&ev, &rules, Options { thorough, sigma: Some(&sigma), files: Some(&files), ..Options::default() });
    let secs = started.elapsed().as_secs_f64();
    let findings = &report.host.findings;
    eprintln!(
        "rules: {} line, {} Sigma ({} skipped), loaded in {loaded:.2} s",
        rules.rules().len(),
        sigma.len(),
        sigma.skipped.len()
    );
    eprintln!(
        "read {:.1} MB of logs and {} events in {secs:.2} s: {:.0} MB/s, {:.0} events/s; {} findings, {} skipped files",
        report.bytes_scanned as f64 / 1e6,
        report.events_read,
        report.bytes_scanned as f64 / 1e6 / secs,
        report.events_read as f64 / secs,
        findings.len(),
        report.skipped.len()
    );
    let (compiled, groups) = sigma.compiled_groups();
    eprintln!("Sigma log-source groups compiled: {compiled} of {groups}");
    if let Some(path) = list {
        let mut rows: Vec<String> =
            findings.iter().map(|f| format!("{}\t{}\t{}", f.rule, f.source, f.line.unwrap_or(0))).collect();
        rows.sort();
        std::fs::write(path, rows.join("\n") + "\n").expect("list written");
    }
}

/// Every source's prefilter literals, one per line (what `taskforce rules literals` prints).
fn print_literals() {
    let rules = RuleSet::load(true, &[]);
    let mut all: Vec<String> =
        taskforce_logs::LogSource::ALL.iter().flat_map(|s| rules.prefilter(*s).literals.iter().cloned()).collect();
    all.sort();
    all.dedup();
    for lit in all {
        println!("{lit}");
    }
}
