//! `taskforce rules`: what the hunt will run.

use anyhow::Result;
use taskforce_files::{Sweep, SweepConfig};
use taskforce_logs::LogSource;
use taskforce_rules::RuleSet;
use taskforce_sigma::SigmaSet;

use crate::cli::{RuleSource, RulesAction, RulesArgs};

/// Loads the rule set the user asked for and reports rule files that did not load.
pub fn load(source: &RuleSource, quiet: bool) -> RuleSet {
    let set = RuleSet::load(!source.no_builtin_rules, &source.dirs);
    if !quiet {
        for p in &set.problems {
            eprintln!("taskforce: warning: rule file {} not loaded: {}", p.path, p.reason);
        }
        for rule in set.rules().iter().filter(|r| r.literals.is_none()) {
            eprintln!(
                "taskforce: note: rule {} has no literal to prefilter on; every {} line will be parsed",
                rule.meta.id, rule.meta.source
            );
        }
    }
    set
}

/// Loads the Sigma rules the user asked for; says on stderr how many were skipped.
pub fn load_sigma(source: &RuleSource, quiet: bool) -> SigmaSet {
    let set = SigmaSet::load(!source.no_builtin_rules, &source.sigma_dirs);
    if !quiet && !set.skipped.is_empty() {
        eprintln!(
            "taskforce: note: {} Sigma rule(s) or file(s) not loaded (see `taskforce rules sigma --skipped`); {} loaded",
            set.skipped.len(),
            set.len()
        );
    }
    set
}

/// Loads the file sweep the user asked for; says on stderr what did not load, and returns it
/// (for the report's `rule_sets`).
pub fn load_sweep_with_problems(source: &RuleSource, quiet: bool) -> (Sweep, Vec<taskforce_files::LoadProblem>) {
    let config = SweepConfig {
        builtin: !source.no_builtin_rules,
        yara_dirs: source.yara_dirs.clone(),
        ioc_dirs: source.ioc_dirs.clone(),
        max_file_size: source.max_file_size.saturating_mul(1 << 20),
        ..SweepConfig::default()
    };
    let (sweep, problems) = Sweep::load(&config);
    if !quiet && !problems.is_empty() {
        eprintln!(
            "taskforce: note: {} YARA rule(s) or IOC line(s) not loaded (see `taskforce rules files --skipped`); {} YARA rules compiled",
            problems.len(),
            sweep.yara_rule_count()
        );
    }
    (sweep, problems)
}

