//! A small writer of Windows XML event log (`.evtx`) files, for tests: it turns a list of
//! [`Event`]s into the bytes of a real EVTX file (file header, 64 KiB chunks with their CRC32s,
//! records holding Binary XML) that the `evtx` crate and Windows-format readers parse.
//!
//! The layout follows the public format documentation (libevtx's "Windows XML Event Log (EVTX)"
//! and MS-EVEN6):
//!
//! * a 4096-byte file header: `ElfFile\0`, the oldest and current chunk numbers, the next record
//!   ID, header size 128, version 3.1, the chunk count, and the CRC32 of its first 120 bytes;
//! * chunks of 65536 bytes: a 512-byte header (`ElfChnk\0`, first and last record numbers and
//!   IDs, the offsets of the last record and of the free space, the CRC32 of the records, the
//!   string table of 64 name buckets, the CRC32 of header bytes 0..120 and 128..512), then the
//!   records;
//! * records: magic `**\0\0`, size, record ID, FILETIME, Binary XML, size again.
//!
//! The Binary XML carries no templates: element starts, attributes and values are written out
//! for every record, with typed values where Windows has them (EventID, Level, EventRecordID,
//! TimeCreated's SystemTime). Element and attribute names are stored once per chunk and shared.
//! See the crate's README.md for what the `evtx` crate's JSON makes of it.

mod binxml;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use binxml::{Fragment, Names, TooLong, Value};

/// Size of the file header block.
pub const FILE_HEADER_SIZE: usize = 4096;
/// Size of one chunk.
pub const CHUNK_SIZE: usize = 65536;
/// Size of a chunk's header; its records follow.
pub const CHUNK_HEADER_SIZE: usize = 512;
/// Size of a record's header, before its Binary XML.
const RECORD_HEADER_SIZE: usize = 24;
/// The record magic, `0x00002a2a` little-endian.
const RECORD_MAGIC: [u8; 4] = *b"**\0\0";
/// The size of a record that fills a chunk on its own: its header, BinXML and trailing size.
pub const MAX_RECORD_SIZE: usize = CHUNK_SIZE - CHUNK_HEADER_SIZE;
/// The namespace Windows puts on every `<Event>`.
const EVENT_NAMESPACE: &str = "http://schemas.microsoft.com/win/2004/08/events/event";
/// FILETIME of 1970-01-01T00:00:00Z: 100-ns intervals since 1601-01-01.
const UNIX_EPOCH_AS_FILETIME: u64 = 116_444_736_000_000_000;

/// One event, as its `<Event>` XML shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `<Provider Name="…"/>`.
    pub provider: String,
    /// `<EventID>`: written as a UInt16 when it fits (as Windows does), else as a UInt32.
    pub event_id: u32,
    /// `<Level>` (4 is Information).
    pub level: u8,
    /// `<Channel>`, such as `Security` or `MSExchange Management`.
    pub channel: String,
    /// `<Computer>`.
    pub computer: String,
    /// `<TimeCreated SystemTime="…"/>` and the record header's timestamp, to 100 ns. Times before
    /// 1601 are written as 1601-01-01.
    pub time: SystemTime,
    /// `<EventRecordID>` and the record header's ID; 0 assigns the ID after the previous event's
    /// (1 for the first). IDs should increase through the file, as in a real log: the `evtx`
    /// crate stops reading a chunk at the chunk's last ID.
    pub record_id: u64,
    /// `<EventData>`.
    pub data: EventData,
}

impl Default for Event {
    /// An Information event at 1970-01-01T00:00:00Z, ID assigned, empty names and data.
    fn default() -> Self {
        Event {
            provider: String::new(),
            event_id: 0,
            level: 4,
            channel: String::new(),
            computer: String::new(),
            time: UNIX_EPOCH,
            record_id: 0,
            data: EventData::default(),
        }
    }
}

/// The `<EventData>` element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventData {
    /// `<Data Name="CommandLine">…</Data>` for each pair, in order.
    Named(Vec<(String, String)>),
    /// `<Data>…</Data>` for each value, in order, as MSExchange Management events have.
    Unnamed(Vec<String>),
}

impl Default for EventData {
    fn default() -> Self {
        EventData::Named(Vec::new())
    }
}

