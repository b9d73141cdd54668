//! Windows events: JSON-lines exports (evtx_dump, winlogbeat) and `.evtx` files.

use std::io::Cursor;
use std::time::{Duration, UNIX_EPOCH};

use taskforce_events::{WinEvent, looks_like_event_jsonl, read_evtx, read_jsonl};
use taskforce_evtx_writer::{Event, EventData, refresh_checksums, write_evtx};

use super::{MIB, ODD_CELLS};
use crate::{Rng, Target};

pub const EVENT_JSONL: Target = Target {
    name: "event-jsonl",
    max_len: 64 << 10,
    dict: &[
        b"{\"Event\":{\"System\":{",
        b"{\"winlog\":{",
        b"\"EventID\":",
        b"\"EventData\":{\"Data\":",
        b"\"#text\":",
        b"\"@timestamp\":\"2021-03-03T04:21:12.345Z\"",
        b"\"event_data\":{",
        b"\"record_id\":",
        b"{",
        b"}",
        b"[",
        b"]",
        b",",
        b":",
        b"\"",
        b"\\u0000",
        b"\\ud800",
        b"\n",
        b"null",
        b"1e999",
        b"-0",
    ],
    run: event_jsonl,
    generate: None,
    fixup: None,
    max_peak: 16 * MIB,
};

pub const EVTX: Target = Target {
    name: "evtx",
    // A file header and two chunks.
    max_len: 4096 + 2 * 65536,
    dict: &[
        b"ElfFile\0",
        b"ElfChnk\0",
        b"**\0\0",
        b"\x0f\x01\x01\x00",
        b"\x0c",
        b"\x01",
        b"\x02",
        b"\x41",
        b"\x05",
        b"\x00\x00",
    ],
    run: evtx,
    generate: Some(generate_evtx),
    fixup: Some(|data| refresh_checksums(data)),
    max_peak: 64 * MIB,
};

fn look(event: &WinEvent) {
    let _ = event.summary();
    let _ = event.get("CommandLine");
}

fn event_jsonl(data: &[u8]) {
    let _ = looks_like_event_jsonl(data);
    let file = read_jsonl(data, &mut |e| look(&e));
    for damage in &file.damage {
        assert!(damage.starts_with("line ") || damage.starts_with("read error"), "damage without a place: {damage}");
    }
}

fn evtx(data: &[u8]) {
    match read_evtx(Cursor::new(data), 1, &mut |e| look(&e)) {
        Ok(file) => assert!(file.damage.iter().all(|d| !d.is_empty()), "damage without a reason"),
        Err(why) => assert!(!why.is_empty(), "an unreadable file without a reason"),
    }
}

fn text(rng: &mut Rng) -> String {
    if rng.one_in(3) {
        rng.pick(ODD_CELLS).to_string()
    } else {
        rng.pick(&["Set-OabVirtualDirectory", "New-MailboxExportRequest", "w3wp.exe", "cmd.exe /c whoami", "EX01"])
            .to_string()
    }
}

/// Well-formed files with odd contents, for the record parser behind the CRC32 checks.
fn generate_evtx(rng: &mut Rng) -> Vec<u8> {
    let events: Vec<Event> = (0..1 + rng.below(6))
        .map(|_| Event {
            provider: text(rng),
            event_id: rng.next_u64() as u32 % 70_000,
            level: rng.below(6) as u8,
            channel: rng
                .pick(&["MSExchange Management", "Security", "Microsoft-Windows-Sysmon/Operational", ""])
                .to_string(),
            computer: text(rng),
            time: UNIX_EPOCH + Duration::from_secs(rng.next_u64() % 4_000_000_000),
            record_id: 0,
            data: if rng.one_in(2) {
                EventData::Unnamed((0..rng.below(4)).map(|_| text(rng)).collect())
            } else {
                EventData::Named((0..rng.below(4)).map(|_| (text(rng), text(rng))).collect())
            },
        })
        .collect();
    write_evtx(&events)
}
