//! The hot loop: one log file, streamed in chunks, searched for the rules' literals; only lines
//! that contain one are split into fields and evaluated.

use std::io::Read;

use jiff::Timestamp;
use taskforce_builds::Build;
use taskforce_evidence::PathHint;
use taskforce_report::{Effect, Severity, Stage};

use crate::identify::{self as identity, Identity};
use crate::percent;
use taskforce_logs::{ChunkReader, Format, Header, LogSource, Record, Span, time};
use taskforce_rules::{Binding, BoundRecord, Hit, Present, RuleSet};
use taskforce_sigma::SigmaSet;

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
            let line_state = LineState::new(&plan, &header);
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

struct LineState {
    binding: Binding,
    columns: Columns,
    spans: Vec<Span>,
    present: Present,
    last_line: u64,
    /// Lower-case column names of the current header (for Sigma's field lookups).
    names: Vec<String>,
    /// The current line with its percent escapes decoded (reused buffer).
    decoded: Vec<u8>,
}

impl LineState {
    fn new(plan: &ScanPlan<'_>, header: &Header) -> LineState {
        LineState {
            binding: plan.rules.bind(header, plan.source),
            columns: Columns::of(header),
            spans: Vec::with_capacity(96),
            present: Present::default(),
            last_line: 0,
            names: header.fields.iter().map(|f| f.to_ascii_lowercase()).collect(),
            decoded: Vec::new(),
        }
    }

    fn rebind(&mut self, plan: &ScanPlan<'_>, header: &Header) {
        self.binding = plan.rules.bind(header, plan.source);
        self.columns = Columns::of(header);
        self.names = header.fields.iter().map(|f| f.to_ascii_lowercase()).collect();
    }

