//! `taskforce hunt`: runs the rules over one host's evidence, links what the attacker wrote with
//! later requests to it, and turns the hits into a verdict, a timeline and a patch status.
//!
//! Data flow for one host (see ARCHITECTURE.md):
//! evidence items → [`scan`] (prefilter, parse, rules) → hits → [`correlate`] (second pass over
//! request logs for attacker-written paths) → findings sorted by time → [`verdict`] → report host.

pub mod accounts;
pub mod correlate;
pub mod events;
mod host_cap;
pub mod identify;
mod page_use;
mod percent;
pub mod rule_sets;
pub mod scan;
pub mod scope;
pub mod sweep;
pub mod verdict;

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use rayon::prelude::*;
use taskforce_builds::{Build, BuildTable};
use taskforce_evidence::{Evidence, Item, PathHint};
use taskforce_logs::{Format, LogSource};
use taskforce_report::{Coverage, Effect, EvidenceWindow, Finding, Host, Patch, Severity, Skipped, Stage};
use taskforce_rules::RuleSet;

use crate::correlate::WrittenPath;
use crate::events::EventScan;
use crate::scan::{FileScan, Identify, LineHit, Outcome, Overflow, RuleRef, Tuning};
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
    /// Findings kept per rule (and effect) and host; the rest are counted in one summary finding
    /// per rule. `None`: [`DEFAULT_MAX_FINDINGS_PER_RULE`].
    pub max_findings_per_rule: Option<usize>,
    /// Only findings inside this window (`--since`, `--until`); undated findings are kept.
    pub since: Option<jiff::Timestamp>,
    pub until: Option<jiff::Timestamp>,
    /// Addresses whose requests are context, not attacks (`--allowlist`).
    pub allowlist: Option<&'a scope::Allowlist>,
}

/// Findings kept per rule and host unless the user asks otherwise.
pub const DEFAULT_MAX_FINDINGS_PER_RULE: usize = 1000;

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
    matches!(ext, "log" | "txt" | "csv" | "" | "json" | "jsonl" | "ndjson" | "xml" | "evtx")
}

/// Files a collection tool or the person collecting adds about the collection itself (KAPE's
/// console and copy logs, Velociraptor's metadata, a README at the evidence root): not the
/// server's logs, so not listed as unread evidence.
pub fn is_collector_metadata(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let at_root = !lower.contains('/');
    let name = lower.rsplit('/').next().unwrap_or("");
    at_root
        && (matches!(
            name,
            "readme.txt"
                | "readme.md"
                | "client_info.json"
                | "uploads.json"
                | "collection_context.json"
                | "log.json"
                | "requests.json"
        ) || name.ends_with("_consolelog.txt")
            || name.ends_with("_copylog.csv")
            || name.ends_with("_skiplog.csv"))
}

/// Why a file that was not recognised still deserves a word: its extension says logs or events.
/// `None` for files that do not look like logs (configuration, binaries, files without extension).
pub fn unrecognised_reason(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or("").to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    Some(match ext {
        "json" | "jsonl" | "ndjson" => {
            "not a log format taskforce reads: neither a Windows event export (EVTX, evtx_dump/winlogbeat/NXLog/Velociraptor JSON, EvtxECmd CSV, Windows XML) nor a log with a #Fields header"
        }
        "xml" => {
            "not a log format taskforce reads: XML (e.g. an Event Viewer or wevtutil export) is not read; collect the .evtx file instead"
        }
        "evtx" => "not a log format taskforce reads: no EVTX signature",
        "csv" | "txt" | "log" => {
            "not a log format taskforce reads: no Exchange or IIS log header (#Software, #Log-type, #Fields) and no known layout"
        }
        _ => return None,
    })
}

