//! Event logs in the evidence: `.evtx` files and JSON-lines exports, judged by Sigma rules.

use std::fs::File;
use std::io::{Cursor, Read};

use jiff::Timestamp;
use regex::Regex;
use taskforce_events::{EventFile, EventFormat, WinEvent, read_evtx};
use taskforce_evidence::{Evidence, Item, PathHint};
use taskforce_report::Effect;
use taskforce_sigma::{SigmaHit, SigmaSet};

use std::collections::HashMap;

use crate::scan::{Overflow, RuleRef, excerpt};

/// Largest event log read from inside a zip (it has to be buffered: EVTX needs seeking).
const MAX_BUFFERED_EVTX: u64 = 2 << 30;

/// A Sigma hit on one event, ready to become a finding.
#[derive(Debug, Clone)]
pub struct EventHit {
    /// Index into the Sigma set's rules.
    pub rule: usize,
    pub time: Option<Timestamp>,
    pub record_id: u64,
    pub excerpt: String,
    pub detail: Vec<(String, String)>,
}

impl EventHit {
    /// True when the hit names a path the attacker wrote (`written_path`), which the correlation
    /// of later requests needs whatever the cap and the window do to the hit itself.
    pub fn names_written_path(&self) -> bool {
        self.detail.iter().any(|(k, _)| k == "written_path")
    }
}

/// What one event file gave.
#[derive(Debug, Default)]
pub struct EventScan {
    /// Hits kept in this file (at most `max_hits_per_rule` per rule); `hunt_host` hands them to
    /// the host-wide cap as soon as the file is read.
    pub hits: Vec<EventHit>,
    pub events: u64,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    pub computer: Option<String>,
    /// Damaged chunks or records that were skipped (the rest of the file was read).
    pub damage: Vec<String>,
    /// Hits over the per-rule cap: counted, not kept.
    pub overflow: Vec<Overflow>,
}

/// Extensions under which collectors and datasets write event exports; files with them are
/// sniffed for one of the formats `taskforce_events::sniff` knows (never judged by name alone).
const EXPORT_EXTENSIONS: [&str; 8] = [".json", ".jsonl", ".ndjson", ".csv", ".xml", ".txt", ".log", ".evtx"];

/// True when the item should be read as an event log: an `.evtx` path, or a file whose content is
/// an event export (evtx_dump/winlogbeat/NXLog/OTRF/Velociraptor JSON, EvtxECmd CSV, Windows XML).
pub fn is_event_file(evidence: &Evidence, item: &Item) -> bool {
    if item.hint == PathHint::EventLog {
        return true;
    }
    if item.hint != PathHint::Other {
        return false;
    }
    let lower = item.path.to_ascii_lowercase();
    if !EXPORT_EXTENSIONS.iter().any(|e| lower.ends_with(e)) {
        return false;
    }
    head(evidence, item).is_ok_and(|h| taskforce_events::sniff(&h).is_some())
}

/// The first bytes of an item, enough for `taskforce_events::sniff` to tell its format.
fn head(evidence: &Evidence, item: &Item) -> std::io::Result<Vec<u8>> {
    let mut head = vec![0u8; 4096];
    let mut reader = evidence.open_item(item)?;
    let n = read_up_to(&mut reader, &mut head);
    head.truncate(n);
    Ok(head)
}

