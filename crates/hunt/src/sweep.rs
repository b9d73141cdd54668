//! Files on disk: the web folders and staging places of the evidence, swept by `taskforce-files`
//! (YARA, hashes, names, the IIS configuration, `ExSetup.exe`'s version).

use jiff::Timestamp;
use rayon::prelude::*;
use taskforce_builds::Build;
use taskforce_evidence::{Evidence, Item, normalise};
use taskforce_files::{FileResult, Sweep};
use taskforce_report::{Finding, Skipped};

use crate::Judged;

/// The files swept on one host, and what they gave.
#[derive(Debug, Default)]
pub struct SweepResult {
    pub judged: Vec<Judged>,
    pub skipped: Vec<(String, String)>,
    /// Files in scope.
    pub files: u64,
    /// The build from `Bin\ExSetup.exe`, the authoritative source.
    pub exchange_build: Option<Build>,
}

/// Sweeps every item of the evidence that is in the sweep's scope, in parallel, one scanner per
/// worker thread.
pub fn sweep(evidence: &Evidence, sweep: &Sweep, progress: &(dyn Fn(u64) + Sync)) -> SweepResult {
    // The normalised path (what the sweep's areas are written against) is computed once per file.
    let scoped: Vec<(&Item, String, taskforce_files::Area)> = evidence
        .items
        .iter()
        .filter_map(|i| {
            let path = normalise(&i.path);
            sweep.in_scope(&path).map(|a| (i, path, a))
        })
        .collect();
    let results: Vec<(&Item, &str, FileResult)> = scoped
        .par_iter()
        .map_init(
            || sweep.scanner(),
            |scanner, (item, path, area)| {
                let result = match evidence.open_item(item) {
                    Ok(mut reader) => scanner.scan(path, *area, item.size, item.modified, &mut reader),
                    Err(e) => FileResult { error: Some(format!("cannot open: {e}")), ..FileResult::default() },
                };
                progress(item.size.min(1 << 20));
                (*item, path.as_str(), result)
            },
        )
        .collect();
    let mut out = SweepResult { files: results.len() as u64, ..SweepResult::default() };
    for (item, path, result) in results {
        // The copy's modification time: shown on the finding's timeline, never part of the
        // evidence window (a collection copied today would otherwise reach today).
        let modified = item.modified.and_then(|s| Timestamp::from_second(s).ok());
        if let Some(err) = &result.error {
            out.skipped.push((item.path.clone(), format!("{err}; name and hash checks that ran are kept")));
        }
        if result.skipped_for_size {
            out.skipped.push((
                item.path.clone(),
                format!("{} bytes: over the size limit, content not scanned (name and path checks ran)", item.size),
            ));
        }
        if let Some(b) = result.exchange_build {
            out.exchange_build = Some(out.exchange_build.map_or(b, |o| o.max(b)));
        }
        for hit in result.hits {
            let mut detail = serde_json::Map::new();
            for (k, v) in hit.detail {
                detail.insert(k, serde_json::Value::String(v));
            }
            detail.insert("effect".into(), hit.effect.to_string().into());
            detail.insert("check".into(), format!("{:?}", hit.kind).to_ascii_lowercase().into());
            if let Some(sha) = &result.sha256 {
                detail.entry("sha256").or_insert_with(|| sha.clone().into());
            }
            if let Some(web) = taskforce_files::web_path(path) {
                detail.entry("web_path").or_insert_with(|| web.into());
            }
            out.judged.push(Judged {
                finding: Finding {
                    rule: hit.rule,
                    title: hit.title,
                    severity: hit.severity,
                    stage: hit.stage,
                    cves: hit.cves,
                    time: modified.map(|t| t.to_string()),
                    source: item.path.clone(),
                    line: None,
                    excerpt: hit.excerpt,
                    detail,
                },
                effect: hit.effect,
                timestamp: modified,
            });
        }
    }
    out
}

/// A file the logs show being written (and requested) is one story: its finding is folded into
/// the write finding (`detail.on_disk`) instead of standing alone.
pub fn fold_into_writes(judged: &mut Vec<Judged>) {
    let mut folded = vec![false; judged.len()];
    for i in 0..judged.len() {
        let Some(web) = judged[i].finding.detail.get("web_path").and_then(|v| v.as_str()).map(str::to_ascii_lowercase)
        else {
            continue;
        };
        if judged[i].finding.line.is_some() {
            continue; // only file findings (no line) are folded
        }
        let writer = judged.iter().position(|j| {
            j.finding
                .detail
                .get("written_path")
                .and_then(|v| v.as_str())
                .and_then(crate::correlate::web_suffix)
                .is_some_and(|suffix| suffix == web)
        });
        let Some(w) = writer else { continue };
        let file = judged[i].clone();
        let on_disk = serde_json::json!({
            "rule": file.finding.rule,
            "title": file.finding.title,
            "path": file.finding.source,
            "modified": file.finding.time,
            "excerpt": file.finding.excerpt,
            "sha256": file.finding.detail.get("sha256"),
        });
        let write = &mut judged[w];
        let list = write.finding.detail.entry("on_disk").or_insert_with(|| serde_json::Value::Array(Vec::new()));
        if let Some(a) = list.as_array_mut() {
            a.push(on_disk);
        }
        write.finding.severity = write.finding.severity.max(file.finding.severity);
        write.effect = write.effect.max(file.effect);
        write.finding.detail.insert("effect".into(), write.effect.to_string().into());
        folded[i] = true;
    }
    let mut i = 0;
    judged.retain(|_| {
        let keep = !folded[i];
        i += 1;
        keep
    });
}

/// The `skipped` entries of a sweep, with the evidence's path prefix.
pub fn skipped(
    evidence: &Evidence,
    list: &[(String, String)],
    prefix: impl Fn(&Evidence, &str) -> String,
) -> Vec<Skipped> {
    list.iter().map(|(p, r)| Skipped { path: prefix(evidence, p), reason: r.clone() }).collect()
}