/// Hunts one host's evidence.
pub fn hunt_host(evidence: &Evidence, rules: &RuleSet, options: Options<'_>) -> HostReport {
    let no_progress = |_: u64| {};
    let progress: &(dyn Fn(u64) + Sync) = options.progress.unwrap_or(&no_progress);
    let items: Vec<&Item> = evidence.items.iter().filter(|i| worth_reading(i)).collect();
    let cap = options.max_findings_per_rule.unwrap_or(DEFAULT_MAX_FINDINGS_PER_RULE).max(1);
    let tuning = Tuning { thorough: options.thorough, max_hits_per_rule: cap, window: (options.since, options.until) };

    let empty_sigma;
    let sigma = match options.sigma {
        Some(s) => s,
        None => {
            empty_sigma = SigmaSet::load(false, &[]);
            &empty_sigma
        }
    };
    // Event hits go to the host-wide cap as each file is read, so a host with hundreds of event
    // logs holds what the report prints, not every file's share of it.
    let host_cap = host_cap::HostCap::new(cap, options.since, options.until, sigma);
    let outcomes: Vec<(&Item, ItemResult)> = items
        .par_iter()
        .enumerate()
        .map(|(index, item)| {
            if events::is_event_file(evidence, item) {
                let scan = events::scan(evidence, item, sigma, cap, (options.since, options.until), progress).map(
                    |mut scan| {
                        host_cap.absorb(index, &item.path, std::mem::take(&mut scan.hits));
                        scan
                    },
                );
                return (*item, ItemResult::Events(scan));
            }
            let outcome = match evidence.open_item(item) {
                Ok(reader) => {
                    let size = (!item.is_gzip()).then_some(item.size);
                    scan::scan(reader, size, Identify::Auto(item.hint), rules, tuning, options.sigma, progress)
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
    // Log and event files that were not (fully) read: named in the verdict's reason.
    let mut unreadable: Vec<String> = evidence
        .problems
        .iter()
        .filter(|p| {
            taskforce_evidence::classify(&taskforce_evidence::normalise(&p.path)) != PathHint::Other
                || unrecognised_reason(&p.path).is_some()
        })
        .map(|p| skipped_path(evidence, &p.path))
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
                    unreadable.push(skipped_path(evidence, &item.path));
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
                unreadable.push(skipped_path(evidence, &item.path));
                skipped.push(Skipped { path: skipped_path(evidence, &item.path), reason });
                continue;
            }
        };
        match outcome {
            Outcome::Scanned { source, scan } => {
                if let Some(err) = &scan.error {
                    unreadable.push(skipped_path(evidence, &item.path));
                    skipped.push(Skipped {
                        path: skipped_path(evidence, &item.path),
                        reason: format!("{err}; the lines before the damage were checked"),
                    });
                }
                files.push((item, source, *scan));
            }
            Outcome::Unreadable(reason) => {
                unreadable.push(skipped_path(evidence, &item.path));
                skipped.push(Skipped { path: skipped_path(evidence, &item.path), reason });
            }
            Outcome::NotALog(Some(what)) => {
                // Recognised, deliberately not read: listed, but the host's logs are not short of it.
                skipped.push(Skipped { path: skipped_path(evidence, &item.path), reason: format!("not read: {what}") });
            }
            Outcome::NotALog(None) => {
                if is_collector_metadata(&item.path) {
                    continue;
                }
                if let Some(reason) = unrecognised_reason(&item.path) {
                    unreadable.push(skipped_path(evidence, &item.path));
                    skipped.push(Skipped { path: skipped_path(evidence, &item.path), reason: reason.to_string() });
                }
            }
        }
    }

    let mut judged: Vec<Judged> = Vec::new();
    let mut spills: Vec<Spill> = Vec::new();
    for (item, _, scan) in &files {
        for hit in &scan.hits {
            judged.push(to_finding(rules, sigma, hit, &item.path));
        }
        spills.extend(scan.overflow.iter().map(|o| Spill::of(rules, sigma, o)));
    }
    let capped = host_cap.finish();
    for (_, path, hit) in &capped.kept {
        judged.push(event_finding(sigma, hit, path));
    }
    for (_, scan) in &event_files {
        spills.extend(scan.overflow.iter().map(|o| Spill::of(rules, sigma, o)));
    }
    spills.extend(capped.overflow.iter().map(|o| Spill::of(rules, sigma, o)));
    drop(capped);
    correlate_writes(evidence, &files, &mut judged, &mut spills, sigma, tuning, progress);
    let swept = options.files.map(|s| sweep::sweep(evidence, s, progress));
    if let Some(sw) = &swept {
        judged.extend(sw.judged.iter().cloned());
        skipped.extend(sweep::skipped(evidence, &sw.skipped, skipped_path));
        sweep::fold_into_writes(&mut judged);
    }
    scope::apply_window(&mut judged, options.since, options.until);
    if let Some(allow) = options.allowlist {
        scope::apply_allowlist(&mut judged, allow);
    }
    page_use::fold(&mut judged);
    sort_by_time(&mut judged);
    cap_findings(&mut judged, spills, cap);

    let mut coverage = coverage(&files, &event_files);
    let evidence_window = window(&files, &event_files);
    if let Some(sw) = swept.as_ref().filter(|s| s.files > 0) {
        // File times are those of the collected copies, not of the evidence: no dates here.
        coverage.push(Coverage { source: "Files".into(), files: sw.files, first: None, last: None });
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
    unreadable.sort();
    unreadable.dedup();
    let (verdict, reason) = verdict::judge(
        &judged,
        &verdict::Context {
            coverage: &coverage,
            window: &evidence_window,
            unreadable: &unreadable,
            build: build.as_ref(),
            patch: &patch,
        },
    );
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
            evidence_window,
            unreadable_files: unreadable.len() as u64,
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
    spills: &mut Vec<Spill>,
    // Only read for Sigma hits, which the correlation pass does not produce.
    sigma: &SigmaSet,
    tuning: Tuning,
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
            let in_web_folder = correlate::in_web_folder(path);
            written.push((WrittenPath { path: path.to_string(), url_suffix, in_web_folder }, i));
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
            match scan::scan(reader, size, Identify::Known(*source, format), &rules, tuning, None, progress) {
                Outcome::Scanned { scan, .. } => Some((item.path.clone(), *scan)),
                _ => None,
            }
        })
        .collect();
    for (path, scan) in second {
        for o in &scan.overflow {
            let mut spill = Spill::of(&rules, sigma, o);
            spill.rule = correlate::RULE_ID.to_string();
            spills.push(spill);
        }
        for hit in &scan.hits {
            let RuleRef::Line(rule_index) = hit.rule else { continue };
            let rule = &rules.rules()[rule_index];
            let Some(index) = correlate::path_index(&rule.meta.id) else {
                continue;
            };
            let (wp, writer) = &written[index];
            let write = &judged[*writer];
            // "Written, then requested": a request counts only when it is known to come after
            // the write. Earlier requests (the name was in use before) and undated ones are not
            // linked.
            match (hit.time, write.timestamp) {
                (Some(requested), Some(written_at)) if requested > written_at => {}
                _ => continue,
            }
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
                if wp.in_web_folder {
                    existing.finding.stage = taskforce_report::Stage::Webshell;
                }
                existing.finding.detail.insert("effect".into(), existing.effect.to_string().into());
                continue;
            }
            fresh.finding.detail.insert("written_by".into(), link);
            judged.push(fresh);
        }
    }
}

