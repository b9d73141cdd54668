//! Windows event records, from `.evtx` files (the `evtx` crate) and from JSON-lines exports
//! (`evtx_dump -o jsonl`, winlogbeat, NXLog/OTRF flat events, Velociraptor), EvtxECmd CSV and
//! Windows' XML export, as one typed [`WinEvent`]; [`sniff`] tells the format from content.
//!
//! Records are deserialised from the parser's JSON bytes into small typed structs holding only
//! what detection reads (the `evtx` crate's `records_json_value` would render a string and parse
//! it again). A damaged chunk or record is reported and skipped; the rest of the file is read.

mod evtx_file;
mod exports;
mod jsonl;
mod model;

pub use evtx_file::{EVTX_MAGIC, read_evtx};
pub use exports::{EventFormat, read_export, sniff};
pub use jsonl::{looks_like_event_jsonl, read_jsonl};
pub use model::{WinEvent, from_evtx_json};

/// What reading one event file gave: the events, and the damage that was skipped.
#[derive(Debug, Default)]
pub struct EventFile {
    pub events: Vec<WinEvent>,
    /// One line per damaged chunk or record ("chunk 9: …"); the file was still read.
    pub damage: Vec<String>,
}
