//! Literal prefilters derived from the rules: the strings, one of which must appear in any line a
//! rule can match. Lines without any of them are skipped before they are split into fields.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::condition::Expr;
use crate::folded::FoldedSearch;
use crate::matcher::{FieldTest, Op, Selection, ValueTest};

/// `None`: no literal is necessary (the rule can match lines without any known string).
pub type Literals = Option<Vec<String>>;

/// Shortest literal worth searching for; shorter ones match too many lines to help.
const MIN_LITERAL: usize = 3;

/// Characters that appear unchanged in a raw log line whatever the URL encoding of the request;
/// a literal is a run of them taken from a rule value.
pub fn is_stable(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '~' | ':' | '\\')
}

/// The longest stable run of the texts (the plain parts of a rule value), lower-cased, if it is
/// long enough to be useful.
pub fn stable_run<'a>(texts: impl IntoIterator<Item = &'a str>) -> Literals {
    let run = texts.into_iter().flat_map(|t| t.split(|c: char| !is_stable(c))).max_by_key(|run| run.len())?;
    (run.len() >= MIN_LITERAL).then(|| vec![run.to_ascii_lowercase()])
}

fn test_literal(test: &ValueTest) -> Literals {
    match test.op {
        Op::Regex(_) | Op::Empty => None,
        _ => stable_run([test.needle.as_str()]),
    }
}

fn field_literals(test: &FieldTest) -> Literals {
    let per_value = test.tests.iter().map(test_literal);
    if test.all { per_value.fold(None, best) } else { union(per_value) }
}

fn selection_literals(sel: &Selection) -> Literals {
    union(sel.alternatives.iter().map(|alt| alt.iter().map(field_literals).fold(None, best)))
}

/// Literals of a condition: `and` keeps the better side, `or` needs every side, `not` gives none.
pub fn expr_literals(expr: &Expr, selections: &[Selection]) -> Literals {
    match expr {
        Expr::Sel(i) => selection_literals(&selections[*i]),
        Expr::Not(_) => None,
        Expr::And(parts) => parts.iter().map(|p| expr_literals(p, selections)).fold(None, best),
        Expr::Or(parts) => union(parts.iter().map(|p| expr_literals(p, selections))),
    }
}

/// Literals of an `or`: every side must have some.
pub fn union(items: impl Iterator<Item = Literals>) -> Literals {
    let mut all = Vec::new();
    for item in items {
        all.extend(item?);
    }
    if all.is_empty() { None } else { Some(all) }
}

/// The more selective of two literal sets: longer shortest literal first, then fewer literals.
pub fn best(a: Literals, b: Literals) -> Literals {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(a), Some(b)) => {
            let score = |s: &Vec<String>| (s.iter().map(String::len).min().unwrap_or(0), usize::MAX - s.len());
            Some(if score(&b) > score(&a) { b } else { a })
        }
    }
}

/// A case-insensitive search for any of `literals`, run by the regex engine's SIMD literal
/// searcher (several times faster here than a case-insensitive automaton).
pub fn literal_finder(literals: &[String]) -> regex::bytes::Regex {
    let alternation: Vec<String> = literals.iter().map(|p| regex::escape(p)).collect();
    regex::bytes::RegexBuilder::new(&alternation.join("|"))
        .case_insensitive(true)
        .unicode(false)
        .size_limit(64 << 20)
        .build()
        .expect("escaped literals always build")
}

/// The literal that marks a header line; always searched, so IIS's mid-file header blocks apply.
pub const FIELDS_DIRECTIVE: &str = "#Fields:";

/// One source's prefilter: an Aho-Corasick automaton over the rules' literals (pattern 0 is
/// [`FIELDS_DIRECTIVE`], pattern `i + 1` is `literals[i]`), or "parse every line" when some rule
/// has no literal.
#[derive(Debug, Clone)]
pub struct Prefilter {
    /// Finds the next line worth parsing, in ASCII-lower-cased text (see [`crate::folded`]):
    /// exact SIMD search over the literals, faster than a case-insensitive alternation.
    pub search: FoldedSearch,
    /// Tells which patterns a candidate line holds (overlapping search), to gate rules.
    pub automaton: AhoCorasick,
    pub literals: Vec<String>,
    pub parse_every_line: bool,
}

/// The set of prefilter patterns present in one line.
#[derive(Debug, Clone, Default)]
pub struct Present {
    bits: Vec<u64>,
}

impl Present {
    pub fn contains(&self, pattern: usize) -> bool {
        self.bits.get(pattern / 64).is_some_and(|w| w & (1 << (pattern % 64)) != 0)
    }
}