pub fn run(args: RulesArgs) -> Result<u8> {
    if let RulesAction::Sigma { skipped } = args.action {
        return sigma_report(&args.rules, skipped);
    }
    if let RulesAction::Files { skipped } = args.action {
        return files_report(&args.rules, skipped);
    }
    let set = load(&args.rules, false);
    match args.action {
        RulesAction::List { json, format } => {
            // Every rule that can produce a finding: the line rules and the Sigma rules.
            let sigma = load_sigma(&args.rules, true);
            let mut rows: Vec<serde_json::Value> = set
                .rules()
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "id": r.meta.id, "title": r.meta.title, "kind": "line", "source": r.meta.source.name(),
                        "severity": r.meta.severity, "stage": r.meta.stage, "verdict": r.meta.effect,
                        "cves": r.meta.cves, "references": r.meta.references, "origin": r.meta.origin,
                        "literals": r.literals,
                    })
                })
                .collect();
            for r in sigma.rules() {
                let ls = &r.logsource;
                let source = [ls.product.as_deref(), ls.service.as_deref(), ls.category.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("/");
                rows.push(serde_json::json!({
                    "id": r.id.clone().unwrap_or_else(|| r.key.clone()), "title": r.title, "kind": "sigma",
                    "source": source, "severity": r.severity, "stage": r.stage, "verdict": r.effect,
                    "cves": r.cves, "references": r.references, "origin": r.origin,
                }));
            }
            if json || format == Some(crate::cli::ListFormat::Json) {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "{:<38} {:<6} {:<30} {:<9} {:<17} {:<10} {:<28} title",
                    "id", "kind", "source", "severity", "stage", "verdict", "cves"
                );
                let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
                for r in &rows {
                    let cves: Vec<String> = r["cves"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c.as_str().map(str::to_string))
                        .collect();
                    println!(
                        "{:<38} {:<6} {:<30} {:<9} {:<17} {:<10} {:<28} {}",
                        text(&r["id"]),
                        text(&r["kind"]),
                        text(&r["source"]),
                        text(&r["severity"]),
                        text(&r["stage"]),
                        text(&r["verdict"]),
                        cves.join(","),
                        text(&r["title"])
                    );
                }
                println!(
                    "{} line rules, {} Sigma rules; correlation check TF-COR-01 (request to an attacker-written file) is built in. \
                     File rules: taskforce rules files.",
                    set.len(),
                    sigma.len()
                );
            }
            Ok(if set.problems.is_empty() { 0 } else { 2 })
        }
        RulesAction::Test => {
            let failures = set.self_test();
            for f in &failures {
                println!("FAIL {}: {}", f.rule, f.message);
            }
            let examples: usize = set.rules().iter().map(|r| r.tests_match.len() + r.tests_nomatch.len()).sum();
            println!(
                "{} rules, {} examples: {} failure(s), {} rule file(s) not loaded",
                set.len(),
                examples,
                failures.len(),
                set.problems.len()
            );
            Ok(if failures.is_empty() && set.problems.is_empty() { 0 } else { 1 })
        }
        RulesAction::Sigma { .. } | RulesAction::Files { .. } => unreachable!("handled above"),
        RulesAction::Literals { source } => {
            let sources: Vec<LogSource> = match source {
                Some(s) => vec![s.parse().map_err(anyhow::Error::msg)?],
                None => LogSource::ALL.to_vec(),
            };
            let mut all: Vec<String> = Vec::new();
            for src in sources {
                all.extend(set.prefilter(src).literals.iter().cloned());
            }
            all.sort();
            all.dedup();
            for lit in all {
                println!("{lit}");
            }
            Ok(0)
        }
    }
}

/// Loaded and skipped Sigma rules, with the reasons grouped.
fn sigma_report(source: &RuleSource, list_skipped: bool) -> Result<u8> {
    let set = SigmaSet::load(!source.no_builtin_rules, &source.sigma_dirs);
    let mut reasons: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for s in &set.skipped {
        // Group by the reason's first clause, without rule-specific values.
        let key: String = s.reason.split([':', '\'', '"']).next().unwrap_or(&s.reason).trim().to_string();
        *reasons.entry(key).or_default() += 1;
        if list_skipped {
            println!("SKIPPED {} {}: {}", s.path, s.rule.as_deref().unwrap_or(""), s.reason);
        }
    }
    println!("{} Sigma rule files read, {} rules loaded, {} skipped", set.files, set.len(), set.skipped.len());
    for (reason, n) in reasons.iter().rev() {
        println!("  {n:>5}  {reason}");
    }
    Ok(0)
}

/// Compiled and skipped YARA rules and IOC lines of the file sweep.
fn files_report(source: &RuleSource, list_skipped: bool) -> Result<u8> {
    let config = SweepConfig {
        builtin: !source.no_builtin_rules,
        yara_dirs: source.yara_dirs.clone(),
        ioc_dirs: source.ioc_dirs.clone(),
        ..SweepConfig::default()
    };
    let (sweep, problems) = Sweep::load(&config);
    let stats = sweep.yara_stats();
    if list_skipped {
        for p in &problems {
            println!("SKIPPED {} {}: {}", p.path, p.rule.as_deref().unwrap_or(""), p.reason);
        }
    }
    println!(
        "YARA: {} files, {} rules declared, {} compiled, {} skipped; {} hash IOCs; {} name/path rules; {} problem(s)",
        stats.files,
        stats.declared,
        stats.compiled,
        stats.skipped(),
        sweep.hash_ioc_count(),
        sweep.name_rule_count(),
        problems.len()
    );
    Ok(0)
}
