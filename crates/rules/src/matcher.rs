//! Compiled selections: field value tests with Sigma's modifiers.

use regex::Regex;

use crate::fields::{FieldId, FieldTable, Fields, LINE};

#[derive(Debug, Clone)]
pub enum Op {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
    Regex(Regex),
    /// `null` in YAML: the field is empty or absent.
    Empty,
}

/// One value test. `needle` is lower-cased unless `cased`.
#[derive(Debug, Clone)]
pub struct ValueTest {
    pub op: Op,
    pub needle: String,
    pub cased: bool,
}

impl ValueTest {
    pub fn matches(&self, value: &str) -> bool {
        if let Op::Regex(re) = &self.op {
            return re.is_match(value);
        }
        if let Op::Empty = self.op {
            return value.is_empty();
        }
        if self.cased {
            return match self.op {
                Op::Equals => value == self.needle,
                Op::Contains => value.contains(self.needle.as_str()),
                Op::StartsWith => value.starts_with(self.needle.as_str()),
                Op::EndsWith => value.ends_with(self.needle.as_str()),
                Op::Regex(_) | Op::Empty => unreachable!(),
            };
        }
        // The needle is lower-case: ASCII case-insensitive comparisons in place (lower-casing
        // each value into a new string was a malloc and a free per test on dense logs).
        let (hay, needle) = (value.as_bytes(), self.needle.as_bytes());
        match self.op {
            Op::Equals => hay.eq_ignore_ascii_case(needle),
            Op::Contains => contains_ignore_ascii_case(hay, needle),
            Op::StartsWith => hay.len() >= needle.len() && hay[..needle.len()].eq_ignore_ascii_case(needle),
            Op::EndsWith => hay.len() >= needle.len() && hay[hay.len() - needle.len()..].eq_ignore_ascii_case(needle),
            Op::Regex(_) | Op::Empty => unreachable!(),
        }
    }
}

/// True when `needle` occurs in `hay`, ASCII letters compared without case: candidates by the
/// needle's first byte in either case (SIMD `memchr2`), then the rest compared in place.
fn contains_ignore_ascii_case(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let Some(last_start) = hay.len().checked_sub(needle.len()) else {
        return false;
    };
    let (lower, upper) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    let mut from = 0;
    while from <= last_start {
        let Some(i) = memchr::memchr2(lower, upper, &hay[from..=last_start]) else {
            return false;
        };
        let at = from + i;
        if hay[at + 1..at + needle.len()].eq_ignore_ascii_case(rest) {
            return true;
        }
        from = at + 1;
    }
    false
}

/// A field and the values it is tested against (any of them, or all with `|all`).
#[derive(Debug, Clone)]
pub struct FieldTest {
    pub field: FieldId,
    pub tests: Vec<ValueTest>,
    pub all: bool,
}

impl FieldTest {
    pub fn matches(&self, record: &dyn Fields) -> bool {
        let absent_ok = self.tests.iter().any(|t| matches!(t.op, Op::Empty));
        let mut seen = false;
        if self.all {
            return self.tests.iter().all(|t| record.any_form(self.field, &mut |v| t.matches(v)));
        }
        let hit = record.any_form(self.field, &mut |v| {
            seen = true;
            self.tests.iter().any(|t| t.matches(v))
        });
        hit || (absent_ok && !seen)
    }
}

/// A selection: any of its alternatives, each a list of field tests that must all hold.
#[derive(Debug, Clone)]
pub struct Selection {
    pub alternatives: Vec<Vec<FieldTest>>,
}

impl Selection {
    pub fn matches(&self, record: &dyn Fields) -> bool {
        self.alternatives.iter().any(|alt| alt.iter().all(|t| t.matches(record)))
    }
}

/// Builds a selection from its YAML value.
pub fn compile_selection(value: &serde_norway::Value, fields: &mut FieldTable) -> Result<Selection, String> {
    use serde_norway::Value;
    match value {
        Value::Mapping(map) => Ok(Selection { alternatives: vec![compile_map(map, fields)?] }),
        Value::Sequence(items) if items.iter().all(|i| matches!(i, Value::Mapping(_))) => {
            let alternatives = items
                .iter()
                .map(|i| compile_map(i.as_mapping().expect("checked"), fields))
                .collect::<Result<_, _>>()?;
            Ok(Selection { alternatives })
        }
        Value::Sequence(_) | Value::String(_) => {
            // Keywords: any of the strings anywhere in the raw line.
            let line = fields.intern(LINE);
            let tests = scalars(value)?
                .into_iter()
                .map(|s| value_test(Some(s), &ModifierSet { kind: Kind::Contains, ..ModifierSet::default() }))
                .collect::<Result<_, _>>()?;
            Ok(Selection { alternatives: vec![vec![FieldTest { field: line, tests, all: false }]] })
        }
        other => Err(format!("a selection must be a map, a list of maps or a list of keywords, not {other:?}")),
    }
}