    fn scan_chunk(
        &mut self,
        data: &[u8],
        first_line: u64,
        plan: &ScanPlan<'_>,
        header: &mut Header,
        out: &mut FileScan,
    ) {
        let mut counter = LineCounter { pos: 0, line: first_line };
        // The first and last rows give the time range, host name and build of the file.
        if let (false, Some((start, end))) = (out.data_rows_seen, first_data_line(data)) {
            let line_no = counter.at(data, start);
            self.observe(&data[start..end], line_no, plan, out, true);
        }
        let mut end = data.len();
        for _ in 0..3 {
            let Some((start, stop)) = last_data_line(&data[..end]) else {
                break;
            };
            let line_no = LineCounter { pos: 0, line: first_line }.at(data, start);
            if self.observe(&data[start..stop], line_no, plan, out, false) {
                break;
            }
            end = start;
        }
        let prefilter = plan.rules.prefilter(plan.source);
        if plan.every_line() {
            let mut start = 0;
            while start < data.len() {
                let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |i| start + i + 1);
                let line_no = counter.at(data, start);
                self.line(&data[start..end], line_no, plan, header, out);
                start = end;
            }
        } else {
            // Lines holding a literal, and (where rules read decoded values) lines whose
            // percent escapes hide one, in file order: a `#Fields:` line must rebind the
            // columns before the lines after it are read.
            let decodes = plan.rules.decodes(plan.source);
            let mut next_literal = prefilter.finder.find_at(data, 0).map(|m| m.start());
            let mut next_escape = if decodes { percent::next_escape(data, 0) } else { None };
            loop {
                let at = match (next_literal, next_escape) {
                    (None, None) => break,
                    (Some(l), Some(e)) => l.min(e),
                    (Some(l), None) => l,
                    (None, Some(e)) => e,
                };
                let start = memchr::memrchr(b'\n', &data[..at]).map_or(0, |i| i + 1);
                let end = memchr::memchr(b'\n', &data[at..]).map_or(data.len(), |i| at + i + 1);
                let line = &data[start..end];
                let holds_literal = next_literal.is_some_and(|l| l < end)
                    || (percent::decode_into(line, &mut self.decoded) && prefilter.finder.is_match(&self.decoded));
                if holds_literal {
                    let line_no = counter.at(data, start);
                    self.line(line, line_no, plan, header, out);
                }
                if end >= data.len() {
                    break;
                }
                if next_literal.is_some_and(|l| l < end) {
                    next_literal = prefilter.finder.find_at(data, end).map(|m| m.start());
                }
                if next_escape.is_some_and(|e| e < end) {
                    next_escape = percent::next_escape(data, end);
                }
            }
        }
        // The counter has counted up to the last line it was asked for; only the rest is counted
        // here (counting the whole chunk again cost 3% of a dense scan).
        self.last_line = counter.at(data, data.len());
    }

    /// Reads time, host and build from a data row; false when the row has no readable time.
    fn observe(&mut self, line: &[u8], line_no: u64, plan: &ScanPlan<'_>, out: &mut FileScan, first: bool) -> bool {
        let record = Record::parse(line, line_no, plan.format, &mut self.spans);
        let Some(t) = self.columns.time(&record).filter(|t| plausible(*t)) else {
            return false;
        };
        out.data_rows_seen = true;
        if first {
            out.first = Some(out.first.map_or(t, |f| f.min(t)));
            if out.host_name.is_none() {
                out.host_name = self
                    .columns
                    .host
                    .and_then(|h| record.field(h))
                    .map(|h| h.into_owned())
                    .filter(|h| !h.is_empty() && h != "-");
            }
        }
        out.last = Some(out.last.map_or(t, |l| l.max(t)));
        if let Some(build) = self.columns.build(&record) {
            out.build = Some((build, Some(t)));
        }
        true
    }

    fn line(&mut self, line: &[u8], line_no: u64, plan: &ScanPlan<'_>, header: &mut Header, out: &mut FileScan) {
        if line.first() == Some(&b'#') {
            if header.apply_directive(line) {
                self.rebind(plan, header);
            }
            return;
        }
        // Which rules can match: the line rules whose literals the line holds (all of them with
        // --thorough or a literal-less rule), and the Sigma web rules when one of theirs is in it.
        let all_line_rules = plan.thorough || plan.rules.prefilter(plan.source).parse_every_line;
        let gated = !all_line_rules;
        if gated {
            let prefilter = plan.rules.prefilter(plan.source);
            prefilter.fill(line, &mut self.present);
            // A literal may be percent-encoded (`/%61spnet_client/`) where rules read decoded
            // values; only lines with an escape of a literal character are decoded.
            if plan.rules.decodes(plan.source) && percent::decode_into(line, &mut self.decoded) {
                prefilter.fill_more(&self.decoded, &mut self.present);
            }
        }
        let line_rules = all_line_rules
            || plan.rules.indices_for(plan.source).iter().any(|&i| plan.rules.may_match(i, &self.present));
        let sigma_web = plan.sigma_web.filter(|s| s.web_may_match(line));
        if !line_rules && sigma_web.is_none() {
            return;
        }
        let record = Record::parse(line, line_no, plan.format, &mut self.spans);
        if record.line.is_empty() {
            return;
        }
        let view = BoundRecord { record: &record, binding: &self.binding };
        let mut time = None;
        for &index in plan.rules.indices_for(plan.source) {
            if gated && !plan.rules.may_match(index, &self.present) {
                continue;
            }
            let rule = &plan.rules.rules()[index];
            if let Some(hit) = rule.evaluate(&view) {
                let t = *time.get_or_insert_with(|| self.columns.time(&record));
                if !crate::scope::in_window(t, plan.window.0, plan.window.1)
                    || out.over_cap(RuleRef::Line(index), &hit, t, plan.max_hits_per_rule)
                {
                    continue;
                }
                out.hits.push(LineHit {
                    rule: RuleRef::Line(index),
                    hit,
                    time: t,
                    line: line_no,
                    excerpt: excerpt(&record.text()),
                });
            }
        }
        if let Some(sigma) = sigma_web {
            for sh in sigma.evaluate_web(&self.names, &record) {
                let hit = Hit {
                    severity: sh.rule.severity,
                    effect: sh.rule.effect,
                    stage: sh.rule.stage,
                    escalated: false,
                    detail: sh.matched.iter().map(|(k, v)| (format!("matched.{k}"), v.clone())).collect(),
                };
                let t = *time.get_or_insert_with(|| self.columns.time(&record));
                if !crate::scope::in_window(t, plan.window.0, plan.window.1)
                    || out.over_cap(RuleRef::Sigma(sh.index), &hit, t, plan.max_hits_per_rule)
                {
                    continue;
                }
                out.hits.push(LineHit {
                    rule: RuleRef::Sigma(sh.index),
                    hit,
                    time: t,
                    line: line_no,
                    excerpt: excerpt(&record.text()),
                });
            }
        }
    }
}

/// Whether a row's time can be a time the evidence was written: not after tomorrow. A garbled
/// or clock-skewed row dated in the future must not stretch the evidence window (a report whose
/// window reached 2099 would look like evidence from after any fix).
pub fn plausible(t: Timestamp) -> bool {
    Timestamp::now().checked_add(jiff::SignedDuration::from_hours(24)).is_ok_and(|limit| t <= limit)
}

/// Counts lines forward through a chunk; positions must be asked for in increasing order.
struct LineCounter {
    pos: usize,
    line: u64,
}

impl LineCounter {
    fn at(&mut self, data: &[u8], offset: usize) -> u64 {
        if offset > self.pos {
            self.line += bytecount::count(&data[self.pos..offset], b'\n') as u64;
            self.pos = offset;
        }
        self.line
    }
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
