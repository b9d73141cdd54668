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

    /// Every string a rule can compare through this view (`get_field`, numbers as rsigma turns
    /// them into text, and the keyword values), as the candidate index searches them. Each field
    /// and alias resolves to one of these, so a needle a matching rule needs is in one of them.
    pub(crate) fn haystacks(&self) -> Vec<Cow<'_, str>> {
        let e = self.0;
        let mut all: Vec<Cow<'_, str>> = Vec::with_capacity(e.named.len() + e.unnamed.len() + 7);
        all.extend([e.channel.as_str(), e.provider.as_str(), e.computer.as_str()].map(crate::candidates::fold));
        all.extend([u64::from(e.event_id), u64::from(e.level), e.record_id].map(|n| Cow::Owned(n.to_string())));
        all.extend(e.named.iter().map(|(_, v)| crate::candidates::fold(v)));
        all.extend(e.unnamed.iter().map(|v| crate::candidates::fold(v)));
        if let Some(message) = self.message() {
            all.push(Cow::Owned(crate::candidates::fold(&message).into_owned()));
        }
        all
    }

    fn named(&self, name: &str) -> Option<&str> {
        let e = self.0;
        e.get(name).or_else(|| {
            SECURITY_ALIASES
                .iter()
                .find(|(sigma, _)| sigma.eq_ignore_ascii_case(name))
                .and_then(|(_, real)| e.get(real))
                .or_else(|| Self::spaced(e, name))
        })
    }

    /// Defender (and a few other providers) name their data with spaces (`Threat Name`,
    /// `Process Name`); Sigma's field names drop them (`ThreatName`).
    fn spaced<'e>(e: &'e WinEvent, name: &str) -> Option<&'e str> {
        e.named
            .iter()
            .filter(|(k, _)| k.contains(' '))
            .find(|(k, _)| {
                let mut a = k.chars().filter(|c| *c != ' ');
                let mut b = name.chars();
                loop {
                    match (a.next(), b.next()) {
                        (None, None) => return true,
                        (Some(x), Some(y)) if x.eq_ignore_ascii_case(&y) => {}
                        _ => return false,
                    }
                }
            })
            .map(|(_, v)| v.as_str())
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

impl<'a> W3cView<'a> {
    fn column(&self, name: &str) -> Option<Cow<'a, str>> {
        let real = WEB_ALIASES.iter().find(|(a, _)| a.eq_ignore_ascii_case(name)).map(|(_, r)| *r).unwrap_or(name);
        let i = self.columns.iter().position(|c| c.eq_ignore_ascii_case(real))?;
        self.record.field(i)
    }

    /// The value as written, and URL-decoded when that differs.
    fn value(raw: Cow<'a, str>) -> EventValue<'a> {
        match url_decode(&raw) {
            Cow::Owned(decoded) => EventValue::Array(vec![EventValue::Str(raw), EventValue::Str(Cow::Owned(decoded))]),
            Cow::Borrowed(_) => EventValue::Str(raw),
        }
    }

    /// Calls `pred` on the value as written and, when different, decoded.
    fn any_form(raw: &str, pred: &dyn Fn(&str) -> bool) -> bool {
        pred(raw) || matches!(url_decode(raw), Cow::Owned(d) if pred(&d))
    }
}

impl Event for W3cView<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        if path.eq_ignore_ascii_case("cs-uri") {
            let stem = self.column("cs-uri-stem")?;
            let q = self.column("cs-uri-query").filter(|q| q != "-" && !q.is_empty());
            return Some(Self::value(match q {
                Some(q) => Cow::Owned(format!("{stem}?{q}")),
                None => stem,
            }));
        }
        if path.eq_ignore_ascii_case("cs-uri-query") {
            let query = self.column("cs-uri-query")?;
            let Some(stem) = self.column("cs-uri-stem") else { return Some(Self::value(query)) };
            let whole = format!("{stem}?{query}");
            let mut forms = Vec::with_capacity(4);
            for v in [Self::value(query), Self::value(Cow::Owned(whole))] {
                match v {
                    EventValue::Array(items) => forms.extend(items),
                    other => forms.push(other),
                }
            }
            return Some(EventValue::Array(forms));
        }
        self.column(path).map(Self::value)
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        (0..self.record.len()).filter_map(|i| self.record.field(i)).any(|v| Self::any_form(&v, pred))
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        let mut out = Vec::new();
        for v in (0..self.record.len()).filter_map(|i| self.record.field(i)) {
            if let Cow::Owned(d) = url_decode(&v) {
                out.push(Cow::Owned(d));
            }
            out.push(v);
        }
        out
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
