//! Our own candidate index for a log-source group: one Aho-Corasick automaton (a contiguous NFA)
//! over the literal needles of the group's compiled rules, mapping each needle to the rules that
//! need it.
//!
//! `rsigma-eval` 0.23's `Engine` builds a candidate index of its own, with one Aho-Corasick DFA per
//! field (the kind is fixed inside the crate); for SigmaHQ's Windows rules those DFAs were more than
//! half of the hunt's heap. A contiguous NFA over the same kind of needles is a fraction of that
//! and still scans an event's few hundred bytes quickly.
//!
//! A rule's needles are derived from what it compiled to (so modifiers such as `windash` or
//! `base64offset`, already expanded into plain matchers, give needles too): at least one of them
//! occurs, case-folded as the matchers fold, in some string value of every event the rule matches.
//! A rule without such a set is evaluated on every event of its group. The index may return rules
//! that do not match, never omit one that would: the results are those of evaluating every rule.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use rsigma_eval::matcher::ascii_lowercase_cow;
use rsigma_eval::{CompiledDetection, CompiledMatcher, CompiledRule};
use rsigma_parser::{ConditionExpr, Quantifier};
use std::collections::HashMap;
use taskforce_rules::prefilter::{Literals, best, union};

/// The needles one of which is in some string value of every event `rule` matches, or `None`.
pub(crate) fn rule_needles(rule: &CompiledRule) -> Literals {
    union(rule.conditions.iter().map(|c| condition_needles(c, rule)))
}

fn condition_needles(expr: &ConditionExpr, rule: &CompiledRule) -> Literals {
    match expr {
        ConditionExpr::And(parts) => parts.iter().map(|p| condition_needles(p, rule)).fold(None, best),
        ConditionExpr::Or(parts) => union(parts.iter().map(|p| condition_needles(p, rule))),
        ConditionExpr::Not(_) => None,
        ConditionExpr::Identifier(name) => rule.detections.get(name).and_then(detection_needles),
        ConditionExpr::Selector { quantifier, pattern } => {
            let selected = rule.detections.iter().filter(|(name, _)| pattern.matches_detection_name(name));
            let per = selected.map(|(_, d)| detection_needles(d));
            match quantifier {
                // Every selected detection must match: any one of them gives a witness.
                Quantifier::All => per.fold(None, best),
                Quantifier::Any => union(per),
                Quantifier::Count(n) if *n >= 1 => union(per),
                Quantifier::Count(_) => None,
            }
        }
    }
}

fn detection_needles(detection: &CompiledDetection) -> Literals {
    match detection {
        // An item with an existence test matches without a value.
        CompiledDetection::AllOf(items) => {
            items.iter().filter(|i| i.exists.is_none()).map(|i| matcher_needles(&i.matcher)).fold(None, best)
        }
        CompiledDetection::AnyOf(parts) => union(parts.iter().map(detection_needles)),
        CompiledDetection::And(parts) => parts.iter().map(detection_needles).fold(None, best),
        CompiledDetection::Keywords(matcher) => matcher_needles(matcher),
        // Array scopes and element conditions: not derived (such rules are always evaluated).
        _ => None,
    }
}

/// A string matcher's value as a needle: case-insensitive values are stored folded already; a
/// case-sensitive ASCII value is folded here (if a value contains it, its fold contains the
/// fold); an empty value or a case-sensitive non-ASCII one gives none.
fn needle(value: &str, case_insensitive: bool) -> Literals {
    if value.is_empty() {
        return None;
    }
    if case_insensitive {
        Some(vec![value.to_string()])
    } else if value.is_ascii() {
        Some(vec![value.to_ascii_lowercase()])
    } else {
        None
    }
}

fn matcher_needles(matcher: &CompiledMatcher) -> Literals {
    use CompiledMatcher as M;
    match matcher {
        M::Exact { value, case_insensitive }
        | M::Contains { value, case_insensitive }
        | M::StartsWith { value, case_insensitive }
        | M::EndsWith { value, case_insensitive } => needle(value, *case_insensitive),
        M::AhoCorasickSet { needles, case_insensitive, .. } => {
            union(needles.iter().map(|n| needle(n, *case_insensitive)))
        }
        M::AnyOf(children) => union(children.iter().map(matcher_needles)),
        M::AllOf(children) => children.iter().map(matcher_needles).fold(None, best),
        M::CaseInsensitiveGroup { children, mode } => match mode {
            rsigma_eval::matcher::GroupMode::Any => union(children.iter().map(matcher_needles)),
            rsigma_eval::matcher::GroupMode::All => children.iter().map(matcher_needles).fold(None, best),
        },
        // Regexes, numbers, networks, negations, field references, existence: no needle.
        _ => None,
    }
}

