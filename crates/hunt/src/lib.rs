//! `taskforce hunt`: runs the rules over one host's evidence, links what the attacker wrote with
//! later requests to it, and turns the hits into a verdict, a timeline and a patch status.
//!
//! Data flow for one host (see ARCHITECTURE.md):
//! evidence items → [`scan`] (prefilter, parse, rules) → hits → [`correlate`] (second pass over
//! request logs for attacker-written paths) → findings sorted by time → [`verdict`] → report host.

pub mod accounts;
pub mod correlate;
pub mod events;
pub mod identify;
mod page_use;
pub mod scan;
pub mod sweep;
pub mod verdict;

use std::collections::BTreeMap;

use jiff::Timestamp;
use rayon::prelude::*;
use taskforce_builds::{Build, BuildTable};
use taskforce_evidence::{Evidence, Item, PathHint};
use taskforce_logs::{Format, LogSource};
use taskforce_report::{Coverage, Effect, Finding, Host, Patch, Skipped};
use taskforce_rules::RuleSet;

use crate::correlate::WrittenPath;
use crate::events::EventScan;
use crate::scan::{FileScan, Identify, LineHit, Outcome, RuleRef};
use taskforce_sigma::SigmaSet;

/// What reading one item gave.
enum ItemResult {
    Log(Outcome),
    Events(Result<EventScan, String>),
}

/// How a hunt runs.
#[derive(Default, Clone, Copy)]
pub struct Options<'a> {
    /// Parse every line instead of only the lines holding a rule literal.
    pub thorough: bool,
    /// Sigma rules for event logs (and `webserver` rules for IIS lines); without them event logs
    /// are still listed in coverage but not judged.
    pub sigma: Option<&'a SigmaSet>,
    /// The file sweep (web shells, hashes, names, IIS configuration, ExSetup.exe); without it
    /// only logs are read.
    pub files: Option<&'a taskforce_files::Sweep>,
    /// Called with the number of bytes read, from several threads.
    pub progress: Option<&'a (dyn Fn(u64) + Sync)>,
}

/// One host's part of the report, plus what could not be read.
pub struct HostReport {
    pub host: Host,
    pub skipped: Vec<Skipped>,
    /// Bytes of log read (for throughput figures).
    pub bytes_scanned: u64,
    /// Windows events read from event logs.
    pub events_read: u64,
}

/// A finding with what it does to the verdict (not part of the v1 schema itself).
#[derive(Debug, Clone)]
pub struct Judged {
    pub finding: Finding,
    pub effect: Effect,
    pub timestamp: Option<Timestamp>,
}

/// A hit's `(name, value)` pairs as the finding's detail; a name given several times (an event
/// naming several accounts) keeps every value, as a list.
fn detail_map(pairs: &[(String, String)]) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    let mut detail = serde_json::Map::new();
    for (k, v) in pairs {
        match detail.get_mut(k) {
            Some(Value::Array(list)) => list.push(Value::String(v.clone())),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, Value::String(v.clone())]);
            }
            None => {
                detail.insert(k.clone(), Value::String(v.clone()));
            }
        }
    }
    detail
}

/// Files worth opening: known log locations, text-like files whose header may say they are logs
/// (a renamed or moved log), and JSON files that may be event exports. Binaries and
/// configuration are left alone.
pub fn worth_reading(item: &Item) -> bool {
    if item.hint != PathHint::Other {
        return true;
    }
    let name = item.path.rsplit('/').next().unwrap_or("").to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    matches!(ext, "log" | "txt" | "csv" | "" | "json" | "jsonl" | "ndjson")
}

