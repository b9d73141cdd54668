//! The hot loop: one log file, streamed in chunks, searched for the rules' literals; only lines
//! that contain one are split into fields and evaluated.

use std::io::Read;

use jiff::Timestamp;
use taskforce_builds::Build;
use taskforce_evidence::PathHint;
use taskforce_report::{Effect, Severity, Stage};

use crate::identify::{self as identity, Identity};
use taskforce_logs::{ChunkReader, Format, Header, LogSource, Record, time};
use taskforce_rules::{Hit, RuleSet};
use taskforce_sigma::SigmaSet;

mod lines;
use lines::{LineState, Split};

/// Which rule set a hit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleRef {
    /// Index into the hunt [`RuleSet`].
    Line(usize),
    /// Index into the Sigma set's rules (webserver rules over IIS lines).
    Sigma(usize),
}

/// A rule hit on one line, before it becomes a report finding.
#[derive(Debug, Clone)]
pub struct LineHit {
    pub rule: RuleRef,
    pub hit: Hit,
    pub time: Option<Timestamp>,
    pub line: u64,
    pub excerpt: String,
}

/// Hits of one rule (with one effect) beyond the cap: counted, not kept.
#[derive(Debug, Clone, Copy)]
pub struct Overflow {
    pub rule: RuleRef,
    pub effect: Effect,
    pub severity: Severity,
    pub stage: Stage,
    pub count: u64,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
}

impl Overflow {
    pub fn new(rule: RuleRef, effect: Effect, severity: Severity, stage: Stage) -> Overflow {
        Overflow { rule, effect, severity, stage, count: 0, first: None, last: None }
    }

    pub fn add(&mut self, time: Option<Timestamp>) {
        self.count += 1;
        if let Some(t) = time {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
        }
    }
}

/// How a file is read, beyond the rules.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// Evaluate every line, ignoring the prefilter.
    pub thorough: bool,
    /// Hits kept per rule and effect in one file; the rest are counted in [`FileScan::overflow`],
    /// so a log full of scanner lines cannot exhaust memory.
    pub max_hits_per_rule: usize,
    /// The responder's time window (`--since`, `--until`): hits outside it are dropped before
    /// they can take a place under the cap. Undated hits are inside.
    pub window: (Option<Timestamp>, Option<Timestamp>),
}

/// What one file contributed.
#[derive(Debug, Default)]
pub struct FileScan {
    pub hits: Vec<LineHit>,
    /// Hits over the cap, per rule and effect.
    pub overflow: Vec<Overflow>,
    /// Hits kept so far per rule and effect (the cap's bookkeeping).
    kept: std::collections::HashMap<(RuleRef, Effect), usize>,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    /// The server build this file shows, with the time it was seen.
    pub build: Option<(Build, Option<Timestamp>)>,
    pub host_name: Option<String>,
    pub data_rows_seen: bool,
    /// A read error part-way through (damaged archive member, I/O error); hits before it are kept.
    pub error: Option<String>,
}

impl FileScan {
    /// True when `rule` already has `cap` hits with this effect here: the hit is counted in
    /// `overflow` instead of kept.
    fn over_cap(&mut self, rule: RuleRef, hit: &Hit, time: Option<Timestamp>, cap: usize) -> bool {
        let kept = self.kept.entry((rule, hit.effect)).or_default();
        if *kept < cap {
            *kept += 1;
            return false;
        }
        match self.overflow.iter_mut().find(|o| o.rule == rule && o.effect == hit.effect) {
            Some(o) => o.add(time),
            None => {
                let mut o = Overflow::new(rule, hit.effect, hit.severity, hit.stage);
                o.add(time);
                self.overflow.push(o);
            }
        }
        true
    }
}

/// How a file is read: which rules, and with which source and row layout.
pub struct ScanPlan<'a> {
    pub rules: &'a RuleSet,
    pub source: LogSource,
    pub format: Format,
    /// Evaluate every line, ignoring the prefilter.
    pub thorough: bool,
    /// Sigma `webserver` rules, run over every IIS line when loaded.
    pub sigma_web: Option<&'a SigmaSet>,
    pub max_hits_per_rule: usize,
    pub window: (Option<Timestamp>, Option<Timestamp>),
}

