//! Windows rules grouped by their log source and compiled on first use.
//!
//! SigmaHQ's Windows folder holds thousands of rules, most of them for log sources a given host's
//! evidence never has (a Sysmon category on a server without Sysmon, a channel nobody collected).
//! Every rule is parsed and compiled once at load, so a broken one is reported whatever the
//! evidence; then only its source text is kept. A group's rules are parsed and compiled again, into
//! an engine of their own, the first time an event of that log source arrives. Memory thus follows
//! the log sources in the evidence, not the size of the rule folder.
//!
//! A group is evaluated by us rather than by an `rsigma_eval::Engine`: its rules are narrowed by
//! our own candidate index ([`crate::candidates`]) and each candidate is evaluated with
//! `rsigma_eval::evaluate_rule`, in the group's rule order, as the engine would.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use rsigma_eval::{CompiledRule, EvaluationResult, Event};
use rsigma_parser::LogSource;

use crate::candidates::CandidateIndex;

/// A rule's log source as the engine compares it (`logsource_matches`: each field the rule sets
/// must equal the event's, ignoring case; fields the rule leaves out match anything).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct GroupKey {
    category: Option<String>,
    product: Option<String>,
    service: Option<String>,
}

impl GroupKey {
    pub(crate) fn of(ls: &LogSource) -> GroupKey {
        let lower = |v: &Option<String>| v.as_deref().map(str::to_ascii_lowercase);
        GroupKey { category: lower(&ls.category), product: lower(&ls.product), service: lower(&ls.service) }
    }

    /// Every key whose rules an event of log source `ls` satisfies: each field either left out
    /// by the rule or equal to the event's.
    fn candidates(ls: &LogSource) -> Vec<GroupKey> {
        let either = |v: &Option<String>| -> Vec<Option<String>> {
            match v {
                Some(s) => vec![None, Some(s.to_ascii_lowercase())],
                None => vec![None],
            }
        };
        let mut keys = Vec::with_capacity(8);
        for category in either(&ls.category) {
            for product in either(&ls.product) {
                for service in either(&ls.service) {
                    keys.push(GroupKey { category: category.clone(), product: product.clone(), service });
                }
            }
        }
        keys
    }
}

/// Where to find a rule again: the text of its file and its position among the file's rules.
#[derive(Debug, Clone)]
pub(crate) struct RuleSource {
    pub text: Arc<str>,
    pub position: usize,
}

/// The rules of one log source: their sources until first use, then their compiled rules.
struct Group {
    sources: Vec<RuleSource>,
    compiled: OnceLock<GroupRules>,
}

/// A group's compiled rules and the index that picks which of them an event can match.
pub(crate) struct GroupRules {
    pub(crate) rules: Vec<CompiledRule>,
    pub(crate) index: CandidateIndex,
}

impl GroupRules {
    fn new(rules: Vec<CompiledRule>) -> GroupRules {
        let index = CandidateIndex::build(&rules);
        GroupRules { rules, index }
    }

    /// The rules that match `event`, in the group's order. `haystacks` are the event's string
    /// values as the index searches them ([`crate::candidates::fold`]).
    pub(crate) fn evaluate(&self, event: &impl Event, haystacks: &[Cow<'_, str>]) -> Vec<EvaluationResult> {
        self.index
            .candidates(haystacks)
            .into_iter()
            .filter_map(|i| rsigma_eval::evaluate_rule(&self.rules[i], event))
            .collect()
    }
}

/// All Windows rules, by log source.
#[derive(Default)]
pub(crate) struct Groups {
    groups: Vec<Group>,
    by_key: HashMap<GroupKey, usize>,
}

impl Groups {
    pub(crate) fn add(&mut self, key: GroupKey, source: RuleSource) {
        let next = self.groups.len();
        let i = *self.by_key.entry(key).or_insert(next);
        if i == next {
            self.groups.push(Group { sources: Vec::new(), compiled: OnceLock::new() });
        }
        self.groups[i].sources.push(source);
    }

    /// The groups whose rules an event of log source `ls` satisfies, by position (stable, so a
    /// caller evaluating several log sources can skip a group it has already run).
    pub(crate) fn for_logsource(&self, ls: &LogSource) -> Vec<usize> {
        GroupKey::candidates(ls).iter().filter_map(|k| self.by_key.get(k).copied()).collect()
    }

    /// Group `i`'s rules, compiled on first use by `compile` (which parses each source again).
    pub(crate) fn rules(&self, i: usize, compile: impl Fn(&RuleSource) -> Option<CompiledRule>) -> &GroupRules {
        let group = &self.groups[i];
        group.compiled.get_or_init(|| GroupRules::new(group.sources.iter().filter_map(compile).collect()))
    }

    /// Groups compiled so far, and all groups (for `--stats` and tests).
    pub(crate) fn compiled(&self) -> (usize, usize) {
        (self.groups.iter().filter(|g| g.compiled.get().is_some()).count(), self.groups.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(category: Option<&str>, product: Option<&str>, service: Option<&str>) -> LogSource {
        LogSource {
            category: category.map(str::to_string),
            product: product.map(str::to_string),
            service: service.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn an_event_reaches_every_group_whose_fields_it_has() {
        let mut groups = Groups::default();
        let src = |position| RuleSource { text: Arc::from(""), position };
        groups.add(GroupKey::of(&ls(Some("process_creation"), Some("windows"), None)), src(0));
        groups.add(GroupKey::of(&ls(None, Some("Windows"), Some("Sysmon"))), src(1));
        groups.add(GroupKey::of(&ls(None, Some("windows"), Some("security"))), src(2));
        groups.add(GroupKey::of(&ls(Some("process_creation"), Some("linux"), None)), src(3));
        groups.add(GroupKey::of(&ls(Some("PROCESS_CREATION"), None, None)), src(4));
        let sysmon1 = groups.for_logsource(&ls(Some("process_creation"), Some("windows"), Some("sysmon")));
        assert_eq!(sysmon1.len(), 3, "category+product, product+service, category alone");
        let security = groups.for_logsource(&ls(None, Some("windows"), Some("security")));
        assert_eq!(security, vec![2]);
        assert!(groups.for_logsource(&ls(None, Some("windows"), Some("other"))).is_empty());
        assert_eq!(groups.compiled(), (0, 5));
    }
}
