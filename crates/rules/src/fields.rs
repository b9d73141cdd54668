//! Field names used by rules, and how one log header binds them to columns.

use std::borrow::Cow;
use std::collections::HashMap;

use taskforce_logs::{Header, Record, split};

/// Index of an interned field name in a rule set.
pub type FieldId = usize;

/// The raw line: available in every source.
pub const LINE: &str = "line";

/// Sigma's webserver names for the IIS columns whose W3C names differ.
const IIS_ALIASES: &[(&str, &str)] = &[
    ("cs-user-agent", "cs(user-agent)"),
    ("cs-referer", "cs(referer)"),
    ("cs-referrer", "cs(referer)"),
    ("cs-cookie", "cs(cookie)"),
    ("cs-host", "cs-host"),
    ("client-ip", "c-ip"),
];

/// The distinct field names (lower case) that a rule set's matchers read.
#[derive(Debug, Default, Clone)]
pub struct FieldTable {
    names: Vec<String>,
    ids: HashMap<String, FieldId>,
}

impl FieldTable {
    pub fn intern(&mut self, name: &str) -> FieldId {
        let lower = name.to_ascii_lowercase();
        if let Some(&id) = self.ids.get(&lower) {
            return id;
        }
        self.names.push(lower.clone());
        self.ids.insert(lower, self.names.len() - 1);
        self.names.len() - 1
    }

    pub fn name(&self, id: FieldId) -> &str {
        &self.names[id]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Binds every interned name to a column of `header`. `decode` asks for URL-decoded forms
    /// too (IIS).
    pub fn bind(&self, header: &Header, decode: bool) -> Binding {
        let columns = self
            .names
            .iter()
            .map(|name| {
                if name == LINE {
                    return Column::Line;
                }
                if let Some(i) = header.column(name) {
                    return Column::Index(i);
                }
                if decode {
                    if name == "cs-uri" {
                        return Column::Uri {
                            stem: header.column("cs-uri-stem"),
                            query: header.column("cs-uri-query"),
                        };
                    }
                    if let Some(i) =
                        IIS_ALIASES.iter().find(|(alias, _)| alias == name).and_then(|(_, real)| header.column(real))
                    {
                        return Column::Index(i);
                    }
                }
                Column::Missing
            })
            .collect();
        Binding { columns, decode }
    }
}

/// Where a field's value comes from under one header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Index(usize),
    Line,
    /// IIS `cs-uri`: the stem, and `?query` when there is a query.
    Uri {
        stem: Option<usize>,
        query: Option<usize>,
    },
    Missing,
}

/// The field table bound to one header.
#[derive(Debug, Clone)]
pub struct Binding {
    columns: Vec<Column>,
    decode: bool,
}

impl Binding {
    pub fn column(&self, id: FieldId) -> Column {
        self.columns[id]
    }
}

/// What a matcher reads from: a parsed log line or a rule's test record.
pub trait Fields {
    /// Calls `f` with each form of the field's value (as written, then URL-decoded when that
    /// differs) until `f` returns true. Returns false when the field is missing or no form matched.
    fn any_form(&self, id: FieldId, f: &mut dyn FnMut(&str) -> bool) -> bool;
    /// The value as written, for the finding's detail.
    fn value(&self, id: FieldId) -> Option<String>;
}

/// A log line read through a binding.
pub struct BoundRecord<'a> {
    pub record: &'a Record<'a>,
    pub binding: &'a Binding,
}

impl BoundRecord<'_> {
    fn raw(&self, id: FieldId) -> Option<Cow<'_, str>> {
        match self.binding.column(id) {
            Column::Index(i) => self.record.field(i),
            Column::Line => Some(self.record.text()),
            Column::Uri { stem, query } => {
                let stem = stem.and_then(|i| self.record.field(i))?;
                match query.and_then(|i| self.record.field(i)) {
                    Some(q) if !q.is_empty() && q != "-" => Some(Cow::Owned(format!("{stem}?{q}"))),
                    _ => Some(stem),
                }
            }
            Column::Missing => None,
        }
    }
}

impl Fields for BoundRecord<'_> {
    fn any_form(&self, id: FieldId, f: &mut dyn FnMut(&str) -> bool) -> bool {
        let Some(raw) = self.raw(id) else {
            return false;
        };
        if f(&raw) {
            return true;
        }
        if self.binding.decode {
            let decoded = split::url_decode(&raw);
            if let Cow::Owned(d) = decoded {
                return f(&d);
            }
        }
        false
    }

    fn value(&self, id: FieldId) -> Option<String> {
        self.raw(id).map(|c| c.into_owned())
    }
}

/// A rule test record: field name → value, as written in the log.
pub struct MapRecord<'a> {
    pub values: &'a [(String, String)],
    pub table: &'a FieldTable,
    pub decode: bool,
}

impl MapRecord<'_> {
    fn raw(&self, id: FieldId) -> Option<String> {
        let name = self.table.name(id);
        if name == LINE {
            if let Some((_, v)) = self.values.iter().find(|(k, _)| k.eq_ignore_ascii_case(LINE)) {
                return Some(v.clone());
            }
            let joined: Vec<&str> = self.values.iter().map(|(_, v)| v.as_str()).collect();
            return Some(joined.join(" "));
        }
        let lookup = |n: &str| self.values.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.clone());
        if let Some(v) = lookup(name) {
            return Some(v);
        }
        if self.decode {
            if name == "cs-uri" {
                let stem = lookup("cs-uri-stem")?;
                return Some(match lookup("cs-uri-query") {
                    Some(q) if !q.is_empty() && q != "-" => format!("{stem}?{q}"),
                    _ => stem,
                });
            }
            if let Some((_, real)) = IIS_ALIASES.iter().find(|(alias, _)| *alias == name) {
                return lookup(real);
            }
            if let Some((alias, _)) = IIS_ALIASES.iter().find(|(_, real)| *real == name) {
                return lookup(alias);
            }
        }
        None
    }
}

impl Fields for MapRecord<'_> {
    fn any_form(&self, id: FieldId, f: &mut dyn FnMut(&str) -> bool) -> bool {
        let Some(raw) = self.raw(id) else {
            return false;
        };
        if f(&raw) {
            return true;
        }
        if let (true, Cow::Owned(d)) = (self.decode, split::url_decode(&raw)) {
            return f(&d);
        }
        false
    }

    fn value(&self, id: FieldId) -> Option<String> {
        self.raw(id)
    }
}
