//! Sigma rules, evaluated with `rsigma-eval` behind a small interface of our own.
//!
//! Rules come from the built-in folder `rules/sigma` (written by us, embedded in the binary) and
//! from folders the user names (`--sigma DIR`: a SigmaHQ checkout loads as is). Each event is
//! evaluated only against the rules whose `logsource` it satisfies ([`route`]). A rule that cannot
//! be loaded is listed with the reason; the rest load.

mod candidates;
pub mod event;
mod groups;
mod meta;
pub mod prefilter;
pub mod route;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use include_dir::{Dir, include_dir};
use rayon::prelude::*;
use rsigma_eval::{CompiledRule, Engine};
use rsigma_parser::{Detection, Modifier, SigmaRule, parse_sigma_yaml};
use taskforce_events::WinEvent;
use taskforce_logs::Record;
use taskforce_rules::files;

use groups::{GroupKey, Groups, RuleSource};
pub use meta::RuleInfo;

static BUILTIN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../rules/sigma");

/// A rule (or file) that was not loaded, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub path: String,
    pub rule: Option<String>,
    pub reason: String,
}

/// A rule's hit on one event.
#[derive(Debug, Clone)]
pub struct SigmaHit<'s> {
    pub rule: &'s RuleInfo,
    /// The rule's position in [`SigmaSet::rules`].
    pub index: usize,
    /// `field = value` pairs that matched (keywords as `keyword`).
    pub matched: Vec<(String, String)>,
}

/// The loaded Sigma rules.
pub struct SigmaSet {
    /// Rules for Windows events, by log source, compiled on first use.
    windows: Groups,
    /// `webserver` rules with literals: run only on lines holding one of them.
    web_gated: Engine,
    /// `webserver` rules without a derivable literal: run on every line.
    web_open: Engine,
    web_open_rules: usize,
    infos: Vec<RuleInfo>,
    by_key: HashMap<String, usize>,
    pub skipped: Vec<Skipped>,
    /// Rule files read (built-in and user).
    pub files: usize,
    has_web: bool,
    /// Literals of the gated `webserver` rules.
    web_literals: Vec<String>,
    web_gate: Option<regex::bytes::Regex>,
}

/// One rule file to load: built in (its text at hand) or on disk (read by the loading thread).
struct RuleFile {
    origin: String,
    path: Option<PathBuf>,
    text: Option<Result<Arc<str>, String>>,
    builtin: bool,
}

/// What loading one file gave, in the file's order.
#[derive(Default)]
struct FileLoad {
    /// The file's text, kept while one of its rules waits to be compiled.
    text: Option<Arc<str>>,
    skipped: Vec<Skipped>,
    rules: Vec<LoadedRule>,
}

struct LoadedRule {
    info: RuleInfo,
    kind: RuleKind,
}

enum RuleKind {
    /// A `webserver` rule: compiled now (there are few), with its literals if it has some.
    Web(Box<CompiledRule>, Option<Vec<String>>),
    /// A Windows rule: compiled once to check it, kept as its position in the file's text.
    Windows(GroupKey, usize),
}

impl SigmaSet {
    /// The built-in rules only.
    pub fn builtin() -> SigmaSet {
        SigmaSet::load(true, &[])
    }

    /// Built-in rules (unless `builtin` is false) plus every `*.yml`/`*.yaml` under `dirs`.
    /// Files are parsed and checked in parallel; the result is in file order whatever the threads.
    pub fn load(builtin: bool, dirs: &[PathBuf]) -> SigmaSet {
        let mut set = SigmaSet {
            windows: Groups::default(),
            web_gated: Engine::new(),
            web_open: Engine::new(),
            web_open_rules: 0,
            infos: Vec::new(),
            by_key: HashMap::new(),
            skipped: Vec::new(),
            files: 0,
            has_web: false,
            web_literals: Vec::new(),
            web_gate: None,
        };
        let mut inputs: Vec<RuleFile> = Vec::new();
        if builtin {
            for file in files::embedded(&BUILTIN) {
                let origin = format!("builtin:rules/sigma/{}", file.path().display());
                let text = file.contents_utf8().map(Arc::from).ok_or_else(|| "not UTF-8".to_string());
                inputs.push(RuleFile { origin, path: None, text: Some(text), builtin: true });
            }
        }
        for dir in dirs {
            let paths = files::on_disk(dir).unwrap_or_else(|e| {
                set.skip(&dir.display().to_string(), None, &e.to_string());
                Vec::new()
            });
            inputs.extend(paths.into_iter().map(|path| RuleFile {
                origin: path.display().to_string(),
                path: Some(path),
                text: None,
                builtin: false,
            }));
        }
        let loads: Vec<FileLoad> = inputs.par_iter().map(load_file).collect();
        for load in loads {
            set.files += 1;
            set.skipped.extend(load.skipped);
            for rule in load.rules {
                set.add_loaded(rule, load.text.as_ref());
            }
        }
        set.web_gate =
            (!set.web_literals.is_empty()).then(|| taskforce_rules::prefilter::literal_finder(&set.web_literals));
        set
    }

