//! The per-chunk work of [`super::scan`]: find the lines worth parsing, evaluate the rules on
//! them, and hand the hits to the file's cap in file order.
//!
//! A big chunk is cut at line bounds into pieces that are searched on several threads (rayon);
//! each piece counts its own lines, and the hits are merged piece by piece, so line numbers,
//! the order of hits and what the per-rule cap keeps are those of one sequential pass. A header
//! line (`#Fields:`) in a piece changes how the lines after it are read: the pieces after it are
//! then read again with the new header (IIS writes such a block only when it restarts).

use std::ops::Range;

use jiff::Timestamp;
use rayon::prelude::*;
use taskforce_logs::{Header, Record, Span};
use taskforce_rules::folded::{fold_in_place, fold_into};
use taskforce_rules::{Binding, BoundRecord, Hit, Present};

use super::{Columns, FileScan, LineHit, RuleRef, ScanPlan, excerpt, first_data_line, last_data_line};
use crate::percent;

/// Pieces are at least this long: below it, handing work to another thread costs more than the
/// search itself.
pub(crate) const MIN_PIECE: usize = 256 << 10;

/// How a chunk is cut into pieces for the threads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Split {
    /// Smallest piece (bytes).
    pub min_piece: usize,
    /// Most pieces per chunk.
    pub max_pieces: usize,
}

impl Split {
    /// Pieces of at least [`MIN_PIECE`], two per rayon thread at most (so a slow piece does not
    /// hold up the chunk).
    pub(crate) fn for_threads() -> Split {
        Split { min_piece: MIN_PIECE, max_pieces: 2 * rayon::current_num_threads() }
    }

    fn pieces(&self, len: usize) -> usize {
        (len / self.min_piece.max(1)).clamp(1, self.max_pieces.max(1))
    }
}

/// `data` cut into `n` ranges of about equal length, each ending just after a newline (the
/// last one at the end of `data`). Fewer when lines are long.
pub(crate) fn split_at_lines(data: &[u8], n: usize) -> Vec<Range<usize>> {
    let mut ranges = Vec::with_capacity(n);
    let mut start = 0;
    for k in 1..n {
        let target = data.len() * k / n;
        if target <= start {
            continue;
        }
        let Some(nl) = memchr::memchr(b'\n', &data[target..]) else {
            break;
        };
        let end = target + nl + 1;
        if end >= data.len() {
            break;
        }
        ranges.push(start..end);
        start = end;
    }
    ranges.push(start..data.len());
    ranges
}

/// What the columns of the current header mean to the rules.
#[derive(Clone)]
pub(crate) struct Bound {
    binding: Binding,
    pub(crate) columns: Columns,
    /// Lower-case column names (for Sigma's field lookups).
    names: Vec<String>,
}

impl Bound {
    fn of(plan: &ScanPlan<'_>, header: &Header) -> Bound {
        Bound {
            binding: plan.rules.bind(header, plan.source),
            columns: Columns::of(header),
            names: header.fields.iter().map(|f| f.to_ascii_lowercase()).collect(),
        }
    }
}

/// Buffers one thread reuses from line to line.
#[derive(Default)]
pub(crate) struct Scratch {
    pub(crate) spans: Vec<Span>,
    present: Present,
    /// The current line with its percent escapes decoded.
    decoded: Vec<u8>,
    /// The piece lower-cased for the literal search.
    folded: Vec<u8>,
}

/// A hit before the time window and the cap are applied: its line is kept as bounds into the
/// chunk, so a hit the cap drops costs no allocation.
struct Pending {
    rule: RuleRef,
    hit: Hit,
    time: Option<Timestamp>,
    /// Lines before this one since the start of its piece.
    line_in_piece: u64,
    bounds: Range<usize>,
}

/// What one piece found.
struct Piece {
    pending: Vec<Pending>,
    /// Newlines in the piece.
    newlines: u64,
    /// The header as the piece's directive lines left it, when they changed it.
    rebound: Option<(Header, Bound)>,
}

pub(crate) struct LineState {
    pub(crate) bound: Bound,
    /// One per piece (index 0 also for the sequential work).
    scratch: Vec<Scratch>,
    pub(crate) last_line: u64,
    split: Split,
}

