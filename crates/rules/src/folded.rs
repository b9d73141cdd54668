//! Case-insensitive literal search as a case-sensitive one over ASCII-lower-cased text.
//!
//! A case-insensitive alternation of ~50 literals is slow for a SIMD literal searcher: every
//! letter doubles the variants, so the regex engine falls back to short prefixes that hit often.
//! Lower-casing the text first (one vectorised pass, position for position) lets the packed
//! Teddy searcher run over the exact literals instead. Rule literals are ASCII (see
//! [`crate::prefilter::is_stable`]), so folding only `A`–`Z` is exact; other bytes are kept.

use aho_corasick::{AhoCorasick, MatchKind, packed};

/// Writes `src` into `dst` with ASCII upper-case letters lower-cased (same length, same offsets).
pub fn fold_into(src: &[u8], dst: &mut Vec<u8>) {
    // Sized first, then a plain slice loop: the form the compiler vectorises.
    dst.resize(src.len(), 0);
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = fold_byte(s);
    }
}

/// Lower-cases ASCII letters in place.
pub fn fold_in_place(bytes: &mut [u8]) {
    for b in bytes {
        *b = fold_byte(*b);
    }
}

/// Branch-free so the loops above vectorise.
#[inline(always)]
fn fold_byte(b: u8) -> u8 {
    b | (((b.wrapping_sub(b'A') < 26) as u8) << 5)
}

/// Finds any of a set of lower-case literals in folded text.
#[derive(Debug, Clone)]
pub struct FoldedSearch {
    /// Teddy (SIMD) when the CPU and the number of literals allow it.
    teddy: Option<packed::Searcher>,
    /// The same literals as an automaton: used when Teddy cannot be built.
    automaton: AhoCorasick,
}

impl FoldedSearch {
    /// `literals` must be lower-case (they are matched exactly against folded text).
    pub fn new(literals: &[String]) -> FoldedSearch {
        let teddy =
            packed::Config::new().match_kind(packed::MatchKind::LeftmostFirst).builder().extend(literals).build();
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(literals)
            .expect("literal patterns always build");
        FoldedSearch { teddy, automaton }
    }

    /// Start of the first literal in `folded[at..]`, as an offset into `folded`.
    pub fn find_at(&self, folded: &[u8], at: usize) -> Option<usize> {
        self.find_pattern_at(folded, at).map(|(start, _)| start)
    }

    /// Start and pattern index of the first literal in `folded[at..]`.
    pub fn find_pattern_at(&self, folded: &[u8], at: usize) -> Option<(usize, usize)> {
        match &self.teddy {
            Some(t) => t
                .find_in(folded, aho_corasick::Span::from(at..folded.len()))
                .map(|m| (m.start(), m.pattern().as_usize())),
            None => self
                .automaton
                .find(aho_corasick::Input::new(folded).range(at..))
                .map(|m| (m.start(), m.pattern().as_usize())),
        }
    }

    /// True when `folded` holds a literal.
    pub fn is_match(&self, folded: &[u8]) -> bool {
        self.find_at(folded, 0).is_some()
    }

    /// True when the fast (SIMD) searcher is in use.
    pub fn is_simd(&self) -> bool {
        self.teddy.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_keeps_offsets_and_only_changes_ascii_capitals() {
        let src = "GET /OWA/auth/X.JS?a=Ä@[`{ 200\r\n".as_bytes();
        let mut out = Vec::new();
        fold_into(src, &mut out);
        assert_eq!(out, "get /owa/auth/x.js?a=Ä@[`{ 200\r\n".as_bytes());
        let mut all: Vec<u8> = (0..=255).collect();
        let mut again = Vec::new();
        fold_into(&all, &mut again);
        fold_in_place(&mut all);
        assert_eq!(all, again);
        for (b, f) in (0..=255u8).zip(all) {
            assert_eq!(f, b.to_ascii_lowercase(), "byte {b}");
        }
    }

    #[test]
    fn finds_literals_case_insensitively_from_an_offset() {
        let lits: Vec<String> = ["#fields:", "/ecp/y.js", "serverinfo~", "autodiscover.json"].map(String::from).into();
        let search = FoldedSearch::new(&lits);
        let text = b"x /ECP/Y.JS a\nb ServerInfo~1 #Fields: c";
        let mut folded = Vec::new();
        fold_into(text, &mut folded);
        assert_eq!(search.find_at(&folded, 0), Some(2));
        assert_eq!(search.find_at(&folded, 3), Some(16));
        assert_eq!(search.find_at(&folded, 17), Some(29));
        assert_eq!(search.find_at(&folded, 30), None);
        assert!(!search.is_match(b"get /owa/ 200"));
        // Short haystacks (below Teddy's minimum) are searched too.
        assert!(search.is_match(b"/ecp/y.js"));
    }

    #[test]
    fn the_fallback_automaton_agrees_with_teddy() {
        let lits: Vec<String> = (0..80).map(|i| format!("lit{i:03}x")).collect();
        let search = FoldedSearch::new(&lits);
        assert!(!search.is_simd(), "over 64 literals Teddy is not built");
        assert_eq!(search.find_at(b"aa lit079x lit001x", 0), Some(3));
        assert_eq!(search.find_at(b"aa lit079x lit001x", 4), Some(11));
    }
}