impl ScanPlan<'_> {
    /// Lines are parsed only when they hold a literal, unless something needs every line.
    fn every_line(&self) -> bool {
        self.thorough || self.rules.prefilter(self.source).parse_every_line || self.sigma_web.is_some()
    }
}

/// How to tell what a file is.
#[derive(Debug, Clone, Copy)]
pub enum Identify {
    /// From its path hint and header.
    Auto(PathHint),
    /// Already known (the correlation pass re-reads files identified in the first pass).
    Known(LogSource, Format),
}

/// The result of reading one file.
#[derive(Debug)]
pub enum Outcome {
    Scanned {
        source: LogSource,
        scan: Box<FileScan>,
    },
    /// Not one of the logs the checks read; what it is when its header says so.
    NotALog(Option<String>),
    Unreadable(String),
}

const EXCERPT_MAX: usize = 600;

/// Column positions that give a row's time, host and build under the current header.
#[derive(Debug, Default, Clone)]
struct Columns {
    time: Option<usize>,
    date: Option<usize>,
    host: Option<usize>,
    version: [Option<usize>; 4],
}

impl Columns {
    fn of(header: &Header) -> Columns {
        let col = |n: &str| header.column(n);
        Columns {
            time: col("datetime").or_else(|| col("timestamp")).or_else(|| col("time")),
            date: col("date"),
            host: col("serverhostname").or_else(|| col("servername")).or_else(|| col("s-computername")),
            version: [col("majorversion"), col("minorversion"), col("buildversion"), col("revisionversion")],
        }
    }

    fn time(&self, record: &Record<'_>) -> Option<Timestamp> {
        if record.format == Format::Lines {
            return time::find_in_line(record.line);
        }
        let t = record.field(self.time?)?;
        match self.date.and_then(|d| record.field(d)) {
            Some(d) => time::parse_date_time(&d, &t),
            None => time::parse(&t),
        }
    }

    fn build(&self, record: &Record<'_>) -> Option<Build> {
        let parts: Vec<String> = self
            .version
            .iter()
            .map(|c| c.and_then(|i| record.field(i)).map(|v| v.into_owned()))
            .collect::<Option<_>>()?;
        let build: Build = parts.join(".").parse().ok()?;
        (build.build > 0).then_some(build)
    }
}

/// Reads one file with `rules`. Never fails: a read error part-way is kept in
/// `FileScan::error` with the hits found before it.
pub fn scan(
    reader: Box<dyn Read + Send + '_>,
    size: Option<u64>,
    identify: Identify,
    rules: &RuleSet,
    tuning: Tuning,
    sigma: Option<&SigmaSet>,
    progress: &(dyn Fn(u64) + Sync),
) -> Outcome {
    scan_split(reader, size, identify, rules, tuning, sigma, progress, Split::for_threads())
}

