//! EvtxECmd's CSV (Eric Zimmerman's tool, what KAPE's `!EZParser` module writes): one row per
//! event with `TimeCreated`, `EventId`, `Provider`, `Channel`, `Computer`, `EventRecordId`, and
//! the event data as a JSON document in the `Payload` column
//! (`{"EventData":{"Data":[{"@Name":"…","#text":"…"},…]}}`).

use std::io::Read;

use serde_json::Value;

use super::flat::level;
use super::parse_time;
use crate::model::{flatten_leaves, text};
use crate::{EventFile, WinEvent};

/// Longest CSV record accepted (a Payload holds one event's data; real ones are a few KiB).
const MAX_RECORD: usize = 4 << 20;

/// True when the first line is EvtxECmd's header.
pub fn looks_like_evtxecmd_csv(text: &str) -> bool {
    let first = text.lines().next().unwrap_or("");
    let has = |name: &str| first.split(',').any(|c| c.trim().trim_matches('"').eq_ignore_ascii_case(name));
    has("EventId") && has("Channel") && has("Payload") && (has("EventRecordId") || has("RecordNumber"))
}

/// Reads an EvtxECmd CSV; a bad row is reported with its row number (the header is row 0, as
/// Timeline Explorer counts) and byte offset, and skipped.
pub fn read_evtxecmd_csv<R: Read>(reader: R, on_event: &mut dyn FnMut(WinEvent)) -> EventFile {
    let mut out = EventFile::default();
    let mut csv = ::csv::ReaderBuilder::new().flexible(true).has_headers(true).from_reader(reader);
    let headers = match csv.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            out.damage.push(format!("header: {e}"));
            return out;
        }
    };
    let col = |name: &str| headers.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
    let cols = Columns {
        time: col("TimeCreated"),
        id: col("EventId"),
        level: col("Level"),
        provider: col("Provider"),
        channel: col("Channel"),
        computer: col("Computer"),
        record: col("EventRecordId").or_else(|| col("RecordNumber")),
        payload: col("Payload"),
        map_description: col("MapDescription"),
    };
    let mut record = ::csv::ByteRecord::new();
    let mut row = 0u64;
    loop {
        row += 1;
        match csv.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let byte = e.position().map_or(0, |p| p.byte());
                out.damage.push(format!("row {row} (byte {byte}): {e}"));
                // The csv reader cannot resume inside a broken quoted field reliably; stop here.
                if !matches!(e.kind(), ::csv::ErrorKind::UnequalLengths { .. } | ::csv::ErrorKind::Utf8 { .. }) {
                    break;
                }
                continue;
            }
        }
        let byte = record.position().map_or(0, |p| p.byte());
        if record.as_slice().len() > MAX_RECORD {
            out.damage.push(format!("row {row} (byte {byte}): record over {MAX_RECORD} bytes, skipped"));
            continue;
        }
        match cols.event(&record) {
            Ok(e) => on_event(e),
            Err(e) => out.damage.push(format!("row {row} (byte {byte}): {e}")),
        }
    }
    out
}

struct Columns {
    time: Option<usize>,
    id: Option<usize>,
    level: Option<usize>,
    provider: Option<usize>,
    channel: Option<usize>,
    computer: Option<usize>,
    record: Option<usize>,
    payload: Option<usize>,
    map_description: Option<usize>,
}

impl Columns {
    fn event(&self, r: &::csv::ByteRecord) -> Result<WinEvent, String> {
        let get = |i: Option<usize>| i.and_then(|i| r.get(i)).map(|b| String::from_utf8_lossy(b).trim().to_string());
        let id = get(self.id).unwrap_or_default();
        let event_id = id.parse().map_err(|_| format!("EventId {id:?} is not a number"))?;
        let mut event = WinEvent {
            channel: get(self.channel).unwrap_or_default(),
            provider: get(self.provider).unwrap_or_default(),
            event_id,
            level: level(get(self.level).map(Value::String).as_ref()),
            computer: get(self.computer).unwrap_or_default(),
            record_id: get(self.record).and_then(|r| r.parse().ok()).unwrap_or(0),
            time: get(self.time).and_then(|t| parse_time(&t)),
            ..WinEvent::default()
        };
        if let Some(payload) = get(self.payload).filter(|p| !p.is_empty()) {
            let doc: Value = serde_json::from_str(&payload).map_err(|e| format!("Payload is not JSON: {e}"))?;
            payload_data(&doc, &mut event);
        }
        if let Some(m) = get(self.map_description).filter(|m| !m.is_empty()) {
            event.named.push(("MapDescription".into(), m));
        }
        Ok(event)
    }
}

/// `{"EventData":{"Data":[{"@Name":"X","#text":"v"}, "unnamed", {"#text":"unnamed"}]}}` and
/// `{"UserData":{…}}`.
fn payload_data(doc: &Value, event: &mut WinEvent) {
    if let Some(data) = doc.get("EventData").and_then(|d| d.get("Data")) {
        let items: Vec<&Value> = match data {
            Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        for item in items {
            match item.get("@Name").and_then(text) {
                Some(name) => event.named.push((name, item.get("#text").and_then(text).unwrap_or_default())),
                None => event.unnamed.extend(item.get("#text").and_then(text).or_else(|| text(item))),
            }
        }
    }
    if let Some(user) = doc.get("UserData") {
        flatten_leaves(user, "", &mut event.named);
    }
}
