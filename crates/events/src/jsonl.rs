//! Event exports as JSON lines: `evtx_dump -o jsonl` (`{"Event": {...}}` per line),
//! winlogbeat / Elastic (`{"winlog": {...}, "@timestamp": ...}`), and the flat and Velociraptor
//! shapes of [`crate::exports`].

use std::io::{BufRead, BufReader, Read};

use serde_json::Value;

use crate::model::{flatten_event_data, flatten_leaves, from_evtx_json, text};
use crate::{EventFile, WinEvent};

/// True when `head` (the first bytes of a file) starts with a JSON object of one of the known
/// export shapes.
pub fn looks_like_event_jsonl(head: &[u8]) -> bool {
    looks_like_event_json_text(crate::exports::head_text(head).trim_start_matches('\u{feff}').trim_start())
}

/// The same test on text: the first line parses as (or, cut off by the head, starts like) an
/// event object of a known shape.
pub(crate) fn looks_like_event_json_text(text: &str) -> bool {
    let first = text.lines().next().unwrap_or("").trim();
    if !first.starts_with('{') {
        return false;
    }
    match serde_json::from_str::<Value>(first) {
        Ok(Value::Object(map)) => {
            map.contains_key("Event")
                || map.contains_key("winlog")
                || crate::exports::flat::is_flat_or_velociraptor(&map)
        }
        Ok(_) => false,
        // A first line longer than the head: judge by the keys it names.
        Err(_) => {
            first.contains("\"Event\"")
                || first.contains("\"winlog\"")
                || first.contains("\"System\"")
                || first.contains("\"EventID\"") && (first.contains("\"Channel\"") || first.contains("\"SourceName\""))
        }
    }
}

/// Reads a JSON-lines export; a bad line is reported with its number and skipped.
pub fn read_jsonl<R: Read>(reader: R, on_event: &mut dyn FnMut(WinEvent)) -> EventFile {
    let mut out = EventFile::default();
    let reader = BufReader::with_capacity(1 << 20, reader);
    for (i, line) in reader.split(b'\n').enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                out.damage.push(format!("read error after line {i}: {e}"));
                break;
            }
        };
        let trimmed = trim(&line);
        if trimmed.is_empty() {
            continue;
        }
        match parse_line(trimmed) {
            Ok(e) => on_event(e),
            Err(e) => out.damage.push(format!("line {}: {e}", i + 1)),
        }
    }
    out
}

fn trim(line: &[u8]) -> &[u8] {
    let mut l = line;
    if l.starts_with(&[0xEF, 0xBB, 0xBF]) {
        l = &l[3..];
    }
    while let [rest @ .., b'\r' | b' ' | b'\t'] = l {
        l = rest;
    }
    l
}

fn parse_line(line: &[u8]) -> Result<WinEvent, String> {
    let v: Value = serde_json::from_slice(line).map_err(|e| format!("not JSON: {e}"))?;
    if v.get("Event").is_some() {
        return from_evtx_json(line);
    }
    let Some(w) = v.get("winlog") else {
        return match &v {
            Value::Object(map) => crate::exports::parse_flat_or_velociraptor(map),
            _ => Err("not a JSON object".into()),
        };
    };
    let s = |v: Option<&Value>| v.and_then(text).unwrap_or_default();
    let mut event = WinEvent {
        channel: s(w.get("channel")),
        provider: s(w.get("provider_name")),
        event_id: s(w.get("event_id").or_else(|| v.get("event").and_then(|e| e.get("code")))).parse().unwrap_or(0),
        computer: s(w.get("computer_name").or_else(|| v.get("host").and_then(|h| h.get("name")))),
        record_id: s(w.get("record_id")).parse().unwrap_or(0),
        time: v.get("@timestamp").and_then(text).and_then(|t| t.parse().ok()),
        level: match s(v.get("log").and_then(|l| l.get("level"))).to_ascii_lowercase().as_str() {
            "critical" => 1,
            "error" => 2,
            "warning" => 3,
            "information" => 4,
            "verbose" => 5,
            _ => 0,
        },
        ..WinEvent::default()
    };
    if let Some(data) = w.get("event_data") {
        flatten_event_data(data, &mut event);
        // winlogbeat names unnamed values param1, param2...
        if event.unnamed.is_empty() {
            let params: Vec<String> =
                event.named.iter().filter(|(k, _)| k.starts_with("param")).map(|(_, v)| v.clone()).collect();
            event.unnamed = params;
        }
    }
    if let Some(user) = w.get("user_data") {
        flatten_leaves(user, "", &mut event.named);
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes_and_bad_lines() {
        let text = concat!(
            "{\"Event\":{\"System\":{\"Provider\":{\"#attributes\":{\"Name\":\"MSExchange CmdletLogs\"}},\"EventID\":1,\"Channel\":\"MSExchange Management\",\"Computer\":\"EX1\",\"TimeCreated\":{\"#attributes\":{\"SystemTime\":\"2021-08-21T10:03:10Z\"}}},\"EventData\":{\"Data\":[\"New-MailboxExportRequest\",\"-FilePath x.aspx\"]}}}\n",
            "this is not json\n",
            "\n",
            "{\"@timestamp\":\"2021-03-03T04:00:00Z\",\"winlog\":{\"channel\":\"Security\",\"event_id\":4688,\"provider_name\":\"Microsoft-Windows-Security-Auditing\",\"computer_name\":\"EX1\",\"event_data\":{\"NewProcessName\":\"C:\\\\Windows\\\\System32\\\\cmd.exe\"}}}\n",
            "{\"Event\":{\"System\"",
        );
        assert!(looks_like_event_jsonl(text.as_bytes()));
        let mut events = Vec::new();
        let out = read_jsonl(text.as_bytes(), &mut |e| events.push(e));
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].unnamed[0], "New-MailboxExportRequest");
        assert_eq!(events[1].event_id, 4688);
        assert_eq!(events[1].get("NewProcessName"), Some("C:\\Windows\\System32\\cmd.exe"));
        assert_eq!(out.damage.len(), 2, "{:?}", out.damage);
        assert!(out.damage[0].starts_with("line 2"));
        assert!(!looks_like_event_jsonl(b"#Fields: a b\n"));
    }
}