fn read_up_to(reader: &mut dyn Read, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

/// Reads one event file and evaluates every event with `sigma`. Hits outside `window`
/// (`--since`, `--until`) are neither kept nor counted, so they cannot take the places under the
/// per-rule cap of hits inside it; one that names a written path is still kept (the correlation
/// links later requests to it; the window drops it from the report afterwards).
pub fn scan(
    evidence: &Evidence,
    item: &Item,
    sigma: &SigmaSet,
    max_hits_per_rule: usize,
    window: (Option<Timestamp>, Option<Timestamp>),
    progress: &(dyn Fn(u64) + Sync),
) -> Result<EventScan, String> {
    let mut out = EventScan::default();
    let mut kept: HashMap<usize, usize> = HashMap::new();
    let written = written_path_regex();
    let mut on_event = |event: WinEvent| {
        out.events += 1;
        if let Some(t) = event.time.filter(|t| crate::scan::plausible(*t)) {
            out.first = Some(out.first.map_or(t, |f| f.min(t)));
            out.last = Some(out.last.map_or(t, |l| l.max(t)));
        }
        if out.computer.is_none() && !event.computer.is_empty() {
            out.computer = Some(event.computer.clone());
        }
        let in_window = crate::scope::in_window(event.time, window.0, window.1);
        for hit in sigma.evaluate_event(&event) {
            if !in_window {
                let h = to_hit(&hit, &event, &written);
                if h.names_written_path() {
                    out.hits.push(h);
                }
                continue;
            }
            let n = kept.entry(hit.index).or_default();
            if *n < max_hits_per_rule {
                *n += 1;
                out.hits.push(to_hit(&hit, &event, &written));
                continue;
            }
            let rule = RuleRef::Sigma(hit.index);
            match out.overflow.iter_mut().find(|o| o.rule == rule) {
                Some(o) => o.add(event.time),
                None => {
                    let mut o = Overflow::new(rule, hit.rule.effect, hit.rule.severity, hit.rule.stage);
                    o.add(event.time);
                    out.overflow.push(o);
                }
            }
        }
    };
    let head = head(evidence, item).map_err(|e| format!("cannot open: {e}"))?;
    let format = taskforce_events::sniff(&head);
    let file: EventFile = match format {
        Some(EventFormat::Evtx) => match evidence.local_path(item) {
            Some(path) => {
                let f = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
                read_evtx(f, 1, &mut on_event)?
            }
            None => {
                if item.size > MAX_BUFFERED_EVTX {
                    return Err(format!(
                        "event log of {} bytes inside an archive is over the {} byte limit; extract it and pass the folder",
                        item.size, MAX_BUFFERED_EVTX
                    ));
                }
                let mut buf = Vec::with_capacity(item.size as usize);
                evidence
                    .open_item(item)
                    .and_then(|mut r| r.read_to_end(&mut buf))
                    .map_err(|e| format!("read error: {e}"))?;
                read_evtx(Cursor::new(buf), 1, &mut on_event)?
            }
        },
        _ if item.hint == PathHint::EventLog => {
            return Err("named like an event log but not an EVTX file (no ElfFile signature)".into());
        }
        Some(format) => {
            let reader = evidence.open_item(item).map_err(|e| format!("cannot open: {e}"))?;
            taskforce_events::read_export(reader, format, &mut on_event)
        }
        None => {
            return Err(
                "not an event export taskforce reads (EVTX, evtx_dump/winlogbeat/NXLog/Velociraptor JSON lines, EvtxECmd CSV, Windows event XML)".into(),
            );
        }
    };
    progress(item.size);
    out.damage = file.damage;
    Ok(out)
}

/// A path written by a cmdlet: `-FilePath "…"` (mailbox export) or `-RequestFile "…"`
/// (certificate request), when it names a script page IIS would run.
fn written_path_regex() -> Regex {
    Regex::new(r#"(?i)-(?:FilePath|RequestFile)\s+["']?([^"'\r\n]+?\.(?:aspx|ashx|asmx|asp))["']?(?:\s|$)"#)
        .expect("valid regex")
}

fn to_hit(hit: &SigmaHit<'_>, event: &WinEvent, written: &Regex) -> EventHit {
    let summary = event.summary();
    let mut detail = vec![
        ("channel".to_string(), event.channel.clone()),
        ("event_id".to_string(), event.event_id.to_string()),
        ("provider".to_string(), event.provider.clone()),
        ("computer".to_string(), event.computer.clone()),
        ("event_record_id".to_string(), event.record_id.to_string()),
    ];
    if let Some(id) = &hit.rule.id {
        detail.push(("sigma_id".into(), id.clone()));
    }
    // A matched value is evidence like the excerpt and bounded like it: a script block or an
    // LDAP attribute can run to tens of kilobytes, and up to the cap of hits per rule are kept.
    for (field, value) in &hit.matched {
        detail.push((format!("matched.{field}"), bounded(value)));
    }
    if let (true, Some(c)) = (hit.rule.effect != Effect::None, written.captures(&summary)) {
        detail.push(("written_path".into(), c[1].trim().to_string()));
    }
    detail.extend(accounts_named(hit, event));
    EventHit { rule: hit.index, time: event.time, record_id: event.record_id, excerpt: excerpt(&summary), detail }
}

/// Longest matched value kept in a hit's detail, as for excerpts.
const MATCHED_MAX: usize = 600;

/// A matched value as it is, or its first [`MATCHED_MAX`] bytes (on a character boundary) and `…`.
fn bounded(value: &str) -> String {
    if value.len() <= MATCHED_MAX {
        return value.to_string();
    }
    let mut cut = MATCHED_MAX;
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &value[..cut])
}

/// The `account:<action>` values the rule's `taskforce.accounts` entries find in the event.
fn accounts_named(hit: &SigmaHit<'_>, event: &WinEvent) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for spec in &hit.rule.accounts {
        let key = format!("{}{}", crate::accounts::PREFIX, spec.action);
        if spec.all_sessions {
            out.push((key, taskforce_report::ALL_SESSIONS.to_string()));
            continue;
        }
        let Some(field) = spec.field.as_deref() else { continue };
        let value = if field.eq_ignore_ascii_case("Data") {
            // The unnamed values as the message reads them; exports that kept only the rendered
            // message (OTRF, NXLog) have it as `Message`.
            (!event.unnamed.is_empty())
                .then(|| event.unnamed.join(" "))
                .or_else(|| event.get("Message").map(str::to_string))
        } else {
            event.get(field).map(str::to_string)
        };
        let Some(value) = value else { continue };
        match &spec.regex {
            Some(re) => {
                for c in re.captures_iter(&value).take(20) {
                    if let Some(m) = c.get(1).or_else(|| c.get(0)) {
                        out.push((key.clone(), m.as_str().to_string()));
                    }
                }
            }
            None => out.push((key, value)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matched_values_are_bounded_like_excerpts() {
        let set = SigmaSet::builtin();
        let event = WinEvent { channel: "Security".into(), event_id: 1, ..Default::default() };
        let long = "A".repeat(20_000);
        let hit = SigmaHit { rule: &set.rules()[0], index: 0, matched: vec![("CommandLine".into(), long.clone())] };
        let h = to_hit(&hit, &event, &written_path_regex());
        let value = &h.detail.iter().find(|(k, _)| k == "matched.CommandLine").unwrap().1;
        assert!(value.len() < 700 && long.starts_with(value.trim_end_matches('…')), "{} bytes", value.len());
        let short = SigmaHit { matched: vec![("Image".into(), " C:\\w\\cmd.exe ".into())], ..hit };
        let h = to_hit(&short, &event, &written_path_regex());
        assert!(h.detail.contains(&("matched.Image".to_string(), " C:\\w\\cmd.exe ".to_string())), "kept as is");
    }

    #[test]
    fn written_paths_from_cmdlet_parameters() {
        let re = written_path_regex();
        let cap = |s: &str| re.captures(s).map(|c| c[1].to_string());
        assert_eq!(
            cap(r#"New-MailboxExportRequest | -Mailbox "a" -FilePath "\\127.0.0.1\C$\inetpub\wwwroot\aspnet_client\x.aspx""#).as_deref(),
            Some(r"\\127.0.0.1\C$\inetpub\wwwroot\aspnet_client\x.aspx")
        );
        assert_eq!(cap(r#"-FilePath "\\fileserver\pst$\user.pst""#), None);
        assert_eq!(
            cap(r#"-RequestFile 'C:\inetpub\wwwroot\aspnet_client\c.aspx' -BinaryEncoded"#).as_deref(),
            Some(r"C:\inetpub\wwwroot\aspnet_client\c.aspx")
        );
    }
}