impl LineState {
    pub(crate) fn new(plan: &ScanPlan<'_>, header: &Header, split: Split) -> LineState {
        LineState { bound: Bound::of(plan, header), scratch: vec![Scratch::default()], last_line: 0, split }
    }

    pub(crate) fn scan_chunk(
        &mut self,
        data: &[u8],
        first_line: u64,
        plan: &ScanPlan<'_>,
        header: &mut Header,
        out: &mut FileScan,
    ) {
        self.observe_ends(data, first_line, plan, out);
        let newlines = if plan.every_line() {
            let piece = every_line(data, plan, header, &mut self.bound, &mut self.scratch[0]);
            accept(data, first_line, piece.pending, plan, out);
            piece.newlines
        } else {
            self.search_pieces(data, first_line, plan, header, out)
        };
        self.last_line = first_line + newlines;
    }

    /// The first and last rows give the time range, host name and build of the file.
    fn observe_ends(&mut self, data: &[u8], first_line: u64, plan: &ScanPlan<'_>, out: &mut FileScan) {
        // Only the row's values are read here: no line number is needed (counting to the last
        // row would be a second pass over the chunk).
        if let (false, Some((start, end))) = (out.data_rows_seen, first_data_line(data)) {
            self.observe(&data[start..end], first_line, plan, out, true);
        }
        let mut end = data.len();
        for _ in 0..3 {
            let Some((start, stop)) = last_data_line(&data[..end]) else {
                break;
            };
            if self.observe(&data[start..stop], first_line, plan, out, false) {
                break;
            }
            end = start;
        }
    }

    /// The literal search, on several threads when the chunk is big; returns the chunk's newlines.
    fn search_pieces(
        &mut self,
        data: &[u8],
        first_line: u64,
        plan: &ScanPlan<'_>,
        header: &mut Header,
        out: &mut FileScan,
    ) -> u64 {
        let ranges = split_at_lines(data, self.split.pieces(data.len()));
        if ranges.len() == 1 {
            let piece = search_piece(data, 0..data.len(), plan, header, &mut self.bound, &mut self.scratch[0]);
            accept(data, first_line, piece.pending, plan, out);
            return piece.newlines;
        }
        if self.scratch.len() < ranges.len() {
            self.scratch.resize_with(ranges.len(), Scratch::default);
        }
        let start_header: &Header = header;
        let start_bound = &self.bound;
        let pieces: Vec<Piece> = ranges
            .par_iter()
            .zip(self.scratch.par_iter_mut())
            .map(|(range, scratch)| {
                let mut header = start_header.clone();
                let mut bound = start_bound.clone();
                search_piece(data, range.clone(), plan, &mut header, &mut bound, scratch)
            })
            .collect();
        // Merged in file order; after a piece that changed the header, the rest are read again
        // with it.
        let mut newlines = 0;
        let mut stale = false;
        for (range, piece) in ranges.iter().zip(pieces) {
            let mut piece = piece;
            if stale {
                piece = search_piece(data, range.clone(), plan, header, &mut self.bound, &mut self.scratch[0]);
            } else if let Some((h, b)) = piece.rebound.take() {
                *header = h;
                self.bound = b;
                stale = true;
            }
            accept(data, first_line + newlines, piece.pending, plan, out);
            newlines += piece.newlines;
        }
        newlines
    }

    /// Reads time, host and build from a data row; false when the row has no readable time.
    fn observe(&mut self, line: &[u8], line_no: u64, plan: &ScanPlan<'_>, out: &mut FileScan, first: bool) -> bool {
        let columns = &self.bound.columns;
        let record = Record::parse(line, line_no, plan.format, &mut self.scratch[0].spans);
        let Some(t) = columns.time(&record).filter(|t| super::plausible(*t)) else {
            return false;
        };
        out.data_rows_seen = true;
        if first {
            out.first = Some(out.first.map_or(t, |f| f.min(t)));
            if out.host_name.is_none() {
                out.host_name = columns
                    .host
                    .and_then(|h| record.field(h))
                    .map(|h| h.into_owned())
                    .filter(|h| !h.is_empty() && h != "-");
            }
        }
        out.last = Some(out.last.map_or(t, |l| l.max(t)));
        if let Some(build) = columns.build(&record) {
            out.build = Some((build, Some(t)));
        }
        true
    }
}