    fn skip(&mut self, path: &str, rule: Option<String>, reason: &str) {
        self.skipped.push(Skipped { path: path.to_string(), rule, reason: reason.to_string() });
    }

    fn add_loaded(&mut self, rule: LoadedRule, text: Option<&Arc<str>>) {
        let index = self.infos.len();
        match rule.kind {
            RuleKind::Web(compiled, literals) => {
                self.has_web = true;
                match literals {
                    Some(lits) => {
                        self.web_literals.extend(lits);
                        self.web_gated.add_compiled_rule(*compiled);
                    }
                    None => {
                        self.web_open_rules += 1;
                        self.web_open.add_compiled_rule(*compiled);
                    }
                }
            }
            RuleKind::Windows(key, position) => {
                let Some(text) = text else { return };
                self.windows.add(key, RuleSource { text: Arc::clone(text), position });
            }
        }
        self.by_key.insert(rule.info.key.clone(), index);
        self.infos.push(rule.info);
    }

    /// Number of loaded rules.
    pub fn len(&self) -> usize {
        self.infos.len()
    }

    pub fn is_empty(&self) -> bool {
        self.infos.is_empty()
    }

    pub fn rules(&self) -> &[RuleInfo] {
        &self.infos
    }

    /// True when some loaded rule reads web server logs (then every IIS line is evaluated).
    pub fn has_webserver_rules(&self) -> bool {
        self.has_web
    }

    /// Log-source groups of Windows rules compiled so far, and all of them.
    pub fn compiled_groups(&self) -> (usize, usize) {
        self.windows.compiled()
    }

    /// Rules that match a Windows event, each once.
    pub fn evaluate_event(&self, event: &WinEvent) -> Vec<SigmaHit<'_>> {
        let view = event::WinEventView(event);
        let mut hits: Vec<SigmaHit<'_>> = Vec::new();
        let mut done: Vec<usize> = Vec::new();
        let mut haystacks = None;
        for ls in route::logsources(event) {
            for group in self.windows.for_logsource(&ls) {
                if done.contains(&group) {
                    continue;
                }
                done.push(group);
                let rules = self.windows.rules(group, recompile);
                let haystacks = haystacks.get_or_insert_with(|| view.haystacks());
                self.collect(rules.evaluate(&view, haystacks), &mut hits);
            }
        }
        hits
    }
    /// False when no `webserver` rule can match `line` (none of their literals is in it).
    pub fn web_may_match(&self, line: &[u8]) -> bool {
        self.web_open_rules > 0 || self.web_gate.as_ref().is_some_and(|g| g.is_match(line))
    }

    /// Rules of category `webserver` that match one IIS line.
    pub fn evaluate_web(&self, columns: &[String], record: &Record<'_>) -> Vec<SigmaHit<'_>> {
        let view = event::W3cView { columns, record };
        let mut hits = Vec::new();
        let ls = route::webserver();
        if self.web_open_rules > 0 {
            self.collect(self.web_open.evaluate_with_logsource(&view, &ls), &mut hits);
        }
        if self.web_gate.as_ref().is_some_and(|g| g.is_match(record.line)) {
            self.collect(self.web_gated.evaluate_with_logsource(&view, &ls), &mut hits);
        }
        hits
    }

    fn collect<'s>(&'s self, results: Vec<rsigma_eval::EvaluationResult>, hits: &mut Vec<SigmaHit<'s>>) {
        for r in results {
            let key = meta::key(r.header.rule_id.as_deref(), &r.header.rule_title);
            let Some(&i) = self.by_key.get(&key) else { continue };
            if hits.iter().any(|h| h.index == i) {
                continue;
            }
            let matched = r
                .as_detection()
                .map(|d| {
                    d.matched_fields
                        .iter()
                        .map(|m| {
                            let v = match &m.value {
                                serde_json::Value::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            (m.field.clone(), v)
                        })
                        .collect()
                })
                .unwrap_or_default();
            hits.push(SigmaHit { rule: &self.infos[i], index: i, matched });
        }
    }
}

