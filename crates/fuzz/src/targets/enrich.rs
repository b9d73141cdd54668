//! The service's mapping files: the organisations CSV, ASN text files (iptoasn TSV, CSV) and
//! MaxMind ASN databases.

use taskforce_service::{enrich, orgs_import};

use super::{MIB, ODD_CELLS, scratch_file};
use crate::{Rng, Target, mmdb};

pub const ORGS_CSV: Target = Target {
    name: "orgs-csv",
    max_len: 32 << 10,
    dict: &[
        b"org,network,asn,abuse_email\n",
        b",",
        b";",
        b" ",
        b"\"",
        b"\n",
        b"\r\n",
        b"\xEF\xBB\xBF",
        b"AS",
        b"192.0.2.0/24",
        b"2001:db8::/32",
        b"@",
        b"abuse@example.org",
        b"4294967296",
    ],
    run: orgs_csv,
    generate: Some(generate_orgs),
    fixup: None,
    max_peak: 8 * MIB,
};

pub const ASN_TEXT: Target = Target {
    name: "asn-text",
    max_len: 32 << 10,
    dict: &[
        b"\t",
        b",",
        b"\"",
        b"\n",
        b"\xEF\xBB\xBF",
        b"\x1f\x8b\x08\x00",
        b"AS",
        b"192.0.2.0",
        b"/",
        b"::",
        b"Not routed",
        b"None",
        b"4294967296",
        b"#",
    ],
    run: asn_text,
    generate: None,
    fixup: None,
    max_peak: 8 * MIB,
};

pub const MMDB: Target = Target {
    name: "mmdb",
    max_len: 16 << 10,
    dict: &[
        b"\xab\xcd\xefMaxMind.com",
        b"\x00\x00\x00\x00",
        b"\xff\xff\xff",
        b"\xe0",
        b"\x5c",
        b"\x20",
        b"\xc1",
        b"\x1d",
        b"\x1f\xff\xff\xff",
    ],
    run: mmdb_file,
    generate: Some(generate_mmdb),
    fixup: None,
    max_peak: 16 * MIB,
};

fn orgs_csv(data: &[u8]) {
    let path = scratch_file("orgs.csv", data);
    match orgs_import::read(&path) {
        Ok((rows, bad)) => {
            for row in rows {
                assert!(!row.name.is_empty() && row.line >= 1, "a row without a name or a line");
                for net in &row.networks {
                    assert_eq!(orgs_import::canonical_cidr(net).as_deref(), Ok(net.as_str()), "not canonical: {net}");
                }
            }
            assert!(bad.iter().all(|b| !b.message.is_empty()), "a skipped row without a reason");
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

fn asn_text(data: &[u8]) {
    let path = scratch_file("asn.tsv", data);
    let result = enrich::read_asn_text(&path, |r| match r {
        Ok(range) => assert!(range.start <= range.end && range.asn > 0, "a bad range kept: {range:?}"),
        Err(bad) => assert!(!bad.message.is_empty(), "line {} skipped without a reason", bad.line),
    });
    if let Err(e) = result {
        assert!(!e.to_string().is_empty());
    }
}

fn mmdb_file(data: &[u8]) {
    let path = scratch_file("asn.mmdb", data);
    let result = enrich::read_asn_mmdb(&path, |r| match r {
        Ok(range) => assert!(range.start <= range.end, "a reversed range: {range:?}"),
        Err(bad) => assert!(!bad.message.is_empty(), "entry {} skipped without a reason", bad.line),
    });
    if let Err(e) = result {
        assert!(!e.to_string().is_empty());
    }
}

fn generate_orgs(rng: &mut Rng) -> Vec<u8> {
    let columns = ["org", "network", "asn", "sector", "cc", "abuse_email", "contact_name", "phone", "role"];
    let mut chosen: Vec<&str> = columns.iter().copied().filter(|c| *c == "org" || !rng.one_in(4)).collect();
    if rng.one_in(8) {
        chosen.retain(|c| *c != "org");
    }
    let mut out = chosen.join(",") + "\n";
    for i in 0..rng.below(30) {
        let row: Vec<String> = chosen
            .iter()
            .map(|c| {
                let v = if rng.one_in(5) {
                    rng.pick(ODD_CELLS).to_string()
                } else {
                    match *c {
                        "org" => format!("Org {i}"),
                        "network" => rng
                            .pick(&["192.0.2.0/24", "192.0.2.1/24;198.51.100.0/25", "2001:db8::/48", "10.0.0.0/33"])
                            .to_string(),
                        "asn" => rng.pick(&["64496", "AS64497 64498", "0", "4294967295"]).to_string(),
                        "abuse_email" => rng.pick(&["abuse@example.org", "nobody", "a@b@c.d"]).to_string(),
                        "cc" => "de".into(),
                        _ => String::new(),
                    }
                };
                if v.contains([',', '"', '\n']) { format!("\"{}\"", v.replace('"', "\"\"")) } else { v }
            })
            .collect();
        out += &row.join(",");
        out += "\n";
    }
    out.into_bytes()
}

/// Databases with random networks, ASNs and names, written by [`mmdb::write`].
fn generate_mmdb(rng: &mut Rng) -> Vec<u8> {
    let ip_version = if rng.one_in(2) { 4 } else { 6 };
    let networks: Vec<mmdb::Network> = (0..1 + rng.below(8))
        .map(|_| {
            let bits = if ip_version == 4 { 32 } else { 128 };
            let prefix = rng.below(bits + 1) as u8;
            let addr = if ip_version == 4 {
                u128::from(rng.next_u64() as u32)
            } else {
                u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())
            };
            let asn = if rng.one_in(8) { None } else { Some(rng.next_u64() as u32) };
            let org = if rng.one_in(3) { Some(rng.pick(ODD_CELLS).to_string()) } else { Some("Example Net".into()) };
            mmdb::Network { addr, prefix, asn, org }
        })
        .collect();
    let record_size = *rng.pick(&[24u16, 28, 32]);
    mmdb::write(ip_version, record_size, &networks)
}
