//! Files this crate writes, read back through the `evtx` crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use evtx::{EvtxChunkData, EvtxParser, ParserSettings};
use serde_json::{Value, json};
use taskforce_evtx_writer::{
    CHUNK_SIZE, Event, EventData, FILE_HEADER_SIZE, corrupt_chunk, corrupt_chunk_checksum, write_evtx, write_evtx_file,
};

/// 2021-08-21T10:03:10.1234567Z.
fn when() -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(1_629_540_190_123_456_700)
}

fn named(record_id: u64, pairs: &[(&str, &str)]) -> Event {
    Event {
        provider: "Microsoft-Windows-Sysmon".into(),
        event_id: 1,
        level: 4,
        channel: "Microsoft-Windows-Sysmon/Operational".into(),
        computer: "EX1.contoso.local".into(),
        time: when(),
        record_id,
        data: EventData::Named(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
    }
}

fn unnamed(record_id: u64, values: &[&str]) -> Event {
    Event {
        provider: "MSExchange CmdletLogs".into(),
        event_id: 1,
        level: 4,
        channel: "MSExchange Management".into(),
        computer: "EX1".into(),
        time: when(),
        record_id,
        data: EventData::Unnamed(values.iter().map(|v| v.to_string()).collect()),
    }
}

/// Every record's (ID, header timestamp in ns since 1970, JSON), and the errors, in file order.
fn read(bytes: Vec<u8>, validate_checksums: bool) -> (Vec<(u64, i128, Value)>, Vec<String>) {
    let settings = ParserSettings::new().num_threads(1).validate_checksums(validate_checksums);
    let mut parser = EvtxParser::from_buffer(bytes).unwrap().with_configuration(settings);
    let mut records = Vec::new();
    let mut errors = Vec::new();
    for record in parser.records_json_value() {
        match record {
            Ok(r) => records.push((r.event_record_id, r.timestamp.as_nanosecond(), r.data)),
            Err(e) => errors.push(chain(&e)),
        }
    }
    (records, errors)
}

/// An error and its sources, `: `-separated.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

fn read_ok(bytes: Vec<u8>) -> Vec<(u64, i128, Value)> {
    let (records, errors) = read(bytes, true);
    assert!(errors.is_empty(), "{errors:?}");
    records
}

fn nanos(time: SystemTime) -> i128 {
    time.duration_since(UNIX_EPOCH).unwrap().as_nanos() as i128
}

#[test]
fn named_event_round_trips() {
    let tricky = "cmd.exe /c \"a<b>&c\" 'q' Zürich 東京 漢字 🙂\ttab\r\nline";
    let event = Event { event_id: 4688, level: 0, ..named(0, &[("CommandLine", tricky), ("Empty", ""), ("Ω", "x")]) };
    let records = read_ok(write_evtx(&[event]));
    assert_eq!(records.len(), 1);
    let (id, time, json) = &records[0];
    assert_eq!(*id, 1);
    assert_eq!(*time, nanos(when()));
    assert_eq!(
        json,
        &json!({"Event": {
            "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
                "EventID": 4688,
                "Level": 0,
                "TimeCreated": {"#attributes": {"SystemTime": "2021-08-21T10:03:10.1234567Z"}},
                "EventRecordID": 1,
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                "Computer": "EX1.contoso.local",
            },
            "EventData": {"CommandLine": tricky, "Empty": "", "Ω": "x"},
        }})
    );
}