/// The bytes of an EVTX file holding `events` in order, in as many chunks as they need (none
/// for no events: then the file is the header alone).
///
/// # Panics
///
/// If one event is too large for a chunk of its own (its record would exceed
/// [`MAX_RECORD_SIZE`], about 32,000 UTF-16 characters of text in all), or if there are more
/// than 65535 chunks (about 4 GiB).
pub fn write_evtx(events: &[Event]) -> Vec<u8> {
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut current = Chunk::new();
    let mut next_id = 1u64;
    for (index, event) in events.iter().enumerate() {
        let id = if event.record_id == 0 { next_id } else { event.record_id };
        next_id = id.wrapping_add(1);
        if !current.add(event, id) {
            chunks.push(std::mem::replace(&mut current, Chunk::new()));
            assert!(current.add(event, id), "event {index} (record ID {id}) is too large for one EVTX chunk");
        }
    }
    if current.count > 0 {
        chunks.push(current);
    }
    let chunk_count = u16::try_from(chunks.len()).expect("at most 65535 chunks");

    let mut file = vec![0u8; FILE_HEADER_SIZE];
    put(&mut file, 0, b"ElfFile\0");
    put(&mut file, 8, &0u64.to_le_bytes()); // oldest chunk
    put(&mut file, 16, &u64::from(chunk_count.saturating_sub(1)).to_le_bytes()); // current chunk
    let next_record_id = chunks.last().map_or(1, |chunk| chunk.last_id.wrapping_add(1));
    put(&mut file, 24, &next_record_id.to_le_bytes());
    put(&mut file, 32, &128u32.to_le_bytes()); // header size
    put(&mut file, 36, &1u16.to_le_bytes()); // minor version
    put(&mut file, 38, &3u16.to_le_bytes()); // major version
    put(&mut file, 40, &(FILE_HEADER_SIZE as u16).to_le_bytes()); // header block size
    put(&mut file, 42, &chunk_count.to_le_bytes());
    // Flags at 120 stay 0: a clean, not full log with CRC32s.
    let checksum = crc32(&file[..120]);
    put(&mut file, 124, &checksum.to_le_bytes());

    file.reserve(chunks.len() * CHUNK_SIZE);
    for chunk in chunks {
        file.extend_from_slice(&chunk.finish());
    }
    file
}

/// Writes [`write_evtx`]'s bytes for `events` to `path`.
pub fn write_evtx_file(path: &Path, events: &[Event]) -> std::io::Result<()> {
    std::fs::write(path, write_evtx(events))
}

/// Damages chunk `chunk_index` (0 for the first) of a file [`write_evtx`] wrote, so that readers
/// reject it whether or not they check CRC32s: its `ElfChnk\0` magic becomes `BadChnk\0` (which
/// also breaks its header CRC32). The other chunks stay intact.
///
/// # Panics
///
/// If the file has no such chunk.
pub fn corrupt_chunk(bytes: &mut [u8], chunk_index: usize) {
    let chunk = chunk_mut(bytes, chunk_index);
    chunk[..8].copy_from_slice(b"BadChnk\0");
}

/// Damages chunk `chunk_index` more subtly than [`corrupt_chunk`]: only the CRC32 of its records
/// no longer matches (the stored value is changed, and the header CRC32 recomputed over it).
/// Its records still parse, so only a reader that checks CRC32s (the `evtx` crate with
/// `ParserSettings::validate_checksums(true)`) rejects the chunk.
///
/// # Panics
///
/// If the file has no such chunk.
pub fn corrupt_chunk_checksum(bytes: &mut [u8], chunk_index: usize) {
    let chunk = chunk_mut(bytes, chunk_index);
    chunk[52] ^= 0xff;
    let checksum = chunk_header_crc(chunk);
    put(chunk, 124, &checksum.to_le_bytes());
}

/// Recomputes every CRC32 of an EVTX file (the file header's, and each whole chunk's header and
/// records CRC32s, over the records up to the chunk's stated free-space offset, clamped to the
/// chunk). For fuzzing: after random edits, readers that check CRC32s would reject every chunk
/// before reaching the records; with the sums refreshed, the edits reach the record parser.
pub fn refresh_checksums(bytes: &mut [u8]) {
    if bytes.len() >= 128 {
        let checksum = crc32(&bytes[..120]);
        put(bytes, 124, &checksum.to_le_bytes());
    }
    let mut start = FILE_HEADER_SIZE;
    while start + CHUNK_SIZE <= bytes.len() {
        let chunk = &mut bytes[start..start + CHUNK_SIZE];
        let free = u32::from_le_bytes(chunk[48..52].try_into().expect("4 bytes")) as usize;
        let free = free.clamp(CHUNK_HEADER_SIZE, CHUNK_SIZE);
        let records = crc32(&chunk[CHUNK_HEADER_SIZE..free]);
        put(chunk, 52, &records.to_le_bytes());
        let header = chunk_header_crc(chunk);
        put(chunk, 124, &header.to_le_bytes());
        start += CHUNK_SIZE;
    }
}