/// Hunts one host's evidence.
pub fn hunt_host(evidence: &Evidence, rules: &RuleSet, options: Options<'_>) -> HostReport {
    let no_progress = |_: u64| {};
    let progress: &(dyn Fn(u64) + Sync) = options.progress.unwrap_or(&no_progress);
    let items: Vec<&Item> = evidence.items.iter().filter(|i| worth_reading(i)).collect();

    let empty_sigma;
    let sigma = match options.sigma {
        Some(s) => s,
        None => {
            empty_sigma = SigmaSet::load(false, &[]);
            &empty_sigma
        }
    };
    let outcomes: Vec<(&Item, ItemResult)> = items
        .par_iter()
        .map(|item| {
            if events::is_event_file(evidence, item) {
                return (*item, ItemResult::Events(events::scan(evidence, item, sigma, progress)));
            }
            let outcome = match evidence.open_item(item) {
                Ok(reader) => {
                    let size = (!item.is_gzip()).then_some(item.size);
                    scan::scan(
                        reader,
                        size,
                        Identify::Auto(item.hint),
                        rules,
                        options.thorough,
                        options.sigma,
                        progress,
                    )
                }
                Err(e) => Outcome::Unreadable(format!("cannot open: {e}")),
            };
            (*item, ItemResult::Log(outcome))
        })
        .collect();

    let mut skipped: Vec<Skipped> = evidence
        .problems
        .iter()
        .map(|p| Skipped { path: skipped_path(evidence, &p.path), reason: p.reason.clone() })
        .collect();
    for item in evidence.items.iter().filter(|i| i.is_nested_archive()) {
        skipped.push(Skipped {
            path: skipped_path(evidence, &item.path),
            reason:
                "archive inside the evidence, not opened: pass it as its own evidence if it holds this server's logs"
                    .into(),
        });
    }
    let mut files: Vec<(&Item, LogSource, FileScan)> = Vec::new();
    let mut event_files: Vec<(&Item, EventScan)> = Vec::new();
    for (item, result) in outcomes {
        let outcome = match result {
            ItemResult::Log(o) => o,
            ItemResult::Events(Ok(scan)) => {
                if !scan.damage.is_empty() {
                    let shown: Vec<&str> = scan.damage.iter().take(3).map(String::as_str).collect();
                    skipped.push(Skipped {
                        path: skipped_path(evidence, &item.path),
                        reason: format!(
                            "{} damaged part(s) skipped ({}{}); {} events were read",
                            scan.damage.len(),
                            shown.join("; "),
                            if scan.damage.len() > 3 { "; …" } else { "" },
                            scan.events
                        ),
                    });
                }
                event_files.push((item, scan));
                continue;
            }
            ItemResult::Events(Err(reason)) => {
                skipped.push(Skipped { path: skipped_path(evidence, &item.path), reason });
                continue;
            }
        };
        match outcome {
            Outcome::Scanned { source, scan } => {
                if let Some(err) = &scan.error {
                    skipped.push(Skipped {
                        path: skipped_path(evidence, &item.path),
                        reason: format!("{err}; the lines before the damage were checked"),
                    });
                }
                files.push((item, source, scan));
            }
            Outcome::Unreadable(reason) => skipped.push(Skipped { path: skipped_path(evidence, &item.path), reason }),
            Outcome::NotALog => {}
        }
    }

    let mut judged: Vec<Judged> = Vec::new();
    for (item, _, scan) in &files {
        for hit in &scan.hits {
            judged.push(to_finding(rules, sigma, hit, &item.path));
        }
    }
    for (item, scan) in &event_files {
        for hit in &scan.hits {
            judged.push(event_finding(sigma, hit, &item.path));
        }
    }
    correlate_writes(evidence, &files, &mut judged, sigma, options, progress);
    let swept = options.files.map(|s| sweep::sweep(evidence, s, progress));
    if let Some(sw) = &swept {
        judged.extend(sw.judged.iter().cloned());
        skipped.extend(sweep::skipped(evidence, &sw.skipped, skipped_path));
        sweep::fold_into_writes(&mut judged);
    }
    page_use::fold(&mut judged);
    judged.sort_by(|a, b| {
        (a.timestamp.is_none(), a.timestamp, &a.finding.source, a.finding.line).cmp(&(
            b.timestamp.is_none(),
            b.timestamp,
            &b.finding.source,
            b.finding.line,
        ))
    });

    let mut coverage = coverage(&files, &event_files);
    if let Some(sw) = swept.as_ref().filter(|s| s.files > 0) {
        coverage.push(Coverage {
            source: "Files".into(),
            files: sw.files,
            first: sw.first.map(|t| t.to_string()),
            last: sw.last.map(|t| t.to_string()),
        });
    }
    // ExSetup.exe's version resource is authoritative; the logs' build is the fallback.
    let build = swept.as_ref().and_then(|s| s.exchange_build).or_else(|| current_build(&files));
    let patch = build.map(|b| patch_entries(&b)).unwrap_or_default();
    let name = host_name(&files)
        .or_else(|| {
            event_files
                .iter()
                .find_map(|(_, s)| s.computer.as_deref())
                .map(|c| c.split('.').next().unwrap_or(c).to_string())
        })
        .unwrap_or_else(|| evidence.stem());
    let (verdict, reason) = verdict::judge(&judged, &coverage, build.as_ref(), &patch);
    let bytes_scanned = files.iter().map(|(item, _, _)| item.size).sum::<u64>()
        + event_files.iter().map(|(item, _)| item.size).sum::<u64>();
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    HostReport {
        host: Host {
            name,
            evidence: evidence.display.clone(),
            verdict,
            reason,
            exchange_build: build.map(|b| b.to_string()),
            patch,
            coverage,
            accounts: accounts::collect(&judged),
            findings: judged.into_iter().map(|j| j.finding).collect(),
        },
        skipped,
        bytes_scanned,
        events_read: event_files.iter().map(|(_, s)| s.events).sum(),
    }
}

