//! `.evtx` files through the `evtx` crate, record by record, damage reported and skipped.

use std::io::{Read, Seek};

use evtx::{EvtxParser, ParserSettings};

use crate::EventFile;
use crate::model::from_evtx_json;

/// The first bytes of an EVTX file.
pub const EVTX_MAGIC: &[u8; 8] = b"ElfFile\0";

/// Reads every record of an EVTX file. `on_event` sees each event as it is parsed (events are
/// not kept, so a multi-gigabyte Security.evtx stays in bounded memory); damage is returned.
pub fn read_evtx<R: Read + Seek>(
    reader: R,
    threads: usize,
    on_event: &mut dyn FnMut(crate::WinEvent),
) -> Result<EventFile, String> {
    let settings = ParserSettings::new().num_threads(threads.max(1)).validate_checksums(true);
    let mut parser = EvtxParser::from_read_seek(reader)
        .map_err(|e| format!("not a readable EVTX file: {e}"))?
        .with_configuration(settings);
    let mut out = EventFile::default();
    for record in parser.records_json_bytes() {
        match record {
            Ok(r) => match from_evtx_json(&r.data) {
                Ok(mut event) => {
                    if event.record_id == 0 {
                        event.record_id = r.event_record_id;
                    }
                    on_event(event);
                }
                Err(e) => out.damage.push(format!("record {}: {e}", r.event_record_id)),
            },
            Err(e) => out.damage.push(e.to_string()),
        }
    }
    Ok(out)
}