/// Hands a piece's hits to the file in order: the cap decides which are kept, and only those
/// get their line number and excerpt. `first_line` is the number of the piece's first line.
fn accept(data: &[u8], first_line: u64, pending: Vec<Pending>, plan: &ScanPlan<'_>, out: &mut FileScan) {
    for p in pending {
        if out.over_cap(p.rule, &p.hit, p.time, plan.max_hits_per_rule) {
            continue;
        }
        let line = taskforce_logs::split::trim_eol(&data[p.bounds]);
        out.hits.push(LineHit {
            rule: p.rule,
            hit: p.hit,
            time: p.time,
            line: first_line + p.line_in_piece,
            excerpt: excerpt(&String::from_utf8_lossy(line)),
        });
    }
}

/// Every line of the chunk evaluated (`--thorough`, a literal-less rule, Sigma web rules).
fn every_line(
    data: &[u8],
    plan: &ScanPlan<'_>,
    header: &mut Header,
    bound: &mut Bound,
    scratch: &mut Scratch,
) -> Piece {
    let mut piece = Piece { pending: Vec::new(), newlines: 0, rebound: None };
    let mut start = 0;
    while start < data.len() {
        let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |i| start + i + 1);
        if evaluate(data, start..end, None, piece.newlines, plan, header, bound, scratch, &mut piece.pending) {
            piece.rebound = Some((header.clone(), bound.clone()));
        }
        piece.newlines += (data[end - 1] == b'\n') as u64;
        start = end;
    }
    piece
}

/// Lines of `data[range]` holding a literal, and (where rules read decoded values) lines whose
/// percent escapes hide one, in file order: a `#Fields:` line must rebind the columns before the
/// lines after it are read. The range starts and ends at line bounds.
fn search_piece(
    data: &[u8],
    range: Range<usize>,
    plan: &ScanPlan<'_>,
    header: &mut Header,
    bound: &mut Bound,
    scratch: &mut Scratch,
) -> Piece {
    let base = range.start;
    let text = &data[range];
    let prefilter = plan.rules.prefilter(plan.source);
    let decodes = plan.rules.decodes(plan.source);
    let mut folded = std::mem::take(&mut scratch.folded);
    fold_into(text, &mut folded);
    let mut piece = Piece { pending: Vec::new(), newlines: 0, rebound: None };
    // Newlines are counted only up to the lines that are evaluated, then once to the end.
    let mut counted_to = 0;
    let mut next_literal = prefilter.search.find_at(&folded, 0);
    let mut next_escape = if decodes { percent::next_escape(text, 0) } else { None };
    loop {
        let at = match (next_literal, next_escape) {
            (None, None) => break,
            (Some(l), Some(e)) => l.min(e),
            (Some(l), None) => l,
            (None, Some(e)) => e,
        };
        let start = memchr::memrchr(b'\n', &text[..at]).map_or(0, |i| i + 1);
        let end = memchr::memchr(b'\n', &text[at..]).map_or(text.len(), |i| at + i + 1);
        let line = &text[start..end];
        let holds_literal = next_literal.is_some_and(|l| l < end)
            || (percent::decode_into(line, &mut scratch.decoded) && {
                fold_in_place(&mut scratch.decoded);
                prefilter.search.is_match(&scratch.decoded)
            });
        if holds_literal {
            piece.newlines += bytecount::count(&text[counted_to..start], b'\n') as u64;
            counted_to = start;
            let bounds = base + start..base + end;
            let folded_line = Some(&folded[start..end]);
            if evaluate(data, bounds, folded_line, piece.newlines, plan, header, bound, scratch, &mut piece.pending) {
                piece.rebound = Some((header.clone(), bound.clone()));
            }
        }
        if end >= text.len() {
            break;
        }
        if next_literal.is_some_and(|l| l < end) {
            next_literal = prefilter.search.find_at(&folded, end);
        }
        if next_escape.is_some_and(|e| e < end) {
            next_escape = percent::next_escape(text, end);
        }
    }
    piece.newlines += bytecount::count(&text[counted_to..], b'\n') as u64;
    scratch.folded = folded;
    piece
}