fn skipped_path(evidence: &Evidence, inner: &str) -> String {
    if evidence.is_zip() {
        format!("{}!{inner}", evidence.display)
    } else {
        format!("{}/{inner}", evidence.display.trim_end_matches('/'))
    }
}

fn to_finding(rules: &RuleSet, sigma: &SigmaSet, hit: &LineHit, path: &str) -> Judged {
    let (id, title, cves) = match hit.rule {
        RuleRef::Line(i) => {
            let m = &rules.rules()[i].meta;
            (m.id.clone(), m.title.clone(), m.cves.clone())
        }
        RuleRef::Sigma(i) => {
            let r = &sigma.rules()[i];
            (r.id.clone().unwrap_or_else(|| r.title.clone()), r.title.clone(), r.cves.clone())
        }
    };
    let mut detail = detail_map(&hit.hit.detail);
    detail.insert("effect".into(), hit.hit.effect.to_string().into());
    if hit.hit.escalated {
        detail.insert("escalated".into(), true.into());
    }
    Judged {
        finding: Finding {
            rule: id,
            title,
            severity: hit.hit.severity,
            stage: hit.hit.stage,
            cves,
            time: hit.time.map(|t| t.to_string()),
            source: path.to_string(),
            line: Some(hit.line),
            excerpt: hit.excerpt.clone(),
            detail,
        },
        effect: hit.hit.effect,
        timestamp: hit.time,
    }
}

/// A Sigma hit on an event: `line` is the event's EventRecordID.
fn event_finding(sigma: &SigmaSet, hit: &events::EventHit, path: &str) -> Judged {
    let r = &sigma.rules()[hit.rule];
    let mut detail = detail_map(&hit.detail);
    detail.insert("effect".into(), r.effect.to_string().into());
    detail.insert("rule_origin".into(), r.origin.clone().into());
    if !r.references.is_empty() {
        detail.insert("references".into(), r.references.clone().into());
    }
    Judged {
        finding: Finding {
            rule: r.id.clone().unwrap_or_else(|| r.title.clone()),
            title: r.title.clone(),
            severity: r.severity,
            stage: r.stage,
            cves: r.cves.clone(),
            time: hit.time.map(|t| t.to_string()),
            source: path.to_string(),
            line: Some(hit.record_id),
            excerpt: hit.excerpt.clone(),
            detail,
        },
        effect: r.effect,
        timestamp: hit.time,
    }
}