/// Replaces the Aho-Corasick automata that rsigma's optimiser builds for a rule's long lists of
/// `contains` values (`AhoCorasick::new`, a DFA when there are few needles) by contiguous NFAs
/// over the same needles, with the same match kind and case handling: the same answers, in a
/// fraction of the memory.
pub(crate) fn shrink_automata(rule: &mut CompiledRule) {
    for detection in rule.detections.values_mut() {
        shrink_detection(detection);
    }
}

fn shrink_detection(detection: &mut CompiledDetection) {
    match detection {
        CompiledDetection::AllOf(items) => items.iter_mut().for_each(|i| shrink_matcher(&mut i.matcher)),
        CompiledDetection::AnyOf(parts) | CompiledDetection::And(parts) => parts.iter_mut().for_each(shrink_detection),
        CompiledDetection::Keywords(matcher) => shrink_matcher(matcher),
        CompiledDetection::ArrayMatch { body, .. } => shrink_detection(body),
        CompiledDetection::Conditional { named, .. } => named.values_mut().for_each(shrink_detection),
    }
}

fn shrink_matcher(matcher: &mut CompiledMatcher) {
    use CompiledMatcher as M;
    match matcher {
        M::AhoCorasickSet { automaton, needles, .. } => {
            if let Ok(nfa) = AhoCorasick::builder()
                .match_kind(automaton.match_kind())
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .build(needles.iter())
            {
                *automaton = nfa;
            }
        }
        M::AnyOf(children) | M::AllOf(children) | M::CaseInsensitiveGroup { children, .. } => {
            children.iter_mut().for_each(shrink_matcher)
        }
        M::Not(inner) => shrink_matcher(inner),
        M::TimestampPart { inner, .. } => shrink_matcher(inner),
        _ => {}
    }
}

/// The needles of a group's rules in one automaton, and the rules without needles.
pub(crate) struct CandidateIndex {
    automaton: Option<AhoCorasick>,
    /// Pattern id → the rules (positions in the group) that need it.
    pattern_rules: Vec<Vec<u32>>,
    /// Rules evaluated on every event.
    always: Vec<u32>,
    rules: usize,
}

impl CandidateIndex {
    pub(crate) fn build(rules: &[CompiledRule]) -> CandidateIndex {
        let mut by_needle: HashMap<String, Vec<u32>> = HashMap::new();
        let mut always = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let i = i as u32;
            match rule_needles(rule) {
                Some(needles) => needles.into_iter().for_each(|n| by_needle.entry(n).or_default().push(i)),
                None => always.push(i),
            }
        }
        let mut entries: Vec<(String, Vec<u32>)> = by_needle.into_iter().collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let (patterns, mut pattern_rules): (Vec<String>, Vec<Vec<u32>>) = entries.into_iter().unzip();
        pattern_rules.iter_mut().for_each(|r| r.dedup());
        // `Standard` is the match kind that reports overlapping matches: a needle inside another
        // must still select its own rules.
        let automaton = if patterns.is_empty() {
            None
        } else {
            let built = AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .ascii_case_insensitive(true)
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .build(&patterns);
            match built {
                Ok(a) => Some(a),
                Err(_) => {
                    // Too large to build: every rule is evaluated, as without an index.
                    always = (0..rules.len() as u32).collect();
                    pattern_rules.clear();
                    None
                }
            }
        };
        CandidateIndex { automaton, pattern_rules, always, rules: rules.len() }
    }

    /// The rules worth evaluating for an event whose string values are `haystacks` (already
    /// folded where not ASCII, see [`fold`]), in ascending order.
    pub(crate) fn candidates(&self, haystacks: &[Cow<'_, str>]) -> Vec<usize> {
        let mut seen = vec![false; self.rules];
        for &r in &self.always {
            seen[r as usize] = true;
        }
        if let Some(automaton) = &self.automaton {
            for haystack in haystacks {
                for m in automaton.find_overlapping_iter(haystack.as_ref()) {
                    for &r in &self.pattern_rules[m.pattern().as_usize()] {
                        seen[r as usize] = true;
                    }
                }
            }
        }
        seen.iter().enumerate().filter_map(|(i, s)| s.then_some(i)).collect()
    }

    /// Rules with needles and rules evaluated always (for tests and `--stats`).
    #[cfg(test)]
    pub(crate) fn sizes(&self) -> (usize, usize) {
        (self.rules - self.always.len(), self.always.len())
    }
}