#[test]
fn xml_rendering_escapes_special_characters() {
    let bytes = write_evtx(&[named(0, &[("CommandLine", "a<b>&\"c\" Zürich 東京")])]);
    let mut parser = EvtxParser::from_buffer(bytes).unwrap();
    let xml = parser.records().next().unwrap().unwrap().data;
    assert!(xml.contains(r#"<Data Name="CommandLine">a&lt;b&gt;&amp;"c" Zürich 東京</Data>"#), "{xml}");
    assert!(xml.contains(r#"<Provider Name="Microsoft-Windows-Sysmon"/>"#), "{xml}");
}

#[test]
fn unnamed_event_round_trips() {
    let values =
        ["New-MailboxExportRequest", "-Mailbox \"a\" -FilePath \"\\\\localhost\\c$\\x.aspx\"", "", "Zürich 東京"];
    let records = read_ok(write_evtx(&[unnamed(0, &values), unnamed(0, &["only"])]));
    assert_eq!(records.len(), 2);
    let first = &records[0].2["Event"];
    assert_eq!(first["System"]["Provider"]["#attributes"]["Name"], "MSExchange CmdletLogs");
    assert_eq!(first["System"]["Channel"], "MSExchange Management");
    assert_eq!(first["System"]["Computer"], "EX1");
    assert_eq!(first["System"]["EventID"], 1);
    // Several `<Data>` elements: one `Data` object whose `#text` is their array.
    assert_eq!(first["EventData"], json!({"Data": {"#text": values}}));
    // A single `<Data>`: its `#text` is the string.
    assert_eq!(records[1].2["Event"]["EventData"], json!({"Data": {"#text": "only"}}));
}

#[test]
fn empty_event_data_and_names() {
    let event = Event { time: UNIX_EPOCH, ..Event::default() };
    let records = read_ok(write_evtx(&[event.clone(), Event { data: EventData::Unnamed(vec![]), ..event }]));
    for (_, time, json) in &records {
        assert_eq!(*time, 0);
        let system = &json["Event"]["System"];
        // Empty attribute values and texts: no attribute, and null.
        assert_eq!(system["Provider"], Value::Null);
        assert_eq!(system["Channel"], Value::Null);
        assert_eq!(system["TimeCreated"]["#attributes"]["SystemTime"], "1970-01-01T00:00:00.0000000Z");
        assert_eq!(json["Event"]["EventData"], Value::Null);
    }
}

#[test]
fn large_event_ids_and_levels() {
    let event = Event { event_id: 70_000, level: 255, ..named(0, &[]) };
    let records = read_ok(write_evtx(&[event]));
    assert_eq!(records[0].2["Event"]["System"]["EventID"], 70_000);
    assert_eq!(records[0].2["Event"]["System"]["Level"], 255);
}

/// `count` events with distinct times and data, IDs assigned.
fn many(count: usize) -> Vec<Event> {
    (0..count)
        .map(|i| {
            let mut event = if i % 2 == 0 {
                named(
                    0,
                    &[
                        ("CommandLine", &format!("powershell.exe -enc {} Zürich", "A".repeat(200 + i % 50))),
                        ("N", &i.to_string()),
                    ],
                )
            } else {
                unnamed(0, &["Set-Mailbox", &format!("-Identity user{i} 東京"), &i.to_string()])
            };
            event.time = when() + Duration::from_millis(i as u64 * 1500) + Duration::from_nanos(100 * i as u64);
            event
        })
        .collect()
}

#[test]
fn many_events_span_chunks() {
    let events = many(1500);
    let bytes = write_evtx(&events);
    assert_eq!((bytes.len() - FILE_HEADER_SIZE) % CHUNK_SIZE, 0);
    let chunks = (bytes.len() - FILE_HEADER_SIZE) / CHUNK_SIZE;
    assert!(chunks >= 3, "{chunks} chunks");

    // The file header: intact, and it counts the chunks and the next ID.
    let parser = EvtxParser::from_buffer(bytes.clone()).unwrap();
    assert!(parser.header().validate_checksum());
    assert_eq!(usize::from(parser.header().chunk_count), chunks);
    assert_eq!(parser.header().next_record_id, 1501);
    assert_eq!(parser.header().last_chunk_number, chunks as u64 - 1);
    assert_eq!(
        u32::from_le_bytes(bytes[124..128].try_into().unwrap()),
        evtx::checksum_ieee(&bytes[..120]),
        "file header CRC32"
    );

    // Each chunk: its CRC32s check out, and its records are consecutive.
    let mut expected_first = 1;
    for chunk in bytes[FILE_HEADER_SIZE..].chunks(CHUNK_SIZE) {
        let chunk = EvtxChunkData::new(chunk.to_vec(), true).unwrap();
        assert!(chunk.validate_header_checksum() && chunk.validate_data_checksum());
        assert_eq!(chunk.header.first_event_record_id, expected_first);
        assert!(chunk.header.last_event_record_id >= expected_first);
        expected_first = chunk.header.last_event_record_id + 1;
    }
    assert_eq!(expected_first, 1501);

    let records = read_ok(bytes);
    assert_eq!(records.len(), events.len());
    for (i, ((id, time, json), event)) in records.iter().zip(&events).enumerate() {
        assert_eq!(*id, i as u64 + 1);
        assert_eq!(json["Event"]["System"]["EventRecordID"], i + 1);
        assert_eq!(*time, nanos(event.time));
        match &event.data {
            EventData::Named(pairs) => {
                assert_eq!(json["Event"]["EventData"]["CommandLine"], pairs[0].1.as_str());
                assert_eq!(json["Event"]["EventData"]["N"], i.to_string());
            }
            EventData::Unnamed(values) => assert_eq!(json["Event"]["EventData"]["Data"]["#text"], json!(values)),
        }
    }
}

#[test]
fn multithreaded_reading_keeps_the_order() {
    let events = many(1200);
    let mut parser = EvtxParser::from_buffer(write_evtx(&events))
        .unwrap()
        .with_configuration(ParserSettings::new().num_threads(2).validate_checksums(true));
    let ids: Vec<u64> = parser.records_json_value().map(|r| r.unwrap().event_record_id).collect();
    assert_eq!(ids, (1..=1200).collect::<Vec<u64>>());
}

#[test]
fn explicit_record_ids_are_kept() {
    let events = vec![named(1000, &[]), named(0, &[]), unnamed(5000, &[]), unnamed(0, &[])];
    let records = read_ok(write_evtx(&events));
    let ids: Vec<u64> = records.iter().map(|r| r.0).collect();
    assert_eq!(ids, [1000, 1001, 5000, 5001]);
    for (id, _, json) in &records {
        assert_eq!(json["Event"]["System"]["EventRecordID"], *id);
    }
}

#[test]
fn timestamps_keep_100ns_precision() {
    let times = [UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_700), UNIX_EPOCH + Duration::new(1, 100)];
    let events: Vec<Event> = times.iter().map(|&time| Event { time, ..named(0, &[]) }).collect();
    let records = read_ok(write_evtx(&events));
    assert_eq!(records[0].1, nanos(times[0]));
    assert_eq!(records[1].1, nanos(times[1]));
    assert_eq!(
        records[0].2["Event"]["System"]["TimeCreated"]["#attributes"]["SystemTime"],
        "2023-11-14T22:13:20.1234567Z"
    );
    assert_eq!(
        records[1].2["Event"]["System"]["TimeCreated"]["#attributes"]["SystemTime"],
        "1970-01-01T00:00:01.0000001Z"
    );
}

#[test]
fn an_event_as_large_as_a_chunk_allows() {
    // 63,000 bytes of UTF-16: it fits a chunk of its own, not after 4,000 bytes of another.
    let big = "é".repeat(31_500);
    let medium = "s".repeat(2_000);
    let events = vec![named(0, &[("A", &medium)]), named(0, &[("Big", &big)]), named(0, &[("A", "small")])];
    let bytes = write_evtx(&events);
    assert_eq!(bytes.len(), FILE_HEADER_SIZE + 2 * CHUNK_SIZE);
    let second = evtx::EvtxChunkHeader::from_bytes(&bytes[FILE_HEADER_SIZE + CHUNK_SIZE..]).unwrap();
    assert_eq!((second.first_event_record_id, second.last_event_record_id), (2, 3));
    let records = read_ok(bytes);
    assert_eq!(records.len(), 3);
    assert_eq!(records[1].2["Event"]["EventData"]["Big"], big.as_str());
}

#[test]
fn a_corrupted_chunk_is_reported_and_the_others_still_read() {
    let events = many(1500);
    let clean = write_evtx(&events);
    let chunks = (clean.len() - FILE_HEADER_SIZE) / CHUNK_SIZE;
    assert!(chunks >= 3);
    let chunk_ids = |index: usize| {
        let chunk = &clean[FILE_HEADER_SIZE + index * CHUNK_SIZE..][..CHUNK_SIZE];
        let header = evtx::EvtxChunkHeader::from_bytes(chunk).unwrap();
        header.first_event_record_id..=header.last_event_record_id
    };

    // The first, a middle and the last chunk; checking CRC32s or not, the magic gives it away.
    for index in [0, 1, chunks - 1] {
        for validate in [true, false] {
            let mut bytes = clean.clone();
            corrupt_chunk(&mut bytes, index);
            let (records, errors) = read(bytes, validate);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(errors[0].contains(&format!("chunk number {index}")), "{errors:?}");
            assert!(errors[0].contains("magic"), "{errors:?}");
            let lost = chunk_ids(index);
            let mut ids: Vec<u64> = records.iter().map(|r| r.0).collect();
            ids.sort_unstable();
            let expected: Vec<u64> = (1..=1500).filter(|id| !lost.contains(id)).collect();
            assert_eq!(ids, expected, "chunk {index}, validate {validate}");
        }
    }
}

#[test]
fn a_bad_records_checksum_only_matters_when_checked() {
    let events = many(1500);
    let mut bytes = write_evtx(&events);
    corrupt_chunk_checksum(&mut bytes, 1);
    let chunk = EvtxChunkData::new(bytes[FILE_HEADER_SIZE + CHUNK_SIZE..][..CHUNK_SIZE].to_vec(), false).unwrap();
    assert!(chunk.validate_header_checksum());
    assert!(!chunk.validate_data_checksum());

    let (records, errors) = read(bytes.clone(), false);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(records.len(), 1500);

    let (records, errors) = read(bytes, true);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("chunk number 1") && errors[0].contains("CRC32"), "{errors:?}");
    let lost = chunk.header.first_event_record_id..=chunk.header.last_event_record_id;
    assert_eq!(records.len(), 1500 - lost.count());
}

#[test]
fn files_are_written_and_read_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("MSExchange Management.evtx");
    let events = vec![unnamed(0, &["New-MailboxExportRequest", "-FilePath x.aspx"])];
    write_evtx_file(&path, &events).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), write_evtx(&events));
    let mut parser = EvtxParser::from_path(&path).unwrap();
    let records: Vec<_> = parser.records_json_value().map(Result::unwrap).collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].data["Event"]["EventData"]["Data"]["#text"][0], "New-MailboxExportRequest");
}

#[test]
fn output_is_deterministic() {
    let events = many(300);
    assert_eq!(write_evtx(&events), write_evtx(&events));
}
