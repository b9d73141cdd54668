//! Literals derived from Sigma rules, so IIS lines that no `webserver` rule can match are not
//! handed to the engine. The same reasoning as the line rules' prefilter (`taskforce-rules`):
//! `and` keeps the better side, `or` needs every side, `not` gives nothing, and a value gives its
//! longest run of characters that URL encoding leaves unchanged.

use std::collections::HashMap;

use rsigma_parser::value::StringPart;
use rsigma_parser::{
    ConditionExpr, Detection, DetectionItem, Modifier, Quantifier, SelectorPattern, SigmaRule, SigmaValue,
};

pub use taskforce_rules::prefilter::Literals;
use taskforce_rules::prefilter::{best, stable_run, union};

fn value_literal(v: &SigmaValue) -> Literals {
    match v {
        SigmaValue::String(s) => stable_run(s.parts.iter().filter_map(|p| match p {
            StringPart::Plain(t) => Some(t.as_str()),
            StringPart::Special(_) => None,
        })),
        SigmaValue::Integer(i) => stable_run([i.to_string().as_str()]),
        _ => None,
    }
}

fn item_literals(item: &DetectionItem) -> Literals {
    // Modifiers that transform the value or compare it otherwise: no literal is safe.
    let opaque = item.field.modifiers.iter().any(|m| {
        !matches!(m, Modifier::Contains | Modifier::StartsWith | Modifier::EndsWith | Modifier::All | Modifier::Cased)
    });
    if opaque {
        return None;
    }
    let per_value = item.values.iter().map(value_literal);
    if item.field.modifiers.contains(&Modifier::All) { per_value.fold(None, best) } else { union(per_value) }
}

fn detection_literals(d: &Detection) -> Literals {
    match d {
        Detection::AllOf(items) => items.iter().map(item_literals).fold(None, best),
        Detection::AnyOf(parts) => union(parts.iter().map(detection_literals)),
        Detection::And(parts) => parts.iter().map(detection_literals).fold(None, best),
        Detection::Keywords(values) => union(values.iter().map(value_literal)),
        _ => None,
    }
}

fn names_matching<'a>(named: &'a HashMap<String, Detection>, pattern: &SelectorPattern) -> Vec<&'a Detection> {
    named
        .iter()
        .filter(|(name, _)| match pattern {
            SelectorPattern::Them => !name.starts_with('_'),
            SelectorPattern::Pattern(p) => match p.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => *name == p,
            },
        })
        .map(|(_, d)| d)
        .collect()
}

fn expr_literals(e: &ConditionExpr, named: &HashMap<String, Detection>) -> Literals {
    match e {
        ConditionExpr::And(parts) => parts.iter().map(|p| expr_literals(p, named)).fold(None, best),
        ConditionExpr::Or(parts) => union(parts.iter().map(|p| expr_literals(p, named))),
        ConditionExpr::Not(_) => None,
        ConditionExpr::Identifier(name) => named.get(name).and_then(detection_literals),
        ConditionExpr::Selector { quantifier, pattern } => {
            let matched = names_matching(named, pattern);
            if matched.is_empty() {
                return None;
            }
            let per = matched.into_iter().map(detection_literals);
            match quantifier {
                Quantifier::All => per.fold(None, best),
                Quantifier::Any | Quantifier::Count(_) => union(per),
            }
        }
    }
}

/// The literals one of which is in every line `rule` can match (lower case), or `None`.
pub fn rule_literals(rule: &SigmaRule) -> Literals {
    union(rule.detection.conditions.iter().map(|c| expr_literals(c, &rule.detection.named)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lits(yaml: &str) -> Literals {
        let c = rsigma_parser::parse_sigma_yaml(yaml).unwrap();
        rule_literals(&c.rules[0]).map(|mut v| {
            v.sort();
            v
        })
    }

    #[test]
    fn derivation() {
        let head = "title: t\nlogsource: {category: webserver}\ndetection:\n";
        assert_eq!(
            lits(&format!(
                "{head}  a:\n    cs-uri-query|contains: ['/owa/auth/x.js', 'autodiscover.json?@']\n  f:\n    cs-user-agent: nessus\n  condition: a and not f\n"
            )),
            Some(vec!["/owa/auth/x.js".into(), "autodiscover.json".into()])
        );
        assert_eq!(lits(&format!("{head}  a:\n    cs-uri-query|re: 'x.*y'\n  condition: a\n")), None);
        assert_eq!(lits(&format!("{head}  a:\n    c-ip|cidr: '10.0.0.0/8'\n  condition: a\n")), None);
        assert_eq!(
            lits(&format!("{head}  k:\n    - '=whoami'\n    - '=net%20user'\n  condition: k\n")),
            Some(vec!["20user".into(), "whoami".into()])
        );
        assert_eq!(
            lits(&format!(
                "{head}  s1:\n    cs-method: POST\n    cs-uri-stem|startswith: '/ecp/DDI/'\n  s2:\n    sc-status: 200\n  condition: all of s*\n"
            )),
            Some(vec!["/ecp/ddi/".into()])
        );
        assert_eq!(lits(&format!("{head}  a:\n    cs-uri-stem: '*'\n  condition: a or not a\n")), None);
    }
}