/// [`scan`] with the chunk cut into pieces as `split` says (tests cut small files too).
#[allow(clippy::too_many_arguments)]
fn scan_split(
    reader: Box<dyn Read + Send + '_>,
    size: Option<u64>,
    identify: Identify,
    rules: &RuleSet,
    tuning: Tuning,
    sigma: Option<&SigmaSet>,
    progress: &(dyn Fn(u64) + Sync),
    split: Split,
) -> Outcome {
    let mut chunks = match ChunkReader::with_size_hint(reader, size) {
        Ok(c) => c,
        Err(e) => return unreadable_or_not(identify, format!("read error: {e}")),
    };
    let mut out = FileScan::default();
    let mut header = Header::default();
    let mut state: Option<(ScanPlan<'_>, LineState)> = None;
    loop {
        let chunk = match chunks.next_chunk() {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                let line = state.as_ref().map_or(0, |(_, s)| s.last_line);
                if state.is_none() {
                    return unreadable_or_not(identify, format!("read error: {e}"));
                }
                out.error = Some(format!("read error after line {line}: {e}"));
                break;
            }
        };
        progress(chunk.data.len() as u64);
        if chunk.is_first {
            let sniffed = Header::sniff(chunk.data);
            let (source, format) = match identify {
                Identify::Known(source, format) => (source, format),
                Identify::Auto(hint) => {
                    let head = sniffed.as_ref().map_err(|e| e.to_string());
                    match identity::identify(hint, head) {
                        Identity::Log(source, format) => (source, format),
                        Identity::NotALog(what) => return Outcome::NotALog(what),
                        Identity::Unreadable(reason) => return Outcome::Unreadable(reason),
                    }
                }
            };
            if let Ok(h) = sniffed {
                header = h;
            }
            if let Some(build) = header_build(&header) {
                out.build = Some((build, None));
            }
            let sigma_web = sigma.filter(|s| source == LogSource::Iis && s.has_webserver_rules());
            let plan = ScanPlan {
                rules,
                source,
                format,
                thorough: tuning.thorough,
                sigma_web,
                max_hits_per_rule: tuning.max_hits_per_rule,
                window: tuning.window,
            };
            let line_state = LineState::new(&plan, &header, split);
            state = Some((plan, line_state));
        }
        let Some((plan, line_state)) = state.as_mut() else {
            break;
        };
        line_state.scan_chunk(chunk.data, chunk.first_line, plan, &mut header, &mut out);
    }
    match state {
        Some((plan, _)) => Outcome::Scanned { source: plan.source, scan: Box::new(out) },
        None => unreadable_or_not(identify, "empty file".to_string()),
    }
}

fn unreadable_or_not(identify: Identify, reason: String) -> Outcome {
    match identify {
        Identify::Auto(PathHint::Other) => Outcome::NotALog(None),
        _ => Outcome::Unreadable(reason),
    }
}

/// The build in an Exchange log's `#Version:` line (`15.01.2176.002`). ECP writes `15.0.0.0`,
/// which says nothing, so builds without a build number are ignored.
fn header_build(header: &Header) -> Option<Build> {
    if !header.software.as_deref().unwrap_or("").contains("Exchange") {
        return None;
    }
    let build: Build = header.version.as_deref()?.parse().ok()?;
    (build.build > 0).then_some(build)
}

/// Whether a row's time can be a time the evidence was written: not after tomorrow. A garbled
/// or clock-skewed row dated in the future must not stretch the evidence window (a report whose
/// window reached 2099 would look like evidence from after any fix).
pub fn plausible(t: Timestamp) -> bool {
    Timestamp::now().checked_add(jiff::SignedDuration::from_hours(24)).is_ok_and(|limit| t <= limit)
}

fn is_data_line(line: &[u8]) -> bool {
    let trimmed = taskforce_logs::split::trim_eol(line);
    !trimmed.is_empty() && trimmed[0] != b'#'
}

fn first_data_line(data: &[u8]) -> Option<(usize, usize)> {
    let mut start = 0;
    while start < data.len() {
        let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |i| start + i + 1);
        if is_data_line(&data[start..end]) {
            return Some((start, end));
        }
        start = end;
    }
    None
}

/// The last row of a chunk that is a data line; a truncated last line is tried too.
fn last_data_line(data: &[u8]) -> Option<(usize, usize)> {
    let mut end = data.len();
    for _ in 0..4 {
        if end == 0 {
            return None;
        }
        let search_to = if data[end - 1] == b'\n' { end - 1 } else { end };
        let start = memchr::memrchr(b'\n', &data[..search_to]).map_or(0, |i| i + 1);
        if is_data_line(&data[start..end]) {
            return Some((start, end));
        }
        end = start;
    }
    None
}

/// A finding's excerpt: the text trimmed, cut at `EXCERPT_MAX` bytes on a character boundary.
pub(crate) fn excerpt(text: &str) -> String {
    let text = text.trim();
    if text.len() <= EXCERPT_MAX {
        return text.to_string();
    }
    let mut cut = EXCERPT_MAX;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &text[..cut])
}

#[cfg(test)]
mod tests;
