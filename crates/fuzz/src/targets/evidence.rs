//! Evidence containers: a `.zip` of a server's files, and `.gz` rotated logs in a directory,
//! listed by `taskforce-evidence`, every member read to its end, then hunted as a whole.

use std::io::{Read, Write};
use std::path::Path;

use taskforce_evidence::{Evidence, Limits};

use super::{MIB, scratch_dir, scratch_file};
use crate::{Rng, Target};

pub const ZIP: Target = Target {
    name: "zip",
    max_len: 64 << 10,
    dict: &[
        b"PK\x03\x04",
        b"PK\x01\x02",
        b"PK\x05\x06",
        b"PK\x06\x06",
        b"PK\x06\x07",
        b"\x08\x00",
        b"../",
        b"..\\",
        b"C%3A/",
        b"\x00",
        b"\xff\xff\xff\xff",
    ],
    run: zip,
    generate: Some(generate_zip),
    fixup: None,
    max_peak: 64 * MIB,
};

pub const GZ: Target = Target {
    name: "gz",
    max_len: 64 << 10,
    dict: &[b"\x1f\x8b\x08\x00", b"\x1f\x8b\x08\x08", b"\x00\x00\xff\xff", b"\xff\xff\xff\xff", b"\x03\x00"],
    run: gz,
    generate: Some(generate_gz),
    fixup: None,
    max_peak: 64 * MIB,
};

/// Small limits, so a member that claims or inflates to more than this is refused quickly.
fn limits() -> Limits {
    Limits { max_member: 4 * MIB as u64, max_total: 16 * MIB as u64, ..Limits::default() }
}

#[cfg(feature = "hunt")]
fn rules() -> &'static taskforce_rules::RuleSet {
    static RULES: std::sync::OnceLock<taskforce_rules::RuleSet> = std::sync::OnceLock::new();
    RULES.get_or_init(taskforce_rules::RuleSet::builtin)
}

fn zip(data: &[u8]) {
    let path = scratch_file("evidence.zip", data);
    read_all(&path);
}

fn gz(data: &[u8]) {
    let dir = scratch_dir("gz-evidence");
    let log = dir.join("Logging/HttpProxy/Ecp/HttpProxy_2021030304-1.LOG.gz");
    std::fs::create_dir_all(log.parent().unwrap()).expect("scratch subdirectory");
    std::fs::write(&log, data).expect("writing a scratch file");
    std::fs::write(dir.join("u_ex210303.log.gz"), data).expect("writing a scratch file");
    read_all(&dir);
}

/// Lists the evidence, reads every item to its end (at most 8 MiB each: a gzip bomb is bounded
/// by the reader, not by memory), then runs the hunt over it.
fn read_all(path: &Path) {
    let evidence = match Evidence::open_with(path, limits()) {
        Ok(e) => e,
        Err(e) => {
            assert!(e.to_string().contains(&path.display().to_string()), "error without the path: {e}");
            return;
        }
    };
    for problem in &evidence.problems {
        assert!(!problem.reason.is_empty(), "{}: refused without a reason", problem.path);
    }
    for item in &evidence.items {
        if let Ok(reader) = evidence.open_item(item) {
            let mut sink = [0u8; 64 << 10];
            let mut reader = reader.take(8 * MIB as u64);
            while let Ok(n) = reader.read(&mut sink) {
                if n == 0 {
                    break;
                }
            }
        }
    }
    #[cfg(feature = "hunt")]
    {
        let report = taskforce_hunt::hunt_host(&evidence, rules(), taskforce_hunt::Options::default());
        assert!(!report.host.reason.is_empty(), "a verdict without a reason");
        for skipped in &report.skipped {
            assert!(!skipped.reason.is_empty(), "{}: skipped without a reason", skipped.path);
        }
    }
}

const NAMES: &[&str] = &[
    "Logging/HttpProxy/Ecp/HttpProxy_2021030304-1.LOG",
    "Exchange Server/V15/Logging/HttpProxy/Owa/HttpProxy_2021030304-1.LOG",
    "inetpub/logs/LogFiles/W3SVC1/u_ex210303.log",
    "inetpub/logs/LogFiles/W3SVC1/u_ex210302.log.gz",
    "C%3A/Windows/System32/winevt/Logs/MSExchange Management.evtx",
    "events.jsonl",
    "../escape.log",
    "a\\..\\b.log",
    "dir/",
    "bad\u{7}name.log",
    "nested.zip",
    "inetpub/wwwroot/aspnet_client/x.aspx",
];

/// Archives with the member names and methods collections have, built with the `zip` crate.
fn generate_zip(rng: &mut Rng) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    for _ in 0..1 + rng.below(5) {
        let name = *rng.pick(NAMES);
        let method = if rng.one_in(2) { zip::CompressionMethod::Stored } else { zip::CompressionMethod::Deflated };
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(method)
            .last_modified_time(zip::DateTime::from_date_and_time(2021, 3, 3, 4, 21, 12).expect("a valid date"));
        let body = member_body(rng, name);
        if name.ends_with('/') {
            let _ = zip.add_directory(name, options);
        } else if zip.start_file(name, options).is_ok() {
            let _ = zip.write_all(&body);
        }
    }
    let _ = zip.finish();
    out.into_inner()
}

fn member_body(rng: &mut Rng, name: &str) -> Vec<u8> {
    let text: &[u8] = if name.contains("HttpProxy") {
        b"#Software: Microsoft Exchange Server\r\n#Fields: DateTime,UrlStem,ClientIpAddress\r\n2021-03-03T04:21:12.345Z,/ecp/y.js,203.0.113.7\r\n"
    } else if name.contains("u_ex") {
        b"#Software: Microsoft Internet Information Services 10.0\n#Fields: date time cs-uri-stem c-ip\n2021-03-03 04:21:12 /aspnet_client/x.aspx 203.0.113.7\n"
    } else if name.ends_with(".jsonl") {
        b"{\"Event\":{\"System\":{\"EventID\":1,\"Channel\":\"MSExchange Management\"},\"EventData\":{\"Data\":[\"x\"]}}}\n"
    } else {
        b"<%@ Page Language=\"C#\" %>\n"
    };
    let mut body = text.repeat(1 + rng.below(4));
    if name.ends_with(".gz") {
        body = gzip(&body);
    }
    body
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("writing to memory");
    enc.finish().expect("writing to memory")
}

/// Gzip streams of log text: whole, cut, concatenated, with trailing garbage, or highly compressible.
fn generate_gz(rng: &mut Rng) -> Vec<u8> {
    let name = if rng.one_in(2) { "HttpProxy" } else { "u_ex" };
    let body = member_body(rng, name);
    let mut out = match rng.below(4) {
        0 => gzip(&vec![b'A'; 1 + rng.below(2 * MIB)]),
        _ => gzip(&body),
    };
    match rng.below(4) {
        0 => out.truncate(rng.below(out.len())),
        1 => out.extend_from_slice(&gzip(&body)),
        2 => out.extend_from_slice(b"trailing bytes that are not gzip"),
        _ => {}
    }
    out
}
