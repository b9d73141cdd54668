//! A hunt rule: its metadata (what a hit means) and its compiled detection logic.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Deserialize;
use taskforce_logs::LogSource;
use taskforce_report::{Effect, Severity, Stage};

use crate::condition::{self, Expr};
use crate::fields::{FieldId, FieldTable, Fields};
use crate::matcher::{self, Selection};
use crate::prefilter::{self, Literals};

/// A rule file as written (see `docs/rule-format.md`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDoc {
    id: String,
    title: String,
    #[serde(default)]
    description: String,
    severity: Severity,
    stage: Stage,
    verdict: Effect,
    #[serde(default)]
    cves: Vec<String>,
    source: String,
    #[serde(default)]
    references: Vec<String>,
    #[serde(default)]
    falsepositives: Vec<String>,
    // Accepted so Sigma-style headers load; not shown in findings.
    #[serde(default)]
    #[allow(dead_code)]
    author: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    date: Option<String>,
    detection: serde_norway::Mapping,
    #[serde(default)]
    escalate: Option<EscalateDoc>,
    #[serde(default)]
    extract: BTreeMap<String, ExtractDoc>,
    #[serde(default)]
    keep: Vec<String>,
    /// A field holding a request path: the rule matches only when it names a script page that a
    /// stock Exchange install does not have in a watched web folder (`rules/stock-pages.yml`).
    #[serde(default)]
    unless_stock_page: Option<String>,
    #[serde(default)]
    prefilter: Option<Vec<String>>,
    #[serde(default)]
    tests: TestsDoc,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EscalateDoc {
    condition: String,
    #[serde(default)]
    severity: Option<Severity>,
    #[serde(default)]
    verdict: Option<Effect>,
    #[serde(default)]
    stage: Option<Stage>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtractDoc {
    field: String,
    regex: String,
    /// `x-rps-cat`: the captured value is an Exchange CommonAccessToken; its user is extracted.
    #[serde(default)]
    decode: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestsDoc {
    #[serde(default, rename = "match")]
    positive: Vec<BTreeMap<String, serde_norway::Value>>,
    #[serde(default, rename = "nomatch")]
    negative: Vec<BTreeMap<String, serde_norway::Value>>,
}

/// What an analyst reads about a rule; copied into findings.
#[derive(Debug, Clone)]
pub struct RuleMeta {
    pub id: String,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    pub stage: Stage,
    pub effect: Effect,
    pub cves: Vec<String>,
    pub source: LogSource,
    pub references: Vec<String>,
    pub falsepositives: Vec<String>,
    /// Where the rule came from: `builtin:<path>` or a file path.
    pub origin: String,
}

#[derive(Debug, Clone)]
pub struct Escalation {
    condition: Expr,
    pub severity: Severity,
    pub effect: Effect,
    pub stage: Stage,
}

#[derive(Debug, Clone)]
pub struct Extraction {
    pub name: String,
    field: FieldId,
    regex: Regex,
    decode_rps_cat: bool,
}

/// A test record written in the rule file: field → value.
pub type TestRecord = Vec<(String, String)>;

#[derive(Debug, Clone)]
pub struct Rule {
    pub meta: RuleMeta,
    selections: Vec<Selection>,
    condition: Expr,
    pub escalation: Option<Escalation>,
    extractions: Vec<Extraction>,
    keep: Vec<(String, FieldId)>,
    /// See `unless_stock_page` in the rule format.
    unless_stock_page: Option<FieldId>,
    /// Literals one of which is in every line this rule matches; `None` when none could be found.
    pub literals: Literals,
    pub tests_match: Vec<TestRecord>,
    pub tests_nomatch: Vec<TestRecord>,
}

/// The outcome of a rule on one record.
#[derive(Debug, Clone)]
pub struct Hit {
    pub severity: Severity,
    pub effect: Effect,
    pub stage: Stage,
    pub escalated: bool,
    /// `extract:` values, then `keep:` fields, in rule order.
    pub detail: Vec<(String, String)>,
}

impl Rule {
    /// Parses and compiles one rule file.
    pub fn compile(text: &str, origin: &str, fields: &mut FieldTable) -> Result<Rule, String> {
        let doc: RuleDoc = serde_norway::from_str(text).map_err(|e| format!("invalid rule YAML: {e}"))?;
        if doc.id.trim().is_empty() {
            return Err("empty id".into());
        }
        let source: LogSource = doc.source.parse()?;
        // The report's contract: `clean` means no finding above `low`. A rule that never changes
        // a verdict must therefore not report above `low` either.
        if doc.verdict == Effect::None && doc.severity > Severity::Low {
            return Err(format!(
                "severity {} with verdict none: context-only rules must be info or low (or say which verdict a hit means)",
                doc.severity
            ));
        }
        let mut names = Vec::new();
        let mut selections = Vec::new();
        let mut condition_text = None;
        for (key, value) in &doc.detection {
            let name = key.as_str().ok_or("detection keys must be strings")?;
            if name == "condition" {
                condition_text = Some(value.as_str().ok_or("condition must be a string")?.to_string());
                continue;
            }
            let sel = matcher::compile_selection(value, fields).map_err(|e| format!("selection {name:?}: {e}"))?;
            names.push(name.to_string());
            selections.push(sel);
        }
        let condition_text = condition_text.ok_or("detection has no condition")?;
        let condition = condition::parse(&condition_text, &names)?;
        let escalation = doc
            .escalate
            .map(|e| -> Result<Escalation, String> {
                Ok(Escalation {
                    condition: condition::parse(&e.condition, &names).map_err(|err| format!("escalate: {err}"))?,
                    severity: e.severity.unwrap_or(doc.severity),
                    effect: e.verdict.unwrap_or(doc.verdict),
                    stage: e.stage.unwrap_or(doc.stage),
                })
            })
            .transpose()?;
        if escalation.as_ref().is_some_and(|e| e.effect == Effect::None && e.severity > Severity::Low) {
            return Err("escalate: a context-only reading (verdict none) must be info or low".into());
        }
        let extractions = doc
            .extract
            .into_iter()
            .map(|(name, x)| -> Result<Extraction, String> {
                let regex = Regex::new(&x.regex).map_err(|e| format!("extract {name:?}: bad regex: {e}"))?;
                if let Some(action) = name.strip_prefix("account:").map(|a| a.split('/').next().unwrap_or(a)) {
                    action.parse::<taskforce_report::AccountAction>().map_err(|_| {
                        format!(
                            "extract {name:?}: unknown account action {action:?} (one of {})",
                            taskforce_report::AccountAction::ALL.map(|a| a.to_string()).join(", ")
                        )
                    })?;
                }
                let decode_rps_cat = match x.decode.as_deref() {
                    None => false,
                    Some("x-rps-cat") => true,
                    Some(other) => return Err(format!("extract {name:?}: unknown decode {other:?} (x-rps-cat)")),
                };
                Ok(Extraction { name, field: fields.intern(&x.field), regex, decode_rps_cat })
            })
            .collect::<Result<_, _>>()?;
        let keep = doc.keep.iter().map(|k| (k.clone(), fields.intern(k))).collect();
        let unless_stock_page = doc.unless_stock_page.as_deref().map(|f| fields.intern(f));
        let literals = match doc.prefilter {
            Some(list) if !list.is_empty() => Some(list),
            _ => prefilter::expr_literals(&condition, &selections),
        };
        let to_records = |list: Vec<BTreeMap<String, serde_norway::Value>>| -> Result<Vec<TestRecord>, String> {
            list.into_iter()
                .map(|m| {
                    m.into_iter()
                        .map(|(k, v)| Ok((k, matcher::scalars(&v)?.join(" "))))
                        .collect::<Result<TestRecord, String>>()
                })
                .collect()
        };
        Ok(Rule {
            meta: RuleMeta {
                id: doc.id,
                title: doc.title,
                description: doc.description.trim().to_string(),
                severity: doc.severity,
                stage: doc.stage,
                effect: doc.verdict,
                cves: doc.cves,
                source,
                references: doc.references,
                falsepositives: doc.falsepositives,
                origin: origin.to_string(),
            },
            selections,
            condition,
            escalation,
            extractions,
            keep,
            unless_stock_page,
            literals,
            tests_match: to_records(doc.tests.positive)?,
            tests_nomatch: to_records(doc.tests.negative)?,
        })
    }

    /// Evaluates the rule on one record.
    pub fn evaluate(&self, record: &dyn Fields) -> Option<Hit> {
        // Each selection is tested at most once; on the stack for the usual handful (this runs for
        // every candidate line, so a heap allocation here showed in dense scans).
        let mut small = [None; 16];
        let mut large = Vec::new();
        let memo: &mut [Option<bool>] = if self.selections.len() <= small.len() {
            &mut small[..self.selections.len()]
        } else {
            large.resize(self.selections.len(), None);
            &mut large
        };
        let mut sel = |i: usize| *memo[i].get_or_insert_with(|| self.selections[i].matches(record));
        if !self.condition.eval(&mut sel) {
            return None;
        }
        let mut detail = Vec::new();
        if let Some(field) = self.unless_stock_page {
            let stock = crate::stock::StockPages::builtin();
            let mut unknown = None;
            record.any_form(field, &mut |v| {
                let path = v.split('?').next().unwrap_or(v);
                if let crate::stock::PageClass::Unknown { page, lookalike, .. } = stock.classify(path) {
                    unknown = Some((page, lookalike));
                    return true;
                }
                false
            });
            let (page, lookalike) = unknown?;
            detail.push(("page".to_string(), page));
            if let Some(l) = lookalike {
                detail.push(("lookalike_of".to_string(), l));
            }
        }
        let escalated = self.escalation.as_ref().is_some_and(|e| e.condition.eval(&mut sel));
        let (severity, effect, stage) = match (&self.escalation, escalated) {
            (Some(e), true) => (e.severity, e.effect, e.stage),
            _ => (self.meta.severity, self.meta.effect, self.meta.stage),
        };
        for x in &self.extractions {
            let mut found = None;
            record.any_form(x.field, &mut |v| {
                if let Some(c) = x.regex.captures(v) {
                    let m = c.get(1).or_else(|| c.get(0)).map(|m| m.as_str().to_string());
                    found = m;
                    return true;
                }
                false
            });
            match (found, x.decode_rps_cat) {
                (Some(v), false) => detail.push((x.name.clone(), v)),
                (Some(token), true) => match crate::rps_cat::decode(&token) {
                    Ok(user) => {
                        if let Some(sid) = &user.sid {
                            detail.push(("rps_cat_sid".to_string(), sid.clone()));
                        }
                        if let Some(name) = user.login.or(user.sid) {
                            detail.push((x.name.clone(), name));
                        }
                    }
                    Err(why) => {
                        detail.push(("account_note".to_string(), format!("X-Rps-CAT token not decoded: {why}")))
                    }
                },
                (None, _) => {}
            }
        }
        for (name, id) in &self.keep {
            if let Some(v) = record.value(*id) {
                detail.push((name.clone(), v));
            }
        }
        Some(Hit { severity, effect, stage, escalated, detail })
    }
}