fn chunk_mut(bytes: &mut [u8], chunk_index: usize) -> &mut [u8] {
    let start = FILE_HEADER_SIZE + chunk_index * CHUNK_SIZE;
    let len = bytes.len();
    bytes.get_mut(start..start + CHUNK_SIZE).unwrap_or_else(|| panic!("no chunk {chunk_index} in {len} bytes"))
}

/// FILETIME (100-ns intervals since 1601-01-01 UTC) of `time`, clamped to the type's range.
fn filetime(time: SystemTime) -> u64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => {
            let ticks = after.as_nanos() / 100;
            u64::try_from(ticks).unwrap_or(u64::MAX).saturating_add(UNIX_EPOCH_AS_FILETIME)
        }
        Err(before) => {
            let ticks = before.duration().as_nanos().div_ceil(100);
            UNIX_EPOCH_AS_FILETIME.saturating_sub(u64::try_from(ticks).unwrap_or(u64::MAX))
        }
    }
}

fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

/// One chunk being filled with records.
struct Chunk {
    data: Vec<u8>,
    /// Where the next record goes: the free space.
    free: usize,
    names: Names,
    count: usize,
    first_id: u64,
    last_id: u64,
    last_record: usize,
}

impl Chunk {
    fn new() -> Self {
        Chunk {
            data: vec![0; CHUNK_SIZE],
            free: CHUNK_HEADER_SIZE,
            names: Names::default(),
            count: 0,
            first_id: 0,
            last_id: 0,
            last_record: CHUNK_HEADER_SIZE,
        }
    }

    /// Adds `event` as record `id` if it fits; `false` (and the chunk unchanged) if not.
    fn add(&mut self, event: &Event, id: u64) -> bool {
        let start = self.free;
        let mut names = self.names.clone();
        let Ok(binxml) = event_binxml(event, id, (start + RECORD_HEADER_SIZE) as u32, &mut names) else {
            return false;
        };
        // Header, BinXML, size copy, aligned to 8 bytes as Windows aligns records.
        let size = (RECORD_HEADER_SIZE + binxml.len() + 4).next_multiple_of(8);
        if start + size > CHUNK_SIZE {
            return false;
        }
        let time = filetime(event.time);
        let record = &mut self.data[start..start + size];
        put(record, 0, &RECORD_MAGIC);
        put(record, 4, &(size as u32).to_le_bytes());
        put(record, 8, &id.to_le_bytes());
        put(record, 16, &time.to_le_bytes());
        put(record, RECORD_HEADER_SIZE, &binxml);
        put(record, size - 4, &(size as u32).to_le_bytes());

        self.names = names;
        if self.count == 0 {
            self.first_id = id;
        }
        self.count += 1;
        self.last_id = id;
        self.last_record = start;
        self.free = start + size;
        true
    }

    /// The chunk's bytes, its header and CRC32s written.
    fn finish(mut self) -> Vec<u8> {
        let chunk = &mut self.data;
        put(chunk, 0, b"ElfChnk\0");
        // Record numbers, then record IDs: a log's numbers are its IDs.
        put(chunk, 8, &self.first_id.to_le_bytes());
        put(chunk, 16, &self.last_id.to_le_bytes());
        put(chunk, 24, &self.first_id.to_le_bytes());
        put(chunk, 32, &self.last_id.to_le_bytes());
        put(chunk, 40, &128u32.to_le_bytes()); // header size
        put(chunk, 44, &(self.last_record as u32).to_le_bytes());
        put(chunk, 48, &(self.free as u32).to_le_bytes());
        let records = crc32(&chunk[CHUNK_HEADER_SIZE..self.free]);
        put(chunk, 52, &records.to_le_bytes());
        // Flags at 120 stay 0. The string table's buckets; no template table.
        for (i, offset) in self.names.buckets.iter().enumerate() {
            put(chunk, 128 + 4 * i, &offset.to_le_bytes());
        }
        let header = chunk_header_crc(chunk);
        put(chunk, 124, &header.to_le_bytes());
        self.data
    }
}

