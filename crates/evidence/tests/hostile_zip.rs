//! Hostile archives: truncated, garbage after the signature, lying member sizes. Opening and
//! reading never panics; what cannot be read is an error or a listed problem.

use std::io::{Read, Write};

use taskforce_evidence::{Evidence, EvidenceError};

fn zip_with(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut buf);
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members {
        zip.start_file(*name, opts).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap();
    buf.into_inner()
}

#[test]
fn truncated_and_garbage_archives_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let good = zip_with(&[("Logging/HttpProxy/Owa/HttpProxy_1.LOG", &b"#Fields: a\n".repeat(1000))]);
    for (name, bytes) in [
        ("truncated.zip", good[..good.len() / 2].to_vec()),
        ("garbage.zip", [b"PK\x03\x04".to_vec(), vec![0xA5; 5000]].concat()),
        ("empty.zip", b"PK\x05\x06".to_vec()),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        match Evidence::open(&path) {
            Err(EvidenceError::BadZip { path: p, .. }) => assert!(p.ends_with(name)),
            Err(other) => panic!("{name}: unexpected error {other}"),
            Ok(ev) => {
                // An archive that opens must still read safely.
                for item in &ev.items {
                    if let Ok(mut r) = ev.open_item(item) {
                        let _ = r.read_to_end(&mut Vec::new());
                    }
                }
            }
        }
    }
}

#[test]
fn a_member_longer_than_declared_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let body = b"2021-03-03T04:21:12.345Z,x,y\r\n".repeat(2000);
    let mut bytes = zip_with(&[("Logging/HttpProxy/Owa/HttpProxy_1.LOG", &body)]);
    // Lower the uncompressed size in the central directory (offset 24 of its entry), so the
    // member produces more than it declares, as overlapping-member bombs do.
    let cd = bytes.windows(4).rposition(|w| w == b"PK\x01\x02").unwrap();
    bytes[cd + 24..cd + 28].copy_from_slice(&100u32.to_le_bytes());
    let path = dir.path().join("lying.zip");
    std::fs::write(&path, &bytes).unwrap();
    let ev = Evidence::open(&path).unwrap();
    assert_eq!(ev.items.len(), 1);
    let mut out = Vec::new();
    let err = ev.open_item(&ev.items[0]).unwrap().read_to_end(&mut out).unwrap_err();
    assert!(err.to_string().contains("zip bomb guard"), "{err}");
    assert!(out.len() <= 100 + 64 * 1024, "stopped early: {} bytes", out.len());
}

/// Adds a second central-directory entry (named `alias`) pointing at the first member's data:
/// the shape of a "zip of overlapping files" bomb.
fn with_alias(bytes: &[u8], alias: &str) -> Vec<u8> {
    let cd = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    let eocd = bytes.windows(4).rposition(|w| w == b"PK\x05\x06").unwrap();
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
    let entry_len = 46 + u16_at(cd + 28) + u16_at(cd + 30) + u16_at(cd + 32);
    let mut entry = bytes[cd..cd + entry_len].to_vec();
    let name_len = u16_at(cd + 28);
    let mut name = entry[46..46 + name_len].to_vec();
    let tail = alias.as_bytes();
    assert_eq!(tail.len(), name.len(), "same length keeps the entry's layout");
    name.copy_from_slice(tail);
    entry[46..46 + name_len].copy_from_slice(&name);
    let mut out = bytes[..eocd].to_vec();
    out.extend_from_slice(&entry);
    let mut end = bytes[eocd..].to_vec();
    let count = u16::from_le_bytes([end[8], end[9]]) + 1;
    end[8..10].copy_from_slice(&count.to_le_bytes());
    end[10..12].copy_from_slice(&count.to_le_bytes());
    let size = u32::from_le_bytes([end[12], end[13], end[14], end[15]]) + entry_len as u32;
    end[12..16].copy_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&end);
    out
}

#[test]
fn overlapping_members_are_refused_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let body = b"2021-03-03T04:21:12.345Z,x,y\r\n".repeat(2000);
    let good = zip_with(&[("Logging/HttpProxy/Owa/HttpProxy_1.LOG", &body), ("readme.txt", b"notes")]);
    let bomb = with_alias(&good, "Logging/HttpProxy/Owa/HttpProxy_2.LOG");
    let path = dir.path().join("overlap.zip");
    std::fs::write(&path, &bomb).unwrap();
    let ev = Evidence::open(&path).unwrap();
    let names: Vec<&str> = ev.items.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(names, ["readme.txt"], "both overlapping members are refused, the rest is listed");
    let refused: Vec<&str> =
        ev.problems.iter().filter(|p| p.reason.contains("overlaps")).map(|p| p.path.as_str()).collect();
    assert_eq!(refused, ["Logging/HttpProxy/Owa/HttpProxy_1.LOG", "Logging/HttpProxy/Owa/HttpProxy_2.LOG"]);
    // The untouched archive has no such problem.
    let plain = dir.path().join("plain.zip");
    std::fs::write(&plain, &good).unwrap();
    assert!(Evidence::open(&plain).unwrap().problems.is_empty());
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn gz_items_get_the_members_ratio_and_size_limits() {
    let dir = tempfile::tempdir().unwrap();
    // 64 MiB of zeros: about 1000:1, a bomb's ratio.
    let bomb = gzip(&vec![0u8; 64 << 20]);
    std::fs::write(dir.path().join("u_ex210303.log.gz"), &bomb).unwrap();
    let ev = Evidence::open(dir.path()).unwrap();
    let mut out = Vec::new();
    let err = ev.open_item(&ev.items[0]).unwrap().read_to_end(&mut out).unwrap_err();
    assert!(err.to_string().contains("gzip bomb guard: compression ratio"), "{err}");
    // Stopped once the output passed 400 times the file's size (one 256 KiB step at most).
    let bound = 400 * bomb.len() + (256 << 10);
    assert!(out.len() <= bound && out.len() < 64 << 20, "{} bytes read, bound {bound}", out.len());

    // A log-like text (ratio far below the limit) is read whole, unless over the size limit.
    let text: Vec<u8> =
        (0..60_000).flat_map(|i| format!("2021-03-03 04:{:02}:00 GET /owa/ {i}\r\n", i % 60).into_bytes()).collect();
    let small = tempfile::tempdir().unwrap();
    std::fs::write(small.path().join("u_ex210304.log.gz"), gzip(&text)).unwrap();
    let ev = Evidence::open(small.path()).unwrap();
    let mut out = Vec::new();
    ev.open_item(&ev.items[0]).unwrap().read_to_end(&mut out).unwrap();
    assert_eq!(out, text);
    let limits = taskforce_evidence::Limits { max_member: 1 << 20, ..Default::default() };
    let ev = Evidence::open_with(small.path(), limits).unwrap();
    let err = ev.open_item(&ev.items[0]).unwrap().read_to_end(&mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("gzip bomb guard: expands past 1048576 bytes"), "{err}");
}
