//! Windows' XML rendering of events: `wevtutil qe LOG /f:xml` (events back to back, no root
//! element), `/f:RenderedXml` (with `RenderingInfo/Message`), and Event Viewer's "Save as XML"
//! (`<Events><Event>…</Event></Events>`). Streamed with quick-xml, one event at a time.

use std::io::{BufReader, Read};

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

use super::parse_time;
use crate::{EventFile, WinEvent};

/// Longest text kept from one element (event data values are short; a rendered message can
/// be long but not this long).
const MAX_TEXT: usize = 1 << 20;

/// True when the text starts (after an optional XML declaration) with an `<Event>` or `<Events>`
/// element.
pub fn looks_like_event_xml(text: &str) -> bool {
    let mut t = text.trim_start();
    if t.starts_with("<?xml") {
        match t.find("?>") {
            Some(end) => t = t[end + 2..].trim_start(),
            None => return false,
        }
    }
    ["<Event ", "<Event>", "<Events>", "<Events "].iter().any(|p| t.starts_with(p))
}

#[derive(Default)]
struct Builder {
    event: WinEvent,
    /// The `Name` attribute of the `<Data>` element being read, if any.
    data_name: Option<String>,
    text: String,
}

/// Reads Windows event XML. A malformed document is reported with its byte position; the events
/// before it are kept.
pub fn read_event_xml<R: Read>(reader: R, on_event: &mut dyn FnMut(WinEvent)) -> EventFile {
    let mut out = EventFile::default();
    let mut xml = quick_xml::Reader::from_reader(BufReader::with_capacity(1 << 16, reader));
    xml.config_mut().trim_text(false);
    let mut buf = Vec::new();
    // Local names of the open elements inside the current <Event>.
    let mut path: Vec<String> = Vec::new();
    let mut current: Option<Builder> = None;
    let mut events = 0u64;
    loop {
        let position = xml.buffer_position();
        let ev = match xml.read_event_into(&mut buf) {
            Ok(ev) => ev,
            Err(e) => {
                out.damage.push(format!(
                    "byte {position}: malformed XML after {events} events ({e}); the rest of the file was not read"
                ));
                break;
            }
        };
        match ev {
            Event::Start(e) => {
                let name = local(&e);
                if name == "Event" && current.is_none() {
                    current = Some(Builder::default());
                    path.clear();
                } else if let Some(b) = current.as_mut() {
                    b.text.clear();
                    b.data_name = (name == "Data").then(|| attr(&e, "Name")).flatten();
                    start_attributes(b, &path, &name, &e);
                }
                path.push(name);
            }
            Event::Empty(e) => {
                if let Some(b) = current.as_mut() {
                    let name = local(&e);
                    start_attributes(b, &path, &name, &e);
                    // `<Data Name="X"/>`: an empty value is still a value.
                    if name == "Data" && path.last().is_some_and(|p| p == "EventData") {
                        match attr(&e, "Name") {
                            Some(n) => b.event.named.push((n, String::new())),
                            None => b.event.unnamed.push(String::new()),
                        }
                    }
                }
            }
            Event::Text(t) => {
                if let Some(b) = current.as_mut() {
                    push_text(&mut b.text, &t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(b) = current.as_mut() {
                    push_text(&mut b.text, &t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(b) = current.as_mut() {
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => Some(c.to_string()),
                        _ => quick_xml::escape::resolve_predefined_entity(&r.xml10_content()).map(str::to_string),
                    };
                    push_text(&mut b.text, resolved.as_deref().unwrap_or("?"));
                }
            }
            Event::End(_) => {
                let name = path.pop().unwrap_or_default();
                if name == "Event" && path.is_empty() {
                    if let Some(b) = current.take() {
                        events += 1;
                        on_event(b.event);
                    }
                } else if let Some(b) = current.as_mut() {
                    end_element(b, &path, &name);
                }
            }
            Event::Eof => {
                if current.is_some() {
                    out.damage.push(format!("truncated: the last event (after {events} complete ones) has no end"));
                }
                break;
            }
            _ => {}
        }
        buf.clear();
    }
    out
}

fn push_text(text: &mut String, s: &str) {
    if text.len() + s.len() <= MAX_TEXT {
        text.push_str(s);
    }
}

fn local(e: &BytesStart<'_>) -> String {
    e.local_name().as_ref().to_string()
}

fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes().flatten().find(|a| a.key.local_name().as_ref() == name).map(|a| {
        a.normalized_value(XmlVersion::Implicit1_0).map(|v| v.into_owned()).unwrap_or_else(|_| a.value.to_string())
    })
}

/// System values carried in attributes: `<Provider Name=…/>`, `<TimeCreated SystemTime=…/>`.
fn start_attributes(b: &mut Builder, path: &[String], name: &str, e: &BytesStart<'_>) {
    if path.last().map(String::as_str) != Some("System") {
        return;
    }
    match name {
        "Provider" => {
            if let Some(n) = attr(e, "Name") {
                b.event.provider = n;
            }
        }
        "TimeCreated" => b.event.time = attr(e, "SystemTime").and_then(|t| parse_time(&t)),
        _ => {}
    }
}

fn end_element(b: &mut Builder, path: &[String], name: &str) {
    let text = std::mem::take(&mut b.text);
    let parent = path.last().map(String::as_str);
    match (parent, name) {
        (Some("System"), "EventID") => b.event.event_id = text.trim().parse().unwrap_or(0),
        (Some("System"), "Level") => b.event.level = text.trim().parse().unwrap_or(0),
        (Some("System"), "EventRecordID") => b.event.record_id = text.trim().parse().unwrap_or(0),
        (Some("System"), "Channel") => b.event.channel = text.trim().to_string(),
        (Some("System"), "Computer") => b.event.computer = text.trim().to_string(),
        (Some("EventData"), "Data") => match b.data_name.take() {
            Some(n) => b.event.named.push((n, text)),
            None => b.event.unnamed.push(text),
        },
        (Some("RenderingInfo"), "Message") if !text.trim().is_empty() => {
            b.event.named.push(("Message".into(), text.trim().to_string()))
        }
        // UserData leaves, named by their own element (as the EVTX reader does).
        (Some(_), leaf) if path.iter().any(|p| p == "UserData") && !text.trim().is_empty() => {
            b.event.named.push((leaf.to_string(), text.trim().to_string()))
        }
        _ => {}
    }
}