impl Prefilter {
    pub fn build(literals: Vec<String>, parse_every_line: bool) -> Prefilter {
        let mut lits: Vec<String> = literals.into_iter().map(|l| l.to_ascii_lowercase()).collect();
        lits.sort_by(|a, b| a.len().cmp(&b.len()).then(a.cmp(b)));
        lits.dedup();
        // A literal that contains a shorter one is implied by it.
        let mut minimal: Vec<String> = Vec::new();
        for lit in lits {
            if !minimal.iter().any(|m| lit.contains(m.as_str())) {
                minimal.push(lit);
            }
        }
        let mut patterns = vec![FIELDS_DIRECTIVE.to_ascii_lowercase()];
        patterns.extend(minimal.iter().cloned());
        let automaton = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&patterns)
            .expect("literal patterns always build");
        Prefilter { search: FoldedSearch::new(&patterns), automaton, literals: minimal, parse_every_line }
    }

    /// Marks every pattern that occurs in `line`, so only the rules that can match it run.
    pub fn fill(&self, line: &[u8], present: &mut Present) {
        present.bits.clear();
        present.bits.resize(self.literals.len() / 64 + 1, 0);
        self.fill_more(line, present);
    }

    /// Marks the patterns that occur in `text` too (a line's decoded form after its raw form).
    pub fn fill_more(&self, text: &[u8], present: &mut Present) {
        present.bits.resize(self.literals.len() / 64 + 1, 0);
        for m in self.automaton.find_overlapping_iter(text) {
            let p = m.pattern().as_usize();
            present.bits[p / 64] |= 1 << (p % 64);
        }
    }

    /// [`Prefilter::fill`] for a line already lower-cased ([`crate::folded`]).
    pub fn fill_folded(&self, folded: &[u8], present: &mut Present) {
        present.bits.clear();
        present.bits.resize(self.literals.len() / 64 + 1, 0);
        self.fill_more_folded(folded, present);
    }

    /// [`Prefilter::fill_more`] for lower-cased text, with the SIMD literal search: no pattern
    /// contains another (the set is minimal, and `#fields:` is the only one with `#`), so no
    /// two start at the same place, and searching again one byte after each match finds every
    /// occurrence, overlapping ones too (the overlapping automaton walked every byte).
    pub fn fill_more_folded(&self, folded: &[u8], present: &mut Present) {
        present.bits.resize(self.literals.len() / 64 + 1, 0);
        let mut at = 0;
        while let Some((start, p)) = self.search.find_pattern_at(folded, at) {
            present.bits[p / 64] |= 1 << (p % 64);
            at = start + 1;
        }
    }

    /// Pattern ids that imply one of `literals` may be present (a pattern that is a substring of
    /// a literal): a rule need not run on a line where none of them occurs.
    pub fn gate_for(&self, literals: &[String]) -> Vec<usize> {
        self.literals
            .iter()
            .enumerate()
            .filter(|(_, pat)| literals.iter().any(|l| l.to_ascii_lowercase().contains(pat.as_str())))
            .map(|(i, _)| i + 1)
            .collect()
    }

    /// True when some literal occurs in `text` (ASCII case-insensitive).
    pub fn admits(&self, text: &str) -> bool {
        self.parse_every_line || self.automaton.is_match(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::condition;
    use crate::fields::FieldTable;
    use crate::matcher::compile_selection;

    fn lits(yaml: &str, cond: &str) -> Literals {
        let doc: serde_norway::Mapping = serde_norway::from_str(yaml).unwrap();
        let mut table = FieldTable::default();
        let mut names = Vec::new();
        let mut sels = Vec::new();
        for (k, v) in &doc {
            names.push(k.as_str().unwrap().to_string());
            sels.push(compile_selection(v, &mut table).unwrap());
        }
        let expr = condition::parse(cond, &names).unwrap();
        expr_literals(&expr, &sels).map(|mut v| {
            v.sort();
            v
        })
    }

    #[test]
    fn and_picks_the_rarer_side_or_unions_not_ignored() {
        let yaml = "a: {cs-method: POST, cs-uri-stem|startswith: '/owa/auth/Current/'}\nb: {AnchorMailbox|contains: 'ServerInfo~'}\nf: {UserAgent: zgrab}";
        assert_eq!(lits(yaml, "a").unwrap(), ["/owa/auth/current/"]);
        assert_eq!(lits(yaml, "a or b").unwrap(), ["/owa/auth/current/", "serverinfo~"]);
        assert_eq!(lits(yaml, "b and not f").unwrap(), ["serverinfo~"]);
        assert_eq!(lits(yaml, "not f"), None);
        assert_eq!(lits(yaml, "a or not f"), None);
    }

    #[test]
    fn values_are_cut_at_characters_that_url_encoding_changes() {
        let yaml = "a: {cs-uri|contains: ['autodiscover.json?@', 'Email=autodiscover/autodiscover.json']}\nr: {line|re: 'x.*y'}";
        assert_eq!(lits(yaml, "a").unwrap(), ["autodiscover.json", "autodiscover/autodiscover.json"]);
        assert_eq!(lits(yaml, "r"), None);
        assert_eq!(lits(yaml, "a and r").unwrap(), ["autodiscover.json", "autodiscover/autodiscover.json"]);
    }

    #[test]
    fn automaton_is_case_insensitive_and_minimal() {
        let p = Prefilter::build(vec!["serverinfo~".into(), "xserverinfo~y".into(), "/ecp/y.js".into()], false);
        assert_eq!(p.literals, ["/ecp/y.js", "serverinfo~"]);
        assert!(p.admits("POST /ECP/Y.JS 200"));
        assert!(!p.admits("GET /owa/ 200"));
        assert!(p.automaton.is_match("#Fields: date time"));
    }

    #[test]
    fn folded_fill_marks_the_same_patterns_as_the_case_insensitive_one() {
        let p = Prefilter::build(vec!["serverinfo~".into(), "/ecp/".into(), "ecp/y".into(), "/owa/".into()], false);
        for line in [
            "POST /ECP/Y.js ServerInfo~a",
            "#Fields: x",
            "get /owa/ /Ecp/",
            "nothing here",
            "",
            "/ecp/y/ecp/yy /ecp/y serverinfo~serverinfo~ a long line to get past the short-haystack search /owa//owa/",
        ] {
            let (mut a, mut b) = (Present::default(), Present::default());
            p.fill(line.as_bytes(), &mut a);
            let mut folded = Vec::new();
            crate::folded::fold_into(line.as_bytes(), &mut folded);
            p.fill_folded(&folded, &mut b);
            assert_eq!(a.bits, b.bits, "{line}");
        }
    }
}
