//! A loaded rule set: built-in rules plus the user's folders, grouped by log source, with one
//! prefilter per source.

use std::collections::BTreeMap;
use std::path::PathBuf;

use include_dir::{Dir, include_dir};
use taskforce_logs::{Header, LogSource};

use crate::fields::{Binding, FieldTable, MapRecord};
use crate::files;
use crate::prefilter::{Prefilter, Present};
use crate::rule::Rule;

static BUILTIN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../rules/hunt");

/// A rule file that could not be used, and why. Loading goes on without it.
#[derive(Debug, Clone)]
pub struct LoadProblem {
    pub path: String,
    pub reason: String,
}

/// A rule whose own examples do not behave as the rule file says.
#[derive(Debug, Clone)]
pub struct TestFailure {
    pub rule: String,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: Vec<Rule>,
    fields: FieldTable,
    by_source: BTreeMap<LogSource, Vec<usize>>,
    prefilters: BTreeMap<LogSource, Prefilter>,
    /// Per rule: the prefilter patterns of which one must be in a line for the rule to run
    /// (`None`: the rule has no literal and always runs).
    gates: Vec<Option<Vec<usize>>>,
    pub problems: Vec<LoadProblem>,
}

impl RuleSet {
    /// The rules shipped in the binary.
    pub fn builtin() -> RuleSet {
        RuleSet::load(true, &[])
    }

    /// Built-in rules (unless `builtin` is false) plus every `*.yml`/`*.yaml` under `dirs`. A user
    /// rule with a built-in rule's id replaces it. Unreadable or invalid files are recorded in
    /// `problems`; the rest load.
    pub fn load(builtin: bool, dirs: &[PathBuf]) -> RuleSet {
        let mut fields = FieldTable::default();
        let mut rules: Vec<Rule> = Vec::new();
        let mut problems = Vec::new();
        if builtin {
            for file in files::embedded(&BUILTIN) {
                let origin = format!("builtin:rules/hunt/{}", file.path().display());
                match file.contents_utf8() {
                    Some(text) => add(text, origin, &mut fields, &mut rules, &mut problems),
                    None => problems.push(LoadProblem { path: origin, reason: "not UTF-8".into() }),
                }
            }
        }
        for dir in dirs {
            let paths = files::on_disk(dir).unwrap_or_else(|e| {
                problems.push(LoadProblem { path: dir.display().to_string(), reason: e.to_string() });
                Vec::new()
            });
            for path in paths {
                match std::fs::read_to_string(&path) {
                    Ok(text) => add(&text, path.display().to_string(), &mut fields, &mut rules, &mut problems),
                    Err(e) => problems.push(LoadProblem { path: path.display().to_string(), reason: e.to_string() }),
                }
            }
        }
        RuleSet::assemble(rules, fields, problems)
    }

    /// A rule set from rule texts built in memory (`(origin, yaml)` pairs), such as the
    /// correlation rules the hunt writes for paths an attacker wrote.
    pub fn from_texts(texts: impl IntoIterator<Item = (String, String)>) -> RuleSet {
        let mut fields = FieldTable::default();
        let mut rules = Vec::new();
        let mut problems = Vec::new();
        for (origin, text) in texts {
            add(&text, origin, &mut fields, &mut rules, &mut problems);
        }
        RuleSet::assemble(rules, fields, problems)
    }

