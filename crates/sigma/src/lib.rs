//! Sigma rules, evaluated with `rsigma-eval` behind a small interface of our own.
//!
//! Rules come from the built-in folder `rules/sigma` (written by us, embedded in the binary) and
//! from folders the user names (`--sigma DIR`: a SigmaHQ checkout loads as is). Each event is
//! evaluated only against the rules whose `logsource` it satisfies ([`route`]). A rule that cannot
//! be loaded is listed with the reason; the rest load.

pub mod event;
mod meta;
pub mod prefilter;
pub mod route;

use std::collections::HashMap;
use std::path::PathBuf;

use include_dir::{Dir, include_dir};
use rsigma_eval::Engine;
use rsigma_parser::{Detection, Modifier, SigmaRule, parse_sigma_yaml};
use taskforce_events::WinEvent;
use taskforce_logs::Record;
use taskforce_rules::files;

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
    /// Rules for Windows events.
    engine: Engine,
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

impl SigmaSet {
    /// The built-in rules only.
    pub fn builtin() -> SigmaSet {
        SigmaSet::load(true, &[])
    }

    /// Built-in rules (unless `builtin` is false) plus every `*.yml`/`*.yaml` under `dirs`.
    pub fn load(builtin: bool, dirs: &[PathBuf]) -> SigmaSet {
        let mut set = SigmaSet {
            engine: Engine::new(),
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
        if builtin {
            for file in files::embedded(&BUILTIN) {
                let origin = format!("builtin:rules/sigma/{}", file.path().display());
                match file.contents_utf8() {
                    Some(text) => set.add_text(text, &origin, true),
                    None => set.skip(&origin, None, "not UTF-8"),
                }
            }
        }
        for dir in dirs {
            let paths = files::on_disk(dir).unwrap_or_else(|e| {
                set.skip(&dir.display().to_string(), None, &e.to_string());
                Vec::new()
            });
            for path in paths {
                match std::fs::read_to_string(&path) {
                    Ok(text) => set.add_text(&text, &path.display().to_string(), false),
                    Err(e) => set.skip(&path.display().to_string(), None, &e.to_string()),
                }
            }
        }
        set.web_gate =
            (!set.web_literals.is_empty()).then(|| taskforce_rules::prefilter::literal_finder(&set.web_literals));
        set
    }

    fn skip(&mut self, path: &str, rule: Option<String>, reason: &str) {
        self.skipped.push(Skipped { path: path.to_string(), rule, reason: reason.to_string() });
    }

    fn add_text(&mut self, text: &str, origin: &str, builtin: bool) {
        self.files += 1;
        let collection = match parse_sigma_yaml(text) {
            Ok(c) => c,
            Err(e) => return self.skip(origin, None, &format!("not a Sigma document: {e}")),
        };
        for e in &collection.errors {
            self.skip(origin, None, e);
        }
        for c in &collection.correlations {
            self.skip(
                origin,
                Some(c.title.clone()),
                "correlation rules are not evaluated by hunt (one event at a time)",
            );
        }
        for f in &collection.filters {
            self.skip(origin, Some(f.title.clone()), "filter rules are not applied by hunt");
        }
        for rule in &collection.rules {
            self.add_rule(rule, origin, builtin);
        }
    }

    fn add_rule(&mut self, rule: &SigmaRule, origin: &str, builtin: bool) {
        let info = match meta::RuleInfo::from_rule(rule, origin, builtin) {
            Ok(i) => i,
            Err(reason) => return self.skip(origin, Some(rule.title.clone()), &reason),
        };
        let mut rule = rule.clone();
        for detection in rule.detection.named.values_mut() {
            keywords_match_substrings(detection);
        }
        let web = rule.logsource.category.as_deref() == Some("webserver");
        let literals = if web { prefilter::rule_literals(&rule) } else { None };
        let engine = match (web, &literals) {
            (false, _) => &mut self.engine,
            (true, Some(_)) => &mut self.web_gated,
            (true, None) => &mut self.web_open,
        };
        if let Err(e) = engine.add_rule(&rule) {
            return self.skip(origin, Some(rule.title.clone()), &format!("cannot compile: {e}"));
        }
        if web {
            self.has_web = true;
            match literals {
                Some(lits) => self.web_literals.extend(lits),
                None => self.web_open_rules += 1,
            }
        }
        let key = info.key.clone();
        self.by_key.insert(key, self.infos.len());
        self.infos.push(info);
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

    /// Rules that match a Windows event, each once.
    pub fn evaluate_event(&self, event: &WinEvent) -> Vec<SigmaHit<'_>> {
        let view = event::WinEventView(event);
        let mut hits: Vec<SigmaHit<'_>> = Vec::new();
        for ls in route::logsources(event) {
            self.collect(self.engine.evaluate_with_logsource(&view, &ls), &mut hits);
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