/// A string value as the index searches it: ASCII as it is (the automaton ignores ASCII case),
/// anything else lower-cased the way rsigma's matchers lower it.
pub(crate) fn fold(value: &str) -> Cow<'_, str> {
    if value.is_ascii() { Cow::Borrowed(value) } else { ascii_lowercase_cow(value) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigmaSet;
    use crate::event::WinEventView;
    use taskforce_events::WinEvent;

    fn set_of(rules: &[(&str, &str)]) -> (tempfile::TempDir, SigmaSet) {
        let dir = tempfile::tempdir().unwrap();
        for (i, (name, detection)) in rules.iter().enumerate() {
            let text = format!(
                "title: {name}\nid: 00000000-0000-4000-8000-{i:012}\nlogsource: {{product: windows, category: process_creation}}\ndetection:\n{detection}\nlevel: high\n"
            );
            std::fs::write(dir.path().join(format!("r{i}.yml")), text).unwrap();
        }
        let set = SigmaSet::load(false, &[dir.path().to_path_buf()]);
        assert_eq!(set.len(), rules.len(), "{:?}", set.skipped);
        (dir, set)
    }

    fn sysmon1(named: &[(&str, &str)], unnamed: &[&str]) -> WinEvent {
        WinEvent {
            channel: "Microsoft-Windows-Sysmon/Operational".into(),
            provider: "Microsoft-Windows-Sysmon".into(),
            event_id: 1,
            level: 4,
            record_id: 4711,
            named: named.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            unnamed: unnamed.iter().map(|v| v.to_string()).collect(),
            ..Default::default()
        }
    }

    /// Every group an event reaches, evaluated through the index and rule by rule: the same
    /// rules, in the same order.
    fn assert_index_agrees(set: &SigmaSet, event: &WinEvent) -> (usize, usize) {
        let view = WinEventView(event);
        let haystacks = view.haystacks();
        let (mut evaluated, mut total) = (0, 0);
        for ls in crate::route::logsources(event) {
            for group in set.windows.for_logsource(&ls) {
                let rules = set.windows.rules(group, crate::recompile);
                let through_index: Vec<String> =
                    rules.evaluate(&view, &haystacks).into_iter().map(|r| r.header.rule_title).collect();
                let every_rule: Vec<String> = rules
                    .rules
                    .iter()
                    .filter_map(|r| rsigma_eval::evaluate_rule(r, &view))
                    .map(|r| r.header.rule_title)
                    .collect();
                assert_eq!(through_index, every_rule, "event {event:?}");
                evaluated += rules.index.candidates(&haystacks).len();
                total += rules.rules.len();
            }
        }
        (evaluated, total)
    }

    #[test]
    fn needles_follow_the_condition() {
        let (_dir, set) = set_of(&[
            ("contains", "  sel:\n    CommandLine|contains: 'WhoAmI'\n  condition: sel"),
            (
                "and keeps one side",
                "  a:\n    Image|endswith: '\\net.exe'\n  b:\n    CommandLine|re: 'user\\s+/add'\n  condition: a and b",
            ),
            (
                "or needs both sides",
                "  a:\n    Image|endswith: '\\net.exe'\n  b:\n    CommandLine|re: 'x'\n  condition: a or b",
            ),
            ("not gives none", "  a:\n    Image|endswith: '\\net.exe'\n  condition: not a"),
            ("numbers give none", "  a:\n    EventID: 1\n  condition: a"),
            (
                "all of them",
                "  sel_a:\n    CommandLine|contains: 'aaa'\n  sel_b:\n    CommandLine|contains: 'bbbb'\n  condition: all of sel_*",
            ),
            ("keywords", "  keywords:\n    - 'mimikatz'\n    - 'sekurlsa'\n  condition: keywords"),
            ("windash expands", "  sel:\n    CommandLine|windash|contains: '-enc'\n  condition: sel"),
        ]);
        let group = set.windows.rules(0, crate::recompile);
        let needles: Vec<Literals> = group.rules.iter().map(rule_needles).collect();
        assert_eq!(needles[0], Some(vec!["whoami".to_string()]));
        assert_eq!(needles[1], Some(vec!["\\net.exe".to_string()]));
        assert_eq!(needles[2], None);
        assert_eq!(needles[3], None);
        assert_eq!(needles[4], None);
        assert_eq!(needles[5], Some(vec!["bbbb".to_string()]));
        assert_eq!(needles[6].as_ref().map(Vec::len), Some(2));
        let windash = needles[7].clone().unwrap();
        assert!(windash.contains(&"-enc".to_string()) && windash.contains(&"/enc".to_string()), "{windash:?}");
        assert_eq!(group.index.sizes(), (5, 3));
    }

    /// The cases where a needle could be missed if the index folded or gathered values unlike
    /// the matchers: non-ASCII case folding (the Kelvin sign lowers to an ASCII `k`), case-sensitive
    /// values, a keyword spanning two unnamed values (the joined message), numbers as text.
    #[test]
    fn the_index_never_drops_a_match() {
        let (_dir, set) = set_of(&[
            ("kelvin", "  sel:\n    CommandLine|contains: 'kerberos'\n  condition: sel"),
            ("umlaut", "  sel:\n    CommandLine|contains: 'GRÜN'\n  condition: sel"),
            ("cased", "  sel:\n    CommandLine|contains|cased: 'MiXeD'\n  condition: sel"),
            ("spanning", "  keywords:\n    - '*Set-Mailbox -Identity*'\n  condition: keywords"),
            ("record id", "  sel:\n    EventRecordID|contains: '471'\n  condition: sel"),
            ("alias", "  sel:\n    Image|endswith: '\\evil.exe'\n  condition: sel"),
            (
                "many values",
                "  sel:\n    CommandLine|contains:\n      - 'a1x'\n      - 'a2x'\n      - 'a3x'\n      - 'a4x'\n      - 'a5x'\n      - 'a6x'\n      - 'a7x'\n      - 'a8x'\n      - 'a9x'\n  condition: sel",
            ),
            ("open", "  sel:\n    CommandLine|re: '^z+$'\n  condition: sel"),
        ]);
        let events = [
            sysmon1(&[("CommandLine", "\u{212A}ERBEROS ticket")], &[]),
            sysmon1(&[("CommandLine", "ampel grün")], &[]),
            sysmon1(&[("CommandLine", "MiXeD")], &[]),
            sysmon1(&[("CommandLine", "mixed")], &[]),
            sysmon1(&[], &["Set-Mailbox", "-Identity x"]),
            sysmon1(&[("NewProcessName", "C:\\EVIL.EXE")], &[]),
            sysmon1(&[("CommandLine", "run A7X now")], &[]),
            sysmon1(&[("CommandLine", "zzz")], &[]),
            sysmon1(&[("CommandLine", "nothing here")], &[]),
        ];
        let fired: Vec<Vec<String>> = events
            .iter()
            .map(|e| {
                assert_index_agrees(&set, e);
                set.evaluate_event(e).iter().map(|h| h.rule.title.clone()).collect()
            })
            .collect();
        assert_eq!(fired[0], ["kelvin", "record id"]);
        assert_eq!(fired[1], ["umlaut", "record id"]);
        assert_eq!(fired[2], ["cased", "record id"]);
        assert_eq!(fired[3], ["record id"]);
        assert_eq!(fired[4], ["spanning", "record id"]);
        assert_eq!(fired[5], ["record id", "alias"], "Image is also read as 4688's NewProcessName");
        assert_eq!(fired[6], ["record id", "many values"]);
        assert_eq!(fired[7], ["record id", "open"]);
        assert_eq!(fired[8], ["record id"]);
    }

    /// SigmaHQ's Windows rules over every event of the corpus EVTX files: the index gives exactly
    /// the matches of evaluating every rule of each group, and evaluates far fewer rules.
    #[test]
    fn sigmahq_over_the_corpus_matches_a_full_scan() {
        let Some(corpus) = taskforce_corpus::dir("sigmahq_over_the_corpus_matches_a_full_scan") else { return };
        let set = SigmaSet::load(true, &[corpus.join("sigma/rules/windows")]);
        assert!(set.len() > 2000, "{}", set.len());
        let (mut evaluated, mut total, mut events, mut fired) = (0, 0, 0, 0);
        for dir in ["evtx", "evtx-attack-samples"] {
            let mut paths: Vec<_> = std::fs::read_dir(corpus.join(dir)).unwrap().map(|e| e.unwrap().path()).collect();
            paths.sort();
            for path in paths.iter().filter(|p| p.extension().is_some_and(|e| e == "evtx")) {
                let file = std::fs::File::open(path).unwrap();
                taskforce_events::read_evtx(file, 1, &mut |e| {
                    let (n, all) = assert_index_agrees(&set, &e);
                    evaluated += n;
                    total += all;
                    events += 1;
                    fired += usize::from(!set.evaluate_event(&e).is_empty());
                })
                .unwrap();
            }
        }
        assert!(events > 1000 && fired > 10, "{events} events, {fired} with hits");
        assert!(evaluated * 4 < total, "the index let {evaluated} of {total} rule evaluations through");
    }
}