    fn assemble(rules: Vec<Rule>, fields: FieldTable, problems: Vec<LoadProblem>) -> RuleSet {
        let mut by_source: BTreeMap<LogSource, Vec<usize>> = BTreeMap::new();
        for (i, rule) in rules.iter().enumerate() {
            by_source.entry(rule.meta.source).or_default().push(i);
        }
        let prefilters = LogSource::ALL
            .into_iter()
            .map(|src| {
                let idx = by_source.get(&src).map(Vec::as_slice).unwrap_or(&[]);
                let mut literals = Vec::new();
                let mut every_line = false;
                for &i in idx {
                    match &rules[i].literals {
                        Some(l) => literals.extend(l.iter().cloned()),
                        None => every_line = true,
                    }
                }
                (src, Prefilter::build(literals, every_line))
            })
            .collect::<BTreeMap<LogSource, Prefilter>>();
        let gates = rules.iter().map(|r| r.literals.as_ref().map(|l| prefilters[&r.meta.source].gate_for(l))).collect();
        RuleSet { rules, fields, by_source, prefilters, gates, problems }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules that read `source`.
    pub fn for_source(&self, source: LogSource) -> impl Iterator<Item = &Rule> {
        self.by_source.get(&source).into_iter().flatten().map(|&i| &self.rules[i])
    }

    /// Indices (into [`RuleSet::rules`]) of the rules that read `source`.
    pub fn indices_for(&self, source: LogSource) -> &[usize] {
        self.by_source.get(&source).map(Vec::as_slice).unwrap_or(&[])
    }

    /// False when rule `index` cannot match a line whose present patterns are `present`.
    pub fn may_match(&self, index: usize, present: &Present) -> bool {
        match &self.gates[index] {
            None => true,
            Some(patterns) => patterns.iter().any(|&p| present.contains(p)),
        }
    }

    pub fn prefilter(&self, source: LogSource) -> &Prefilter {
        &self.prefilters[&source]
    }

    /// Binds the rules' field names to the columns of `header`.
    pub fn bind(&self, header: &Header, source: LogSource) -> Binding {
        self.fields.bind(header, self.decodes(source))
    }

    /// True when rules compare `source`'s values URL-decoded too (IIS), so a line whose literal
    /// is percent-encoded can still match and the prefilter must look at its decoded form.
    pub fn decodes(&self, source: LogSource) -> bool {
        source == LogSource::Iis
    }

    pub fn fields(&self) -> &FieldTable {
        &self.fields
    }

    /// Runs every rule's `tests` examples, and checks that each positive example also passes the
    /// rule's prefilter (a prefilter that drops a true positive would hide an attack).
    pub fn self_test(&self) -> Vec<TestFailure> {
        let mut failures = Vec::new();
        for rule in &self.rules {
            let decode = rule.meta.source == LogSource::Iis;
            let fail = |message: String| TestFailure { rule: rule.meta.id.clone(), message };
            if rule.tests_match.is_empty() || rule.tests_nomatch.is_empty() {
                failures.push(fail("needs at least one `match` and one `nomatch` example".into()));
            }
            for record in &rule.tests_match {
                let view = MapRecord { values: record, table: &self.fields, decode };
                if rule.evaluate(&view).is_none() {
                    failures.push(fail(format!("does not match its example {record:?}")));
                }
                if let Some(literals) = &rule.literals {
                    let raw: String = record.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(" ");
                    let lower = raw.to_ascii_lowercase();
                    if !literals.iter().any(|l| lower.contains(&l.to_ascii_lowercase())) {
                        failures.push(fail(format!(
                            "prefilter literals {literals:?} are absent from its example {record:?}"
                        )));
                    }
                }
            }
            for record in &rule.tests_nomatch {
                let view = MapRecord { values: record, table: &self.fields, decode };
                if rule.evaluate(&view).is_some() {
                    failures.push(fail(format!("matches its counter-example {record:?}")));
                }
            }
        }
        failures
    }
}

/// Compiles one rule text; a rule with an id already loaded replaces it.
fn add(text: &str, origin: String, fields: &mut FieldTable, rules: &mut Vec<Rule>, problems: &mut Vec<LoadProblem>) {
    match Rule::compile(text, &origin, fields) {
        Ok(rule) => {
            if let Some(existing) = rules.iter_mut().find(|r| r.meta.id == rule.meta.id) {
                *existing = rule;
            } else {
                rules.push(rule);
            }
        }
        Err(reason) => problems.push(LoadProblem { path: origin, reason }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = r#"
id: TEST-1
title: test
severity: high
stage: exploit
verdict: attempted
source: HttpProxy
detection:
  ssrf:
    AnchorMailbox|startswith: 'ServerInfo~'
  localhost:
    AnchorMailbox|startswith: 'ServerInfo~localhost'
  ok:
    HttpStatus: 200
  condition: ssrf and not localhost
escalate:
  condition: ssrf and ok
  severity: critical
  verdict: compromised
extract:
  target:
    field: AnchorMailbox
    regex: '~([^/]+)/'
keep: [ClientIpAddress]
tests:
  match:
    - {AnchorMailbox: 'ServerInfo~a]@ex:444/ecp/x', HttpStatus: 500}
  nomatch:
    - {AnchorMailbox: 'ServerInfo~localhost/ecp/default.flt?'}
"#;

    #[test]
    fn user_rules_load_replace_and_self_test() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yml"), RULE).unwrap();
        std::fs::write(dir.path().join("broken.yml"), "id: [").unwrap();
        let set = RuleSet::load(false, &[dir.path().to_path_buf()]);
        assert_eq!(set.len(), 1);
        assert_eq!(set.problems.len(), 1);
        assert!(set.problems[0].path.ends_with("broken.yml"));
        assert!(set.self_test().is_empty(), "{:?}", set.self_test());
        assert_eq!(set.prefilter(LogSource::HttpProxy).literals, ["serverinfo~"]);
        assert!(!set.prefilter(LogSource::Iis).parse_every_line);
    }

    #[test]
    fn escalation_and_extraction() {
        let mut table = FieldTable::default();
        let rule = Rule::compile(RULE, "t", &mut table).unwrap();
        let rec: Vec<(String, String)> = vec![
            ("AnchorMailbox".into(), "ServerInfo~a]@EX01:444/ecp/proxyLogon.ecp?#".into()),
            ("HttpStatus".into(), "200".into()),
            ("ClientIpAddress".into(), "203.0.113.9".into()),
        ];
        let hit = rule.evaluate(&MapRecord { values: &rec, table: &table, decode: false }).unwrap();
        assert!(hit.escalated);
        assert_eq!(hit.severity, taskforce_report::Severity::Critical);
        assert_eq!(hit.detail[0], ("target".into(), "a]@EX01:444".into()));
        assert_eq!(hit.detail[1], ("ClientIpAddress".into(), "203.0.113.9".into()));
    }

    #[test]
    fn builtin_rules_all_load_and_pass_their_examples() {
        let set = RuleSet::builtin();
        assert!(set.problems.is_empty(), "{:#?}", set.problems);
        let failures = set.self_test();
        assert!(failures.is_empty(), "{failures:#?}");
    }
}