/// The comparison a value modifier asks for, before the value is compiled.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Kind {
    #[default]
    Equals,
    Contains,
    StartsWith,
    EndsWith,
    Regex,
}

#[derive(Default)]
struct ModifierSet {
    kind: Kind,
    all: bool,
    cased: bool,
}

fn compile_map(map: &serde_norway::Mapping, fields: &mut FieldTable) -> Result<Vec<FieldTest>, String> {
    let mut tests = Vec::new();
    for (key, value) in map {
        let key = key.as_str().ok_or("selection keys must be field names")?;
        let mut parts = key.split('|');
        let field = parts.next().unwrap_or_default().trim();
        if field.is_empty() {
            return Err(format!("empty field name in {key:?}"));
        }
        let mut mods = ModifierSet::default();
        for m in parts {
            match m.trim() {
                "contains" => mods.kind = Kind::Contains,
                "startswith" => mods.kind = Kind::StartsWith,
                "endswith" => mods.kind = Kind::EndsWith,
                "re" => mods.kind = Kind::Regex,
                "all" => mods.all = true,
                "cased" => mods.cased = true,
                other => return Err(format!("unsupported modifier {other:?} in {key:?}")),
            }
        }
        let id = fields.intern(field);
        let values = if value.is_null() { vec![None] } else { scalars(value)?.into_iter().map(Some).collect() };
        let value_tests = values.into_iter().map(|v| value_test(v, &mods)).collect::<Result<_, _>>()?;
        tests.push(FieldTest { field: id, tests: value_tests, all: mods.all });
    }
    Ok(tests)
}

fn value_test(value: Option<String>, mods: &ModifierSet) -> Result<ValueTest, String> {
    let Some(value) = value else {
        return Ok(ValueTest { op: Op::Empty, needle: String::new(), cased: true });
    };
    let op = match mods.kind {
        Kind::Regex => {
            let re = Regex::new(&value).map_err(|e| format!("bad regex {value:?}: {e}"))?;
            return Ok(ValueTest { op: Op::Regex(re), needle: value, cased: true });
        }
        Kind::Equals => Op::Equals,
        Kind::Contains => Op::Contains,
        Kind::StartsWith => Op::StartsWith,
        Kind::EndsWith => Op::EndsWith,
    };
    let needle = if mods.cased { value } else { value.to_ascii_lowercase() };
    Ok(ValueTest { op, needle, cased: mods.cased })
}

/// Strings of a scalar or a list of scalars (numbers and booleans as written).
pub fn scalars(value: &serde_norway::Value) -> Result<Vec<String>, String> {
    use serde_norway::Value;
    let one = |v: &Value| -> Result<String, String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(format!("expected a string, got {other:?}")),
        }
    };
    match value {
        Value::Sequence(items) => items.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(op: Op, needle: &str) -> ValueTest {
        ValueTest { op, needle: needle.to_string(), cased: false }
    }

    #[test]
    fn case_insensitive_tests_agree_with_lower_casing_the_value() {
        let values = ["", "a", "/OWA/auth/x.JS", "/owa/AUTH/", "xx/Owa/Auth/", "ÄÖ/owa/auth/é", "/ow", "Ä/OWA/"];
        let needles = ["", "/owa/auth/", "/owa/", "x.js", "ä", "é", "a"];
        for v in values {
            let lowered = v.to_ascii_lowercase();
            for n in needles {
                let n = n.to_ascii_lowercase();
                assert_eq!(test(Op::Equals, &n).matches(v), lowered == n, "{v} = {n}");
                assert_eq!(test(Op::Contains, &n).matches(v), lowered.contains(&n), "{v} ∋ {n}");
                assert_eq!(test(Op::StartsWith, &n).matches(v), lowered.starts_with(&n), "{v} ^ {n}");
                assert_eq!(test(Op::EndsWith, &n).matches(v), lowered.ends_with(&n), "{v} $ {n}");
            }
        }
    }
}