/// CRC32 of a chunk header: bytes 0..120 and 128..512.
fn chunk_header_crc(chunk: &[u8]) -> u32 {
    let mut crc = Crc32::new();
    crc.update(&chunk[..120]);
    crc.update(&chunk[128..CHUNK_HEADER_SIZE]);
    crc.finish()
}

/// The record's Binary XML, at chunk offset `base`.
fn event_binxml(event: &Event, id: u64, base: u32, names: &mut Names) -> Result<Vec<u8>, TooLong> {
    let mut x = Fragment::new(base, names);
    x.open("Event", true);
    x.attribute("xmlns", Value::Str(EVENT_NAMESPACE), true)?;
    x.close_start();

    x.open("System", false);
    x.close_start();
    x.open("Provider", true);
    x.attribute("Name", Value::Str(&event.provider), true)?;
    x.close_empty();
    let event_id = u16::try_from(event.event_id).map_or(Value::U32(event.event_id), Value::U16);
    x.text_element("EventID", event_id)?;
    x.text_element("Level", Value::U8(event.level))?;
    x.open("TimeCreated", true);
    x.attribute("SystemTime", Value::FileTime(filetime(event.time)), true)?;
    x.close_empty();
    x.text_element("EventRecordID", Value::U64(id))?;
    x.text_element("Channel", Value::Str(&event.channel))?;
    x.text_element("Computer", Value::Str(&event.computer))?;
    x.end();

    x.open("EventData", false);
    let empty = match &event.data {
        EventData::Named(pairs) => pairs.is_empty(),
        EventData::Unnamed(values) => values.is_empty(),
    };
    if empty {
        x.close_empty();
    } else {
        x.close_start();
        match &event.data {
            EventData::Named(pairs) => {
                for (name, value) in pairs {
                    x.open("Data", true);
                    x.attribute("Name", Value::Str(name), true)?;
                    x.close_start();
                    x.value(Value::Str(value))?;
                    x.end();
                }
            }
            EventData::Unnamed(values) => {
                for value in values {
                    x.text_element("Data", Value::Str(value))?;
                }
            }
        }
        x.end();
    }
    x.end();
    Ok(x.finish())
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as EVTX uses.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = Crc32::new();
    crc.update(bytes);
    crc.finish()
}

struct Crc32(u32);

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

impl Crc32 {
    fn new() -> Self {
        Crc32(!0)
    }

    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = CRC_TABLE[((self.0 ^ u32::from(b)) & 0xff) as usize] ^ (self.0 >> 8);
        }
    }

    fn finish(&self) -> u32 {
        !self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn filetime_conversion() {
        assert_eq!(filetime(UNIX_EPOCH), UNIX_EPOCH_AS_FILETIME);
        assert_eq!(filetime(UNIX_EPOCH + Duration::from_nanos(1_234)), UNIX_EPOCH_AS_FILETIME + 12);
        // 1601-01-01 and before clamp to 0.
        assert_eq!(filetime(UNIX_EPOCH - Duration::from_secs(11_644_473_600)), 0);
        assert_eq!(filetime(UNIX_EPOCH - Duration::from_secs(11_644_473_601)), 0);
    }

    #[test]
    fn no_events_is_a_header() {
        let bytes = write_evtx(&[]);
        assert_eq!(bytes.len(), FILE_HEADER_SIZE);
        assert_eq!(&bytes[..8], b"ElfFile\0");
        assert_eq!(u64::from_le_bytes(bytes[24..32].try_into().unwrap()), 1);
    }

    #[test]
    #[should_panic(expected = "too large for one EVTX chunk")]
    fn oversized_event_panics() {
        let event = Event { data: EventData::Unnamed(vec!["x".repeat(40_000)]), ..Event::default() };
        write_evtx(&[event]);
    }

    #[test]
    #[should_panic(expected = "no chunk 1")]
    fn corrupting_a_missing_chunk_panics() {
        let mut bytes = write_evtx(&[Event::default()]);
        corrupt_chunk(&mut bytes, 1);
    }
}