/// Reads, parses and checks one rule file: every rule is compiled once (a rule that cannot be
/// compiled is reported now, whether or not its log source is ever seen); Windows rules are then
/// dropped and kept as text, `webserver` rules are kept compiled.
fn load_file(file: &RuleFile) -> FileLoad {
    let mut out = FileLoad::default();
    let skip = |out: &mut FileLoad, rule: Option<String>, reason: String| {
        out.skipped.push(Skipped { path: file.origin.clone(), rule, reason });
    };
    let text = match (&file.text, &file.path) {
        (Some(t), _) => t.clone(),
        (None, Some(path)) => std::fs::read_to_string(path).map(Arc::from).map_err(|e| e.to_string()),
        (None, None) => Err("no text".to_string()),
    };
    let text = match text {
        Ok(t) => t,
        Err(reason) => {
            skip(&mut out, None, reason);
            return out;
        }
    };
    let collection = match parse_sigma_yaml(&text) {
        Ok(c) => c,
        Err(e) => {
            skip(&mut out, None, format!("not a Sigma document: {e}"));
            return out;
        }
    };
    for e in &collection.errors {
        skip(&mut out, None, e.to_string());
    }
    for c in &collection.correlations {
        skip(
            &mut out,
            Some(c.title.clone()),
            "correlation rules are not evaluated by hunt (one event at a time)".into(),
        );
    }
    for f in &collection.filters {
        skip(&mut out, Some(f.title.clone()), "filter rules are not applied by hunt".into());
    }
    for (position, rule) in collection.rules.iter().enumerate() {
        let info = match RuleInfo::from_rule(rule, &file.origin, file.builtin) {
            Ok(i) => i,
            Err(reason) => {
                skip(&mut out, Some(rule.title.clone()), reason);
                continue;
            }
        };
        let prepared = prepare(rule);
        let compiled = match compile(&prepared) {
            Ok(c) => c,
            Err(reason) => {
                skip(&mut out, Some(rule.title.clone()), reason);
                continue;
            }
        };
        let kind = if prepared.logsource.category.as_deref() == Some("webserver") {
            RuleKind::Web(Box::new(compiled), prefilter::rule_literals(&prepared))
        } else {
            RuleKind::Windows(GroupKey::of(&prepared.logsource), position)
        };
        out.rules.push(LoadedRule { info, kind });
    }
    if out.rules.iter().any(|r| matches!(r.kind, RuleKind::Windows(..))) {
        out.text = Some(text);
    }
    out
}

/// The rule as hunt evaluates it (keywords as substrings, see [`keywords_match_substrings`]).
fn prepare(rule: &SigmaRule) -> SigmaRule {
    let mut rule = rule.clone();
    for detection in rule.detection.named.values_mut() {
        keywords_match_substrings(detection);
    }
    rule
}

/// Compiles a prepared rule without what hunt reads from [`RuleInfo`] instead (description,
/// false positives, tags, custom attributes): those would be copies, and tags are cloned into
/// every match result.
fn compile(rule: &SigmaRule) -> Result<CompiledRule, String> {
    let mut compiled = rsigma_eval::compile_rule(rule).map_err(|e| format!("cannot compile: {e}"))?;
    candidates::shrink_automata(&mut compiled);
    compiled.description = None;
    compiled.falsepositives = Vec::new();
    compiled.tags = Vec::new();
    compiled.custom_attributes = Arc::default();
    Ok(compiled)
}

/// A Windows rule compiled again from its file's text, on its group's first use. It compiled at
/// load, so this only fails if the text changed, which it cannot (it is held in memory).
fn recompile(source: &RuleSource) -> Option<CompiledRule> {
    let collection = parse_sigma_yaml(&source.text).ok()?;
    compile(&prepare(collection.rules.get(source.position)?)).ok()
}

/// Sigma keywords match anywhere in the event's text. rsigma 0.23 compiles a keyword written as
/// a mapping with modifiers (`'|all': [...]`, common in SigmaHQ's MSExchange rules) as an exact
/// comparison; giving it `contains` restores the keyword meaning.
fn keywords_match_substrings(detection: &mut Detection) {
    match detection {
        Detection::AllOf(items) => {
            for item in items.iter_mut().filter(|i| i.field.name.is_none()) {
                let has_string_modifier = item.field.modifiers.iter().any(|m| {
                    matches!(m, Modifier::Contains | Modifier::StartsWith | Modifier::EndsWith | Modifier::Re)
                });
                if !has_string_modifier {
                    item.field.modifiers.insert(0, Modifier::Contains);
                }
            }
        }
        Detection::AnyOf(parts) | Detection::And(parts) => parts.iter_mut().for_each(keywords_match_substrings),
        _ => {}
    }
}
