//! Sweeps a directory the way `taskforce hunt` sweeps a host's files, and prints throughput.
//!
//! ```text
//! cargo run --release -p taskforce-files --example sweep -- DIR [--yara DIR]... [--iocs DIR]...
//!     [--no-builtin] [--max-file-size BYTES] [--threads N] [--hits N]
//! ```
//! The last line is machine-readable (`RESULT key=value …`) for `scripts/bench-files.sh`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use rayon::prelude::*;
use taskforce_files::{Sweep, SweepConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut root: Option<PathBuf> = None;
    let mut cfg = SweepConfig::default();
    let mut threads = 0;
    let mut show_hits = 20;
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&format!("{a} needs a value")));
        match a.as_str() {
            "--yara" => cfg.yara_dirs.push(value().into()),
            "--iocs" => cfg.ioc_dirs.push(value().into()),
            "--no-builtin" => cfg.builtin = false,
            "--max-file-size" => cfg.max_file_size = value().parse().unwrap_or_else(|_| usage("bad size")),
            "--threads" => threads = value().parse().unwrap_or_else(|_| usage("bad thread count")),
            "--hits" => show_hits = value().parse().unwrap_or_else(|_| usage("bad count")),
            "-h" | "--help" => usage(""),
            _ if root.is_none() && !a.starts_with('-') => root = Some(a.into()),
            _ => usage(&format!("unexpected argument {a}")),
        }
    }
    let root = root.unwrap_or_else(|| usage("missing DIR"));
    if threads > 0 {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().expect("thread pool");
    }
    if !taskforce_files::YARA_ENABLED {
        eprintln!("note: {}", taskforce_files::YARA_DISABLED_MESSAGE);
    }

    let t0 = Instant::now();
    let (sweep, problems) = Sweep::load(&cfg);
    let load_s = t0.elapsed().as_secs_f64();
    let stats = sweep.yara_stats();
    eprintln!(
        "loaded in {load_s:.2}s: YARA {} files, {} rules compiled of {} ({} skipped); {} hash IOCs; {} name rules; {} problems",
        stats.files,
        stats.compiled,
        stats.declared,
        stats.skipped(),
        sweep.hash_ioc_count(),
        sweep.name_rule_count(),
        problems.len()
    );
    for p in problems.iter().take(10) {
        eprintln!("  not loaded: {} {}: {}", p.path, p.rule.as_deref().unwrap_or(""), p.reason);
    }

    let t1 = Instant::now();
    let mut files = Vec::new();
    let mut walked = 0u64;
    for entry in walkdir::WalkDir::new(&root).follow_links(false) {
        let Ok(entry) = entry else { continue };
        if !entry.file_type().is_file() {
            continue;
        }
        walked += 1;
        let rel = entry.path().strip_prefix(&root).unwrap_or(entry.path()).to_string_lossy().replace('\\', "/");
        if let Some(area) = sweep.in_scope(&rel) {
            let meta = entry.metadata().ok();
            let size = meta.as_ref().map_or(0, |m| m.len());
            let modified = meta
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs() as i64);
            files.push((rel, entry.into_path(), area, size, modified));
        }
    }
    let list_s = t1.elapsed().as_secs_f64();

    let t2 = Instant::now();
    let results: Vec<_> = files
        .par_iter()
        .map_init(
            || sweep.scanner(),
            |scanner, (rel, path, area, size, modified)| {
                let result = match std::fs::File::open(path) {
                    Ok(mut f) => scanner.scan(rel, *area, *size, *modified, &mut f),
                    Err(e) => taskforce_files::FileResult { error: Some(e.to_string()), ..Default::default() },
                };
                (rel, *size, result)
            },
        )
        .collect();
    let scan_s = t2.elapsed().as_secs_f64();

    let bytes: u64 = results.iter().filter(|(_, _, r)| r.sha256.is_some()).map(|(_, s, _)| s).sum();
    let skipped = results.iter().filter(|(_, _, r)| r.skipped_for_size).count();
    let errors = results.iter().filter(|(_, _, r)| r.error.is_some()).count();
    let mut by_rule: BTreeMap<&str, usize> = BTreeMap::new();
    let mut files_hit = 0;
    let mut compromised = 0;
    for (_, _, r) in &results {
        if !r.hits.is_empty() {
            files_hit += 1;
        }
        if r.hits.iter().any(|h| h.effect == taskforce_files::Effect::Compromised) {
            compromised += 1;
        }
        for h in &r.hits {
            *by_rule.entry(h.rule.as_str()).or_default() += 1;
        }
        if let Some(b) = r.exchange_build {
            eprintln!("Exchange build from ExSetup.exe: {b}");
        }
    }
    let mut shown = 0;
    for (rel, _, r) in &results {
        for h in &r.hits {
            if shown < show_hits {
                eprintln!("  {:<8} {:<12} {:<36} {}", h.severity, h.effect, h.rule, rel);
                shown += 1;
            }
        }
    }
    let mut top: Vec<_> = by_rule.into_iter().collect();
    top.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    eprintln!("hits by rule: {:?}", &top[..top.len().min(15)]);
    let rss = peak_rss_kb();
    let mb = bytes as f64 / 1e6;
    eprintln!(
        "walked {walked} files ({list_s:.2}s), {} in scope, {:.1} MB hashed in {scan_s:.2}s: {:.0} files/s, {:.1} MB/s; \
         {files_hit} files with hits ({compromised} compromised), {skipped} skipped for size, {errors} errors; peak RSS {} MB",
        results.len(),
        mb,
        results.len() as f64 / scan_s,
        mb / scan_s,
        rss / 1024
    );
    println!(
        "RESULT walked={walked} files={} bytes={bytes} load_s={load_s:.2} scan_s={scan_s:.2} files_per_s={:.0} \
         mb_per_s={:.1} files_hit={files_hit} compromised={compromised} skipped={skipped} errors={errors} \
         yara_rules={} peak_rss_kb={rss}",
        results.len(),
        results.len() as f64 / scan_s,
        mb / scan_s,
        stats.compiled
    );
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn usage(msg: &str) -> ! {
    if !msg.is_empty() {
        eprintln!("error: {msg}");
    }
    eprintln!(
        "usage: sweep DIR [--yara DIR]... [--iocs DIR]... [--no-builtin] [--max-file-size BYTES] [--threads N] [--hits N]"
    );
    std::process::exit(2)
}
