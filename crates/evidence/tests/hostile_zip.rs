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