/// Hits of one rule beyond the cap, as a host-level count.
#[derive(Debug, Clone)]
struct Spill {
    rule: String,
    title: String,
    severity: Severity,
    stage: Stage,
    effect: Effect,
    count: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

impl Spill {
    fn of(rules: &RuleSet, sigma: &SigmaSet, o: &Overflow) -> Spill {
        let (rule, title) = match o.rule {
            RuleRef::Line(i) => {
                let m = &rules.rules()[i].meta;
                (m.id.clone(), m.title.clone())
            }
            RuleRef::Sigma(i) => {
                let r = &sigma.rules()[i];
                (r.id.clone().unwrap_or_else(|| r.title.clone()), r.title.clone())
            }
        };
        Spill {
            rule,
            title,
            severity: o.severity,
            stage: o.stage,
            effect: o.effect,
            count: o.count,
            first: o.first,
            last: o.last,
        }
    }

    fn absorb(&mut self, count: u64, first: Option<Timestamp>, last: Option<Timestamp>) {
        self.count += count;
        self.first = min_opt(self.first, first);
        self.last = max_opt(self.last, last);
    }
}

fn sort_by_time(judged: &mut [Judged]) {
    judged.sort_by(|a, b| {
        (a.timestamp.is_none(), a.timestamp, &a.finding.source, a.finding.line).cmp(&(
            b.timestamp.is_none(),
            b.timestamp,
            &b.finding.source,
            b.finding.line,
        ))
    });
}

/// Keeps the first `cap` findings (by time) of each rule and effect; the rest, and the hits the
/// scans already counted instead of keeping, become one summary finding per rule and effect with
/// their number and first and last time. `judged` is sorted by time, and stays so.
fn cap_findings(judged: &mut Vec<Judged>, spills: Vec<Spill>, cap: usize) {
    let mut kept: HashMap<(String, Effect), usize> = HashMap::new();
    let mut over: BTreeMap<(String, Effect), Spill> = BTreeMap::new();
    for s in spills {
        match over.get_mut(&(s.rule.clone(), s.effect)) {
            Some(o) => o.absorb(s.count, s.first, s.last),
            None => {
                over.insert((s.rule.clone(), s.effect), s);
            }
        }
    }
    judged.retain(|j| {
        let key = (j.finding.rule.clone(), j.effect);
        let n = kept.entry(key.clone()).or_default();
        if *n < cap {
            *n += 1;
            return true;
        }
        let spill = over.entry(key).or_insert_with(|| Spill {
            rule: j.finding.rule.clone(),
            title: j.finding.title.clone(),
            severity: j.finding.severity,
            stage: j.finding.stage,
            effect: j.effect,
            count: 0,
            first: None,
            last: None,
        });
        spill.severity = spill.severity.max(j.finding.severity);
        spill.absorb(1, j.timestamp, j.timestamp);
        false
    });
    if over.is_empty() {
        return;
    }
    for ((rule, effect), s) in over {
        let example = judged.iter().find(|j| j.finding.rule == rule && j.effect == effect);
        let when = |t: Option<Timestamp>| t.map(|t| t.to_string());
        let mut detail = serde_json::Map::new();
        detail.insert("effect".into(), effect.to_string().into());
        detail.insert(
            "capped".into(),
            serde_json::json!({
                "omitted": s.count,
                "first": when(s.first),
                "last": when(s.last),
                "kept": kept.get(&(rule.clone(), effect)).copied().unwrap_or(0),
                "cap": cap,
            }),
        );
        let span = match (s.first, s.last) {
            (Some(f), Some(l)) => format!(" from {f} to {l}"),
            _ => String::new(),
        };
        judged.push(Judged {
            finding: Finding {
                rule: rule.clone(),
                title: format!("{} ({} more hits, counted but not listed)", s.title, s.count),
                severity: s.severity,
                stage: s.stage,
                cves: example.map(|e| e.finding.cves.clone()).unwrap_or_default(),
                time: when(s.first),
                source: example.map(|e| e.finding.source.clone()).unwrap_or_default(),
                line: None,
                excerpt: format!(
                    "{} more hits of {rule}{span}: at most {cap} findings are kept per rule and host (--max-findings-per-rule)",
                    s.count
                ),
                detail,
            },
            effect,
            timestamp: s.first,
        });
    }
    sort_by_time(judged);
}

/// The oldest and newest time of the rows and events read: how far the evidence reaches. File
/// times of the copies never count.
fn window(files: &[(&Item, LogSource, FileScan)], event_files: &[(&Item, EventScan)]) -> EvidenceWindow {
    let mut first = None;
    let mut last = None;
    for (_, _, scan) in files {
        first = min_opt(first, scan.first);
        last = max_opt(last, scan.last);
    }
    for (_, scan) in event_files {
        first = min_opt(first, scan.first);
        last = max_opt(last, scan.last);
    }
    EvidenceWindow { from: first.map(|t| t.to_string()), to: last.map(|t| t.to_string()) }
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
