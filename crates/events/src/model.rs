//! The typed event record and its deserialisation from the `evtx` crate's JSON.

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

/// One Windows event, with the System fields rules use and the event data flattened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WinEvent {
    pub channel: String,
    pub provider: String,
    pub event_id: u32,
    pub level: u8,
    pub computer: String,
    pub time: Option<Timestamp>,
    pub record_id: u64,
    /// Named values: `<Data Name="CommandLine">` and the leaves of `UserData`, in order.
    pub named: Vec<(String, String)>,
    /// Unnamed `<Data>` values (MSExchange Management events keep the cmdlet and its
    /// parameters this way).
    pub unnamed: Vec<String>,
}

impl WinEvent {
    /// A named value, matched case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.named.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// A one-line rendering for a finding's excerpt.
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("{} EventID {} ({})", self.channel, self.event_id, self.provider)];
        for (k, v) in &self.named {
            if !v.is_empty() {
                parts.push(format!("{k}={v}"));
            }
        }
        for v in self.unnamed.iter().filter(|v| !v.is_empty()) {
            parts.push(v.clone());
        }
        parts.join(" | ")
    }
}

#[derive(Deserialize)]
struct Doc {
    #[serde(rename = "Event")]
    event: EventDoc,
}

#[derive(Deserialize)]
struct EventDoc {
    #[serde(rename = "System")]
    system: SystemDoc,
    #[serde(rename = "EventData", default)]
    event_data: Option<Value>,
    #[serde(rename = "UserData", default)]
    user_data: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SystemDoc {
    #[serde(default)]
    provider: Option<Value>,
    #[serde(rename = "EventID", default)]
    event_id: Option<Value>,
    #[serde(default)]
    level: Option<Value>,
    #[serde(default)]
    time_created: Option<Value>,
    #[serde(rename = "EventRecordID", default)]
    event_record_id: Option<Value>,
    #[serde(default)]
    channel: Option<Value>,
    #[serde(default)]
    computer: Option<Value>,
}

/// The text of a JSON value as the evtx crate renders XML: a scalar, or `{"#text": …}` when the
/// element also had attributes.
pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(m) => m.get("#text").and_then(text),
        Value::Array(items) => Some(items.iter().filter_map(text).collect::<Vec<_>>().join(" ")),
        Value::Null => None,
    }
}

fn attribute(v: &Option<Value>, name: &str) -> Option<String> {
    v.as_ref()?.get("#attributes")?.get(name).and_then(text)
}

/// Builds a [`WinEvent`] from one record's JSON bytes (`{"Event": {"System": …, "EventData": …}}`).
pub fn from_evtx_json(bytes: &[u8]) -> Result<WinEvent, String> {
    let doc: Doc = serde_json::from_slice(bytes).map_err(|e| format!("record is not event JSON: {e}"))?;
    let sys = doc.event.system;
    let mut event = WinEvent {
        channel: sys.channel.as_ref().and_then(text).unwrap_or_default(),
        provider: attribute(&sys.provider, "Name").unwrap_or_default(),
        event_id: sys.event_id.as_ref().and_then(text).and_then(|t| t.trim().parse().ok()).unwrap_or(0),
        level: sys.level.as_ref().and_then(text).and_then(|t| t.trim().parse().ok()).unwrap_or(0),
        computer: sys.computer.as_ref().and_then(text).unwrap_or_default(),
        time: attribute(&sys.time_created, "SystemTime").and_then(|t| t.parse().ok()),
        record_id: sys.event_record_id.as_ref().and_then(text).and_then(|t| t.trim().parse().ok()).unwrap_or(0),
        ..WinEvent::default()
    };
    if let Some(data) = &doc.event.event_data {
        flatten_event_data(data, &mut event);
    }
    if let Some(user) = &doc.event.user_data {
        flatten_leaves(user, "", &mut event.named);
    }
    Ok(event)
}

/// `EventData`: named values become pairs; `Data` (unnamed, one value or an array) becomes the
/// unnamed list.
pub(crate) fn flatten_event_data(data: &Value, event: &mut WinEvent) {
    let Value::Object(map) = data else { return };
    for (key, value) in map {
        if key == "#attributes" {
            continue;
        }
        if key == "Data" {
            let inner = value.get("#text").unwrap_or(value);
            match inner {
                Value::Array(items) => event.unnamed.extend(items.iter().map(|i| text(i).unwrap_or_default())),
                other => event.unnamed.extend(text(other)),
            }
            continue;
        }
        event.named.push((key.clone(), text(value).unwrap_or_default()));
    }
}

/// Leaves of a nested object (UserData), named by their own key.
pub(crate) fn flatten_leaves(v: &Value, key: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k == "#attributes" {
                    continue;
                }
                let name = if k == "#text" { key } else { k.as_str() };
                flatten_leaves(child, name, out);
            }
        }
        Value::Null => {}
        other if !key.is_empty() => out.push((key.to_string(), text(other).unwrap_or_default())),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msexchange_management_unnamed_data() {
        let json = br##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"MSExchange CmdletLogs"}},"EventID":{"#attributes":{"Qualifiers":"16384"},"#text":"1"},"Level":"4","TimeCreated":{"#attributes":{"SystemTime":"2021-11-19T16:52:33.833733500Z"}},"EventRecordID":"3229","Channel":"MSExchange Management","Computer":"WEC.ave.local"},"EventData":{"Data":{"#text":["New-MailboxExportRequest","-Mailbox \"a\" -FilePath \"\\\\localhost\\c$\\inetpub\\wwwroot\\aspnet_client\\x.aspx\"",""]}}}}"##;
        let e = from_evtx_json(json).unwrap();
        assert_eq!(e.event_id, 1);
        assert_eq!(e.level, 4);
        assert_eq!(e.provider, "MSExchange CmdletLogs");
        assert_eq!(e.channel, "MSExchange Management");
        assert_eq!(e.record_id, 3229);
        assert_eq!(e.unnamed[0], "New-MailboxExportRequest");
        assert!(e.unnamed[1].contains("aspnet_client"));
        assert_eq!(e.time.unwrap().to_string(), "2021-11-19T16:52:33.8337335Z");
    }

    #[test]
    fn sysmon_named_data_and_numbers() {
        let json = br##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},"EventID":1,"Level":4,"EventRecordID":1742,"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"W1","TimeCreated":{"#attributes":{"SystemTime":"2017-12-26T13:10:29.1368792Z"}}},"EventData":{"Image":"C:\\Windows\\SysWOW64\\PING.EXE","ProcessId":9112,"ParentImage":"C:\\Windows\\SysWOW64\\cmd.exe"}}}"##;
        let e = from_evtx_json(json).unwrap();
        assert_eq!(e.event_id, 1);
        assert_eq!(e.get("processid"), Some("9112"));
        assert_eq!(e.get("ParentImage"), Some("C:\\Windows\\SysWOW64\\cmd.exe"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(from_evtx_json(b"{}").is_err());
        assert!(from_evtx_json(b"not json").is_err());
        let e = from_evtx_json(br#"{"Event":{"System":{}}}"#).unwrap();
        assert_eq!(e.event_id, 0);
    }
}
