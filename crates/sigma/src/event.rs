//! rsigma's `Event` view of our records: Windows events and IIS W3C lines.

use std::borrow::Cow;

use rsigma_eval::event::{Event, EventValue};
use serde_json::{Map, Value};
use taskforce_events::WinEvent;
use taskforce_logs::Record;
use taskforce_logs::split::url_decode;

/// Sigma's names for process fields of Security 4688, which the event calls differently.
const SECURITY_ALIASES: &[(&str, &str)] =
    &[("Image", "NewProcessName"), ("ParentImage", "ParentProcessName"), ("User", "SubjectUserName")];

/// A Windows event as Sigma sees it: System fields by Sigma's names, event data by name.
pub struct WinEventView<'a>(pub &'a WinEvent);

impl WinEventView<'_> {
    /// The unnamed values joined with spaces, as the event's rendered message reads them
    /// (`New-MailboxExportRequest -Mailbox "a" -FilePath …`). Keyword rules for MSExchange
    /// Management are written against that message (e.g. `' -Mailbox '` with its leading space).
    fn message(&self) -> Option<String> {
        (self.0.unnamed.len() > 1).then(|| self.0.unnamed.join(" "))
    }

    fn named(&self, name: &str) -> Option<&str> {
        let e = self.0;
        e.get(name).or_else(|| {
            SECURITY_ALIASES
                .iter()
                .find(|(sigma, _)| sigma.eq_ignore_ascii_case(name))
                .and_then(|(_, real)| e.get(real))
        })
    }
}

impl Event for WinEventView<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        let e = self.0;
        let s = |v: &str| Some(EventValue::Str(Cow::Owned(v.to_string())));
        match path {
            "EventID" => Some(EventValue::Int(i64::from(e.event_id))),
            "Channel" => s(&e.channel),
            "Provider_Name" | "Provider" => s(&e.provider),
            "Computer" => s(&e.computer),
            "Level" => Some(EventValue::Int(i64::from(e.level))),
            "EventRecordID" => Some(EventValue::Int(e.record_id as i64)),
            "Data" if !e.unnamed.is_empty() => {
                Some(EventValue::Array(e.unnamed.iter().map(|v| EventValue::Str(Cow::Borrowed(v.as_str()))).collect()))
            }
            other => self.named(other).map(|v| EventValue::Str(Cow::Borrowed(v))),
        }
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        let e = self.0;
        e.named.iter().any(|(_, v)| pred(v))
            || e.unnamed.iter().any(|v| pred(v))
            || self.message().is_some_and(|m| pred(&m))
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        let e = self.0;
        let mut all: Vec<Cow<'_, str>> = e
            .named
            .iter()
            .map(|(_, v)| Cow::Borrowed(v.as_str()))
            .chain(e.unnamed.iter().map(|v| Cow::Borrowed(v.as_str())))
            .collect();
        all.extend(self.message().map(Cow::Owned));
        all
    }

    fn to_json(&self) -> Value {
        let e = self.0;
        let mut m = Map::new();
        m.insert("EventID".into(), e.event_id.into());
        m.insert("Channel".into(), e.channel.clone().into());
        m.insert("Provider_Name".into(), e.provider.clone().into());
        m.insert("Computer".into(), e.computer.clone().into());
        for (k, v) in &e.named {
            m.insert(k.clone(), v.clone().into());
        }
        if !e.unnamed.is_empty() {
            m.insert("Data".into(), e.unnamed.clone().into());
        }
        Value::Object(m)
    }
}

/// Sigma's webserver names for the IIS columns whose W3C names differ.
const WEB_ALIASES: &[(&str, &str)] = &[
    ("cs-user-agent", "cs(user-agent)"),
    ("c-useragent", "cs(user-agent)"),
    ("cs-referer", "cs(referer)"),
    ("cs-referrer", "cs(referer)"),
    ("cs-cookie", "cs(cookie)"),
];

/// An IIS W3C line as a Sigma `webserver` event. Each field offers its value as written and,
/// when different, URL-decoded; `cs-uri-query` also offers `stem?query`, since many Sigma web
/// rules are written against logs whose query field holds the whole URI.
pub struct W3cView<'a> {
    /// Lower-case column names of the line's header.
    pub columns: &'a [String],
    pub record: &'a Record<'a>,
}

impl W3cView<'_> {
    fn column(&self, name: &str) -> Option<Cow<'_, str>> {
        let lower = name.to_ascii_lowercase();
        let real = WEB_ALIASES.iter().find(|(a, _)| *a == lower).map(|(_, r)| *r).unwrap_or(lower.as_str());
        let i = self.columns.iter().position(|c| c == real)?;
        self.record.field(i)
    }

    fn forms(raw: Cow<'_, str>) -> Vec<String> {
        let mut out = vec![raw.to_string()];
        if let Cow::Owned(d) = url_decode(&raw) {
            out.push(d);
        }
        out
    }
}

impl Event for W3cView<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        let mut forms = match path.to_ascii_lowercase().as_str() {
            "cs-uri" => {
                let stem = self.column("cs-uri-stem")?;
                let q = self.column("cs-uri-query").filter(|q| q != "-" && !q.is_empty());
                Self::forms(Cow::Owned(match q {
                    Some(q) => format!("{stem}?{q}"),
                    None => stem.into_owned(),
                }))
            }
            "cs-uri-query" => {
                let mut f = Self::forms(self.column("cs-uri-query")?);
                if let Some(stem) = self.column("cs-uri-stem") {
                    f.extend(Self::forms(Cow::Owned(format!("{stem}?{}", f[0]))));
                }
                f
            }
            _ => Self::forms(self.column(path)?),
        };
        forms.dedup();
        if forms.len() == 1 {
            return Some(EventValue::Str(Cow::Owned(forms.remove(0))));
        }
        Some(EventValue::Array(forms.into_iter().map(|f| EventValue::Str(Cow::Owned(f))).collect()))
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        (0..self.record.len()).filter_map(|i| self.record.field(i)).any(|v| Self::forms(v).iter().any(|f| pred(f)))
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        (0..self.record.len()).filter_map(|i| self.record.field(i)).flat_map(Self::forms).map(Cow::Owned).collect()
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        for (i, name) in self.columns.iter().enumerate() {
            if let Some(v) = self.record.field(i) {
                m.insert(name.clone(), v.into_owned().into());
            }
        }
        Value::Object(m)
    }
}