/// The second pass: requests to paths that findings show the attacker writing.
fn correlate_writes(
    evidence: &Evidence,
    files: &[(&Item, LogSource, FileScan)],
    judged: &mut Vec<Judged>,
    // Only read for Sigma hits, which the correlation pass does not produce.
    sigma: &SigmaSet,
    options: Options<'_>,
    progress: &(dyn Fn(u64) + Sync),
) {
    let mut written: Vec<(WrittenPath, usize)> = Vec::new();
    for (i, j) in judged.iter().enumerate() {
        let Some(path) = j.finding.detail.get("written_path").and_then(|v| v.as_str()) else {
            continue;
        };
        let Some(url_suffix) = correlate::web_suffix(path) else {
            continue;
        };
        if !written.iter().any(|(w, _)| w.url_suffix == url_suffix) {
            written.push((WrittenPath { path: path.to_string(), url_suffix }, i));
        }
    }
    if written.is_empty() {
        return;
    }
    let paths: Vec<WrittenPath> = written.iter().map(|(w, _)| w.clone()).collect();
    let rules = correlate::rules_for(&paths);
    let request_logs: Vec<&(&Item, LogSource, FileScan)> =
        files.iter().filter(|(_, s, _)| matches!(s, LogSource::Iis | LogSource::HttpProxy)).collect();
    let second: Vec<(String, FileScan)> = request_logs
        .par_iter()
        .filter_map(|(item, source, _)| {
            let format = if *source == LogSource::Iis { Format::W3c } else { Format::ExchangeCsv };
            let reader = evidence.open_item(item).ok()?;
            let size = (!item.is_gzip()).then_some(item.size);
            match scan::scan(reader, size, Identify::Known(*source, format), &rules, options.thorough, None, progress) {
                Outcome::Scanned { scan, .. } => Some((item.path.clone(), scan)),
                _ => None,
            }
        })
        .collect();
    for (path, scan) in second {
        for hit in &scan.hits {
            let RuleRef::Line(rule_index) = hit.rule else { continue };
            let rule = &rules.rules()[rule_index];
            let Some(index) = correlate::path_index(&rule.meta.id) else {
                continue;
            };
            let (wp, writer) = &written[index];
            let write = &judged[*writer];
            let link = serde_json::json!({
                "written_path": wp.path,
                "write_rule": write.finding.rule,
                "write_time": write.finding.time,
                "write_source": write.finding.source,
            });
            let mut fresh = to_finding(&rules, sigma, hit, &path);
            fresh.finding.rule = correlate::RULE_ID.to_string();
            // The same request may already be a finding (e.g. an .aspx in aspnet_client): make it
            // one story by linking it to the write instead of adding a second finding.
            if let Some(existing) =
                judged.iter_mut().find(|j| j.finding.source == path && j.finding.line == Some(hit.line))
            {
                existing.finding.detail.insert("written_by".into(), link);
                existing.finding.severity = existing.finding.severity.max(fresh.finding.severity);
                existing.effect = existing.effect.max(fresh.effect);
                existing.finding.stage = taskforce_report::Stage::Webshell;
                existing.finding.detail.insert("effect".into(), existing.effect.to_string().into());
                continue;
            }
            fresh.finding.detail.insert("written_by".into(), link);
            judged.push(fresh);
        }
    }
}

fn coverage(files: &[(&Item, LogSource, FileScan)], event_files: &[(&Item, EventScan)]) -> Vec<Coverage> {
    let mut by_source: BTreeMap<LogSource, (u64, Option<Timestamp>, Option<Timestamp>, bool)> = BTreeMap::new();
    for (_, source, scan) in files {
        let entry = by_source.entry(*source).or_insert((0, None, None, false));
        entry.0 += 1;
        entry.1 = min_opt(entry.1, scan.first);
        entry.2 = max_opt(entry.2, scan.last);
        entry.3 |= scan.data_rows_seen;
    }
    for (_, scan) in event_files {
        let entry = by_source.entry(LogSource::EventLog).or_insert((0, None, None, false));
        entry.0 += 1;
        entry.1 = min_opt(entry.1, scan.first);
        entry.2 = max_opt(entry.2, scan.last);
        entry.3 |= scan.events > 0;
    }
    LogSource::ALL
        .into_iter()
        .filter_map(|source| {
            let (files, first, last, _) = by_source.get(&source)?;
            Some(Coverage {
                source: source.name().to_string(),
                files: *files,
                first: first.map(|t| t.to_string()),
                last: last.map(|t| t.to_string()),
            })
        })
        .collect()
}

fn min_opt(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_opt(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The build the server ran most recently: the latest timed observation, else the highest
/// build named in a header.
fn current_build(files: &[(&Item, LogSource, FileScan)]) -> Option<Build> {
    files
        .iter()
        .filter_map(|(_, _, scan)| scan.build)
        .max_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)))
        .map(|(build, _)| build)
}

fn patch_entries(build: &Build) -> Vec<Patch> {
    BuildTable::builtin()
        .patch_status(build)
        .into_iter()
        .map(|s| Patch {
            family: s.family.name().to_string(),
            cves: s.cves,
            status: s.status.to_string(),
            fixed_in: s.fixed_in.map(|b| b.to_string()),
        })
        .collect()
}

/// The name the logs give the server: the most frequent one, Exchange's own logs first.
fn host_name(files: &[(&Item, LogSource, FileScan)]) -> Option<String> {
    let mut counts: BTreeMap<(bool, String), usize> = BTreeMap::new();
    for (_, source, scan) in files {
        if let Some(name) = &scan.host_name {
            *counts.entry((*source != LogSource::Iis, name.clone())).or_default() += 1;
        }
    }
    counts.into_iter().max_by_key(|((exchange, _), n)| (*exchange, *n)).map(|((_, name), _)| name)
}
