//! JSON objects that carry one event without the `{"Event": …}` wrapper of evtx_dump:
//!
//! - **flat** (NXLog's `to_json()`, OTRF Security-Datasets, many SIEM exports): `Channel`,
//!   `EventID`, `TimeCreated`/`EventTime`/`@timestamp`, `Hostname`, `Message` and the event data
//!   as top-level fields;
//! - **Velociraptor**, raw `parse_evtx()` rows (`System` / `EventData`, `EventID.Value`,
//!   `TimeCreated.SystemTime` in Unix seconds) and the `Windows.EventLogs.*` artifact rows
//!   (`EventTime`, `Channel`, `EventID`, `EventData`, `Message`).

use serde_json::{Map, Value};

use super::parse_time;
use crate::WinEvent;
use crate::model::{flatten_event_data, flatten_leaves, text};

/// Top-level keys of flat exports that describe the record, not the event's data. Matched
/// exactly: NXLog writes the System `ProcessID` beside Sysmon's own `ProcessId`.
const FLAT_SYSTEM_KEYS: &[&str] = &[
    "Channel",
    "EventID",
    "EventId",
    "TimeCreated",
    "EventTime",
    "@timestamp",
    "@version",
    "Hostname",
    "host",
    "Computer",
    "SourceName",
    "ProviderName",
    "Provider",
    "ProviderGuid",
    "RecordNumber",
    "EventRecordID",
    "Severity",
    "SeverityValue",
    "Level",
    "Keywords",
    "EventType",
    "Version",
    "Task",
    "OpcodeValue",
    "Opcode",
    "ActivityID",
    "ProcessID",
    "ThreadID",
    "EventReceivedTime",
    "SourceModuleName",
    "SourceModuleType",
    "tags",
    "port",
    "log_name",
];

/// True when `v` is an event object of a flat or Velociraptor shape.
pub(crate) fn is_flat_or_velociraptor(v: &Map<String, Value>) -> bool {
    v.get("System").is_some_and(Value::is_object)
        || (v.contains_key("EventID") || v.contains_key("EventId"))
            && (v.contains_key("Channel") || v.contains_key("SourceName") || v.contains_key("EventData"))
}

/// Builds a [`WinEvent`] from a flat or Velociraptor object.
pub fn parse_flat_or_velociraptor(v: &Map<String, Value>) -> Result<WinEvent, String> {
    if let Some(Value::Object(system)) = v.get("System") {
        return Ok(velociraptor_raw(system, v));
    }
    if !is_flat_or_velociraptor(v) {
        return Err("no EventID with a Channel, SourceName or EventData".into());
    }
    let s = |key: &str| v.get(key).and_then(text).unwrap_or_default();
    let first = |keys: &[&str]| keys.iter().find_map(|k| v.get(*k).and_then(text)).unwrap_or_default();
    let mut event = WinEvent {
        channel: s("Channel"),
        provider: first(&["SourceName", "ProviderName", "Provider"]),
        event_id: number(v.get("EventID").or_else(|| v.get("EventId"))),
        computer: first(&["Hostname", "Computer"]),
        record_id: number(v.get("RecordNumber").or_else(|| v.get("EventRecordID"))).into(),
        level: level(v.get("Level").or_else(|| v.get("SeverityValue"))),
        time: ["TimeCreated", "EventTime", "@timestamp"]
            .iter()
            .find_map(|k| v.get(*k).and_then(text).and_then(|t| parse_time(&t))),
        ..WinEvent::default()
    };
    if event.computer.is_empty() {
        // Logstash/Elastic put the host as an object.
        if let Some(name) = v.get("host").and_then(|h| h.get("name")).and_then(text) {
            event.computer = name;
        }
    }
    match v.get("EventData") {
        // Velociraptor's artifact rows keep the data as an object of its own.
        Some(data @ Value::Object(_)) => flatten_event_data(data, &mut event),
        _ => {
            for (key, value) in v {
                if FLAT_SYSTEM_KEYS.contains(&key.as_str()) || key == "Message" || key == "EventData" {
                    continue;
                }
                match value {
                    Value::Object(_) => flatten_leaves(value, key, &mut event.named),
                    other => event.named.push((key.clone(), text(other).unwrap_or_default())),
                }
            }
        }
    }
    if let Some(Value::Object(_)) = v.get("UserData") {
        flatten_leaves(&v["UserData"], "", &mut event.named);
    }
    push_message(v, &mut event);
    Ok(event)
}

/// The rendered message is data too: where an export keeps nothing else (OTRF's MSExchange
/// Management events), keyword rules must still see the cmdlet and its parameters.
fn push_message(v: &Map<String, Value>, event: &mut WinEvent) {
    if let Some(m) = v.get("Message").and_then(text).filter(|m| !m.is_empty()) {
        event.named.push(("Message".into(), m));
    }
}

fn velociraptor_raw(system: &Map<String, Value>, row: &Map<String, Value>) -> WinEvent {
    let field = |key: &str| system.get(key);
    // `{"Value": 4624}` (Velociraptor), or a bare number.
    let id = field("EventID").map(|e| e.get("Value").unwrap_or(e));
    let provider = field("Provider").and_then(|p| p.get("Name").and_then(text).or_else(|| text(p)));
    let time = field("TimeCreated").and_then(|t| t.get("SystemTime").and_then(text).or_else(|| text(t)));
    let mut event = WinEvent {
        channel: field("Channel").and_then(text).unwrap_or_default(),
        provider: provider.unwrap_or_default(),
        event_id: number(id),
        level: level(field("Level")),
        computer: field("Computer").and_then(text).unwrap_or_default(),
        record_id: number(field("EventRecordID")).into(),
        time: time.and_then(|t| parse_time(&t)),
        ..WinEvent::default()
    };
    if let Some(data) = row.get("EventData") {
        flatten_event_data(data, &mut event);
    }
    if let Some(user) = row.get("UserData") {
        flatten_leaves(user, "", &mut event.named);
    }
    push_message(row, &mut event);
    event
}

fn number(v: Option<&Value>) -> u32 {
    v.and_then(text).and_then(|t| t.trim().parse().ok()).unwrap_or(0)
}

/// A level as a number, or by the names exports use ("Information", "Warning", "INFO").
pub(crate) fn level(v: Option<&Value>) -> u8 {
    let Some(t) = v.and_then(text) else { return 0 };
    if let Ok(n) = t.trim().parse() {
        return n;
    }
    match t.trim().to_ascii_lowercase().as_str() {
        "critical" | "crit" => 1,
        "error" | "err" => 2,
        "warning" | "warn" => 3,
        "information" | "info" => 4,
        "verbose" | "debug" => 5,
        _ => 0,
    }
}