/// Evaluates the rules on the line `data[bounds]` (numbered `line_in_piece` from its piece's
/// start; `folded`: the same line lower-cased, when at hand); hits inside the time window go to
/// `pending`. True when the line is a header directive that changed how columns are read.
#[allow(clippy::too_many_arguments)]
fn evaluate(
    data: &[u8],
    bounds: Range<usize>,
    folded: Option<&[u8]>,
    line_in_piece: u64,
    plan: &ScanPlan<'_>,
    header: &mut Header,
    bound: &mut Bound,
    scratch: &mut Scratch,
    pending: &mut Vec<Pending>,
) -> bool {
    let line = &data[bounds.clone()];
    if line.first() == Some(&b'#') {
        if header.apply_directive(line) {
            *bound = Bound::of(plan, header);
            return true;
        }
        return false;
    }
    // Which rules can match: the line rules whose literals the line holds (all of them with
    // --thorough or a literal-less rule), and the Sigma web rules when one of theirs is in it.
    let all_line_rules = plan.thorough || plan.rules.prefilter(plan.source).parse_every_line;
    let gated = !all_line_rules;
    if gated {
        let prefilter = plan.rules.prefilter(plan.source);
        match folded {
            Some(f) => prefilter.fill_folded(f, &mut scratch.present),
            None => prefilter.fill(line, &mut scratch.present),
        }
        // A literal may be percent-encoded (`/%61spnet_client/`) where rules read decoded
        // values; only lines with an escape of a literal character are decoded.
        if plan.rules.decodes(plan.source) && percent::decode_into(line, &mut scratch.decoded) {
            fold_in_place(&mut scratch.decoded);
            prefilter.fill_more_folded(&scratch.decoded, &mut scratch.present);
        }
    }
    let present = &scratch.present;
    let line_rules =
        all_line_rules || plan.rules.indices_for(plan.source).iter().any(|&i| plan.rules.may_match(i, present));
    let sigma_web = plan.sigma_web.filter(|s| s.web_may_match(line));
    if !line_rules && sigma_web.is_none() {
        return false;
    }
    let record = Record::parse(line, line_in_piece, plan.format, &mut scratch.spans);
    if record.line.is_empty() {
        return false;
    }
    let view = BoundRecord { record: &record, binding: &bound.binding };
    let mut time = None;
    let mut keep = |rule: RuleRef, hit: Hit, time: Option<Timestamp>| {
        if crate::scope::in_window(time, plan.window.0, plan.window.1) {
            pending.push(Pending { rule, hit, time, line_in_piece, bounds: bounds.clone() });
        }
    };
    for &index in plan.rules.indices_for(plan.source) {
        if gated && !plan.rules.may_match(index, present) {
            continue;
        }
        let rule = &plan.rules.rules()[index];
        if let Some(hit) = rule.evaluate(&view) {
            let t = *time.get_or_insert_with(|| bound.columns.time(&record));
            keep(RuleRef::Line(index), hit, t);
        }
    }
    if let Some(sigma) = sigma_web {
        for sh in sigma.evaluate_web(&bound.names, &record) {
            let hit = Hit {
                severity: sh.rule.severity,
                effect: sh.rule.effect,
                stage: sh.rule.stage,
                escalated: false,
                detail: sh.matched.iter().map(|(k, v)| (format!("matched.{k}"), v.clone())).collect(),
            };
            let t = *time.get_or_insert_with(|| bound.columns.time(&record));
            keep(RuleRef::Sigma(sh.index), hit, t);
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_end_after_newlines_and_cover_the_data() {
        let data = b"aaaa\nbbbbbbbb\ncc\ndddddddddd\ne";
        for n in 1..8 {
            let ranges = split_at_lines(data, n);
            assert!(ranges.len() <= n);
            assert_eq!(ranges[0].start, 0);
            assert_eq!(ranges.last().unwrap().end, data.len());
            for w in ranges.windows(2) {
                assert_eq!(w[0].end, w[1].start);
                assert_eq!(data[w[0].end - 1], b'\n');
            }
        }
        assert_eq!(split_at_lines(b"one long line", 4), vec![0..13]);
        assert_eq!(split_at_lines(b"", 3), vec![0..0]);
    }
}
